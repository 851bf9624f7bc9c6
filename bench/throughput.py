"""Figure 1: what copying one finished task costs: CPU-seconds per GB copied (user + system of the
copying process alone) and MB/s, for the collector end to end through the handler and for the
reference copiers of bench/copiers.py, on the same network model and the same bytes.

The headline is the collector's CPU per GB as a ratio to the raw relay's (8 connections, chunked
upload, no CRC), measured in the same run: in Function Compute the instance gets a fraction of a
vCPU and vCPU-seconds are billed, so CPU per byte is both throughput and money. The collector runs
twice: once with the image host stating each image's CRC-64 (x-oss-hash-crc64ecma, like OSS-hosted
results: nothing to hash) and once without (one CRC pass while streaming).

The emulators run in the benchmark process, every copier in a child process of its own, so the
benchmark process's own CPU during the relay is what the emulators spend serving it: their ceiling.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from bench.harness import CollectorProcess, finished_task, local_cloud, result_urls
from bench.model import MB, NetworkModel
from local.cloud import LocalCloud

REPO_ROOT = Path(__file__).resolve().parents[1]
COPY_CONNECTIONS = 8  # the collector's COPY_CONCURRENCY default; relay and naive8 use as many
GB = 1_000_000_000

RELAY = "relay"
COLLECTOR_SOURCE_CRC = "collector, source CRC"
COLLECTOR_NO_SOURCE_CRC = "collector, no source CRC"
NAIVE = "naive sequential"
NAIVE_8 = "naive 8-wide"
ALL_COPIERS = (RELAY, COLLECTOR_SOURCE_CRC, COLLECTOR_NO_SOURCE_CRC, NAIVE_8, NAIVE)


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
class CopierRun:
    copier: str
    bytes: int
    seconds: float
    cpu_seconds: float
    peak_rss: int

    @property
    def mb_s(self) -> float:
        return self.bytes / self.seconds / MB

    @property
    def cpu_per_gb(self) -> float:
        return self.cpu_seconds / (self.bytes / GB)


@dataclass
class CopyResult:
    case: CopyCase
    model: NetworkModel
    runs: dict[str, CopierRun] = field(default_factory=dict)
    emulator_cpu_per_gb: float = 0.0  # what the emulators spent serving the relay

    def cpu_ratio(self, copier: str) -> float:
        return self.runs[copier].cpu_per_gb / self.runs[RELAY].cpu_per_gb

    @property
    def emulator_ceiling_mb_s(self) -> float:
        """One Python process (one GIL) serves every emulator: at most one core's worth."""
        return GB / self.emulator_cpu_per_gb / MB if self.emulator_cpu_per_gb else float("inf")


def crc_cpu_per_gb(sample_bytes: int = 64 * MB) -> float:
    """CPU-seconds per GB of one CRC-64 pass as the copier makes it (fastcrc's CRC-64/XZ over
    256 KiB blocks), best of 3: what the collector adds when the source states no CRC."""
    import time

    from fastcrc import crc64

    data = os.urandom(sample_bytes)
    view = memoryview(data)
    best = float("inf")
    for _ in range(3):
        crc = 0
        began = time.process_time()
        for start in range(0, sample_bytes, 256 * 1024):
            crc = crc64.xz(view[start : start + 256 * 1024], crc)
        best = min(best, time.process_time() - began)
    return best / (sample_bytes / GB)


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@contextmanager
def _source_crc(cloud: LocalCloud, stated: bool) -> Iterator[None]:
    before = cloud.images.send_crc64
    cloud.images.send_crc64 = stated
    try:
        yield
    finally:
        cloud.images.send_crc64 = before


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


def _reference(kind: str, label: str, cloud: LocalCloud, urls: list[str], n: int) -> CopierRun:
    out = run_copier(kind, cloud, urls, f"bench/{kind}-{n}/")
    return CopierRun(
        label, int(out["bytes"]), out["seconds"], out["cpuSeconds"], int(out["peakRss"])
    )


def _collector(cloud: LocalCloud, case: CopyCase, *, source_crc: bool, n: int) -> CopierRun:
    label = COLLECTOR_SOURCE_CRC if source_crc else COLLECTOR_NO_SOURCE_CRC
    task_id = finished_task(cloud, case.images, case.size_bytes, label=f"copy-{n}-{source_crc}")
    with (
        CollectorProcess(cloud, COPY_CONCURRENCY=str(COPY_CONNECTIONS)) as collector,
        _source_crc(cloud, source_crc),
    ):
        collector.warm_up(cloud)  # the measured call pays no cold start or SDK import
        call = collector.invoke({"taskId": task_id})
        outcome = call.result["results"][0]
        if outcome["outcome"] != "copied" or outcome["bytesWritten"] != case.total_bytes:
            raise RuntimeError(f"collector did not copy the task: {outcome}")
        return CopierRun(
            label, case.total_bytes, call.seconds, call.cpu_seconds, collector.peak_rss_bytes()
        )


def measure(
    case: CopyCase,
    model: NetworkModel,
    *,
    copiers: tuple[str, ...] = ALL_COPIERS,
    repeats: int = 1,
) -> CopyResult:
    """Each copier `repeats` times, interleaved (a noisy moment hits all alike); per copier the run
    with the least CPU is kept, the measure least disturbed by the other tenants of the machine."""
    result = CopyResult(case, model)
    with local_cloud(model) as cloud:
        source_task = finished_task(cloud, case.images, case.size_bytes, label="copy-source")
        urls = result_urls(cloud, source_task)
        for n in range(repeats):
            for copier in copiers:
                if copier == RELAY:
                    cpu_before = _own_cpu()
                    run = _reference("raw", RELAY, cloud, urls, n)
                    emulators = (_own_cpu() - cpu_before) / (run.bytes / GB)
                    if not result.emulator_cpu_per_gb or emulators < result.emulator_cpu_per_gb:
                        result.emulator_cpu_per_gb = emulators
                elif copier == NAIVE:
                    run = _reference("naive", NAIVE, cloud, urls, n)
                elif copier == NAIVE_8:
                    run = _reference("naive8", NAIVE_8, cloud, urls, n)
                else:
                    run = _collector(cloud, case, source_crc=copier == COLLECTOR_SOURCE_CRC, n=n)
                if run.bytes != case.total_bytes:
                    raise RuntimeError(f"{copier} copied {run.bytes} of {case.total_bytes} bytes")
                best = result.runs.get(copier)
                if best is None or run.cpu_seconds < best.cpu_seconds:
                    result.runs[copier] = run
    return result
