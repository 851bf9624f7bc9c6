"""Use case: collect one task. intake → poll → copy → record.

Invariant: once a TaskId reaches `CollectTask.run`, it ends in exactly one durable place — a
manifest (copied), a pending record (still to do), or a dead letter (with the reason). The only
exception is OSS itself being unreachable, in which case the invocation fails and the platform keeps
the event. What each failure means is error_policy.py's to decide; this module only carries it out.
"""

from __future__ import annotations

import copy
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from collector.budget import Backoff, Deadline, RateLimiter
from collector.config import CollectorConfig
from collector.error_policy import decide, outlived, pending_too_long, worst_error
from collector.errors import BudgetCode, CollectorError, InternalCode, Source, TaskCode
from collector.layout import KeyLayout
from collector.models import BatchResult, Outcome, TaskOutcome, TaskRequest, TaskStatus
from collector.ports import Clock, Copier, ResultApi
from collector.records import DeadLetter, Manifest, PendingRecord
from collector.redaction import redact
from collector.retry import call_with_retry
from collector.scheduling import (
    deferred_first_check,
    keep_waiting,
    next_check_after,
    next_poll_interval,
    wait_budget,
)
from collector.state import DeadLetterStore, ManifestStore, PendingRegistry
from collector.telemetry import EventLog

T = TypeVar("T")
STATE_RETRY_SECONDS = 10.0  # how long one state read/write in OSS is retried in process
STILL_RUNNING = (TaskStatus.CREATED, TaskStatus.RUNNING, TaskStatus.UNKNOWN)
QUIET_OUTCOMES = (Outcome.COPIED, Outcome.ALREADY_COPIED, Outcome.PENDING)


@dataclass(frozen=True)
class TaskState:
    """The task's durable state in OSS: its records, and the manifest that ends it."""

    layout: KeyLayout
    pending: PendingRegistry
    dead_letters: DeadLetterStore
    manifests: ManifestStore


@dataclass
class _Task:
    """One run of the journey: what it was asked, and the record it works on."""

    request: TaskRequest
    wait: bool
    trigger: str
    deadline: Deadline
    record: PendingRecord | None
    event_text: str | None

    @property
    def task_id(self) -> str:
        return self.request.task_id

    @property
    def prefix(self) -> str | None:
        if self.request.output_prefix:
            return self.request.output_prefix
        return self.record.output_prefix if self.record else None


