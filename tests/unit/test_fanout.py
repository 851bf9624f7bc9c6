"""Sweep fan-out planning (collector/fanout.py), the direct sweep event, and the pacer's margin."""

from __future__ import annotations

import json
import time
from collections import Counter

import pytest

from collector.budget import QUOTA_JITTER_MARGIN_SECONDS, RateLimiter, shared_limiter
from collector.errors import InvalidEvent
from collector.events import parse_trigger_event
from collector.fanout import (
    capacity,
    max_shards_for,
    plan_shards,
    shard_events,
    shard_of,
    shard_qps,
)
from collector.models import TriggerKind


def test_shard_of_is_stable_in_range_and_spreads_the_ids() -> None:
    ids = [f"TASK-{i:05d}-ABCDEF" for i in range(2000)]
    shards = [shard_of(task_id, 4) for task_id in ids]
    assert shards == [shard_of(task_id, 4) for task_id in ids]  # same answer every time
    counts = Counter(shards)
    assert set(counts) == {0, 1, 2, 3}
    assert all(400 <= n <= 600 for n in counts.values()), counts
    assert shard_of("any", 1) == 0


def test_capacity_and_plan() -> None:
    assert capacity(5.0, 50.0) == 225  # 90% of QPS x budget
    assert plan_shards(225, 225, 8) == 1
    assert plan_shards(226, 225, 8) == 2
    assert plan_shards(2000, 225, 8) == 8  # capped by SWEEP_SHARDS_MAX
    assert plan_shards(2000, 225, 1) == 1


def test_shard_events_parse_back_as_sweeps_of_one_shard() -> None:
    events = shard_events(3, max_tasks=100, max_seconds=40)
    assert [e["sweep"]["shard"] for e in events] == [1, 2]
    for event in events:
        trigger = parse_trigger_event(json.dumps(event).encode())
        assert trigger.kind is TriggerKind.TIMER and trigger.sweep is not None
        assert trigger.sweep.shards == 3 and trigger.sweep.shard == event["sweep"]["shard"]
        assert (trigger.sweep.max_tasks, trigger.sweep.max_seconds) == (100, 40.0)


@pytest.mark.parametrize(
    "sweep",
    [
        {"shard": 0},
        {"shards": 2},
        {"shard": 2, "shards": 2},
        {"shard": -1, "shards": 2},
        {"shard": 0, "shards": 0},
        {"shard": 0, "shards": 1000},
        {"shard": True, "shards": 2},
        {"shard": 0, "shards": "2"},
        {"shard": 0, "shards": 2, "fanout": True},
    ],
)
def test_bad_sweep_events_are_refused(sweep: dict[str, object]) -> None:
    with pytest.raises(InvalidEvent):
        parse_trigger_event(json.dumps({"sweep": sweep}).encode())


def test_rate_limiter_keeps_the_jitter_margin() -> None:
    limiter = RateLimiter(100.0)
    started = time.monotonic()
    for _ in range(11):
        assert limiter.acquire()
    elapsed = time.monotonic() - started
    # 10 intervals of (1 s + margin) / qps: never faster than the quota allows
    assert elapsed >= 10 * (1.0 + QUOTA_JITTER_MARGIN_SECONDS) / 100.0 - 0.001
    assert limiter.qps == 100.0


def test_shared_limiter_is_one_per_rate() -> None:
    assert shared_limiter(7.0) is shared_limiter(7.0)
    assert shared_limiter(7.0) is not shared_limiter(3.5)


@pytest.mark.parametrize(
    ("qps", "shards"), [(5, 1), (5, 2), (5, 3), (5, 4), (5, 5), (8, 3), (50, 4), (7.5, 2)]
)
def test_shard_rates_are_whole_and_add_up_to_the_quota(qps: float, shards: int) -> None:
    rates = [shard_qps(qps, shard, shards) for shard in range(shards)]
    assert all(rate == int(rate) and rate >= 1 for rate in rates)
    assert sum(rates) == int(qps)  # a whole-rate pacer puts at most `rate` calls into any second


def test_no_more_shards_than_whole_calls_per_second() -> None:
    assert max_shards_for(5) == 5 and max_shards_for(2.5) == 2 and max_shards_for(0.5) == 1


def test_shards_get_task_ids_in_proportion_to_their_share_of_the_quota() -> None:
    ids = [f"task-{i}" for i in range(20_000)]
    # 5 QPS over 4 shards: shares 2, 1, 1, 1, so shard 0 gets 40% of the ids and drains its part
    # of a backlog as fast as the others drain theirs
    counts = [0] * 4
    for task_id in ids:
        counts[shard_of(task_id, 4, 5.0)] += 1
    shares = [shard_qps(5.0, shard, 4) for shard in range(4)]
    for count, share in zip(counts, shares, strict=True):
        assert abs(count / len(ids) - share / 5.0) < 0.02
    # equal shares: the same split as the plain hash
    assert all(shard_of(t, 4, 8.0) == shard_of(t, 4) for t in ids[:500])
    assert all(shard_of(t, 6, 5.0) == shard_of(t, 6) for t in ids[:500])  # fewer whole calls
