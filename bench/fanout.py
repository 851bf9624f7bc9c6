"""Scaling past one instance: K concurrent function instances (FC-like worker processes), each
sweeping one shard ({"sweep": {"shard": i, "shards": K}}, the event a fanned-out sweep sends),
against one alimt emulator enforcing the quota. Each shard paces at API_QPS / K, so the account's
rate stays under the quota however many instances run.

One instance is held back on purpose (SWEEP_CONCURRENCY=2 under the network model, as a slow API or
OSS would), so the table shows throughput growing with instances until the quota is what limits."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass

from bench.harness import CollectorProcess, local_cloud
from bench.model import NetworkModel
from bench.sweep import seed_pending

SIM_ENV = {"SWEEP_CONCURRENCY": "2", "SWEEP_MAX_SECONDS": "200"}


@dataclass
class FanoutPoint:
    workers: int
    tasks: int
    seconds: float
    processed: int
    throttled: int

    @property
    def tasks_per_second(self) -> float:
        return self.processed / self.seconds


def measure(model: NetworkModel, workers: int, *, tasks: int, qps: float) -> FanoutPoint:
    with local_cloud(NetworkModel("seeding")) as cloud:
        seed_pending(cloud, tasks, label=f"fanout-{workers}")
        model.apply(cloud)
        with ExitStack() as stack:
            instances = [
                stack.enter_context(CollectorProcess(cloud, API_QPS=f"{qps:g}", **SIM_ENV))
                for _ in range(workers)
            ]
            for instance in instances:
                instance.warm_up(cloud)
            time.sleep(1.1)  # a clean quota window
            cloud.alimt.set_qps_quota(qps)
            started = time.monotonic()
            with ThreadPoolExecutor(max_workers=workers) as pool:
                calls = list(
                    pool.map(
                        lambda shard: instances[shard].invoke(
                            {"sweep": {"shard": shard, "shards": workers}}
                        ),
                        range(workers),
                    )
                )
            seconds = time.monotonic() - started
        processed = sum(int(c.result["sweep"]["processed"]) for c in calls)
        return FanoutPoint(workers, tasks, seconds, processed, cloud.alimt.qps_throttled)
