"""FIRST_POLL_AFTER_SECONDS: a young MNS delivery registers its task without polling, due at
PublishTime + the delay; the timer sweep makes the first poll. Old messages and direct calls poll."""

from __future__ import annotations

import time

from collector.records import parse_iso
from local.runner import build_mns_event
from tests.functional.conftest import HandlerHarness


def mns_event(task_id: str, published_ms: int) -> bytes:
    return build_mns_event(
        "JSON",
        task_id,
        topic_owner="1234567890123456",
        topic_name="alimt-translate-tasks",
        subscription_name="fc-alimt-result-collector-tasks",
        publish_time_ms=published_ms,
    )


def test_a_young_delivery_is_registered_due_later_without_a_poll(
    collector: HandlerHarness,
) -> None:
    cloud = collector.cloud
    collector.configure(FIRST_POLL_AFTER_SECONDS="20")
    task_id = cloud.alimt.create_task(cloud.add_images("src", 1))  # finished: a poll would copy
    published = time.time()

    answer = collector.invoke(mns_event(task_id, int(published * 1000)))

    assert [r["outcome"] for r in answer["results"]] == ["pending"]
    assert cloud.alimt.calls("GetTranslateImageBatchResult", task_id) == 0
    record = collector.json_object(f"collector/pending/{task_id}.json")
    assert abs(parse_iso(record["nextCheck"], 0.0) - (published + 20)) < 0.01
    sweep = collector.invoke({"triggerTime": "x", "triggerName": "sweep", "payload": ""})
    assert sweep["sweep"]["notDue"] == 1 and sweep["results"] == []


def test_an_old_delivery_or_a_direct_call_polls_at_once(collector: HandlerHarness) -> None:
    cloud = collector.cloud
    collector.configure(FIRST_POLL_AFTER_SECONDS="20")
    old = cloud.alimt.create_task(cloud.add_images("old", 1))
    direct = cloud.alimt.create_task(cloud.add_images("direct", 1))

    late = collector.invoke(mns_event(old, int((time.time() - 21) * 1000)))
    call = collector.invoke({"taskId": direct})

    assert [r["outcome"] for r in late["results"]] == ["copied"]
    assert [r["outcome"] for r in call["results"]] == ["copied"]


def test_zero_polls_every_delivery_at_once(collector: HandlerHarness) -> None:
    cloud = collector.cloud
    collector.configure(FIRST_POLL_AFTER_SECONDS="0")
    task_id = cloud.alimt.create_task(cloud.add_images("src", 1))
    answer = collector.invoke(mns_event(task_id, int(time.time() * 1000)))
    assert [r["outcome"] for r in answer["results"]] == ["copied"]
