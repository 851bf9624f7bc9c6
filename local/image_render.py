"""The images the image host serves: real PNG/JPEG files, a small base image drawn with Pillow
(deterministic per name) padded to the requested size inside container structures the formats
allow (a private ancillary PNG chunk before IEND; JPEG COM segments after the JFIF header), the
padding generated on the fly from a seed so a body is streamed, never held, and every read of an
image gives identical bytes (and CRC-64)."""

from __future__ import annotations

import hashlib
import io
import random
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache

PIECE_SIZE = 1 << 16  # bodies are generated and written in 64 KiB pieces
PNG_PAD_CHUNK_TYPE = b"zzPd"  # ancillary, private, safe-to-copy: decoders skip it
PNG_PAD_CHUNK_MAX = 1 << 20  # padding data per PNG chunk (each chunk carries its own CRC32)
PNG_CHUNK_OVERHEAD = 12  # length + type + crc
JPEG_COM_MAX_DATA = 65533  # segment length field (16 bits) counts itself
JPEG_COM_OVERHEAD = 4  # marker + length
BASE_IMAGE_SIZE = (320, 240)

FORMATS = {  # fmt -> (extension, content type, Pillow format)
    "png": ("png", "image/png", "PNG"),
    "jpg": ("jpg", "image/jpeg", "JPEG"),
    "jpeg": ("jpg", "image/jpeg", "JPEG"),
}


def name_seed(*parts: str) -> int:
    return int.from_bytes(hashlib.sha256("\0".join(parts).encode()).digest()[:8], "big")


@lru_cache(maxsize=16)
def render_base_image(name: str, fmt: str) -> bytes:
    """A small real image with shapes and the name drawn on it, identical for the same name."""
    from PIL import Image, ImageDraw, ImageFont  # imported lazily: only the host needs Pillow

    rng = random.Random(name_seed("base", name))
    width, height = BASE_IMAGE_SIZE
    background = tuple(rng.randrange(160, 256) for _ in range(3))
    image = Image.new("RGB", BASE_IMAGE_SIZE, background)
    draw = ImageDraw.Draw(image)
    for _ in range(6):
        x0, y0 = rng.randrange(0, width - 40), rng.randrange(0, height - 40)
        box = (x0, y0, x0 + rng.randrange(20, 120), y0 + rng.randrange(20, 90))
        colour = tuple(rng.randrange(0, 200) for _ in range(3))
        if rng.random() < 0.5:
            draw.rectangle(box, fill=colour)
        else:
            draw.ellipse(box, outline=colour, width=3)
    font = ImageFont.load_default()
    draw.text((10, 10), name[-48:], fill=(0, 0, 0), font=font)
    draw.text((10, height - 24), "local image host", fill=(30, 30, 30), font=font)
    out = io.BytesIO()
    image.save(out, FORMATS[fmt][2])
    return out.getvalue()


def _split_evenly(total: int, max_part: int) -> list[int]:
    """Split `total` into as few near-equal parts as possible, each at most `max_part`."""
    count = -(-total // max_part)
    base, extra = divmod(total, count)
    return [base + 1 if i < extra else base for i in range(count)]


@dataclass(frozen=True)
class _Layout:
    """Where the padding goes in a base image and how it is framed; fixes the exact size."""

    insert_at: int  # offset in the base image where padding segments are inserted
    segment_data_sizes: tuple[int, ...]  # payload bytes of each padding chunk/segment
    overhead: int  # framing bytes per segment
    size: int  # total file size


def plan_layout(base: bytes, fmt: str, requested: int) -> _Layout:
    if fmt == "png":
        # Pillow writes IEND last; padding chunks go right before it.
        assert base[-8:-4] == b"IEND", "unexpected PNG layout"
        insert_at, overhead, max_data = len(base) - PNG_CHUNK_OVERHEAD, PNG_CHUNK_OVERHEAD, None
    else:
        # After SOI, and after the APP0 (JFIF) segment when present, so JFIF readers stay happy.
        insert_at = 2
        if base[2:4] == b"\xff\xe0":
            insert_at = 4 + struct.unpack(">H", base[4:6])[0]
        overhead, max_data = JPEG_COM_OVERHEAD, JPEG_COM_MAX_DATA
    deficit = requested - len(base)
    if deficit <= 0:
        return _Layout(insert_at, (), overhead, len(base))
    deficit = max(deficit, overhead)  # a segment cannot be smaller than its framing
    if max_data is None:
        max_data = PNG_PAD_CHUNK_MAX
    sizes = [s - overhead for s in _split_evenly(deficit, max_data + overhead)]
    return _Layout(insert_at, tuple(sizes), overhead, len(base) + deficit)


def _filler(rng: random.Random, size: int) -> Iterator[bytes]:
    while size > 0:
        piece = rng.randbytes(min(size, PIECE_SIZE))
        size -= len(piece)
        yield piece


def _coalesce(parts: Iterator[bytes]) -> Iterator[bytes]:
    """Re-block small framing pieces and filler into ~64 KiB writes."""
    buffer = bytearray()
    for part in parts:
        if not buffer and len(part) >= PIECE_SIZE:
            yield part
            continue
        buffer += part
        if len(buffer) >= PIECE_SIZE:
            yield bytes(buffer)
            buffer.clear()
    if buffer:
        yield bytes(buffer)


@dataclass
class HostedImage:
    """One registered image. The bytes are never stored: `iter_bytes()` regenerates them."""

    name: str
    fmt: str  # "png" or "jpg"
    requested_size: int
    layout: _Layout
    seed: int
    last_modified: float
    ttl_seconds: float
    _crc64: int | None = field(default=None, repr=False)

    @property
    def key(self) -> str:
        return f"{self.name}.{self.extension}"

    @property
    def extension(self) -> str:
        return FORMATS[self.fmt][0]

    @property
    def content_type(self) -> str:
        return FORMATS[self.fmt][1]

    @property
    def size(self) -> int:
        return self.layout.size

    @property
    def etag(self) -> str:
        return hashlib.md5(f"{self.key}:{self.size}:{self.seed}".encode()).hexdigest().upper()

    def iter_bytes(self) -> Iterator[bytes]:
        return _coalesce(self._iter_parts())

    def _iter_parts(self) -> Iterator[bytes]:
        base = render_base_image(self.name, self.fmt)
        rng = random.Random(self.seed)
        yield base[: self.layout.insert_at]
        for data_size in self.layout.segment_data_sizes:
            if self.fmt == "png":
                yield struct.pack(">I", data_size) + PNG_PAD_CHUNK_TYPE
                crc = zlib.crc32(PNG_PAD_CHUNK_TYPE)
                for piece in _filler(rng, data_size):
                    crc = zlib.crc32(piece, crc)
                    yield piece
                yield struct.pack(">I", crc)
            else:
                yield b"\xff\xfe" + struct.pack(">H", data_size + 2)
                yield from _filler(rng, data_size)
        yield base[self.layout.insert_at :]

    def crc64(self) -> int:
        """CRC-64/ECMA as OSS reports it, computed by streaming once and cached."""
        if self._crc64 is None:
            import oss2  # lazily: a heavy import only needed for the checksum

            crc = oss2.utils.Crc64(0)
            for piece in self.iter_bytes():
                crc.update(piece)
            self._crc64 = int(crc.crc)
        return self._crc64


# ---- faults --------------------------------------------------------------------------------------
