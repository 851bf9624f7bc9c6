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
import collections
import json
import logging
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import replace
from typing import Any, Protocol
from urllib.parse import parse_qsl

from local import acs3
from local.alimt_faults import FaultScripts, FaultStep, canned_reply
from local.alimt_protocol import (
    ACTION_RESULT,
    ACTION_SUBMIT,
    ACTIONS,
    API_VERSION,
    BUSINESS_CODES,
    HTTP_ERROR_CODES,
    SENSITIVE_HEADERS,
    Reply,
    business_error,
    gateway_error,
    lower_keys,
    ok,
    throttled,
    verify_v2,
)
from local.alimt_tasks import RESULT_RETENTION_SECONDS, ImageResult, Task, TaskOptions, poll
from local.clock import Clock
from local.credentials import CredentialStore
from local.httpserver import (
    ApiRequestHandler,
    IncomingRequest,
    NetworkShape,
    RequestRecord,
    wait_for_interrupt,
)

__all__ = [
    "ACTION_RESULT",
    "ACTION_SUBMIT",
    "BUSINESS_CODES",
    "HTTP_ERROR_CODES",
    "RESULT_RETENTION_SECONDS",
    "AlimtEmulator",
    "FaultStep",
    "ImageResult",
    "Task",
    "TaskOptions",
    "main",
]

log = logging.getLogger("local.alimt")

CUSTOM_TASK_ID_WINDOW_SECONDS = 180.0  # CustomTaskId de-duplication window
MAX_IMAGES_PER_BATCH = 20


class ImageHostLike(Protocol):
    """What the emulator needs from `local.image_host.ImageHost` (kept structural, no import)."""

    def add_image(
        self, name: str, *, size_bytes: int, fmt: str = "png", ttl_seconds: float = 3600
    ) -> str: ...


class AlimtRequestHandler(ApiRequestHandler):
    """alimt requests, ACS3 (POST) or v2 RPC (GET or POST)."""


