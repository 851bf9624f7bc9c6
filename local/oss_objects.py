"""OSS object operations: put, get (Range), head, delete, copy, and the bucket listing (V1 and V2,
delimiter, markers and continuation tokens, url encoding)."""

from __future__ import annotations

import base64
import binascii
import bisect
import re
import shutil
from collections.abc import Iterator
from typing import BinaryIO
from urllib.parse import quote, unquote
from xml.sax.saxutils import escape as xml_escape

from local.oss_handler_base import OssHandlerBase
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
        emu = self.emulator
        query = self._query
        v2 = query.get("list-type") == "2"
        prefix = query.get("prefix", "")
        delimiter = query.get("delimiter", "")
        encoding = query.get("encoding-type", "")
        if encoding not in ("", "url"):
            raise OssError(400, "InvalidArgument", "The encoding-type parameter is invalid.")
        url_encode = encoding == "url"
        try:
            max_keys = int(query.get("max-keys") or 100)
        except ValueError:
            max_keys = -1
        if not 0 <= max_keys <= 1000:
            raise OssError(
                400, "InvalidArgument", "Argument max-keys must be an integer between 0 and 1000."
            )
        token = query.get("continuation-token", "")
        if v2 and token:
            try:
                after = base64.urlsafe_b64decode(token.encode()).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                raise OssError(
                    400, "InvalidArgument", "The continuation token is invalid."
                ) from None
        elif v2:
            after = query.get("start-after", "")
        else:
            after = query.get("marker", "")

        metas = emu._sorted_objects(self._bucket)
        entries = self._list_entries(metas, prefix, delimiter, after)
        page: list[tuple[str, ObjectMeta | None]] = []
        truncated = False
        for entry in entries:
            if len(page) == max_keys:
                truncated = True
                break
            page.append(entry)

        def enc(text: str) -> str:
            return quote(text, safe="") if url_encode else xml_escape(text)

        out = [f"<ListBucketResult><Name>{xml_escape(self._bucket)}</Name>"]
        out.append(f"<Prefix>{enc(prefix)}</Prefix>")
        if v2:
            if "start-after" in query:
                out.append(f"<StartAfter>{enc(query['start-after'])}</StartAfter>")
            if token:
                out.append(f"<ContinuationToken>{enc(token)}</ContinuationToken>")
        else:
            out.append(f"<Marker>{enc(after)}</Marker>")
        out.append(f"<MaxKeys>{max_keys}</MaxKeys><Delimiter>{enc(delimiter)}</Delimiter>")
        if url_encode:
            out.append("<EncodingType>url</EncodingType>")
        out.append(f"<IsTruncated>{'true' if truncated else 'false'}</IsTruncated>")
        if truncated and page:
            last = page[-1][0]
            if v2:
                next_token = base64.urlsafe_b64encode(last.encode("utf-8")).decode()
                out.append(f"<NextContinuationToken>{enc(next_token)}</NextContinuationToken>")
            else:
                out.append(f"<NextMarker>{enc(last)}</NextMarker>")
        if v2:
            out.append(f"<KeyCount>{len(page)}</KeyCount>")
        owner = query.get("fetch-owner") == "true" or not v2
        for name, meta in page:
            if meta is None:
                continue
            out.append(
                f"<Contents><Key>{enc(name)}</Key>"
                f"<LastModified>{iso8601(meta.last_modified)}</LastModified>"
                f'<ETag>"{meta.etag}"</ETag><Type>{meta.object_type}</Type>'
                f"<Size>{meta.size}</Size><StorageClass>Standard</StorageClass>"
                + (
                    "<Owner><ID>local-owner</ID><DisplayName>local-owner</DisplayName></Owner>"
                    if owner
                    else ""
                )
                + "</Contents>"
            )
        for name, meta in page:
            if meta is None:
                out.append(f"<CommonPrefixes><Prefix>{enc(name)}</Prefix></CommonPrefixes>")
        out.append("</ListBucketResult>")
        self._info["returned"] = len(page)
        self._send_xml(200, "".join(out))

    @staticmethod
    def _list_entries(
        metas: list[ObjectMeta], prefix: str, delimiter: str, after: str
    ) -> Iterator[tuple[str, ObjectMeta | None]]:
        """Keys (with meta) and common prefixes (meta None) strictly after `after`, in order.
        A common prefix equal to `after` was the last entry of the previous page: skip it."""
        keys = [m.key for m in metas]
        start = bisect.bisect_left(keys, prefix)
        if after:
            start = max(start, bisect.bisect_right(keys, after))
        last_prefix = after
        for meta in metas[start:]:
            if not meta.key.startswith(prefix):
                break
            if delimiter:
                pos = meta.key.find(delimiter, len(prefix))
                if pos >= 0:
                    common = meta.key[: pos + len(delimiter)]
                    if common != last_prefix:
                        last_prefix = common
                        yield common, None
                    continue
            yield meta.key, meta
