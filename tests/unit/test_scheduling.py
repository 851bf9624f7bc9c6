"""The scheduling policy as pure functions (the production-day simulation drives the same ones)."""

from __future__ import annotations

from dataclasses import replace

from collector.config import CollectorConfig
from collector.events import parse_trigger_event
from collector.records import PendingRecord
from collector.scheduling import (
    deferred_first_check,
    keep_waiting,
    next_check_after,
    next_poll_interval,
    pacer_interval,
    recheck_delay,
    sweep_order,
    wait_budget,
)

CONFIG = CollectorConfig(output_bucket="bucket-name")


def test_recheck_backoff_doubles_from_5_s_to_5_min() -> None:
    assert [recheck_delay(n) for n in range(0, 9)] == [5, 5, 10, 20, 40, 80, 160, 300, 300]


def test_recheck_delay_of_a_huge_attempts_count_is_capped_not_an_overflow() -> None:
    assert recheck_delay(1026) == recheck_delay(10**9) == 300
    assert next_check_after(3, 1000.0) == 1020.0


def test_in_process_wait_schedule() -> None:
    assert wait_budget(CONFIG, True) == 30.0 and wait_budget(CONFIG, False) == 0.0
    intervals, interval, elapsed = [], CONFIG.poll_interval_seconds, 0.0
    while keep_waiting(CONFIG.wait_budget_seconds - elapsed, interval):
        intervals.append(interval)
        elapsed += interval
        interval = next_poll_interval(interval)
    assert intervals == [3.0, 4.5, 6.75, 10.0]  # polls at 0, 3, 7.5, 14.25 and 24.25 s


def test_deferred_first_check() -> None:
    config = replace(CONFIG, first_poll_after_seconds=15.0)
    assert deferred_first_check(1000.0, 1000.1, config) == 1015.0
    assert deferred_first_check(1000.0, 1016.0, config) is None  # old message: poll now
    assert deferred_first_check(None, 1000.0, config) is None  # direct call: poll now
    assert deferred_first_check(5000.0, 1000.0, config) is None  # PublishTime from the future
    assert deferred_first_check(1000.0, 1000.0, CONFIG) is None  # off by default


def test_sweep_order_is_oldest_first_among_due() -> None:
    records = [
        PendingRecord("young", first_seen=30.0, next_check=50.0),
        PendingRecord("old", first_seen=10.0, next_check=50.0),
        PendingRecord("later", first_seen=0.0, next_check=200.0),
        PendingRecord("middle", first_seen=20.0, next_check=60.0),
    ]
    due, not_due = sweep_order(records, 100.0, None)
    assert [r.task_id for r in due] == ["old", "middle", "young"] and not_due == 1
    assert [r.task_id for r in sweep_order(records, 100.0, 2)[0]] == ["old", "middle"]


def test_pacer_interval() -> None:
    assert abs(pacer_interval(5.0, 0.05) - 0.21) < 1e-12


def test_mns_json_publish_time_reaches_the_request() -> None:
    raw = b'{"TopicOwner": "1", "Message": "T-1", "PublishTime": 1735689600000, "MessageId": "m"}'
    [request] = parse_trigger_event(raw).tasks
    assert request.published_at == 1735689600.0
    [direct] = parse_trigger_event(b'{"taskId": "T-1"}').tasks
    assert direct.published_at is None


def test_first_poll_after_is_configurable() -> None:
    env = {"OUTPUT_BUCKET": "bucket-name", "FIRST_POLL_AFTER_SECONDS": "15"}
    assert CollectorConfig.from_env(env).first_poll_after_seconds == 15.0
