"""The OSS wire vocabulary shared by the emulator's modules: the stored object and part records,
the error response (XML body, `x-oss-err` for HEAD), limits, and the handler's control-flow
exceptions."""

from __future__ import annotations

import email.utils
import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape as xml_escape

MIN_PART_SIZE = 100 * 1024  # OSS rejects smaller non-final parts at Complete (EntityTooSmall)
MAX_KEY_BYTES = 1023
MAX_PART_NUMBER = 10000
MAX_SMALL_BODY = 5 * 1024 * 1024  # XML request bodies (Complete) are read into memory
BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")
UNSIGNED_CRC_MASK = (1 << 64) - 1

# Error codes whose EC (the documented OSS error-center id) we know; others are sent without one.
KNOWN_EC = {
    "SecurityTokenExpired": "0002-00000007",
    "InvalidSecurityToken": "0002-00000006",
}


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


class ClientGone(Exception):
    """The client disconnected (or stalled past the socket timeout) before the body was complete."""


class ResetNow(Exception):
    """An injected fault asks for the connection to be reset right now."""


class Handled(Exception):
    """Control flow only: the response was already sent (by a fault)."""


@dataclass
class Received:
    path: Path
    size: int
    md5: Any
    crc: int


# ---- helpers -----------------------------------------------------------------------------------
def iso8601(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(ts))


def http_date(ts: float) -> str:
    return email.utils.formatdate(ts, usegmt=True)


def new_request_id() -> str:
    return secrets.token_hex(12).upper()


def error_xml(err: OssError, request_id: str, host: str) -> bytes:
    parts = [
        f"<Code>{xml_escape(err.code)}</Code>",
        f"<Message>{xml_escape(err.message)}</Message>",
        f"<RequestId>{request_id}</RequestId>",
        f"<HostId>{xml_escape(host)}</HostId>",
    ]
    parts += [f"<{k}>{xml_escape(v)}</{k}>" for k, v in err.extra.items()]
    if err.code in KNOWN_EC:
        parts.append(f"<EC>{KNOWN_EC[err.code]}</EC>")
    body = '<?xml version="1.0" encoding="UTF-8"?>\n<Error>' + "".join(parts) + "</Error>\n"
    return body.encode("utf-8")
