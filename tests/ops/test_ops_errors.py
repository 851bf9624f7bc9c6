"""Failures said for an operator: one line naming the endpoint host, what failed and what to do;
never the SDK's raw dict, a traceback or a secret. Faults are real: closed ports, unknown hosts,
wrong keys and missing buckets against the local cloud."""

from __future__ import annotations

import socket

import pytest

from tests.ops.conftest import Cli, CliResult

SECRET_PARTS = ("{'", "'status'", "Traceback", "HTTPConnectionPool", "Max retries")


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # closed again when the block ends


def one_operator_line(result: CliResult, command: str) -> str:
    assert result.code == 1, result.err
    [line] = result.err.splitlines()
    assert line.startswith(f"alimt-collector {command}: ")
    assert not any(part in line for part in SECRET_PARTS), line
    return line


@pytest.mark.parametrize("command", [["status"], ["redrive", "--all"], ["gallery", "ABC-1"]])
def test_an_unreachable_oss_endpoint(cli: Cli, monkeypatch: pytest.MonkeyPatch, command: list[str]) -> None:  # fmt: skip
    port = closed_port()
    line = one_operator_line(
        cli(*command, "--oss-endpoint", f"http://127.0.0.1:{port}"), command[0]
    )
    assert f"cannot reach OSS at 127.0.0.1:{port} (connection refused)" in line
    assert "--oss-endpoint / OSS_ENDPOINT" in line


def test_an_unknown_oss_host(cli: Cli) -> None:
    line = one_operator_line(cli("status", "--oss-endpoint", "http://oss.no-such-host.invalid"), "status")  # fmt: skip
    assert "cannot reach OSS at oss.no-such-host.invalid (" in line


def test_an_unreachable_alimt_endpoint(cli: Cli) -> None:
    port = closed_port()
    urls = cli.cloud.add_images("errors/src", 1)
    result = cli("submit", "--from", "zh", "--to", "en", "--alimt-endpoint", f"http://127.0.0.1:{port}", *urls)  # fmt: skip
    line = one_operator_line(result, "submit")
    assert f"cannot reach alimt at 127.0.0.1:{port} (connection refused)" in line
    assert "--alimt-endpoint / ALIMT_ENDPOINT" in line


def test_a_missing_bucket_names_the_bucket_and_what_to_check(cli: Cli) -> None:
    line = one_operator_line(cli("status", "--bucket", "no-such-bucket"), "status")
    assert "bucket 'no-such-bucket' does not exist at 127.0.0.1:" in line
    assert "--bucket / OUTPUT_BUCKET" in line


def test_a_wrong_secret_names_the_credentials_source_without_the_secret(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli, "env", lambda: {**Cli.env(cli), "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "wrong-secret-123"})  # fmt: skip
    line = one_operator_line(cli("status"), "status")
    assert "refused the credentials (SignatureDoesNotMatch)" in line
    assert "environment variables ALIBABA_CLOUD_ACCESS_KEY_ID/_SECRET" in line
    assert "wrong-secret-123" not in line


def test_server_errors_and_dropped_connections(cli: Cli) -> None:
    oss = cli.cloud.oss
    oss.inject("list", "http:503")
    line = one_operator_line(cli("status"), "status")
    assert "OSS at 127.0.0.1:" in line and "HTTP 503" in line and "try again" in line
    oss.inject("get", "reset", count=None)
    line = one_operator_line(cli("status", "SOME-TASK"), "status")
    assert "cannot reach OSS at 127.0.0.1:" in line and "(connection dropped)" in line
