"""Fault matrix, platform rows: the invocation killed at the function timeout mid-copy, the same task
delivered three ways at once, MNS redelivery per notifyStrategy and FC async retries ending in the
onFailure destination, through local/runner.py (the real function in an FC-like worker process)."""

from __future__ import annotations

import dataclasses
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from local.cloud import LocalCloud
from local.runner import BACKOFF_INTERVAL_S, FunctionRunner, build_mns_event
from tests.functional.conftest import FAST_ENV
from tests.reliability.support import (
    COPIED,
    DEAD_LETTERED,
    PENDING,
    Harness,
    Invocation,
    SecretWatch,
    account,
    capture,
    check_single_writes,
    from_runner,
    settled_outcomes,
)

RUNNER_TIMEOUT = (
    2  # seconds; a warm invocation's budget is 2 - 0.5 (SAFETY_MARGIN is capped at 1/4)
)
KILL_RETRY_TIMEOUT = 4
SWEEP = {"triggerTime": "2026-11-29T00:00:00Z", "triggerName": "sweep", "payload": ""}


def warm_runner(cloud: LocalCloud, timeout: float) -> FunctionRunner:
    runner: FunctionRunner = cloud.runner(
        timeout_override=timeout, env=dict(FAST_ENV, API_TIMEOUT_SECONDS="5")
    )
    # warm the instance: the cold start counts against FC's timeout too
    assert runner.invoke(SWEEP).ok
    return runner


@pytest.fixture
def runner(cloud: LocalCloud) -> Iterator[FunctionRunner]:
    with warm_runner(cloud, RUNNER_TIMEOUT) as r:
        yield r


@pytest.fixture
def roomy_runner(cloud: LocalCloud) -> Iterator[FunctionRunner]:
    """For retries after a kill: the retry cold-starts (about a second) inside its timeout."""
    with warm_runner(cloud, KILL_RETRY_TIMEOUT) as r:
        yield r


def runs(results: list[Any], watch: SecretWatch) -> list[Invocation]:
    return [from_runner(result, watch) for result in results]


def make_due(h: Harness, task_id: str) -> None:
    record = h.json_object(f"collector/pending/{task_id}.json")
    assert record is not None
    record["nextCheck"] = "2000-01-01T00:00:00.000Z"
    h.cloud.bucket().put_object(f"collector/pending/{task_id}.json", json.dumps(record))


# --- killed at the timeout -----------------------------------------------------------------------
def test_killed_at_the_function_timeout_mid_copy_then_redelivered(
    h: Harness, watch: SecretWatch
) -> None:
    cloud = h.cloud
    task_id = h.make_task(images=4, image_size=100_000)
    # image 3 trickles (5 s): the copy is in flight when FC kills the instance at 2.5 s, and the
    # function does not stop itself first (no safety margin, and it is told the timeout is 3 s)
    cloud.images.inject(f"{task_id}/3-final*", "slow:20000", count=None)
    env = dict(FAST_ENV, SAFETY_MARGIN_SECONDS="0", WAIT_BUDGET_SECONDS="0")
    with cloud.runner(timeout_override=2.5, env=env) as fc:
        assert fc.invoke(SWEEP).ok  # warm
        killed = fc.invoke({"taskId": task_id})
        assert killed.timed_out and not killed.ok
        from_runner(killed, watch)
        before = {
            k: cloud.oss.put_count(cloud.bucket_name, k) for k in h.object_keys("translated/")
        }
        assert f"translated/{task_id}/003-final.png" not in before, "the torn upload left nothing"
        assert f"translated/{task_id}/000-final.png" in before, "the kill came mid-copy"
        assert account(h, task_id) == PENDING, "intake made the task durable before the copy"
        assert cloud.oss.temp_files(cloud.bucket_name) == []

        cloud.images.clear_faults()
        redelivered = fc.invoke({"taskId": task_id})  # FC async retry / MNS retry
    again = from_runner(redelivered, watch)
    assert again.error is None, again.error
    assert account(h, task_id, [again]) == COPIED
    after = check_single_writes(h, task_id)
    for key, writes in before.items():
        assert after[key] == writes == 1, f"{key} was written again after the kill"
    assert after[f"translated/{task_id}/003-final.png"] == 1


