"""The collector's durable records, typed: a pending record, a dead letter and a manifest.

Each is a dataclass with `to_json` (the document stored in OSS, README "OSS layout") and `from_json`
(tolerant of hand edits: a field of the wrong type falls back to its default). Where each is built:
PendingRecord in `PendingRecord.received` (a new task; `submit` in ops), `replacing_corrupt` (the
sweep) and `redriven` (ops); DeadLetter in `collect_task` (a task) and `reject_event` (an event), the
use case that reached the verdict; Manifest in `Manifest.for_copy`. Which key each
one lives under is layout.py's business alone.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from collector.redaction import redact, redact_value

MAX_STORED_EVENT_CHARS = 16384


def iso(epoch: float) -> str:
    return (
        datetime.fromtimestamp(epoch, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    )


def parse_iso(text: Any, default: float) -> float:
    if not isinstance(text, str):
        return default
    for shape in ("%Y-%m-%dT%H:%M:%S.%fZ", "%Y-%m-%dT%H:%M:%SZ"):
        try:
            return datetime.strptime(text, shape).replace(tzinfo=timezone.utc).timestamp()
        except ValueError:
            continue
    return default


def _text(data: dict[str, Any], name: str) -> str | None:
    value = data.get(name)
    return value if isinstance(value, str) else None


@dataclass
class PendingRecord:
    task_id: str
    first_seen: float
    attempts: int = 0
    last_status: str = "received"
    last_code: str | None = None
    last_error: str | None = None
    last_check: float | None = None
    next_check: float = 0.0
    output_prefix: str | None = None
    trigger: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def received(
        cls,
        task_id: str,
        *,
        now: float,
        output_prefix: str | None,
        trigger: str,
        due: float,
        status: str = "received",
    ) -> PendingRecord:
        """A task seen for the first time (intake; `submit` in ops)."""
        record = cls(task_id, now, last_status=status, next_check=due)
        record.output_prefix, record.trigger = output_prefix, trigger
        return record

    @classmethod
    def replacing_corrupt(cls, task_id: str, *, now: float) -> PendingRecord:
        """A record that could not be read (not our JSON): the task keeps going, due now, with a
        fresh lifetime (the TaskId in its key is all it needs)."""
        return cls(task_id, first_seen=now)

    @classmethod
    def redriven(cls, letter: DeadLetter, *, task_id: str, now: float) -> PendingRecord:
        """A dead letter moved back to pending by an operator: a fresh lifetime, due now."""
        return cls(
            task_id=task_id,
            first_seen=now,
            attempts=0,
            last_status="redriven",
            last_code=f"dead-letter:{letter.code}",
            next_check=now,
            output_prefix=letter.output_prefix,
            trigger="redrive",
        )

    def checked(
        self, now: float, next_check: float, *, status: str, code: str | None, error: str | None
    ) -> None:
        """One more check that did not end the task (still running, or a transient failure)."""
        self.attempts += 1
        self.last_status = status
        self.last_code = code
        self.last_error = error
        self.last_check = now
        self.next_check = next_check

    def to_json(self) -> dict[str, Any]:
        return {
            "taskId": self.task_id,
            "firstSeen": iso(self.first_seen),
            "attempts": self.attempts,
            "lastStatus": self.last_status,
            "lastCode": self.last_code,
            "lastError": redact(self.last_error) if self.last_error else None,
            "lastCheck": iso(self.last_check) if self.last_check else None,
            "nextCheck": iso(self.next_check),
            "outputPrefix": self.output_prefix,
            "trigger": self.trigger,
        }

    @classmethod
    def from_json(cls, task_id: str, data: dict[str, Any]) -> PendingRecord:
        attempts = data.get("attempts")
        return cls(
            task_id=task_id,
            first_seen=parse_iso(data.get("firstSeen"), time.time()),
            attempts=attempts if isinstance(attempts, int) and attempts >= 0 else 0,
            last_status=str(data.get("lastStatus") or "unknown"),
            last_code=_text(data, "lastCode"),
            last_error=_text(data, "lastError"),
            last_check=parse_iso(data.get("lastCheck"), 0.0) or None,
            next_check=parse_iso(data.get("nextCheck"), 0.0),
            output_prefix=_text(data, "outputPrefix"),
            trigger=_text(data, "trigger"),
        )


@dataclass
class DeadLetter:
    task_id: str | None
    code: str
    reason: str
    message: str
    request_id: str
    redrivable: bool
    attempts: int
    first_seen: float
    event: str | None = None
    output_prefix: str | None = None
    rule: str | None = None
    # objects already copied under the task's prefix when it was dead-lettered: {key, size}
    partial_objects: list[dict[str, Any]] = field(default_factory=list)
    dead_lettered_at: float | None = None  # None: now, when written

    def to_json(self) -> dict[str, Any]:
        event: Any = None
        if self.event is not None:
            event = redact(self.event[:MAX_STORED_EVENT_CHARS])
        return {
            "taskId": self.task_id,
            "code": self.code,
            "reason": self.reason,
            "message": redact(self.message),
            "requestId": self.request_id,
            "redrivable": self.redrivable,
            "attempts": self.attempts,
            "firstSeen": iso(self.first_seen),
            "deadLetteredAt": iso(
                self.dead_lettered_at if self.dead_lettered_at is not None else time.time()
            ),
            "outputPrefix": self.output_prefix,
            "rule": self.rule,
            "event": event,
            **({"partialObjects": self.partial_objects} if self.task_id is not None else {}),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DeadLetter:
        attempts = data.get("attempts")
        partial = data.get("partialObjects")
        return cls(
            task_id=_text(data, "taskId"),
            code=str(data.get("code")),
            reason=str(data.get("reason") or ""),
            message=str(data.get("message") or ""),
            request_id=str(data.get("requestId") or ""),
            redrivable=data.get("redrivable") is True,
            attempts=attempts if isinstance(attempts, int) else 0,
            first_seen=parse_iso(data.get("firstSeen"), 0.0),
            event=_text(data, "event"),
            output_prefix=_text(data, "outputPrefix"),
            rule=_text(data, "rule"),
            partial_objects=list(partial) if isinstance(partial, list) else [],
            dead_lettered_at=parse_iso(data.get("deadLetteredAt"), 0.0),
        )


@dataclass
class Manifest:
    """`<OUTPUT_PREFIX><TaskId>/manifest.json`, written last: its presence means "collected"."""

    task_id: str
    status: str  # "finished" or "finished_with_errors"
    collected_at: float
    output_prefix: str  # the task's own prefix, `<OUTPUT_PREFIX><TaskId>/`
    request_id: str
    api_request_id: str | None
    image_count: int
    failed_count: int
    images: list[dict[str, Any]]

    @classmethod
    def for_copy(
        cls,
        task_id: str,
        *,
        task_prefix: str,
        now: float,
        request_id: str,
        api_request_id: str | None,
        images: list[dict[str, Any]],
        failed: int,
    ) -> Manifest:
        return cls(
            task_id=task_id,
            status="finished_with_errors" if failed else "finished",
            collected_at=now,
            output_prefix=task_prefix,
            request_id=request_id,
            api_request_id=api_request_id,
            image_count=len(images),
            failed_count=failed,
            images=images,
        )

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = redact_value(
            {
                "taskId": self.task_id,
                "status": self.status,
                "collectedAt": iso(self.collected_at),
                "outputPrefix": self.output_prefix,
                "requestId": self.request_id,
                "apiRequestId": self.api_request_id,
                "imageCount": self.image_count,
                "failedCount": self.failed_count,
                "images": self.images,
            }
        )
        return document

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Manifest:
        images = data.get("images")
        count, failed = data.get("imageCount"), data.get("failedCount")
        return cls(
            task_id=str(data.get("taskId") or ""),
            status=str(data.get("status") or ""),
            collected_at=parse_iso(data.get("collectedAt"), 0.0),
            output_prefix=str(data.get("outputPrefix") or ""),
            request_id=str(data.get("requestId") or ""),
            api_request_id=_text(data, "apiRequestId"),
            image_count=count if isinstance(count, int) else 0,
            failed_count=failed if isinstance(failed, int) else 0,
            images=list(images) if isinstance(images, list) else [],
        )
