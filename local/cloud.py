"""LocalCloud: the emulators wired together, plus the environment the function needs to use them.

    with LocalCloud() as cloud:
        task_id = cloud.alimt.create_task([...])
        runner = cloud.runner()            # FC-like runner for function/index.handler
        runner.invoke({"taskId": task_id})
        cloud.bucket().get_object(...)     # inspect OSS with a real oss2.Bucket

All servers listen on 127.0.0.1 ephemeral ports and share one clock and one credential store.

`cloud.fc` is FC's InvokeFunction API: a function made with `cloud.runner(...)` is "deployed" under
its name, and each asynchronous invocation of it (the sweep's fan-out) runs in a separate FC-like
instance from a small pool, in parallel, like FC scaling out. `cloud.wait_async()` waits for them.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from local.alimt_emulator import AlimtEmulator
from local.clock import Clock
from local.credentials import CredentialStore, IssuedCredentials
from local.fc_api_emulator import FcApiEmulator
from local.image_host import ImageHost
from local.oss_emulator import OssEmulator

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_BUCKET = "collector-output"
ADMIN_KEY_ID = "LTAI5tLocalCloudAdmin"
ADMIN_KEY_SECRET = "local-cloud-admin-secret-not-for-production"
MAX_ASYNC_INSTANCES = 8  # async invocations running at once (FC would scale further)


@dataclass
class AsyncRun:
    """One asynchronous invocation run by the local FC: which instance, when, and how it ended."""

    function_name: str
    payload: bytes
    started: float  # time.monotonic()
    finished: float
    outcome: Any  # local.runner.AsyncOutcome


class LocalCloud:
    def __init__(self, root: Path | None = None, *, bucket: str = DEFAULT_BUCKET) -> None:
        self._own_root = root is None
        self.root = Path(root) if root is not None else Path(tempfile.mkdtemp(prefix="localcloud-"))
        self.bucket_name = bucket
        self.clock = Clock()
        self.credentials = CredentialStore(self.clock)
        self.admin = self.credentials.add_access_key(ADMIN_KEY_ID, ADMIN_KEY_SECRET)
        self.images = ImageHost(self.clock)
        self.alimt = AlimtEmulator(self.credentials, self.images, self.clock)
        self.oss = OssEmulator(self.credentials, self.root / "oss", self.clock)
        self.fc = FcApiEmulator(self.credentials, self.clock)
        self._started = False
        self._async_lock = threading.Lock()
        self._async_pool: ThreadPoolExecutor | None = None
        self._async_futures: list[Future[AsyncRun]] = []
        self._idle_instances: dict[str, list[Any]] = {}  # function name -> idle FunctionRunners
        self._all_instances: list[Any] = []

    # --- lifecycle --------------------------------------------------------------------------------
    def start(self) -> LocalCloud:
        self.images.start()
        self.alimt.start()
        self.oss.start()
        self.fc.start()
        self.oss.create_bucket(self.bucket_name)
        self._started = True
        return self

    def stop(self) -> None:
        for server in (self.fc, self.oss, self.alimt, self.images):
            server.stop()
        # With the servers gone, running async invocations fail fast; then the instances go.
        if self._async_pool is not None:
            self._async_pool.shutdown(wait=True, cancel_futures=True)
            self._async_pool = None
        for instance in self._all_instances:
            instance.close()
        self._all_instances.clear()
        self._idle_instances.clear()
        self._started = False
        if self._own_root:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> LocalCloud:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- what the function needs ------------------------------------------------------------------
    def function_env(self, **overrides: str) -> dict[str, str]:
        """Environment overrides that point the function at this cloud (on top of template.yml)."""
        env = {
            "OUTPUT_BUCKET": self.bucket_name,
            "ALIMT_ENDPOINT": self.alimt.endpoint,
            "OSS_ENDPOINT": self.oss.endpoint,
            "FC_ENDPOINT": self.fc.endpoint,
            "ALLOWED_SOURCE_HOSTS": "127.0.0.1",
            "ALLOW_INSECURE_SOURCES": "true",
        }
        env.update(overrides)
        return env

    def issue_credentials(self, ttl_seconds: float = 3600.0) -> IssuedCredentials:
        """Fresh STS keys for one invocation, like FC gives the function's role."""
        return self.credentials.issue_sts(ttl_seconds)

    def runner(self, **kwargs: Any) -> Any:
        """An FC-like runner for the real function, reading template.yml, pointed at this cloud."""
        from local.runner import FunctionRunner, FunctionSpec

        env_overrides = self.function_env(**kwargs.pop("env", {}))
        spec = FunctionSpec.from_template(REPO_ROOT / "template.yml")
        kwargs.setdefault("code_dir", REPO_ROOT / "function")
        kwargs.setdefault("destinations_dir", self.root / "destinations")

        def new_instance() -> FunctionRunner:
            return FunctionRunner(
                spec, env_overrides=env_overrides, credentials=self.issue_credentials, **kwargs
            )

        # "Deploy" it: asynchronous invocations through cloud.fc run this configuration.
        self.fc.register_function(
            spec.name, lambda payload: self._invoke_async(spec.name, payload, new_instance)
        )
        return new_instance()

    # --- asynchronous invocations through cloud.fc ----------------------------------------------
    def _invoke_async(self, name: str, payload: bytes, new_instance: Any) -> None:
        """Queue the invocation (FC answers 202 at once); it runs in an idle instance of the
        function, or a new one, so invocations in flight together run in parallel."""
        with self._async_lock:
            if self._async_pool is None:
                self._async_pool = ThreadPoolExecutor(
                    max_workers=MAX_ASYNC_INSTANCES, thread_name_prefix="fc-async"
                )
            future = self._async_pool.submit(self._run_async, name, payload, new_instance)
            self._async_futures.append(future)

    def _run_async(self, name: str, payload: bytes, new_instance: Any) -> AsyncRun:
        with self._async_lock:
            idle = self._idle_instances.setdefault(name, [])
            instance = idle.pop() if idle else None
            if instance is None:
                instance = new_instance()
                self._all_instances.append(instance)
        started = time.monotonic()
        try:
            outcome = instance.invoke_async(payload)
        finally:
            with self._async_lock:
                self._idle_instances[name].append(instance)
        return AsyncRun(name, payload, started, time.monotonic(), outcome)

    def wait_async(self, timeout: float = 60.0) -> list[AsyncRun]:
        """Wait until every asynchronous invocation queued so far (and any they queue) has
        finished; return the runs finished since the last call, in the order they were queued."""
        deadline = time.monotonic() + timeout
        done: list[Future[AsyncRun]] = []
        while True:
            with self._async_lock:
                pending = [f for f in self._async_futures if f not in done]
            if not pending:
                break
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"{len(pending)} asynchronous invocations still running")
            wait_futures(pending, timeout=remaining)
            done += [f for f in pending if f.done()]
        with self._async_lock:
            finished = [f for f in self._async_futures if f in done]  # in the order queued
            self._async_futures = [f for f in self._async_futures if f not in done]
        return [f.result() for f in finished]

    # --- inspection with the real SDKs ----------------------------------------------------------
    def bucket(self) -> Any:
        import oss2

        return oss2.Bucket(
            oss2.Auth(self.admin.access_key_id, self.admin.access_key_secret),
            self.oss.endpoint,
            self.bucket_name,
            connect_timeout=10,
        )

    def alimt_client(self) -> Any:
        from alibabacloud_alimt20181012.client import Client
        from alibabacloud_tea_openapi.models import Config

        return Client(
            Config(
                access_key_id=self.admin.access_key_id,
                access_key_secret=self.admin.access_key_secret,
                endpoint=self.alimt.host_port,
                protocol="http",
                region_id="cn-hangzhou",
                read_timeout=10000,
                connect_timeout=5000,
            )
        )

    def add_images(self, prefix: str, count: int, *, size_bytes: int = 20_000) -> list[str]:
        """Source images for a batch (the alimt emulator makes the results)."""
        return [
            self.images.add_image(f"{prefix}/source-{i}", size_bytes=size_bytes, fmt="jpg")
            for i in range(count)
        ]
