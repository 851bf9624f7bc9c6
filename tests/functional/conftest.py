"""Functional tests: the real handler, in this process, with the real SDK clients, against the local
cloud. Each test gets a fresh cloud; `collector` invokes `index.handler` like FC does."""

from __future__ import annotations

import importlib
import json
import sys
import uuid
from types import SimpleNamespace
from typing import Any

import pytest

from local.cloud import LocalCloud

FAST_ENV = {
    # Keep tests quick: short waits and backoff, no pacing delay between API calls.
    "API_QPS": "200",
    "POLL_INTERVAL_SECONDS": "0.05",
    "WAIT_BUDGET_SECONDS": "0.3",
    "SAFETY_MARGIN_SECONDS": "1",
    "API_TIMEOUT_SECONDS": "2",
    "SOURCE_TIMEOUT_SECONDS": "2",
    # MNS deliveries poll at once (the tests publish right after creating a finished task),
    # whatever template.yml recommends for production
    "FIRST_POLL_AFTER_SECONDS": "0",
}


class HandlerHarness:
    """Calls function/index.handler with an FC-shaped context and fresh STS credentials."""

    def __init__(self, cloud: LocalCloud, monkeypatch: pytest.MonkeyPatch) -> None:
        self.cloud = cloud
        self._monkeypatch = monkeypatch
        self.env: dict[str, str] = {}
        self.timeout = 20.0
        self.style = "python3.12"

    def configure(self, **env: str) -> None:
        self.env.update(env)

    def _load_index(self) -> Any:
        for name in list(self.cloud.function_env()) + list(FAST_ENV) + list(self.env):
            self._monkeypatch.delenv(name, raising=False)
        for name, value in {**self.cloud.function_env(), **FAST_ENV, **self.env}.items():
            self._monkeypatch.setenv(name, value)
        sys.modules.pop("index", None)
        return importlib.import_module("index")

    def context(self) -> SimpleNamespace:
        creds = self.cloud.issue_credentials()
        context = SimpleNamespace(
            request_id=str(uuid.uuid4()),
            function=SimpleNamespace(
                name="alimt-result-collector",
                handler="index.handler",
                memory=512,
                timeout=self.timeout,
            ),
            region="cn-hangzhou",
            account_id="1234567890123456",
        )
        if self.style == "python3.10":
            context.credentials = SimpleNamespace(
                access_key_id=creds.access_key_id,
                access_key_secret=creds.access_key_secret,
                security_token=creds.security_token,
            )
            for name in creds.as_env():
                self._monkeypatch.delenv(name, raising=False)
        else:
            for name, value in creds.as_env().items():
                self._monkeypatch.setenv(name, value)
        return context

    def invoke(self, event: Any) -> dict[str, Any]:
        index = self._load_index()
        raw = event if isinstance(event, (bytes, str)) else json.dumps(event)
        if isinstance(raw, str):
            raw = raw.encode()
        return json.loads(index.handler(raw, self.context()))

    # --- OSS inspection -----------------------------------------------------------------------------
    def list_keys(self, prefix: str = "") -> list[str]:
        return self.cloud.oss.list_keys(self.cloud.bucket_name, prefix)

    def json_object(self, key: str) -> dict[str, Any]:
        return json.loads(self.cloud.bucket().get_object(key).read())

    def object_count_written(self) -> int:
        return self.cloud.oss.request_count("put") + self.cloud.oss.request_count("delete")
