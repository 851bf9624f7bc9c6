"""Fault scripting for the alimt emulator: the step vocabulary (`FaultStep`, as the CLI and tests
write it), the per-task and global scripts a request consumes a step from, and the canned replies
of the steps that answer without looking at a task (throttling, gateway errors, HTML, any body)."""

from __future__ import annotations

import collections
import json
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from local.alimt_protocol import (
    HTTP_ERROR_CODES,
    Reply,
    business_error,
    gateway_error,
    ok,
    throttled,
)

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
        arg, extra = _ARG_PARSERS[kind](rest, text)
        return cls(kind, arg, extra)

    def __str__(self) -> str:
        if self.arg is None:
            return self.kind
        return f"{self.kind}:{self.arg}" + (f":{self.extra}" if self.extra else "")


# How each step's argument reads: (arg, extra) from the text after `<kind>:`.
StepArg = tuple[int | float | str | None, str | None]


def _arg_latency(rest: str, text: str) -> StepArg:
    # `latency:<s>` delays a normal answer; `latency:<s>:<step>` delays that step's answer
    seconds, _, then = rest.partition(":")
    if then:
        FaultStep.parse(then)  # refuse a bad inner step now, not mid-test
    return float(seconds), then or None


def _arg_seconds(rest: str, text: str) -> StepArg:
    return float(rest), None


def _arg_reply(rest: str, text: str) -> StepArg:
    status, _, payload = rest.partition(":")
    json.loads(payload)
    return int(status), payload


def _arg_json(rest: str, text: str) -> StepArg:
    json.loads(rest)
    return rest, None


def _arg_mangle(rest: str, text: str) -> StepArg:
    index, _, payload = rest.partition(":")
    if not isinstance(json.loads(payload), dict):
        raise ValueError(f"mangle needs a JSON object of fields: {text!r}")
    return int(index), payload


def _arg_text(rest: str, text: str) -> StepArg:
    return rest, None


def _arg_http(rest: str, text: str) -> StepArg:
    status, _, code = rest.partition(":")
    return int(status), code or None


def _arg_int(rest: str, text: str) -> StepArg:
    return int(rest), None


_ARG_PARSERS: dict[str, Callable[[str, str], StepArg]] = {
    "code": _arg_int,
    "reply": _arg_reply,
    "data": _arg_json,
    "result": _arg_json,
    "mangle": _arg_mangle,
    "throttle-retry-after": _arg_int,
    "http": _arg_http,
    "html": _arg_int,
    "latency": _arg_latency,
    "hang": _arg_seconds,
    "status": _arg_text,
}
assert set(_ARG_PARSERS) == STEP_KINDS_WITH_ARG


def as_step(step: FaultStep | str) -> FaultStep:
    return step if isinstance(step, FaultStep) else FaultStep.parse(step)


class FaultScripts:
    """The queued steps: each task's own script, then the global script, then a standing fault."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._task_scripts: dict[str, collections.deque[FaultStep]] = {}
        self._global_script: collections.deque[FaultStep] = collections.deque()
        self._global_fault: FaultStep | None = None
        self._global_fault_left: int | None = None

    def script(self, task_id: str | None, steps: Iterable[FaultStep | str]) -> None:
        parsed = [as_step(s) for s in steps]
        with self._lock:
            if task_id is None:
                self._global_script.extend(parsed)
            else:
                self._task_scripts.setdefault(task_id, collections.deque()).extend(parsed)

    def set_fault(self, step: FaultStep | str | None, count: int | None = None) -> None:
        with self._lock:
            self._global_fault = None if step is None else as_step(step)
            self._global_fault_left = count

    def steps_left(self, task_id: str) -> int:
        with self._lock:
            return len(self._task_scripts.get(task_id, ()))

    def forget(self, task_id: str) -> None:
        with self._lock:
            self._task_scripts.pop(task_id, None)

    def clear(self) -> None:
        with self._lock:
            self._task_scripts.clear()
            self._global_script.clear()
            self._global_fault = None
            self._global_fault_left = None

    def next_step(self, task_id: str | None) -> FaultStep | None:
        with self._lock:
            if task_id is not None:
                task_script = self._task_scripts.get(task_id)
                if task_script:
                    return task_script.popleft()
            if self._global_script:
                return self._global_script.popleft()
            return self._take_global_fault()

    def _take_global_fault(self) -> FaultStep | None:
        step = self._global_fault
        if step is not None and self._global_fault_left is not None:
            self._global_fault_left -= 1
            if self._global_fault_left <= 0:
                self._global_fault, self._global_fault_left = None, None
        return step


# ---- canned replies ----------------------------------------------------------------------------


def _throttle(step: FaultStep, request_id: str) -> Reply:
    return throttled(request_id)


def _throttle_retry_after(step: FaultStep, request_id: str) -> Reply:
    reply = throttled(request_id)
    reply.extra_headers["x-acs-retry-after"] = str(int(step.arg or 0))
    return reply


def _http(step: FaultStep, request_id: str) -> Reply:
    status = int(step.arg or 500)
    code, message = HTTP_ERROR_CODES.get(status, ("UnknownError", f"HTTP {status}"))
    return gateway_error(status, step.extra or code, message, request_id)


def _html(step: FaultStep, request_id: str) -> Reply:
    status = int(step.arg or 502)
    page = f"<html><head><title>{status}</title></head><body><h1>{status}</h1></body></html>"
    return Reply(status, page.encode(), "text/html", outcome=f"html:{status}")


def _notjson(step: FaultStep, request_id: str) -> Reply:
    return Reply(200, b"<html>OK, but not JSON</html>", "text/html", outcome="notjson")


def _code(step: FaultStep, request_id: str) -> Reply:
    return business_error(int(step.arg or 102), request_id)


def _reply(step: FaultStep, request_id: str) -> Reply:
    assert step.extra is not None
    payload = json.loads(step.extra)
    if isinstance(payload, dict):
        payload.setdefault("RequestId", request_id)
    return Reply(int(step.arg or 200), json.dumps(payload).encode(), outcome="reply")


def _data(step: FaultStep, request_id: str) -> Reply:
    return ok(json.loads(str(step.arg)), request_id, outcome="data")


CANNED_REPLIES: dict[str, Callable[[FaultStep, str], Reply]] = {
    "throttle": _throttle,
    "throttle-retry-after": _throttle_retry_after,
    "http": _http,
    "html": _html,
    "notjson": _notjson,
    "code": _code,
    "reply": _reply,
    "data": _data,
}


def canned_reply(step: FaultStep | None, request_id: str) -> Reply | None:
    """The reply of a step that does not depend on the task, or None (the action answers)."""
    build = CANNED_REPLIES.get(step.kind) if step is not None else None
    return build(step, request_id) if build is not None and step is not None else None
