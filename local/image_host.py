"""The image host: serves the result images that the alimt emulator's results point at
(`FinalImageUrl`, `InPaintingUrl`) behind URLs shaped like OSS signed URLs.

Images are real PNG/JPEG files, padded to the requested size and streamed, never held in memory
(local.image_render makes them). Every GET of an image returns identical bytes, so the
collector's CRC64 check can be exercised, and faults (truncation, wrong lengths, slow bodies,
resets, redirects, error statuses) are injected here rather than by mocking clients.
"""

from __future__ import annotations

import argparse
import base64
import fnmatch
import hashlib
import hmac
import logging
import secrets
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from email.utils import formatdate
from typing import Any, ClassVar
from urllib.parse import parse_qs, quote, unquote, urlsplit
from xml.sax.saxutils import escape

from local.clock import Clock
from local.httpserver import (
    Emulator,
    EmulatorRequestHandler,
    NetworkShape,
    RequestRecord,
    wait_for_interrupt,
)
from local.image_render import (
    FORMATS,
    PIECE_SIZE,
    HostedImage,
    name_seed,
    plan_layout,
    render_base_image,
)

log = logging.getLogger("local")

# Outcome faults decide the response; modifier faults only slow it down and combine with others.
_OUTCOME_FAULTS = {
    "404",
    "403",
    "reset",
    "redirect",
    "http",
    "truncate",
    "wrong-length",
    "bad-crc",
    "length-header",
}
_MODIFIER_FAULTS = {"slow", "ttfb"}


# ---- image construction ------------------------------------------------------------------------
@dataclass
class Fault:
    """One injected fault: `kind` with an optional argument, for matching names, `remaining` times
    (None = forever)."""

    name_glob: str
    kind: str
    arg: str | None
    remaining: int | None

    @classmethod
    def parse(cls, name_glob: str, spec: str, count: int | None) -> Fault:
        kind, _, arg = spec.partition(":")
        if kind.isdigit() and kind in ("403", "404"):
            return cls(name_glob, kind, None, count)
        if kind in ("reset", "bad-crc"):
            return cls(name_glob, kind, None, count)
        if kind not in _OUTCOME_FAULTS | _MODIFIER_FAULTS or not arg:
            raise ValueError(f"unknown fault {spec!r}")
        try:
            if kind in ("truncate", "wrong-length", "http"):
                int(arg)
            elif kind in ("slow", "ttfb"):
                float(arg)
        except ValueError:
            raise ValueError(f"bad argument in fault {spec!r}") from None
        return cls(name_glob, kind, arg, count)

    def matches(self, name: str, key: str) -> bool:
        return fnmatch.fnmatchcase(name, self.name_glob) or fnmatch.fnmatchcase(key, self.name_glob)

    def describe(self) -> str:
        return self.kind if self.arg is None else f"{self.kind}:{self.arg}"


@dataclass
class _ChosenFaults:
    outcome: Fault | None = None
    slow_bytes_per_second: float = 0.0
    ttfb_seconds: float = 0.0

    def describe(self) -> list[str]:
        out = [self.outcome.describe()] if self.outcome else []
        if self.slow_bytes_per_second:
            out.append(f"slow:{self.slow_bytes_per_second:g}")
        if self.ttfb_seconds:
            out.append(f"ttfb:{self.ttfb_seconds:g}")
        return out


# ---- HTTP ---------------------------------------------------------------------------------------
_ERROR_CODES = {
    400: "InvalidArgument",
    403: "AccessDenied",
    404: "NoSuchKey",
    429: "TooManyRequests",
    500: "InternalError",
    502: "BadGateway",
    503: "ServiceUnavailable",
    504: "GatewayTimeout",
}


@dataclass(frozen=True)
class _Framing:
    """How an image answer is framed once the faults that tamper with it are applied."""

    crc: int
    announced: int  # the length the body is said to have
    body_limit: int  # the bytes actually sent
    length_header: str

    @property
    def odd_length_header(self) -> bool:
        return self.length_header != str(self.announced)

    @classmethod
    def of(cls, image: HostedImage, outcome: Fault | None) -> _Framing:
        kind, arg = (outcome.kind, outcome.arg) if outcome is not None else (None, None)
        crc = image.crc64()
        announced, body_limit = image.size, image.size
        if kind == "truncate":
            body_limit = min(int(arg or 0), image.size)
        elif kind == "wrong-length":
            announced = int(arg or 0)
            body_limit = min(announced, image.size)
        elif kind == "bad-crc":
            crc ^= 0xFFFF
        # `length-header`: any text, e.g. '²' (a digit to str.isdigit only)
        length_header = str(arg) if kind == "length-header" else str(announced)
        return cls(crc, announced, body_limit, length_header)


