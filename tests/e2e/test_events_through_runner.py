"""End to end: every sample event in events/ through the FC-like runner (a real instance process,
template.yml's configuration, fresh STS credentials per call) against the local cloud."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from collector.events import parse_trigger_event
from local.cloud import LocalCloud
from local.runner import FunctionRunner

EVENTS = Path(__file__).resolve().parents[2] / "events"
FAST = {
    "WAIT_BUDGET_SECONDS": "0.5",
    "POLL_INTERVAL_SECONDS": "0.1",
    "API_QPS": "100",
    "SAFETY_MARGIN_SECONDS": "2",
    "FIRST_POLL_AFTER_SECONDS": "0",  # a delivery polls at once: the tasks are already finished
}


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCloud]:
    with LocalCloud(tmp_path_factory.mktemp("cloud")) as running:
        yield running


@pytest.fixture(scope="module")
def runner(cloud: LocalCloud) -> Iterator[FunctionRunner]:
    with cloud.runner(env=FAST, time_scale=0.0001) as warm:
        yield warm


def seed(cloud: LocalCloud, raw: bytes) -> list[str]:
    """Create (or re-create) the event's TaskIds as finished tasks, with fresh OSS state."""
    task_ids = [t.task_id for t in parse_trigger_event(raw).tasks]
    for task_id in task_ids:
        cloud.alimt.forget_task(task_id) if cloud.alimt.task(task_id) else None
        urls = cloud.add_images(f"src/{task_id}", 2)
        cloud.alimt.create_task(urls, task_id=task_id, need_editor_data=True)
        for key in cloud.oss.list_keys(cloud.bucket_name):
            if task_id in key:
                cloud.bucket().delete_object(key)
    return task_ids


def answer(result: Any) -> dict[str, Any]:
    assert result.ok, result.error
    return result.result if isinstance(result.result, dict) else json.loads(result.result)


@pytest.mark.parametrize(
    "name",
    [
        "direct-single.json",
        "direct-batch.json",
        "mns-json.json",
        "mns-json-attributes.json",
        "mns-stream.json",
        "mns-stream-attributes.json",
    ],
)
def test_each_task_event_collects_its_tasks(
    cloud: LocalCloud, runner: FunctionRunner, name: str
) -> None:
    raw = (EVENTS / name).read_bytes()
    task_ids = seed(cloud, raw)
    assert task_ids, "every sample task event names at least one TaskId"
    result = answer(runner.invoke(raw))
    assert {r["taskId"]: r["outcome"] for r in result["results"]} == dict.fromkeys(
        task_ids, "copied"
    )
    prefix = "custom/" if "outputPrefix" in raw.decode() else "translated/"
    for task_id in task_ids:
        assert cloud.oss.list_keys(cloud.bucket_name, f"{prefix}{task_id}/manifest.json")


def test_bad_event_is_rejected_with_a_dead_letter(
    cloud: LocalCloud, runner: FunctionRunner
) -> None:
    result = answer(runner.invoke((EVENTS / "bad-event.json").read_bytes()))
    [item] = result["results"]
    assert item["outcome"] == "rejected" and "TaskId may contain only" in item["reason"]
    letters = cloud.oss.list_keys(cloud.bucket_name, "collector/dead-letter/rejected/")
    assert letters
    letter = json.loads(cloud.bucket().get_object(letters[-1]).read())
    assert letter["code"] == "BadInput" and letter["taskId"] is None
    assert "../etc/passwd" in letter["event"]  # kept as data, never as a key


def test_timer_event_sweeps_the_registry(cloud: LocalCloud, runner: FunctionRunner) -> None:
    urls = cloud.add_images("src/slow", 1)
    task_id = cloud.alimt.create_task(urls, polls_until_finished=10_000)
    assert answer(runner.invoke({"taskId": task_id}))["results"][0]["outcome"] == "pending"
    cloud.alimt.finish_task(task_id)
    record_key = f"collector/pending/{task_id}.json"
    record = json.loads(cloud.bucket().get_object(record_key).read())
    cloud.bucket().put_object(
        record_key, json.dumps({**record, "nextCheck": "2000-01-01T00:00:00.000Z"})
    )

    result = answer(runner.invoke((EVENTS / "timer.json").read_bytes()))
    assert result["trigger"] == "timer"
    assert {r["taskId"]: r["outcome"] for r in result["results"]}[task_id] == "copied"
    assert not cloud.oss.list_keys(cloud.bucket_name, record_key)


