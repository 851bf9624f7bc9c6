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
from typing import Any, ClassVar

from collector.errors import CollectorError, InputCode
from collector.layout import KeyLayout
from collector.object_store import ObjectStore
from collector.records import DeadLetter, PendingRecord, parse_iso
from collector.state import DeadLetterStore, PendingRegistry
from ops.jsonview import BatchReport
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
class RedriveReport(BatchReport):
    JSON_FIELDS: ClassVar[str] = "dry_run examined moved refused failed not_found rejected_skipped"

    moved: list[dict[str, Any]] = field(default_factory=list)
    refused: list[dict[str, Any]] = field(default_factory=list)
    not_found: list[str] = field(default_factory=list)
    rejected_skipped: int = 0  # rejected events in scope: never redrivable


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
    candidates = _candidates(store, layout, selection, report, make_progress)
    registry = PendingRegistry(store, layout)
    moving = make_progress("redriving")
    for task_id, letter in candidates:
        report.examined += 1
        if letter == {}:
            continue  # unreadable, already reported
        if letter is None:
            report.not_found.append(task_id)
        elif selection.matches(letter, now) and _redrive_letter(
            registry, letters_store, task_id, letter, now, report, force=force
        ):
            moving.step()
    moving.done()
    return report


def _redrive_letter(
    registry: PendingRegistry,
    letters: DeadLetterStore,
    task_id: str,
    letter: dict[str, Any],
    now: float,
    report: RedriveReport,
    *,
    force: bool,
) -> bool:
    """Move one letter (or say why not). True if a record was written."""
    entry = {
        "taskId": task_id,
        "code": letter.get("code"),
        "reason": letter.get("reason"),
        "deadLetteredAt": letter.get("deadLetteredAt"),
    }
    if letter.get("redrivable") is not True and not force:
        report.refused.append({**entry, "why": "not redrivable (use --force to override)"})
        return False
    if not report.dry_run:
        try:
            # a fresh lifetime (firstSeen = now): the old one is what ran out, or nearly
            record = PendingRecord.redriven(DeadLetter.from_json(letter), task_id=task_id, now=now)
            registry.save(record)  # overwrite: an old record would carry an old firstSeen
            letters.remove(task_id)
        except CollectorError as error:
            report.failed.append({**entry, "error": f"{error.key}: {error.detail}"})
            return False
    report.moved.append(entry)
    return not report.dry_run


def _candidates(
    store: ObjectStore,
    layout: KeyLayout,
    selection: RedriveSelection,
    report: RedriveReport,
    make_progress: Callable[[str], Progress],
) -> list[tuple[str, dict[str, Any] | None]]:
    """(TaskId, its letter) in scope: None if there is none, {} if it cannot be read (reported)."""
    letters_store = DeadLetterStore(store, layout)
    if selection.task_id:
        return [(selection.task_id, letters_store.get(selection.task_id))]
    listing = make_progress("listing dead letters")
    task_ids = []
    for obj in store.list(layout.dead_letter_prefix):
        listing.step()
        if obj.key.startswith(layout.rejected_prefix):
            if selection.code in (None, InputCode.BAD_INPUT):
                report.rejected_skipped += 1
            continue
        task_id = layout.task_id_from_dead_letter_key(obj.key)
        if task_id:
            task_ids.append(task_id)
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
    return candidates


def render(report: RedriveReport) -> str:
    verb = "would move" if report.dry_run else "moved"
    lines = [f"{verb} {len(report.moved)} dead letter(s) to pending"]
    lines += [f"  {e['taskId']}  code {e['code']}  ({e['reason']})" for e in report.moved]
    if report.refused:
        lines.append(f"refused {len(report.refused)} (not redrivable; --force overrides):")
        lines += [f"  {e['taskId']}  code {e['code']}  ({e['reason']})" for e in report.refused]
    if report.failed:
        lines.append(f"failed {len(report.failed)}:")
        lines += [f"  {e['taskId']}  {e['error']}" for e in report.failed]
    lines += [f"no dead letter for {task_id}" for task_id in report.not_found]
    lines += _closing_lines(report)
    return "\n".join(lines)


def _closing_lines(report: RedriveReport) -> list[str]:
    lines = []
    if report.rejected_skipped:
        lines.append(
            f"skipped {report.rejected_skipped} rejected event(s): bad input has no TaskId "
            "and is never redrivable; fix the sender and publish again"
        )
    if report.moved and not report.dry_run:
        lines.append("the next timer sweep collects them (or run `alimt-collector sweep` now)")
    return lines
