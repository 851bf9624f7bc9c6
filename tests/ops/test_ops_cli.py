"""The installed command and its configuration."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from collector.config import ConfigError
from ops.cli import build_parser
from ops.settings import OpsSettings

COMMAND = Path(sys.executable).with_name("alimt-collector")
CREDS = {"ALIBABA_CLOUD_ACCESS_KEY_ID": "ak", "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "s3cr3t-value"}


@pytest.mark.parametrize("command", [[], ["submit"], ["status"], ["redrive"], ["gallery"], ["sweep"]])  # fmt: skip
def test_every_command_has_help(command: list[str]) -> None:
    assert COMMAND.exists(), "run `.venv/bin/pip install -e .` to install the command"
    done = subprocess.run(
        [str(COMMAND), *command, "--help"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: alimt-collector")
    if command:
        assert "OUTPUT_BUCKET" in done.stdout and "example" in done.stdout


def test_unknown_command_is_a_usage_error() -> None:
    done = subprocess.run([str(COMMAND), "frobnicate"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "invalid choice" in done.stderr


def test_default_oss_endpoint_is_the_public_one() -> None:
    settings = OpsSettings.resolve({"OUTPUT_BUCKET": "out-bucket", **CREDS}, region="cn-shanghai")
    assert settings.config.oss_endpoint == "https://oss-cn-shanghai.aliyuncs.com"
    env = {"OUTPUT_BUCKET": "out-bucket", "ALIBABA_CLOUD_REGION_ID": "ap-southeast-1", **CREDS}
    assert OpsSettings.resolve(env).config.oss_endpoint == "https://oss-ap-southeast-1.aliyuncs.com"


def test_flags_override_the_environment() -> None:
    env = {
        "OUTPUT_BUCKET": "env-bucket",
        "OSS_ENDPOINT": "https://oss-cn-hangzhou-internal.aliyuncs.com",
        "ALIBABA_CLOUD_SECURITY_TOKEN": "token",
        **CREDS,
    }
    settings = OpsSettings.resolve(
        env, bucket="flag-bucket", oss_endpoint="http://127.0.0.1:9000", alimt_endpoint="mt.x.com"
    )
    assert settings.config.output_bucket == "flag-bucket"
    assert settings.config.oss_endpoint == "http://127.0.0.1:9000"
    assert settings.config.alimt_endpoint == "mt.x.com"
    assert settings.credentials.security_token == "token"
    assert "s3cr3t" not in repr(settings) and "token" not in repr(settings)


def test_flags_are_validated_like_the_function_config() -> None:
    with pytest.raises(ConfigError, match="OUTPUT_BUCKET='Bad_Bucket' is not a valid"):
        OpsSettings.resolve(CREDS, bucket="Bad_Bucket")


def test_version_comes_from_the_package_metadata() -> None:
    pyproject = (Path(__file__).resolve().parents[2] / "pyproject.toml").read_text(encoding="utf-8")
    declared = re.search(r'(?m)^version = "([^"]+)"', pyproject)
    assert declared is not None
    done = subprocess.run([str(COMMAND), "--version"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0
    assert done.stdout.strip() == f"alimt-collector {declared.group(1)}"


@pytest.mark.parametrize(
    ("option", "takes_value", "commands"),
    [
        ("--alimt-endpoint", True, {"submit", "sweep"}),
        ("--quiet", False, {"submit", "status", "redrive"}),
        ("--profile", True, {"submit", "status", "redrive", "gallery", "sweep"}),
        ("--bucket", True, {"submit", "status", "redrive", "gallery", "sweep"}),
    ],
)
def test_options_are_listed_by_the_commands_that_use_them(
    option: str, takes_value: bool, commands: set[str]
) -> None:
    parser = build_parser()
    minimal = {
        "submit": ["--from", "zh", "--to", "en"],
        "status": [],
        "redrive": [],
        "gallery": ["TASK"],
        "sweep": [],
    }
    for command, rest in minimal.items():
        argv = [command, *rest, option, *(["x"] if takes_value else [])]
        parser.parse_args(argv)  # accepted everywhere: scripts written for 0.1 keep working
        assert (option in _help(command)) == (command in commands), command


def _help(command: str) -> str:
    done = subprocess.run([str(COMMAND), command, "--help"], capture_output=True, text=True)
    return done.stdout
