"""Credentials through the official default chain, as an operator has them: a CLI profile in
`~/.aliyun/config.json`, a credentials file, or environment variables.

The installed command runs in a subprocess with a temporary HOME and no ALIBABA_CLOUD_* variables
except those a test sets (the SDK reads them when it is imported, as in a real shell). The local
cloud checks every signature and STS token, so a wrong or half-used credential fails for real:
an STS profile only works if both alimt and oss2 (StsAuth) sign with its token."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from local.cloud import LocalCloud
from tests.functional.conftest import FAST_ENV, HandlerHarness

COMMAND = Path(sys.executable).with_name("alimt-collector")
STS_SECRET = "profile-sts-secret-0123456789"
STS_TOKEN = "CAISprofiletoken-0123456789abcdef"


def run(cloud: LocalCloud, home: Path, *argv: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "ALIBABA_CLOUD_ECS_METADATA_DISABLED": "true",  # no metadata service on a dev machine
        **cloud.function_env(),
        **FAST_ENV,
    }
    return subprocess.run(
        [str(COMMAND), *argv], env={**base, **env}, capture_output=True, text=True, timeout=60
    )


def write_cli_config(home: Path, current: str, profiles: list[dict[str, str]]) -> None:
    """What `aliyun configure` writes."""
    folder = home / ".aliyun"
    folder.mkdir(parents=True, exist_ok=True)
    config = {"current": current, "profiles": profiles, "meta_path": ""}
    (folder / "config.json").write_text(json.dumps(config, indent=1), encoding="utf-8")


def write_credentials_file(home: Path, sections: dict[str, dict[str, str]]) -> Path:
    folder = home / ".alibabacloud"
    folder.mkdir(parents=True, exist_ok=True)
    text = "".join(
        f"[{name}]\n" + "".join(f"{k} = {v}\n" for k, v in values.items()) + "\n"
        for name, values in sections.items()
    )
    path = folder / "credentials.ini"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def home(tmp_path: Path, cloud: LocalCloud) -> Path:
    """An operator's HOME: the CLI's current profile holds STS keys; `broken` has a wrong secret."""
    sts = cloud.credentials.issue_sts(
        access_key_secret=STS_SECRET, security_token=STS_TOKEN, ttl_seconds=3600
    )
    home = tmp_path / "home"
    write_cli_config(
        home,
        "ops-sts",
        [
            {
                "name": "ops-sts",
                "mode": "StsToken",
                "access_key_id": sts.access_key_id,
                "access_key_secret": sts.access_key_secret,
                "sts_token": sts.security_token or "",
                "region_id": "cn-hangzhou",
            },
            {
                "name": "broken",
                "mode": "AK",
                "access_key_id": cloud.admin.access_key_id,
                "access_key_secret": "not-the-secret-0000",
                "region_id": "cn-hangzhou",
            },
        ],
    )
    return home


def test_the_cli_current_profile_signs_alimt_and_oss_with_its_sts_token(
    cloud: LocalCloud, home: Path, collector: HandlerHarness, tmp_path: Path
) -> None:
    urls = cloud.add_images("creds/src", 2)
    submitted = run(cloud, home, "submit", "--from", "zh", "--to", "en", *urls)
    assert submitted.returncode == 0, submitted.stderr
    [task_id] = submitted.stdout.split()
    assert cloud.alimt.task(task_id) is not None  # alimt accepted the STS signature
    assert collector.json_object(f"collector/pending/{task_id}.json")["trigger"] == "submit"

    collector.invoke({"taskId": task_id})
    status = run(cloud, home, "status", task_id, "--json")
    assert status.returncode == 0 and json.loads(status.stdout)["state"] == "copied"

    # the gallery reads image bytes through its own oss2.Bucket: StsAuth there too
    page = tmp_path / "page.html"
    shown = run(cloud, home, "gallery", task_id, "--no-source-fetch", "--out", str(page))
    assert shown.returncode == 0, shown.stderr
    thumbnails = page.read_text(encoding="utf-8").count('<a class="thumb"')
    assert thumbnails == 4  # 2 images x (translated, inpainting)
    for output in (submitted, status, shown):
        assert STS_SECRET not in output.stdout + output.stderr
        assert STS_TOKEN not in output.stdout + output.stderr


def test_a_named_profile_with_a_wrong_secret_fails_for_an_operator(
    cloud: LocalCloud, home: Path
) -> None:
    for how in (("--profile", "broken"), ()):
        env = {} if how else {"ALIBABA_CLOUD_PROFILE": "broken"}
        done = run(cloud, home, "status", *how, **env)
        assert done.returncode == 1
        [line] = done.stderr.splitlines()
        assert line.startswith("alimt-collector status: OSS at 127.0.0.1:")
        assert "refused the credentials (SignatureDoesNotMatch)" in line
        assert "CLI profile 'broken'" in line and "--profile" in line
        assert "not-the-secret" not in line and "Traceback" not in done.stderr

    urls = cloud.add_images("creds/broken", 1)
    refused = run(cloud, home, "submit", "--profile", "broken", "--from", "zh", "--to", "en", *urls)
    assert refused.returncode == 1
    assert "alimt at 127.0.0.1:" in refused.stderr
    assert "refused the credentials (SignatureDoesNotMatch)" in refused.stderr
    assert cloud.alimt.calls("TranslateImageBatch") == 1  # it did reach alimt, and was refused


def test_the_credentials_file_and_its_named_sections(cloud: LocalCloud, tmp_path: Path) -> None:
    home = tmp_path / "home"
    admin = cloud.admin
    write_credentials_file(
        home,
        {
            "default": {
                "type": "access_key",
                "access_key_id": admin.access_key_id,
                "access_key_secret": admin.access_key_secret,
            },
            "wrong": {
                "type": "access_key",
                "access_key_id": "LTAIunknownkey000",
                "access_key_secret": "whatever-secret-000",
            },
        },
    )
    assert run(cloud, home, "status").returncode == 0  # no CLI config: the file's [default]
    wrong = run(cloud, home, "status", "--profile", "wrong")
    assert wrong.returncode == 1
    assert "refused the credentials (InvalidAccessKeyId)" in wrong.stderr
    assert "credentials file [wrong]" in wrong.stderr


def test_environment_variables_come_first(cloud: LocalCloud, home: Path) -> None:
    write_cli_config(home, "broken", json.loads((home / ".aliyun/config.json").read_text())["profiles"])  # fmt: skip
    assert run(cloud, home, "status").returncode == 1  # the CLI's current profile is the broken one
    admin = cloud.admin
    keys = {
        "ALIBABA_CLOUD_ACCESS_KEY_ID": admin.access_key_id,
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET": admin.access_key_secret,
    }
    assert run(cloud, home, "status", **keys).returncode == 0


def test_no_credentials_anywhere_says_what_to_do(cloud: LocalCloud, tmp_path: Path) -> None:
    empty = tmp_path / "empty-home"
    empty.mkdir()
    # the whole chain, RAM role lookup included (the SDK logs each miss with a traceback: not shown)
    for metadata_disabled in ("true", "false"):
        done = run(cloud, empty, "status", ALIBABA_CLOUD_ECS_METADATA_DISABLED=metadata_disabled)
        assert done.returncode == 2
        [line] = done.stderr.splitlines()
        assert "no Alibaba Cloud credentials found" in line
        assert "aliyun configure" in line and "ALIBABA_CLOUD_ACCESS_KEY_ID" in line

    missing = run(cloud, empty, "status", "--profile", "nope")
    assert missing.returncode == 2
    assert "no profile 'nope' with credentials" in missing.stderr
    assert "Traceback" not in done.stderr + missing.stderr
