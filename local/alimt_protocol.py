"""The alimt wire vocabulary: the API's actions and version, the business codes (HTTP 200 with an
int `Code`) and gateway errors (HTTP 4xx/5xx JSON), the reply bodies the emulator sends, and the
old v2 RPC signature (`?Action=`, HMAC-SHA1) next to ACS3 (local.acs3)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

# The one table of business codes (from alimt-api.md): the collector's, so the emulator and the
# collector cannot disagree on a name.
from collector.business_codes import NAMES as BUSINESS_CODES
from local import acs3
from local.credentials import CredentialStore

__all__ = ["BUSINESS_CODES"]

API_VERSION = "2018-10-12"
ACTION_SUBMIT = "TranslateImageBatch"
ACTION_RESULT = "GetTranslateImageBatchResult"
ACTIONS = (ACTION_SUBMIT, ACTION_RESULT)
HOST_ID = "mt.cn-hangzhou.aliyuncs.com"

# Gateway error codes used for `http:<status>` steps when no code is given.
HTTP_ERROR_CODES: dict[int, tuple[str, str]] = {
    400: ("InvalidParameter", "The specified parameter is not valid."),
    403: ("Forbidden.RAM", "User not authorized to operate on the specified resource."),
    404: (
        "InvalidAction.NotFound",
        "Specified api is not found, please check your url and method.",
    ),
    429: ("Throttling.User", "Request was denied due to user flow control."),
    500: ("InternalError", "The request processing has failed due to some unknown error."),
    502: ("BadGateway", "The gateway received an invalid response from the backend."),
    503: ("ServiceUnavailable", "The request has failed due to a temporary failure of the server."),
    504: ("GatewayTimeout", "The backend did not answer in time."),
}

SENSITIVE_HEADERS = {"authorization", "x-acs-security-token"}


@dataclass
class Reply:
    """One answer: status, body and what the request log calls its outcome."""

    status: int
    body: bytes
    content_type: str = "application/json;charset=utf-8"
    extra_headers: dict[str, str] = field(default_factory=dict)
    outcome: str = "ok"


def json_reply(status: int, payload: dict[str, Any], outcome: str) -> Reply:
    return Reply(status, json.dumps(payload).encode(), outcome=outcome)


def ok(data: dict[str, Any], request_id: str, outcome: str = "ok") -> Reply:
    return json_reply(
        200, {"Code": 200, "Message": "OK", "RequestId": request_id, "Data": data}, outcome
    )


def business_error(code: int, request_id: str) -> Reply:
    message = BUSINESS_CODES.get(code, "System.Error")
    return json_reply(
        200, {"Code": code, "Message": message, "RequestId": request_id}, f"code:{code}"
    )


def gateway_error(status: int, code: str, message: str, request_id: str) -> Reply:
    payload = {
        "Code": code,
        "Message": message,
        "RequestId": request_id,
        "HostId": HOST_ID,
        "Recommend": f"https://api.aliyun.com/troubleshoot?q={code}&product=alimt",
    }
    return json_reply(status, payload, code)


def throttled(request_id: str, retry_after_ms: int | None = None) -> Reply:
    """429 Throttling.User, with `x-acs-retry-after` (ms) when given."""
    reply = gateway_error(429, *HTTP_ERROR_CODES[429], request_id)
    if retry_after_ms:
        reply.extra_headers["x-acs-retry-after"] = str(retry_after_ms)
    return reply


def lower_keys(headers: Any) -> set[str]:
    return {k.lower() for k in headers}


def verify_v2(credentials: CredentialStore, method: str, params: dict[str, str]) -> str:
    """Check a v2 RPC signature (HMAC-SHA1 over the sorted parameters); return the access key id
    or raise `acs3.GatewayError`."""
    access_key_id = params.get("AccessKeyId", "")
    signature = params.get("Signature", "")
    if not access_key_id or not signature:
        raise acs3.GatewayError(400, "MissingParameter", "AccessKeyId and Signature are mandatory.")
    secret = acs3.check_key(credentials, access_key_id, params.get("SecurityToken"))
    canonical = "&".join(
        f"{quote(k, safe='~')}={quote(v, safe='~')}"
        for k, v in sorted(params.items())
        if k != "Signature"
    )
    string_to_sign = f"{method}&%2F&{quote(canonical, safe='~')}"
    digest = hmac.new(f"{secret}&".encode(), string_to_sign.encode(), hashlib.sha1).digest()
    if not hmac.compare_digest(base64.b64encode(digest).decode(), signature):
        raise acs3.GatewayError(
            400, "SignatureDoesNotMatch", "Specified signature does not match our calculation."
        )
    return access_key_id
