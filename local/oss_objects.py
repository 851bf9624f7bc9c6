"""OSS object operations: put, get (Range), head, delete, copy, and the bucket listing request
(its query and XML live in local.oss_listing)."""

from __future__ import annotations

import re
import shutil
from typing import BinaryIO
from urllib.parse import unquote

from local.oss_handler_base import OssHandlerBase
from local.oss_listing import ListQuery, first_page, list_xml
from local.oss_protocol import ObjectMeta, OssError, iso8601


class ObjectOperations(OssHandlerBase):
    """Object and listing requests (a mixin of `OssRequestHandler`)."""

    # ---- object operations -------------------------------------------------------------------
    def _put_object(self) -> None:
        emu = self.emulator
        emu._require_bucket(self._bucket)
        received = self._receive_to_temp()
        try:
            meta = ObjectMeta(
                key=self._key,
                size=received.size,
                etag=received.md5.hexdigest().upper(),
                crc64=str(received.crc),
                content_type=self.headers.get("Content-Type") or "application/octet-stream",
                metadata=self._user_metadata(),
                last_modified=emu.clock.now(),
            )
            self._delay_first_byte()
            emu._commit(self._bucket, self._key, received.path, meta, self._forbid_overwrite())
        finally:
            received.path.unlink(missing_ok=True)
        self._respond(200, self._write_result_headers(meta))

    def _open(self) -> tuple[ObjectMeta, BinaryIO]:
        opened = self.emulator._open_object(self._bucket, self._key)
        if opened is None:
            raise OssError(
                404, "NoSuchKey", "The specified key does not exist.", {"Key": self._key}
            )
        return opened

    def _get_object(self) -> None:
        meta, src = self._open()
        with src:
            headers = self._object_headers(meta)
            byte_range = self._parse_range(self.headers.get("Range"), meta.size)
            if byte_range is None:
                self._respond(200, headers, stream=(src, meta.size))
                return
            start, end = byte_range
            src.seek(start)
            headers["Content-Range"] = f"bytes {start}-{end}/{meta.size}"
            self._respond(206, headers, stream=(src, end - start + 1))

    @staticmethod
    def _parse_range(value: str | None, size: int) -> tuple[int, int] | None:
        """`bytes=a-b`, `bytes=a-`, `bytes=-n`. OSS ignores malformed ranges (whole object) and
        answers 416 InvalidRange when the start lies beyond the object."""
        if not value:
            return None
        match = re.fullmatch(r"\s*bytes=(\d*)-(\d*)\s*", value)
        if not match or (not match.group(1) and not match.group(2)):
            return None
        first, last = match.group(1), match.group(2)
        if not first:
            suffix = int(last)
            if suffix == 0:
                return None
            return max(0, size - suffix), size - 1
        start = int(first)
        end = int(last) if last else size - 1
        if end < start:
            return None
        if start >= size:
            raise OssError(416, "InvalidRange", "The requested range cannot be satisfied.")
        return start, min(end, size - 1)

    def _head_object(self) -> None:
        meta, src = self._open()
        src.close()
        self._respond(200, self._object_headers(meta), stream=(src, meta.size))

    def _delete_object(self) -> None:
        self.emulator._delete(self._bucket, self._key)
        self._respond(204, {})

    def _copy_object(self) -> None:
        emu = self.emulator
        emu._require_bucket(self._bucket)
        source = self.headers.get("x-oss-copy-source", "")
        src_bucket_raw, _, src_key_raw = source.split("?", 1)[0].lstrip("/").partition("/")
        src_bucket, src_key = unquote(src_bucket_raw), unquote(src_key_raw)
        self._info["source"] = f"{src_bucket}/{src_key}"
        if not src_key:
            raise OssError(
                400, "InvalidArgument", "Copy Source must mention the source bucket and key."
            )
        opened = emu._open_object(src_bucket, src_key)
        if opened is None:
            raise OssError(404, "NoSuchKey", "The specified key does not exist.", {"Key": src_key})
        src_meta, src = opened
        tmp = emu._new_temp_path(self._bucket)
        try:
            with src, open(tmp, "wb") as out:
                shutil.copyfileobj(src, out, 1 << 20)
            replace = self.headers.get("x-oss-metadata-directive", "COPY").upper() == "REPLACE"
            meta = ObjectMeta(
                key=self._key,
                size=src_meta.size,
                etag=src_meta.etag,
                crc64=src_meta.crc64,
                content_type=(self.headers.get("Content-Type") or "application/octet-stream")
                if replace
                else src_meta.content_type,
                metadata=self._user_metadata() if replace else dict(src_meta.metadata),
                last_modified=emu.clock.now(),
                object_type=src_meta.object_type,
            )
            emu._commit(self._bucket, self._key, tmp, meta, self._forbid_overwrite())
        finally:
            tmp.unlink(missing_ok=True)
        self._send_xml(
            200,
            f'<CopyObjectResult><ETag>"{meta.etag}"</ETag>'
            f"<LastModified>{iso8601(meta.last_modified)}</LastModified></CopyObjectResult>",
            self._write_result_headers(meta),
        )

    # ---- listing ------------------------------------------------------------------------------
    def _list_objects(self) -> None:
        query = ListQuery.parse(self._query)
        page, truncated = first_page(self.emulator._sorted_objects(self._bucket), query)
        self._info["returned"] = len(page)
        self._send_xml(200, list_xml(self._bucket, query, page, truncated))
