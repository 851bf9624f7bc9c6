"""Sharded sweeps (fan-out) through the real handler and wiring, against the local cloud."""

from __future__ import annotations

import json
import time
from types import SimpleNamespace
from typing import Any

from collector.config import CollectorConfig
from collector.events import parse_trigger_event
from collector.fanout import shard_of
from collector.layout import KeyLayout
from collector.records import PendingRecord
from local.cloud import LocalCloud
from tests.functional.conftest import FAST_ENV, HandlerHarness

LAYOUT = KeyLayout("translated/", "collector/")


def register(cloud: LocalCloud, count: int, *, due: bool = True) -> list[str]:
    """Finished tasks with pending records written straight into OSS (as if seen earlier)."""
    now = time.time()
    bucket = cloud.bucket()
    task_ids = []
    for i in range(count):
        task_id = cloud.alimt.create_task(cloud.add_images(f"shard{i}", 1), need_editor_data=False)
        record = PendingRecord(
            task_id, first_seen=now - 60, next_check=now - 1 if due else now + 3600
        )
        bucket.put_object(LAYOUT.pending_key(task_id), json.dumps(record.to_json()).encode())
        task_ids.append(task_id)
    return task_ids


def test_each_shard_sweeps_only_its_own_tasks(collector: HandlerHarness) -> None:
    task_ids = register(collector.cloud, 8)
    collected: list[str] = []
    for shard in (0, 1):
        answer = collector.invoke({"sweep": {"shard": shard, "shards": 2}})
        mine = sorted(r["taskId"] for r in answer["results"])
        assert mine == sorted(t for t in task_ids if shard_of(t, 2) == shard)
        assert {r["outcome"] for r in answer["results"]} <= {"copied"}
        assert answer["sweep"]["shards"] == 2 and answer["sweep"]["dispatched"] == 0
        collected += mine
    assert sorted(collected) == sorted(task_ids)
    assert collector.list_keys("collector/pending/") == []


class RecordingDispatcher:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def dispatch(self, events: list[dict[str, Any]]) -> None:
        self.events.extend(events)


def test_a_backlog_bigger_than_one_sweep_is_fanned_out(collector: HandlerHarness) -> None:
    cloud = collector.cloud
    task_ids = register(cloud, 10, due=False)  # not due: no API call, the split is what counts
    env = {
        **cloud.function_env(),
        **FAST_ENV,
        "API_QPS": "3",  # capacity of a 1.5 s sweep: int(3 x 1.5 x 0.9) = 4 tasks
        "SWEEP_SHARDS_MAX": "3",
    }
    config = CollectorConfig.from_env(env)
    creds = cloud.issue_credentials()
    context = SimpleNamespace(
        request_id="fan-out",
        function=SimpleNamespace(timeout=30),
        region="cn-hangzhou",
        credentials=SimpleNamespace(
            access_key_id=creds.access_key_id,
            access_key_secret=creds.access_key_secret,
            security_token=creds.security_token,
        ),
    )
    from collector.wiring import build_invocation

    dispatcher = RecordingDispatcher()
    service = build_invocation(
        config, context, started=time.monotonic(), env=env, dispatcher=dispatcher
    )
    timer = {
        "triggerTime": "x",
        "triggerName": "sweep",
        "payload": '{"sweep": {"maxSeconds": 1.5}}',
    }

    report = service.handle(parse_trigger_event(json.dumps(timer)))

    # ceil(10 / 4) = 3 shards: two sent through the platform, shard 0 swept here at API_QPS / 3
    assert dispatcher.events == [
        {"sweep": {"shard": 1, "shards": 3, "maxSeconds": 1.5}},
        {"sweep": {"shard": 2, "shards": 3, "maxSeconds": 1.5}},
    ]
    assert report.sweep is not None
    assert (report.sweep["shards"], report.sweep["dispatched"]) == (3, 2)
    assert report.sweep["notDue"] == sum(1 for t in task_ids if shard_of(t, 3) == 0)
    assert service.sweep.last_pacer is not None
    assert service.sweep.last_pacer.qps == 1.0  # a whole share of the quota: 1 + 1 + 1 = API_QPS


