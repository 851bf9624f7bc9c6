"""The local cloud for one measurement, finished tasks to collect, and the collector in a child
process (the FC-like runner's worker) whose peak memory can be read."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.model import NetworkModel
from local.cloud import LocalCloud

# The function's settings for every measurement, on top of template.yml (which the runner reads).
BENCH_ENV = {
    "LOG_LEVEL": "WARNING",  # the log stream is captured, not measured
    "SAFETY_MARGIN_SECONDS": "5",
}


@contextlib.contextmanager
def local_cloud(model: NetworkModel) -> Iterator[LocalCloud]:
    """A fresh local cloud (emulators in this process), removed from disk afterwards."""
    root = Path(tempfile.mkdtemp(prefix="bench-"))
    try:
        with LocalCloud(root / "cloud") as cloud:
            model.apply(cloud)
            yield cloud
    finally:
        shutil.rmtree(root, ignore_errors=True)


def finished_task(cloud: LocalCloud, images: int, size_bytes: int, *, label: str) -> str:
    """A finished alimt task of `images` results of `size_bytes` each (translated image only),
    with its images registered and their CRCs computed, so no first request pays for that."""
    sources = [f"https://source.example.com/{label}/{i}.png" for i in range(images)]
    task_id = cloud.alimt.create_task(sources, image_size=size_bytes, need_editor_data=False)
    prime(cloud, [task_id])
    return task_id


def prime(cloud: LocalCloud, task_ids: list[str]) -> None:
    """Poll each task once as an admin (not under any quota) so its result images exist."""
    from alibabacloud_alimt20181012.models import GetTranslateImageBatchResultRequest

    quota = cloud.alimt._qps_quota
    cloud.alimt.set_qps_quota(None)
    ttfb = cloud.alimt.network.ttfb_seconds
    cloud.alimt.network.ttfb_seconds = 0.0
    try:
        client = cloud.alimt_client()
        for task_id in task_ids:
            client.get_translate_image_batch_result(
                GetTranslateImageBatchResultRequest(task_id=task_id)
            )
            task = cloud.alimt.task(task_id)
            assert task is not None and task.results is not None
            for index, result in enumerate(task.results):
                if result.final_url:
                    cloud.images.expected_crc64(f"{task_id}/{index}-final.{task.options.fmt}")
    finally:
        cloud.alimt.network.ttfb_seconds = ttfb
        cloud.alimt.set_qps_quota(quota)


def result_urls(cloud: LocalCloud, task_id: str) -> list[str]:
    task = cloud.alimt.task(task_id)
    assert task is not None and task.results is not None
    return [r.final_url for r in task.results if r.final_url]


@dataclass
class Invocation:
    seconds: float
    result: Any
    ok: bool
    error: Any
    cpu_seconds: float = 0.0


class CollectorProcess:
    """The real function in an FC-like worker process (cold start on the first call)."""

    def __init__(self, cloud: LocalCloud, **env: str) -> None:
        self._runner = cloud.runner(env={**BENCH_ENV, **env})

    def __enter__(self) -> CollectorProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self._runner.close()

    def invoke(self, event: Any) -> Invocation:
        pid = self._runner.instance_pid
        cpu_before = cpu_seconds(pid) if pid else 0.0
        started = time.monotonic()
        outcome = self._runner.invoke(event)
        seconds = time.monotonic() - started
        cpu = cpu_seconds(outcome.instance_pid) - cpu_before if outcome.instance_pid else 0.0
        if not outcome.ok:
            raise RuntimeError(f"invocation failed: {outcome.error}\n{outcome.logs[-2000:]}")
        return Invocation(seconds, outcome.result, outcome.ok, outcome.error, cpu)

    def warm_up(self, cloud: LocalCloud) -> None:
        """A small task first, so the measured call pays no cold start or SDK import."""
        task_id = finished_task(cloud, 1, 10_000, label="warm-up")
        self.invoke({"taskId": task_id})

    def peak_rss_bytes(self) -> int:
        """The worker's peak resident set so far (VmHWM), read before the process ends."""
        pid = self._runner.instance_pid
        assert pid is not None, "no instance running"
        return vm_hwm_bytes(pid)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def vm_hwm_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmHWM for pid {pid}")
