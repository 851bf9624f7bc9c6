"""In-process retries of transient failures, bounded by the invocation's deadline.

What counts as transient is decided by `error_policy`, not here."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from collector.budget import Backoff, Deadline
from collector.error_policy import decide
from collector.errors import CollectorError
from collector.telemetry import EventLog

T = TypeVar("T")


def call_with_retry(
    operation: Callable[[], T],
    *,
    deadline: Deadline,
    backoff: Backoff,
    log: EventLog | None = None,
    what: str = "",
    task_id: str | None = None,
    min_attempt_seconds: float = 0.5,
) -> T:
    """Run `operation`; on a retryable CollectorError wait (jittered, or as the server asked) and try
    again while the deadline leaves room for another attempt. Final errors and the last transient
    error are raised to the caller."""
    attempt = 0
    started = time.monotonic()
    while True:
        try:
            return operation()
        except CollectorError as error:
            decision = decide(error)
            if not decision.retry:
                raise
            delay = backoff.delay(attempt)
            if error.retry_after_seconds:
                delay = max(delay, error.retry_after_seconds)
            if deadline.remaining() < delay + min_attempt_seconds:
                raise
            if log is not None:
                log.info(
                    "retry_decision",
                    taskId=task_id,
                    operation=what,
                    code=error.key,
                    outcome="retry",
                    attempt=attempt + 1,
                    delaySeconds=round(delay, 3),
                    elapsedSeconds=round(time.monotonic() - started, 3),
                    detail=error.detail,
                )
            time.sleep(delay)
            attempt += 1
