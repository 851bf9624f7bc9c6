"""An FC-like runner: invokes `index.handler` the way Function Compute 3.0 does, without Docker.

`s local invoke` needs Docker, which this project cannot assume, so this module reproduces what the
function can observe of FC: a warm instance process reused across calls (cold start once), the event
as bytes, the context (request id, function meta, region, account, and STS credentials in the
python3.10 style or as environment variables in the python3.12 style), a hard SIGKILL at the
timeout, the instance initializer (`instanceLifecycleConfig.initializer`) once before an instance's
first call, asynchronous retries with onSuccess/onFailure destinations, MNS topic trigger events in
JSON and STREAM format delivered synchronously (MNS's notifyStrategy retries a failed call) or
asynchronously (FC's async retries, then onFailure), and timer trigger events. `isolated=True` runs
the instance as `python -I -S`: only the code directory and the standard library are importable, as
for a built package. Waits between retries
are compressed by `time_scale`. The runner prints nothing itself; `InvocationResult.logs` holds the
function's log output of each call.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import math
import os
import queue
import random
import sys
import tempfile
import threading
import time
import uuid
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from local.credentials import IssuedCredentials
from local.fc_worker import END_MARKER
from local.runner_events import (
    ASYNC_RETRY_FIRST_INTERVAL_S,
    ASYNC_RETRY_MAX_INTERVAL_S,
    BACKOFF_INTERVAL_S,
    BACKOFF_RETRIES,
    EXPONENTIAL_DECAY_MAX_INTERVAL_S,
    EXPONENTIAL_DECAY_RETRIES,
    async_retry_interval,
    build_mns_event,
    build_timer_event,
    decode_payload,
    destination_name,
    event_bytes,
    mns_retry_intervals,
)
from local.runner_instance import WarmInstance
from local.runner_spec import AsyncInvokeSpec, FunctionSpec, TriggerSpec, resolve_placeholders

__all__ = [
    "ASYNC_RETRY_FIRST_INTERVAL_S",
    "ASYNC_RETRY_MAX_INTERVAL_S",
    "BACKOFF_INTERVAL_S",
    "BACKOFF_RETRIES",
    "EXPONENTIAL_DECAY_MAX_INTERVAL_S",
    "EXPONENTIAL_DECAY_RETRIES",
    "AsyncInvokeSpec",
    "AsyncOutcome",
    "FunctionRunner",
    "FunctionSpec",
    "InvocationResult",
    "MnsDelivery",
    "TriggerSpec",
    "async_retry_interval",
    "build_mns_event",
    "build_timer_event",
    "destination_name",
    "mns_retry_intervals",
    "resolve_placeholders",
]

PROJECT_ROOT = Path(__file__).resolve().parents[1]
PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy")
CREDENTIAL_ENV = (
    "ALIBABA_CLOUD_ACCESS_KEY_ID",
    "ALIBABA_CLOUD_ACCESS_KEY_SECRET",
    "ALIBABA_CLOUD_SECURITY_TOKEN",
)
RUNTIME_STYLES = ("python3.12", "python3.10", "both")
# How an MNS topic trigger invokes the function. Alibaba's documents disagree (fc-facts.md), so the
# function must be right either way: "sync" = MNS pushes and retries per notifyStrategy; "async" =
# FC accepts the event and retries per asyncInvokeConfig, then sends it to onFailure.
MNS_INVOCATION_MODES = ("sync", "async")
WORKER_SCRIPT = Path(__file__).resolve().with_name("fc_worker.py")
_CONTEXT_CREDENTIAL_STYLES = ("python3.10", "both")
_ENV_CREDENTIAL_STYLES = ("python3.12", "both")

# --- results --------------------------------------------------------------------------------------


@dataclass
class InvocationResult:
    request_id: str
    ok: bool
    result: Any  # decoded JSON when the return value is JSON, else str (or bytes if not UTF-8)
    error: dict[str, Any] | None  # errorType, errorMessage, stackTrace
    timed_out: bool
    duration_s: float
    logs: str
    instance_pid: int | None = None
    cold_start: bool = False
    init_duration_s: float | None = None  # the initializer's run, on a cold start that had one


@dataclass
class AsyncOutcome:
    attempts: list[InvocationResult]
    destination: str | None  # "onSuccess" | "onFailure" | None
    record_path: Path | None
    condition: str  # "Success" | "RetriesExhausted" | "EventAgeExceeded"
    waits_s: list[float]  # uncompressed intervals waited before each retry

    @property
    def ok(self) -> bool:
        return self.attempts[-1].ok


@dataclass
class MnsDelivery:
    event: bytes
    attempts: list[InvocationResult]
    consumed: bool  # an invocation succeeded, so MNS deletes the message
    waits_s: list[float]  # uncompressed intervals waited before each retry
    filtered: bool = False  # the trigger's filterTag did not match: never delivered
    mode: str = "sync"  # MNS_INVOCATION_MODES
    async_outcome: AsyncOutcome | None = None  # "async": FC's retries and destination


# --- the runner -----------------------------------------------------------------------------------


class FunctionRunner:
    """Invokes one function like FC 3.0: one warm instance (instanceConcurrency 1), so calls are
    serialized."""

    def __init__(
        self,
        spec: FunctionSpec,
        *,
        code_dir: Path | None = None,
        env_overrides: dict[str, str] | None = None,
        credentials: Callable[[], IssuedCredentials] | None = None,
        runtime_style: str = "python3.12",
        region: str = "cn-hangzhou",
        account_id: str = "1234567890123456",
        time_scale: float = 0.001,
        timeout_override: float | None = None,
        python: str = sys.executable,
        destinations_dir: Path | None = None,
        log_sink: Callable[[str], None] | None = None,
        rng: random.Random | None = None,
        isolated: bool = False,
        mns_invocation: str = "sync",
    ) -> None:
        if mns_invocation not in MNS_INVOCATION_MODES:
            raise ValueError(f"mns_invocation must be one of {MNS_INVOCATION_MODES}")
        if runtime_style not in RUNTIME_STYLES:
            raise ValueError(
                f"runtime_style must be one of {RUNTIME_STYLES}, not {runtime_style!r}"
            )
        resolved_code_dir = code_dir or spec.code_path
        if resolved_code_dir is None:
            raise ValueError("code_dir is required when the spec has no code path")
        self.spec = spec
        self._unpacked: tempfile.TemporaryDirectory[str] | None = None
        if zipfile.is_zipfile(resolved_code_dir):  # a code package: FC unpacks it (to /code)
            self._unpacked = tempfile.TemporaryDirectory(prefix="fc-code-")
            with zipfile.ZipFile(resolved_code_dir) as package:
                package.extractall(self._unpacked.name)
            resolved_code_dir = Path(self._unpacked.name)
        self.code_dir = Path(resolved_code_dir).resolve()
        self.env_overrides = dict(env_overrides or {})
        self.runtime_style = runtime_style
        self.region = region
        self.account_id = account_id
        self.time_scale = time_scale
        self.timeout_s = float(timeout_override or spec.timeout)
        self.python = python
        self.destinations_dir = destinations_dir
        self.isolated = isolated
        self.mns_invocation = mns_invocation
        self._credentials = credentials
        self._log_sink = log_sink
        self._rng = rng or random.Random()
        self._instance: WarmInstance | None = None
        self._lock = threading.Lock()

    # -- lifecycle --

    def __enter__(self) -> FunctionRunner:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            if self._instance is not None:
                self._instance.close()
                self._instance = None
            if self._unpacked is not None:
                self._unpacked.cleanup()
                self._unpacked = None

    def reconfigure_trigger(self, trigger_type: str, **config: Any) -> None:
        """Change the triggerConfig of this function's `trigger_type` triggers for later deliveries,
        e.g. `reconfigure_trigger("mns_topic", notifyContentFormat="STREAM")`."""
        triggers = tuple(
            dataclasses.replace(t, config={**t.config, **config}) if t.type == trigger_type else t
            for t in self.spec.triggers
        )
        self.spec = dataclasses.replace(self.spec, triggers=triggers)

    @property
    def instance_pid(self) -> int | None:
        return self._instance.pid if self._instance else None

    def _instance_env(self) -> dict[str, str]:
        env = {
            key: value
            for key, value in os.environ.items()
            if key not in PROXY_VARS and key not in CREDENTIAL_ENV
        }
        env.update(self.spec.environment)
        env.update(
            {
                "FC_FUNCTION_NAME": self.spec.name,
                "FC_FUNCTION_HANDLER": self.spec.handler,
                "FC_FUNCTION_MEMORY_SIZE": str(self.spec.memory_size),
                "FC_REGION": self.region,
                "FC_ACCOUNT_ID": self.account_id,
                "FC_INSTANCE_ID": uuid.uuid4().hex,
            }
        )
        env.update(self.env_overrides)
        # Only so `-m local.fc_worker` can start; the worker drops it before loading the code.
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(PROJECT_ROOT), os.environ.get("PYTHONPATH", "")) if p
        )
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def _spawn(self) -> WarmInstance:
        if self.isolated:  # -I -S: no PYTHON* variables, no site-packages, no script directory
            argv = [self.python, "-I", "-S", str(WORKER_SCRIPT)]
        else:
            argv = [self.python, "-m", "local.fc_worker"]
        argv += ["--code-dir", str(self.code_dir), "--handler", self.spec.handler]
        if self.spec.initializer:
            argv += ["--initializer", self.spec.initializer]
        return WarmInstance(argv, self.code_dir, self._instance_env(), self._log_sink)

    def _discard_instance(self, kill: bool) -> None:
        if self._instance is not None:
            if kill:
                self._instance.kill()
            else:
                self._instance.close()
            self._instance = None

    # -- synchronous invocation --

    def invoke(self, event: bytes | str | dict[str, Any]) -> InvocationResult:
        return self._invoke(event_bytes(event))

    def _invoke_frame(self, request_id: str, event: bytes | None) -> dict[str, Any]:
        """An invoke frame, or (event None) the initialize frame of a new instance."""
        context: dict[str, Any] = {
            "requestId": request_id,
            "region": self.region,
            "accountId": self.account_id,
            "function": {
                "name": self.spec.name,
                "handler": self.spec.handler,
                "memory": self.spec.memory_size,
                "timeout": math.ceil(self.timeout_s),
            },
        }
        issued = self._credentials() if self._credentials else None  # fresh STS keys per call
        if self.runtime_style in _CONTEXT_CREDENTIAL_STYLES:
            context["credentials"] = (
                {
                    "access_key_id": issued.access_key_id,
                    "access_key_secret": issued.access_key_secret,
                    "security_token": issued.security_token,
                }
                if issued
                else None
            )
        set_env = {
            key: self.env_overrides[key] for key in CREDENTIAL_ENV if key in self.env_overrides
        }
        if issued and self.runtime_style in _ENV_CREDENTIAL_STYLES:
            set_env.update(issued.as_env())
        return {
            "type": "invoke" if event is not None else "initialize",
            "requestId": request_id,
            "event": base64.b64encode(event).decode() if event is not None else None,
            "context": context,
            "setEnv": set_env,
            "unsetEnv": [key for key in CREDENTIAL_ENV if key not in set_env],
        }

    def _invoke(self, event: bytes, request_id: str | None = None) -> InvocationResult:
        request_id = request_id or str(uuid.uuid4())
        with self._lock:
            started = time.monotonic()
            deadline = started + self.timeout_s
            cold_start = self._instance is None
            if self._instance is None:
                self._instance = self._spawn()
            instance = self._instance
            mark = (
                instance.log_mark()
            )  # on a cold start, 0: import-time output is in this call's log

            init_duration: float | None = None

            def failed(error: dict[str, Any], *, timed_out: bool = False) -> InvocationResult:
                self._discard_instance(kill=True)  # the next call cold-starts a fresh instance
                return InvocationResult(
                    request_id=request_id,
                    ok=False,
                    result=None,
                    error=error,
                    timed_out=timed_out,
                    duration_s=time.monotonic() - started,
                    logs=instance.logs_since(mark, wait_s=0.5),
                    instance_pid=instance.pid,
                    cold_start=cold_start,
                    init_duration_s=init_duration,
                )

            def timeout_error(
                what: str = "Function", after_s: float = self.timeout_s
            ) -> InvocationResult:
                return failed(
                    {
                        "errorType": "FunctionTimeout",
                        "errorMessage": f"{what} timed out after {after_s:g} seconds",
                        "stackTrace": [],
                    },
                    timed_out=True,
                )

            def exited_error() -> InvocationResult:
                instance.process.poll()
                return failed(
                    {
                        "errorType": "ProcessExited",
                        "errorMessage": "Process exited unexpectedly before completing request "
                        f"(exit code {instance.process.returncode})",
                        "stackTrace": [],
                    }
                )

            try:
                if instance.ready is None:
                    ready = instance.next_frame(deadline - time.monotonic())
                    if ready is None or ready.get("type") != "ready":
                        return exited_error()
                    if ready.get("error"):
                        return failed(ready["error"])
                    instance.ready = ready
                    if self.spec.initializer:
                        # FC runs the initializer once per instance, with its own timeout, before
                        # the first invocation; if it fails, so does the invocation, and the next
                        # call starts a new instance.
                        init_started = time.monotonic()
                        if not instance.send(self._invoke_frame(request_id, None)):
                            return exited_error()
                        try:
                            init = instance.next_frame(float(self.spec.initializer_timeout))
                        except queue.Empty:
                            return timeout_error("Initializer", self.spec.initializer_timeout)
                        init_duration = time.monotonic() - init_started
                        if init is None or init.get("requestId") != request_id:
                            return exited_error()
                        if not init["ok"]:
                            return failed(init["error"])
                        deadline = time.monotonic() + self.timeout_s
                if not instance.send(self._invoke_frame(request_id, event)):
                    return exited_error()
                reply = instance.next_frame(deadline - time.monotonic())
            except queue.Empty:
                return timeout_error()
            if reply is None or reply.get("requestId") != request_id:
                return exited_error()
            logs = instance.logs_since(mark, until_line=END_MARKER + request_id)
            return InvocationResult(
                request_id=request_id,
                ok=bool(reply["ok"]),
                result=decode_payload(base64.b64decode(reply["payload"])) if reply["ok"] else None,
                error=None if reply["ok"] else reply["error"],
                timed_out=False,
                duration_s=time.monotonic() - started,
                logs=logs,
                instance_pid=instance.pid,
                cold_start=cold_start,
                init_duration_s=init_duration,
            )

    # -- asynchronous invocation --

    def invoke_async(self, event: bytes | str | dict[str, Any]) -> AsyncOutcome:
        """Invoke, retry function errors up to maxAsyncRetryAttempts, then go to a destination."""
        payload = event_bytes(event)
        config = self.spec.async_config
        request_id = str(uuid.uuid4())  # one async request, however many attempts
        attempts: list[InvocationResult] = []
        waits: list[float] = []
        event_age_s = 0.0
        while True:
            result = self._invoke(payload, request_id)
            attempts.append(result)
            event_age_s += result.duration_s
            if result.ok:
                condition = "Success"
                break
            if len(attempts) > config.max_retry_attempts:
                condition = "RetriesExhausted"
                break
            wait_s = async_retry_interval(len(attempts))
            if event_age_s + wait_s > config.max_event_age_s:
                condition = "EventAgeExceeded"
                break
            waits.append(wait_s)
            event_age_s += wait_s
            time.sleep(wait_s * self.time_scale)

        kind = "onSuccess" if result.ok else "onFailure"
        arn = config.on_success if result.ok else config.on_failure
        record_path = self._deliver(arn, payload, attempts, condition) if arn else None
        return AsyncOutcome(attempts, kind if arn else None, record_path, condition, waits)

    def _deliver(
        self, arn: str, event: bytes, attempts: list[InvocationResult], condition: str
    ) -> Path | None:
        """Write an FC destination record into destinations_dir/<queue|topic|function name>/."""
        if self.destinations_dir is None:
            return None
        last = attempts[-1]
        try:
            request_payload: Any = event.decode()
        except UnicodeDecodeError:
            request_payload = {"base64": base64.b64encode(event).decode()}
        now = datetime.now(timezone.utc)
        record = {
            "timestamp": now.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "functionName": self.spec.name,
            "destination": arn,
            "condition": condition,
            "attempts": len(attempts),
            "requestContext": {
                "requestId": last.request_id,
                "functionArn": f"acs:fc:{self.region}:{self.account_id}:functions/{self.spec.name}",
                "condition": condition,
                "approximateInvokeCount": len(attempts),
            },
            "requestPayload": request_payload,
            "responseContext": {
                "statusCode": 200,
                "functionError": None if last.ok else "UnhandledInvocationError",
            },
            "responsePayload": last.result if last.ok else last.error,
        }
        queue_dir = self.destinations_dir / destination_name(arn)
        queue_dir.mkdir(parents=True, exist_ok=True)
        path = queue_dir / f"{int(now.timestamp() * 1000)}-{last.request_id}.json"
        path.write_text(json.dumps(record, indent=2, default=str), encoding="utf-8")
        return path

    # -- triggers --

    def publish_mns(
        self,
        body: str,
        attributes: dict[str, str] | None = None,
        trigger: str | None = None,
        *,
        tag: str | None = None,
        max_retries: int | None = None,
        mode: str | None = None,
    ) -> MnsDelivery:
        """Publish to the trigger's topic: build the event in its notifyContentFormat and invoke.
        `mode` (default: the runner's `mns_invocation`) "sync": retry failures per notifyStrategy
        (waits compressed by time_scale); "async": FC takes the event (MNS is done with it) and
        retries per asyncInvokeConfig, then writes the onFailure record."""
        mode = mode or self.mns_invocation
        if mode not in MNS_INVOCATION_MODES:
            raise ValueError(f"mode must be one of {MNS_INVOCATION_MODES}")
        spec = self.spec.trigger(trigger, "mns_topic")
        if spec.filter_tag and tag != spec.filter_tag:
            return MnsDelivery(event=b"", attempts=[], consumed=False, waits_s=[], filtered=True)
        event = build_mns_event(
            spec.notify_content_format,
            body,
            attributes,
            topic_owner=self.account_id,
            topic_name=spec.topic_name or f"{spec.name}-topic",
            subscription_name=f"fc-{self.spec.name}-{spec.name}",
        )
        if mode == "async":
            outcome = self.invoke_async(event)
            return MnsDelivery(
                event, outcome.attempts, True, outcome.waits_s, mode=mode, async_outcome=outcome
            )
        retry_waits = mns_retry_intervals(spec.notify_strategy, self._rng, max_retries)
        attempts: list[InvocationResult] = []
        waits: list[float] = []
        while True:
            result = self._invoke(event)  # each MNS push is a new request
            attempts.append(result)
            if result.ok or len(waits) == len(retry_waits):
                return MnsDelivery(event, attempts, consumed=result.ok, waits_s=waits)
            wait_s = retry_waits[len(waits)]
            waits.append(wait_s)
            time.sleep(wait_s * self.time_scale)

    def tick_timer(
        self, trigger: str | None = None, trigger_time: datetime | None = None
    ) -> InvocationResult:
        """Fire a timer trigger once with its configured payload."""
        spec = self.spec.trigger(trigger, "timer")
        when = trigger_time or datetime.now(timezone.utc).replace(microsecond=0)
        return self._invoke(build_timer_event(spec.name, spec.payload, when))
