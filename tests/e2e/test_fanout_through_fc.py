"""End to end: a registry bigger than one sweep can poll is fanned out through the platform.

A timer tick through the FC-like runner splits the registry into K shards and sends K-1 of them as
asynchronous invocations through the FC API emulator (the real `alibabacloud-fc20230330` SDK);
LocalCloud runs each one in an FC-like instance of its own, in parallel. Every shard paces at
API_QPS / K, so the alimt emulator, enforcing a quota of API_QPS, throttles nothing. A final sweep
drains the rest, and every task ends up copied exactly once.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

from collector.fanout import capacity, plan_shards, shard_of
from collector.layout import KeyLayout
from collector.records import PendingRecord
from local.cloud import LocalCloud
from local.runner import FunctionRunner

LAYOUT = KeyLayout("translated/", "collector/")
API_QPS = 8  # a multiple of every K used here, so each shard's share is a whole number of calls
SWEEP_SECONDS = 1.5
SHARDS_MAX = 4
TASKS = 35
ENV = {
    "API_QPS": str(API_QPS),
    "SWEEP_MAX_SECONDS": str(SWEEP_SECONDS),
    "SWEEP_SHARDS_MAX": str(SHARDS_MAX),
    # One worker: a worker only claims a task it can poll before the budget ends (pacing < 1 s).
    "SWEEP_CONCURRENCY": "1",
    "SAFETY_MARGIN_SECONDS": "2",
    "API_TIMEOUT_SECONDS": "3",
    "SOURCE_TIMEOUT_SECONDS": "3",
}


@pytest.fixture
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCloud]:
    with LocalCloud(tmp_path_factory.mktemp("fanout")) as running:
        yield running


def register_finished(cloud: LocalCloud, count: int) -> list[str]:
    """Finished tasks with due pending records, as if their MNS deliveries had timed out."""
    now = time.time()
    bucket = cloud.bucket()
    task_ids = []
    for i in range(count):
        urls = cloud.add_images(f"fanout{i}", 1, size_bytes=2_000)
        task_id = cloud.alimt.create_task(urls, need_editor_data=False, image_size=2_000)
        record = PendingRecord(task_id, first_seen=now - 120 + i, next_check=now - 1)
        bucket.put_object(LAYOUT.pending_key(task_id), json.dumps(record.to_json()).encode())
        task_ids.append(task_id)
    return task_ids


def test_a_backlog_is_swept_by_parallel_instances_under_the_quota(cloud: LocalCloud) -> None:
    task_ids = register_finished(cloud, TASKS)
    shards = plan_shards(TASKS, capacity(API_QPS, SWEEP_SECONDS), SHARDS_MAX)
    assert shards == SHARDS_MAX  # the scenario needs a real split: 35 tasks, 10 per sweep

    with cloud.runner(env=ENV) as runner:
        assert isinstance(runner, FunctionRunner)
        runner.invoke({"taskId": "warm-up-unknown"})  # cold start outside the quota window
        time.sleep(1.1)
        cloud.alimt.set_qps_quota(API_QPS)

        tick = runner.tick_timer()
        assert tick.ok, (tick.error, tick.logs[-3000:])
        sweep = tick.result["sweep"]
        assert (sweep["shards"], sweep["dispatched"], sweep["shard"]) == (shards, shards - 1, 0)
        runs = cloud.wait_async(timeout=60)

        # K-1 asynchronous invocations went through FC, one per shard ...
        sent = [json.loads(r.payload) for r in runs]
        assert sorted(e["sweep"]["shard"] for e in sent) == list(range(1, shards))
        assert len(cloud.fc.invocations_of(runner.spec.name)) == shards - 1
        # ... each in an instance of its own, running at the same time as the others
        assert all(r.outcome.ok for r in runs), [r.outcome.attempts[-1].error for r in runs]
        pids = {r.outcome.attempts[-1].instance_pid for r in runs} | {tick.instance_pid}
        assert len(pids) == shards
        assert max(r.started for r in runs) < min(r.finished for r in runs)
        # ... each sweeping only its own shard
        swept = {0: [t["taskId"] for t in tick.result["results"]]}
        for run, event in zip(runs, sent, strict=True):
            swept[event["sweep"]["shard"]] = [
                t["taskId"] for t in run.outcome.attempts[-1].result["results"]
            ]
        for shard, mine in swept.items():
            assert mine and all(shard_of(t, shards) == shard for t in mine), shard
        first_pass = sum(len(mine) for mine in swept.values())
        assert first_pass < TASKS  # one pass at API_QPS cannot poll everything

        # The rest: a sweep with a budget big enough for all of it (no fan-out needed).
        time.sleep(1.1)
        drain = runner.invoke({"sweep": {"maxSeconds": 20}})
        assert drain.ok, (drain.error, drain.logs[-3000:])
        assert "shards" not in drain.result["sweep"]
        assert cloud.wait_async(timeout=5) == []

    assert cloud.alimt.qps_throttled == 0
    assert cloud.alimt.qps_served == TASKS  # one poll per finished task, none repeated
    assert cloud.oss.list_keys(cloud.bucket_name, "collector/pending/") == []
    for task_id in task_ids:
        keys = cloud.oss.list_keys(cloud.bucket_name, f"translated/{task_id}/")
        assert any(k.endswith("manifest.json") for k in keys), task_id
        assert len(keys) >= 2, keys
        assert all(cloud.oss.put_count(cloud.bucket_name, k) == 1 for k in keys), keys