# --- one task, three deliveries at once ------------------------------------------------------------
@pytest.mark.parametrize("round_", range(3))
def test_same_task_delivered_by_mns_direct_and_sweep_at_once(h: Harness, round_: int) -> None:
    cloud = h.cloud
    task_id = h.make_task(images=3, polls_until_finished=10_000)
    first = h.invoke({"taskId": task_id})
    assert account(h, task_id, [first]) == PENDING
    cloud.alimt.finish_task(task_id)
    make_due(h, task_id)
    cloud.images.inject(f"{task_id}/*", "ttfb:0.15", count=None)  # so the copies overlap

    mns = build_mns_event(
        "JSON",
        json.dumps({"TaskId": task_id}),
        topic_owner="1234567890123456",
        topic_name="alimt-translate-tasks",
        subscription_name="fc-alimt-result-collector-tasks",
    )
    events: list[Any] = [mns, {"taskId": task_id}, SWEEP]
    h.load()
    contexts = [h.context() for _ in events]
    results: list[Invocation | None] = [None] * len(events)
    barrier = threading.Barrier(len(events))

    def deliver(slot: int) -> None:
        barrier.wait()
        results[slot] = h.call(events[slot], contexts[slot])

    with capture() as out:
        threads = [threading.Thread(target=deliver, args=(i,)) for i in range(len(events))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
    outcomes = settled_outcomes(h, results, out.getvalue(), task_id, expected=3)
    done = [r for r in results if r is not None]
    assert outcomes.count("copied") == 1, outcomes
    assert set(outcomes) <= {"copied", "already_copied"}, outcomes
    assert account(h, task_id, done) == COPIED
    check_single_writes(h, task_id)


# --- MNS ------------------------------------------------------------------------------------------
def test_mns_backoff_retry_redelivers_after_a_kill(
    h: Harness, roomy_runner: FunctionRunner, watch: SecretWatch
) -> None:
    task_id = h.make_task(images=2)
    h.cloud.alimt.script(task_id, ["hang:5"])  # the first attempt is killed waiting for alimt
    roomy_runner.reconfigure_trigger("mns_topic", notifyStrategy="BACKOFF_RETRY")
    delivery = roomy_runner.publish_mns(json.dumps({"TaskId": task_id}))
    attempts = runs(delivery.attempts, watch)
    assert [a.timed_out for a in delivery.attempts] == [True, False]
    assert delivery.consumed
    assert len(delivery.waits_s) == 1
    assert BACKOFF_INTERVAL_S[0] <= delivery.waits_s[0] <= BACKOFF_INTERVAL_S[1]
    assert account(h, task_id, attempts) == COPIED
    check_single_writes(h, task_id)


def test_mns_backoff_retry_gives_up_but_the_task_stays_pending(
    h: Harness, runner: FunctionRunner, watch: SecretWatch
) -> None:
    """alimt fails on every attempt: MNS retries 3 times then drops the message; the task is in the
    pending registry, and the sweep collects it once alimt is back."""
    task_id = h.make_task(images=1)
    h.cloud.alimt.script(task_id, ["http:503"] * 500)
    runner.reconfigure_trigger("mns_topic", notifyStrategy="BACKOFF_RETRY")
    delivery = runner.publish_mns(json.dumps({"TaskId": task_id}))
    attempts = runs(delivery.attempts, watch)
    assert len(attempts) == 4 and not delivery.consumed
    assert all(a.retryable for a in attempts)
    assert len(delivery.waits_s) == 3
    assert account(h, task_id, attempts) == PENDING

    h.cloud.alimt.clear_faults()
    make_due(h, task_id)
    tick = from_runner(runner.tick_timer(), watch)
    assert account(h, task_id, [tick]) == COPIED


def test_mns_exponential_decay_retry(
    h: Harness, runner: FunctionRunner, watch: SecretWatch
) -> None:
    runner.reconfigure_trigger("mns_topic", notifyStrategy="EXPONENTIAL_DECAY_RETRY")
    task_id = h.make_task(images=1)
    h.cloud.alimt.script(task_id, ["http:503"] * 12)  # outlasts a few 1.5 s budgets, not all
    delivery = runner.publish_mns(json.dumps({"TaskId": task_id}), max_retries=20)
    attempts = runs(delivery.attempts, watch)
    assert delivery.consumed and len(attempts) >= 2
    assert delivery.waits_s == [2.0**i for i in range(len(delivery.waits_s))]
    assert account(h, task_id, attempts) == COPIED


def test_mns_message_that_cannot_succeed_is_not_retried(
    h: Harness, runner: FunctionRunner, watch: SecretWatch
) -> None:
    task_id = h.make_task(images=1, fail_task=True)
    delivery = runner.publish_mns(json.dumps({"TaskId": task_id}))
    attempts = runs(delivery.attempts, watch)
    assert delivery.consumed and len(attempts) == 1
    assert account(h, task_id, attempts) == DEAD_LETTERED


def test_mns_stream_message_with_a_bad_body_is_refused_once(
    h: Harness, runner: FunctionRunner, watch: SecretWatch
) -> None:
    runner.spec = dataclasses.replace(
        runner.spec,
        triggers=tuple(
            dataclasses.replace(t, config={**t.config, "notifyContentFormat": "STREAM"})
            if t.type == "mns_topic"
            else t
            for t in runner.spec.triggers
        ),
    )
    delivery = runner.publish_mns("../../etc/passwd", {"x": "y"})
    [attempt] = runs(delivery.attempts, watch)
    assert delivery.consumed and attempt.answer is not None
    assert attempt.answer["counts"]["rejected"] == 1
    assert [k for k in h.object_keys() if "passwd" in k or "etc" in k] == []


# --- FC asynchronous invocation ---------------------------------------------------------------------
def test_async_retries_end_in_on_failure_only_when_transient_past_all_retries(
    h: Harness, runner: FunctionRunner, watch: SecretWatch
) -> None:
    """OSS refuses every write through all 4 attempts: FC sends the event to onFailure. Once OSS is
    back, the event (replayed from that destination) collects the task."""
    task_id = h.make_task(images=1)
    h.cloud.oss.inject("put", "http:503", count=None)
    outcome = runner.invoke_async({"taskId": task_id})
    attempts = runs(outcome.attempts, watch)
    assert len(attempts) == 1 + runner.spec.async_config.max_retry_attempts
    assert all(a.retryable for a in attempts)
    assert outcome.destination == "onFailure" and outcome.condition == "RetriesExhausted"
    assert outcome.record_path is not None
    record = json.loads(outcome.record_path.read_text())
    assert json.loads(record["requestPayload"]) == {"taskId": task_id}, "the event is kept"
    assert task_id in record["responsePayload"]["errorMessage"], "with the reason"
    assert account(h, task_id, attempts) == "platform"

    h.cloud.oss.clear_faults()
    replay = runner.invoke_async(record["requestPayload"])
    assert replay.ok and replay.destination is None
    assert account(h, task_id, runs(replay.attempts, watch)) == COPIED


def test_async_retry_recovers_without_on_failure(
    h: Harness, roomy_runner: FunctionRunner, watch: SecretWatch
) -> None:
    task_id = h.make_task(images=2)
    h.cloud.alimt.script(task_id, ["hang:5"])  # the first attempt is killed waiting for alimt
    outcome = roomy_runner.invoke_async({"taskId": task_id})
    attempts = runs(outcome.attempts, watch)
    assert [a.timed_out for a in outcome.attempts] == [True, False]
    assert outcome.destination is None and outcome.condition == "Success"
    assert account(h, task_id, attempts) == COPIED
    check_single_writes(h, task_id)


@pytest.mark.parametrize("case", ["failed task", "unfinished task"])
def test_async_final_or_pending_outcomes_are_not_retried(
    h: Harness, runner: FunctionRunner, watch: SecretWatch, case: str
) -> None:
    if case == "failed task":
        task_id, want = h.make_task(images=1, fail_task=True), DEAD_LETTERED
    else:
        task_id, want = h.make_task(images=1, polls_until_finished=10_000), PENDING
    outcome = runner.invoke_async({"taskId": task_id})
    attempts = runs(outcome.attempts, watch)
    assert len(attempts) == 1 and outcome.destination is None
    assert account(h, task_id, attempts) == want
