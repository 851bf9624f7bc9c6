"""`status`: one task in each state, and the summary over many, with progress kept off stdout."""

from __future__ import annotations

import json

import pytest

from ops.cli import main
from tests.functional.conftest import HandlerHarness
from tests.ops.conftest import Cli


def test_summary_counts_every_state(cli: Cli, collector: HandlerHarness) -> None:
    cloud = cli.cloud
    copied = cloud.alimt.create_task(cloud.add_images("st/a", 1))
    running = cloud.alimt.create_task(cloud.add_images("st/b", 1), polls_until_finished=1000)
    arrears = cloud.alimt.create_task(cloud.add_images("st/c", 1))
    cloud.alimt.script(arrears, ["code:113"])
    answer = collector.invoke({"taskIds": [copied, running, arrears]})
    assert sorted(r["outcome"] for r in answer["results"]) == [
        "copied",
        "dead_lettered",
        "pending",
    ]
    collector.invoke({"taskId": "bad id with spaces"})  # rejected

    result = cli("status", "--json")
    assert result.code == 0, result.err
    summary = result.json()
    assert summary["copied"] == 1
    assert summary["pending"] == 1
    assert summary["oldestPending"]["taskId"] == running
    assert summary["oldestPending"]["attempts"] == 1
    assert summary["deadLettered"] == 1 and summary["deadLettersByCode"] == {"113": 1}
    assert summary["redrivable"] == 1
    assert summary["rejected"] == 1

    text = cli("status").out
    assert "copied         1" in text and "code 113" in text and running in text


def test_one_task_in_each_state(cli: Cli, collector: HandlerHarness) -> None:
    cloud = cli.cloud
    running = cloud.alimt.create_task(cloud.add_images("st/r", 1), polls_until_finished=1000)
    collector.invoke({"taskId": running})
    pending = cli("status", running)
    assert pending.code == 0
    assert pending.out.startswith(f"{running}: pending\n  pending for ")
    assert "attempts 1" in pending.out

    collector.invoke({"taskId": "EXPIRED-TASK"})
    letter = cli("status", "EXPIRED-TASK")
    assert letter.out.startswith("EXPIRED-TASK: dead_lettered")
    assert "code invalid (not redrivable)" in letter.out

    unknown = cli("status", "NEVER-SEEN", "--json")
    assert unknown.code == 1 and unknown.json()["state"] == "unknown"
    assert "collector/pending/NEVER-SEEN.json" in unknown.json()["looked"]


def test_failed_images_are_listed(cli: Cli, collector: HandlerHarness) -> None:
    cloud = cli.cloud
    task_id = cloud.alimt.create_task(
        cloud.add_images("st/f", 2), failing_images={1: (107, "System.TranslateError")}
    )
    collector.invoke({"taskId": task_id})
    report = cli("status", task_id, "--json").json()
    assert report["copied"]["failedCount"] == 1
    assert report["copied"]["failedImages"] == [
        {"index": 1, "code": 107, "message": "System.TranslateError"}
    ]


def test_progress_goes_to_stderr_and_stdout_stays_json(cli: Cli) -> None:
    bucket = cli.cloud.bucket()
    record = {"firstSeen": "2026-01-01T00:00:00.000Z", "attempts": 2, "nextCheck": "2000-01-01T00:00:00Z"}  # fmt: skip
    for i in range(130):
        bucket.put_object(f"collector/pending/T-{i:04d}.json", json.dumps(record))
    result = cli("status", "--json")
    assert result.json()["pending"] == 130 and result.json()["pendingDue"] == 130
    assert "listing pending: 100 objects..." in result.err
    assert "reading pending records: 100 objects..." in result.err
    assert cli("status", "--json", "--quiet").err == ""


def test_missing_configuration_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    env = {"ALIBABA_CLOUD_ACCESS_KEY_ID": "ak", "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "sk"}
    assert main(["status"], env=env) == 2
    assert "OUTPUT_BUCKET is required" in capsys.readouterr().err
    # no credentials at all: tests/ops/test_ops_credentials.py (a subprocess with an empty HOME)
