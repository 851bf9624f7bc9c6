"""A loopback emulator of the alimt (Machine Translation, 2018-10-12) image batch API.

It speaks the wire protocol the real `alibabacloud_alimt20181012` SDK uses (ACS3-HMAC-SHA256,
action and version in headers, form body; the old v2 RPC style with `?Action=` and HMAC-SHA1 is
accepted too), checks signatures against a `CredentialStore`, and answers `TranslateImageBatch` and
`GetTranslateImageBatchResult` like the service: business errors as HTTP 200 with an int `Code`,
gateway errors as HTTP 4xx/5xx JSON bodies, `invalid` for unknown or expired tasks.

Faults are injected here, never in the SDK: per-task and global scripts of steps (throttling,
business codes, 5xx, non-JSON bodies, any body with any status (`reply:`), malformed `Data` or
result entries (`data:`, `result:`, `mangle:`), latency before any of these, resets, hangs, odd
statuses), a QPS quota, failing
images, failed tasks and result expiry driven by the shared `Clock`.
"""

from __future__ import annotations

import argparse
import base64
import collections
import hashlib
import hmac
import json
import logging
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any, Protocol
from urllib.parse import parse_qsl, quote

from local import acs3
from local.clock import Clock
from local.credentials import CredentialStore
from local.httpserver import (
    Emulator,
    EmulatorRequestHandler,
    NetworkShape,
    RequestRecord,
    wait_for_interrupt,
)

log = logging.getLogger("local.alimt")

API_VERSION = "2018-10-12"
ACTION_SUBMIT = "TranslateImageBatch"
ACTION_RESULT = "GetTranslateImageBatchResult"
ACTIONS = (ACTION_SUBMIT, ACTION_RESULT)
HOST_ID = "mt.cn-hangzhou.aliyuncs.com"

RESULT_RETENTION_SECONDS = 3600.0  # results are deleted 1 hour after the task finishes
CUSTOM_TASK_ID_WINDOW_SECONDS = 180.0  # CustomTaskId de-duplication window
MAX_IMAGES_PER_BATCH = 20

# Business codes (HTTP 200, int Code) and their names, from alimt-api.md.
BUSINESS_CODES: dict[int, str] = {
    101: "System.RequestTimeOut",
    102: "System.Error",
    103: "System.UrlDecodingError",
    104: "System.ParameterError",
    105: "System.LanguageNotSupported",
    106: "System.LanguageDetectError",
    107: "System.TranslateError",
    108: "System.StringTooLong",
    110: "System.AccountNotActivated",
    111: "System.SubServiceFailed",
    112: "System.TranslateServiceCallFailed",
    113: "System.AccountNotActivatedOrInArrears",
}

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


class ImageHostLike(Protocol):
    """What the emulator needs from `local.image_host.ImageHost` (kept structural, no import)."""

    def add_image(
        self, name: str, *, size_bytes: int, fmt: str = "png", ttl_seconds: float = 3600
    ) -> str: ...


# ---- fault steps -------------------------------------------------------------------------------

STEP_KINDS_WITHOUT_ARG = {"ok", "throttle", "notjson", "reset", "empty-result", "missing-urls"}
STEP_KINDS_WITH_ARG = {
    "code",
    "reply",  # `reply:<status>:<json>`: exactly that body with that status (any error form)
    "data",  # `data:<json>`: HTTP 200, Code 200, and that JSON value as `Data`
    "result",  # `result:<json>`: a finished task whose `Result` is that JSON value
    "mangle",  # `mangle:<index>:<json object>`: the real result, entry <index> with fields replaced
    "throttle-retry-after",
    "http",
    "html",
    "latency",
    "hang",
    "status",
}


