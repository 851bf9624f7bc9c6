"""One invocation: route a decoded event to its use cases and gather the report. No decisions here
(error_policy.py) and no I/O of its own (the use cases, through the ports)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from collector.collect_task import CollectTask
from collector.models import Outcome, TaskOutcome, TriggerEvent, TriggerKind
from collector.reject_event import RejectEvent, event_text
from collector.sweep_registry import SweepRegistry
from collector.telemetry import EventLog


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


@dataclass(frozen=True)
class Invocation:
    """The use cases of one invocation, built by wiring.py."""

    request_id: str
    log: EventLog
    collect: CollectTask
    sweep: SweepRegistry
    reject: RejectEvent

    def handle(self, event: TriggerEvent) -> InvocationReport:
        report = InvocationReport(self.request_id, event.kind.value)
        for rejection in event.rejections:
            report.outcomes.append(
                self.reject.run(event.raw, rejection.reason, key_hint=rejection.reason)
            )
        if event.kind is TriggerKind.TIMER:
            report.sweep = self.sweep.run(event.sweep, report.outcomes)
            return report
        for request in event.tasks:
            report.outcomes.append(
                self.collect.run(request, wait=True, trigger=event.kind.value, event_text=event.raw)
            )
        return report

    def reject_event(self, raw: Any, reason: str) -> InvocationReport:
        """The whole event was refused (`InvalidEvent`)."""
        report = InvocationReport(self.request_id, "rejected")
        report.outcomes.append(self.reject.run(event_text(raw), reason))
        return report

    def log_summary(self, report: InvocationReport, started: float) -> None:
        """The per-invocation metric line (counts, bytes, duration since `started`)."""
        self.log.metric(
            "invocation_summary",
            trigger=report.trigger,
            counts=report.counts(),
            bytesWritten=sum(o.bytes_written for o in report.outcomes),
            durationSeconds=round(time.monotonic() - started, 3),
        )
