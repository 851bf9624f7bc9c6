"""Adapter for the alimt result API: the official SDK in, domain `BatchResult` or `CollectorError` out.

The SDK is imported when a gateway is built, not when this module is imported, so paths that never
call the API (a refused event) do not pay for it at cold start.
"""

from __future__ import annotations

import re
from typing import Any

from collector.business_codes import business_code, code_text, describe
from collector.credentials import FunctionCredentials
from collector.errors import ApiCode, CollectorError, Source
from collector.models import BatchResult, ImageResult, TaskStatus
from collector.redaction import redact
from collector.tea_errors import classify_tea_error

ALIMT_REGION = "cn-hangzhou"


def split_endpoint(endpoint: str) -> tuple[str, str]:
    """`http://127.0.0.1:8080` -> ('127.0.0.1:8080', 'http'); a bare host means https."""
    if endpoint.startswith("http://"):
        return endpoint[len("http://") :], "http"
    if endpoint.startswith("https://"):
        return endpoint[len("https://") :], "https"
    return endpoint, "https"


def normalise_code(code: Any) -> str:
    """The API sends Code as int or str (the SDK passes it through unchanged)."""
    return code_text(code)


def build_alimt_client(
    endpoint: str, credentials: FunctionCredentials, timeout_seconds: float
) -> tuple[Any, Any]:
    """The official SDK client and the runtime options every call uses (no SDK retries: our own
    retries are decided by error_policy). Shared with the operator tools."""
    from alibabacloud_alimt20181012.client import Client
    from alibabacloud_tea_openapi.models import Config
    from alibabacloud_tea_util.models import RuntimeOptions

    host, protocol = split_endpoint(endpoint)
    timeout_ms = int(timeout_seconds * 1000)
    connect_ms = min(timeout_ms, 5000)
    client = Client(
        Config(
            access_key_id=credentials.access_key_id,
            access_key_secret=credentials.access_key_secret,
            security_token=credentials.security_token,
            endpoint=host,
            protocol=protocol,
            region_id=ALIMT_REGION,
            connect_timeout=connect_ms,
            read_timeout=timeout_ms,
        )
    )
    runtime = RuntimeOptions(read_timeout=timeout_ms, connect_timeout=connect_ms, autoretry=False)
    return client, runtime


class AlimtGateway:
    def __init__(
        self, endpoint: str, credentials: FunctionCredentials, timeout_seconds: float = 10.0
    ) -> None:
        self._client, self._runtime = build_alimt_client(endpoint, credentials, timeout_seconds)

    def get_result(self, task_id: str) -> BatchResult:
        from alibabacloud_alimt20181012.models import GetTranslateImageBatchResultRequest
        from alibabacloud_openapi_util.client import Client as OpenApiUtilClient
        from alibabacloud_tea_openapi.models import OpenApiRequest, Params

        request = GetTranslateImageBatchResultRequest(task_id=task_id)
        # The same call the SDK's get_translate_image_batch_result_with_options makes, minus its
        # last step: its response models take any JSON value without a type check (a number where
        # a list belongs raises AttributeError deep inside them). We take the JSON it parsed and
        # validate every field ourselves, into typed values or a classified error.
        params = Params(**GET_RESULT_CALL)
        body = OpenApiUtilClient.parse_to_map({"TaskId": request.task_id})
        try:
            response = self._client.call_api(params, OpenApiRequest(body=body), self._runtime)
        except Exception as exc:
            raise map_sdk_error(exc) from None
        if not isinstance(response, dict):
            raise CollectorError(
                Source.ALIMT, ApiCode.BAD_RESPONSE, "the SDK returned no response map"
            )
        return parse_result_body(response.get("body"))


# The API call GetTranslateImageBatchResult is (alimt-api.md), as the SDK's Params take it.
GET_RESULT_CALL: dict[str, str] = {
    "action": "GetTranslateImageBatchResult",
    "version": "2018-10-12",
    "protocol": "HTTPS",
    "pathname": "/",
    "method": "POST",
    "auth_type": "AK",
    "style": "RPC",
    "req_body_type": "formData",
    "body_type": "json",
}


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    return {bool: "a boolean", int: "a number", float: "a number", str: "a string"}.get(
        type(value), "a list" if isinstance(value, list) else "an object"
    )


