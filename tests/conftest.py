"""Shared test set-up: the deployed code (`function/`) is importable as it is on FC, and no proxy
applies to the loopback local cloud (the alimt SDK transport ignores NO_PROXY)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from local.cloud import LocalCloud
    from tests.functional.conftest import HandlerHarness

ROOT = Path(__file__).resolve().parents[1]
for path in (ROOT / "function", ROOT):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

for _var in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
    os.environ.pop(_var, None)


@pytest.fixture
def cloud(tmp_path: Path) -> Iterator[LocalCloud]:
    """A fresh local cloud per test (functional and operator tests)."""
    from local.cloud import LocalCloud

    with LocalCloud(tmp_path / "cloud") as running:
        yield running


@pytest.fixture
def collector(cloud: LocalCloud, monkeypatch: pytest.MonkeyPatch) -> HandlerHarness:
    """index.handler in this process, against `cloud` (tests/functional/conftest.py)."""
    from tests.functional.conftest import HandlerHarness

    return HandlerHarness(cloud, monkeypatch)