class ImageHostHandler(EmulatorRequestHandler):
    emulator: ClassVar[ImageHost]

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        # The stdlib logs the request line, whose query string holds the URL signature.
        log.debug("images %s %s -> %s", self.command, urlsplit(self.path).path, code)

    def do_GET(self) -> None:
        self._serve()

    def do_HEAD(self) -> None:
        self._serve()

    def _serve(self) -> None:
        host = self.emulator
        split = urlsplit(self.path)
        key = unquote(split.path).lstrip("/")
        name = key.rsplit(".", 1)[0] if "." in key.rsplit("/", 1)[-1] else key
        host._count(name)
        faults = host._take_faults(name, key)
        rec = RequestRecord(
            method=self.command,
            path=split.path,  # never the query string: it carries the signature
            status=0,
            headers={k: v for k, v in self.headers.items() if k.lower() in ("user-agent", "range")},
            info={"name": name, "faults": faults.describe()},
        )
        try:
            rec.status = self._respond(key, split.query, faults, rec)
        except OSError as exc:  # the client went away mid-response
            rec.info["client_error"] = type(exc).__name__
            self.close_connection = True
        finally:
            host.record(rec)

    def _respond(self, key: str, query: str, faults: _ChosenFaults, rec: RequestRecord) -> int:
        host = self.emulator
        outcome = faults.outcome
        if outcome is not None and outcome.kind == "reset":
            self.reset_connection()
            return 0
        host.shape.first_byte_delay()
        if faults.ttfb_seconds:
            time.sleep(faults.ttfb_seconds)
        status = self._injected_answer(outcome)
        if status is not None:
            return status

        problem = host._check_signature(key, query)
        if problem is not None:
            code, message = problem
            return self._send_error(403, code, message)
        image = host._lookup(key)
        if image is None:
            return self._send_error(404, "NoSuchKey", "The specified key does not exist.")

        framing = _Framing.of(image, outcome)
        self._send_image_headers(image, framing)
        if self.command == "HEAD":
            return 200
        sent = self._stream(image.iter_bytes(), framing.body_limit, faults.slow_bytes_per_second)
        rec.info["bytes_sent"] = sent
        if sent != framing.announced or framing.odd_length_header:
            # The body no longer matches its framing (or the framing cannot be read): drop the connection like a broken upstream.
            self.close_connection = True
        return 200

    def _injected_answer(self, outcome: Fault | None) -> int | None:
        """Send an injected redirect or error status and return it; None for any other fault."""
        if outcome is None:
            return None
        if outcome.kind == "redirect":
            assert outcome.arg is not None
            self.send_bytes(302, b"", {"Location": outcome.arg})
            return 302
        if outcome.kind in ("403", "404", "http"):
            status = int(outcome.arg or 500) if outcome.kind == "http" else int(outcome.kind)
            code = _ERROR_CODES.get(status, "InternalError")
            return self._send_error(status, code, "Injected fault.")
        return None

    def _send_image_headers(self, image: HostedImage, framing: _Framing) -> None:
        self.send_response(200)
        for header, value in {
            "Content-Type": image.content_type,
            "Content-Length": framing.length_header,
            "ETag": f'"{image.etag}"',
            "Last-Modified": formatdate(image.last_modified, usegmt=True),
            "Accept-Ranges": "bytes",
            "x-oss-request-id": _request_id(),
            "x-oss-object-type": "Normal",
            **({"Connection": "close"} if framing.odd_length_header else {}),
        }.items():
            self.send_header(header, value)
        if self.emulator.send_crc64:
            self.send_header("x-oss-hash-crc64ecma", str(framing.crc))
        self.end_headers()

    def _stream(self, pieces: Iterator[bytes], limit: int, slow_bytes_per_second: float) -> int:
        rates = [
            r
            for r in (self.emulator.shape.bandwidth_bytes_per_second, slow_bytes_per_second)
            if r > 0
        ]
        pacer = NetworkShape(bandwidth_bytes_per_second=min(rates)) if rates else None
        # Small slices under a rate cap, so pacing is smooth rather than 64 KiB bursts.
        slice_size = PIECE_SIZE if pacer is None else max(1, min(PIECE_SIZE, int(min(rates) / 20)))
        started = time.monotonic()
        sent = 0
        for piece in pieces:
            if sent >= limit:
                break
            piece = piece[: limit - sent]
            for start in range(0, len(piece), slice_size):
                chunk = piece[start : start + slice_size]
                self.wfile.write(chunk)
                sent += len(chunk)
                if pacer is not None:
                    pacer.pace(started, sent)
        return sent

    def _send_error(self, status: int, code: str, message: str) -> int:
        request_id = _request_id()
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{escape(code)}</Code><Message>{escape(message)}</Message>"
            f"<RequestId>{request_id}</RequestId><HostId>{escape(self.emulator.host_port)}</HostId>"
            "</Error>"
        ).encode()
        self.send_bytes(
            status,
            body,
            {"Content-Type": "application/xml", "x-oss-request-id": request_id},
            head_only=self.command == "HEAD",
        )
        return status


