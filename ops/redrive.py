"""`redrive`: move dead letters back to the pending registry once their cause is fixed (typically the
account: codes 110/111/113), so the next timer sweep collects them.

A redrive writes a fresh pending record (firstSeen = now, so the task is not instantly PendingTooLong;
attempts 0; due now; the letter's output prefix kept) and then deletes the dead letter. If the process
dies in between, the task is both pending and dead-lettered; the collector removes the letter when it
copies the task, and a second redrive is harmless.

Rejected events (bad input, `dead-letter/rejected/`) have no TaskId and are never redriven, even with
--force. Other letters marked `redrivable: false` (e.g. results expired) need --force: redriving them
only helps if the operator knows the cause is gone."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from collector.errors import CollectorError
from collector.layout import KeyLayout
from collector.object_store import ObjectStore
from collector.records import PendingRecord, parse_iso
from collector.state import DeadLetterStore, PendingRegistry
from ops.progress import NoProgress, Progress
from ops.status import fetch_all

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> float:
    """`90`, `90s`, `15m`, `2h`, `3d` -> seconds."""
    match = _DURATION.match(text.lower())
    if not match:
        raise ValueError(f"not a duration: {text!r} (use e.g. 90s, 15m, 2h, 3d)")
    return float(match.group(1)) * _UNIT_SECONDS[match.group(2)]


@dataclass(frozen=True)
class RedriveSelection:
    task_id: str | None = None
    code: str | None = None  # matches the letter's `code` ("110"), or "alimt:110"
    older_than_seconds: float | None = None
    everything: bool = False

    def is_empty(self) -> bool:
        return not (self.task_id or self.code or self.older_than_seconds is not None)

    def matches(self, letter: dict[str, Any], now: float) -> bool:
        if self.code is not None:
            code = str(letter.get("code"))
            wanted = self.code.split(":", 1)[1] if ":" in self.code else self.code
            if code != wanted:
                return False
        if self.older_than_seconds is not None:
            when = parse_iso(letter.get("deadLetteredAt"), now)
            if now - when < self.older_than_seconds:
                return False
        return True


@dataclass
class RedriveReport:
    dry_run: bool
    moved: list[dict[str, Any]] = field(default_factory=list)
    refused: list[dict[str, Any]] = field(default_factory=list)
    failed: list[dict[str, Any]] = field(default_factory=list)
    not_found: list[str] = field(default_factory=list)
    rejected_skipped: int = 0  # rejected events in scope: never redrivable
    examined: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "dryRun": self.dry_run,
            "examined": self.examined,
            "moved": self.moved,
            "refused": self.refused,
            "failed": self.failed,
            "notFound": self.not_found,
            "rejectedSkipped": self.rejected_skipped,
        }


def redrive(
    store: ObjectStore,
    layout: KeyLayout,
    selection: RedriveSelection,
    *,
    force: bool = False,
    dry_run: bool = False,
    now: float | None = None,
    progress: Callable[[str], Progress] | None = None,
) -> RedriveReport:
    if selection.is_empty() and not selection.everything:
        raise ValueError("choose what to redrive: a TASK_ID, --code, --older-than or --all")
    now = time.time() if now is None else now
    make_progress = progress or (lambda label: NoProgress())
    letters_store = DeadLetterStore(store, layout)
    report = RedriveReport(dry_run=dry_run)

    candidates: list[tuple[str, dict[str, Any] | None]]
    if selection.task_id:
        candidates = [(selection.task_id, letters_store.get(selection.task_id))]
    else:
        rejected_prefix = layout.dead_letter_prefix + "rejected/"
        listing = make_progress("listing dead letters")
        task_ids = []
        for obj in store.list(layout.dead_letter_prefix):
            listing.step()
            if obj.key.startswith(rejected_prefix):
                if selection.code in (None, "BadInput"):
                    report.rejected_skipped += 1
                continue
            name = obj.key[len(layout.dead_letter_prefix) :]
            if name.endswith(".json") and "/" not in name:
                task_ids.append(name[: -len(".json")])
        listing.done()
        reading = make_progress("reading dead letters")

        def read_letter(task_id: str) -> dict[str, Any] | None:
            try:
                return letters_store.get(task_id)
            except CollectorError as error:  # corrupt or unreadable: say so, redrive the rest
                report.failed.append({"taskId": task_id, "error": f"{error.key}: {error.detail}"})
                return {}

        candidates = list(zip(task_ids, fetch_all(task_ids, read_letter, reading), strict=True))
        reading.done()

    registry = PendingRegistry(store, layout)
    moving = make_progress("redriving")
    for task_id, letter in candidates:
        report.examined += 1
        if letter == {}:
            continue  # unreadable, already reported
        if letter is None:
            report.not_found.append(task_id)
            continue
        if not selection.matches(letter, now):
            continue
        entry = {
            "taskId": task_id,
            "code": letter.get("code"),
            "reason": letter.get("reason"),
            "deadLetteredAt": letter.get("deadLetteredAt"),
        }
        if letter.get("redrivable") is not True and not force:
            report.refused.append({**entry, "why": "not redrivable (use --force to override)"})
            continue
        if not dry_run:
            try:
                redrive_one(registry, letters_store, task_id, letter, now)
            except CollectorError as error:
                report.failed.append({**entry, "error": f"{error.key}: {error.detail}"})
                continue
            moving.step()
        report.moved.append(entry)
    moving.done()
    return report


def redrive_one(
    registry: PendingRegistry,
    letters: DeadLetterStore,
    task_id: str,
    letter: dict[str, Any],
    now: float,
) -> None:
    prefix = letter.get("outputPrefix")
    record = PendingRecord(
        task_id=task_id,
        first_seen=now,  # a fresh lifetime: the old one is what ran out, or nearly
        attempts=0,
        last_status="redriven",
        last_code=f"dead-letter:{letter.get('code')}",
        next_check=now,
        output_prefix=prefix if isinstance(prefix, str) else None,
        trigger="redrive",
    )
    registry.save(record)  # overwrite: an old record left behind would carry an old firstSeen
    letters.remove(task_id)


def render(report: RedriveReport) -> str:
    verb = "would move" if report.dry_run else "moved"
    lines = [f"{verb} {len(report.moved)} dead letter(s) to pending"]
    for entry in report.moved:
        lines.append(f"  {entry['taskId']}  code {entry['code']}  ({entry['reason']})")
    if report.refused:
        lines.append(f"refused {len(report.refused)} (not redrivable; --force overrides):")
        for entry in report.refused:
            lines.append(f"  {entry['taskId']}  code {entry['code']}  ({entry['reason']})")
    if report.failed:
        lines.append(f"failed {len(report.failed)}:")
        for entry in report.failed:
            lines.append(f"  {entry['taskId']}  {entry['error']}")
    for task_id in report.not_found:
        lines.append(f"no dead letter for {task_id}")
    if report.rejected_skipped:
        lines.append(
            f"skipped {report.rejected_skipped} rejected event(s): bad input has no TaskId "
            "and is never redrivable; fix the sender and publish again"
        )
    if report.moved and not report.dry_run:
        lines.append("the next timer sweep collects them (or run `alimt-collector sweep` now)")
    return "\n".join(lines)
