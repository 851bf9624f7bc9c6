"""The collector end to end through index.handler: copy, pending, partial failures, redelivery."""

from __future__ import annotations

import json

import pytest

from collector.errors import RetryableInvocationError
from local.cloud import LocalCloud
from tests.functional.conftest import HandlerHarness


def make_task(cloud: LocalCloud, images: int = 2, **options: object) -> str:
    sources = cloud.add_images("src", images)
    options.setdefault("need_editor_data", True)
    return cloud.alimt.create_task(sources, **options)  # type: ignore[arg-type]


def test_finished_task_is_copied_with_a_manifest(collector: HandlerHarness) -> None:
    cloud = collector.cloud
    task_id = make_task(cloud, images=3, image_size=60_000)

    answer = collector.invoke({"taskId": task_id})

    assert answer["counts"]["copied"] == 1
    [result] = answer["results"]
    assert result["taskId"] == task_id and result["outcome"] == "copied"
    assert result["images"] == 3 and result["objectsWritten"] == 10  # 9 artifacts + manifest

    prefix = f"translated/{task_id}/"
    keys = collector.list_keys(prefix)
    for index in range(3):
        assert f"{prefix}{index:03d}-final.png" in keys
        assert f"{prefix}{index:03d}-inpainting.png" in keys
        assert f"{prefix}{index:03d}-template.json" in keys
    manifest = collector.json_object(prefix + "manifest.json")
    assert manifest["taskId"] == task_id
    assert manifest["status"] == "finished"
    assert manifest["collectedAt"].endswith("Z")
    assert [entry["index"] for entry in manifest["images"]] == [0, 1, 2]

    task = cloud.alimt.task(task_id)
    assert task is not None and task.results is not None
    for entry, produced in zip(manifest["images"], task.results, strict=True):
        assert entry["success"] is True and entry["code"] == 200
        assert entry["sourceImageUrl"] == produced.source_url.split("?")[0]
        final = entry["final"]
        # the bytes in OSS are the bytes the image host served: same size and CRC64
        name = produced.final_url.split("?")[0].split("/", 3)[3].rsplit(".", 1)[0]  # type: ignore[union-attr]
        assert final["size"] == cloud.images.image_size(name)
        assert final["crc64"] == str(cloud.images.expected_crc64(name))
        assert collector.cloud.bucket().get_object(final["key"]).read()[:8] == b"\x89PNG\r\n\x1a\n"
        template = cloud.bucket().get_object(entry["template"]["key"]).read().decode()
        assert template == produced.template_json
    # nothing left in the pending registry, nothing dead-lettered
    assert collector.list_keys("collector/") == []


def test_python310_context_credentials_work_too(collector: HandlerHarness) -> None:
    collector.style = "python3.10"
    task_id = make_task(collector.cloud, images=1)
    answer = collector.invoke({"TaskId": task_id})
    assert answer["results"][0]["outcome"] == "copied"


def test_results_without_editor_data_copy_only_the_final_image(collector: HandlerHarness) -> None:
    task_id = make_task(collector.cloud, images=2, need_editor_data=False)
    collector.invoke({"taskId": task_id})
    keys = collector.list_keys(f"translated/{task_id}/")
    assert sorted(k.rsplit("/", 1)[1] for k in keys) == [
        "000-final.png",
        "001-final.png",
        "manifest.json",
    ]
    manifest = collector.json_object(f"translated/{task_id}/manifest.json")
    assert manifest["images"][0]["inpainting"] is None
    assert manifest["images"][0]["template"] is None


def test_output_prefix_from_the_message(collector: HandlerHarness) -> None:
    task_id = make_task(collector.cloud, images=1)
    body = json.dumps({"TaskId": task_id, "outputPrefix": "campaigns/spring/"})
    collector.invoke({"body": body, "attrs": {"Extend": "{}"}})
    assert f"campaigns/spring/{task_id}/manifest.json" in collector.list_keys("campaigns/")


def test_partial_image_failure_is_recorded_in_the_manifest(collector: HandlerHarness) -> None:
    task_id = make_task(
        collector.cloud, images=3, failing_images={1: (107, "System.TranslateError")}
    )
    answer = collector.invoke({"taskId": task_id})
    assert answer["results"][0]["outcome"] == "copied"
    assert answer["results"][0]["code"] == "finished_with_errors"
    manifest = collector.json_object(f"translated/{task_id}/manifest.json")
    assert manifest["status"] == "finished_with_errors"
    failed = manifest["images"][1]
    assert failed["success"] is False
    assert failed["code"] == 107 and failed["message"] == "System.TranslateError"
    assert failed["final"] is None and failed["inpainting"] is None and failed["template"] is None
    assert manifest["images"][0]["final"] is not None and manifest["images"][2]["final"] is not None


def test_entry_missing_its_url_is_a_failed_entry(collector: HandlerHarness) -> None:
    cloud = collector.cloud
    task_id = make_task(cloud, images=2)
    cloud.alimt.script(task_id, ["missing-urls"])
    collector.invoke({"taskId": task_id})
    manifest = collector.json_object(f"translated/{task_id}/manifest.json")
    assert manifest["status"] == "finished_with_errors"
    assert {entry["code"] for entry in manifest["images"]} == {"MissingImageUrl"}


