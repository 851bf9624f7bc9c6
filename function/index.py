"""Function Compute entry point: decode the event, build the invocation's use cases (wiring.py),
hand them the event, encode the answer.

`initialize` is the FC initializer (template.yml `instanceLifecycleConfig.initializer`): once per
instance, before its first invocation, it validates the configuration and imports the SDKs, so the
first invocation does not pay for them. Without an initializer the first invocation does the same.

Returns a JSON string: one entry per TaskId with its outcome, and counts. Raises
`RetryableInvocationError` when a transient failure outlasted this invocation's budget (every task it
names is already recorded in the pending registry), or when nothing of the event could be recorded
(say, the sweep could not list the registry), so the platform delivers the event again.
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


_WARMED = False


def initialize(context: Any) -> None:
    """FC initializer: fail the instance early on a bad configuration, then warm it up."""
    _warm_up(_checked_config(), context)


def _checked_config() -> CollectorConfig:
    if CONFIG is None:
        raise ConfigError(f"configuration error: {CONFIG_ERROR}")
    return CONFIG


def _warm_up(config: CollectorConfig, context: Any) -> None:
    global _WARMED
    if _WARMED:
        return
    from collector.telemetry import EventLog
    from collector.wiring import request_id_of, warm_up

    warm_up(EventLog(request_id_of(context), config.log_level))
    _WARMED = True


def handler(event: Any, context: Any) -> str:
    started = time.monotonic()
    config = _checked_config()
    _warm_up(config, context)
    from collector.wiring import build_invocation

    collector = build_invocation(config, context, started=started)
    try:
        trigger = parse_trigger_event(
            event, max_tasks=config.max_tasks_per_event, state_prefix=config.state_prefix
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