def _bad_response(what: str) -> CollectorError:
    return CollectorError(Source.ALIMT, ApiCode.BAD_RESPONSE, what)


def parse_result_body(body: Any) -> BatchResult:
    """The response JSON, validated: a business code -> `alimt:<number>`; an envelope of the wrong
    shape -> `alimt:BadResponse`; a malformed entry -> a failed `ImageResult` coded `BadEntry`."""
    if body is None:
        raise _bad_response("empty response body")
    if not isinstance(body, dict):
        raise _bad_response(f"response body is {_kind(body)}, expected an object")
    _raise_for_code(body.get("Code"), body.get("Message"))
    data = _data_of(body)
    raw_status = _status_of(data)
    entries = data.get("Result")
    if entries is not None and not isinstance(entries, list):
        raise _bad_response(f"response Data.Result is {_kind(entries)}, expected a list")
    request_id = body.get("RequestId")
    images = tuple(parse_entry(index, entry) for index, entry in enumerate(entries or []))
    return BatchResult(
        status=TaskStatus.parse(raw_status),
        raw_status=raw_status,
        request_id=_clean(request_id)[:100] if isinstance(request_id, str) else None,
        images=images,
    )


def _raise_for_code(raw_code: Any, message: Any) -> None:
    """An HTTP 200 body that carries an error: a business code first, then throttling, then any
    other non-200 code."""
    number = business_code(raw_code, message)
    if number is not None:
        said = _clean(message) if isinstance(message, str) else None
        raise CollectorError(Source.ALIMT, str(number), redact(describe(number, said))[:300])
    _raise_for_gateway_code(raw_code, message)


def _raise_for_gateway_code(raw_code: Any, message: Any) -> None:
    if raw_code is not None and not isinstance(raw_code, (int, float, str)):
        raise _bad_response(f"response Code is {_kind(raw_code)}")
    code = code_text(raw_code)
    if code.startswith("Throttling"):  # throttling keeps its row, whatever the status
        raise CollectorError(Source.ALIMT, ApiCode.THROTTLING, f"HTTP 200 {code}")
    if code and code != "200":
        safe = code if _SAFE_CODE.fullmatch(code) else ApiCode.BAD_RESPONSE
        said = message if isinstance(message, str) and message else code
        raise CollectorError(Source.ALIMT, safe, redact(_clean(said))[:300])


def _data_of(body: dict[str, Any]) -> dict[str, Any]:
    data = body.get("Data")
    if data is None:
        raise _bad_response("response has no Data")
    if not isinstance(data, dict):
        raise _bad_response(f"response Data is {_kind(data)}, expected an object")
    return data


def _status_of(data: dict[str, Any]) -> str:
    raw_status = data.get("Status")
    if raw_status is not None and not isinstance(raw_status, str):
        raise _bad_response(f"response Data.Status is {_kind(raw_status)}, expected a string")
    return _clean(raw_status)[:100] if raw_status else ""


_SAFE_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_URL_FIELDS = ("SourceImageUrl", "FinalImageUrl", "InPaintingUrl", "TemplateJson")


class _Malformed(Exception):
    """One field of a result entry is wrong: the entry fails, shown by `source` if known."""

    def __init__(self, problem: str, source: str | None) -> None:
        super().__init__(problem)
        self.problem = problem
        self.source = source


