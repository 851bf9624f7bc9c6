"""Figure 4: one timer sweep over 1,000 pending tasks, the alimt emulator enforcing a QPS quota:
wall time of the invocation against N / QPS, and how many polls the quota refused.

The tasks are still running (each poll answers `running`, the record is updated and checked again
later), so the figure is the sweep's pacing and per-task overhead, not image copying."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone

from bench.harness import CollectorProcess, local_cloud
from bench.model import NetworkModel
from collector.layout import KeyLayout
from collector.records import PendingRecord
from local.cloud import LocalCloud
from local.runner import build_timer_event

STATE_PREFIX = "collector/"


@dataclass
class SweepResult:
    tasks: int
    qps: float
    seconds: float
    processed: int
    served: int
    throttled: int
    summary: dict[str, object]

    @property
    def ideal_seconds(self) -> float:
        return self.tasks / self.qps


def seed_pending(cloud: LocalCloud, count: int, *, label: str) -> list[str]:
    """`count` running alimt tasks, each with a due pending record written straight into OSS."""
    layout = KeyLayout("translated/", STATE_PREFIX)
    now = time.time()
    task_ids = [
        cloud.alimt.create_task(
            [f"https://source.example.com/{label}/{i}.png"], seconds_until_finished=86400
        )
        for i in range(count)
    ]
    bucket = cloud.bucket()

    def put(item: tuple[int, str]) -> None:
        index, task_id = item
        record = PendingRecord(
            task_id, first_seen=now - 600 + index * 0.001, trigger="mns_json", next_check=now - 1
        )
        bucket.put_object(layout.pending_key(task_id), json.dumps(record.to_json()).encode())

    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(put, enumerate(task_ids)))
    return task_ids


def timer_event(max_tasks: int) -> bytes:
    payload = json.dumps({"sweep": {"maxTasks": max_tasks}})
    return build_timer_event("sweep", payload, datetime.now(timezone.utc))


def measure(model: NetworkModel, *, tasks: int = 1000, qps: float = 50.0) -> SweepResult:
    quiet = NetworkModel("seeding")
    with local_cloud(quiet) as cloud:
        seed_pending(cloud, tasks, label="sweep")
        model.apply(cloud)
        env = {
            "API_QPS": f"{qps:g}",
            "SWEEP_MAX_SECONDS": "200",
            # in flight = QPS x per-task latency (HEAD manifest + poll + record write, ~3 TTFB)
            "SWEEP_CONCURRENCY": "16",
        }
        with CollectorProcess(cloud, **env) as collector:
            collector.warm_up(cloud)  # a warm instance: imports done, not part of the figure
            time.sleep(1.1)  # the warm-up's poll must not count: a clean quota window
            cloud.alimt.set_qps_quota(qps)
            call = collector.invoke(timer_event(tasks))
        summary = call.result["sweep"]
        return SweepResult(
            tasks=tasks,
            qps=qps,
            seconds=call.seconds,
            processed=int(summary["processed"]),
            served=cloud.alimt.qps_served,
            throttled=cloud.alimt.qps_throttled,
            summary=summary,
        )
