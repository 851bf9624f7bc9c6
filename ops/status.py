"""`status`: what happened to one task, or a summary of everything the collector knows about.

States, as the function records them in OSS:
  copied         <OUTPUT_PREFIX><TaskId>/manifest.json exists
  dead_lettered  <STATE_PREFIX>dead-letter/<TaskId>.json exists (with code, reason, redrivable)
  pending        <STATE_PREFIX>pending/<TaskId>.json exists (the timer sweep will check it again)
  unknown        none of those: never seen, or the wrong bucket/prefix
A task can briefly be in two places (a manifest is written before the pending record is removed);
the most final one wins."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from collector.errors import CollectorError
from collector.layout import KeyLayout
from collector.object_store import ObjectStore
from collector.records import PendingRecord, iso
from collector.state import DeadLetterStore, ManifestStore, PendingRegistry
from ops.jsonview import fields_json
from ops.progress import NoProgress, Progress

FETCH_CONCURRENCY = 16
T = TypeVar("T")
Progresses = Callable[[str], Progress]  # a progress line per label
R = TypeVar("R")


def fetch_all(items: list[T], fetch: Callable[[T], R], progress: Progress) -> list[R]:
    """Small JSON documents, read concurrently; progress counts documents read."""
    if not items:
        return []
    results: list[R] = []
    with ThreadPoolExecutor(max_workers=min(FETCH_CONCURRENCY, len(items))) as pool:
        for result in pool.map(fetch, items):
            results.append(result)
            progress.step()
    return results


# --- one task ------------------------------------------------------------------------------------
def task_status(
    store: ObjectStore,
    layout: KeyLayout,
    task_id: str,
    output_prefix: str | None = None,
    *,
    now: float | None = None,
) -> dict[str, Any]:
    now = time.time() if now is None else now
    pending = PendingRegistry(store, layout).get(task_id)
    letter = DeadLetterStore(store, layout).get(task_id)
    prefix = _known_prefix(output_prefix, pending, letter)
    manifest = ManifestStore(store, layout).get(task_id, prefix)

    report: dict[str, Any] = {"taskId": task_id, "state": "unknown"}
    if pending is not None:
        report["pending"] = pending_view(pending, now)
    if letter is not None:
        report["deadLetter"] = dead_letter_view(letter)
    if manifest is not None:
        report["copied"] = manifest_view(manifest)
    states = (("copied", manifest), ("dead_lettered", letter), ("pending", pending))
    report["state"] = next((state for state, found in states if found is not None), "unknown")
    if report["state"] == "unknown":
        report["looked"] = [
            layout.manifest_key(task_id, prefix),
            layout.dead_letter_key(task_id),
            layout.pending_key(task_id),
        ]
    return report


def _known_prefix(
    given: str | None, pending: PendingRecord | None, letter: dict[str, Any] | None
) -> str | None:
    """The task's output prefix: as given, else as its record or dead letter says."""
    prefix = given or (pending.output_prefix if pending else None)
    if prefix is None and letter is not None and isinstance(letter.get("outputPrefix"), str):
        prefix = letter["outputPrefix"]
    return prefix


def pending_view(record: PendingRecord, now: float) -> dict[str, Any]:
    return {
        "firstSeen": iso(record.first_seen),
        "ageSeconds": round(max(0.0, now - record.first_seen), 1),
        "attempts": record.attempts,
        "lastStatus": record.last_status,
        "lastCode": record.last_code,
        "lastError": record.last_error,
        "nextCheck": iso(record.next_check),
        "dueInSeconds": round(max(0.0, record.next_check - now), 1),
        "outputPrefix": record.output_prefix,
        "trigger": record.trigger,
    }


def dead_letter_view(letter: dict[str, Any]) -> dict[str, Any]:
    keys = ("code", "reason", "message", "redrivable", "attempts", "firstSeen", "deadLetteredAt")
    view = {k: letter.get(k) for k in keys}
    view.update(requestId=letter.get("requestId"), outputPrefix=letter.get("outputPrefix"))
    partial = letter.get("partialObjects")
    view["partialObjects"] = [
        {"key": o.get("key"), "size": o.get("size")}
        for o in (partial if isinstance(partial, list) else [])
        if isinstance(o, dict)
    ]
    return view


