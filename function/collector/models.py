"""Domain models: what a task request, a batch result and an outcome are. No SDK types here."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

TASK_ID_MAX_LENGTH = 128
_TASK_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")


def task_id_problem(value: object) -> str | None:
    """Why `value` cannot be a TaskId (it would end up in OSS keys), or None if it is fine."""
    if not isinstance(value, str):
        return f"TaskId must be a string, got {type(value).__name__}"
    if not value:
        return "TaskId is empty"
    if len(value) > TASK_ID_MAX_LENGTH:
        return f"TaskId is {len(value)} characters long; the limit is {TASK_ID_MAX_LENGTH}"
    if not _TASK_ID.fullmatch(value) or not value.isascii():  # fullmatch: '$' allows a final \n
        return "TaskId may contain only ASCII letters, digits, '-' and '_' (and must start with a letter or digit)"
    return None


class Outcome(str, Enum):
    COPIED = "copied"
    ALREADY_COPIED = "already_copied"
    PENDING = "pending"
    DEAD_LETTERED = "dead_lettered"
    REJECTED = "rejected"
    RETRY = (
        "retry"  # transient failure: recorded as pending, and the invocation fails to be retried
    )


class TriggerKind(str, Enum):
    MNS_JSON = "mns_json"
    MNS_STREAM = "mns_stream"
    DIRECT = "direct"
    TIMER = "timer"


@dataclass(frozen=True)
class TaskRequest:
    task_id: str
    output_prefix: str | None = None  # None: the configured OUTPUT_PREFIX
    # MNS JSON PublishTime (epoch s): when the task was announced. About the delivery, not the
    # task, so two requests for the same task compare equal whenever they were published.
    published_at: float | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Rejection:
    """Part of an event we refuse. `task_id` is set only when it is itself a valid TaskId."""

    reason: str
    task_id: str | None = None


@dataclass(frozen=True)
class SweepOptions:
    max_tasks: int | None = None
    max_seconds: float | None = None
    # Fan-out: this invocation sweeps only the tasks whose stable hash falls in `shard` of `shards`,
    # at a whole share of API_QPS (fanout.shard_qps), and never fans out again.
    shard: int | None = None
    shards: int | None = None


@dataclass(frozen=True)
class TriggerEvent:
    kind: TriggerKind
    tasks: tuple[TaskRequest, ...] = ()
    rejections: tuple[Rejection, ...] = ()
    sweep: SweepOptions | None = None  # set for timer events
    raw: str = ""  # the event text (for dead letters), already bounded in size


class TaskStatus(str, Enum):
    CREATED = "created"
    RUNNING = "running"
    FINISHED = "finished"
    INVALID = "invalid"
    FAILED = "failed"
    UNKNOWN = "unknown"  # an undocumented value: kept pending, never lost

    @classmethod
    def parse(cls, value: object) -> TaskStatus:
        text = str(value or "").strip().lower()
        for status in cls:
            if status.value == text:
                return status
        if text in ("fail", "error", "failure"):
            return cls.FAILED
        return cls.UNKNOWN


@dataclass(frozen=True)
class ImageResult:
    index: int
    source_image_url: str | None
    final_image_url: str | None
    in_painting_url: str | None
    template_json: str | None
    code: Any
    message: str | None
    success: bool


@dataclass(frozen=True)
class BatchResult:
    status: TaskStatus
    raw_status: str
    request_id: str | None
    images: tuple[ImageResult, ...] = ()


@dataclass(frozen=True)
class ListedObject:
    key: str
    size: int
    last_modified: int


@dataclass(frozen=True)
class StoredObject:
    key: str
    size: int
    crc64: str

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, "size": self.size, "crc64": self.crc64}


@dataclass
class TaskOutcome:
    task_id: str | None
    outcome: Outcome
    code: str | None = None
    reason: str | None = None
    detail: str | None = None
    images: int = 0
    objects_written: int = 0
    bytes_written: int = 0
    timings: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"taskId": self.task_id, "outcome": self.outcome.value}
        if self.code is not None:
            data["code"] = self.code
        if self.reason is not None:
            data["reason"] = self.reason
        if self.outcome in (Outcome.COPIED, Outcome.ALREADY_COPIED):
            data["images"] = self.images
            data["objectsWritten"] = self.objects_written
            data["bytesWritten"] = self.bytes_written
        return data