@dataclass
class CollectTask:
    config: CollectorConfig
    api_factory: Callable[[], ResultApi]  # built on first use (see `api`)
    state: TaskState
    copier: Copier
    log: EventLog
    request_id: str
    deadline: Deadline
    pacer: RateLimiter  # read-only for callers: `paced` gives a copy at another rate
    clock: Clock = time.time
    _api: list[ResultApi] = field(default_factory=list, init=False)  # shared with `paced` copies
    _backoff: Backoff = field(default_factory=Backoff, init=False)

    def paced(self, pacer: RateLimiter) -> CollectTask:
        """The same use case, its API calls paced by `pacer` (a sweep shard's share of the quota)."""
        other = copy.copy(self)
        other.pacer = pacer
        return other

    @property
    def api(self) -> ResultApi:
        # Built on first use: a refused event or an empty sweep never imports the alimt SDK.
        if not self._api:
            self._api.append(self.api_factory())
        return self._api[0]

    # --- the journey --------------------------------------------------------------------------------
    def run(
        self,
        request: TaskRequest,
        *,
        wait: bool,
        trigger: str,
        record: PendingRecord | None = None,
        deadline: Deadline | None = None,
        event_text: str | None = None,
    ) -> TaskOutcome:
        task = _Task(request, wait, trigger, deadline or self.deadline, record, event_text)
        started = time.monotonic()
        timings: dict[str, float] = {}
        try:
            outcome = self._journey(task, timings)
        except CollectorError as error:
            outcome = self._failed(task, error)
        except Exception as exc:  # the last line of defence, see _unexpected
            outcome = self._failed(task, self._unexpected(exc, task.task_id))
        outcome.timings.update(timings)
        return self._done(outcome, started, task)

    def _journey(self, task: _Task, timings: dict[str, float]) -> TaskOutcome:
        if self._copied_meanwhile(task.task_id, task.prefix):
            if task.record is not None:  # a sweep found a leftover record: tidy it
                self._remove_record(task.task_id)
            return TaskOutcome(task.task_id, Outcome.ALREADY_COPIED)
        if task.record is None:
            task.record = self._durably(lambda: self._intake(task), "intake", task.task_id)
        record = task.record
        if task.wait and deferred_first_check(task.request.published_at, self.clock(), self.config):
            # a young MNS delivery: the sweep makes the first poll
            return TaskOutcome(task.task_id, Outcome.PENDING, code=record.last_status)
        result = self._timed(timings, "apiSeconds", lambda: self._poll(task))
        if result.status is TaskStatus.FINISHED:
            return self._timed(timings, "copySeconds", lambda: self._finish(task, result))
        if result.status is TaskStatus.INVALID:
            raise CollectorError(
                Source.TASK, TaskCode.INVALID, "GetTranslateImageBatchResult said invalid"
            )
        if result.status is TaskStatus.FAILED:
            raise CollectorError(Source.TASK, TaskCode.FAILED, f"task status {result.raw_status!r}")
        return self._still_pending(task, record, result)

    @staticmethod
    def _timed(timings: dict[str, float], name: str, step: Callable[[], T]) -> T:
        started = time.monotonic()
        value = step()
        timings[name] = time.monotonic() - started
        return value

    def _intake(self, task: _Task) -> PendingRecord:
        """Make the task durable before working on it: if we are killed mid-copy, the sweep resumes."""
        request = task.request
        existing = self.state.pending.get(request.task_id)
        if existing is not None:
            if request.output_prefix and existing.output_prefix != request.output_prefix:
                existing.output_prefix = request.output_prefix
            return existing
        now = self.clock()
        record = PendingRecord.received(
            request.task_id,
            now=now,
            output_prefix=request.output_prefix,
            trigger=task.trigger,
            due=deferred_first_check(request.published_at, now, self.config) or now,
        )
        if not self.state.pending.create(record):
            return self.state.pending.get(request.task_id) or record
        return record

    def _poll(self, task: _Task) -> BatchResult:
        """Ask for the result; while waiting is allowed and the task runs, ask again with backoff."""
        wait_until = task.deadline.sooner(wait_budget(self.config, task.wait))
        interval = self.config.poll_interval_seconds
        while True:
            result = call_with_retry(
                lambda: self._call_api(task.task_id, task.deadline),
                deadline=task.deadline,
                backoff=self._backoff,
                log=self.log,
                what="GetTranslateImageBatchResult",
                task_id=task.task_id,
            )
            if result.status not in STILL_RUNNING:
                return result
            if result.status is TaskStatus.UNKNOWN:
                self.log.warning(
                    "unknown_task_status", taskId=task.task_id, status=result.raw_status
                )
            if not keep_waiting(wait_until.remaining(), interval):
                return result
            self.log.debug("task_not_finished", taskId=task.task_id, status=result.raw_status)
            time.sleep(interval)
            interval = next_poll_interval(interval)

    def _call_api(self, task_id: str, deadline: Deadline) -> BatchResult:
        if not self.pacer.acquire(deadline):
            raise CollectorError(
                Source.BUDGET, BudgetCode.DEADLINE_EXCEEDED, "no API slot before the deadline"
            )
        return self.api.get_result(task_id)

    def _finish(self, task: _Task, result: BatchResult) -> TaskOutcome:
        task_id, prefix = task.task_id, task.prefix
        if not result.images:
            raise CollectorError(
                Source.TASK, TaskCode.EMPTY_RESULT, "status finished but Result is empty"
            )
        report = self.copier.copy(task_id, prefix, result.images, task.deadline)
        error = worst_error(report.errors)
        if error is not None:
            raise error
        manifest = Manifest.for_copy(
            task_id,
            task_prefix=self.state.layout.task_prefix(task_id, prefix),
            now=self.clock(),
            request_id=self.request_id,
            api_request_id=result.request_id,
            images=report.manifest_images,
            failed=report.failed_entries,
        )
        created = self._durably(
            lambda: self.state.manifests.create(prefix, manifest), "write manifest", task_id
        )
        self._remove_record(task_id)
        # a redriven task leaves no stale letter behind
        self._remove_letter(task_id)
        return TaskOutcome(
            task_id,
            Outcome.COPIED if created else Outcome.ALREADY_COPIED,
            code="finished_with_errors" if report.failed_entries else None,
            images=len(result.images),
            objects_written=report.objects_written + (1 if created else 0),
            bytes_written=report.bytes_written,
        )

    def _still_pending(
        self, task: _Task, record: PendingRecord, result: BatchResult
    ) -> TaskOutcome:
        now = self.clock()
        too_long = pending_too_long(
            result.raw_status,
            age=now - record.first_seen,
            lifetime=self.config.pending_lifetime_seconds,
        )
        if too_long is not None:
            raise too_long
        attempts = record.attempts + 1
        record.checked(
            now,
            next_check_after(attempts, now),
            status=result.raw_status or "unknown",
            code=None,
            error=None,
        )
        return self._save_unless_copied(task.task_id, record.output_prefix, record) or TaskOutcome(
            task.task_id, Outcome.PENDING, code=record.last_status
        )

    def _save_unless_copied(
        self, task_id: str, prefix: str | None, record: PendingRecord, *, checked: bool = False
    ) -> TaskOutcome | None:
        """Save the record, checking for a manifest before the save (unless the caller just did:
        `checked`) and after it: a delivery that copies the task in between removes the record
        after writing its manifest, so one of the two checks sees that manifest. An outcome if it
        did (already copied), else None."""
        if not checked and self._copied_meanwhile(task_id, prefix):
            return self._already_copied(task_id)
        self._durably(lambda: self.state.pending.save(record), "save record", task_id)
        if self._copied_meanwhile(task_id, prefix):
            return self._already_copied(task_id)
        return None

    # --- failures -------------------------------------------------------------------------------------
    def _failed(self, task: _Task, error: CollectorError) -> TaskOutcome:
        record = task.record
        age = self.clock() - record.first_seen if record is not None else None
        error = outlived(error, age=age, lifetime=self.config.pending_lifetime_seconds)
        try:
            if self._copied_meanwhile(task.task_id, task.prefix):
                return self._already_copied(task.task_id)
            if decide(error).retry:
                return self._keep_for_retry(task, error)
            return self._dead_letter(task, error)
        except CollectorError as store_error:
            # OSS is failing too: nothing could be recorded. Fail the invocation so the platform
            # keeps the event (MNS retry, async retry, then the onFailure destination).
            return TaskOutcome(
                task.task_id,
                Outcome.RETRY,
                code=store_error.key,
                reason="could not record the task's state in OSS",
                detail=f"{error.key}; then {store_error.detail}",
            )
        except Exception as exc:
            # recording the outcome itself hit something unforeseen: keep the task with the
            # platform (it stays pending as it was; the lifetime still bounds it)
            unexpected = self._unexpected(exc, task.task_id)
            return TaskOutcome(
                task.task_id,
                Outcome.RETRY,
                code=unexpected.key,
                reason=decide(unexpected).reason,
                detail=f"{error.key}; then {unexpected.detail}",
            )

    def _keep_for_retry(self, task: _Task, error: CollectorError) -> TaskOutcome:
        record = task.record
        if record is not None:
            now = self.clock()
            record.checked(
                now,
                next_check_after(record.attempts + 1, now),
                status="retry",
                code=error.key,
                error=error.detail,
            )
            copied = self._save_unless_copied(task.task_id, task.prefix, record, checked=True)
            if copied is not None:
                return copied
        return TaskOutcome(
            task.task_id,
            Outcome.RETRY,
            code=error.key,
            reason=decide(error).reason,
            detail=error.detail,
        )

    def _dead_letter(self, task: _Task, error: CollectorError) -> TaskOutcome:
        task_id, prefix, record = task.task_id, task.prefix, task.record
        decision = decide(error)
        letter = DeadLetter(
            task_id=task_id,
            code=error.code,
            reason=decision.reason,
            message=error.detail,
            request_id=self.request_id,
            redrivable=decision.redrivable,
            attempts=(record.attempts + 1) if record else 1,
            first_seen=record.first_seen if record else self.clock(),
            event=task.event_text,
            output_prefix=prefix,
            rule=decision.rule,
            partial_objects=self._durably(
                lambda: self.state.manifests.partial_objects(task_id, prefix),
                "list partial objects",
                task_id,
            ),
        )
        self._durably(lambda: self.state.dead_letters.create(letter), "write dead letter", task_id)
        if self._copied_meanwhile(task_id, prefix):
            return self._already_copied(task_id)
        self._remove_record(task_id)
        return TaskOutcome(
            task_id,
            Outcome.DEAD_LETTERED,
            code=error.key,
            reason=decision.reason,
            detail=error.detail,
        )

    def _unexpected(self, exc: BaseException, task_id: str) -> CollectorError:
        """Anything no adapter classified becomes `internal:Unexpected`: it goes through the policy
        table (retry) and the pending lifetime like any other failure, and never takes the other
        tasks of a sweep or a taskIds list down with it. Logged here, once, with the traceback."""
        trace = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        self.log.error(
            "unexpected_error",
            taskId=task_id,
            error=type(exc).__name__,
            traceback=redact(trace)[-8000:],
        )
        return CollectorError(
            Source.INTERNAL, InternalCode.UNEXPECTED, redact(f"{type(exc).__name__}: {exc}")[:300]
        )

    # --- state in OSS ---------------------------------------------------------------------------------
    def _copied_meanwhile(self, task_id: str, prefix: str | None) -> bool:
        """Another delivery of the same task (MNS and a sweep) may have copied it while we worked:
        a task with a manifest is `already_copied`, full stop."""
        return self._durably(
            lambda: self.state.manifests.exists(task_id, prefix), "check manifest", task_id
        )

    def _already_copied(self, task_id: str) -> TaskOutcome:
        """Tidy what this delivery recorded next to a manifest (the other delivery removed its own)."""
        self._remove_record(task_id)
        self._remove_letter(task_id)
        self.log.info("copied_by_another_delivery", taskId=task_id)
        return TaskOutcome(task_id, Outcome.ALREADY_COPIED)

    def _remove_record(self, task_id: str) -> None:
        self._durably(lambda: self.state.pending.remove(task_id), "remove record", task_id)

    def _remove_letter(self, task_id: str) -> None:
        self._durably(
            lambda: self.state.dead_letters.remove(task_id), "remove dead letter", task_id
        )

    def _durably(self, operation: Callable[[], T], what: str, task_id: str) -> T:
        """A read or write of the task's state in OSS, retried in process like any transient
        failure (error_policy decides), so one 5xx does not fail the whole invocation. Briefly: a
        bucket that stays unusable fails the invocation soon, for the platform to retry."""
        return call_with_retry(
            operation,
            deadline=self.deadline.sooner(STATE_RETRY_SECONDS),
            backoff=self._backoff,
            log=self.log,
            what=what,
            task_id=task_id,
        )

    def _done(self, outcome: TaskOutcome, started: float, task: _Task) -> TaskOutcome:
        outcome.timings["totalSeconds"] = time.monotonic() - started
        record = task.record
        self.log.emit(
            "task_outcome",
            "INFO" if outcome.outcome in QUIET_OUTCOMES else "WARNING",
            taskId=outcome.task_id,
            outcome=outcome.outcome.value,
            code=outcome.code,
            reason=outcome.reason,
            detail=outcome.detail,
            trigger=task.trigger,
            attempts=record.attempts if record else None,
            images=outcome.images or None,
            objectsWritten=outcome.objects_written,
            bytesWritten=outcome.bytes_written,
            timings={k: round(v, 3) for k, v in outcome.timings.items()},
            elapsedSeconds=round(outcome.timings["totalSeconds"], 3),
        )
        return outcome
