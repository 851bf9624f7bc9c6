"""A loopback OSS server speaking the subset of the OSS REST API that `oss2.Bucket` uses.

Path-style addressing only (`/<bucket>/<percent-encoded key>`, which is what oss2 sends to an IP
endpoint). Every request is signed-checked (OSS V1 `OSS ak:sig` and V4 `OSS4-HMAC-SHA256`) against
the shared `CredentialStore`. Objects live on disk under `root_dir`: each object is a data file plus
a JSON sidecar, written through a temp file and renamed into place only once the whole body has
arrived, so an interrupted upload never leaves a partial object behind.

Faults (5xx, slow answers, connection resets, bad CRC headers) are injected per operation and key
glob via `inject()`; see `FAULT_KINDS`.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import bisect
import email.utils
import fnmatch
import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, BinaryIO, ClassVar
from urllib.parse import parse_qsl, quote, unquote, urlsplit
from xml.etree import ElementTree
from xml.sax.saxutils import escape as xml_escape

import oss2.utils
from oss2.auth import ProviderAuth

from local.clock import Clock
from local.credentials import CredentialCheck, CredentialStore
from local.httpserver import (
    Emulator,
    EmulatorRequestHandler,
    NetworkShape,
    RequestRecord,
    wait_for_interrupt,
)

log = logging.getLogger("local.oss")

# The sub-resources that take part in the V1 canonical resource: the SDK's own table, which is the
# same list the service documents.
V1_SUBRESOURCES: frozenset[str] = frozenset(ProviderAuth._subresource_key_set)

OPS = frozenset(
    {
        "put",
        "get",
        "head",
        "delete",
        "list",
        "copy",
        "complete",
        "upload_part",
        "initiate",
        "abort",
        "list_parts",
        "*",
    }
)
FAULT_KINDS = ("http:<5xx>", "html:<5xx>", "delay:<seconds>", "reset", "reset-mid-body", "bad-crc")

MIN_PART_SIZE = 100 * 1024  # OSS rejects smaller non-final parts at Complete (EntityTooSmall)
MAX_KEY_BYTES = 1023
MAX_PART_NUMBER = 10000
MAX_SMALL_BODY = 5 * 1024 * 1024  # XML request bodies (Complete) are read into memory
BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")
UNSIGNED_CRC_MASK = (1 << 64) - 1

# Error codes whose EC (the documented OSS error-center id) we know; others are sent without one.
_KNOWN_EC = {
    "SecurityTokenExpired": "0002-00000007",
    "InvalidSecurityToken": "0002-00000006",
}
_SERVER_ERROR_CODES = {500: "InternalError", 502: "BadGateway", 503: "ServiceUnavailable"}


# ---- data model -------------------------------------------------------------------------------
@dataclass
class ObjectMeta:
    """What the JSON sidecar of a stored object holds."""

    key: str
    size: int
    etag: str  # upper-case hex MD5 ("<HEX>-<N>" for multipart objects), no quotes
    crc64: str  # unsigned decimal CRC-64/ECMA-182 of the whole object
    content_type: str
    metadata: dict[str, str]  # lower-case `x-oss-meta-*` header name -> value
    last_modified: float  # clock time
    object_type: str = "Normal"


@dataclass
class PartMeta:
    part_number: int
    size: int
    etag: str
    md5_hex: str
    crc64: str
    last_modified: float


@dataclass
class Fault:
    op: str
    kind: str  # "http", "html", "delay", "reset", "reset-mid-body", "bad-crc"
    key_glob: str
    remaining: int | None  # None: forever
    status: int = 0
    delay_seconds: float = 0.0


class OssError(Exception):
    """An OSS error response (XML body, or `x-oss-err` header for HEAD)."""

    def __init__(
        self, status: int, code: str, message: str, extra: dict[str, str] | None = None
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.extra = extra or {}


class _ClientGone(Exception):
    """The client disconnected (or stalled past the socket timeout) before the body was complete."""


class _ResetNow(Exception):
    """An injected fault asks for the connection to be reset right now."""


class _Handled(Exception):
    """Control flow only: the response was already sent (by a fault)."""


@dataclass
class _Received:
    path: Path
    size: int
    md5: Any
    crc: int


# ---- helpers -----------------------------------------------------------------------------------
def _iso8601(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(ts))


def _http_date(ts: float) -> str:
    return email.utils.formatdate(ts, usegmt=True)


def _request_id() -> str:
    return secrets.token_hex(12).upper()


def _v4_encode(text: str, keep_slash: bool) -> str:
    safe = "_-~." + ("/" if keep_slash else "")
    return quote(text.encode("utf-8"), safe=safe)


def _hmac_sha256(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode("utf-8"), hashlib.sha256).digest()


def _error_xml(err: OssError, request_id: str, host: str) -> bytes:
    parts = [
        f"<Code>{xml_escape(err.code)}</Code>",
        f"<Message>{xml_escape(err.message)}</Message>",
        f"<RequestId>{request_id}</RequestId>",
        f"<HostId>{xml_escape(host)}</HostId>",
    ]
    parts += [f"<{k}>{xml_escape(v)}</{k}>" for k, v in err.extra.items()]
    if err.code in _KNOWN_EC:
        parts.append(f"<EC>{_KNOWN_EC[err.code]}</EC>")
    body = '<?xml version="1.0" encoding="UTF-8"?>\n<Error>' + "".join(parts) + "</Error>\n"
    return body.encode("utf-8")


def parse_fault(op: str, fault: str, key: str, count: int | None) -> Fault:
    if op not in OPS:
        raise ValueError(f"unknown op {op!r}; expected one of {sorted(OPS)}")
    kind, _, arg = fault.partition(":")
    if kind in ("http", "html"):
        status = int(arg)
        if not 400 <= status <= 599:
            raise ValueError(f"fault status must be 4xx/5xx: {fault!r}")
        return Fault(op, kind, key, count, status=status)
    if kind == "delay":
        return Fault(op, kind, key, count, delay_seconds=float(arg))
    if fault in ("reset", "reset-mid-body", "bad-crc"):
        return Fault(op, fault, key, count)
    raise ValueError(f"unknown fault {fault!r}; expected one of {FAULT_KINDS}")


def _fault_applies(kind: str, op: str) -> bool:
    """Faults that only make sense for some operations are not consumed by the others."""
    if kind == "bad-crc":
        return op in ("put", "copy", "complete", "upload_part", "get", "head")
    if kind == "reset-mid-body":
        return op in ("put", "upload_part", "complete", "get")
    return True


# ---- request handler ---------------------------------------------------------------------------
class OssRequestHandler(EmulatorRequestHandler):
    server_version = "AliyunOSS"
    sys_version = ""
    timeout = 120  # seconds of socket silence before a stalled client is dropped

    emulator: ClassVar[OssEmulator]

    def do_GET(self) -> None:
        self._serve()

    def do_HEAD(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    # ---- top level ------------------------------------------------------------------------
    def _serve(self) -> None:
        emu = self.emulator
        self._request_id = _request_id()
        self._status = 0
        self._recorded = False
        self._body_consumed = False
        self._first_byte_delayed = False
        self._fault: Fault | None = None
        self._info: dict[str, Any] = {"request_id": self._request_id}
        split = urlsplit(self.path)
        self._query_pairs = parse_qsl(split.query, keep_blank_values=True)
        self._query = dict(self._query_pairs)
        bucket_raw, _, key_raw = split.path.lstrip("/").partition("/")
        self._bucket = unquote(bucket_raw)
        self._key = unquote(key_raw)
        self._op = self._classify()
        self._info.update(op=self._op, bucket=self._bucket, key=self._key)
        try:
            fault_key = self._query.get("prefix", "") if self._op == "list" else self._key
            self._fault = emu._take_fault(self._op, fault_key)
            if self._fault is not None:
                self._info["fault"] = self._fault.kind
                self._apply_early_fault(self._fault)
            self._authenticate()
            self._dispatch()
        except OssError as err:
            self._send_error(err)
        except _Handled:
            pass
        except _ResetNow:
            self._status = 0
            self.reset_connection()
        except _ClientGone:
            self._status = 0
            self.close_connection = True
        except (BrokenPipeError, ConnectionResetError):
            self._status = 0
            self.close_connection = True
        except Exception as exc:
            log.exception("oss emulator internal error")
            if self._status:  # headers already out: nothing sensible left to say
                self.close_connection = True
            else:
                self._send_error(OssError(500, "InternalError", f"emulator error: {exc}"))
        finally:
            self._record_once()

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

    def _classify(self) -> str:
        method, query = self.command, self._query
        if not self._bucket:
            return "service"
        if not self._key:
            return "list" if method == "GET" and "uploads" not in query else "bucket"
        if method == "PUT":
            if "uploadId" in query:
                return "upload_part_copy" if "x-oss-copy-source" in self.headers else "upload_part"
            return "copy" if "x-oss-copy-source" in self.headers else "put"
        if method == "GET":
            return "list_parts" if "uploadId" in query else "get"
        if method == "HEAD":
            return "head"
        if method == "DELETE":
            return "abort" if "uploadId" in query else "delete"
        if method == "POST":
            if "uploads" in query:
                return "initiate"
            if "uploadId" in query:
                return "complete"
        return "unsupported"

    def _dispatch(self) -> None:
        handlers = {
            "put": self._put_object,
            "get": self._get_object,
            "head": self._head_object,
            "delete": self._delete_object,
            "list": self._list_objects,
            "copy": self._copy_object,
            "initiate": self._initiate_multipart,
            "upload_part": self._upload_part,
            "list_parts": self._list_parts,
            "complete": self._complete_multipart,
            "abort": self._abort_multipart,
        }
        handler = handlers.get(self._op)
        if handler is None:
            raise OssError(
                400,
                "NotImplemented",
                f"The local OSS emulator does not support this request ({self._op}).",
            )
        if self._op != "list":
            self._check_key()
        handler()

    # ---- faults ---------------------------------------------------------------------------
    def _apply_early_fault(self, fault: Fault) -> None:
        if fault.kind == "reset":
            raise _ResetNow()
        if fault.kind == "http":
            code = _SERVER_ERROR_CODES.get(fault.status, "InternalError")
            raise OssError(fault.status, code, f"Injected fault: {code}.")
        if fault.kind == "html":
            self._drain_body()
            page = (
                f"<html>\r\n<head><title>{fault.status} Bad Gateway</title></head>\r\n<body>\r\n"
                f"<center><h1>{fault.status} Bad Gateway</h1></center>\r\n"
                "<hr><center>Tengine</center>\r\n</body>\r\n</html>\r\n"
            ).encode()
            self._respond(fault.status, {"Content-Type": "text/html"}, page)
            raise _Handled()

    def _fault_is(self, kind: str) -> bool:
        return self._fault is not None and self._fault.kind == kind

    def _crc_header(self, crc64: str) -> str:
        if self._fault_is("bad-crc"):
            # A wrong but plausible value: what a real corruption report looks like to the client.
            return str((int(crc64) ^ 0x5A5A5A5A5A5A5A5A) & UNSIGNED_CRC_MASK)
        return crc64

    # ---- authentication -------------------------------------------------------------------
    def _authenticate(self) -> None:
        h = {k.lower(): v for k, v in self.headers.items()}
        auth = h.get("authorization", "")
        if not auth:
            raise OssError(
                403,
                "AccessDenied",
                "You have no right to access this object because of bucket acl.",
            )
        if auth.startswith("OSS4-HMAC-SHA256 "):
            ak, provided, expected_fn = self._parse_v4(auth, h)
        elif auth.startswith("OSS "):
            ak, _, provided = auth[len("OSS ") :].rpartition(":")
            if not ak:
                raise OssError(400, "InvalidArgument", "Authorization header is invalid.")
            expected_fn = self._v1_signer(h)
        else:
            raise OssError(400, "InvalidArgument", "Authorization header is invalid.")
        self._info["access_key_id"] = ak
        outcome, creds = self.emulator.credentials.check(ak, h.get("x-oss-security-token"))
        if outcome == CredentialCheck.UNKNOWN_KEY or creds is None:
            raise OssError(
                403,
                "InvalidAccessKeyId",
                "The OSS Access Key Id you provided does not exist in our records.",
                {"OSSAccessKeyId": ak},
            )
        if outcome == CredentialCheck.BAD_TOKEN:
            raise OssError(
                403, "InvalidSecurityToken", "The security token you provided is invalid."
            )
        if outcome == CredentialCheck.EXPIRED_TOKEN:
            raise OssError(
                403, "SecurityTokenExpired", "The security token you provided has expired."
            )
        expected, string_to_sign = expected_fn(creds.access_key_secret)
        if not hmac.compare_digest(expected, provided):
            raise OssError(
                403,
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you provided. "
                "Check your key and signing method.",
                {"StringToSign": string_to_sign, "OSSAccessKeyId": ak},
            )

    def _v1_signer(self, h: dict[str, str]) -> Any:
        canon_headers = "".join(
            f"{k}:{h[k]}\n" for k in sorted(k for k in h if k.startswith("x-oss-"))
        )
        resource = f"/{self._bucket}/{self._key}" if self._bucket else "/"
        sub = sorted(
            ((k, v) for k, v in self._query_pairs if k in V1_SUBRESOURCES), key=lambda kv: kv[0]
        )
        if sub:
            resource += "?" + "&".join(k + ("=" + v if v else "") for k, v in sub)
        string_to_sign = "\n".join(
            [
                self.command,
                h.get("content-md5", ""),
                h.get("content-type", ""),
                h.get("x-oss-date") or h.get("date", ""),
                canon_headers + resource,
            ]
        )

        def expected(secret: str) -> tuple[str, str]:
            digest = hmac.new(secret.encode(), string_to_sign.encode("utf-8"), hashlib.sha1)
            return base64.b64encode(digest.digest()).decode(), string_to_sign

        return expected

    def _parse_v4(self, auth: str, h: dict[str, str]) -> tuple[str, str, Any]:
        fields: dict[str, str] = {}
        for item in auth[len("OSS4-HMAC-SHA256 ") :].split(","):
            name, _, value = item.strip().partition("=")
            fields[name] = value
        try:
            ak, date, region, product, terminator = fields["Credential"].split("/")
            provided = fields["Signature"]
        except (KeyError, ValueError):
            raise OssError(400, "InvalidArgument", "Authorization header is invalid.") from None
        when = h.get("x-oss-date", "")
        if terminator != "aliyun_v4_request" or product != "oss" or when[:8] != date:
            raise OssError(
                400, "InvalidArgument", "Authorization header credential scope is invalid."
            )
        additional = sorted(a for a in fields.get("AdditionalHeaders", "").split(";") if a)
        signed = sorted(
            k
            for k in h
            if k.startswith("x-oss-") or k in ("content-type", "content-md5") or k in additional
        )
        canonical_query = "&".join(
            sorted(
                _v4_encode(k, False) + ("=" + _v4_encode(v, False) if v else "")
                for k, v in self._query_pairs
            )
        )
        uri = f"/{self._bucket}/{self._key}" if self._bucket else "/"
        canonical_request = "\n".join(
            [
                self.command,
                _v4_encode(uri, True),
                canonical_query,
                "".join(f"{k}:{h[k]}\n" for k in signed),
                ";".join(additional),
                h.get("x-oss-content-sha256", "UNSIGNED-PAYLOAD"),
            ]
        )
        scope = f"{date}/{region}/{product}/{terminator}"
        string_to_sign = "\n".join(
            [
                "OSS4-HMAC-SHA256",
                when,
                scope,
                hashlib.sha256(canonical_request.encode("utf-8")).hexdigest(),
            ]
        )

        def expected(secret: str) -> tuple[str, str]:
            key = _hmac_sha256(("aliyun_v4" + secret).encode(), date)
            for part in (region, product, terminator):
                key = _hmac_sha256(key, part)
            return hmac.new(
                key, string_to_sign.encode(), hashlib.sha256
            ).hexdigest(), string_to_sign

        return ak, provided, expected

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
                    raise _ResetNow()
                self.emulator.shape.pace(started, received)
                yield chunk
        except (ConnectionError, TimeoutError, ValueError) as exc:
            raise _ClientGone(str(exc)) from exc

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

    def _receive_to_temp(self) -> _Received:
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
        return _Received(tmp, size, md5, crc.crc)

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
                raise _ResetNow()

    def _send_xml(self, status: int, xml: str, headers: dict[str, str] | None = None) -> None:
        body = ('<?xml version="1.0" encoding="UTF-8"?>\n' + xml).encode("utf-8")
        self._respond(status, {"Content-Type": "application/xml", **(headers or {})}, body)

    def _send_error(self, err: OssError) -> None:
        self._info["error"] = err.code
        self._drain_body()
        xml = _error_xml(err, self._request_id, self.headers.get("Host", "127.0.0.1"))
        headers = {"Content-Type": "application/xml"}
        if err.code in _KNOWN_EC:
            headers["x-oss-ec"] = _KNOWN_EC[err.code]
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
            "Last-Modified": _http_date(meta.last_modified),
            "Accept-Ranges": "bytes",
            "x-oss-object-type": meta.object_type,
            "x-oss-storage-class": "Standard",
            "x-oss-hash-crc64ecma": self._crc_header(meta.crc64),
        }
        headers.update(meta.metadata)
        return headers

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
            f"<LastModified>{_iso8601(meta.last_modified)}</LastModified></CopyObjectResult>",
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
                f"<LastModified>{_iso8601(meta.last_modified)}</LastModified>"
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

    # ---- multipart ----------------------------------------------------------------------------
    def _upload_id(self) -> str:
        upload_id = self._query.get("uploadId", "")
        if not self.emulator._upload_exists(self._bucket, self._key, upload_id):
            self.emulator._require_bucket(self._bucket)
            raise OssError(
                404,
                "NoSuchUpload",
                "The specified upload does not exist. The upload ID may be invalid, "
                "or the upload may have been aborted or completed.",
                {"UploadId": upload_id},
            )
        return upload_id

    def _initiate_multipart(self) -> None:
        emu = self.emulator
        emu._require_bucket(self._bucket)
        self._drain_body()
        upload_id = emu._create_upload(
            self._bucket,
            self._key,
            {
                "content_type": self.headers.get("Content-Type") or "application/octet-stream",
                "metadata": self._user_metadata(),
                "forbid_overwrite": self._forbid_overwrite(),
                "initiated": emu.clock.now(),
            },
        )
        self._info["upload_id"] = upload_id
        self._send_xml(
            200,
            f"<InitiateMultipartUploadResult><Bucket>{xml_escape(self._bucket)}</Bucket>"
            f"<Key>{xml_escape(self._key)}</Key><UploadId>{upload_id}</UploadId>"
            "</InitiateMultipartUploadResult>",
        )

    def _upload_part(self) -> None:
        emu = self.emulator
        upload_id = self._upload_id()
        try:
            part_number = int(self._query.get("partNumber", ""))
        except ValueError:
            part_number = 0
        if not 1 <= part_number <= MAX_PART_NUMBER:
            raise OssError(
                400, "InvalidArgument", "Part number must be an integer between 1 and 10000."
            )
        self._info["part_number"] = part_number
        received = self._receive_to_temp()
        try:
            part = PartMeta(
                part_number=part_number,
                size=received.size,
                etag=received.md5.hexdigest().upper(),
                md5_hex=received.md5.hexdigest(),
                crc64=str(received.crc),
                last_modified=emu.clock.now(),
            )
            self._delay_first_byte()
            emu._store_part(self._bucket, upload_id, received.path, part)
        finally:
            received.path.unlink(missing_ok=True)
        self._respond(
            200, {"ETag": f'"{part.etag}"', "x-oss-hash-crc64ecma": self._crc_header(part.crc64)}
        )

    def _list_parts(self) -> None:
        upload_id = self._upload_id()
        try:
            marker = int(self._query.get("part-number-marker") or 0)
            max_parts = int(self._query.get("max-parts") or 1000)
        except ValueError:
            raise OssError(
                400, "InvalidArgument", "Invalid part-number-marker or max-parts."
            ) from None
        parts = [p for p in self.emulator._parts(self._bucket, upload_id) if p.part_number > marker]
        page, truncated = parts[:max_parts], len(parts) > max_parts
        next_marker = page[-1].part_number if page else marker
        body = [
            f"<ListPartsResult><Bucket>{xml_escape(self._bucket)}</Bucket>"
            f"<Key>{xml_escape(self._key)}</Key><UploadId>{upload_id}</UploadId>"
            f"<PartNumberMarker>{marker}</PartNumberMarker>"
            f"<NextPartNumberMarker>{next_marker}</NextPartNumberMarker>"
            f"<MaxParts>{max_parts}</MaxParts>"
            f"<IsTruncated>{'true' if truncated else 'false'}</IsTruncated>"
        ]
        body += [
            f"<Part><PartNumber>{p.part_number}</PartNumber>"
            f"<LastModified>{_iso8601(p.last_modified)}</LastModified>"
            f'<ETag>"{p.etag}"</ETag><HashCrc64ecma>{p.crc64}</HashCrc64ecma>'
            f"<Size>{p.size}</Size></Part>"
            for p in page
        ]
        body.append("</ListPartsResult>")
        self._send_xml(200, "".join(body))

    def _complete_multipart(self) -> None:
        emu = self.emulator
        upload_id = self._upload_id()
        raw = self._read_small_body()
        stored = {p.part_number: p for p in emu._parts(self._bucket, upload_id)}
        if self.headers.get("x-oss-complete-all", "").lower() == "yes":
            chosen = [stored[n] for n in sorted(stored)]
        else:
            chosen = self._chosen_parts(raw, stored)
        if not chosen:
            raise OssError(400, "MalformedXML", "The XML you provided was not well-formed.")
        for part in chosen[:-1]:
            if part.size < MIN_PART_SIZE:
                raise OssError(
                    400,
                    "EntityTooSmall",
                    "Your proposed upload is smaller than the minimum allowed object size.",
                    {"PartNumber": str(part.part_number)},
                )
        upload = emu._upload_info(self._bucket, upload_id)
        tmp = emu._new_temp_path(self._bucket)
        md5 = hashlib.md5()
        crc = oss2.utils.Crc64(0)
        size = 0
        try:
            with open(tmp, "wb") as out:
                for part in chosen:
                    with open(
                        emu._part_path(self._bucket, upload_id, part.part_number), "rb"
                    ) as src:
                        while data := src.read(1 << 20):
                            out.write(data)
                            crc.update(data)
                            size += len(data)
                    md5.update(bytes.fromhex(part.md5_hex))
            meta = ObjectMeta(
                key=self._key,
                size=size,
                etag=f"{md5.hexdigest().upper()}-{len(chosen)}",
                crc64=str(crc.crc),
                content_type=upload["content_type"],
                metadata=upload["metadata"],
                last_modified=emu.clock.now(),
                object_type="Multipart",
            )
            forbid = self._forbid_overwrite() or bool(upload.get("forbid_overwrite"))
            emu._commit(self._bucket, self._key, tmp, meta, forbid)
        finally:
            tmp.unlink(missing_ok=True)
        emu._remove_upload(self._bucket, upload_id)
        location = (
            f"http://{self.headers.get('Host', '')}/{self._bucket}/{quote(self._key, safe='')}"
        )
        self._send_xml(
            200,
            f"<CompleteMultipartUploadResult><Location>{xml_escape(location)}</Location>"
            f"<Bucket>{xml_escape(self._bucket)}</Bucket><Key>{xml_escape(self._key)}</Key>"
            f'<ETag>"{meta.etag}"</ETag></CompleteMultipartUploadResult>',
            self._write_result_headers(meta),
        )

    @staticmethod
    def _chosen_parts(raw: bytes, stored: dict[int, PartMeta]) -> list[PartMeta]:
        try:
            root = ElementTree.fromstring(raw)
            listed = [
                (int(p.findtext("PartNumber") or ""), (p.findtext("ETag") or "").strip().strip('"'))
                for p in root.findall("Part")
            ]
        except (ElementTree.ParseError, ValueError):
            raise OssError(
                400, "MalformedXML", "The XML you provided was not well-formed."
            ) from None
        numbers = [n for n, _ in listed]
        if numbers != sorted(set(numbers)):
            raise OssError(400, "InvalidPartOrder", "The list of parts was not in ascending order.")
        chosen = []
        for number, etag in listed:
            part = stored.get(number)
            if part is None or part.etag.upper() != etag.upper():
                raise OssError(
                    400,
                    "InvalidPart",
                    "One or more of the specified parts could not be found or the specified "
                    "entity tag might not have matched the part's entity tag.",
                    {"PartNumber": str(number), "ETag": etag},
                )
            chosen.append(part)
        return chosen

    def _abort_multipart(self) -> None:
        upload_id = self._upload_id()
        self.emulator._remove_upload(self._bucket, upload_id)
        self._respond(204, {})


# ---- emulator ------------------------------------------------------------------------------------
class OssEmulator(Emulator):
    """Loopback OSS. Objects persist under `root_dir/<bucket>/objects/`."""

    name = "oss"
    handler_class = OssRequestHandler

    def __init__(
        self,
        credentials: CredentialStore,
        root_dir: Path,
        clock: Clock | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        super().__init__(host, port)
        self.credentials = credentials
        self.root_dir = Path(root_dir)
        self.clock = clock or credentials.clock
        self.shape = NetworkShape()
        self._lock = threading.RLock()
        self._objects: dict[str, dict[str, ObjectMeta]] = {}
        self._faults: list[Fault] = []
        self._faults_lock = threading.Lock()
        self._put_counts: dict[tuple[str, str], int] = {}
        self.root_dir.mkdir(parents=True, exist_ok=True)
        self._load()

    def __enter__(self) -> OssEmulator:
        self.start()
        return self

    # ---- public API for tests and the local cloud --------------------------------------------
    def create_bucket(self, name: str) -> None:
        if not BUCKET_NAME.match(name):
            raise ValueError(f"invalid OSS bucket name: {name!r}")
        with self._lock:
            for sub in ("objects", ".tmp", ".uploads"):
                (self.root_dir / name / sub).mkdir(parents=True, exist_ok=True)
            self._objects.setdefault(name, {})

    def inject(self, op: str, fault: str, *, key: str = "*", count: int | None = 1) -> None:
        """Make the next `count` requests of `op` on keys matching `key` (fnmatch; for "list" the
        prefix is matched) fail with `fault` (see FAULT_KINDS). `count=None` means forever."""
        parsed = parse_fault(op, fault, key, count)
        with self._faults_lock:
            self._faults.append(parsed)

    def clear_faults(self) -> None:
        with self._faults_lock:
            self._faults.clear()

    def put_count(self, bucket: str, key: str) -> int:
        """Successful writes of `key` (put, copy and complete)."""
        with self._lock:
            return self._put_counts.get((bucket, key), 0)

    def request_count(self, op: str | None = None, key_prefix: str | None = None) -> int:
        with self._requests_lock:
            return sum(
                1
                for r in self.requests
                if (op is None or r.info.get("op") == op)
                and (key_prefix is None or str(r.info.get("key", "")).startswith(key_prefix))
            )

    def object_path(self, bucket: str, key: str) -> Path:
        """Where the data of `key` lives (whether or not it exists)."""
        return self.root_dir / bucket / "objects" / (self._stem(key) + ".data")

    def object_meta(self, bucket: str, key: str) -> ObjectMeta | None:
        with self._lock:
            return self._objects.get(bucket, {}).get(key)

    def list_keys(self, bucket: str, prefix: str = "") -> list[str]:
        with self._lock:
            return sorted(k for k in self._objects.get(bucket, {}) if k.startswith(prefix))

    def temp_files(self, bucket: str) -> list[Path]:
        """Leftover temp files (there should be none once requests have finished)."""
        return sorted((self.root_dir / bucket / ".tmp").glob("*"))

    # ---- faults ---------------------------------------------------------------------------------
    def _take_fault(self, op: str, key: str) -> Fault | None:
        with self._faults_lock:
            for fault in self._faults:
                if fault.op not in ("*", op) or not fnmatch.fnmatchcase(key, fault.key_glob):
                    continue
                if not _fault_applies(fault.kind, op):
                    continue
                if fault.remaining is not None:
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self._faults.remove(fault)
                return fault
        return None

    # ---- storage --------------------------------------------------------------------------------
    @staticmethod
    def _stem(key: str) -> str:
        # Injective, file-system safe names; the "o_" prefix keeps "." and ".." harmless.
        encoded = quote(key, safe="")
        if len(encoded) <= 200:
            return "o_" + encoded
        return "h_" + hashlib.sha256(key.encode("utf-8")).hexdigest()

    def _sidecar_path(self, bucket: str, key: str) -> Path:
        return self.root_dir / bucket / "objects" / (self._stem(key) + ".json")

    def _load(self) -> None:
        for bucket_dir in sorted(self.root_dir.iterdir()):
            if not (bucket_dir.is_dir() and BUCKET_NAME.match(bucket_dir.name)):
                continue
            self.create_bucket(bucket_dir.name)
            for leftover in (bucket_dir / ".tmp").glob("*"):
                leftover.unlink(missing_ok=True)  # half-written bodies from a crash
            objects = self._objects[bucket_dir.name]
            for sidecar in (bucket_dir / "objects").glob("*.json"):
                meta = ObjectMeta(**json.loads(sidecar.read_text(encoding="utf-8")))
                if self.object_path(bucket_dir.name, meta.key).exists():
                    objects[meta.key] = meta

    def _require_bucket(self, bucket: str) -> dict[str, ObjectMeta]:
        with self._lock:
            objects = self._objects.get(bucket)
        if objects is None:
            raise OssError(
                404, "NoSuchBucket", "The specified bucket does not exist.", {"BucketName": bucket}
            )
        return objects

    def _new_temp_path(self, bucket: str) -> Path:
        self._require_bucket(bucket)
        return self.root_dir / bucket / ".tmp" / secrets.token_hex(16)

    def _commit(
        self, bucket: str, key: str, tmp: Path, meta: ObjectMeta, forbid_overwrite: bool
    ) -> None:
        """Make a fully received temp file the object `key`, atomically with respect to readers."""
        sidecar_tmp = tmp.with_name(tmp.name + ".json")
        with self._lock:
            objects = self._require_bucket(bucket)
            if forbid_overwrite and key in objects:
                raise OssError(
                    409,
                    "FileAlreadyExists",
                    "The object you specified already exists and can not be overwritten.",
                )
            sidecar_tmp.write_text(json.dumps(asdict(meta)), encoding="utf-8")
            os.replace(tmp, self.object_path(bucket, key))
            os.replace(sidecar_tmp, self._sidecar_path(bucket, key))
            objects[key] = meta
            self._put_counts[(bucket, key)] = self._put_counts.get((bucket, key), 0) + 1

    def _open_object(self, bucket: str, key: str) -> tuple[ObjectMeta, BinaryIO] | None:
        with self._lock:
            meta = self._require_bucket(bucket).get(key)
            if meta is None:
                return None
            # Opened under the lock: an overwrite renames a new inode in, ours stays valid.
            return meta, open(self.object_path(bucket, key), "rb")

    def _delete(self, bucket: str, key: str) -> None:
        with self._lock:
            objects = self._require_bucket(bucket)
            if objects.pop(key, None) is not None:
                self._sidecar_path(bucket, key).unlink(missing_ok=True)
                self.object_path(bucket, key).unlink(missing_ok=True)

    def _sorted_objects(self, bucket: str) -> list[ObjectMeta]:
        with self._lock:
            objects = self._require_bucket(bucket)
            return [objects[k] for k in sorted(objects)]

    # ---- multipart storage ---------------------------------------------------------------------
    def _upload_dir(self, bucket: str, upload_id: str) -> Path:
        return self.root_dir / bucket / ".uploads" / upload_id

    def _part_path(self, bucket: str, upload_id: str, part_number: int) -> Path:
        return self._upload_dir(bucket, upload_id) / f"{part_number:05d}.part"

    def _create_upload(self, bucket: str, key: str, info: dict[str, Any]) -> str:
        upload_id = secrets.token_hex(16).upper()
        directory = self._upload_dir(bucket, upload_id)
        directory.mkdir(parents=True)
        (directory / "upload.json").write_text(json.dumps({"key": key, **info}), encoding="utf-8")
        return upload_id

    def _upload_info(self, bucket: str, upload_id: str) -> dict[str, Any]:
        path = self._upload_dir(bucket, upload_id) / "upload.json"
        info: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return info

    def _upload_exists(self, bucket: str, key: str, upload_id: str) -> bool:
        if not re.fullmatch(r"[0-9A-F]{32}", upload_id):
            return False
        with self._lock:
            try:
                return self._upload_info(bucket, upload_id)["key"] == key
            except FileNotFoundError:
                return False

    def _store_part(self, bucket: str, upload_id: str, tmp: Path, part: PartMeta) -> None:
        with self._lock:
            if not self._upload_dir(bucket, upload_id).is_dir():
                raise OssError(404, "NoSuchUpload", "The specified upload does not exist.")
            path = self._part_path(bucket, upload_id, part.part_number)
            os.replace(tmp, path)
            path.with_suffix(".json").write_text(json.dumps(asdict(part)), encoding="utf-8")

    def _parts(self, bucket: str, upload_id: str) -> list[PartMeta]:
        with self._lock:
            directory = self._upload_dir(bucket, upload_id)
            return [
                PartMeta(**json.loads(p.read_text(encoding="utf-8")))
                for p in sorted(directory.glob("*.json"))
                if p.name != "upload.json"
            ]

    def _remove_upload(self, bucket: str, upload_id: str) -> None:
        with self._lock:
            shutil.rmtree(self._upload_dir(bucket, upload_id), ignore_errors=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Local OSS emulator (path-style, signed).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--root", required=True, help="directory holding the buckets")
    parser.add_argument("--bucket", action="append", default=[], help="bucket to create")
    parser.add_argument("--access-key-id", default="LTAILOCAL" + secrets.token_hex(6).upper())
    parser.add_argument("--access-key-secret", default=secrets.token_urlsafe(24))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    store = CredentialStore()
    store.add_access_key(args.access_key_id, args.access_key_secret)
    emulator = OssEmulator(store, Path(args.root), host=args.host, port=args.port)
    for bucket in args.bucket:
        emulator.create_bucket(bucket)
    emulator.start()
    # Local throwaway credentials: printing them is how a developer points a client at us.
    print(f"endpoint={emulator.endpoint}", flush=True)
    print(f"access_key_id={args.access_key_id}", flush=True)
    print(f"access_key_secret={args.access_key_secret}", flush=True)
    print(f"buckets={','.join(args.bucket)}", flush=True)
    try:
        wait_for_interrupt()
    finally:
        emulator.stop()


if __name__ == "__main__":
    main()
