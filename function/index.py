"""Function Compute entry point: decode the event, build the collector, run it, encode the answer.

Returns a JSON string: one entry per TaskId with its outcome, and counts. Raises
`RetryableInvocationError` only when a transient failure outlasted this invocation's budget; every
task it names is already recorded in the pending registry.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

from collector.config import CollectorConfig, ConfigError
from collector.errors import CollectorError, InvalidEvent, RetryableInvocationError
from collector.events import parse_trigger_event

try:  # validated once per instance (cold start)
    CONFIG: CollectorConfig | None = CollectorConfig.from_env(os.environ)
    CONFIG_ERROR: ConfigError | None = None
except ConfigError as exc:
    CONFIG, CONFIG_ERROR = None, exc


def handler(event: Any, context: Any) -> str:
    started = time.monotonic()
    if CONFIG is None:
        raise ConfigError(f"configuration error: {CONFIG_ERROR}")
    from collector.wiring import build_collector

    collector = build_collector(CONFIG, context, started=started)
    try:
        trigger = parse_trigger_event(
            event, max_tasks=CONFIG.max_tasks_per_event, state_prefix=CONFIG.state_prefix
        )
    except InvalidEvent as problem:
        report = collector.reject_event(event, str(problem))
    else:
        try:
            report = collector.handle(trigger)
        except CollectorError as error:
            # Nothing of the event was recorded (say, the sweep could not list the pending
            # registry): fail with the documented retryable error so the platform tries again.
            collector.log.error(
                "invocation_failed", trigger=trigger.kind.value, code=error.key, detail=error.detail
            )
            raise RetryableInvocationError(
                f"{trigger.kind.value} invocation failed before recording anything: {error.key}"
            ) from None
    collector.log_summary(report, started)
    failures = report.retry_needed
    if failures:
        raise RetryableInvocationError(
            f"{len(failures)} task(s) hit transient errors and are kept pending for retry: "
            + "; ".join(f"{o.task_id}: {o.code}" for o in failures[:10])
        )
    return json.dumps(report.to_json())
