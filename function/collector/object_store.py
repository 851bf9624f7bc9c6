"""Adapter for OSS (`oss2`): objects in, `StoredObject` or `CollectorError` out.

Writes of results use `x-oss-forbid-overwrite`, so an object is written at most once however many
deliveries race for it: OSS writes are atomic, and the loser of a race sees `ObjectAlreadyExists`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

from collector.credentials import FunctionCredentials
from collector.errors import CollectorError, ObjectAlreadyExists, OssCode, Source
from collector.models import ListedObject, StoredObject
from collector.redaction import redact

FORBID_OVERWRITE = {"x-oss-forbid-overwrite": "true"}


def oss_auth(credentials: FunctionCredentials) -> Any:
    """oss2 signing for these keys: StsAuth when they carry a token (STS), else Auth."""
    import oss2

    if credentials.security_token:
        return oss2.StsAuth(
            credentials.access_key_id, credentials.access_key_secret, credentials.security_token
        )
    return oss2.Auth(credentials.access_key_id, credentials.access_key_secret)


class ObjectStore:
    def __init__(
        self,
        endpoint: str,
        bucket_name: str,
        credentials: FunctionCredentials,
        *,
        pool_size: int = 10,
        timeout_seconds: float = 30.0,
    ) -> None:
        import oss2

        self._oss2 = oss2
        self.bucket_name = bucket_name
        session = oss2.Session(pool_size=pool_size)

        def bucket(**options: Any) -> Any:
            return oss2.Bucket(
                oss_auth(credentials),
                endpoint,
                bucket_name,
                session=session,
                connect_timeout=timeout_seconds,
                **options,
            )

        self._bucket = bucket()
        # Streamed objects are verified by put_stream itself (one CRC pass at most, none when the
        # source states it); oss2's own upload CRC would be a second pass over every byte.
        self._stream_bucket = bucket(enable_crc=False)

    # --- small JSON documents (manifests, pending records, dead letters) ------------------------
    def get_json(self, key: str) -> dict[str, Any] | None:
        try:
            result = self._bucket.get_object(key)
            data = result.read()
        except Exception as exc:
            if self._is_missing(exc):
                return None
            raise self._map(exc, "get", key) from None
        try:
            value = json.loads(data)
        except ValueError:
            raise CollectorError(
                Source.OSS, OssCode.CORRUPT_DOCUMENT, f"{key} is not JSON"
            ) from None
        if not isinstance(value, dict):
            raise CollectorError(
                Source.OSS, OssCode.CORRUPT_DOCUMENT, f"{key} is not a JSON object"
            )
        return value

    def put_json(
        self, key: str, document: dict[str, Any], *, forbid_overwrite: bool = False
    ) -> StoredObject:
        body = json.dumps(document, ensure_ascii=False, indent=1, sort_keys=True).encode("utf-8")
        headers = {"Content-Type": "application/json"}
        if forbid_overwrite:
            headers.update(FORBID_OVERWRITE)
        try:
            result = self._bucket.put_object(key, body, headers=headers)
        except Exception as exc:
            error = self._map(exc, "put", key)
            if isinstance(error, CollectorError) and error.code == OssCode.CRC_MISMATCH:
                # OSS holds bytes other than ours: remove them, or a create-once retry would
                # meet 409 and trust them
                self.delete(key)
            raise error from None
        crc = result.crc if result.crc is not None else self._crc_of(body)
        return StoredObject(key, len(body), str(crc))

    # --- streamed result objects ---------------------------------------------------------------
    def put_stream(
        self,
        key: str,
        chunks: Iterable[bytes],
        content_type: str,
        *,
        source_crc64: str | None = None,
    ) -> StoredObject:
        """Stream `chunks` into `key` (chunked transfer; nothing is buffered whole), then check that
        OSS stored exactly the source's bytes by their CRC-64, computed at most once per byte:
        `source_crc64` (what the source says its bytes hash to, e.g. an OSS-hosted result's
        x-oss-hash-crc64ecma) is compared with the CRC OSS reports for the stored object, so no
        byte is hashed here; without it the CRC is computed once while streaming. On a mismatch
        the stored object is deleted (so a create-once retry can write) and CrcMismatch raised."""
        counter = _CountingChunks(chunks, with_crc=source_crc64 is None)
        headers = {"Content-Type": content_type, **FORBID_OVERWRITE}
        try:
            result = self._stream_bucket.put_object(key, counter, headers=headers)
        except CollectorError:
            raise  # the source failed mid-stream: OSS stored nothing
        except Exception as exc:
            raise self._map(exc, "put", key) from None
        if result.crc is not None:
            stored = StoredObject(key, counter.size, str(result.crc))
        else:  # the answer carried no CRC: ask OSS what it stored
            head = self.head(key)
            if head is None or head.size != counter.size:
                raise CollectorError(
                    Source.OSS, OssCode.SIZE_MISMATCH, f"{key}: stored size differs"
                )
            stored = head
        expected = str(int(source_crc64)) if source_crc64 is not None else counter.crc64
        if stored.crc64 and stored.crc64 != expected:
            self.delete(key)
            if source_crc64 is not None:  # either leg may have corrupted it: the source's word
                raise CollectorError(
                    Source.IMAGE,
                    "CrcMismatch",
                    f"{key}: stored bytes differ from the source's CRC64",
                )
            raise CollectorError(Source.OSS, OssCode.CRC_MISMATCH, f"{key}: CRC64 mismatch")
        return stored

    def head(self, key: str) -> StoredObject | None:
        try:
            meta = self._bucket.head_object(key)
        except Exception as exc:
            if self._is_missing(exc):
                return None
            raise self._map(exc, "head", key) from None
        crc = meta.headers.get("x-oss-hash-crc64ecma") or ""
        return StoredObject(key, int(meta.content_length or 0), str(crc))

    def exists(self, key: str) -> bool:
        return self.head(key) is not None

    def delete(self, key: str) -> None:
        try:
            self._bucket.delete_object(key)
        except Exception as exc:
            if self._is_missing(exc):
                return
            raise self._map(exc, "delete", key) from None

    def list(self, prefix: str) -> Iterator[ListedObject]:
        token = ""
        while True:
            try:
                page = self._bucket.list_objects_v2(
                    prefix=prefix, continuation_token=token, max_keys=1000
                )
            except Exception as exc:
                raise self._map(exc, "list", prefix) from None
            for obj in page.object_list:
                yield ListedObject(obj.key, int(obj.size), int(obj.last_modified or 0))
            if not page.is_truncated:
                return
            token = page.next_continuation_token

    # --- error mapping --------------------------------------------------------------------------
    def _is_missing(self, exc: Exception) -> bool:
        return isinstance(exc, self._oss2.exceptions.NotFound) and not isinstance(
            exc, self._oss2.exceptions.NoSuchBucket
        )

    def _map(self, exc: Exception, operation: str, key: str) -> Exception:
        errors = self._oss2.exceptions
        where = f"{operation} {self.bucket_name}/{key}"
        if isinstance(exc, errors.InconsistentError):
            return CollectorError(Source.OSS, OssCode.CRC_MISMATCH, f"{where}: CRC64 mismatch")
        if isinstance(exc, errors.RequestError):
            return CollectorError(
                Source.OSS, OssCode.CONNECTION_ERROR, f"{where}: {redact(str(exc))[:200]}"
            )
        if isinstance(exc, errors.OssError):
            status = int(getattr(exc, "status", 0) or 0)
            code = str(getattr(exc, "code", "") or "")
            if status == 409 and code == "FileAlreadyExists":
                return ObjectAlreadyExists(key)
            if status >= 500:
                return CollectorError(Source.OSS, OssCode.HTTP5XX, f"{where}: HTTP {status} {code}")
            return CollectorError(Source.OSS, code or f"HTTP{status}", f"{where}: HTTP {status}")
        return CollectorError(
            Source.OSS, OssCode.CONNECTION_ERROR, f"{where}: {type(exc).__name__}"
        )

    def _crc_of(self, data: bytes) -> int:
        from fastcrc import crc64

        return int(crc64.xz(data, 0))


class _CountingChunks:
    """An iterable that counts (and, if asked, CRC-64s) what passes through it; oss2 sends
    iterables chunked."""

    def __init__(self, chunks: Iterable[bytes], *, with_crc: bool) -> None:
        self._chunks = chunks
        self._with_crc = with_crc
        self._crc = 0
        self.size = 0

    @property
    def crc64(self) -> str | None:
        return str(self._crc) if self._with_crc else None

    def __iter__(self) -> Iterator[bytes]:
        # CRC-64/XZ is the CRC-64/ECMA OSS reports. fastcrc's SIMD kernel costs ~0.02 CPU-s per GB,
        # against ~2.2 for crcmod's table-driven C: the one pass we must make is almost free.
        update = None
        if self._with_crc:
            from fastcrc import crc64

            update = crc64.xz
        for chunk in self._chunks:
            self.size += len(chunk)
            if update is not None:
                self._crc = update(chunk, self._crc)
            yield chunk