class AlimtEmulator(acs3.GatewayEmulator):
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
        super().__init__(credentials, clock, host=host, port=port)
        self.image_host = image_host
        self.defaults = TaskOptions()
        self.network = NetworkShape()  # first-byte delay for benchmarks
        self._lock = threading.RLock()
        self._tasks: dict[str, Task] = {}
        self._custom_ids: dict[str, tuple[str, float]] = {}
        self._scripts = FaultScripts()
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
        options = TaskOptions(  # the fields in their declared order
            polls_until_finished,
            seconds_until_finished,
            need_editor_data,
            image_size,
            fmt,
            url_ttl_seconds,
            dict(failing_images or {}),
            fail_task,
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
        return self._scripts.steps_left(task_id)

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
        self._scripts.forget(task_id)

    def script(self, task_id: str | None, steps: Iterable[FaultStep | str]) -> None:
        """Queue steps for requests naming `task_id` (or, with None, for any request). Each request
        consumes one step; `ok` or an exhausted script means normal behaviour. A task's own script
        is used before the global one."""
        self._scripts.script(task_id, steps)

    def set_fault(self, step: FaultStep | str | None, count: int | None = None) -> None:
        """Answer the next `count` requests (any action; None = until cleared) with `step`."""
        self._scripts.set_fault(step, count)

    def clear_faults(self) -> None:
        self._scripts.clear()

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
        request = handler.read_request()
        if request is None:
            return
        query = request.query
        try:
            form = parse_qsl(request.body.decode("utf-8"), keep_blank_values=True)
        except UnicodeDecodeError:
            form = []
        params = dict(query) | dict(form)
        v2 = "Action" in dict(query) and "authorization" not in lower_keys(handler.headers)
        action = params.get("Action") if v2 else handler.headers.get("x-acs-action")
        info["action"] = action
        info["signature"] = "v2" if v2 else "acs3"
        if params.get("TaskId"):
            info["task_id"] = params["TaskId"]

        try:
            version = params.get("Version") if v2 else handler.headers.get("x-acs-version")
            self._check_action(action, version)
            if v2:
                self._authenticate_v2(handler.command, query, form)
            else:
                self._authenticate_acs3(handler, request)
        except acs3.GatewayError as err:
            info["outcome"] = err.code
            reply = gateway_error(err.status, err.code, err.message, request_id)
            self._send(handler, request_id, reply, info)
            return

        step = self._scripts.next_step(info.get("task_id"))
        if step is not None:
            info["step"] = str(step)
        answer = self._apply_step(handler, step, str(action), params, request_id, info)
        if answer is None:
            return  # the connection was reset or hung
        info["outcome"] = answer.outcome
        self._send(handler, request_id, answer, info)

    @staticmethod
    def _check_action(action: str | None, version: str | None) -> None:
        if action not in ACTIONS:
            raise acs3.GatewayError(
                404, "InvalidAction.NotFound", f"Specified api {action} is not found."
            )
        if version != API_VERSION:
            raise acs3.GatewayError(
                400, "InvalidVersion", f"Specified parameter Version {version} is not valid."
            )

    def _send(
        self, handler: AlimtRequestHandler, request_id: str, reply: Reply, info: dict[str, Any]
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
    def _authenticate_acs3(self, handler: AlimtRequestHandler, request: IncomingRequest) -> None:
        headers = acs3.header_lists(handler.headers.items())
        acs3.authenticate(self.credentials, self._nonces, handler.command, request, headers)

    def _authenticate_v2(
        self, method: str, query: list[tuple[str, str]], form: list[tuple[str, str]]
    ) -> None:
        params = dict(query) | dict(form)
        access_key_id = verify_v2(self.credentials, method, params)
        self._nonces.check(access_key_id, params.get("SignatureNonce"))

    # ---- faults --------------------------------------------------------------------------------
    def _apply_step(
        self,
        handler: AlimtRequestHandler,
        step: FaultStep | None,
        action: str,
        params: dict[str, str],
        request_id: str,
        info: dict[str, Any],
    ) -> Reply | None:
        if step is not None and step.kind == "latency":
            time.sleep(float(step.arg or 0))
            step = FaultStep.parse(step.extra) if step.extra else None
        kind = step.kind if step else "ok"
        if kind in ("reset", "hang"):
            assert step is not None
            info["outcome"] = kind
            self._record(handler, 0, info)
            if kind == "reset":
                handler.reset_connection()
            else:
                handler.hang(float(step.arg or 0))
            return None
        canned = canned_reply(step, request_id)
        if canned is not None:
            return canned
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
    def _translate_image_batch(self, params: dict[str, str], request_id: str) -> Reply:
        raw_urls = [u.strip() for u in params.get("ImageUrls", "").split(",") if u.strip()]
        source, target = params.get("SourceLanguage", ""), params.get("TargetLanguage", "")
        if not raw_urls or not source or not target or len(raw_urls) > MAX_IMAGES_PER_BATCH:
            return business_error(104, request_id)
        ext = _json_object(params.get("Ext"))
        if ext is None:
            return business_error(104, request_id)
        need_editor_data = str(ext.get("needEditorData", "false")).lower() == "true"
        custom_id = params.get("CustomTaskId")
        now = self.clock.now()
        with self._lock:
            seen = self._seen_custom_id(custom_id, now)
            if seen is not None:
                return ok({"TaskId": seen}, request_id)
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
        return ok({"TaskId": task.task_id}, request_id)

    def _seen_custom_id(self, custom_id: str | None, now: float) -> str | None:
        """The task a CustomTaskId named within the de-duplication window, if it still exists."""
        seen = self._custom_ids.get(custom_id) if custom_id else None
        if seen and now - seen[1] < CUSTOM_TASK_ID_WINDOW_SECONDS and seen[0] in self._tasks:
            return seen[0]
        return None

    def _new_task(self, urls: list[str], options: TaskOptions, task_id: str | None = None) -> Task:
        with self._lock:
            task = Task(task_id or str(uuid.uuid4()).upper(), urls, self.clock.now(), options)
            self._tasks[task.task_id] = task
            return task

    def _get_result(
        self, params: dict[str, str], request_id: str, override: FaultStep | None
    ) -> Reply:
        task_id = params.get("TaskId", "")
        if not task_id:
            return business_error(104, request_id)
        if not self._admit_result_poll():
            reply = throttled(request_id, self._qps_retry_after_ms)
            reply.outcome = "qps-throttled"
            return reply
        with self._lock:
            task = self._tasks.get(task_id)
            if task is None or task.expired:
                return ok({"Status": "invalid", "Result": []}, request_id, outcome="invalid")
            if override is not None and override.kind in ODD_ANSWERS:
                return self._odd_answer(task, override, request_id)
            status = poll(task, self.clock.now())
            entries = [r.as_json() for r in self._results(task)] if status == "finished" else []
            return ok({"Status": status, "Result": entries}, request_id, outcome=status)

    def _odd_answer(self, task: Task, step: FaultStep, request_id: str) -> Reply:
        """A one-off odd answer (`status:`, `result:`, `mangle:`, `empty-result`, `missing-urls`):
        it does not change the task's own progress."""
        if step.kind == "status":
            status = str(step.arg)
            return ok({"Status": status, "Result": []}, request_id, outcome=f"status:{status}")
        if step.kind == "result":
            entries_value = json.loads(str(step.arg))
            return ok({"Status": "finished", "Result": entries_value}, request_id, outcome="result")
        if step.kind == "empty-result":
            entries: list[dict[str, Any]] = []
        elif step.kind == "missing-urls":
            entries = [r.as_json(with_final_url=False) for r in self._results(task)]
        else:  # mangle
            entries = [r.as_json() for r in self._results(task)]
            index = int(step.arg or 0)
            if 0 <= index < len(entries):
                entries[index].update(json.loads(step.extra or "{}"))
        return ok({"Status": "finished", "Result": entries}, request_id, outcome=step.kind)

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


def _json_object(raw: str | None) -> dict[str, Any] | None:
    """`Ext` as a JSON object ({} when absent), or None when it is not one."""
    try:
        value = json.loads(raw) if raw else {}
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


ODD_ANSWERS = frozenset({"status", "result", "mangle", "empty-result", "missing-urls"})


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
