"""Shared set-up of the local-cloud tests: no proxy applies (the tea transport honours proxy
variables and ignores NO_PROXY), and each test gets a fresh clock unless its module shares one."""

from __future__ import annotations

import pytest

from local.clock import Clock

PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy")


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in PROXY_VARS:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def clock() -> Clock:
    return Clock()
