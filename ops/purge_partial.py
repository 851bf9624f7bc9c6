"""`purge-partial`: remove the objects a dead-lettered task left under `<OUTPUT_PREFIX><TaskId>/`.

A task dead-lettered after some of its objects were copied (one image link expired, say) keeps them:
its dead letter lists them as `partialObjects`, and `redrive --force` reuses them if the task can
still be collected. Once the task is abandoned, this command removes them. It only ever touches a
task that is dead-lettered and has neither a manifest (collected: its objects are the result) nor a
pending record (redriven: the next sweep reuses them). `--dry-run` shows what would go.

What is removed is what is under the task's prefix now (listed again), not only what the letter
names: a racing copy may have added an object after the letter was written. The letter is kept, its
`partialObjects` emptied and `partialObjectsRemovedAt` set, so the task's story stays readable."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from collector.errors import CollectorError
from collector.layout import KeyLayout
from collector.object_store import ObjectStore
from collector.records import iso
from collector.state import DeadLetterStore, ManifestStore, PendingRegistry
from ops.jsonview import BatchReport
from ops.progress import NoProgress, Progress


@dataclass
class PurgeReport(BatchReport):
    JSON_FIELDS: ClassVar[str] = "dry_run examined removed skipped failed"

    removed: list[dict[str, Any]] = field(default_factory=list)  # per task: keys, bytes
    skipped: list[dict[str, Any]] = field(default_factory=list)  # per task: why not


def purge_partial(
    store: ObjectStore,
    layout: KeyLayout,
    *,
    task_id: str | None = None,
    dry_run: bool = False,
    now: float | None = None,
    progress: Callable[[str], Progress] | None = None,
) -> PurgeReport:
    """One task (`task_id`), or every dead-lettered task."""
    make_progress = progress or (lambda label: NoProgress())
    letters = DeadLetterStore(store, layout)
    report = PurgeReport(dry_run=dry_run)
    if task_id is not None:
        task_ids = [task_id]
    else:
        listing = make_progress("listing dead letters")
        task_ids = []
        for obj in store.list(layout.dead_letter_prefix):
            listing.step()
            found = layout.task_id_from_dead_letter_key(obj.key)
            if found:  # rejected events have no objects
                task_ids.append(found)
        listing.done()
    working = make_progress("checking tasks")
    for current in task_ids:
        report.examined += 1
        working.step()
        try:
            _purge_one(store, layout, letters, current, report, dry_run, now)
        except CollectorError as error:
            report.failed.append({"taskId": current, "error": f"{error.key}: {error.detail}"})
    working.done()
    return report


def _purge_one(
    store: ObjectStore,
    layout: KeyLayout,
    letters: DeadLetterStore,
    task_id: str,
    report: PurgeReport,
    dry_run: bool,
    now: float | None,
) -> None:
    letter = letters.get(task_id)
    if letter is None:
        report.skipped.append({"taskId": task_id, "why": "not dead-lettered"})
        return
    prefix = letter.get("outputPrefix") if isinstance(letter.get("outputPrefix"), str) else None
    manifests = ManifestStore(store, layout)
    kept = _kept_because(manifests, PendingRegistry(store, layout), task_id, prefix)
    if kept:
        report.skipped.append({"taskId": task_id, "why": kept})
        return
    objects = manifests.partial_objects(task_id, prefix)
    if not objects:
        return  # nothing left behind: nothing to say
    entry = {"taskId": task_id, "objects": objects, "bytes": sum(o["size"] for o in objects)}
    if not dry_run:
        # checked again just before deleting: a redrive or a copy may have happened meanwhile
        if _kept_because(manifests, PendingRegistry(store, layout), task_id, prefix):
            report.skipped.append({"taskId": task_id, "why": "collected or redriven meanwhile"})
            return
        for obj in objects:
            store.delete(obj["key"])
        at = iso(time.time() if now is None else now)
        letters.mark_partial_objects_removed(task_id, letter, at)
    report.removed.append(entry)


def _kept_because(
    manifests: ManifestStore, registry: PendingRegistry, task_id: str, prefix: str | None
) -> str | None:
    """Why a dead-lettered task's objects must stay, if they must."""
    if manifests.exists(task_id, prefix):
        return "has a manifest (collected)"
    if registry.get(task_id) is not None:
        return "pending (redriven): kept for reuse"
    return None


def render(report: PurgeReport) -> str:
    verb = "would remove" if report.dry_run else "removed"
    count = sum(len(e["objects"]) for e in report.removed)
    size = sum(e["bytes"] for e in report.removed)
    lines = [
        f"{verb} {count} partial object(s), {size} bytes, of {len(report.removed)} "
        "dead-lettered task(s)"
    ]
    for entry in report.removed:
        lines.append(f"  {entry['taskId']}  {len(entry['objects'])} object(s), {entry['bytes']} B")
        lines.extend(f"    {o['key']}  {o['size']}" for o in entry["objects"])
    for entry in report.skipped:
        lines.append(f"  skipped {entry['taskId']}: {entry['why']}")
    for entry in report.failed:
        lines.append(f"  failed {entry['taskId']}: {entry['error']}")
    if report.removed and report.dry_run:
        lines.append("run again without --dry-run to remove them")
    return "\n".join(lines)


# --- command line (registered in ops/cli.py) -----------------------------------------------------
def add_parser(command: Callable[[str, str, str], argparse.ArgumentParser]) -> None:
    parser = command(
        "purge-partial",
        "Remove the objects a dead-lettered task left under its output prefix, once the task is "
        "abandoned. Never touches a task with a manifest or a pending record.",
        "examples:\n  alimt-collector purge-partial --all --dry-run\n"
        "  alimt-collector purge-partial 6F1C0F0A-...\n",
    )
    parser.add_argument("task_id", nargs="?", metavar="TASK_ID", help="one task")
    parser.add_argument("--all", action="store_true", help="every dead-lettered task")
    parser.add_argument(
        "--dry-run", action="store_true", help="show what would be removed; change nothing"
    )
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def cmd_purge_partial(settings: Any, args: argparse.Namespace) -> int:
    from ops import cli

    if args.task_id:
        cli._check_task_id(args.task_id)
    elif not args.all:
        raise cli.UsageError("choose what to purge: TASK_ID or --all")
    report = purge_partial(
        settings.object_store(),
        settings.layout,
        task_id=args.task_id,
        dry_run=args.dry_run,
        progress=cli._progress(args),
    )
    if args.json:
        cli._print_json(report.to_json())
    else:
        print(render(report))
    return cli.EXIT_FAILED if report.failed else cli.EXIT_OK
