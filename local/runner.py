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
import contextlib
import dataclasses
import hashlib
import json
import math
import os
import queue
import random
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any

import yaml

from local.credentials import IssuedCredentials
from local.fc_worker import END_MARKER, read_frame, write_frame

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

# MNS topic trigger retry strategies (fc-facts.md).
BACKOFF_RETRIES = 3
BACKOFF_INTERVAL_S = (10.0, 20.0)
EXPONENTIAL_DECAY_RETRIES = 176
EXPONENTIAL_DECAY_MAX_INTERVAL_S = 512.0
# FC does not document its async retry schedule precisely; an exponential backoff from 1 s
# (capped at 5 minutes) is close enough to exercise the function's retry handling.
ASYNC_RETRY_FIRST_INTERVAL_S = 1.0
ASYNC_RETRY_MAX_INTERVAL_S = 300.0

# --- template.yml -------------------------------------------------------------------------------

_PLACEHOLDER = re.compile(
    r"\$\{\s*(?:vars\.(?P<var>[\w-]+)|env\(\s*['\"]?(?P<env>\w+)['\"]?\s*\)|env\.(?P<envdot>\w+))\s*\}"
)


def resolve_placeholders(value: Any, variables: dict[str, Any]) -> Any:
    """Resolve Serverless Devs `${vars.x}`, `${env(X)}` and `${env.X}`; leave anything else (for
    example `${config('AccountID')}`) verbatim, since only the deploy tool can know it."""
    if isinstance(value, dict):
        return {key: resolve_placeholders(item, variables) for key, item in value.items()}
    if isinstance(value, list):
        return [resolve_placeholders(item, variables) for item in value]
    if not isinstance(value, str):
        return value

    def lookup(match: re.Match[str]) -> Any:
        if match["var"] is not None:
            return variables.get(match["var"], match[0])
        return os.environ.get(match["env"] or match["envdot"], match[0])

    whole = _PLACEHOLDER.fullmatch(value)
    if whole:  # keep a non-string variable's type when it is the whole value
        return lookup(whole)
    return _PLACEHOLDER.sub(lambda m: str(lookup(m)), value)


@dataclass(frozen=True)
class TriggerSpec:
    name: str
    type: str
    config: dict[str, Any]
    source_arn: str | None = None
    invocation_role: str | None = None

    @property
    def payload(self) -> str:
        return str(self.config.get("payload") or "")

    @property
    def cron_expression(self) -> str | None:
        return self.config.get("cronExpression")

    @property
    def notify_content_format(self) -> str:
        return str(self.config.get("notifyContentFormat", "JSON"))

    @property
    def notify_strategy(self) -> str:
        return str(self.config.get("notifyStrategy", "BACKOFF_RETRY"))

    @property
    def filter_tag(self) -> str | None:
        return self.config.get("filterTag") or None

    @property
    def topic_name(self) -> str | None:
        match = re.search(r"/topics/([^/]+)", self.source_arn or "")
        return match[1] if match else None


@dataclass(frozen=True)
class AsyncInvokeSpec:
    max_retry_attempts: int = 3
    max_event_age_s: float = 18000.0  # the fc3 schema's default
    on_success: str | None = None
    on_failure: str | None = None


