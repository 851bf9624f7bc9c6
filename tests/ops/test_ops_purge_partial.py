"""Objects a dead-lettered task left behind (issue 9 item 4): named in the letter and by `status`,
reused by `redrive --force`, removed by `purge-partial` (dry run first, never a collected task)."""

from __future__ import annotations

import json

from tests.functional.conftest import HandlerHarness
from tests.ops.conftest import Cli

TIMER = {"triggerTime": "2026-11-29T00:00:00Z", "triggerName": "sweep", "payload": ""}


def half_copied(collector: HandlerHarness, images: int = 3) -> str:
    """A task whose second image link is gone: image 0 copied, then dead-lettered (image:404)."""
    collector.configure(COPY_CONCURRENCY="1")
    cloud = collector.cloud
    task_id = cloud.alimt.create_task(cloud.add_images("ops/half", images), need_editor_data=False)
    cloud.images.inject(f"{task_id}/1-final*", "404", count=None)
    answer = collector.invoke({"taskId": task_id})
    assert answer["results"][0]["code"] == "image:404"
    return task_id


def test_status_names_the_partial_objects(cli: Cli, collector: HandlerHarness) -> None:
    task_id = half_copied(collector)
    key = f"translated/{task_id}/000-final.png"
    report = cli("status", task_id, "--json").json()
    assert report["deadLetter"]["partialObjects"] == [{"key": key, "size": 20_000}]
    text = cli("status", task_id).out
    assert "partial objects: 1 (20000 bytes)" in text and key in text
    summary = cli("status", "--json").json()
    assert (summary["deadLettersWithPartialObjects"], summary["partialObjects"]) == (1, 1)
    assert "1 with partial objects" in cli("status").out


def test_redrive_force_completes_the_task_reusing_the_partial_objects(
    cli: Cli, collector: HandlerHarness
) -> None:
    task_id = half_copied(collector)
    key = f"translated/{task_id}/000-final.png"
    assert cli("redrive", task_id).code == 1  # image:404 is not redrivable without --force
    collector.cloud.images.clear_faults()  # say the link works again
    assert cli("redrive", task_id, "--force").code == 0
    sweep = collector.invoke(TIMER)
    assert [(r["taskId"], r["outcome"]) for r in sweep["results"]] == [(task_id, "copied")]
    assert collector.cloud.oss.put_count(collector.cloud.bucket_name, key) == 1  # reused
    manifest = collector.json_object(f"translated/{task_id}/manifest.json")
    assert manifest["images"][0]["final"]["key"] == key
    assert cli("status", task_id, "--json").json()["state"] == "copied"


def test_purge_partial_dry_run_then_removes_them(cli: Cli, collector: HandlerHarness) -> None:
    task_id = half_copied(collector)
    key = f"translated/{task_id}/000-final.png"
    dry = cli("purge-partial", "--all", "--dry-run")
    assert dry.code == 0, dry.err
    assert "would remove 1 partial object(s), 20000 bytes, of 1 dead-lettered task(s)" in dry.out
    assert collector.list_keys(f"translated/{task_id}/") == [key]

    done = cli("purge-partial", task_id, "--json")
    assert done.code == 0, done.err
    assert done.json()["removed"] == [
        {"taskId": task_id, "objects": [{"key": key, "size": 20_000}], "bytes": 20_000}
    ]
    assert collector.list_keys(f"translated/{task_id}/") == []
    letter = collector.json_object(f"collector/dead-letter/{task_id}.json")
    assert letter["partialObjects"] == [] and letter["partialObjectsRemovedAt"]
    assert letter["code"] == "404"  # the letter itself stays
    assert cli("purge-partial", "--all").out.startswith("removed 0 partial object(s)")


def test_purge_partial_never_touches_a_collected_or_redriven_task(
    cli: Cli, collector: HandlerHarness
) -> None:
    copied = half_copied(collector)
    collector.cloud.images.clear_faults()
    assert cli("redrive", copied, "--force").code == 0
    redriven = half_copied(collector)
    assert cli("redrive", redriven, "--force").code == 0
    assert collector.invoke({"taskId": copied})["results"][0]["outcome"] == "copied"
    # a stale letter next to a manifest (say, restored from a backup)
    letter = {"taskId": copied, "code": "404", "reason": "x", "partialObjects": []}
    collector.cloud.bucket().put_object(f"collector/dead-letter/{copied}.json", json.dumps(letter))
    # and a letter next to a pending record (a redrive that died before removing it)
    collector.cloud.bucket().put_object(
        f"collector/dead-letter/{redriven}.json", json.dumps({**letter, "taskId": redriven})
    )
    before = sorted(collector.list_keys("translated/"))
    result = cli("purge-partial", "--all", "--json").json()
    assert result["removed"] == []
    assert {s["taskId"]: s["why"] for s in result["skipped"]} == {
        copied: "has a manifest (collected)",
        redriven: "pending (redriven): kept for reuse",
    }
    assert sorted(collector.list_keys("translated/")) == before


def test_purge_partial_needs_a_target(cli: Cli) -> None:
    result = cli("purge-partial")
    assert result.code == 2 and "TASK_ID or --all" in result.err
