"""Adapter for the alimt result API: the official SDK in, domain `BatchResult` or `CollectorError` out.

The SDK is imported when a gateway is built, not when this module is imported, so paths that never
call the API (a refused event) do not pay for it at cold start.
"""

from __future__ import annotations

from typing import Any

from collector.credentials import FunctionCredentials
from collector.errors import CollectorError, Source
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
    if code is None:
        return ""
    if isinstance(code, float) and code.is_integer():
        code = int(code)
    return str(code).strip()


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

        request = GetTranslateImageBatchResultRequest(task_id=task_id)
        try:
            response = self._client.get_translate_image_batch_result_with_options(
                request, self._runtime
            )
        except Exception as exc:
            raise map_sdk_error(exc) from None
        return parse_result_body(response.body)


def parse_result_body(body: Any) -> BatchResult:
    if body is None:
        raise CollectorError(Source.ALIMT, "BadResponse", "empty response body")
    code = normalise_code(body.code)
    if code and code != "200":
        raise CollectorError(Source.ALIMT, code, redact(str(body.message or "")))
    data = body.data
    if data is None:
        raise CollectorError(Source.ALIMT, "BadResponse", "response has no Data")
    raw_status = str(data.status or "")
    status = TaskStatus.parse(raw_status)
    images: list[ImageResult] = []
    for index, entry in enumerate(data.result or []):
        images.append(
            ImageResult(
                index=index,
                source_image_url=entry.source_image_url or None,
                final_image_url=entry.final_image_url or None,
                in_painting_url=entry.in_painting_url or None,
                template_json=entry.template_json or None,
                code=entry.code,
                message=entry.message,
                success=_entry_succeeded(entry.success, entry.code),
            )
        )
    return BatchResult(
        status=status, raw_status=raw_status, request_id=body.request_id, images=tuple(images)
    )


def _entry_succeeded(success: Any, code: Any) -> bool:
    code_text = normalise_code(code)
    if success is False or (isinstance(success, str) and success.lower() == "false"):
        return False
    return not (code_text and code_text != "200")


def map_sdk_error(exc: BaseException) -> CollectorError:
    """Turn whatever the Tea/darabonba stack raised into a classified `CollectorError`."""
    return classify_tea_error(
        exc,
        Source.ALIMT,
        # a business code sent with an HTTP error status keeps its number
        client_code=lambda status, code: code if code.isdigit() else None,
    )
