"""Fan-out through the platform: each sweep shard event becomes an asynchronous invocation of the
function (FC 3.0 InvokeFunction, `x-fc-invocation-type: Async`), so shards run in separate
instances that FC schedules, retries (asyncInvokeConfig) and caps (reservedConcurrency).

The official SDK (`alibabacloud-fc20230330`) is imported on the first dispatch, not at cold start:
most invocations never fan out. Credentials are the invocation's STS keys (FunctionCredentials),
so the function's role needs `fc:InvokeFunction` on the target function.
"""

from __future__ import annotations

import json
from typing import Any

from collector.alimt_gateway import split_endpoint
from collector.credentials import FunctionCredentials
from collector.errors import ApiCode, CollectorError, Source
from collector.fanout import DispatchError
from collector.tea_errors import classify_tea_error

INVOCATION_TYPE_ASYNC = "Async"
# An async invocation is only queued by FC, so the answer is quick; a slow API must not eat the
# sweep's budget (K-1 calls in a row).
MAX_TIMEOUT_SECONDS = 5.0
_THROTTLING_CODES = ("Throttling", "ResourceThrottled", "ResourceExhausted", "TooManyRequests")


def fc_endpoint(configured: str, account_id: str | None, region: str) -> str:
    """FC_ENDPOINT if set, else the account's regional endpoint (the SDK's `fcv3.<region>` API
    endpoint when the account is unknown)."""
    if configured:
        return configured
    if account_id:
        return f"https://{account_id}.{region}.fc.aliyuncs.com"
    return f"https://fcv3.{region}.aliyuncs.com"


class FcDispatcher:
    """A `SweepDispatcher` sending each event as an async invocation of `function_name`."""

    def __init__(
        self,
        *,
        endpoint: str,
        function_name: str,
        credentials: FunctionCredentials,
        region: str,
        timeout_seconds: float = MAX_TIMEOUT_SECONDS,
    ) -> None:
        self.endpoint = endpoint
        self.function_name = function_name
        self.region = region
        self._credentials = credentials
        self._timeout_ms = int(min(timeout_seconds, MAX_TIMEOUT_SECONDS) * 1000)

    def dispatch(self, events: list[dict[str, Any]]) -> None:
        if not events:
            return
        from alibabacloud_fc20230330.models import InvokeFunctionHeaders, InvokeFunctionRequest

        client, runtime = self._client()
        headers = InvokeFunctionHeaders(x_fc_invocation_type=INVOCATION_TYPE_ASYNC)
        for sent, event in enumerate(events):
            body = json.dumps(event, separators=(",", ":")).encode("utf-8")
            try:
                response = client.invoke_function_with_options(
                    self.function_name, InvokeFunctionRequest(body=body), headers, runtime
                )
                status = getattr(response, "status_code", None)
                if status not in (200, 202):
                    raise CollectorError(Source.FC, ApiCode.BAD_RESPONSE, f"HTTP {status}")
            except CollectorError as error:
                raise _partial(error, sent) from None
            except Exception as exc:
                raise _partial(map_fc_error(exc), sent) from None

    def _client(self) -> tuple[Any, Any]:
        from alibabacloud_fc20230330.client import Client
        from alibabacloud_tea_openapi.models import Config
        from darabonba.runtime import RuntimeOptions

        host, protocol = split_endpoint(self.endpoint)
        connect_ms = min(self._timeout_ms, 3000)
        client = Client(
            Config(
                access_key_id=self._credentials.access_key_id,
                access_key_secret=self._credentials.access_key_secret,
                security_token=self._credentials.security_token,
                endpoint=host,
                protocol=protocol,
                region_id=self.region,
                connect_timeout=connect_ms,
                read_timeout=self._timeout_ms,
            )
        )
        # No SDK retries: a failed dispatch leaves the shard to the next tick (error_policy).
        runtime = RuntimeOptions(
            read_timeout=self._timeout_ms, connect_timeout=connect_ms, autoretry=False
        )
        return client, runtime


def _partial(error: CollectorError, sent: int) -> CollectorError:
    return DispatchError(error, sent) if sent else error


def map_fc_error(exc: BaseException) -> CollectorError:
    """Turn what the Tea/darabonba stack raised for InvokeFunction into a classified error."""

    def not_found(status: int, code: str) -> str | None:
        if code == "FunctionNotFound" or (status == 404 and code.endswith("NotFound")):
            return "FunctionNotFound"
        return None

    return classify_tea_error(
        exc,
        Source.FC,
        throttling_prefixes=_THROTTLING_CODES,
        forbidden_prefixes=("Forbidden", "AccessDenied", "NoPermission"),
        client_code=not_found,
    )
