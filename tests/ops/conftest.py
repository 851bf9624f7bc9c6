"""Operator CLI tests: `ops.cli.main` in this process, configured through the environment like an
operator's shell, against a fresh local cloud; the function runs through the functional harness."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest

from local.cloud import LocalCloud
from ops.cli import main
from tests.functional.conftest import FAST_ENV


@dataclass
class CliResult:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


class Cli:
    """Runs `alimt-collector` in-process with the operator's environment (admin access key)."""

    def __init__(
        self, cloud: LocalCloud, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        self.cloud = cloud
        self._monkeypatch = monkeypatch
        self._capsys = capsys

    def env(self) -> dict[str, str]:
        return {
            **self.cloud.function_env(),
            **FAST_ENV,
            "ALIBABA_CLOUD_ACCESS_KEY_ID": self.cloud.admin.access_key_id,
            "ALIBABA_CLOUD_ACCESS_KEY_SECRET": self.cloud.admin.access_key_secret,
        }

    def __call__(self, *argv: str) -> CliResult:
        self._monkeypatch.delenv("ALIBABA_CLOUD_SECURITY_TOKEN", raising=False)
        for name, value in self.env().items():
            self._monkeypatch.setenv(name, value)
        self._capsys.readouterr()  # drop anything printed before
        code = main(list(argv))
        captured = self._capsys.readouterr()
        return CliResult(code, captured.out, captured.err)


@pytest.fixture
def cli(
    cloud: LocalCloud, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Cli:
    return Cli(cloud, monkeypatch, capsys)
