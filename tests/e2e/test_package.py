"""The deployed artifact, as FC runs it: `ops/package.py` builds the zip, which is unpacked into
an empty directory and run by CPython 3.12 with `-I -S` (only that directory and the standard
library importable, nothing from the dev venv) against the local cloud, initializer first."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from local.cloud import LocalCloud
from local.runner import FunctionRunner

REPO = Path(__file__).resolve().parents[2]
EVENTS = REPO / "events"
FAST = {"WAIT_BUDGET_SECONDS": "0.5", "POLL_INTERVAL_SECONDS": "0.1", "API_QPS": "100"}

# Building the package downloads the locked closure from PyPI: allow more than the default 120 s.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


def python312() -> str:
    if sys.version_info[:2] == (3, 12):
        return sys.executable  # with -I -S a venv's interpreter sees only the standard library
    found = shutil.which("python3.12")
    if found is None or subprocess.run([found, "--version"], capture_output=True).returncode:
        pytest.skip(
            "python3.12 (FC's runtime) is not installed: the package cannot be built or run"
        )
    return found


@pytest.fixture(scope="module")
def artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("package")
    build = subprocess.run(
        [
            python312(),
            str(REPO / "ops/package.py"),
            "--out",
            str(out / "build"),
            "--dist",
            str(out / "dist"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    assert (
        "files" in build.stdout
        and "CRC-64 C extensions: crcmod/_crcfunext" in build.stdout
        and "fastcrc/fastcrc." in build.stdout
    )
    return out / "dist" / "alimt-result-collector.zip"


@pytest.fixture(scope="module")
def code_dir(artifact: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("code")
    assert not any(target.iterdir())
    with zipfile.ZipFile(artifact) as package:
        package.extractall(target)
    return target


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCloud]:
    with LocalCloud(tmp_path_factory.mktemp("cloud")) as running:
        yield running


@pytest.fixture(scope="module")
def runner(cloud: LocalCloud, code_dir: Path) -> Iterator[FunctionRunner]:
    with cloud.runner(
        code_dir=code_dir, isolated=True, python=python312(), env=FAST, time_scale=0.0001
    ) as isolated:
        assert isolated.spec.initializer == "index.initialize"  # from template.yml
        yield isolated


def answer(result: Any) -> dict[str, Any]:
    assert result.ok, result.error
    return result.result if isinstance(result.result, dict) else json.loads(result.result)


def test_the_package_holds_the_code_and_no_build_leftovers(artifact: Path) -> None:
    with zipfile.ZipFile(artifact) as package:
        names = package.namelist()
        stamps = {info.date_time for info in package.infolist()}
    assert "index.py" in names and "collector/collect_task.py" in names
    assert "crcmod/_crcfunext.abi3.so" in names
    assert not [n for n in names if n.startswith(("tests/", "bin/", "function/", "local/"))]
    assert not [n for n in names if "/tests/" in n or n.endswith((".pyi", "/RECORD"))]
    assert stamps == {(1980, 1, 2, 0, 0, 0)}  # reproducible bytes
    # Bytecode that a zip's timestamps cannot make stale: flags 0b01 = hash-based, unchecked.
    with zipfile.ZipFile(artifact) as package:
        pyc = package.read("collector/__pycache__/collect_task.cpython-312.pyc")
    assert int.from_bytes(pyc[4:8], "little") == 0b01


def test_nothing_outside_the_package_or_the_standard_library_is_imported(code_dir: Path) -> None:
    probe = (
        "import sys, sysconfig, os\n"
        f"sys.path.insert(0, {str(code_dir)!r})\n"
        "import index, crcmod.crcmod, alibabacloud_alimt20181012.client\n"
        "index.initialize(None)\n"
        "stdlib = {sysconfig.get_path(p) for p in ('stdlib', 'platstdlib')}\n"
        "outside = sorted({os.path.dirname(m.__file__) for m in list(sys.modules.values())\n"
        "    if getattr(m, '__file__', None) and not m.__file__.startswith(sys.path[0])\n"
        "    and not any(m.__file__.startswith(p) for p in stdlib)})\n"
        "import json; print(json.dumps([outside, crcmod.crcmod._usingExtension]))\n"
    )
    env = {"OUTPUT_BUCKET": "probe-bucket", "PATH": "/usr/bin:/bin"}
    run = subprocess.run(
        [python312(), "-I", "-S", "-c", probe], capture_output=True, text=True, env=env, timeout=120
    )
    assert run.returncode == 0, run.stderr
    outside, using_c = json.loads(run.stdout.strip().splitlines()[-1])
    assert outside == []
    assert using_c is True
    assert "crc_extension_missing" not in run.stdout + run.stderr


def test_a_finished_task_is_copied_by_the_packaged_function(
    cloud: LocalCloud, runner: FunctionRunner
) -> None:
    task_id = cloud.alimt.create_task(cloud.add_images("src/package", 2))
    first = runner.invoke({"taskId": task_id})
    assert first.cold_start and first.init_duration_s is not None
    assert answer(first)["results"][0]["outcome"] == "copied"
    assert "crc_extension_missing" not in first.logs
    keys = cloud.oss.list_keys(cloud.bucket_name, f"translated/{task_id}/")
    assert f"translated/{task_id}/manifest.json" in keys and len(keys) > 2
    warm = runner.invoke({"taskId": cloud.alimt.create_task(cloud.add_images("src/pkg2", 1))})
    assert not warm.cold_start and warm.instance_pid == first.instance_pid
    assert answer(warm)["results"][0]["outcome"] == "copied"


def test_a_bad_event_is_refused_by_the_packaged_function(
    cloud: LocalCloud, runner: FunctionRunner
) -> None:
    result = answer(runner.invoke((EVENTS / "bad-event.json").read_bytes()))
    [item] = result["results"]
    assert item["outcome"] == "rejected" and "TaskId may contain only" in item["reason"]
    assert cloud.oss.list_keys(cloud.bucket_name, "collector/dead-letter/rejected/")


def test_without_the_crc_extension_the_instance_warns_once(
    cloud: LocalCloud, code_dir: Path, tmp_path: Path
) -> None:
    degraded = tmp_path / "code"
    shutil.copytree(code_dir, degraded)
    for extension in (degraded / "crcmod").glob("_crcfunext*"):
        extension.unlink()  # what a package built without a C compiler would hold
    with cloud.runner(
        code_dir=degraded, isolated=True, python=python312(), env=FAST, time_scale=0.0001
    ) as runner:
        calls = [
            runner.invoke({"taskId": cloud.alimt.create_task(cloud.add_images(f"src/crc{i}", 1))})
            for i in range(2)
        ]
    for call in calls:
        assert answer(call)["results"][0]["outcome"] == "copied"  # slower, still correct
    warnings = [
        json.loads(line)
        for call in calls
        for line in call.logs.splitlines()
        if '"crc_extension_missing"' in line
    ]
    assert len(warnings) == 1 and warnings[0]["level"] == "WARNING"
    assert "crc_extension_missing" in calls[0].logs  # at cold start, from the initializer
