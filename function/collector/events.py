"""Decode whatever triggered us into a `TriggerEvent`.

Accepted shapes (README "Events"):
- timer:        {"triggerTime": ..., "triggerName": ..., "payload": "<JSON string or empty>"}
- MNS JSON:     {"TopicOwner": ..., "MessageId": ..., "Message": "<body>", ...attributes}
- MNS STREAM:   the body itself, or {"body": "<body>", "attrs": {...}}
- direct:       {"taskId": "..."} / {"TaskId": "..."} or {"taskIds": ["...", ...]}
- direct sweep: {"sweep": {"shard": i, "shards": K, "maxTasks"?, "maxSeconds"?}}: one shard of a
                fanned-out sweep, sent by the sweep itself as an asynchronous invocation (kind TIMER)
A message body is a bare TaskId or JSON {"TaskId"|"taskId": "...", "outputPrefix": "..."}.

Anything else raises `InvalidEvent` with a message that names the problem. A batch with some bad
TaskIds keeps the good ones and reports the bad ones as `Rejection`s.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from collector.config import prefix_problem
from collector.errors import InvalidEvent
from collector.models import (
    Rejection,
    SweepOptions,
    TaskRequest,
    TriggerEvent,
    TriggerKind,
    task_id_problem,
)

MAX_EVENT_BYTES = 256 * 1024
MAX_NESTING = 32
_MNS_ENVELOPE_KEYS = {"TopicOwner", "TopicName", "MessageId", "Message"}
_TASK_BODY_KEYS = {"TaskId", "taskId", "outputPrefix"}
_BATCH_KEYS = {"taskIds", "outputPrefix"}
_SWEEP_KEYS = {"maxTasks", "maxSeconds", "shard", "shards"}
MAX_SHARDS = 256


def parse_trigger_event(
    raw: bytes | bytearray | str | dict[str, Any],
    *,
    max_tasks: int = 50,
    state_prefix: str = "collector/",
) -> TriggerEvent:
    text = _decode(raw)
    parser = _Parser(max_tasks=max_tasks, state_prefix=state_prefix, raw=text)
    return parser.parse(text)


def _decode(raw: bytes | bytearray | str | dict[str, Any]) -> str:
    if isinstance(raw, dict):
        return json.dumps(raw)
    if isinstance(raw, (bytes, bytearray)):
        if len(raw) > MAX_EVENT_BYTES:
            raise InvalidEvent(f"event is {len(raw)} bytes; the limit is {MAX_EVENT_BYTES}")
        try:
            text = bytes(raw).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidEvent(f"event is not valid UTF-8 (byte {exc.start})") from None
    elif isinstance(raw, str):
        text = raw
        if len(text.encode("utf-8", "surrogatepass")) > MAX_EVENT_BYTES:
            raise InvalidEvent(f"event is larger than {MAX_EVENT_BYTES} bytes")
    else:
        raise InvalidEvent(f"event must be bytes or text, got {type(raw).__name__}")
    if not text.strip():
        raise InvalidEvent("event is empty")
    return text


def _loads(text: str, what: str) -> Any:
    try:
        value = json.loads(text)
    except RecursionError:
        raise InvalidEvent(f"{what} is nested too deeply") from None
    except ValueError:
        return _NOT_JSON
    if _depth(value) > MAX_NESTING:
        raise InvalidEvent(f"{what} is nested more than {MAX_NESTING} levels deep")
    return value


_NOT_JSON = object()


def _depth(value: Any) -> int:
    # Iterative, so a hostile document cannot exhaust the stack here either.
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        deepest = max(deepest, level)
        if level > MAX_NESTING:
            return level
        if isinstance(item, dict):
            stack.extend((v, level + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, level + 1) for v in item)
    return deepest


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _scalar_task_id(value: Any, text: str) -> bool:
    """A JSON scalar (number, true/false/null) whose text is itself a valid TaskId."""
    return not isinstance(value, (dict, list, str)) and task_id_problem(text.strip()) is None


def _describe(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _whole_between(value: Any, low: int, high: int) -> bool:
    return not isinstance(value, bool) and isinstance(value, int) and low <= value <= high


def _number_between(value: Any, low: float, high: float) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float)) and low <= value <= high


def _shard_pair(shard: Any, shards: Any) -> tuple[Any, Any]:
    """`sweep.shard` of `sweep.shards` (a fan-out shard), both or neither."""
    if (shard is None) != (shards is None):
        raise InvalidEvent("'sweep.shard' and 'sweep.shards' go together")
    if shards is not None and (
        not _whole(shards)
        or not 1 <= shards <= MAX_SHARDS
        or not _whole(shard)
        or not 0 <= shard < shards
    ):
        raise InvalidEvent(
            f"'sweep.shards' must be a whole number from 1 to {MAX_SHARDS} and "
            "'sweep.shard' a whole number from 0 to shards - 1"
        )
    return shard, shards


class _Parser:
    def __init__(self, *, max_tasks: int, state_prefix: str, raw: str) -> None:
        self.max_tasks = max_tasks
        self.state_prefix = state_prefix
        self.raw = raw[:16384]

    def parse(self, text: str) -> TriggerEvent:
        value = _loads(text, "event")
        if value is _NOT_JSON:
            # Not JSON: an MNS STREAM body holding a bare TaskId.
            return self._event(TriggerKind.MNS_STREAM, [self._bare_task(text.strip(), "event")])
        if isinstance(value, str):
            return self._event(TriggerKind.MNS_STREAM, [self._bare_task(value.strip(), "event")])
        if _scalar_task_id(value, text):
            # `12345`, `1E5`, `true`: a bare TaskId that also happens to parse as JSON. The text
            # is the TaskId (json would turn `1E5` into 100000.0).
            return self._event(TriggerKind.MNS_STREAM, [TaskRequest(text.strip())])
        if not isinstance(value, dict):
            raise InvalidEvent(
                f"event must be a JSON object or a bare TaskId, got a JSON {_describe(value)}"
            )
        return self._object(value)

    def _object(self, value: dict[str, Any]) -> TriggerEvent:
        """A JSON object: the first shape it matches decides which parser reads it."""
        shapes: list[
            tuple[Callable[[dict[str, Any]], bool], Callable[[dict[str, Any]], TriggerEvent]]
        ] = [
            (lambda v: "triggerTime" in v and "triggerName" in v, self._timer),
            (lambda v: bool(_MNS_ENVELOPE_KEYS & v.keys()) and "Message" in v, self._mns_json),
            (lambda v: "body" in v and set(v) <= {"body", "attrs"}, self._mns_stream),
            (lambda v: set(v) == {"sweep"}, self._shard),
            (lambda v: "taskIds" in v, self._batch),
            (lambda v: "taskId" in v or "TaskId" in v, self._direct),
        ]
        for matches, parse in shapes:
            if matches(value):
                return parse(value)
        keys = ", ".join(sorted(repr(k)[:40] for k in value)[:10]) or "none"
        raise InvalidEvent(
            "event is not a recognised shape (expected taskId, taskIds, an MNS message with "
            f"'Message', a STREAM 'body', or a timer 'triggerTime'); its keys: {keys}"
        )

    def _shard(self, value: dict[str, Any]) -> TriggerEvent:
        """A shard of a fanned-out sweep (our own asynchronous self-invocation)."""
        options = self._sweep_options(value["sweep"])
        return TriggerEvent(kind=TriggerKind.TIMER, sweep=options, raw=self.raw)

    def _direct(self, value: dict[str, Any]) -> TriggerEvent:
        requests, rejections = self._task_object(value, "event")
        return self._event(TriggerKind.DIRECT, requests, rejections)

    # --- shapes ---------------------------------------------------------------------------------
    def _timer(self, value: dict[str, Any]) -> TriggerEvent:
        payload = value.get("payload")
        options = SweepOptions()
        if payload not in (None, ""):
            if not isinstance(payload, str):
                raise InvalidEvent(f"timer payload must be a string, got {_describe(payload)}")
            parsed = _loads(payload, "timer payload")
            if parsed is _NOT_JSON or not isinstance(parsed, dict):
                raise InvalidEvent('timer payload must be a JSON object such as {"sweep": {...}}')
            unknown = set(parsed) - {"sweep"}
            if unknown:
                raise InvalidEvent(f"timer payload has unknown keys: {sorted(unknown)}")
            options = self._sweep_options(parsed.get("sweep", {}))
        return TriggerEvent(kind=TriggerKind.TIMER, sweep=options, raw=self.raw)

    def _sweep_options(self, sweep: Any) -> SweepOptions:
        if not isinstance(sweep, dict):
            raise InvalidEvent(f"timer payload 'sweep' must be an object, got {_describe(sweep)}")
        unknown = set(sweep) - _SWEEP_KEYS
        if unknown:
            raise InvalidEvent(
                f"timer payload 'sweep' has unknown keys {sorted(unknown)}; allowed: {sorted(_SWEEP_KEYS)}"
            )
        max_tasks = sweep.get("maxTasks")
        if max_tasks is not None and not _whole_between(max_tasks, 1, 100000):
            raise InvalidEvent(
                "timer payload 'sweep.maxTasks' must be a whole number from 1 to 100000"
            )
        max_seconds = sweep.get("maxSeconds")
        if max_seconds is not None and not _number_between(max_seconds, 1, 86400):
            raise InvalidEvent("timer payload 'sweep.maxSeconds' must be a number from 1 to 86400")
        shard, shards = _shard_pair(sweep.get("shard"), sweep.get("shards"))
        return SweepOptions(
            max_tasks=max_tasks,
            max_seconds=float(max_seconds) if max_seconds else None,
            shard=shard,
            shards=shards,
        )

    def _mns_json(self, value: dict[str, Any]) -> TriggerEvent:
        message = value.get("Message")
        if not isinstance(message, str):
            raise InvalidEvent(f"MNS message 'Message' must be a string, got {_describe(message)}")
        requests, rejections = self._body(message, "MNS message body")
        published: Any = value.get("PublishTime")  # ms since the epoch: the task's announcement
        if _whole(published) and published > 0:
            requests = [replace(r, published_at=published / 1000.0) for r in requests]
        return self._event(TriggerKind.MNS_JSON, requests, rejections)

    def _mns_stream(self, value: dict[str, Any]) -> TriggerEvent:
        body = value.get("body")
        if not isinstance(body, str):
            raise InvalidEvent(f"STREAM message 'body' must be a string, got {_describe(body)}")
        attrs = value.get("attrs")
        if attrs is not None and not isinstance(attrs, dict):
            raise InvalidEvent(f"STREAM message 'attrs' must be an object, got {_describe(attrs)}")
        requests, rejections = self._body(body, "STREAM message body")
        return self._event(TriggerKind.MNS_STREAM, requests, rejections)

    def _batch(self, value: dict[str, Any]) -> TriggerEvent:
        unknown = set(value) - _BATCH_KEYS
        if unknown:
            raise InvalidEvent(
                f"event has unknown keys {sorted(unknown)[:10]}; with taskIds allowed: {sorted(_BATCH_KEYS)}"
            )
        ids = value["taskIds"]
        if not isinstance(ids, list):
            raise InvalidEvent(f"'taskIds' must be a list of TaskIds, got {_describe(ids)}")
        if not ids:
            raise InvalidEvent("'taskIds' is empty")
        if len(ids) > self.max_tasks:
            raise InvalidEvent(
                f"'taskIds' has {len(ids)} entries; the limit is {self.max_tasks} (MAX_TASKS_PER_EVENT)"
            )
        prefix = self._output_prefix(value.get("outputPrefix"))
        requests: list[TaskRequest] = []
        rejections: list[Rejection] = []
        seen: set[str] = set()
        for position, task_id in enumerate(ids):
            problem = task_id_problem(task_id)
            if problem:
                rejections.append(Rejection(f"taskIds[{position}]: {problem}"))
            elif task_id not in seen:  # the same task twice in one event is collected once
                seen.add(task_id)
                requests.append(TaskRequest(task_id, prefix))
        return self._event(TriggerKind.DIRECT, requests, rejections)

    # --- bodies ---------------------------------------------------------------------------------
    def _body(self, body: str, what: str) -> tuple[list[TaskRequest], list[Rejection]]:
        stripped = body.strip()
        if not stripped:
            raise InvalidEvent(f"{what} is empty")
        if stripped.startswith(("{", "[", '"')):
            value = _loads(stripped, what)
            if value is _NOT_JSON:
                raise InvalidEvent(f"{what} starts like JSON but is not valid JSON")
            if isinstance(value, str):
                return [self._bare_task(value.strip(), what)], []
            if not isinstance(value, dict):
                raise InvalidEvent(
                    f"{what} must be a TaskId or a JSON object with TaskId, got a JSON {_describe(value)}"
                )
            return self._task_object(value, what)
        return [self._bare_task(stripped, what)], []

    def _task_object(
        self, value: dict[str, Any], what: str
    ) -> tuple[list[TaskRequest], list[Rejection]]:
        unknown = set(value) - _TASK_BODY_KEYS
        if unknown:
            names = sorted(repr(k)[:40] for k in unknown)[:10]
            raise InvalidEvent(
                f"{what} has unknown keys {names}; allowed: TaskId (or taskId), outputPrefix"
            )
        if "TaskId" in value and "taskId" in value and value["TaskId"] != value["taskId"]:
            raise InvalidEvent(f"{what} has both TaskId and taskId with different values")
        task_id = value.get("TaskId", value.get("taskId"))
        prefix = self._output_prefix(value.get("outputPrefix"))
        problem = task_id_problem(task_id)
        if problem:
            raise InvalidEvent(f"{what}: {problem}")
        assert isinstance(task_id, str)
        return [TaskRequest(task_id, prefix)], []

    def _bare_task(self, text: str, what: str) -> TaskRequest:
        problem = task_id_problem(text)
        if problem:
            raise InvalidEvent(f"{what} is not JSON and not a valid TaskId: {problem}")
        return TaskRequest(text)

    def _output_prefix(self, prefix: Any) -> str | None:
        if prefix is None:
            return None
        if not isinstance(prefix, str):
            raise InvalidEvent(f"outputPrefix must be a string, got {_describe(prefix)}")
        problem = prefix_problem(prefix)
        if problem:
            raise InvalidEvent(f"outputPrefix {prefix[:80]!r}: {problem}")
        if prefix.startswith(self.state_prefix) or self.state_prefix.startswith(prefix):
            raise InvalidEvent(f"outputPrefix {prefix!r} overlaps the collector's STATE_PREFIX")
        return prefix

    def _event(
        self,
        kind: TriggerKind,
        requests: list[TaskRequest],
        rejections: list[Rejection] | None = None,
    ) -> TriggerEvent:
        return TriggerEvent(
            kind=kind, tasks=tuple(requests), rejections=tuple(rejections or ()), raw=self.raw
        )
