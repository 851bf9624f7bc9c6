"""Figure 5: redelivery: the same TaskId delivered again after it was collected. It must cost no OSS
write (the manifest says "done") and little time, compared with the first collection."""

from __future__ import annotations

from dataclasses import dataclass

from bench.harness import CollectorProcess, finished_task, local_cloud
from bench.model import MB, NetworkModel

WRITE_OPS = ("put", "copy", "delete", "initiate", "upload_part", "complete")


@dataclass
class RedeliveryResult:
    images: int
    first_seconds: float
    again_seconds: float
    oss_writes: int
    oss_requests: int
    api_calls: int
    outcome: str


def measure(model: NetworkModel, *, images: int = 20, size_bytes: int = 1 * MB) -> RedeliveryResult:
    with local_cloud(model) as cloud:
        task_id = finished_task(cloud, images, size_bytes, label="redelivery")
        with CollectorProcess(cloud) as collector:
            collector.warm_up(cloud)
            first = collector.invoke({"taskId": task_id})
            assert first.result["results"][0]["outcome"] == "copied", first.result
            cloud.oss.clear_requests()
            api_before = cloud.alimt.calls("GetTranslateImageBatchResult")
            again = collector.invoke({"taskId": task_id})
        writes = sum(cloud.oss.request_count(op) for op in WRITE_OPS)
        return RedeliveryResult(
            images=images,
            first_seconds=first.seconds,
            again_seconds=again.seconds,
            oss_writes=writes,
            oss_requests=cloud.oss.request_count(),
            api_calls=cloud.alimt.calls("GetTranslateImageBatchResult") - api_before,
            outcome=str(again.result["results"][0]["outcome"]),
        )
