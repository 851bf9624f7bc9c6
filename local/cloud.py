"""LocalCloud: the three emulators wired together, plus the environment the function needs to use them.

    with LocalCloud() as cloud:
        task_id = cloud.alimt.create_task([...])
        runner = cloud.runner()            # FC-like runner for function/index.handler
        runner.invoke({"taskId": task_id})
        cloud.bucket().get_object(...)     # inspect OSS with a real oss2.Bucket

All servers listen on 127.0.0.1 ephemeral ports and share one clock and one credential store.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from local.alimt_emulator import AlimtEmulator
from local.clock import Clock
from local.credentials import CredentialStore, IssuedCredentials
from local.image_host import ImageHost
from local.oss_emulator import OssEmulator

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_BUCKET = "collector-output"
ADMIN_KEY_ID = "LTAI5tLocalCloudAdmin"
ADMIN_KEY_SECRET = "local-cloud-admin-secret-not-for-production"


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
        self._started = False

    # --- lifecycle --------------------------------------------------------------------------------
    def start(self) -> LocalCloud:
        self.images.start()
        self.alimt.start()
        self.oss.start()
        self.oss.create_bucket(self.bucket_name)
        self._started = True
        return self

    def stop(self) -> None:
        for server in (self.oss, self.alimt, self.images):
            server.stop()
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
        return FunctionRunner(
            spec, env_overrides=env_overrides, credentials=self.issue_credentials, **kwargs
        )

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
