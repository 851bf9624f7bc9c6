"""The timer sweep: walk the pending registry, one API call per due task, paced under the API quota,
and stop before the time budget runs out (what remains waits for the next tick).

When everything registered fits in the budget (API_QPS x budget) the listing is streamed: records
are read by the workers as they go, so polling starts at once. When it does not, every record is
read first and the oldest tasks go first; with SWEEP_SHARDS_MAX > 1 and a dispatcher, the registry
is split into shards swept by parallel invocations instead (collector/fanout.py).

Several sweeps, or a sweep and an MNS delivery of the same task, may run at once: every write they
make is either create-once (`x-oss-forbid-overwrite`) or an idempotent record update, so the worst
case is a task checked twice.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from collector.budget import shared_limiter
from collector.error_policy import decide
from collector.errors import CollectorError
from collector.fanout import (
    DispatchError,
    capacity,
    max_shards_for,
    plan_shards,
    shard_events,
    shard_of,
    shard_qps,
)
from collector.models import SweepOptions, TaskOutcome, TaskRequest
from collector.scheduling import sweep_order
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
        api_qps = self._config.api_qps

        task_ids = self._collector.pending.list_task_ids()  # a listing failure fails the tick
        listed = len(task_ids)
        shards = options.shards or 1
        shard = options.shard or 0
        dispatched = 0
        if options.shards is None:
            shards, dispatched = self._fan_out(len(task_ids), budget, options)
        if shards > 1:
            task_ids = [t for t in task_ids if shard_of(t, shards, api_qps) == shard]
            # every shard takes its share of the quota, so the account-wide rate stays API_QPS
            self._collector.limiter = shared_limiter(shard_qps(api_qps, shard, shards))
        fits = len(task_ids) <= capacity(self._collector.limiter.qps, budget)

        now = self._collector.clock()
        items: list[str] | list[PendingRecord]
        not_due_listed = 0
        if fits:
            # Everything due can be polled in this budget, so the order does not matter: stream
            # the listing, each worker reading a record just before it uses it (no load phase).
            items = task_ids
        else:
            # More than one sweep can do: read every record, the oldest tasks go first.
            records = self._load(task_ids)
            items, not_due_listed = sweep_order(records, now, options.max_tasks)
        self._log.info(
            "sweep_started",
            registered=len(task_ids),
            mode="stream" if fits else "oldest-first",
            shard=shard,
            shards=shards,
            budgetSeconds=round(budget, 1),
            apiQps=round(self._collector.limiter.qps, 3),
        )

        queue = iter(items)
        lock = threading.Lock()
        processed: list[TaskOutcome] = []
        counts = {"visited": 0, "claimed": 0, "notDue": not_due_listed}
        progress = {"last": time.monotonic()}

        def claim() -> bool:
            with lock:
                if options.max_tasks is not None and counts["claimed"] >= options.max_tasks:
                    return False
                counts["claimed"] += 1
                return True

        def worker() -> None:
            while True:
                if deadline.remaining() < 1.0:
                    return
                with lock:
                    item = next(queue, None)
                    if item is not None:
                        counts["visited"] += 1
                if item is None:
                    return
                record = item if isinstance(item, PendingRecord) else self._load_one(str(item))
                if record is None:
                    continue
                if record.next_check > now:
                    with lock:
                        counts["notDue"] += 1
                    continue
                if not claim():
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
                        self._log.info("sweep_progress", processed=len(processed))

        workers = max(1, min(self._config.sweep_concurrency, len(items)))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sweep") as pool:
            for future in [pool.submit(worker) for _ in range(workers)]:
                future.result()

        outcomes.extend(processed)
        summary = {
            "registered": listed,
            "due": counts["claimed"] + (len(items) - counts["visited"] if not fits else 0),
            "processed": len(processed),
            # not reached before the budget ran out (in stream mode: unread, due or not)
            "remaining": len(items) - counts["visited"] + counts["claimed"] - len(processed),
            "notDue": counts["notDue"],
            "seconds": round(time.monotonic() - started, 3),
        }
        if shards > 1:
            summary.update(shard=shard, shards=shards, dispatched=dispatched)
        self._log.info("sweep_finished", **summary)
        return summary

    def _fan_out(self, registered: int, budget: float, options: SweepOptions) -> tuple[int, int]:
        """Send shards 1..K-1 to other invocations when one sweep cannot finish the registry;
        return (K, shards sent). K = 1: no fan-out, this sweep does everything."""
        dispatcher = self._collector.dispatcher
        shards_max = min(self._config.sweep_shards_max, max_shards_for(self._config.api_qps))
        if dispatcher is None or shards_max <= 1:
            return 1, 0
        shards = plan_shards(registered, capacity(self._config.api_qps, budget), shards_max)
        if shards <= 1:
            return 1, 0
        try:
            dispatcher.dispatch(
                shard_events(shards, max_tasks=options.max_tasks, max_seconds=options.max_seconds)
            )
        except CollectorError as error:
            sent = error.sent if isinstance(error, DispatchError) else 0
            decision = decide(error)
            self._log.warning(
                "sweep_fan_out_failed",
                shards=shards,
                sent=sent,
                code=error.key,
                action=decision.action.value,
                reason=decision.reason,
            )
            if sent:
                # Shards 1..sent are swept elsewhere: keep to shard 0 at its share so the
                # account-wide rate holds; the shards not sent wait for the next tick.
                return shards, sent
            # not fatal: this sweep does what it can, oldest first, and the next tick tries again
            return 1, 0
        self._log.info("sweep_fanned_out", registered=registered, shards=shards)
        return shards, shards - 1

    def _load_one(self, task_id: str) -> PendingRecord | None:
        """A record; None if it vanished (collected meanwhile) or cannot be read (next tick)."""
        try:
            return self._collector.pending.get(task_id)
        except CollectorError as error:
            if error.code == "CorruptDocument":
                # keep the task: start a fresh record for it rather than lose it
                self._log.warning("pending_record_corrupt", taskId=task_id)
                return PendingRecord(task_id, first_seen=self._collector.clock())
            self._log.warning("pending_record_unreadable", taskId=task_id, code=error.key)
            return None

    def _load(self, task_ids: list[str]) -> list[PendingRecord]:
        """Read the records concurrently (small JSON objects); a record that vanished was collected
        meanwhile, and one that cannot be read is retried next tick."""

        if not task_ids:
            return []
        with ThreadPoolExecutor(
            max_workers=min(RECORD_FETCH_CONCURRENCY, len(task_ids)), thread_name_prefix="load"
        ) as pool:
            return [r for r in pool.map(self._load_one, task_ids) if r is not None]
