"""The timer sweep: walk the pending registry, oldest first, one API call per due task, paced under
the API quota, and stop before the time budget runs out (what remains waits for the next tick).

Several sweeps, or a sweep and an MNS delivery of the same task, may run at once: every write they
make is either create-once (`x-oss-forbid-overwrite`) or an idempotent record update, so the worst
case is a task checked twice.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from collector.errors import CollectorError
from collector.models import SweepOptions, TaskOutcome, TaskRequest
from collector.state import PendingRecord

if TYPE_CHECKING:
    from collector.service import ResultCollector

RECORD_FETCH_CONCURRENCY = 16
PROGRESS_EVERY_SECONDS = 10.0


class PendingSweeper:
    def __init__(self, collector: ResultCollector) -> None:
        self._collector = collector
        self._config = collector.config
        self._log = collector.log

    def sweep(self, options: SweepOptions | None, outcomes: list[TaskOutcome]) -> dict[str, Any]:
        options = options or SweepOptions()
        started = time.monotonic()
        budget = options.max_seconds or self._config.sweep_max_seconds
        deadline = self._collector.deadline.sooner(budget)

        task_ids = self._collector.pending.list_task_ids()  # a listing failure fails the tick
        records = self._load(task_ids)
        now = self._collector.clock()
        due = sorted((r for r in records if r.next_check <= now), key=lambda r: r.first_seen)
        if options.max_tasks is not None:
            due = due[: options.max_tasks]
        self._log.info(
            "sweep_started", registered=len(task_ids), due=len(due), budgetSeconds=round(budget, 1)
        )

        queue = iter(due)
        lock = threading.Lock()
        processed: list[TaskOutcome] = []
        progress = {"last": time.monotonic()}

        def worker() -> None:
            while True:
                if deadline.remaining() < 1.0:
                    return
                with lock:
                    record = next(queue, None)
                if record is None:
                    return
                outcome = self._collector.collect(
                    TaskRequest(record.task_id, record.output_prefix),
                    wait=False,
                    trigger="timer",
                    record=record,
                    deadline=deadline,
                )
                with lock:
                    processed.append(outcome)
                    if time.monotonic() - progress["last"] >= PROGRESS_EVERY_SECONDS:
                        progress["last"] = time.monotonic()
                        self._log.info("sweep_progress", processed=len(processed), due=len(due))

        workers = max(1, min(self._config.sweep_concurrency, len(due)))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sweep") as pool:
            for future in [pool.submit(worker) for _ in range(workers)]:
                future.result()

        outcomes.extend(processed)
        summary = {
            "registered": len(task_ids),
            "due": len(due),
            "processed": len(processed),
            "remaining": len(due) - len(processed),
            "notDue": len(records) - len([r for r in records if r.next_check <= now]),
            "seconds": round(time.monotonic() - started, 3),
        }
        self._log.info("sweep_finished", **summary)
        return summary

    def _load(self, task_ids: list[str]) -> list[PendingRecord]:
        """Read the records concurrently (small JSON objects); a record that vanished was collected
        meanwhile, and one that cannot be read is retried next tick."""

        def load(task_id: str) -> PendingRecord | None:
            try:
                return self._collector.pending.get(task_id)
            except CollectorError as error:
                if error.code == "CorruptDocument":
                    # keep the task: start a fresh record for it rather than lose it
                    self._log.warning("pending_record_corrupt", taskId=task_id)
                    return PendingRecord(task_id, first_seen=self._collector.clock())
                self._log.warning("pending_record_unreadable", taskId=task_id, code=error.key)
                return None

        if not task_ids:
            return []
        with ThreadPoolExecutor(
            max_workers=min(RECORD_FETCH_CONCURRENCY, len(task_ids)), thread_name_prefix="load"
        ) as pool:
            return [r for r in pool.map(load, task_ids) if r is not None]