@dataclass(frozen=True)
class FunctionSpec:
    name: str
    handler: str
    runtime: str
    memory_size: int = 512
    cpu: float | None = None  # vCPU; None: fc3's default for the memory size
    timeout: int = 3
    instance_concurrency: int = 1
    region: str = "cn-hangzhou"
    role: str | None = None
    description: str = ""
    environment: dict[str, str] = field(default_factory=dict)
    triggers: tuple[TriggerSpec, ...] = ()
    async_config: AsyncInvokeSpec = field(default_factory=AsyncInvokeSpec)
    code_path: Path | None = None
    initializer: str | None = None  # instanceLifecycleConfig.initializer.handler
    initializer_timeout: int = 3

    @classmethod
    def from_template(
        cls, path: str | Path = "template.yml", resource: str | None = None
    ) -> FunctionSpec:
        """Read one fc3 resource of a Serverless Devs 3 template (the only one, or `resource`)."""
        template_path = Path(path)
        document = yaml.safe_load(template_path.read_text(encoding="utf-8")) or {}
        resources = {
            key: value
            for key, value in (document.get("resources") or {}).items()
            if isinstance(value, dict) and value.get("component") == "fc3"
        }
        if resource is None:
            if len(resources) != 1:
                raise ValueError(f"{path}: name one of the fc3 resources {sorted(resources)}")
            resource = next(iter(resources))
        if resource not in resources:
            raise ValueError(f"{path}: no fc3 resource {resource!r} (have {sorted(resources)})")
        variables = document.get("vars") or {}
        props = resolve_placeholders(resources[resource].get("props") or {}, variables)
        return cls.from_props(props, base_dir=template_path.resolve().parent)

    @classmethod
    def from_props(cls, props: dict[str, Any], *, base_dir: Path | None = None) -> FunctionSpec:
        async_props = props.get("asyncInvokeConfig") or {}
        destinations = async_props.get("destinationConfig") or {}
        code = props.get("code")
        code_src = code.get("src") if isinstance(code, dict) else code
        initializer = (props.get("instanceLifecycleConfig") or {}).get("initializer") or {}
        return cls(
            name=str(props["functionName"]),
            handler=str(props.get("handler", "index.handler")),
            runtime=str(props["runtime"]),
            memory_size=int(props.get("memorySize", 512)),
            cpu=float(props["cpu"]) if props.get("cpu") is not None else None,
            timeout=int(props.get("timeout", 3)),
            instance_concurrency=int(props.get("instanceConcurrency", 1)),
            region=str(props.get("region", "cn-hangzhou")),
            role=props.get("role"),
            description=str(props.get("description", "")),
            environment={
                str(key): str(value)
                for key, value in (props.get("environmentVariables") or {}).items()
            },
            triggers=tuple(
                TriggerSpec(
                    name=str(trigger["triggerName"]),
                    type=str(trigger["triggerType"]),
                    config=dict(trigger.get("triggerConfig") or {}),
                    source_arn=trigger.get("sourceArn"),
                    invocation_role=trigger.get("invocationRole"),
                )
                for trigger in props.get("triggers") or []
            ),
            async_config=AsyncInvokeSpec(
                max_retry_attempts=int(async_props.get("maxAsyncRetryAttempts", 3)),
                max_event_age_s=float(async_props.get("maxAsyncEventAgeInSeconds", 18000)),
                on_success=(destinations.get("onSuccess") or {}).get("destination"),
                on_failure=(destinations.get("onFailure") or {}).get("destination"),
            ),
            code_path=(base_dir or Path(".")) / code_src if isinstance(code_src, str) else None,
            initializer=initializer.get("handler") or None,
            initializer_timeout=int(initializer.get("timeout", 3)),
        )

    def trigger(self, name: str | None, trigger_type: str) -> TriggerSpec:
        """The trigger called `name`, or the first one of `trigger_type`."""
        for trigger in self.triggers:
            if trigger.type == trigger_type and (name is None or trigger.name == name):
                return trigger
        raise LookupError(f"function {self.name!r} has no {trigger_type} trigger {name or ''}")


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


# --- events ---------------------------------------------------------------------------------------


def build_mns_event(
    notify_content_format: str,
    body: str,
    attributes: dict[str, str] | None = None,
    *,
    topic_owner: str,
    topic_name: str,
    subscription_name: str,
    message_id: str | None = None,
    publish_time_ms: int | None = None,
) -> bytes:
    """The event an MNS topic trigger hands to the function (see fc3-event-templates/)."""
    if notify_content_format == "STREAM":
        if not attributes:
            return body.encode()
        # MNS carries user attributes as one "Extend" attribute holding their JSON.
        extend = json.dumps(attributes, separators=(",", ":"), ensure_ascii=False)
        return json.dumps({"body": body, "attrs": {"Extend": extend}}).encode()
    if notify_content_format != "JSON":
        raise ValueError(f"unknown notifyContentFormat {notify_content_format!r}")
    standard = {
        "TopicOwner": topic_owner,
        "Message": body,
        "Subscriber": topic_owner,
        "PublishTime": publish_time_ms if publish_time_ms is not None else int(time.time() * 1000),
        "SubscriptionName": subscription_name,
        "MessageMD5": hashlib.md5(body.encode()).hexdigest().upper(),
        "TopicName": topic_name,
        "MessageId": message_id or uuid.uuid4().hex.upper(),
    }
    return json.dumps({**(attributes or {}), **standard}).encode()


def build_timer_event(trigger_name: str, payload: str, trigger_time: datetime) -> bytes:
    if trigger_time.tzinfo is None:  # FC's cron runs in UTC
        trigger_time = trigger_time.replace(tzinfo=timezone.utc)
    stamp = trigger_time.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return json.dumps(
        {"triggerTime": stamp, "triggerName": trigger_name, "payload": payload}
    ).encode()


def mns_retry_intervals(
    strategy: str, rng: random.Random, max_retries: int | None = None
) -> list[float]:
    if strategy == "BACKOFF_RETRY":
        intervals = [rng.uniform(*BACKOFF_INTERVAL_S) for _ in range(BACKOFF_RETRIES)]
    elif strategy == "EXPONENTIAL_DECAY_RETRY":
        intervals = [
            min(2.0**attempt, EXPONENTIAL_DECAY_MAX_INTERVAL_S)
            for attempt in range(EXPONENTIAL_DECAY_RETRIES)
        ]
    else:
        raise ValueError(f"unknown notifyStrategy {strategy!r}")
    return intervals if max_retries is None else intervals[:max_retries]


def async_retry_interval(retry_number: int) -> float:
    """Wait before async retry `retry_number` (1-based)."""
    return min(ASYNC_RETRY_FIRST_INTERVAL_S * 2 ** (retry_number - 1), ASYNC_RETRY_MAX_INTERVAL_S)


