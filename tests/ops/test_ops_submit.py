"""`submit` and `sweep` through the real alimt SDK and oss2 against the local cloud."""

from __future__ import annotations

import json
from pathlib import Path

from tests.functional.conftest import HandlerHarness
from tests.ops.conftest import Cli

TIMER = {"triggerTime": "2026-11-29T00:00:00Z", "triggerName": "sweep", "payload": ""}


def test_submit_registers_pending_then_the_sweep_copies_it(
    cli: Cli, collector: HandlerHarness
) -> None:
    urls = cli.cloud.add_images("ops/submit", 2)
    result = cli("submit", "--from", "zh", "--to", "en", *urls)
    assert result.code == 0, result.err
    [task_id] = result.out.split()
    task = cli.cloud.alimt.task(task_id)
    assert task is not None and task.image_urls == urls
    assert task.options.need_editor_data is True
    record = collector.json_object(f"collector/pending/{task_id}.json")
    assert record["trigger"] == "submit" and record["attempts"] == 0

    status = cli("status", task_id, "--json")
    assert status.code == 0 and status.json()["state"] == "pending"

    sweep = collector.invoke(TIMER)
    assert [r["outcome"] for r in sweep["results"]] == ["copied"]

    status = cli("status", task_id, "--json")
    report = status.json()
    assert report["state"] == "copied"
    assert report["copied"]["imageCount"] == 2
    assert report["copied"]["outputPrefix"] == f"translated/{task_id}/"
    assert "pending" not in report


def test_long_url_lists_are_split_into_batches_of_20(cli: Cli, tmp_path: Path) -> None:
    urls = cli.cloud.add_images("ops/many", 25)
    url_file = tmp_path / "urls.txt"
    url_file.write_text("# sources\n" + "\n".join(urls) + "\n\n", encoding="utf-8")
    result = cli(
        "submit", "--from", "zh", "--to", "en", "--scene", "e-commerce", "--file", str(url_file),
        "--no-editor-data", "--json",
    )  # fmt: skip
    assert result.code == 0, result.err
    batches = result.json()["batches"]
    assert [b["images"] for b in batches] == [20, 5]
    assert all(b["registered"] for b in batches)
    for batch in batches:
        task = cli.cloud.alimt.task(batch["taskId"])
        assert task is not None
        assert task.translate_field == "e-commerce" and task.options.need_editor_data is False
    keys = cli.cloud.oss.list_keys(cli.cloud.bucket_name, "collector/pending/")
    assert sorted(keys) == sorted(f"collector/pending/{b['taskId']}.json" for b in batches)


def test_custom_task_id_deduplicates_a_resubmit(cli: Cli) -> None:
    urls = cli.cloud.add_images("ops/dedup", 1)
    first = cli("submit", "--from", "zh", "--to", "en", "--custom-task-id", "order-17", *urls)
    second = cli("submit", "--from", "zh", "--to", "en", "--custom-task-id", "order-17", *urls)
    assert first.code == second.code == 0
    assert first.out == second.out  # the same TaskId
    assert "registered as pending" in first.err
    assert "already registered" in second.err


def test_a_business_error_is_reported_and_nothing_is_registered(cli: Cli) -> None:
    urls = cli.cloud.add_images("ops/refused", 1)
    cli.cloud.alimt.script(None, ["code:110"])  # HTTP 200 with Code 110
    result = cli("submit", "--from", "zh", "--to", "en", *urls)
    assert result.code == 1
    assert result.out == ""
    assert "110" in result.err and "AccountNotActivated" in result.err
    assert cli.cloud.oss.list_keys(cli.cloud.bucket_name, "collector/") == []


def test_bad_arguments_are_refused_before_any_call(cli: Cli) -> None:
    result = cli("submit", "--from", "zh", "--to", "en", "ftp://example.com/a.png")
    assert result.code == 2 and "not an http(s) URL" in result.err
    assert cli.cloud.alimt.calls("TranslateImageBatch") == 0


def test_sweep_command_collects_submitted_tasks(cli: Cli) -> None:
    urls = cli.cloud.add_images("ops/sweep", 1)
    task_id = cli("submit", "--from", "zh", "--to", "en", *urls).out.strip()
    result = cli("sweep")
    assert result.code == 0, result.err
    lines = [json.loads(line) for line in result.out.splitlines()]
    [summary] = [line for line in lines if line["event"] == "invocation_summary"]
    assert summary["counts"]["copied"] == 1 and summary["trigger"] == "timer"
    [outcome] = [line for line in lines if line["event"] == "task_outcome"]
    assert outcome["taskId"] == task_id and outcome["outcome"] == "copied"
    assert cli("status", task_id, "--json").json()["state"] == "copied"
