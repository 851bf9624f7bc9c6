"""The one place that builds things: the adapters behind the ports (ports.py), and the use cases of
one invocation wired to them (`build_invocation`): credentials, adapters, deadline and log.

Module-level state is limited to what is safe to share between invocations of a warm instance: the
configuration and the API pacer. Credentials are per invocation (STS keys expire)."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from typing import Any

from collector.budget import Deadline, RateLimiter, shared_limiter
from collector.collect_task import CollectTask, TaskState
from collector.config import CollectorConfig
from collector.copier import ImageCopier
from collector.credentials import FunctionCredentials
from collector.image_source import ImageSource, SourcePolicy
from collector.invocation import Invocation
from collector.layout import KeyLayout
from collector.object_store import ObjectStore
from collector.ports import Copier, Dispatcher, ObjectStorePort, ResultApi
from collector.redaction import register_secrets
from collector.reject_event import RejectEvent
from collector.state import DeadLetterStore, ManifestStore, PendingRegistry
from collector.sweep_registry import SweepRegistry
from collector.telemetry import EventLog

DEFAULT_TIMEOUT_SECONDS = 60.0


def _limiter(qps: float) -> RateLimiter:
    # shared across invocations of a warm instance, so back-to-back invocations stay paced
    return shared_limiter(qps)


def function_timeout(context: Any) -> float:
    function = getattr(context, "function", None)
    timeout = getattr(function, "timeout", None) if function is not None else None
    try:
        return float(timeout) if timeout else DEFAULT_TIMEOUT_SECONDS
    except (TypeError, ValueError):
        return DEFAULT_TIMEOUT_SECONDS


def request_id_of(context: Any) -> str:
    return str(getattr(context, "request_id", None) or "local-" + str(int(time.time() * 1000)))


def region_of(context: Any, env: Mapping[str, str]) -> str:
    return str(getattr(context, "region", None) or env.get("FC_REGION") or "cn-hangzhou")


def function_name_of(context: Any, env: Mapping[str, str]) -> str:
    function = getattr(context, "function", None)
    name = getattr(function, "name", None) if function is not None else None
    return str(name or env.get("FC_FUNCTION_NAME") or "")


# The modules every invocation ends up importing; the FC SDK (fan-out only) stays lazy.
WARM_UP_MODULES = (
    "oss2",
    "urllib3",
    "alibabacloud_alimt20181012.client",
    "alibabacloud_alimt20181012.models",
    "alibabacloud_tea_openapi.models",
    "alibabacloud_tea_util.models",
    "collector.alimt_gateway",
    "collector.object_store",
)


def crc_extension_loaded() -> bool:
    """Whether oss2's CRC-64 (checked on every byte written) runs in C: crcmod falls back to pure
    Python (~20x slower, CPU-bound) silently when its extension is missing for the platform."""
    import crcmod.crcmod

    return bool(getattr(crcmod.crcmod, "_usingExtension", False))


def warm_up(log: EventLog) -> float:
    """Once per instance (FC initializer, or the first invocation without one): import the SDKs so
    no invocation pays for them, and warn if the CRC-64 C extension is missing. Returns seconds."""
    import importlib

    started = time.monotonic()
    for name in WARM_UP_MODULES:
        importlib.import_module(name)
    if not crc_extension_loaded():
        log.warning(
            "crc_extension_missing",
            detail="crcmod runs pure-Python CRC-64: copies are CPU-bound and ~20x slower; "
            "deploy the package `make package` builds (crcmod-plus wheels)",
        )
    return time.monotonic() - started


def build_dispatcher(
    config: CollectorConfig, context: Any, credentials: FunctionCredentials, env: Mapping[str, str]
) -> Dispatcher | None:
    """The FC async-invocation dispatcher when fan-out is on (SWEEP_SHARDS_MAX > 1); the SDK it
    uses is imported only when a sweep actually fans out."""
    if config.sweep_shards_max <= 1:
        return None
    function_name = config.fanout_function_name or function_name_of(context, env)
    if not function_name:
        return None  # nowhere to send shards: the sweep works oldest-first on its own
    from collector.fc_dispatcher import FcDispatcher, fc_endpoint

    region = region_of(context, env)
    account_id = getattr(context, "account_id", None) or env.get("FC_ACCOUNT_ID")
    return FcDispatcher(
        endpoint=fc_endpoint(config.fc_endpoint, account_id, region),
        function_name=function_name,
        credentials=credentials,
        region=region,
        timeout_seconds=config.api_timeout_seconds,
    )


def build_copier(
    config: CollectorConfig, store: ObjectStorePort, layout: KeyLayout, log: EventLog
) -> Copier:
    """The copy mode: download + streamed upload. A second mode (server-side copy) is another
    `ports.Copier`, chosen here."""
    source = ImageSource(
        SourcePolicy(config.allowed_source_hosts, config.allow_insecure_sources),
        timeout_seconds=config.source_timeout_seconds,
        max_bytes=config.max_image_bytes,
    )
    return ImageCopier(store, source, layout, concurrency=config.copy_concurrency, log=log)


def build_invocation(
    config: CollectorConfig,
    context: Any,
    *,
    started: float,
    env: Mapping[str, str] | None = None,
    dispatcher: Dispatcher | None = None,
) -> Invocation:
    """The use cases of one invocation. `dispatcher`: the fan-out port, if not the FC one."""
    env = os.environ if env is None else env
    request_id = request_id_of(context)
    log = EventLog(request_id, config.log_level)
    credentials = FunctionCredentials.resolve(context, env)
    register_secrets([credentials.access_key_secret, credentials.security_token])
    timeout = function_timeout(context)
    deadline = Deadline(started + timeout - min(config.safety_margin_seconds, timeout / 4))
    store = ObjectStore(
        config.oss_endpoint_for(region_of(context, env)),
        config.output_bucket,
        credentials,
        pool_size=config.copy_concurrency + 4,
        timeout_seconds=min(30.0, max(5.0, config.source_timeout_seconds)),
    )
    layout = KeyLayout(config.output_prefix, config.state_prefix)
    state = TaskState(
        layout=layout,
        pending=PendingRegistry(store, layout),
        dead_letters=DeadLetterStore(store, layout),
        manifests=ManifestStore(store, layout),
    )

    def api() -> ResultApi:
        from collector.alimt_gateway import AlimtGateway

        return AlimtGateway(config.alimt_endpoint, credentials, config.api_timeout_seconds)

    collect = CollectTask(
        config=config,
        api_factory=api,
        state=state,
        copier=build_copier(config, store, layout, log),
        log=log,
        request_id=request_id,
        deadline=deadline,
        pacer=_limiter(config.api_qps),
    )
    dispatcher = dispatcher or build_dispatcher(config, context, credentials, env)
    sweep = SweepRegistry(config, state.pending, collect, log, deadline, dispatcher=dispatcher)
    reject = RejectEvent(state.dead_letters, log, request_id)
    return Invocation(request_id=request_id, log=log, collect=collect, sweep=sweep, reject=reject)
