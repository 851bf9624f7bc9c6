"""`sweep`: run the function's own timer sweep from the operator's machine, right now, instead of
waiting for the next tick (e.g. after a redrive). It is the deployed code (`build_invocation` +
`SweepRegistry`), with the operator's credentials and the public OSS endpoint; it logs the same JSON
lines as the function, on stdout, ending with an `invocation_summary`."""

from __future__ import annotations

import time
import uuid
from types import SimpleNamespace
from typing import Any

from collector.models import SweepOptions, TriggerEvent, TriggerKind
from collector.wiring import build_invocation
from ops.settings import OpsSettings


def run_sweep(
    settings: OpsSettings, *, max_tasks: int | None = None, max_seconds: float | None = None
) -> dict[str, Any]:
    started = time.monotonic()
    budget = max_seconds or settings.config.sweep_max_seconds
    context = SimpleNamespace(
        request_id=f"ops-sweep-{uuid.uuid4()}",
        region=settings.region,
        # the sweep stops before this "function timeout" (minus the safety margin)
        function=SimpleNamespace(timeout=budget + settings.config.safety_margin_seconds + 5),
    )
    creds = settings.credentials
    env = {
        "ALIBABA_CLOUD_ACCESS_KEY_ID": creds.access_key_id,
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET": creds.access_key_secret,
        "ALIBABA_CLOUD_SECURITY_TOKEN": creds.security_token or "",
    }
    invocation = build_invocation(settings.config, context, started=started, env=env)
    event = TriggerEvent(
        kind=TriggerKind.TIMER,
        sweep=SweepOptions(max_tasks=max_tasks, max_seconds=max_seconds),
        raw="alimt-collector sweep",
    )
    report = invocation.handle(event)
    invocation.log_summary(report, started)
    return report.to_json()
