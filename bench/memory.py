"""Figure 2: peak RSS of the collecting process (the FC-like worker, a fresh one per measurement)
for a 1-image and a 100-image batch of 20 MB images. The emulators live in the benchmark process,
so their memory does not count."""

from __future__ import annotations

from dataclasses import dataclass

from bench.harness import CollectorProcess, finished_task, local_cloud
from bench.model import MB, NetworkModel

IMAGE_BYTES = 20 * MB
INSTANCE_MEMORY_BYTES = 512 * (1 << 20)


@dataclass
class MemoryResult:
    images: int
    peak_rss: int
    seconds: float


def measure(images: int, model: NetworkModel) -> MemoryResult:
    with local_cloud(model) as cloud:
        task_id = finished_task(cloud, images, IMAGE_BYTES, label=f"memory-{images}")
        with CollectorProcess(cloud) as collector:
            call = collector.invoke({"taskId": task_id})
            outcome = call.result["results"][0]
            if outcome["outcome"] != "copied" or outcome["bytesWritten"] != images * IMAGE_BYTES:
                raise RuntimeError(f"collector did not copy the batch: {outcome}")
            return MemoryResult(images, collector.peak_rss_bytes(), call.seconds)