@dataclass(frozen=True)
class FaultStep:
    """One scripted answer. `arg` is an int (code, status, ms), a float (seconds) or a str."""

    kind: str
    arg: int | float | str | None = None
    extra: str | None = None  # `http:<status>:<Code>` gateway code override

    @classmethod
    def parse(cls, text: str) -> FaultStep:
        """Parse the CLI vocabulary, e.g. `code:102`, `throttle-retry-after:1500`, `hang:3`."""
        kind, _, rest = text.strip().partition(":")
        kind = kind.strip().lower()
        if kind in STEP_KINDS_WITHOUT_ARG:
            if rest:
                raise ValueError(f"step {kind!r} takes no argument: {text!r}")
            return cls(kind)
        if kind not in STEP_KINDS_WITH_ARG:
            raise ValueError(f"unknown fault step {text!r}")
        if not rest:
            raise ValueError(f"step {kind!r} needs an argument: {text!r}")
        if kind == "latency":
            # `latency:<s>` delays a normal answer; `latency:<s>:<step>` delays that step's answer
            seconds, _, then = rest.partition(":")
            if then:
                FaultStep.parse(then)  # refuse a bad inner step now, not mid-test
            return cls(kind, float(seconds), then or None)
        if kind == "hang":
            return cls(kind, float(rest))
        if kind == "reply":
            status, _, payload = rest.partition(":")
            json.loads(payload)
            return cls(kind, int(status), payload)
        if kind in ("data", "result"):
            json.loads(rest)
            return cls(kind, rest)
        if kind == "mangle":
            index, _, payload = rest.partition(":")
            if not isinstance(json.loads(payload), dict):
                raise ValueError(f"mangle needs a JSON object of fields: {text!r}")
            return cls(kind, int(index), payload)
        if kind == "status":
            return cls(kind, rest)
        if kind == "http":
            status, _, code = rest.partition(":")
            return cls(kind, int(status), code or None)
        return cls(kind, int(rest))

    def __str__(self) -> str:
        if self.arg is None:
            return self.kind
        return f"{self.kind}:{self.arg}" + (f":{self.extra}" if self.extra else "")


def _as_step(step: FaultStep | str) -> FaultStep:
    return step if isinstance(step, FaultStep) else FaultStep.parse(step)


# ---- tasks -------------------------------------------------------------------------------------


@dataclass
class TaskOptions:
    """How a task behaves; the emulator's defaults apply to tasks created through the API."""

    polls_until_finished: int = 0  # result polls answered created/running before it finishes
    seconds_until_finished: float = 0.0  # clock seconds after creation before it finishes
    need_editor_data: bool = False
    image_size: int = 20_000
    fmt: str = "png"
    url_ttl_seconds: float = RESULT_RETENTION_SECONDS
    failing_images: dict[int, tuple[int, str]] = field(default_factory=dict)
    fail_task: bool = False


@dataclass
class ImageResult:
    source_url: str
    final_url: str | None = None
    inpainting_url: str | None = None
    template_json: str | None = None
    code: int = 200
    message: str = "OK"

    @property
    def success(self) -> bool:
        return self.code == 200

    def as_json(self, *, with_final_url: bool = True) -> dict[str, Any]:
        entry: dict[str, Any] = {"SourceImageUrl": self.source_url}
        if self.success:
            if with_final_url and self.final_url:
                entry["FinalImageUrl"] = self.final_url
            if self.inpainting_url:
                entry["InPaintingUrl"] = self.inpainting_url
            if self.template_json is not None:
                entry["TemplateJson"] = self.template_json
        entry.update({"Code": self.code, "Message": self.message, "Success": self.success})
        return entry


@dataclass
class Task:
    task_id: str
    image_urls: list[str]
    created_at: float
    options: TaskOptions
    source_language: str = "zh"
    target_language: str = "en"
    translate_field: str = "general"
    polls: int = 0  # result polls answered with the task's own state
    finished_at: float | None = None
    expired: bool = False
    results: list[ImageResult] | None = None  # generated lazily when the task finishes

    def finish_time(self, now: float) -> float | None:
        """When the task finished (clock time), or None if it is still created/running."""
        if self.finished_at is not None:
            return self.finished_at
        due = self.created_at + self.options.seconds_until_finished
        if self.options.polls_until_finished <= 0:
            # Purely time-driven: finished whether or not anybody polled, so expiry is exact.
            return due if now >= due else None
        return None


