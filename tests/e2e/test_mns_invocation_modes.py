"""The retry story holds however the MNS topic trigger invokes the function: synchronously (MNS
redelivers per notifyStrategy) or asynchronously (FC retries per asyncInvokeConfig, then onFailure).
Either way the pending registry, not the message, carries the task to the end."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from local.cloud import LocalCloud

FAST = {
    "WAIT_BUDGET_SECONDS": "0.5",
    "POLL_INTERVAL_SECONDS": "0.1",
    "API_QPS": "100",
    "SAFETY_MARGIN_SECONDS": "1",
    # these tests are about retries: poll at once (template.yml defers a young MNS delivery 15 s)
    "FIRST_POLL_AFTER_SECONDS": "0",
}
MODES = ["sync", "async"]


@pytest.fixture
def cloud(tmp_path: Path) -> Iterator[LocalCloud]:
    with LocalCloud(tmp_path / "cloud") as running:
        yield running


def finished_task(cloud: LocalCloud) -> str:
    return str(cloud.alimt.create_task(cloud.add_images("src/mns", 1)))


def answer(result: Any) -> dict[str, Any]:
    assert result.ok, result.error
    return result.result if isinstance(result.result, dict) else json.loads(result.result)


def outcome_of(result: Any, task_id: str) -> str:
    return {r["taskId"]: r["outcome"] for r in answer(result)["results"]}[task_id]


@pytest.mark.parametrize("mode", MODES)
def test_a_transient_failure_longer_than_one_call_is_retried_until_copied(
    cloud: LocalCloud, mode: str
) -> None:
    task_id = finished_task(cloud)
    # Longer than one invocation's in-process retries (3 s timeout), shorter than the retries.
    cloud.alimt.script(task_id, ["http:503"] * 6)
    with cloud.runner(
        env=FAST, time_scale=0.0001, timeout_override=3, mns_invocation=mode
    ) as runner:
        delivery = runner.publish_mns(task_id)
    assert delivery.mode == mode
    assert not delivery.attempts[0].ok
    assert "kept pending" in delivery.attempts[0].error["errorMessage"]
    assert outcome_of(delivery.attempts[-1], task_id) == "copied"
    assert delivery.consumed
    if mode == "async":
        assert delivery.async_outcome is not None
        assert delivery.async_outcome.condition == "Success"
        assert delivery.async_outcome.destination is None  # no onSuccess configured
    assert cloud.oss.list_keys(cloud.bucket_name, f"translated/{task_id}/manifest.json")


@pytest.mark.parametrize("mode", MODES)
def test_when_the_platform_gives_up_the_registry_still_holds_the_task(
    cloud: LocalCloud, mode: str
) -> None:
    task_id = finished_task(cloud)
    cloud.alimt.script(task_id, ["http:503"] * 100_000)
    with cloud.runner(
        env=FAST, time_scale=0.0001, timeout_override=3, mns_invocation=mode
    ) as runner:
        runner.reconfigure_trigger("mns_topic", notifyStrategy="BACKOFF_RETRY")
        delivery = runner.publish_mns(task_id)
        assert not any(a.ok for a in delivery.attempts)
        if mode == "sync":  # MNS: the first push and BACKOFF_RETRY's 3 retries, then dropped
            assert len(delivery.attempts) == 4 and not delivery.consumed
        else:  # FC: the first call and maxAsyncRetryAttempts=3 retries, then onFailure
            outcome = delivery.async_outcome
            assert outcome is not None and len(outcome.attempts) == 4
            assert (outcome.destination, outcome.condition) == ("onFailure", "RetriesExhausted")
            record = json.loads(Path(str(outcome.record_path)).read_text())
            assert record["requestPayload"] == delivery.event.decode()
        record_key = f"collector/pending/{task_id}.json"
        assert cloud.oss.list_keys(cloud.bucket_name, record_key)

        # alimt recovers; the next timer sweep finishes the task from the registry.
        cloud.alimt.clear_faults()
        record = json.loads(cloud.bucket().get_object(record_key).read())
        cloud.bucket().put_object(
            record_key, json.dumps({**record, "nextCheck": "2000-01-01T00:00:00.000Z"})
        )
        assert outcome_of(runner.tick_timer(), task_id) == "copied"
    assert not cloud.oss.list_keys(cloud.bucket_name, record_key)
