"""`redrive`: account errors back to pending and then copied; refusals, dry runs and filters."""

from __future__ import annotations

import json
import time

import pytest

from collector.records import parse_iso
from local.cloud import LocalCloud
from ops.redrive import parse_duration
from tests.functional.conftest import HandlerHarness
from tests.ops.conftest import Cli

TIMER = {"triggerTime": "2026-11-29T00:00:00Z", "triggerName": "sweep", "payload": ""}


def dead_letter_account_error(collector: HandlerHarness, code: int = 110) -> str:
    """A finished task whose collection hit an account error: dead-lettered, redrivable."""
    cloud = collector.cloud
    task_id = cloud.alimt.create_task(cloud.add_images("ops/acct", 2), need_editor_data=True)
    cloud.alimt.script(task_id, [f"code:{code}"])  # one failing answer, then normal
    answer = collector.invoke({"taskId": task_id})
    assert answer["results"][0]["outcome"] == "dead_lettered"
    return task_id


def bucket_snapshot(cloud: LocalCloud) -> dict[str, bytes]:
    bucket = cloud.bucket()
    return {
        key: bucket.get_object(key).read() for key in cloud.oss.list_keys(cloud.bucket_name, "")
    }


def test_account_error_redrive_ends_copied(cli: Cli, collector: HandlerHarness) -> None:
    task_id = dead_letter_account_error(collector)
    letter = collector.json_object(f"collector/dead-letter/{task_id}.json")
    assert letter["code"] == "110" and letter["redrivable"] is True

    status = cli("status", task_id, "--json").json()
    assert status["state"] == "dead_lettered" and status["deadLetter"]["code"] == "110"

    before = time.time()
    result = cli("redrive", "--code", "110")
    assert result.code == 0, result.err
    assert f"moved 1 dead letter(s) to pending\n  {task_id}  code 110" in result.out
    assert collector.list_keys("collector/dead-letter/") == []
    record = collector.json_object(f"collector/pending/{task_id}.json")
    assert record["attempts"] == 0 and record["trigger"] == "redrive"
    assert parse_iso(record["firstSeen"], 0) >= before - 1  # a fresh lifetime
    assert parse_iso(record["nextCheck"], 0) <= time.time()  # due now

    sweep = collector.invoke(TIMER)  # the account is fixed: the emulator's script is used up
    assert [(r["taskId"], r["outcome"]) for r in sweep["results"]] == [(task_id, "copied")]
    report = cli("status", task_id, "--json").json()
    assert report["state"] == "copied" and report["copied"]["imageCount"] == 2
    assert "deadLetter" not in report and "pending" not in report


def test_not_redrivable_letters_need_force(cli: Cli, collector: HandlerHarness) -> None:
    collector.invoke({"taskId": "NO-SUCH-TASK-1"})  # alimt says invalid: final
    letter = collector.json_object("collector/dead-letter/NO-SUCH-TASK-1.json")
    assert letter["redrivable"] is False

    refused = cli("redrive", "NO-SUCH-TASK-1")
    assert refused.code == 1
    assert "refused 1" in refused.out and "--force" in refused.out
    assert collector.list_keys("collector/pending/") == []

    forced = cli("redrive", "NO-SUCH-TASK-1", "--force", "--json")
    assert forced.code == 0
    assert [m["taskId"] for m in forced.json()["moved"]] == ["NO-SUCH-TASK-1"]
    assert collector.list_keys("collector/pending/") == ["collector/pending/NO-SUCH-TASK-1.json"]


def test_dry_run_changes_nothing(cli: Cli, collector: HandlerHarness) -> None:
    task_id = dead_letter_account_error(collector, code=113)
    before = bucket_snapshot(cli.cloud)
    writes = cli.cloud.oss.request_count("put") + cli.cloud.oss.request_count("delete")

    result = cli("redrive", "--all", "--dry-run", "--json")
    assert result.code == 0
    report = result.json()
    assert report["dryRun"] is True and [m["taskId"] for m in report["moved"]] == [task_id]
    assert bucket_snapshot(cli.cloud) == before
    assert cli.cloud.oss.request_count("put") + cli.cloud.oss.request_count("delete") == writes


def test_rejected_events_are_never_redriven(cli: Cli, collector: HandlerHarness) -> None:
    collector.invoke({"taskId": "../../etc/passwd"})
    [rejected] = collector.list_keys("collector/dead-letter/rejected/")

    result = cli("redrive", "--all", "--force")
    assert result.code == 0
    assert "skipped 1 rejected event(s)" in result.out
    assert collector.list_keys("collector/dead-letter/rejected/") == [rejected]
    assert collector.list_keys("collector/pending/") == []


def test_filters_by_code_and_age(cli: Cli, collector: HandlerHarness) -> None:
    arrears = dead_letter_account_error(collector, code=113)
    inactive = dead_letter_account_error(collector, code=110)

    assert cli("redrive", "--older-than", "1h", "--json").json()["moved"] == []
    moved = cli("redrive", "--code", "alimt:113", "--json").json()["moved"]
    assert [m["taskId"] for m in moved] == [arrears]
    letters = collector.list_keys("collector/dead-letter/")
    assert letters == [f"collector/dead-letter/{inactive}.json"]

    # backdate the remaining letter: an age filter then selects it
    key = f"collector/dead-letter/{inactive}.json"
    letter = collector.json_object(key)
    letter["deadLetteredAt"] = "2000-01-01T00:00:00.000Z"
    cli.cloud.bucket().put_object(key, json.dumps(letter))
    moved = cli("redrive", "--older-than", "2h", "--json").json()["moved"]
    assert [m["taskId"] for m in moved] == [inactive]


def test_redrive_needs_a_selection(cli: Cli) -> None:
    result = cli("redrive")
    assert result.code == 2 and "--all" in result.err


@pytest.mark.parametrize(
    ("text", "seconds"), [("90", 90), ("90s", 90), ("15m", 900), ("2h", 7200), ("1.5d", 129600)]
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


def test_parse_duration_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration("two hours")
