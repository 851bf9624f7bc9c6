"""Fan-out of a sweep too big for one invocation: the registry is split into shards by a stable hash
of the TaskId, and each shard is swept by its own invocation of the function, sent through the
platform (an asynchronous self-invocation), never by threads in one instance.

Each shard paces its API calls at a whole share of API_QPS (`shard_qps`), so the account-wide rate
stays under API_QPS.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any, Protocol

from collector.errors import CollectorError

# A sweep plans on this share of its budget for API calls; the rest is listing and stragglers.
CAPACITY_FACTOR = 0.9


class SweepDispatcher(Protocol):
    """Sends sweep events to other invocations of the function (FC async invocation)."""

    def dispatch(self, events: list[dict[str, Any]]) -> None:
        """Send every event or raise CollectorError (DispatchError once some were sent)."""


class DispatchError(CollectorError):
    """Dispatch stopped at a failed event after the first `sent` events went out: those shards are
    being swept elsewhere, so the sweep must keep to its own shard (and its share of the quota)."""

    def __init__(self, cause: CollectorError, sent: int) -> None:
        super().__init__(
            cause.source, cause.code, cause.detail, retry_after_seconds=cause.retry_after_seconds
        )
        self.sent = sent


def shard_of(task_id: str, shards: int, api_qps: float | None = None) -> int:
    """A stable shard for a TaskId: the same in every instance and every run (not `hash()`).

    With `api_qps`, each shard gets a part of the TaskIds in proportion to its whole share of the
    quota (`shard_qps`: e.g. 2, 1, 1, 1 of 5 QPS): the hash picks one of floor(API_QPS) slots and
    slot s belongs to shard s % shards. Every shard then drains its part of a backlog in the same
    time, so the sweep as a whole stays oldest first; with equal shares this is hash % shards."""
    digest = hashlib.sha256(task_id.encode("utf-8")).digest()
    value = int.from_bytes(digest[:8], "big")
    whole = math.floor(api_qps) if api_qps else 0
    if whole >= shards:
        return (value % whole) % shards
    return value % shards


def capacity(qps: float, budget_seconds: float) -> int:
    """How many tasks one sweep can poll in its budget at `qps`."""
    return max(1, int(qps * budget_seconds * CAPACITY_FACTOR))


def plan_shards(registered: int, per_sweep: int, shards_max: int) -> int:
    """How many shards a registry of `registered` tasks needs, at most `shards_max`."""
    if registered <= per_sweep:
        return 1
    return max(1, min(shards_max, math.ceil(registered / per_sweep)))


def shard_qps(api_qps: float, shard: int, shards: int) -> float:
    """The rate shard `shard` of `shards` may poll at. Whole calls per second that add up to
    floor(API_QPS): a pacer at a whole rate m never puts more than m calls into any one second,
    while K pacers at a fractional API_QPS / K each could round up together and exceed the quota."""
    whole = max(1, math.floor(api_qps))
    share = whole // shards + (1 if shard < whole % shards else 0)
    if share == 0:  # more shards than whole calls per second (a hand-made event): best effort
        return api_qps / shards
    return float(share)


def max_shards_for(api_qps: float) -> int:
    """Shards beyond floor(API_QPS) would leave some shard less than one call per second."""
    return max(1, math.floor(api_qps))


def shard_events(
    shards: int, *, max_tasks: int | None = None, max_seconds: float | None = None
) -> list[dict[str, Any]]:
    """The events for shards 1..shards-1 (the sweep that fans out takes shard 0 itself)."""
    events = []
    for shard in range(1, shards):
        sweep: dict[str, Any] = {"shard": shard, "shards": shards}
        if max_tasks is not None:
            sweep["maxTasks"] = max_tasks
        if max_seconds is not None:
            sweep["maxSeconds"] = max_seconds
        events.append({"sweep": sweep})
    return events