def _request_id() -> str:
    return uuid.uuid4().hex[:24].upper()


# ---- the emulator -------------------------------------------------------------------------------
class ImageHost(Emulator):
    """Serves generated images at OSS-style signed URLs. Start it (context manager) before adding
    images: URLs embed the port."""

    name = "images"
    handler_class = ImageHostHandler

    def __init__(
        self,
        clock: Clock | None = None,
        *,
        signing_key: bytes | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        super().__init__(host=host, port=port)
        self.clock = clock or Clock()
        self.shape = NetworkShape()
        # OSS-hosted results state their CRC-64; False serves like a host that does not (a CDN).
        self.send_crc64 = True
        self._signing_key = signing_key if signing_key is not None else secrets.token_bytes(32)
        # Looks like an AccessKey id; derived from the key so URLs stay stable for a given key.
        self.access_key_id = "LTAI5t" + hashlib.sha256(self._signing_key).hexdigest()[:18].upper()
        self._images: dict[str, HostedImage] = {}  # by key "<name>.<ext>"
        self._by_name: dict[str, HostedImage] = {}
        self._faults: list[Fault] = []
        self._counts: dict[str, int] = {}
        self._lock = threading.Lock()

    def __enter__(self) -> ImageHost:
        self.start()
        return self

    # ---- images ----
    def add_image(
        self, name: str, *, size_bytes: int, fmt: str = "png", ttl_seconds: float = 3600
    ) -> str:
        """Register an image of `size_bytes` (exact unless below the base image size, or within a
        few bytes of it) and return its signed URL, valid for `ttl_seconds` of clock time."""
        fmt = fmt.lower()
        if fmt not in FORMATS:
            raise ValueError(f"unsupported image format {fmt!r}")
        name = name.strip("/")
        if not name:
            raise ValueError("image name must not be empty")
        fmt = FORMATS[fmt][0] if fmt == "jpeg" else fmt
        base = render_base_image(name, fmt)
        image = HostedImage(
            name=name,
            fmt=fmt,
            requested_size=size_bytes,
            layout=plan_layout(base, fmt, size_bytes),
            seed=name_seed("filler", name, fmt, str(size_bytes)),
            last_modified=self.clock.now(),
            ttl_seconds=ttl_seconds,
        )
        with self._lock:
            old = self._by_name.pop(name, None)
            if old is not None:
                self._images.pop(old.key, None)
            self._images[image.key] = image
            self._by_name[name] = image
        return self.url_for(name)

    def remove_image(self, name: str) -> None:
        """Forget an image (e.g. the result was cleaned up); its URLs then answer 404."""
        with self._lock:
            image = self._by_name.pop(name, None)
            if image is not None:
                self._images.pop(image.key, None)

    def url_for(self, name: str, *, expires_at: float | None = None, fmt: str = "png") -> str:
        """A signed URL for `name` (a registered image, or any name with `fmt` for 404 tests),
        expiring at `expires_at` (clock time; default now + the image's ttl or one hour)."""
        image = self._by_name.get(name)
        ext = image.extension if image else FORMATS[fmt.lower()][0]
        if expires_at is None:
            expires_at = self.clock.now() + (image.ttl_seconds if image else 3600)
        key = f"{name}.{ext}"
        expires = int(expires_at)
        signature = self._sign(key, expires)
        return (
            f"{self.endpoint}/{quote(key, safe='/')}?Expires={expires}"
            f"&OSSAccessKeyId={self.access_key_id}&Signature={quote(signature, safe='')}"
        )

    def _get(self, name: str) -> HostedImage:
        image = self._by_name.get(name)
        if image is None:
            raise KeyError(f"no image named {name!r}")
        return image

    def image_size(self, name: str) -> int:
        return self._get(name).size

    def image_bytes_iter(self, name: str) -> Iterator[bytes]:
        """The exact bytes a GET returns, in ~64 KiB pieces."""
        return self._get(name).iter_bytes()

    def expected_crc64(self, name: str) -> int:
        return self._get(name).crc64()

    def content_type(self, name: str) -> str:
        return self._get(name).content_type

    # ---- faults ----
    def inject(self, name_glob: str, fault: str, count: int | None = None) -> None:
        """Inject `fault` for names (or "<name>.<ext>") matching `name_glob`, for the next `count`
        requests (None = until cleared). Faults: 404, 403, reset, redirect:<url>, http:<status>,
        truncate:<bytes>, wrong-length:<n>, length-header:<text> (the whole
        body under that Content-Length text), bad-crc, slow:<bytes_per_second>, ttfb:<seconds>.
        One outcome fault applies per request (earliest injected first); slow/ttfb combine."""
        parsed = Fault.parse(name_glob, fault, count)
        with self._lock:
            self._faults.append(parsed)

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def _take_faults(self, name: str, key: str) -> _ChosenFaults:
        chosen = _ChosenFaults()
        with self._lock:
            for fault in self._faults:
                if not fault.matches(name, key):
                    continue
                if fault.kind in _MODIFIER_FAULTS:
                    value = float(fault.arg or 0)
                    if fault.kind == "slow":
                        chosen.slow_bytes_per_second = value
                    else:
                        chosen.ttfb_seconds = value
                elif chosen.outcome is None:
                    chosen.outcome = fault
                else:
                    continue
                if fault.remaining is not None:
                    fault.remaining -= 1
            self._faults = [f for f in self._faults if f.remaining is None or f.remaining > 0]
        return chosen

    # ---- counters ----
    def get_count(self, name: str) -> int:
        """Requests (GET or HEAD, whatever the outcome) for `name` (with or without extension)."""
        with self._lock:
            if name in self._counts:
                return self._counts[name]
            return self._counts.get(name.rsplit(".", 1)[0], 0)

    def _count(self, name: str) -> None:
        with self._lock:
            self._counts[name] = self._counts.get(name, 0) + 1

    # ---- signing ----
    def _sign(self, key: str, expires: int) -> str:
        # OSS V1 query-string signing shape: VERB, MD5, type, Expires, resource.
        string_to_sign = f"GET\n\n\n{expires}\n/{key}"
        digest = hmac.new(self._signing_key, string_to_sign.encode(), hashlib.sha1).digest()
        return base64.b64encode(digest).decode()

    def _check_signature(self, key: str, query: str) -> tuple[str, str] | None:
        """None if the URL is valid now, else the OSS error (code, message)."""
        params = {k: v[0] for k, v in parse_qs(query, keep_blank_values=True).items()}
        expires_s, signature = params.get("Expires"), params.get("Signature")
        if not expires_s or not signature or not params.get("OSSAccessKeyId"):
            return "AccessDenied", "You have no right to access this object because of bucket acl."
        try:
            expires = int(expires_s)
        except ValueError:
            return "AccessDenied", "Invalid argument: Expires."
        if self.clock.now() > expires:
            return "AccessDenied", "Request has expired."
        if params["OSSAccessKeyId"] != self.access_key_id:
            return "InvalidAccessKeyId", "The OSS Access Key Id you provided does not exist."
        if not hmac.compare_digest(self._sign(key, expires), signature):
            return (
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you provided.",
            )
        return None

    def _lookup(self, key: str) -> HostedImage | None:
        with self._lock:
            return self._images.get(key)


# ---- command line -------------------------------------------------------------------------------
SAMPLE_IMAGES: list[dict[str, Any]] = [
    {"name": "samples/small", "size_bytes": 8 * 1024, "fmt": "png"},
    {"name": "samples/photo", "size_bytes": 200 * 1024, "fmt": "jpg"},
    {"name": "samples/large", "size_bytes": 30 * 1024 * 1024, "fmt": "png"},
]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve sample result images at signed URLs.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--ttl", type=float, default=3600, help="URL lifetime in seconds")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    with ImageHost(host=args.host, port=args.port) as images:
        print(f"image host listening on {images.endpoint}", flush=True)
        for sample in SAMPLE_IMAGES:
            url = images.add_image(ttl_seconds=args.ttl, **sample)
            print(url, flush=True)
        wait_for_interrupt()


if __name__ == "__main__":
    main()