def parse_entry(index: int, entry: Any) -> ImageResult:
    """One `Data.Result[]` entry. Whatever is wrong with it fails this image only."""
    if not isinstance(entry, dict):
        return _bad_entry(index, None, f"result entry is {_kind(entry)}, expected an object")
    try:
        texts = _entry_texts(entry)
        source = texts["SourceImageUrl"]
        code = _entry_code(entry.get("Code"), source)
        message = _entry_message(entry.get("Message"), source)
        success = _entry_success(entry.get("Success"), source)
    except _Malformed as malformed:
        return _bad_entry(index, malformed.source, malformed.problem)
    return ImageResult(
        index=index,
        source_image_url=source,
        final_image_url=texts["FinalImageUrl"],
        in_painting_url=texts["InPaintingUrl"],
        template_json=texts["TemplateJson"],
        code=code if isinstance(code, (int, str)) else code_text(code),
        message=message,
        success=_entry_succeeded(success, code),
    )


def _entry_texts(entry: dict[str, Any]) -> dict[str, str | None]:
    source = entry.get("SourceImageUrl")
    shown = source if isinstance(source, str) and _is_unicode(source) else None
    texts: dict[str, str | None] = {}
    for name in _URL_FIELDS:
        value = entry.get(name)
        if value is not None and not isinstance(value, str):
            raise _Malformed(f"{name} is {_kind(value)}, expected a string", shown)
        if value and not _is_unicode(value):  # JSON may carry lone surrogates ("\ud800")
            raise _Malformed(f"{name} is not valid Unicode", shown)
        texts[name] = value or None
    return texts


def _entry_code(code: Any, source: str | None) -> Any:
    if code is not None and (isinstance(code, bool) or not isinstance(code, (int, float, str))):
        raise _Malformed(f"Code is {_kind(code)}", source)
    return _clean(code)[:200] if isinstance(code, str) else code


def _entry_message(message: Any, source: str | None) -> str | None:
    if isinstance(message, (int, float)) and not isinstance(message, bool):
        message = str(message)
    if message is not None and not isinstance(message, str):
        raise _Malformed(f"Message is {_kind(message)}", source)
    return _clean(message)[:1000] if message is not None else None


def _entry_success(success: Any, source: str | None) -> Any:
    if isinstance(success, str) and success.lower() not in ("true", "false"):
        raise _Malformed("Success is neither true nor false", source)
    if success is not None and not isinstance(success, (bool, str)):
        raise _Malformed(f"Success is {_kind(success)}", source)
    return success


def _clean(text: str) -> str:
    """Text safe to store and log: lone surrogates (valid in JSON escapes) are escaped."""
    return text if _is_unicode(text) else text.encode("utf-8", "backslashreplace").decode("utf-8")


def _is_unicode(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _bad_entry(index: int, source: str | None, problem: str) -> ImageResult:
    return ImageResult(
        index=index,
        source_image_url=source,
        final_image_url=None,
        in_painting_url=None,
        template_json=None,
        code="BadEntry",
        message=f"malformed result entry {index}: {problem}",
        success=False,
    )


def _entry_succeeded(success: Any, code: Any) -> bool:
    text = code_text(code)
    if success is False or (isinstance(success, str) and success.lower() == "false"):
        return False
    return not (text and text != "200")


def map_sdk_error(exc: BaseException) -> CollectorError:
    """Turn whatever the Tea/darabonba stack raised into a classified `CollectorError`. A known
    business code decides first, whatever the HTTP status (alimt-api.md: the code, not the status);
    then throttling; then the status."""
    data = getattr(exc, "data", None)
    if isinstance(data, dict):
        raw_code = data.get("Code", data.get("code"))
        message = data.get("Message", data.get("message"))
    else:
        raw_code, message = getattr(exc, "code", None), None
    number = business_code(raw_code, message)
    if number is not None:
        status = getattr(exc, "status_code", None)
        said = _clean(message) if isinstance(message, str) else None
        detail = describe(number, said) + (f" (HTTP {status})" if status else "")
        return CollectorError(Source.ALIMT, str(number), redact(detail)[:300])
    return classify_tea_error(
        exc,
        Source.ALIMT,
        # an undocumented numeric code sent with an HTTP 4xx keeps its number (`alimt:*`: retried)
        client_code=lambda status, code: code if code.isascii() and code.isdigit() else None,
    )
