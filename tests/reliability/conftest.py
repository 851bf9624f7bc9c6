"""Fixtures of the reliability suite (issue #4). Every test here is marked `reliability`; the fault
matrix rows (test_matrix_*.py) are counted for the report; every test's local cloud is scanned for
leaked secrets when it stops; `RELIABILITY_FIGURES=<path>` makes the session write its figures."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from local.cloud import LocalCloud
from tests.reliability.support import FIGURES, Harness, SecretWatch, scan_cloud, write_figures

HERE = Path(__file__).resolve().parent


def _is_here(item: pytest.Item) -> bool:
    return HERE in Path(str(item.fspath)).resolve().parents


def _is_matrix_row(nodeid: str) -> bool:
    return "/test_matrix_" in nodeid


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if _is_here(item):
            item.add_marker(pytest.mark.reliability)


_outcomes: dict[str, bool] = {}  # nodeid -> passed (every phase)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if "tests/reliability/" not in report.nodeid:
        return
    if report.when == "call" or not report.passed:
        _outcomes[report.nodeid] = _outcomes.get(report.nodeid, True) and report.passed


def pytest_sessionfinish(session: pytest.Session) -> None:
    FIGURES.tests_run = len(_outcomes)
    FIGURES.tests_passed = sum(_outcomes.values())
    rows = {nodeid: ok for nodeid, ok in _outcomes.items() if _is_matrix_row(nodeid)}
    FIGURES.rows_tried = len(rows)
    FIGURES.rows_passed = sum(rows.values())
    target = os.environ.get("RELIABILITY_FIGURES")
    if target:
        write_figures(Path(target))


@pytest.fixture(scope="session")
def watch() -> SecretWatch:
    return SecretWatch()


@pytest.fixture
def cloud(tmp_path: Path, watch: SecretWatch) -> Iterator[LocalCloud]:
    with LocalCloud(tmp_path / "cloud") as running:
        # Every STS key handed to the function, here or through the runner, is a recognisable fake.
        running.issue_credentials = lambda ttl_seconds=3600.0: watch.issue(running, ttl_seconds)  # type: ignore[method-assign]
        yield running
        leaks = scan_cloud(running, watch)
        assert not leaks, leaks


@pytest.fixture
def h(cloud: LocalCloud, monkeypatch: pytest.MonkeyPatch, watch: SecretWatch) -> Harness:
    return Harness(cloud, monkeypatch, watch)
