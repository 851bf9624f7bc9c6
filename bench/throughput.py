"""Figure 1: copy throughput of one finished task, end to end through the handler, against a naive
copier and the raw limit (same network model, same number of connections)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from bench.harness import CollectorProcess, finished_task, local_cloud, result_urls
from bench.model import MB, NetworkModel
from local.cloud import LocalCloud

REPO_ROOT = Path(__file__).resolve().parents[1]
COPY_CONNECTIONS = 8  # the collector's COPY_CONCURRENCY default; the raw loop uses as many


@dataclass(frozen=True)
class CopyCase:
    images: int
    size_bytes: int

    @property
    def label(self) -> str:
        return f"{self.images} x {self.size_bytes / MB:g} MB"

    @property
    def total_bytes(self) -> int:
        return self.images * self.size_bytes


@dataclass
class CopyResult:
    case: CopyCase
    model: NetworkModel
    collector_mb_s: float
    naive_mb_s: float | None
    raw_mb_s: float
    collector_peak_rss: int


def run_copier(kind: str, cloud: LocalCloud, urls: list[str], prefix: str) -> dict[str, float]:
    spec = {
        "kind": kind,
        "urls": urls,
        "ossEndpoint": cloud.oss.endpoint,
        "bucket": cloud.bucket_name,
        "accessKeyId": cloud.admin.access_key_id,
        "accessKeySecret": cloud.admin.access_key_secret,
        "prefix": prefix,
        "connections": COPY_CONNECTIONS,
    }
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    done = subprocess.run(
        [sys.executable, "-m", "bench.copiers"],
        input=json.dumps(spec),
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        env=env,
        check=False,
        timeout=900,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{kind} copier failed: {done.stderr[-2000:]}")
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def measure(case: CopyCase, model: NetworkModel, *, naive: bool = True) -> CopyResult:
    with local_cloud(model) as cloud:
        task_id = finished_task(cloud, case.images, case.size_bytes, label="copy")
        urls = result_urls(cloud, task_id)

        raw = run_copier("raw", cloud, urls, "bench/raw/")
        assert raw["bytes"] == case.total_bytes, raw

        with CollectorProcess(cloud, COPY_CONCURRENCY=str(COPY_CONNECTIONS)) as collector:
            collector.warm_up(cloud)
            call = collector.invoke({"taskId": task_id})
            outcome = call.result["results"][0]
            if outcome["outcome"] != "copied" or outcome["bytesWritten"] != case.total_bytes:
                raise RuntimeError(f"collector did not copy the task: {outcome}")
            collector_rss = collector.peak_rss_bytes()

        naive_mb_s = None
        if naive:
            slow = run_copier("naive", cloud, urls, "bench/naive/")
            assert slow["bytes"] == case.total_bytes, slow
            naive_mb_s = slow["bytes"] / slow["seconds"] / MB
    return CopyResult(
        case,
        model,
        collector_mb_s=case.total_bytes / call.seconds / MB,
        naive_mb_s=naive_mb_s,
        raw_mb_s=raw["bytes"] / raw["seconds"] / MB,
        collector_peak_rss=collector_rss,
    )
