"""Measure the built package under FC-like CPU shares: first-invocation time and copy throughput.

    python bench/cpu_shares.py [--shares 0.35,0.5,1,2] [--images 8] [--image-mb 4]

Prints figures; it is not a test. Each share gets a cgroup (v1 `cpu` controller, CFS quota of
share x 100 ms per 100 ms period) holding only the function's instance process: the local cloud's
emulators run outside it, unthrottled, as the real services would. The code is the package
`make package` built (build/function/), run as `python3.12 -I -S` with the FC initializer, against
the local cloud. Needs root (cgroup writes); on a shared machine the figures are upper bounds.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import stat
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CGROUP_CPU = Path("/sys/fs/cgroup/cpu")
PERIOD_US = 100_000
FAST = {"WAIT_BUDGET_SECONDS": "0.5", "POLL_INTERVAL_SECONDS": "0.1", "API_QPS": "100"}


def cgroup_for(share: float) -> Path:
    group = CGROUP_CPU / f"alimt-cpu-{share:g}"
    group.mkdir(exist_ok=True)
    (group / "cpu.cfs_period_us").write_text(str(PERIOD_US))
    (group / "cpu.cfs_quota_us").write_text(str(int(share * PERIOD_US)))
    return group


def wrapper(group: Path, python: str, folder: Path) -> str:
    """An interpreter that puts itself in the cgroup, then becomes python3.12."""
    script = folder / f"python-{group.name}"
    script.write_text(f'#!/bin/sh\necho $$ > {group}/cgroup.procs\nexec {python} "$@"\n')
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return str(script)


def process_cpu_seconds(pid: int | None) -> float:
    """User + system CPU time of the instance process (all its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(
    share: float, python: str, images: int, image_bytes: int, scratch: Path
) -> dict[str, float]:
    from local.cloud import LocalCloud
    from local.runner import FunctionRunner

    group = cgroup_for(share)
    with LocalCloud(Path(tempfile.mkdtemp(prefix=f"cloud-{share:g}-", dir=scratch))) as cloud:

        def task(count: int, size: int) -> str:
            urls = cloud.add_images(f"src/{share}/{count}/{time.monotonic_ns()}", count)
            return str(cloud.alimt.create_task(urls, image_size=size))

        small, warm, big, bare = (task(1, 20_000), task(1, 20_000), task(images, image_bytes),
                                  task(1, 20_000))  # fmt: skip

        def runner(initializer: bool) -> FunctionRunner:
            runner = cloud.runner(
                code_dir=ROOT / "build" / "function",
                isolated=True,
                python=wrapper(group, python, scratch),
                env=FAST,
            )
            if not initializer:
                runner.spec = dataclasses.replace(runner.spec, initializer=None)
            return runner

        with runner(initializer=True) as warm_instance:
            first = warm_instance.invoke({"taskId": small})
            second = warm_instance.invoke({"taskId": warm})
            cpu_before = process_cpu_seconds(warm_instance.instance_pid)
            copy = warm_instance.invoke({"taskId": big})
            cpu_used = process_cpu_seconds(warm_instance.instance_pid) - cpu_before
        with runner(initializer=False) as plain:
            uninitialised = plain.invoke({"taskId": bare})
        for result in (first, second, copy, uninitialised):
            if not result.ok:
                raise RuntimeError(f"invocation failed at cpu {share}: {result.error}")
        answer = copy.result if isinstance(copy.result, dict) else json.loads(copy.result)
        written = sum(int(r.get("bytesWritten") or 0) for r in answer["results"])
    return {
        "cpu": share,
        "init_s": first.init_duration_s or 0.0,
        "first_s": first.duration_s - (first.init_duration_s or 0.0),
        "no_init_s": uninitialised.duration_s,
        "warm_s": second.duration_s,
        "copy_mb": written / 1e6,
        "copy_s": copy.duration_s,
        "mb_per_s": written / 1e6 / copy.duration_s,
        "cpu_s_per_gb": cpu_used / (written / 1e9),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shares", default="0.35,0.5,1,2")
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument("--image-mb", type=float, default=4.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--python", default=shutil.which("python3.12") or "python3.12")
    args = parser.parse_args()
    if not (ROOT / "build" / "function" / "index.py").is_file():
        print("build/function/ is missing: run `make package` first", file=sys.stderr)
        return 1
    if os.geteuid() != 0 or not CGROUP_CPU.is_dir():
        print("needs root and the cgroup v1 cpu controller at /sys/fs/cgroup/cpu", file=sys.stderr)
        return 1
    print("initializer = its run in a new instance; first call = that instance's first invocation")
    print("after it (FC times the two apart); no initializer = a new instance's first invocation")
    print("without one, all in (process start, imports, the call); warm = the next call;")
    print(
        f"copy = one task of {args.images} x {args.image_mb:g} MB images, warm. Medians of {args.repeat}."
    )
    print("CPU-s/GB = CPU time the instance spent per GB copied (caps MB/s at cpu / CPU-s/GB).")
    print("cpu    initializer  first call  no initializer   warm call  copy MB/s  CPU-s/GB")
    with tempfile.TemporaryDirectory(prefix="cpu-shares-") as scratch:
        for share in (float(s) for s in args.shares.split(",")):
            rows = [
                measure(share, args.python, args.images, int(args.image_mb * 1e6), Path(scratch))
                for _ in range(args.repeat)
            ]
            row = {key: statistics.median(r[key] for r in rows) for key in rows[0]}
            print(
                f"{share:<5g} {row['init_s']:>10.2f} s {row['first_s']:>9.2f} s "
                f"{row['no_init_s']:>13.2f} s {row['warm_s']:>9.2f} s {row['mb_per_s']:>10.1f} "
                f"{row['cpu_s_per_gb']:>9.1f}",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
