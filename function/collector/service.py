"""ResultCollector: what happens to a TaskId, from the first poll to a manifest or a dead letter.

Invariant: once a TaskId reaches `collect`, it ends in exactly one durable place — a manifest (copied),
a pending record (still to do), or a dead letter (with the reason). The only exception is OSS itself
being unreachable, in which case the invocation fails and the platform keeps the event.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from collector.budget import Backoff, Deadline, RateLimiter
from collector.config import CollectorConfig
from collector.copier import ImageCopier, worst_error
from collector.error_policy import decide
from collector.errors import CollectorError, Source
from collector.fanout import SweepDispatcher
from collector.layout import KeyLayout
from collector.models import (
    BatchResult,
    Outcome,
    TaskOutcome,
    TaskRequest,
    TaskStatus,
    TriggerEvent,
    TriggerKind,
)
from collector.object_store import ObjectStore
from collector.redaction import redact
from collector.retry import call_with_retry
from collector.scheduling import (
    deferred_first_check,
    keep_waiting,
    next_check_after,
    next_poll_interval,
    wait_budget,
)
from collector.state import (
    DeadLetter,
    DeadLetterStore,
    ManifestStore,
    PendingRecord,
    PendingRegistry,
    iso,
)
from collector.telemetry import EventLog

T = TypeVar("T")
STATE_RETRY_SECONDS = 10.0  # how long one state read/write in OSS is retried in process


def event_text(raw: Any) -> str:
    """The event as text for a dead letter, whatever it was (undecodable bytes are escaped)."""
    if isinstance(raw, (bytes, bytearray)):
        return bytes(raw[:65536]).decode("utf-8", "backslashreplace")
    if isinstance(raw, str):
        return raw[:65536]
    return repr(raw)[:65536]


class ResultGateway(Protocol):
    def get_result(self, task_id: str) -> BatchResult: ...


@dataclass
class InvocationReport:
    request_id: str
    trigger: str
    outcomes: list[TaskOutcome] = field(default_factory=list)
    sweep: dict[str, Any] | None = None
    started: float = field(default_factory=time.monotonic)

    def counts(self) -> dict[str, int]:
        counts = {outcome.value: 0 for outcome in Outcome}
        for item in self.outcomes:
            counts[item.outcome.value] += 1
        return counts

    @property
    def retry_needed(self) -> list[TaskOutcome]:
        return [o for o in self.outcomes if o.outcome is Outcome.RETRY]

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "requestId": self.request_id,
            "trigger": self.trigger,
            "results": [o.to_json() for o in self.outcomes],
            "counts": self.counts(),
        }
        if self.sweep is not None:
            data["sweep"] = self.sweep
        return data


class ResultCollector:
    def __init__(
        self,
        *,
        config: CollectorConfig,
        gateway: Callable[[], ResultGateway],
        store: ObjectStore,
        copier: ImageCopier,
        log: EventLog,
        request_id: str,
        deadline: Deadline,
        limiter: RateLimiter,
        clock: Callable[[], float] = time.time,
        dispatcher: SweepDispatcher | None = None,
    ) -> None:
        self.config = config
        self.dispatcher = dispatcher  # sends sweep shards to other invocations (fan-out)
        self.layout = KeyLayout(config.output_prefix, config.state_prefix)
        self._gateway_factory = gateway
        self._gateway: ResultGateway | None = None
        self.store = store
        self.pending = PendingRegistry(store, self.layout)
        self.dead_letters = DeadLetterStore(store, self.layout)
        self.manifests = ManifestStore(store, self.layout)
        self.copier = copier
        self.log = log
        self.request_id = request_id
        self.deadline = deadline
        self.limiter = limiter
        self.clock = clock
        self.backoff = Backoff()

    @property
    def gateway(self) -> ResultGateway:
        # Built on first use: a refused event or an empty sweep never imports the alimt SDK.
        if self._gateway is None:
            self._gateway = self._gateway_factory()
        return self._gateway

    def log_summary(self, report: InvocationReport, started: float) -> None:
        """The per-invocation metric line (counts, bytes, duration since `started`)."""
        self.log.metric(
            "invocation_summary",
            trigger=report.trigger,
            counts=report.counts(),
            bytesWritten=sum(o.bytes_written for o in report.outcomes),
            durationSeconds=round(time.monotonic() - started, 3),
        )

    # --- events -----------------------------------------------------------------------------------
    def handle(self, event: TriggerEvent) -> InvocationReport:
        report = InvocationReport(self.request_id, event.kind.value)
        for rejection in event.rejections:
            report.outcomes.append(
                self.reject(event.raw, rejection.reason, key_hint=rejection.reason)
            )
        if event.kind is TriggerKind.TIMER:
            from collector.sweep import PendingSweeper

            sweeper = PendingSweeper(self)
            report.sweep = sweeper.sweep(event.sweep, report.outcomes)
        else:
            for request in event.tasks:
                report.outcomes.append(
                    self.collect(request, wait=True, trigger=event.kind.value, event_text=event.raw)
                )
        return report

    def reject_event(self, raw: Any, reason: str) -> InvocationReport:
        """The whole event was refused (`InvalidEvent`)."""
        report = InvocationReport(self.request_id, "rejected")
        report.outcomes.append(self.reject(event_text(raw), reason))
        return report

    def reject(self, raw_event: str, reason: str, *, key_hint: str = "") -> TaskOutcome:
        """Refuse bad input: a dead letter keyed by a hash of the event, and a clear reason."""
        letter = DeadLetter(
            task_id=None,
            code="BadInput",
            reason=reason,
            message="the event was refused; fix the sender and publish again",
            request_id=self.request_id,
            redrivable=False,
            attempts=1,
            first_seen=self.clock(),
            event=raw_event,
            rule="input:*",
        )
        try:
            # the key covers the reason too, so two bad ids in one batch get two letters
            key = self.dead_letters.put(letter, raw_event_for_key=raw_event + "\x00" + key_hint)
        except CollectorError as error:
            self.log.error("dead_letter_failed", code=error.key, reason=reason)
            return TaskOutcome(None, Outcome.RETRY, code=error.key, reason=reason)
        outcome = TaskOutcome(None, Outcome.REJECTED, code="BadInput", reason=reason)
        self.log.warning(
            "task_outcome", outcome="rejected", code="BadInput", reason=reason, deadLetterKey=key
        )
        return outcome

    # --- one task ---------------------------------------------------------------------------------
    def collect(
        self,
        request: TaskRequest,
        *,
        wait: bool,
        trigger: str,
        record: PendingRecord | None = None,
        deadline: Deadline | None = None,
        event_text: str | None = None,
    ) -> TaskOutcome:
        deadline = deadline or self.deadline
        started = time.monotonic()
        task_id = request.task_id
        prefix = request.output_prefix or (record.output_prefix if record else None)
        timings: dict[str, float] = {}
        try:
            if self._durably(
                lambda: self.manifests.exists(task_id, prefix), "check manifest", task_id
            ):
                if record is not None:  # a sweep found a leftover record: tidy it
                    self._durably(lambda: self.pending.remove(task_id), "remove record", task_id)
                return self._done(
                    TaskOutcome(task_id, Outcome.ALREADY_COPIED), started, trigger, record
                )
            if record is None:
                record = self._durably(lambda: self._intake(request, trigger), "intake", task_id)
            prefix = prefix or record.output_prefix
            if wait and deferred_first_check(request.published_at, self.clock(), self.config):
                return self._done(  # a young MNS delivery: the sweep makes the first poll
                    TaskOutcome(task_id, Outcome.PENDING, code=record.last_status),
                    started,
                    trigger,
                    record,
                )
            api_started = time.monotonic()
            result = self._poll(task_id, wait=wait, deadline=deadline)
            timings["apiSeconds"] = time.monotonic() - api_started
            if result.status is TaskStatus.FINISHED:
                copy_started = time.monotonic()
                outcome = self._finish(task_id, prefix, result, deadline)
                timings["copySeconds"] = time.monotonic() - copy_started
            elif result.status is TaskStatus.INVALID:
                raise CollectorError(
                    Source.TASK, "invalid", "GetTranslateImageBatchResult said invalid"
                )
            elif result.status is TaskStatus.FAILED:
                raise CollectorError(Source.TASK, "failed", f"task status {result.raw_status!r}")
            else:
                outcome = self._still_pending(record, result)
        except CollectorError as error:
            outcome = self._failed(request, record, error, trigger, event_text)
        except Exception as exc:  # the last line of defence, see _unexpected
            outcome = self._failed(
                request, record, self._unexpected(exc, task_id), trigger, event_text
            )
        outcome.timings.update(timings)
        return self._done(outcome, started, trigger, record)

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
            Source.INTERNAL, "Unexpected", redact(f"{type(exc).__name__}: {exc}")[:300]
        )

    def _copied_meanwhile(self, task_id: str, prefix: str | None) -> bool:
        """Another delivery of the same task (MNS and a sweep) may have copied it while we worked:
        a task with a manifest is `already_copied`, full stop."""
        return self._durably(
            lambda: self.manifests.exists(task_id, prefix), "check manifest", task_id
        )

    def _already_copied(self, task_id: str, prefix: str | None) -> TaskOutcome:
        """Tidy what this delivery recorded next to a manifest (the other delivery removed its own)."""
        self._durably(lambda: self.pending.remove(task_id), "remove record", task_id)
        self._durably(lambda: self.dead_letters.remove(task_id), "remove dead letter", task_id)
        self.log.info("copied_by_another_delivery", taskId=task_id)
        return TaskOutcome(task_id, Outcome.ALREADY_COPIED)

    def _durably(self, operation: Callable[[], T], what: str, task_id: str) -> T:
        """A read or write of the task's state in OSS, retried in process like any transient
        failure (error_policy decides), so one 5xx does not fail the whole invocation. Briefly: a
        bucket that stays unusable fails the invocation soon, for the platform to retry."""
        return call_with_retry(
            operation,
            deadline=self.deadline.sooner(STATE_RETRY_SECONDS),
            backoff=self.backoff,
            log=self.log,
            what=what,
            task_id=task_id,
        )

    def _intake(self, request: TaskRequest, trigger: str) -> PendingRecord:
        """Make the task durable before working on it: if we are killed mid-copy, the sweep resumes."""
        existing = self.pending.get(request.task_id)
        if existing is not None:
            if request.output_prefix and existing.output_prefix != request.output_prefix:
                existing.output_prefix = request.output_prefix
            return existing
        record = PendingRecord(
            task_id=request.task_id,
            first_seen=self.clock(),
            output_prefix=request.output_prefix,
            trigger=trigger,
            next_check=deferred_first_check(request.published_at, self.clock(), self.config)
            or self.clock(),
        )
        if not self.pending.create(record):
            return self.pending.get(request.task_id) or record
        return record

    def _poll(self, task_id: str, *, wait: bool, deadline: Deadline) -> BatchResult:
        """Ask for the result; while waiting is allowed and the task runs, ask again with backoff."""
        wait_until = deadline.sooner(wait_budget(self.config, wait))
        interval = self.config.poll_interval_seconds
        while True:
            result = call_with_retry(
                lambda: self._call_api(task_id, deadline),
                deadline=deadline,
                backoff=self.backoff,
                log=self.log,
                what="GetTranslateImageBatchResult",
                task_id=task_id,
            )
            if result.status not in (TaskStatus.CREATED, TaskStatus.RUNNING, TaskStatus.UNKNOWN):
                return result
            if result.status is TaskStatus.UNKNOWN:
                self.log.warning("unknown_task_status", taskId=task_id, status=result.raw_status)
            if not keep_waiting(wait_until.remaining(), interval):
                return result
            self.log.debug("task_not_finished", taskId=task_id, status=result.raw_status)
            time.sleep(interval)
            interval = next_poll_interval(interval)

    def _call_api(self, task_id: str, deadline: Deadline) -> BatchResult:
        if not self.limiter.acquire(deadline):
            raise CollectorError(
                Source.BUDGET, "DeadlineExceeded", "no API slot before the deadline"
            )
        return self.gateway.get_result(task_id)

    def _finish(
        self, task_id: str, prefix: str | None, result: BatchResult, deadline: Deadline
    ) -> TaskOutcome:
        if not result.images:
            raise CollectorError(Source.TASK, "EmptyResult", "status finished but Result is empty")
        report = self.copier.copy(task_id, prefix, result.images, deadline)
        error = worst_error(report.errors)
        if error is not None:
            raise error
        manifest = {
            "taskId": task_id,
            "status": "finished_with_errors" if report.failed_entries else "finished",
            "collectedAt": iso(self.clock()),
            "outputPrefix": self.layout.task_prefix(task_id, prefix),
            "requestId": self.request_id,
            "apiRequestId": result.request_id,
            "imageCount": len(result.images),
            "failedCount": report.failed_entries,
            "images": report.manifest_images,
        }
        created = self._durably(
            lambda: self.manifests.create(task_id, prefix, manifest), "write manifest", task_id
        )
        self._durably(lambda: self.pending.remove(task_id), "remove record", task_id)
        # a redriven task leaves no stale letter behind
        self._durably(lambda: self.dead_letters.remove(task_id), "remove dead letter", task_id)
        outcome = TaskOutcome(
            task_id,
            Outcome.COPIED if created else Outcome.ALREADY_COPIED,
            code="finished_with_errors" if report.failed_entries else None,
            images=len(result.images),
            objects_written=report.objects_written + (1 if created else 0),
            bytes_written=report.bytes_written,
        )
        return outcome

    def _still_pending(self, record: PendingRecord, result: BatchResult) -> TaskOutcome:
        now = self.clock()
        age = now - record.first_seen
        if age > self.config.pending_lifetime_seconds:
            raise CollectorError(
                Source.TASK,
                "PendingTooLong",
                f"still {result.raw_status!r} after {age:.0f}s (limit {self.config.pending_lifetime_seconds:.0f}s)",
            )
        record.attempts += 1
        record.last_status = result.raw_status or "unknown"
        record.last_code = None
        record.last_error = None
        record.last_check = now
        record.next_check = next_check_after(record.attempts, now)
        task_id = record.task_id
        # Checked before the save and after it: a delivery that copies the task in between removes
        # the record after writing its manifest, so one of the two checks sees that manifest.
        if self._copied_meanwhile(task_id, record.output_prefix):
            return self._already_copied(task_id, record.output_prefix)
        self._durably(lambda: self.pending.save(record), "save record", task_id)
        if self._copied_meanwhile(task_id, record.output_prefix):
            return self._already_copied(task_id, record.output_prefix)
        return TaskOutcome(task_id, Outcome.PENDING, code=record.last_status)

    def _failed(
        self,
        request: TaskRequest,
        record: PendingRecord | None,
        error: CollectorError,
        trigger: str,
        event_text: str | None,
    ) -> TaskOutcome:
        decision = decide(error)
        task_id = request.task_id
        now = self.clock()
        too_old = (
            record is not None and now - record.first_seen > self.config.pending_lifetime_seconds
        )
        if decision.retry and too_old:
            # transient for longer than a task may stay pending: stop and say why
            error = CollectorError(
                Source.TASK, "PendingTooLong", f"transient errors for too long; last: {error.key}"
            )
            decision = decide(error)
        prefix = request.output_prefix or (record.output_prefix if record else None)
        try:
            if self._copied_meanwhile(task_id, prefix):
                return self._already_copied(task_id, prefix)
            if decision.retry:
                if record is not None:
                    record.attempts += 1
                    record.last_status = "retry"
                    record.last_code = error.key
                    record.last_error = error.detail
                    record.last_check = now
                    record.next_check = next_check_after(record.attempts, now)
                    saved = record
                    self._durably(lambda: self.pending.save(saved), "save record", task_id)
                    if self._copied_meanwhile(task_id, prefix):
                        return self._already_copied(task_id, prefix)
                return TaskOutcome(
                    task_id,
                    Outcome.RETRY,
                    code=error.key,
                    reason=decision.reason,
                    detail=error.detail,
                )
            letter = DeadLetter(
                task_id=task_id,
                code=error.code,
                reason=decision.reason,
                message=error.detail,
                request_id=self.request_id,
                redrivable=decision.redrivable,
                attempts=(record.attempts + 1) if record else 1,
                first_seen=record.first_seen if record else now,
                event=event_text,
                output_prefix=prefix,
                rule=decision.rule,
                partial_objects=self._durably(
                    lambda: self._partial_objects(task_id, prefix), "list partial objects", task_id
                ),
            )
            self._durably(lambda: self.dead_letters.create(letter), "write dead letter", task_id)
            if self._copied_meanwhile(task_id, prefix):
                return self._already_copied(task_id, prefix)
            self._durably(lambda: self.pending.remove(task_id), "remove record", task_id)
            return TaskOutcome(
                task_id,
                Outcome.DEAD_LETTERED,
                code=error.key,
                reason=decision.reason,
                detail=error.detail,
            )
        except Exception as store_error:
            if not isinstance(store_error, CollectorError):
                # recording the outcome itself hit something unforeseen: keep the task with the
                # platform (it stays pending as it was; the lifetime still bounds it)
                unexpected = self._unexpected(store_error, task_id)
                return TaskOutcome(
                    task_id,
                    Outcome.RETRY,
                    code=unexpected.key,
                    reason=decide(unexpected).reason,
                    detail=f"{error.key}; then {unexpected.detail}",
                )
            # OSS is failing too: nothing could be recorded. Fail the invocation so the platform
            # keeps the event (MNS retry, async retry, then the onFailure destination).
            return TaskOutcome(
                task_id,
                Outcome.RETRY,
                code=store_error.key,
                reason="could not record the task's state in OSS",
                detail=f"{error.key}; then {store_error.detail}",
            )

    def _partial_objects(self, task_id: str, prefix: str | None) -> list[dict[str, Any]]:
        """What an interrupted copy left under the task's prefix: named in the dead letter, so an
        operator can reuse it (`redrive --force`) or remove it (`purge-partial`)."""
        task_prefix = self.layout.task_prefix(task_id, prefix)
        return [
            {"key": obj.key, "size": obj.size}
            for obj in self.store.list(task_prefix)
            if obj.key[len(task_prefix) :] != "manifest.json"
        ]

    def _done(
        self, outcome: TaskOutcome, started: float, trigger: str, record: PendingRecord | None
    ) -> TaskOutcome:
        outcome.timings["totalSeconds"] = time.monotonic() - started
        level = (
            "INFO"
            if outcome.outcome in (Outcome.COPIED, Outcome.ALREADY_COPIED, Outcome.PENDING)
            else "WARNING"
        )
        self.log.emit(
            "task_outcome",
            level,
            taskId=outcome.task_id,
            outcome=outcome.outcome.value,
            code=outcome.code,
            reason=outcome.reason,
            detail=outcome.detail,
            trigger=trigger,
            attempts=record.attempts if record else None,
            images=outcome.images or None,
            objectsWritten=outcome.objects_written,
            bytesWritten=outcome.bytes_written,
            timings={k: round(v, 3) for k, v in outcome.timings.items()},
            elapsedSeconds=round(outcome.timings["totalSeconds"], 3),
        )
        return outcome