def test_pending_task_goes_to_the_registry_then_the_sweep_collects_it(
    collector: HandlerHarness,
) -> None:
    cloud = collector.cloud
    task_id = make_task(cloud, images=1, polls_until_finished=1000)

    answer = collector.invoke({"taskId": task_id})
    assert answer["results"][0]["outcome"] == "pending"
    record = collector.json_object(f"collector/pending/{task_id}.json")
    assert record["taskId"] == task_id and record["attempts"] == 1
    assert record["lastStatus"] in ("created", "running")
    assert record["firstSeen"].endswith("Z") and record["nextCheck"].endswith("Z")
    polls = cloud.alimt.calls("GetTranslateImageBatchResult", task_id)
    assert polls >= 2, "it polled again within the wait budget before giving up"

    cloud.alimt.finish_task(task_id)
    # the record asks for a later check; a sweep after that time collects it
    record_due = dict(record, nextCheck="2000-01-01T00:00:00.000Z")
    cloud.bucket().put_object(f"collector/pending/{task_id}.json", json.dumps(record_due))
    sweep = collector.invoke(
        {"triggerTime": "2026-11-29T00:00:00Z", "triggerName": "sweep", "payload": ""}
    )
    assert sweep["trigger"] == "timer"
    assert [r["outcome"] for r in sweep["results"]] == ["copied"]
    assert sweep["sweep"]["processed"] == 1
    assert f"translated/{task_id}/manifest.json" in collector.list_keys("translated/")
    assert collector.list_keys("collector/pending/") == []


def test_sweep_skips_tasks_not_due_yet(collector: HandlerHarness) -> None:
    task_id = make_task(collector.cloud, images=1, polls_until_finished=1000)
    collector.invoke({"taskId": task_id})
    sweep = collector.invoke({"triggerTime": "x", "triggerName": "sweep", "payload": ""})
    assert sweep["sweep"]["notDue"] == 1 and sweep["results"] == []


def test_redelivery_of_a_collected_task_writes_nothing(collector: HandlerHarness) -> None:
    task_id = make_task(collector.cloud, images=2)
    collector.invoke({"taskId": task_id})
    writes_before = collector.object_count_written()

    again = collector.invoke({"taskId": task_id})

    assert again["results"][0]["outcome"] == "already_copied"
    assert collector.object_count_written() == writes_before


def test_retry_after_a_half_done_copy_writes_only_what_is_missing(
    collector: HandlerHarness,
) -> None:
    cloud = collector.cloud
    task_id = make_task(cloud, images=3)
    # Every download of image 2's final fails with a server error: the first invocation copies the
    # rest and fails (to be retried); the second writes only what was missing.
    cloud.images.inject(f"{task_id}/2-final*", "http:503", count=None)

    with pytest.raises(RetryableInvocationError, match=task_id):
        collector.invoke({"taskId": task_id})
    record = collector.json_object(f"collector/pending/{task_id}.json")
    assert record["lastCode"] == "image:HTTP5xx"
    assert f"translated/{task_id}/manifest.json" not in collector.list_keys()

    cloud.images.clear_faults()
    answer = collector.invoke({"taskId": task_id})
    assert answer["results"][0]["outcome"] == "copied"
    assert answer["results"][0]["objectsWritten"] == 2  # the missing image and the manifest
    for key in collector.list_keys(f"translated/{task_id}/"):
        assert cloud.oss.put_count(cloud.bucket_name, key) == 1, key


def test_direct_batch_collects_each_task(collector: HandlerHarness) -> None:
    cloud = collector.cloud
    first, second = make_task(cloud, images=1), make_task(cloud, images=1)
    answer = collector.invoke({"taskIds": [first, second, "../bad"]})
    outcomes = {r["taskId"]: r["outcome"] for r in answer["results"]}
    assert outcomes == {first: "copied", second: "copied", None: "rejected"}
    assert answer["counts"]["copied"] == 2 and answer["counts"]["rejected"] == 1


def test_structured_log_line_per_outcome(
    collector: HandlerHarness, capsys: pytest.CaptureFixture[str]
) -> None:
    task_id = make_task(collector.cloud, images=1)
    collector.invoke({"taskId": task_id})
    lines = [
        json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")
    ]
    outcome_lines = [line for line in lines if line["event"] == "task_outcome"]
    assert len(outcome_lines) == 1
    line = outcome_lines[0]
    assert line["taskId"] == task_id and line["outcome"] == "copied"
    assert line["requestId"] and "totalSeconds" in line["timings"]
    summary = [line for line in lines if line["event"] == "invocation_summary"]
    assert summary and summary[0]["counts"]["copied"] == 1


def test_summary_line_survives_a_quiet_log_level(
    collector: HandlerHarness, capsys: pytest.CaptureFixture[str]
) -> None:
    collector.configure(LOG_LEVEL="WARNING")
    task_id = make_task(collector.cloud, images=1)
    collector.invoke({"taskId": task_id})
    events = [json.loads(line)["event"] for line in capsys.readouterr().out.splitlines()]
    assert "task_outcome" not in events  # a copied task is INFO: filtered out
    assert events.count("invocation_summary") == 1  # the metric line is always written
