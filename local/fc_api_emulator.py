"""A loopback emulator of the Function Compute 3.0 API's InvokeFunction, for the fan-out dispatcher.

It accepts what the official `alibabacloud-fc20230330` SDK sends (checked by capture):
`POST /2023-03-30/functions/<name>/invocations[?qualifier=...]`, ROA style, ACS3-HMAC-SHA256
signature with `x-acs-action: InvokeFunction` and `x-acs-version: 2023-03-30`, the event as the raw
body (`application/octet-stream`), and `x-fc-invocation-type: Async`. Signatures are checked against
the shared `CredentialStore` (local/acs3.py), like the alimt emulator.

An accepted async invocation is answered 202 with `x-fc-request-id` and an empty body, and handed to
the function registered under that name (`register_function(name, on_async_invoke)`); LocalCloud
runs it in an FC-like instance of its own. Synchronous invocation is not emulated (400). Errors are
FC 3.0's JSON bodies (`Code`, `Message`, `RequestId`), which the SDK raises as ClientException or
ServerException. Faults (`inject`) answer the next requests with an HTTP error or a reset.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from local import acs3
from local.httpserver import ApiRequestHandler, RequestRecord

log = logging.getLogger("local.fc")

API_VERSION = "2023-03-30"
ACTION_INVOKE = "InvokeFunction"
_INVOKE_PATH = re.compile(r"^/2023-03-30/functions/(?P<name>[^/]+)/invocations$")
SENSITIVE_HEADERS = {"authorization", "x-acs-security-token"}

# Status and code used for an injected `http:<status>` fault.
HTTP_FAULTS: dict[int, tuple[str, str]] = {
    400: ("InvalidArgument", "The request is not valid."),
    403: ("AccessDenied", "The role may not call fc:InvokeFunction on this function."),
    404: ("FunctionNotFound", "function not found"),
    429: ("ResourceThrottled", "Reserve resource exhausted."),
    500: ("InternalServerError", "An internal error occurred."),
    503: ("ServiceUnavailable", "The service is temporarily unavailable."),
}

AsyncHandler = Callable[[bytes], Any]


@dataclass(frozen=True)
class AsyncInvocation:
    """One accepted asynchronous invocation, as FC queued it."""

    request_id: str
    function_name: str
    qualifier: str | None
    payload: bytes
    access_key_id: str


@dataclass
class _Fault:
    kind: str  # "http" | "reset"
    status: int = 0
    left: int = 1


class FcApiRequestHandler(ApiRequestHandler):
    """FC API requests (InvokeFunction)."""


class FcApiEmulator(acs3.GatewayEmulator):
    """FC 3.0 InvokeFunction (async) on loopback. See the module docstring."""

    name = "fc"
    handler_class = FcApiRequestHandler

    def _setup(self) -> None:
        self._lock = threading.Lock()
        self._functions: dict[str, AsyncHandler] = {}
        self._faults: list[_Fault] = []
        self.invocations: list[AsyncInvocation] = []

    def __enter__(self) -> FcApiEmulator:
        self.start()
        return self

    # ---- scenario control ----------------------------------------------------------------------
    def register_function(self, name: str, on_async_invoke: AsyncHandler) -> None:
        """Deploy `name`: its accepted async invocations call `on_async_invoke(payload)`, which
        must return at once (FC only queues the event)."""
        with self._lock:
            self._functions[name] = on_async_invoke

    def inject(self, fault: str, count: int = 1) -> None:
        """Answer the next `count` invocations with `http:<status>` (FC's JSON error) or `reset`."""
        kind, _, arg = fault.partition(":")
        if kind == "http":
            parsed = _Fault("http", int(arg), count)
        elif kind == "reset" and not arg:
            parsed = _Fault("reset", 0, count)
        else:
            raise ValueError(f"unknown FC fault {fault!r} (use http:<status> or reset)")
        with self._lock:
            self._faults.append(parsed)

    def invocations_of(self, function_name: str) -> list[AsyncInvocation]:
        with self._lock:
            return [i for i in self.invocations if i.function_name == function_name]

    # ---- request handling ----------------------------------------------------------------------
    def handle(self, handler: FcApiRequestHandler) -> None:
        request_id = str(uuid.uuid4())
        info: dict[str, Any] = {"request_id": request_id}
        request = handler.read_request()
        if request is None:
            return
        raw_path, query, body = request.path, request.query, request.body
        headers = acs3.header_lists(handler.headers.items())
        info["action"] = acs3.first(headers, "x-acs-action")
        try:
            match = _INVOKE_PATH.match(raw_path)
            if handler.command != "POST" or match is None:
                raise acs3.GatewayError(
                    404, "PathNotSupported", f"{handler.command} {raw_path} is not an API"
                )
            function_name = unquote(match["name"])
            info["function"] = function_name
            if acs3.first(headers, "x-acs-version") != API_VERSION:
                raise acs3.GatewayError(
                    400, "InvalidArgument", f"API version must be {API_VERSION}"
                )
            access_key_id = acs3.authenticate(
                self.credentials, self._nonces, handler.command, request, headers
            )
            fault = self._next_fault()
            if fault is not None and fault.kind == "reset":
                info["outcome"] = "reset"
                self._record(handler, 0, info)
                handler.reset_connection()
                return
            if fault is not None:
                code, message = HTTP_FAULTS.get(fault.status, ("InternalServerError", "error"))
                raise acs3.GatewayError(fault.status, code, message)
            invocation_type = acs3.first(headers, "x-fc-invocation-type") or "Sync"
            if invocation_type.lower() != "async":
                raise acs3.GatewayError(
                    400, "InvalidArgument", "only asynchronous invocation is emulated locally"
                )
            with self._lock:
                on_async_invoke = self._functions.get(function_name)
            if on_async_invoke is None:
                raise acs3.GatewayError(
                    404, "FunctionNotFound", f"function '{function_name}' not found"
                )
            invocation = AsyncInvocation(
                request_id, function_name, dict(query).get("qualifier"), body, access_key_id
            )
            with self._lock:
                self.invocations.append(invocation)
            on_async_invoke(body)
        except acs3.GatewayError as err:
            info["outcome"] = err.code
            payload = {"Code": err.code, "Message": err.message, "RequestId": request_id}
            self._send(handler, err.status, json.dumps(payload).encode(), request_id, info)
            return
        info["outcome"] = "accepted"
        self._send(handler, 202, b"", request_id, info)

    def _next_fault(self) -> _Fault | None:
        with self._lock:
            if not self._faults:
                return None
            fault = self._faults[0]
            fault.left -= 1
            if fault.left <= 0:
                self._faults.pop(0)
            return fault

    def _send(
        self,
        handler: FcApiRequestHandler,
        status: int,
        body: bytes,
        request_id: str,
        info: dict[str, Any],
    ) -> None:
        headers = {"x-fc-request-id": request_id}
        if body:
            headers["Content-Type"] = "application/json"
        self._record(handler, status, info)  # first: a client that got its answer finds it
        handler.send_bytes(status, body, headers)

    def _record(self, handler: FcApiRequestHandler, status: int, info: dict[str, Any]) -> None:
        headers = {
            k.lower(): v for k, v in handler.headers.items() if k.lower() not in SENSITIVE_HEADERS
        }
        path = handler.path.partition("?")[0]
        self.record(RequestRecord(handler.command, path, status, headers, info))