def destination_name(arn: str) -> str:
    """Local directory name for a destination ARN: the MNS queue/topic or function name."""
    match = re.search(r"/(?:queues|topics)/([^/]+)", arn) or re.search(r"functions/([^/]+)", arn)
    name = match[1] if match else arn.rstrip("/").rsplit("/", 1)[-1].rsplit(":", 1)[-1]
    return re.sub(r"[^\w.-]", "_", name) or "destination"


def _event_bytes(event: bytes | str | dict[str, Any]) -> bytes:
    if isinstance(event, bytes):
        return event
    if isinstance(event, str):
        return event.encode()
    return json.dumps(event).encode()


def _decode_payload(payload: bytes) -> Any:
    try:
        text = payload.decode()
    except UnicodeDecodeError:
        return payload
    try:
        return json.loads(text)
    except ValueError:
        return text


# --- the instance process ------------------------------------------------------------------------


class _Instance:
    """One worker process and the threads that drain its protocol pipe and its log stream."""

    def __init__(
        self,
        argv: list[str],
        cwd: Path,
        env: dict[str, str],
        log_sink: Callable[[str], None] | None,
    ) -> None:
        self.process = subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,  # so a kill takes the handler's own children with it
        )
        self.pid = self.process.pid
        self.ready: dict[str, Any] | None = None
        self._frames: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._log_lines: list[str] = []
        self._log_closed = False
        self._log_cond = threading.Condition()
        self._log_sink = log_sink
        assert self.process.stdout is not None and self.process.stderr is not None
        self._threads = [
            threading.Thread(target=self._pump_frames, args=(self.process.stdout,), daemon=True),
            threading.Thread(target=self._pump_logs, args=(self.process.stderr,), daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def _pump_frames(self, stream: IO[bytes]) -> None:
        while True:
            try:
                frame = read_frame(stream)
            except (OSError, ValueError):
                frame = None
            self._frames.put(frame)
            if frame is None:
                return

    def _pump_logs(self, stream: IO[bytes]) -> None:
        for raw in iter(stream.readline, b""):
            line = raw.decode("utf-8", "replace")
            with self._log_cond:
                self._log_lines.append(line)
                self._log_cond.notify_all()
            if self._log_sink:
                self._log_sink(line)
        with self._log_cond:
            self._log_closed = True
            self._log_cond.notify_all()

    def log_mark(self) -> int:
        with self._log_cond:
            return len(self._log_lines)

    def logs_since(self, mark: int, until_line: str | None = None, wait_s: float = 2.0) -> str:
        """Log lines from `mark`, after waiting (briefly) for `until_line` or the stream's end."""

        def arrived() -> bool:
            if self._log_closed:
                return True
            return until_line is not None and any(
                line.rstrip("\n") == until_line for line in self._log_lines[mark:]
            )

        with self._log_cond:
            self._log_cond.wait_for(arrived, timeout=wait_s)
            return "".join(self._log_lines[mark:])

    def next_frame(self, timeout_s: float) -> dict[str, Any] | None:
        """Raises queue.Empty when nothing arrives in time; None when the process went away."""
        return self._frames.get(timeout=max(timeout_s, 0.0))

    def send(self, frame: dict[str, Any]) -> bool:
        try:
            assert self.process.stdin is not None
            write_frame(self.process.stdin, frame)
            return True
        except (OSError, ValueError):
            return False

    def kill(self) -> None:
        """SIGKILL, like FC at the timeout: no cleanup code of the handler runs."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)
        self._reap(wait_s=5.0)

    def close(self, grace_s: float = 2.0) -> None:
        if self.process.stdin is not None:
            with contextlib.suppress(OSError):
                self.process.stdin.close()  # the worker exits at end of input
        try:
            self.process.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            self.kill()
            return
        self._reap(wait_s=grace_s)

    def _reap(self, wait_s: float) -> None:
        self.process.wait(timeout=wait_s)
        for thread in self._threads:
            thread.join(timeout=wait_s)
        for stream in (self.process.stdin, self.process.stdout, self.process.stderr):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()


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
        self._instance: _Instance | None = None
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

    def _spawn(self) -> _Instance:
        if self.isolated:  # -I -S: no PYTHON* variables, no site-packages, no script directory
            argv = [self.python, "-I", "-S", str(WORKER_SCRIPT)]
        else:
            argv = [self.python, "-m", "local.fc_worker"]
        argv += ["--code-dir", str(self.code_dir), "--handler", self.spec.handler]
        if self.spec.initializer:
            argv += ["--initializer", self.spec.initializer]
        return _Instance(argv, self.code_dir, self._instance_env(), self._log_sink)

    def _discard_instance(self, kill: bool) -> None:
        if self._instance is not None:
            if kill:
                self._instance.kill()
            else:
                self._instance.close()
            self._instance = None

    # -- synchronous invocation --

    def invoke(self, event: bytes | str | dict[str, Any]) -> InvocationResult:
        return self._invoke(_event_bytes(event))

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
                result=_decode_payload(base64.b64decode(reply["payload"])) if reply["ok"] else None,
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
        payload = _event_bytes(event)
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
