"""Figure 3: cold start: time to import function/index.py in a fresh interpreter, against the floor
(importing just the SDK modules the hot path needs: the alimt client and oss2), best of N runs.

index.py imports only config, errors and events; the SDKs load on first use (oss2 and urllib3 when
the collector is built, the alimt SDK at the first API call). So the first invocation pays the
rest; "index + first call's imports" measures that too, and is the fair comparison with the floor.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

FUNCTION_DIR = Path(__file__).resolve().parents[1] / "function"

# What each measurement imports, in a fresh interpreter with function/ first on sys.path like FC.
FLOOR = ["alibabacloud_alimt20181012.client", "alibabacloud_tea_openapi.models", "oss2"]
INDEX = ["index"]
FIRST_CALL = [
    "index",
    "collector.wiring",
    "oss2",  # imported when the collector is built (ObjectStore)
    "urllib3",  # imported when the collector is built (ImageSource)
    "collector.alimt_gateway",  # at the first API call: the alimt SDK
    "alibabacloud_alimt20181012.client",
    "collector.copier",
    "collector.sweep_registry",
]

_PROBE = """
import sys, time
names = sys.argv[1:]
started = time.perf_counter()
for name in names:
    __import__(name)
print(time.perf_counter() - started)
"""


@dataclass
class ColdStartResult:
    floor_seconds: float
    index_seconds: float
    first_call_seconds: float
    runs: int


def import_seconds(modules: list[str]) -> float:
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env.update({"OUTPUT_BUCKET": "bench-bucket", "PYTHONDONTWRITEBYTECODE": "1"})
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, *modules],
        capture_output=True,
        text=True,
        cwd=FUNCTION_DIR,
        env=env,
        check=True,
    )
    return float(done.stdout.strip())


def measure(runs: int = 9) -> ColdStartResult:
    samples: dict[str, list[float]] = {"floor": [], "index": [], "first": []}
    for _ in range(runs):  # interleaved, so a noisy moment hits all three alike
        samples["floor"].append(import_seconds(FLOOR))
        samples["index"].append(import_seconds(INDEX))
        samples["first"].append(import_seconds(FIRST_CALL))
    return ColdStartResult(
        floor_seconds=min(samples["floor"]),
        index_seconds=min(samples["index"]),
        first_call_seconds=min(samples["first"]),
        runs=runs,
    )