def manifest_view(manifest: dict[str, Any]) -> dict[str, Any]:
    images = manifest.get("images") if isinstance(manifest.get("images"), list) else []
    assert isinstance(images, list)
    return {
        "status": manifest.get("status"),
        "collectedAt": manifest.get("collectedAt"),
        "outputPrefix": manifest.get("outputPrefix"),
        "imageCount": manifest.get("imageCount", len(images)),
        "failedCount": manifest.get("failedCount", 0),
        "failedImages": [
            {"index": e.get("index"), "code": e.get("code"), "message": e.get("message")}
            for e in images
            if isinstance(e, dict) and not e.get("success")
        ],
    }


# --- the summary ---------------------------------------------------------------------------------
_JSON_FIELDS = (
    "pending pending_due oldest_pending dead_lettered dead_letters_by_code redrivable rejected "
    "copied unreadable with_partial_objects:deadLettersWithPartialObjects partial_objects"
)


@dataclass
class Summary:
    pending: int = 0
    pending_due: int = 0
    oldest_pending: dict[str, Any] | None = None
    dead_lettered: int = 0
    dead_letters_by_code: dict[str, int] = field(default_factory=dict)
    redrivable: int = 0
    rejected: int = 0
    copied: int = 0
    unreadable: int = 0
    with_partial_objects: int = 0  # dead letters naming objects left under the output prefix
    partial_objects: int = 0

    def to_json(self) -> dict[str, Any]:
        return fields_json(self, _JSON_FIELDS)


def listed_keys(store: ObjectStore, prefix: str, progress: Progress) -> Iterable[str]:
    for obj in store.list(prefix):
        progress.step()
        yield obj.key


def summary(
    store: ObjectStore,
    layout: KeyLayout,
    *,
    now: float | None = None,
    progress: Callable[[str], Progress] | None = None,
) -> Summary:
    now = time.time() if now is None else now
    make_progress = progress or (lambda label: NoProgress())
    result = Summary()
    _summarise_pending(result, store, layout, now, make_progress)
    _summarise_dead_letters(result, store, layout, make_progress)
    # copied: manifests directly under a TaskId folder of the output prefix
    listing = make_progress("listing output")
    for key in listed_keys(store, layout.output_prefix, listing):
        if layout.task_id_from_manifest_key(key):
            result.copied += 1
    listing.done()
    return result


def _or_none(read: Callable[[str], T | None]) -> Callable[[str], T | None]:
    """`read`, with a document that cannot be read counted as missing (`unreadable`)."""

    def tolerant(task_id: str) -> T | None:
        try:
            return read(task_id)
        except CollectorError:
            return None

    return tolerant


def _summarise_pending(
    result: Summary, store: ObjectStore, layout: KeyLayout, now: float, make_progress: Progresses
) -> None:
    """Every record is read, for the oldest one and the due count."""
    listing = make_progress("listing pending")
    keys = listed_keys(store, layout.pending_prefix, listing)
    task_ids = [t for t in (layout.task_id_from_pending_key(k) for k in keys) if t]
    listing.done()
    reading = make_progress("reading pending records")
    records = fetch_all(task_ids, _or_none(PendingRegistry(store, layout).get), reading)
    reading.done()
    readable = [r for r in records if r is not None]
    result.unreadable += len(records) - len(readable)
    result.pending = len(task_ids)
    result.pending_due = sum(1 for r in readable if r.next_check <= now)
    if readable:
        oldest = min(readable, key=lambda r: r.first_seen)
        result.oldest_pending = {
            "taskId": oldest.task_id,
            "firstSeen": iso(oldest.first_seen),
            "ageSeconds": round(max(0.0, now - oldest.first_seen), 1),
            "attempts": oldest.attempts,
            "lastStatus": oldest.last_status,
        }


