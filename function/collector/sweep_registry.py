"""Use case: sweep the pending registry. list → pick due → collect each under the pacer → fan out.

One API call per due task, paced under the API quota, stopping before the time budget runs out
(what remains waits for the next tick).

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
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from collector import fanout
from collector.budget import Deadline, RateLimiter, shared_limiter
from collector.collect_task import CollectTask
from collector.config import CollectorConfig
from collector.error_policy import fan_out_decision, fresh_record_for
from collector.errors import CollectorError
from collector.fanout import DispatchError, capacity
from collector.models import SweepOptions, TaskOutcome, TaskRequest
from collector.ports import Clock, Dispatcher
from collector.records import PendingRecord
from collector.scheduling import sweep_order
from collector.state import PendingRegistry
from collector.telemetry import EventLog

RECORD_FETCH_CONCURRENCY = 16
PROGRESS_EVERY_SECONDS = 10.0


@dataclass
class _Plan:
    """What this sweep covers: its shard, its pacer, and the work list."""

    listed: int
    shard: int
    shards: int
    dispatched: int
    pacer: RateLimiter
    fits: bool = True
    items: Sequence[str | PendingRecord] = ()
    not_due_listed: int = 0
    in_shard: int = 0  # registered tasks in this sweep's shard


@dataclass
class _Progress:
    """Shared by the workers of one sweep (under `lock`)."""

    queue: Iterator[str | PendingRecord]
    max_tasks: int | None
    lock: threading.Lock = field(default_factory=threading.Lock)
    processed: list[TaskOutcome] = field(default_factory=list)
    visited: int = 0
    claimed: int = 0
    not_due: int = 0
    last_report: float = field(default_factory=time.monotonic)

    def next_item(self) -> str | PendingRecord | None:
        with self.lock:
            item = next(self.queue, None)
            if item is not None:
                self.visited += 1
            return item

    def claim(self) -> bool:
        with self.lock:
            if self.max_tasks is not None and self.claimed >= self.max_tasks:
                return False
            self.claimed += 1
            return True

    def skip_not_due(self) -> None:
        with self.lock:
            self.not_due += 1

    def done(self, outcome: TaskOutcome, log: EventLog) -> None:
        with self.lock:
            self.processed.append(outcome)
            if time.monotonic() - self.last_report >= PROGRESS_EVERY_SECONDS:
                self.last_report = time.monotonic()
                log.info("sweep_progress", processed=len(self.processed))


@dataclass
class SweepRegistry:
    config: CollectorConfig
    pending: PendingRegistry
    collect: CollectTask
    log: EventLog
    deadline: Deadline
    clock: Clock = time.time
    dispatcher: Dispatcher | None = None  # sends sweep shards to other invocations (fan-out)
    # what the last sweep paced its API calls with (its shard's share of the quota)
    last_pacer: RateLimiter | None = field(default=None, init=False)

    # --- the journey ----------------------------------------------------------------------------------
    def run(self, options: SweepOptions | None, outcomes: list[TaskOutcome]) -> dict[str, Any]:
        options = options or SweepOptions()
        started = time.monotonic()
        budget = options.max_seconds or self.config.sweep_max_seconds
        deadline = self.deadline.sooner(budget)
        plan = self._plan(options, budget)  # a listing failure fails the tick
        now = self.clock()
        self._pick_due(plan, options, now)
        self.log.info(
            "sweep_started",
            registered=plan.in_shard,
            mode="stream" if plan.fits else "oldest-first",
            shard=plan.shard,
            shards=plan.shards,
            budgetSeconds=round(budget, 1),
            apiQps=round(plan.pacer.qps, 3),
        )
        progress = _Progress(iter(plan.items), options.max_tasks, not_due=plan.not_due_listed)
        self._collect_all(plan, progress, deadline, now)
        outcomes.extend(progress.processed)
        summary = self._summary(plan, progress, started)
        self.log.info("sweep_finished", **summary)
        return summary

    def _plan(self, options: SweepOptions, budget: float) -> _Plan:
        api_qps = self.config.api_qps
        task_ids = self.pending.list_task_ids()
        plan = _Plan(len(task_ids), options.shard or 0, options.shards or 1, 0, self.collect.pacer)
        if options.shards is None:
            plan.shards, plan.dispatched = self._fan_out(len(task_ids), budget, options)
        if plan.shards > 1:
            task_ids = [
                t for t in task_ids if fanout.shard_of(t, plan.shards, api_qps) == plan.shard
            ]
            # every shard takes its share of the quota, so the account-wide rate stays API_QPS
            plan.pacer = shared_limiter(fanout.shard_qps(api_qps, plan.shard, plan.shards))
        plan.fits = len(task_ids) <= capacity(plan.pacer.qps, budget)
        plan.items = task_ids
        plan.in_shard = len(task_ids)
        self.last_pacer = plan.pacer
        return plan

    def _pick_due(self, plan: _Plan, options: SweepOptions, now: float) -> None:
        if plan.fits:
            # Everything due can be polled in this budget, so the order does not matter: stream
            # the listing, each worker reading a record just before it uses it (no load phase).
            return
        # More than one sweep can do: read every record, the oldest tasks go first.
        records = self._load([str(t) for t in plan.items])
        plan.items, plan.not_due_listed = sweep_order(records, now, options.max_tasks)

    def _collect_all(
        self, plan: _Plan, progress: _Progress, deadline: Deadline, now: float
    ) -> None:
        collect = self.collect.paced(plan.pacer)

        def worker() -> None:
            while deadline.remaining() >= 1.0:
                item = progress.next_item()
                if item is None:
                    return
                record = item if isinstance(item, PendingRecord) else self._load_one(item)
                if record is None:
                    continue
                if record.next_check > now:
                    progress.skip_not_due()
                    continue
                if not progress.claim():
                    return
                outcome = collect.run(
                    TaskRequest(record.task_id, record.output_prefix),
                    wait=False,
                    trigger="timer",
                    record=record,
                    deadline=deadline,
                )
                progress.done(outcome, self.log)

        workers = max(1, min(self.config.sweep_concurrency, len(plan.items)))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sweep") as pool:
            for future in [pool.submit(worker) for _ in range(workers)]:
                future.result()

    @staticmethod
    def _summary(plan: _Plan, progress: _Progress, started: float) -> dict[str, Any]:
        unvisited = len(plan.items) - progress.visited
        summary: dict[str, Any] = {
            "registered": plan.listed,
            "due": progress.claimed + (unvisited if not plan.fits else 0),
            "processed": len(progress.processed),
            # not reached before the budget ran out (in stream mode: unread, due or not)
            "remaining": unvisited + progress.claimed - len(progress.processed),
            "notDue": progress.not_due,
            "seconds": round(time.monotonic() - started, 3),
        }
        if plan.shards > 1:
            summary.update(shard=plan.shard, shards=plan.shards, dispatched=plan.dispatched)
        return summary

    # --- fan-out --------------------------------------------------------------------------------------
    def _fan_out(self, registered: int, budget: float, options: SweepOptions) -> tuple[int, int]:
        """Send shards 1..K-1 to other invocations when one sweep cannot finish the registry;
        return (K, shards sent). K = 1: no fan-out, this sweep does everything."""
        shards_max = min(self.config.sweep_shards_max, fanout.max_shards_for(self.config.api_qps))
        if self.dispatcher is None or shards_max <= 1:
            return 1, 0
        shards = fanout.plan_shards(registered, capacity(self.config.api_qps, budget), shards_max)
        if shards <= 1:
            return 1, 0
        try:
            self.dispatcher.dispatch(
                fanout.shard_events(
                    shards, max_tasks=options.max_tasks, max_seconds=options.max_seconds
                )
            )
        except CollectorError as error:
            return self._fan_out_failed(error, shards)
        self.log.info("sweep_fanned_out", registered=registered, shards=shards)
        return shards, shards - 1

    def _fan_out_failed(self, error: CollectorError, shards: int) -> tuple[int, int]:
        sent = error.sent if isinstance(error, DispatchError) else 0
        decision = fan_out_decision(error)
        self.log.warning(
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

    # --- records --------------------------------------------------------------------------------------
    def _load_one(self, task_id: str) -> PendingRecord | None:
        """A record; None if it vanished (collected meanwhile) or cannot be read (next tick)."""
        try:
            return self.pending.get(task_id)
        except CollectorError as error:
            if fresh_record_for(error):
                # keep the task: start a fresh record for it rather than lose it
                self.log.warning("pending_record_corrupt", taskId=task_id)
                return PendingRecord.replacing_corrupt(task_id, now=self.clock())
            self.log.warning("pending_record_unreadable", taskId=task_id, code=error.key)
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
