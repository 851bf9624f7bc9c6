"""`make demo`: the collector end to end on the local cloud, through the FC-like runner.

1. Start the local cloud (alimt, OSS and image host emulators on loopback).
2. Submit four image batches with the real alimt SDK (TranslateImageBatch).
3. Deliver them the ways FC does: an MNS message in JSON format, one in STREAM format, a direct
   call for a batch that is still running (it goes pending), and one whose account is in arrears.
4. Fire the timer: the sweep collects the pending batch once it has finished.
5. Show what landed in OSS: images, manifests, the (now empty) pending registry and the dead letter.
   The bucket is exported to ./demo-output/bucket so the images can be opened.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

from local.cloud import LocalCloud
from local.runner import InvocationResult

OUTPUT = Path("demo-output")


def say(text: str = "") -> None:
    print(text, flush=True)


def heading(text: str) -> None:
    say()
    say(f"== {text} " + "=" * max(0, 76 - len(text)))


def submit(cloud: LocalCloud, name: str, images: int, *, size: int = 150_000) -> str:
    from alibabacloud_alimt20181012.models import TranslateImageBatchRequest

    urls = cloud.add_images(f"demo/{name}", images, size_bytes=size)
    response = cloud.alimt_client().translate_image_batch(
        TranslateImageBatchRequest(
            image_urls=",".join(urls),
            source_language="zh",
            target_language="en",
            field="e-commerce",
            ext=json.dumps({"needEditorData": "true"}),
        )
    )
    task_id = str(response.body.data.task_id)
    say(f"  submitted {name!r}: {images} image(s) -> TaskId {task_id}")
    return task_id


def show_result(label: str, result: InvocationResult) -> dict[str, Any]:
    if not result.ok:
        say(f"  {label}: invocation FAILED: {result.error}")
        return {}
    answer = result.result if isinstance(result.result, dict) else json.loads(result.result)
    for item in answer.get("results", []):
        extra = f" ({item['reason']})" if item.get("reason") else ""
        written = (
            f", {item['objectsWritten']} objects / {item['bytesWritten']:,} bytes written"
            if "objectsWritten" in item
            else ""
        )
        say(f"  {label}: {item['taskId']} -> {item['outcome']}{extra}{written}")
    if answer.get("sweep"):
        say(f"  sweep: {answer['sweep']}")
    return answer


def export_bucket(cloud: LocalCloud, target: Path) -> int:
    if target.exists():
        shutil.rmtree(target)
    bucket = cloud.bucket()
    count = 0
    for key in cloud.oss.list_keys(cloud.bucket_name):
        path = target / key
        path.parent.mkdir(parents=True, exist_ok=True)
        bucket.get_object_to_file(key, str(path))
        count += 1
    return count


def run_demo() -> int:
    OUTPUT.mkdir(exist_ok=True)
    shutil.rmtree(OUTPUT / "cloud-state", ignore_errors=True)  # every run starts from scratch
    started = time.monotonic()
    with LocalCloud(OUTPUT / "cloud-state") as cloud:
        heading("local cloud")
        say(f"  alimt emulator  {cloud.alimt.endpoint}")
        say(f"  OSS emulator    {cloud.oss.endpoint}  (bucket {cloud.bucket_name})")
        say(f"  image host      {cloud.images.endpoint}")

        heading("submit four batches (TranslateImageBatch, real SDK)")
        cloud.alimt.set_defaults(polls_until_finished=1, image_size=180_000)
        json_task = submit(cloud, "summer-sale", 3)
        stream_task = submit(cloud, "catalogue", 2)
        slow_task = submit(cloud, "slow-batch", 2)
        cloud.alimt.configure_task(slow_task, polls_until_finished=10_000)
        arrears_task = submit(cloud, "unpaid-account", 1)
        cloud.alimt.script(arrears_task, ["code:113"])

        # A short wait budget keeps the demo brisk (the template's default is 30 s).
        runner = cloud.runner(
            time_scale=0.001,
            env={
                "WAIT_BUDGET_SECONDS": "2",
                "POLL_INTERVAL_SECONDS": "0.5",
                "FIRST_POLL_AFTER_SECONDS": "0",  # the demo shows MNS deliveries collecting
            },
        )
        with runner:
            heading("MNS topic message, JSON format (body: the bare TaskId)")
            delivery = runner.publish_mns(json_task)
            show_result("mns/json", delivery.attempts[-1])

            heading("MNS topic message, STREAM format with attributes")
            runner.reconfigure_trigger("mns_topic", notifyContentFormat="STREAM")
            delivery = runner.publish_mns(
                json.dumps({"TaskId": stream_task}), attributes={"source": "catalogue-app"}
            )
            show_result("mns/stream", delivery.attempts[-1])
            runner.reconfigure_trigger("mns_topic", notifyContentFormat="JSON")

            heading("direct call for a batch that is still running")
            show_result("direct", runner.invoke({"taskId": slow_task}))

            heading("direct call for a batch whose account is in arrears (code 113)")
            show_result("direct", runner.invoke({"taskId": arrears_task}))

            heading("the slow batch finishes; the next timer ticks sweep it")
            cloud.alimt.finish_task(slow_task)
            for tick in range(1, 8):
                answer = show_result(f"timer tick {tick}", runner.tick_timer())
                if any(r["outcome"] == "copied" for r in answer.get("results", [])):
                    break
                say("  (not due yet: the record asks for a later check; waiting 3 s)")
                time.sleep(3)

        heading("what is in OSS now")
        bucket = cloud.bucket()
        for key in cloud.oss.list_keys(cloud.bucket_name):
            size = cloud.oss.object_meta(cloud.bucket_name, key)
            say(f"  {key}  ({size.size if size else '?':,} bytes)")
        manifest = json.loads(bucket.get_object(f"translated/{json_task}/manifest.json").read())
        heading(f"manifest of {json_task} (first image)")
        say(json.dumps({**manifest, "images": manifest["images"][:1]}, indent=2))
        heading(f"dead letter of {arrears_task}")
        letter = json.loads(bucket.get_object(f"collector/dead-letter/{arrears_task}.json").read())
        say(json.dumps({k: v for k, v in letter.items() if k != "event"}, indent=2))
        pending = cloud.oss.list_keys(cloud.bucket_name, "collector/pending/")
        say()
        say(f"  pending registry: {len(pending)} record(s) left")

        exported = export_bucket(cloud, OUTPUT / "bucket")
        heading("done")
        say(f"  {exported} objects exported to {OUTPUT / 'bucket'} (open the PNGs there)")
        say(f"  demo took {time.monotonic() - started:.1f} s")
        _summary_hooks(cloud, json_task)
    return 0


def _summary_hooks(cloud: LocalCloud, task_id: str) -> None:
    """Operator views (status summary and gallery) when the operator tools are installed."""
    try:
        from ops.demo import show_operator_views
    except ImportError:
        return
    show_operator_views(cloud, task_id, OUTPUT)
