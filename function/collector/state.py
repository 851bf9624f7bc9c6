"""The collector's durable state in OSS: the pending registry, dead letters and manifests.

Layout (README "OSS layout"):
  <STATE_PREFIX>pending/<TaskId>.json       a task we know of that is not collected yet
  <STATE_PREFIX>dead-letter/<TaskId>.json   a task that cannot be collected, and why
  <OUTPUT_PREFIX><TaskId>/manifest.json     written last: its presence means "collected"
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from collector.errors import ObjectAlreadyExists
from collector.layout import KeyLayout
from collector.object_store import ObjectStore
from collector.redaction import redact, redact_value

MAX_STORED_EVENT_CHARS = 16384


def iso(epoch: float) -> str:
    return (
        datetime.fromtimestamp(epoch, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    )


def parse_iso(text: Any, default: float) -> float:
    if not isinstance(text, str):
        return default
    try:
        return (
            datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ")
            .replace(tzinfo=timezone.utc)
            .timestamp()
        )
    except ValueError:
        try:
            return (
                datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ")
                .replace(tzinfo=timezone.utc)
                .timestamp()
            )
        except ValueError:
            return default


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
        now = time.time()
        prefix = data.get("outputPrefix")
        attempts = data.get("attempts")
        return cls(
            task_id=task_id,
            first_seen=parse_iso(data.get("firstSeen"), now),
            attempts=attempts if isinstance(attempts, int) and attempts >= 0 else 0,
            last_status=str(data.get("lastStatus") or "unknown"),
            last_code=data.get("lastCode") if isinstance(data.get("lastCode"), str) else None,
            last_error=data.get("lastError") if isinstance(data.get("lastError"), str) else None,
            last_check=parse_iso(data.get("lastCheck"), 0.0) or None,
            next_check=parse_iso(data.get("nextCheck"), 0.0),
            output_prefix=prefix if isinstance(prefix, str) else None,
            trigger=data.get("trigger") if isinstance(data.get("trigger"), str) else None,
        )


class PendingRegistry:
    def __init__(self, store: ObjectStore, layout: KeyLayout) -> None:
        self._store = store
        self._layout = layout

    def get(self, task_id: str) -> PendingRecord | None:
        data = self._store.get_json(self._layout.pending_key(task_id))
        return PendingRecord.from_json(task_id, data) if data is not None else None

    def create(self, record: PendingRecord) -> bool:
        """Record a newly seen task. False if a record already exists (another delivery made it)."""
        try:
            self._store.put_json(
                self._layout.pending_key(record.task_id), record.to_json(), forbid_overwrite=True
            )
        except ObjectAlreadyExists:
            return False
        return True

    def save(self, record: PendingRecord) -> None:
        self._store.put_json(self._layout.pending_key(record.task_id), record.to_json())

    def remove(self, task_id: str) -> None:
        self._store.delete(self._layout.pending_key(task_id))

    def list_task_ids(self) -> list[str]:
        ids = []
        for obj in self._store.list(self._layout.pending_prefix):
            task_id = self._layout.task_id_from_pending_key(obj.key)
            if task_id:
                ids.append(task_id)
        return ids


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
            "deadLetteredAt": iso(time.time()),
            "outputPrefix": self.output_prefix,
            "rule": self.rule,
            "event": event,
            **({"partialObjects": self.partial_objects} if self.task_id is not None else {}),
        }


class DeadLetterStore:
    def __init__(self, store: ObjectStore, layout: KeyLayout) -> None:
        self._store = store
        self._layout = layout

    def put(self, letter: DeadLetter, raw_event_for_key: str | None = None) -> str:
        if letter.task_id is not None:
            key = self._layout.dead_letter_key(letter.task_id)
        else:
            key = self._layout.rejected_key(raw_event_for_key or letter.event or "")
        self._store.put_json(key, letter.to_json())
        return key

    def create(self, letter: DeadLetter) -> bool:
        """Dead-letter a task once (`x-oss-forbid-overwrite`): when two deliveries reach a final
        verdict, the first letter stands. False if one was already there."""
        assert letter.task_id is not None
        try:
            self._store.put_json(
                self._layout.dead_letter_key(letter.task_id),
                letter.to_json(),
                forbid_overwrite=True,
            )
        except ObjectAlreadyExists:
            return False
        return True

    def get(self, task_id: str) -> dict[str, Any] | None:
        return self._store.get_json(self._layout.dead_letter_key(task_id))

    def remove(self, task_id: str) -> None:
        self._store.delete(self._layout.dead_letter_key(task_id))


class ManifestStore:
    def __init__(self, store: ObjectStore, layout: KeyLayout) -> None:
        self._store = store
        self._layout = layout

    def exists(self, task_id: str, output_prefix: str | None) -> bool:
        return self._store.exists(self._layout.manifest_key(task_id, output_prefix))

    def get(self, task_id: str, output_prefix: str | None) -> dict[str, Any] | None:
        return self._store.get_json(self._layout.manifest_key(task_id, output_prefix))

    def create(self, task_id: str, output_prefix: str | None, manifest: dict[str, Any]) -> bool:
        """Write the manifest once. False if another delivery wrote it first."""
        try:
            self._store.put_json(
                self._layout.manifest_key(task_id, output_prefix),
                redact_value(manifest),
                forbid_overwrite=True,
            )
        except ObjectAlreadyExists:
            return False
        return True