def test_without_a_dispatcher_one_sweep_takes_the_oldest_first(collector: HandlerHarness) -> None:
    register(collector.cloud, 3)
    collector.configure(API_QPS="200")
    answer = collector.invoke(
        {"triggerTime": "x", "triggerName": "sweep", "payload": '{"sweep": {"maxTasks": 2}}'}
    )
    assert answer["sweep"]["processed"] == 2 and answer["sweep"]["registered"] == 3
    assert "shards" not in answer["sweep"]


class Recorder:
    def __init__(self) -> None:
        self.payloads: list[bytes] = []

    def __call__(self, payload: bytes) -> None:
        self.payloads.append(payload)


TIMER_SHORT = {
    "triggerTime": "x",
    "triggerName": "sweep",
    "payload": '{"sweep": {"maxSeconds": 1.5}}',
}


def test_shards_are_sent_as_async_invocations_through_fc(collector: HandlerHarness) -> None:
    cloud = collector.cloud
    recorder = Recorder()
    cloud.fc.register_function("alimt-result-collector", recorder)
    register(cloud, 10, due=False)
    collector.configure(API_QPS="3", SWEEP_SHARDS_MAX="3")  # capacity 4: 3 shards

    answer = collector.invoke(TIMER_SHORT)

    assert (answer["sweep"]["shards"], answer["sweep"]["dispatched"]) == (3, 2)
    assert [json.loads(p) for p in recorder.payloads] == [
        {"sweep": {"shard": 1, "shards": 3, "maxSeconds": 1.5}},
        {"sweep": {"shard": 2, "shards": 3, "maxSeconds": 1.5}},
    ]
    assert all(i.qualifier is None for i in cloud.fc.invocations)


def test_a_partly_failed_fan_out_keeps_to_its_shard(collector: HandlerHarness) -> None:
    cloud = collector.cloud
    register(cloud, 10, due=False)
    collector.configure(API_QPS="3", SWEEP_SHARDS_MAX="3")

    def accept_then_fail(payload: bytes) -> None:
        cloud.fc.inject("http:503")  # the next invocation request fails

    cloud.fc.register_function("alimt-result-collector", accept_then_fail)
    answer = collector.invoke(TIMER_SHORT)

    # shard 1 is being swept elsewhere: this sweep keeps to shard 0 of 3 (and its share of the
    # quota); shard 2 waits for the next tick
    assert (answer["sweep"]["shards"], answer["sweep"]["dispatched"]) == (3, 1)


def test_a_failed_fan_out_leaves_one_sweep_oldest_first(collector: HandlerHarness) -> None:
    cloud = collector.cloud
    cloud.fc.register_function("alimt-result-collector", Recorder())
    cloud.fc.inject("http:403")
    register(cloud, 10, due=False)
    collector.configure(API_QPS="3", SWEEP_SHARDS_MAX="3")

    answer = collector.invoke(TIMER_SHORT)

    assert "shards" not in answer["sweep"] and answer["sweep"]["registered"] == 10
    assert cloud.fc.invocations == []


def test_never_more_shards_than_whole_calls_per_second(collector: HandlerHarness) -> None:
    cloud = collector.cloud
    cloud.fc.register_function("alimt-result-collector", Recorder())
    register(cloud, 12, due=False)
    # capacity int(2 x 1.5 x 0.9) = 2 would want 6 shards; a 2 QPS quota splits into 2 at most
    collector.configure(API_QPS="2", SWEEP_SHARDS_MAX="8")
    answer = collector.invoke(TIMER_SHORT)
    assert (answer["sweep"]["shards"], answer["sweep"]["dispatched"]) == (2, 1)
