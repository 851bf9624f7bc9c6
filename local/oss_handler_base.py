"""The OSS request handler's plumbing, shared by its operation mixins: per-request state, the
response and body helpers (pacing, first-byte delay, mid-body reset), error answers, the faults
applied at the handler, and the request-log record with secrets left out."""

from __future__ import annotations

import base64
import hashlib
import logging
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, BinaryIO, ClassVar
from urllib.parse import urlsplit

import oss2.utils

from local.httpserver import EmulatorRequestHandler, RequestRecord
from local.oss_faults import SERVER_ERROR_CODES, Fault
from local.oss_protocol import (
    KNOWN_EC,
    MAX_KEY_BYTES,
    MAX_SMALL_BODY,
    UNSIGNED_CRC_MASK,
    ClientGone,
    Handled,
    ObjectMeta,
    OssError,
    Received,
    ResetNow,
    error_xml,
    http_date,
)

if TYPE_CHECKING:
    from local.oss_emulator import OssEmulator

log = logging.getLogger("local.oss")


class OssHandlerBase(EmulatorRequestHandler):
    server_version = "AliyunOSS"
    sys_version = ""
    timeout = 120  # seconds of socket silence before a stalled client is dropped

    emulator: ClassVar[OssEmulator]

    # Per-request state, set by `OssRequestHandler._serve`.
    _request_id: str
    _status: int
    _recorded: bool
    _body_consumed: bool
    _first_byte_delayed: bool
    _fault: Fault | None
    _info: dict[str, Any]
    _query_pairs: list[tuple[str, str]]
    _query: dict[str, str]
    _bucket: str
    _key: str
    _op: str

    def _record_once(self) -> None:
        """Log the request once: before the answer goes out (so a client that has its answer
        can count on the log), or at the end for requests that never got one."""
        if self._recorded:
            return
        self._recorded = True
        self.emulator.record(
            RequestRecord(
                method=self.command,
                path=self._loggable_path(),
                status=self._status,
                headers=self._loggable_headers(),
                info=self._info,
            )
        )

    # ---- faults ---------------------------------------------------------------------------
    def _apply_early_fault(self, fault: Fault) -> None:
        if fault.kind == "reset":
            raise ResetNow()
        if fault.kind == "http":
            code = SERVER_ERROR_CODES.get(fault.status, "InternalError")
            raise OssError(fault.status, code, f"Injected fault: {code}.")
        if fault.kind == "html":
            self._drain_body()
            page = (
                f"<html>\r\n<head><title>{fault.status} Bad Gateway</title></head>\r\n<body>\r\n"
                f"<center><h1>{fault.status} Bad Gateway</h1></center>\r\n"
                "<hr><center>Tengine</center>\r\n</body>\r\n</html>\r\n"
            ).encode()
            self._respond(fault.status, {"Content-Type": "text/html"}, page)
            raise Handled()

    def _fault_is(self, kind: str) -> bool:
        return self._fault is not None and self._fault.kind == kind

    def _crc_header(self, crc64: str) -> str:
        if self._fault_is("bad-crc"):
            # A wrong but plausible value: what a real corruption report looks like to the client.
            return str((int(crc64) ^ 0x5A5A5A5A5A5A5A5A) & UNSIGNED_CRC_MASK)
        return crc64

    # ---- body / response plumbing ----------------------------------------------------------
    def _body_chunks(self) -> Iterator[bytes]:
        """The request body, with pacing and the mid-body reset fault applied."""
        self._body_consumed = True
        reset_at: int | None = None
        if self._fault_is("reset-mid-body"):
            declared = int(self.headers.get("Content-Length") or 0)
            reset_at = max(1, declared // 2) if declared else 1
        started = time.monotonic()
        received = 0
        try:
            for chunk in self.iter_body():
                received += len(chunk)
                if reset_at is not None and received >= reset_at:
                    raise ResetNow()
                self.emulator.shape.pace(started, received)
                yield chunk
        except (ConnectionError, TimeoutError, ValueError) as exc:
            raise ClientGone(str(exc)) from exc

    def _drain_body(self) -> None:
        """Read and drop an unread body so the client sees our answer instead of a reset."""
        if self._body_consumed or self.command in ("GET", "HEAD"):
            return
        self._body_consumed = True
        try:
            for _ in self.iter_body():
                pass
        except (ConnectionError, TimeoutError, ValueError):
            self.close_connection = True

    def _read_small_body(self) -> bytes:
        chunks: list[bytes] = []
        total = 0
        for chunk in self._body_chunks():
            total += len(chunk)
            if total > MAX_SMALL_BODY:
                self.close_connection = True
                raise OssError(400, "InvalidArgument", "Request body is too large.")
            chunks.append(chunk)
        return b"".join(chunks)

    def _receive_to_temp(self) -> Received:
        tmp = self.emulator._new_temp_path(self._bucket)
        md5 = hashlib.md5()
        crc = oss2.utils.Crc64(0)
        size = 0
        try:
            with open(tmp, "wb") as out:
                for chunk in self._body_chunks():
                    out.write(chunk)
                    md5.update(chunk)
                    crc.update(chunk)
                    size += len(chunk)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        content_md5 = self.headers.get("Content-MD5")
        if content_md5 and content_md5 != base64.b64encode(md5.digest()).decode():
            tmp.unlink(missing_ok=True)
            raise OssError(400, "InvalidDigest", "The Content-MD5 you specified was invalid.")
        return Received(tmp, size, md5, crc.crc)

    def _respond(
        self,
        status: int,
        headers: dict[str, str],
        body: bytes = b"",
        *,
        stream: tuple[BinaryIO, int] | None = None,
    ) -> None:
        if self._fault is not None and self._fault.kind == "delay":
            time.sleep(
                self._fault.delay_seconds
            )  # after the work: the write happened, the answer is late
        self._delay_first_byte()  # every answer pays the modelled time to first byte, once
        length = stream[1] if stream is not None else len(body)
        self._status = status
        self._record_once()
        self.send_response(status)
        self.send_header("x-oss-request-id", self._request_id)
        self.send_header("Content-Length", str(length))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command == "HEAD":
            return
        if stream is not None:
            self._send_stream(*stream)
        elif body:
            self.wfile.write(body)

    def _delay_first_byte(self) -> None:
        """The network model's time to first byte, once per request: writes pay it before the
        commit (the service's processing time), everything else before the answer."""
        if not self._first_byte_delayed:
            self._first_byte_delayed = True
            self.emulator.shape.first_byte_delay()

    def _send_stream(self, src: BinaryIO, length: int) -> None:
        reset_at = max(1, length // 2) if self._fault_is("reset-mid-body") else None
        started = time.monotonic()
        sent = 0
        while sent < length:
            want = min(1 << 16, length - sent)
            if reset_at is not None:
                want = min(want, reset_at - sent)
            data = src.read(want)
            if not data:
                raise RuntimeError("object file shorter than its metadata says")
            # Pace before writing, so even the last chunk arrives no earlier than the cap allows.
            self.emulator.shape.pace(started, sent + len(data))
            self.wfile.write(data)
            sent += len(data)
            if reset_at is not None and sent >= reset_at:
                self.wfile.flush()
                raise ResetNow()

    def _send_xml(self, status: int, xml: str, headers: dict[str, str] | None = None) -> None:
        body = ('<?xml version="1.0" encoding="UTF-8"?>\n' + xml).encode("utf-8")
        self._respond(status, {"Content-Type": "application/xml", **(headers or {})}, body)

    def _send_error(self, err: OssError) -> None:
        self._info["error"] = err.code
        self._drain_body()
        xml = error_xml(err, self._request_id, self.headers.get("Host", "127.0.0.1"))
        headers = {"Content-Type": "application/xml"}
        if err.code in KNOWN_EC:
            headers["x-oss-ec"] = KNOWN_EC[err.code]
        if self.command == "HEAD":
            # HEAD answers carry no body: oss2 reads the error from this header instead.
            headers["x-oss-err"] = base64.b64encode(xml).decode()
            self._respond(err.status, headers, b"", stream=None)
            return
        self._respond(err.status, headers, xml)

    def _loggable_path(self) -> str:
        split = urlsplit(self.path)
        secret_params = {"Signature", "security-token", "x-oss-signature", "x-oss-security-token"}
        if any(k in secret_params for k, _ in self._query_pairs):
            return split.path
        return self.path

    def _loggable_headers(self) -> dict[str, str]:
        hidden = {"authorization", "x-oss-security-token"}
        return {k: v for k, v in self.headers.items() if k.lower() not in hidden}

    # ---- request helpers --------------------------------------------------------------------
    def _check_key(self) -> None:
        key_bytes = self._key.encode("utf-8", "surrogatepass")
        if not self._key or len(key_bytes) > MAX_KEY_BYTES or self._key[0] in "/\\":
            raise OssError(400, "InvalidObjectName", "The specified object is not valid.")

    def _user_metadata(self) -> dict[str, str]:
        return {
            k.lower(): v for k, v in self.headers.items() if k.lower().startswith("x-oss-meta-")
        }

    def _forbid_overwrite(self) -> bool:
        return self.headers.get("x-oss-forbid-overwrite", "").lower() == "true"

    def _write_result_headers(self, meta: ObjectMeta) -> dict[str, str]:
        return {
            "ETag": f'"{meta.etag}"',
            "x-oss-hash-crc64ecma": self._crc_header(meta.crc64),
        }

    def _object_headers(self, meta: ObjectMeta) -> dict[str, str]:
        headers = {
            "Content-Type": meta.content_type,
            "ETag": f'"{meta.etag}"',
            "Last-Modified": http_date(meta.last_modified),
            "Accept-Ranges": "bytes",
            "x-oss-object-type": meta.object_type,
            "x-oss-storage-class": "Standard",
            "x-oss-hash-crc64ecma": self._crc_header(meta.crc64),
        }
        headers.update(meta.metadata)
        return headers