# ---- the emulator ------------------------------------------------------------------------------


class AlimtRequestHandler(EmulatorRequestHandler):
    def do_POST(self) -> None:
        self.emulator.handle(self)

    def do_GET(self) -> None:  # v2 RPC style may use GET with everything in the query
        self.emulator.handle(self)


@dataclass
class _Reply:
    status: int
    body: bytes
    content_type: str = "application/json;charset=utf-8"
    extra_headers: dict[str, str] = field(default_factory=dict)
    outcome: str = "ok"


class AlimtEmulator(Emulator):
    """alimt image batch translation on loopback. See the module docstring."""

    name = "alimt"
    handler_class = AlimtRequestHandler

    def __init__(
        self,
        credentials: CredentialStore,
        image_host: ImageHostLike | None = None,
        clock: Clock | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        super().__init__(host=host, port=port)
        self.credentials = credentials
        self.image_host = image_host
        self.clock = clock or credentials.clock
        self.defaults = TaskOptions()
        self.network = NetworkShape()  # first-byte delay for benchmarks
        self._lock = threading.RLock()
        self._tasks: dict[str, Task] = {}
        self._custom_ids: dict[str, tuple[str, float]] = {}
        self._nonces = acs3.NonceWindow(self.clock)
        self._task_scripts: dict[str, collections.deque[FaultStep]] = {}
        self._global_script: collections.deque[FaultStep] = collections.deque()
        self._global_fault: FaultStep | None = None
        self._global_fault_left: int | None = None
        self._qps_quota: float | None = None
        self._qps_retry_after_ms: int | None = None
        self._qps_window: collections.deque[float] = collections.deque()
        self.qps_served = 0  # result polls admitted while a quota was set
        self.qps_throttled = 0  # result polls refused by the quota

    def __enter__(self) -> AlimtEmulator:  # narrows the base class's return type for callers
        self.start()
        return self

    # ---- scenario control ----------------------------------------------------------------------
    def set_defaults(self, **options: Any) -> None:
        """Change the TaskOptions of tasks created through the API (e.g. polls_until_finished)."""
        with self._lock:
            self.defaults = replace(self.defaults, **options)

    def create_task(
        self,
        image_urls: Iterable[str],
        *,
        task_id: str | None = None,
        polls_until_finished: int = 0,
        seconds_until_finished: float = 0.0,
        need_editor_data: bool = True,
        image_size: int = 20_000,
        fmt: str = "png",
        failing_images: dict[int, tuple[int, str]] | None = None,
        fail_task: bool = False,
        url_ttl_seconds: float = RESULT_RETENTION_SECONDS,
    ) -> str:
        """Create a task without an API call. `failing_images`: image index -> (code, message)."""
        options = TaskOptions(
            polls_until_finished=polls_until_finished,
            seconds_until_finished=seconds_until_finished,
            need_editor_data=need_editor_data,
            image_size=image_size,
            fmt=fmt,
            url_ttl_seconds=url_ttl_seconds,
            failing_images=dict(failing_images or {}),
            fail_task=fail_task,
        )
        return self._new_task(list(dict.fromkeys(image_urls)), options, task_id=task_id).task_id

    def configure_task(self, task_id: str, **options: Any) -> None:
        """Change an existing task's TaskOptions (e.g. fail_task=True for an API-created task)."""
        with self._lock:
            task = self._tasks[task_id]
            task.options = replace(task.options, **options)

    def result_entries(self, task_id: str) -> list[dict[str, Any]]:
        """The task's `Data.Result` as a finished poll would send it (images are put on the image
        host now), for tests that build a modified answer from the real one."""
        with self._lock:
            return [r.as_json() for r in self._results(self._tasks[task_id])]

    def steps_left(self, task_id: str) -> int:
        """How many scripted steps of `task_id` are not consumed yet."""
        with self._lock:
            return len(self._task_scripts.get(task_id, ()))

    def task(self, task_id: str) -> Task | None:
        with self._lock:
            return self._tasks.get(task_id)

    @property
    def task_ids(self) -> list[str]:
        with self._lock:
            return list(self._tasks)

    def finish_task(self, task_id: str) -> None:
        """Finish a task now, whatever its polls/seconds settings."""
        with self._lock:
            task = self._tasks[task_id]
            if task.finished_at is None:
                task.finished_at = self.clock.now()

    def expire_task(self, task_id: str) -> None:
        """Make the task's results gone, as 1 hour after finishing (it then reads `invalid`)."""
        with self._lock:
            self._tasks[task_id].expired = True

    def forget_task(self, task_id: str) -> None:
        with self._lock:
            self._tasks.pop(task_id, None)
            self._task_scripts.pop(task_id, None)

    def script(self, task_id: str | None, steps: Iterable[FaultStep | str]) -> None:
        """Queue steps for requests naming `task_id` (or, with None, for any request). Each request
        consumes one step; `ok` or an exhausted script means normal behaviour. A task's own script
        is used before the global one."""
        parsed = [_as_step(s) for s in steps]
        with self._lock:
            if task_id is None:
                self._global_script.extend(parsed)
            else:
                self._task_scripts.setdefault(task_id, collections.deque()).extend(parsed)

    def set_fault(self, step: FaultStep | str | None, count: int | None = None) -> None:
        """Answer the next `count` requests (any action; None = until cleared) with `step`."""
        with self._lock:
            self._global_fault = None if step is None else _as_step(step)
            self._global_fault_left = count

    def clear_faults(self) -> None:
        with self._lock:
            self._task_scripts.clear()
            self._global_script.clear()
            self._global_fault = None
            self._global_fault_left = None

    def set_qps_quota(self, qps: float | None, *, retry_after_ms: int | None = None) -> None:
        """Throttle result polls beyond `qps` in any sliding 1-second window (None = no quota)."""
        with self._lock:
            self._qps_quota = qps
            self._qps_retry_after_ms = retry_after_ms
            self._qps_window.clear()

    def record(self, rec: RequestRecord) -> None:
        # Like the base class, but the log line says what was asked and how it was answered.
        with self._requests_lock:
            self.requests.append(rec)
        log.info(
            "alimt %s task=%s -> %s %s",
            rec.info.get("action"),
            rec.info.get("task_id", "-"),
            rec.status,
            rec.info.get("outcome", ""),
        )

    def calls(self, action: str, task_id: str | None = None) -> int:
        """How many requests for `action` (and `task_id`, if given) reached the emulator."""
        with self._requests_lock:
            return sum(
                1
                for r in self.requests
                if r.info.get("action") == action
                and (task_id is None or r.info.get("task_id") == task_id)
            )

    # ---- request handling ----------------------------------------------------------------------
    def handle(self, handler: AlimtRequestHandler) -> None:
        request_id = str(uuid.uuid4()).upper()
        info: dict[str, Any] = {"request_id": request_id}
        try:
            body = handler.read_body()
        except ConnectionError:
            handler.close_connection = True
            return
        path, _, raw_query = handler.path.partition("?")
        query = parse_qsl(raw_query, keep_blank_values=True)
        try:
            form = parse_qsl(body.decode("utf-8"), keep_blank_values=True)
        except UnicodeDecodeError:
            form = []
        params = dict(query) | dict(form)
        v2 = "Action" in dict(query) and "authorization" not in _lower_keys(handler.headers)
        action = params.get("Action") if v2 else handler.headers.get("x-acs-action")
        info["action"] = action
        info["signature"] = "v2" if v2 else "acs3"
        if params.get("TaskId"):
            info["task_id"] = params["TaskId"]

        try:
            version = params.get("Version") if v2 else handler.headers.get("x-acs-version")
            if action not in ACTIONS:
                raise acs3.GatewayError(
                    404, "InvalidAction.NotFound", f"Specified api {action} is not found."
                )
            if version != API_VERSION:
                raise acs3.GatewayError(
                    400, "InvalidVersion", f"Specified parameter Version {version} is not valid."
                )
            if v2:
                self._authenticate_v2(handler.command, query, form)
            else:
                self._authenticate_acs3(handler, path, query, body)
        except acs3.GatewayError as err:
            info["outcome"] = err.code
            self._send(
                handler,
                request_id,
                _gateway_error(err.status, err.code, err.message, request_id),
                info,
            )
            return

        step = self._next_step(info.get("task_id"))
        if step is not None:
            info["step"] = str(step)
        reply = self._apply_step(handler, step, action, params, request_id, info)
        if reply is None:
            return  # the connection was reset or hung
        info["outcome"] = reply.outcome
        self._send(handler, request_id, reply, info)

    def _send(
        self, handler: AlimtRequestHandler, request_id: str, reply: _Reply, info: dict[str, Any]
    ) -> None:
        self.network.first_byte_delay()
        headers = {"Content-Type": reply.content_type, "x-acs-request-id": request_id}
        headers.update(reply.extra_headers)
        # Record first: a client that got its answer must find the request in the log.
        self._record(handler, reply.status, info)
        handler.send_bytes(reply.status, reply.body, headers)

    def _record(self, handler: AlimtRequestHandler, status: int, info: dict[str, Any]) -> None:
        headers = {
            k.lower(): v for k, v in handler.headers.items() if k.lower() not in SENSITIVE_HEADERS
        }
        # ACS3 paths are bare, but a v2 query holds the signature and token: never keep the path.
        self.record(RequestRecord(handler.command, "/", status, headers, info))

    # ---- authentication ------------------------------------------------------------------------
    def _check_key(self, access_key_id: str, token: str | None) -> str:
        return acs3.check_key(self.credentials, access_key_id, token)

    def _check_nonce(self, access_key_id: str, nonce: str | None) -> None:
        self._nonces.check(access_key_id, nonce)

    def _authenticate_acs3(
        self, handler: AlimtRequestHandler, path: str, query: list[tuple[str, str]], body: bytes
    ) -> None:
        headers = acs3.header_lists(handler.headers.items())
        access_key_id = acs3.verify(
            self.credentials,
            method=handler.command,
            path=path,
            query=query,
            headers=headers,
            body=body,
        )
        self._check_nonce(access_key_id, acs3.first(headers, "x-acs-signature-nonce"))

    def _authenticate_v2(
        self, method: str, query: list[tuple[str, str]], form: list[tuple[str, str]]
    ) -> None:
        params = dict(query) | dict(form)
        access_key_id = params.get("AccessKeyId", "")
        signature = params.get("Signature", "")
        if not access_key_id or not signature:
            raise acs3.GatewayError(
                400, "MissingParameter", "AccessKeyId and Signature are mandatory."
            )
        secret = self._check_key(access_key_id, params.get("SecurityToken"))
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
        self._check_nonce(access_key_id, params.get("SignatureNonce"))

    # ---- faults --------------------------------------------------------------------------------
    def _next_step(self, task_id: str | None) -> FaultStep | None:
        with self._lock:
            if task_id is not None:
                task_script = self._task_scripts.get(task_id)
                if task_script:
                    return task_script.popleft()
            if self._global_script:
                return self._global_script.popleft()
            if self._global_fault is not None:
                step = self._global_fault
                if self._global_fault_left is not None:
                    self._global_fault_left -= 1
                    if self._global_fault_left <= 0:
                        self._global_fault, self._global_fault_left = None, None
                return step
        return None

    def _apply_step(
        self,
        handler: AlimtRequestHandler,
        step: FaultStep | None,
        action: str,
        params: dict[str, str],
        request_id: str,
        info: dict[str, Any],
    ) -> _Reply | None:
        kind = step.kind if step else "ok"
        if kind == "latency":
            assert step is not None
            time.sleep(float(step.arg or 0))
            step = FaultStep.parse(step.extra) if step.extra else None
            kind = step.kind if step else "ok"
        if kind == "reset":
            info["outcome"] = "reset"
            self._record(handler, 0, info)
            handler.reset_connection()
            return None
        if kind == "hang":
            assert step is not None
            info["outcome"] = "hang"
            self._record(handler, 0, info)
            handler.hang(float(step.arg or 0))
            return None
        if kind == "throttle":
            return _gateway_error(429, *HTTP_ERROR_CODES[429], request_id)
        if kind == "throttle-retry-after":
            assert step is not None
            reply = _gateway_error(429, *HTTP_ERROR_CODES[429], request_id)
            reply.extra_headers["x-acs-retry-after"] = str(int(step.arg or 0))
            return reply
        if kind == "http":
            assert step is not None
            status = int(step.arg or 500)
            code, message = HTTP_ERROR_CODES.get(status, ("UnknownError", f"HTTP {status}"))
            return _gateway_error(status, step.extra or code, message, request_id)
        if kind == "html":
            assert step is not None
            status = int(step.arg or 502)
            page = (
                f"<html><head><title>{status}</title></head><body><h1>{status}</h1></body></html>"
            )
            return _Reply(status, page.encode(), "text/html", outcome=f"html:{status}")
        if kind == "notjson":
            return _Reply(200, b"<html>OK, but not JSON</html>", "text/html", outcome="notjson")
        if kind == "code":
            assert step is not None
            return _business_error(int(step.arg or 102), request_id)
        if kind == "reply":
            assert step is not None and step.extra is not None
            payload = json.loads(step.extra)
            if isinstance(payload, dict):
                payload.setdefault("RequestId", request_id)
            return _Reply(int(step.arg or 200), json.dumps(payload).encode(), outcome="reply")
        if kind == "data":
            assert step is not None
            return _ok(json.loads(str(step.arg)), request_id, outcome="data")
        if action == ACTION_SUBMIT:
            return self._translate_image_batch(params, request_id)
        return self._get_result(params, request_id, step if kind != "ok" else None)

    # ---- the QPS quota -------------------------------------------------------------------------
    def _admit_result_poll(self) -> bool:
        with self._lock:
            if self._qps_quota is None:
                return True
            now = time.monotonic()  # the quota is about real request rate, not the scenario clock
            while self._qps_window and now - self._qps_window[0] >= 1.0:
                self._qps_window.popleft()
            if len(self._qps_window) >= self._qps_quota:
                self.qps_throttled += 1
                return False
            self._qps_window.append(now)
            self.qps_served += 1
            return True

    # ---- actions -------------------------------------------------------------------------------
    def _translate_image_batch(self, params: dict[str, str], request_id: str) -> _Reply:
        raw_urls = [u.strip() for u in params.get("ImageUrls", "").split(",") if u.strip()]
        source, target = params.get("SourceLanguage", ""), params.get("TargetLanguage", "")
        if not raw_urls or not source or not target or len(raw_urls) > MAX_IMAGES_PER_BATCH:
            return _business_error(104, request_id)
        try:
            ext = json.loads(params["Ext"]) if params.get("Ext") else {}
        except json.JSONDecodeError:
            return _business_error(104, request_id)
        if not isinstance(ext, dict):
            return _business_error(104, request_id)
        need_editor_data = str(ext.get("needEditorData", "false")).lower() == "true"
        custom_id = params.get("CustomTaskId")
        now = self.clock.now()
        with self._lock:
            if custom_id:
                seen = self._custom_ids.get(custom_id)
                if (
                    seen
                    and now - seen[1] < CUSTOM_TASK_ID_WINDOW_SECONDS
                    and seen[0] in self._tasks
                ):
                    return _ok({"TaskId": seen[0]}, request_id)
            options = replace(
                self.defaults,
                need_editor_data=need_editor_data,
                failing_images=dict(self.defaults.failing_images),
            )
            task = self._new_task(list(dict.fromkeys(raw_urls)), options)
            task.source_language, task.target_language = source, target
            task.translate_field = params.get("Field") or "general"
            if custom_id:
                self._custom_ids[custom_id] = (task.task_id, now)
        return _ok({"TaskId": task.task_id}, request_id)

    def _new_task(self, urls: list[str], options: TaskOptions, task_id: str | None = None) -> Task:
        with self._lock:
            task = Task(task_id or str(uuid.uuid4()).upper(), urls, self.clock.now(), options)
            self._tasks[task.task_id] = task
            return task

    def _get_result(
        self, params: dict[str, str], request_id: str, override: FaultStep | None
    ) -> _Reply:
        task_id = params.get("TaskId", "")
        if not task_id:
            return _business_error(104, request_id)
        if not self._admit_result_poll():
            reply = _gateway_error(429, *HTTP_ERROR_CODES[429], request_id)
            if self._qps_retry_after_ms:
                reply.extra_headers["x-acs-retry-after"] = str(self._qps_retry_after_ms)
            reply.outcome = "qps-throttled"
            return reply
        with self._lock:
            task = self._tasks.get(task_id)
            now = self.clock.now()
            if task is None or task.expired:
                return _ok({"Status": "invalid", "Result": []}, request_id, outcome="invalid")
            if override is not None and override.kind == "status":
                status = str(override.arg)
                return _ok({"Status": status, "Result": []}, request_id, outcome=f"status:{status}")
            if override is not None and override.kind == "result":
                entries_value = json.loads(str(override.arg))
                return _ok(
                    {"Status": "finished", "Result": entries_value}, request_id, outcome="result"
                )
            if override is not None and override.kind == "mangle":
                entries = [r.as_json() for r in self._results(task)]
                index = int(override.arg or 0)
                if 0 <= index < len(entries):
                    entries[index].update(json.loads(override.extra or "{}"))
                return _ok({"Status": "finished", "Result": entries}, request_id, outcome="mangle")
            if override is not None and override.kind in ("empty-result", "missing-urls"):
                # A one-off odd answer: it does not change the task's own progress.
                entries = (
                    []
                    if override.kind == "empty-result"
                    else [r.as_json(with_final_url=False) for r in self._results(task)]
                )
                return _ok(
                    {"Status": "finished", "Result": entries}, request_id, outcome=override.kind
                )

            finished_at = task.finish_time(now)
            if finished_at is None:
                task.polls += 1
                options = task.options
                if task.polls > options.polls_until_finished and (
                    now >= task.created_at + options.seconds_until_finished
                ):
                    task.finished_at = finished_at = now
                else:
                    status = "created" if task.polls == 1 else "running"
                    return _ok({"Status": status, "Result": []}, request_id, outcome=status)
            else:
                task.polls += 1
            if now - finished_at >= RESULT_RETENTION_SECONDS:
                task.expired = True
                return _ok({"Status": "invalid", "Result": []}, request_id, outcome="invalid")
            if task.options.fail_task:
                return _ok({"Status": "failed", "Result": []}, request_id, outcome="failed")
            entries = [r.as_json() for r in self._results(task)]
            return _ok({"Status": "finished", "Result": entries}, request_id, outcome="finished")

    def _results(self, task: Task) -> list[ImageResult]:
        """Per-image results; images go onto the image host the first time they are needed."""
        if task.results is not None:
            return task.results
        opts = task.options
        results: list[ImageResult] = []
        for index, source in enumerate(task.image_urls):
            failure = opts.failing_images.get(index)
            if failure is not None:
                results.append(ImageResult(source, code=failure[0], message=failure[1]))
                continue
            result = ImageResult(source, final_url=self._image_url(task, index, "final"))
            if opts.need_editor_data:
                result.inpainting_url = self._image_url(task, index, "inpainting")
                result.template_json = json.dumps(
                    {
                        "TemplateJson": f"editor template {task.task_id}/{index}",
                        "SourceImageUrl": source,
                    }
                )
            results.append(result)
        task.results = results
        return results

    def _image_url(self, task: Task, index: int, kind: str) -> str:
        opts = task.options
        name = f"{task.task_id}/{index}-{kind}.{opts.fmt}"
        if self.image_host is None:
            return f"http://images.invalid/{name}"
        return self.image_host.add_image(
            name, size_bytes=opts.image_size, fmt=opts.fmt, ttl_seconds=opts.url_ttl_seconds
        )


# ---- response bodies ---------------------------------------------------------------------------


def _json_reply(status: int, payload: dict[str, Any], outcome: str) -> _Reply:
    return _Reply(status, json.dumps(payload).encode(), outcome=outcome)


def _ok(data: dict[str, Any], request_id: str, outcome: str = "ok") -> _Reply:
    return _json_reply(
        200, {"Code": 200, "Message": "OK", "RequestId": request_id, "Data": data}, outcome
    )


def _business_error(code: int, request_id: str) -> _Reply:
    message = BUSINESS_CODES.get(code, "System.Error")
    return _json_reply(
        200, {"Code": code, "Message": message, "RequestId": request_id}, f"code:{code}"
    )


def _gateway_error(status: int, code: str, message: str, request_id: str) -> _Reply:
    payload = {
        "Code": code,
        "Message": message,
        "RequestId": request_id,
        "HostId": HOST_ID,
        "Recommend": f"https://api.aliyun.com/troubleshoot?q={code}&product=alimt",
    }
    return _json_reply(status, payload, code)


def _lower_keys(headers: Any) -> set[str]:
    return {k.lower() for k in headers}


# ---- command line ------------------------------------------------------------------------------

DEFAULT_ACCESS_KEY_ID = "LTAI-local-alimt"
DEFAULT_ACCESS_KEY_SECRET = "local-alimt-secret"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the local alimt emulator until Ctrl-C.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--access-key-id", default=DEFAULT_ACCESS_KEY_ID)
    parser.add_argument("--access-key-secret", default=DEFAULT_ACCESS_KEY_SECRET)
    parser.add_argument(
        "--polls", type=int, default=2, help="polls answered running before finished"
    )
    parser.add_argument("--seconds", type=float, default=0.0, help="seconds before a task finishes")
    parser.add_argument("--qps", type=float, default=None, help="QPS quota for result polls")
    parser.add_argument(
        "--fault", action="append", default=[], help="global script step, e.g. throttle, code:102"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")

    store = CredentialStore()
    store.add_access_key(args.access_key_id, args.access_key_secret)
    emulator = AlimtEmulator(store, host=args.host, port=args.port)
    emulator.set_defaults(polls_until_finished=args.polls, seconds_until_finished=args.seconds)
    if args.qps is not None:
        emulator.set_qps_quota(args.qps)
    if args.fault:
        emulator.script(None, args.fault)
    emulator.start()
    print(f"alimt emulator on {emulator.endpoint}", flush=True)
    print(f"access key id: {args.access_key_id}", flush=True)
    if args.access_key_secret == DEFAULT_ACCESS_KEY_SECRET:
        # Only the well-known local default is shown; a secret you chose is never printed.
        print(f"access key secret: {DEFAULT_ACCESS_KEY_SECRET} (local default)", flush=True)
    try:
        wait_for_interrupt()
    finally:
        emulator.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
