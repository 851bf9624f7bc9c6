"""The function's JSON log lines carry what operators chart and search in Simple Log Service:
one line per task outcome and per retry decision, and one summary per invocation."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.functional.conftest import HandlerHarness


def log_lines(out: str) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert lines and all(isinstance(line, dict) for line in lines)
    return lines


def test_outcome_retry_and_summary_lines_carry_the_fields(
    collector: HandlerHarness, capsys: pytest.CaptureFixture[str]
) -> None:
    cloud = collector.cloud
    task_id = cloud.alimt.create_task(cloud.add_images("logs/a", 2), need_editor_data=True)
    cloud.alimt.script(task_id, ["throttle"])  # one throttled answer: a retry decision, then ok
    capsys.readouterr()
    answer = collector.invoke({"taskId": task_id})
    assert answer["results"][0]["outcome"] == "copied"
    lines = log_lines(capsys.readouterr().out)
    request_ids = {line["requestId"] for line in lines}
    assert len(request_ids) == 1 and None not in request_ids

    [retry] = [line for line in lines if line["event"] == "retry_decision"]
    assert retry["taskId"] == task_id and retry["outcome"] == "retry"
    assert retry["code"] == "alimt:Throttling" and retry["attempt"] == 1
    assert retry["elapsedSeconds"] >= 0 and retry["delaySeconds"] > 0

    [outcome] = [line for line in lines if line["event"] == "task_outcome"]
    assert outcome["taskId"] == task_id and outcome["outcome"] == "copied"
    assert outcome["attempts"] == 0 and outcome["elapsedSeconds"] > 0
    assert outcome["bytesWritten"] > 0

    [summary] = [line for line in lines if line["event"] == "invocation_summary"]
    counts = summary["counts"]
    assert {"copied", "pending", "dead_lettered", "rejected"} <= set(counts)
    assert counts["copied"] == 1 and counts["dead_lettered"] == 0
    assert summary["bytesWritten"] == outcome["bytesWritten"]
    assert summary["durationSeconds"] > 0


def test_dead_letter_lines_carry_the_code_and_the_level_is_configurable(
    collector: HandlerHarness, capsys: pytest.CaptureFixture[str]
) -> None:
    cloud = collector.cloud
    task_id = cloud.alimt.create_task(cloud.add_images("logs/b", 1))
    cloud.alimt.script(task_id, ["code:110"])
    collector.configure(LOG_LEVEL="WARNING")
    capsys.readouterr()
    collector.invoke({"taskId": task_id})
    lines = log_lines(capsys.readouterr().out)
    # below the threshold only the per-invocation metric line is written
    quiet = [line for line in lines if line["event"] != "invocation_summary"]
    assert {line["level"] for line in quiet} <= {"WARNING", "ERROR"}
    assert [line["event"] for line in lines].count("invocation_summary") == 1
    [outcome] = [line for line in lines if line["event"] == "task_outcome"]
    assert outcome["outcome"] == "dead_lettered" and outcome["code"] == "alimt:110"
    assert outcome["taskId"] == task_id and "elapsedSeconds" in outcome