def _summarise_dead_letters(
    result: Summary, store: ObjectStore, layout: KeyLayout, make_progress: Progresses
) -> None:
    """Rejected events are counted from the listing; task letters are read for the code."""
    listing = make_progress("listing dead letters")
    task_ids: list[str] = []
    for key in listed_keys(store, layout.dead_letter_prefix, listing):
        task_id = layout.task_id_from_dead_letter_key(key)
        if key.startswith(layout.rejected_prefix):
            result.rejected += 1
        elif task_id:
            task_ids.append(task_id)
    listing.done()
    reading = make_progress("reading dead letters")
    letters = fetch_all(task_ids, _or_none(DeadLetterStore(store, layout).get_letter), reading)
    reading.done()
    codes: Counter[str] = Counter()
    for letter in letters:
        if letter is None:
            result.unreadable += 1
            continue
        codes[letter.code] += 1
        result.redrivable += 1 if letter.redrivable else 0
        if letter.partial_objects:
            result.with_partial_objects += 1
            result.partial_objects += len(letter.partial_objects)
    result.dead_lettered = len(task_ids)
    result.dead_letters_by_code = dict(sorted(codes.items(), key=lambda kv: (-kv[1], kv[0])))


# --- text rendering ------------------------------------------------------------------------------
def age_text(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    if seconds < 172800:
        return f"{seconds // 3600}h{(seconds % 3600) // 60:02d}m"
    return f"{seconds // 86400}d{(seconds % 86400) // 3600:02d}h"


def render_task(report: dict[str, Any]) -> str:
    lines = [f"{report['taskId']}: {report['state']}"]
    if report.get("copied"):
        lines += _copied_lines(report["copied"])
    if report.get("deadLetter"):
        lines += _letter_lines(report["deadLetter"])
    pending = report.get("pending")
    if pending:
        lines.append(
            f"  pending for {age_text(pending['ageSeconds'])} (since {pending['firstSeen']}), "
            f"attempts {pending['attempts']}, last status {pending['lastStatus']}"
            + (f", last error {pending['lastCode']}" if pending["lastCode"] else "")
            + f", next check in {age_text(pending['dueInSeconds'])}"
        )
    if report["state"] == "unknown":
        lines.append("  not found at: " + ", ".join(report["looked"]))
    return "\n".join(lines)


def _copied_lines(copied: dict[str, Any]) -> list[str]:
    lines = [
        f"  copied {copied['collectedAt']}: {copied['imageCount']} image(s), "
        f"{copied['failedCount']} failed, status {copied['status']}, "
        f"output {copied['outputPrefix']}"
    ]
    for failed in copied["failedImages"]:
        lines.append(f"    image {failed['index']}: {failed['code']} {failed['message']}")
    return lines


def _letter_lines(letter: dict[str, Any]) -> list[str]:
    lines = [
        f"  dead-lettered {letter['deadLetteredAt']}: code {letter['code']} "
        f"({'redrivable' if letter['redrivable'] else 'not redrivable'}), "
        f"attempts {letter['attempts']}",
        f"    reason: {letter['reason']}",
    ]
    if letter.get("message"):
        lines.append(f"    message: {letter['message']}")
    partial = letter.get("partialObjects") or []
    if partial:
        size = sum(o["size"] for o in partial if isinstance(o.get("size"), int))
        lines.append(
            f"    partial objects: {len(partial)} ({size} bytes) left under the output prefix; "
            "`redrive --force` reuses them, `purge-partial` removes them"
        )
        lines.extend(f"      {o['key']}  {o['size']}" for o in partial)
    return lines


def render_summary(result: Summary, bucket: str, layout: KeyLayout) -> str:
    lines = [
        f"bucket {bucket}: output {layout.output_prefix}, state {layout.state_prefix}",
        f"  copied         {result.copied}",
        f"  pending        {result.pending} ({result.pending_due} due now)",
    ]
    if result.oldest_pending:
        oldest = result.oldest_pending
        lines.append(
            f"    oldest       {oldest['taskId']}, {age_text(oldest['ageSeconds'])} "
            f"(attempts {oldest['attempts']}, last status {oldest['lastStatus']})"
        )
    lines.append(f"  dead-lettered  {result.dead_lettered} ({result.redrivable} redrivable)")
    for code, count in result.dead_letters_by_code.items():
        lines.append(f"    code {code:<12} {count}")
    if result.with_partial_objects:
        lines.append(
            f"    {result.with_partial_objects} with partial objects ({result.partial_objects} "
            "objects; `alimt-collector purge-partial --all --dry-run`)"
        )
    lines.append(f"  rejected       {result.rejected} (bad input, never redrivable)")
    if result.unreadable:
        lines.append(f"  unreadable     {result.unreadable} (records that could not be read)")
    return "\n".join(lines)