def test_mns_json_and_stream_deliveries_from_the_topic(
    cloud: LocalCloud, runner: FunctionRunner
) -> None:
    [first] = seed(cloud, b"1A2B3C4D-0000-4000-8000-000000000001")
    delivery = runner.publish_mns(first, attributes={"origin": "test"})
    assert delivery.consumed and len(delivery.attempts) == 1
    assert answer(delivery.attempts[0])["trigger"] == "mns_json"

    [second] = seed(cloud, b"1A2B3C4D-0000-4000-8000-000000000002")
    try:
        runner.reconfigure_trigger("mns_topic", notifyContentFormat="STREAM")
        delivery = runner.publish_mns(json.dumps({"TaskId": second}), attributes={"a": "b"})
    finally:
        runner.reconfigure_trigger("mns_topic", notifyContentFormat="JSON")
    assert delivery.consumed
    assert answer(delivery.attempts[0])["results"][0]["outcome"] == "copied"


def test_transient_failure_is_retried_by_mns_until_it_succeeds(
    cloud: LocalCloud, runner: FunctionRunner
) -> None:
    [task_id] = seed(cloud, b"1A2B3C4D-0000-4000-8000-000000000003")
    # The API fails longer than one invocation's in-process retries allow (a 3 s function
    # timeout leaves room for at most 5 attempts), then recovers.
    cloud.alimt.script(task_id, ["http:503"] * 6)
    env = {**FAST, "SAFETY_MARGIN_SECONDS": "1"}
    with cloud.runner(env=env, time_scale=0.0001, timeout_override=3) as short:
        delivery = short.publish_mns(task_id)
    assert delivery.consumed
    assert not delivery.attempts[0].ok
    assert "kept pending" in delivery.attempts[0].error["errorMessage"]
    assert answer(delivery.attempts[-1])["results"][0]["outcome"] == "copied"


def test_async_invocation_ends_in_on_failure_only_for_lasting_transient_errors(
    cloud: LocalCloud,
) -> None:
    [task_id] = seed(cloud, b"1A2B3C4D-0000-4000-8000-000000000004")
    cloud.alimt.script(task_id, ["http:503"] * 100_000)
    with cloud.runner(env=FAST, time_scale=0.0001, timeout_override=4) as short:
        outcome = short.invoke_async({"taskId": task_id})
    assert outcome.destination == "onFailure"
    assert len(outcome.attempts) == 4  # the first call and maxAsyncRetryAttempts=3 retries
    record = json.loads(Path(outcome.record_path).read_text())
    assert json.loads(record["requestPayload"]) == {"taskId": task_id}
    # ...and the task is still in the pending registry: the sweep carries it on regardless
    assert cloud.oss.list_keys(cloud.bucket_name, f"collector/pending/{task_id}.json")
    cloud.alimt.script(task_id, [])

    # a final error is dead-lettered and the invocation succeeds: no pointless retries
    [final_id] = seed(cloud, b"1A2B3C4D-0000-4000-8000-000000000005")
    cloud.alimt.script(final_id, ["code:105"])
    with cloud.runner(env=FAST, time_scale=0.0001) as warm:
        outcome = warm.invoke_async({"taskId": final_id})
    assert outcome.destination is None and len(outcome.attempts) == 1
    assert cloud.oss.list_keys(cloud.bucket_name, f"collector/dead-letter/{final_id}.json")


def test_sweep_shard_event_sweeps_only_its_shard(cloud: LocalCloud, runner: FunctionRunner) -> None:
    result = answer(runner.invoke((EVENTS / "sweep-shard.json").read_bytes()))
    assert result["trigger"] == "timer"
    assert (result["sweep"]["shard"], result["sweep"]["shards"]) == (1, 4)
    assert result["sweep"]["dispatched"] == 0  # a shard never fans out again
