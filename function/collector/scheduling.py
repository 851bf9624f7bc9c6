"""When the collector asks alimt about a task: pure functions of (record, now, config).

Every decision that spends the result API's quota or billed time lives here, so the production code
(collect_task.py, sweep_registry.py, budget.py) and the production-day simulation (bench/day.py) run the very same
policy:

- a young MNS delivery is not polled at once: its first poll is scheduled FIRST_POLL_AFTER_SECONDS
  after the message was published, and the timer sweep makes it (`deferred_first_check`);
- a direct/MNS call that does poll waits in process for up to WAIT_BUDGET_SECONDS, polling every
  POLL_INTERVAL_SECONDS x 1.5 up to 10 s (`wait_budget`, `keep_waiting`, `next_poll_interval`);
- a task still running rests 5 s, 10 s, 20 s ... up to 5 min before the sweep asks again
  (`recheck_delay`, `next_check_after`);
- a sweep that cannot poll everything takes the due tasks oldest first (`sweep_order`): the oldest
  task is the nearest to its results' 1-hour expiry;
- the pacer spaces calls (1 s + margin) / qps apart (`pacer_interval`).
Capacity and fan-out planning are in fanout.py (`capacity`, `plan_shards`, `shard_qps`), also pure.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collector.config import CollectorConfig
    from collector.records import PendingRecord

MAX_POLL_INTERVAL = 10.0
POLL_INTERVAL_GROWTH = 1.5
FIRST_RECHECK_DELAY = 5.0
MAX_RECHECK_DELAY = 300.0  # well inside the 1-hour result retention
# A PublishTime further in the future than this is a clock we do not trust: poll at once.
PUBLISH_CLOCK_SKEW_SECONDS = 60.0


# 5 x 2**6 = 320 s is past MAX_RECHECK_DELAY already; capping the exponent keeps a huge (hand-edited)
# attempts count from overflowing the float.
MAX_RECHECK_EXPONENT = 16


def recheck_delay(attempts: int) -> float:
    """How long a pending task rests before the sweep asks again: 5 s, 10 s, 20 s ... 5 min."""
    exponent = min(max(0, attempts - 1), MAX_RECHECK_EXPONENT)
    return min(FIRST_RECHECK_DELAY * 2.0**exponent, MAX_RECHECK_DELAY)


def next_check_after(attempts: int, now: float) -> float:
    """The record's nextCheck after its `attempts`-th unfinished (or failed) check at `now`."""
    return now + recheck_delay(attempts)


def deferred_first_check(
    published_at: float | None, now: float, config: CollectorConfig
) -> float | None:
    """When the first poll of a task delivered at `now` should happen, if not now.

    An MNS message is published when the task is submitted, so a delivery younger than
    FIRST_POLL_AFTER_SECONDS finds the task still running: polling it spends quota for nothing and
    waiting for it is billed. Such a delivery only registers the task, due at PublishTime +
    FIRST_POLL_AFTER_SECONDS, and the timer sweep makes the first poll. None: poll now (no
    PublishTime, e.g. a direct call; deferral off; or an old message such as a redelivery)."""
    delay = config.first_poll_after_seconds
    if published_at is None or delay <= 0:
        return None
    if published_at > now + PUBLISH_CLOCK_SKEW_SECONDS:
        return None
    first = published_at + delay
    return first if first > now else None


def wait_budget(config: CollectorConfig, wait: bool) -> float:
    """How long a call may wait in process for an unfinished task (0 for the sweep)."""
    return config.wait_budget_seconds if wait else 0.0


def keep_waiting(remaining: float, interval: float) -> bool:
    """Poll once more after sleeping `interval`, with `remaining` seconds of the wait budget left."""
    return remaining >= interval


def next_poll_interval(interval: float) -> float:
    return min(interval * POLL_INTERVAL_GROWTH, MAX_POLL_INTERVAL)


def sweep_order(
    records: Iterable[PendingRecord], now: float, max_tasks: int | None
) -> tuple[list[PendingRecord], int]:
    """The due records a sweep that cannot poll everything works on, oldest first (nearest to
    expiry), at most `max_tasks`; and how many records were not due."""
    listed = list(records)
    due = sorted((r for r in listed if r.next_check <= now), key=lambda r: r.first_seen)
    not_due = len(listed) - len(due)
    return (due[:max_tasks] if max_tasks is not None else due), not_due


def pacer_interval(qps: float, margin_seconds: float) -> float:
    """Calls paced at `qps` are this far apart: qps calls spread over 1 s + margin."""
    return (1.0 + margin_seconds) / qps
