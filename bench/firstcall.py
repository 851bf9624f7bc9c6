"""Figure 3: the first invocation of a fresh instance against a warm one, end to end (a finished
1-image task collected), through the FC-like runner (process start, code load, handler).

The function is loaded through a small shim code package (written to a temporary directory) that
imports the real `function/index.py`. The runner calls the shim's `initialize(context)` (the
template's initializer) once per instance before the first invocation, as FC does; in the variant
with the initializer it loads the real index there and runs its `initialize`, in the other it does
nothing and the first invocation loads everything. Each first call reports how long each phase took
inside the instance.

Target: first <= 1.2 x (SDK import floor + warm): a cold instance should cost its SDK imports and
nothing else.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.harness import BENCH_ENV, finished_task, local_cloud
from bench.model import NetworkModel
from local.cloud import LocalCloud

FUNCTION_DIR = Path(__file__).resolve().parents[1] / "function"

_SHIM = '''"""Bench shim: loads the real function/index.py and times the phases of each invocation."""
import importlib.util
import json
import os
import sys
import time

_FUNCTION_DIR = os.environ["BENCH_FUNCTION_DIR"]
sys.path.insert(1, _FUNCTION_DIR)
_real = None
_init_phases = {}


def _load():
    global _real
    began = time.perf_counter()
    spec = importlib.util.spec_from_file_location(
        "index_under_bench", os.path.join(_FUNCTION_DIR, "index.py")
    )
    _real = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(_real)
    return time.perf_counter() - began


def initialize(context):
    """The template's initializer (index.initialize): FC runs it once per instance, before the
    first invocation. Without BENCH_INITIALIZER it does nothing, as if the template had none."""
    if os.environ.get("BENCH_INITIALIZER") != "1":
        return
    _init_phases["import"] = _load()
    if hasattr(_real, "initialize"):
        began = time.perf_counter()
        _real.initialize(context)
        _init_phases["initialize"] = time.perf_counter() - began


def handler(event, context):
    phases = dict(_init_phases)
    _init_phases.clear()
    if _real is None:
        phases["import"] = _load()
    began = time.perf_counter()
    answer = _real.handler(event, context)
    phases["handler"] = time.perf_counter() - began
    return json.dumps({"phases": phases, "result": json.loads(answer)})
'''


@dataclass
class FirstCallResult:
    initializer: bool  # whether the index had one and it was called
    first_seconds: float  # end to end, process start included (best of a few fresh instances)
    warm_seconds: float  # best of the warm calls
    phases: dict[str, float] = field(default_factory=dict)  # inside the first call

    @property
    def instance_start_seconds(self) -> float:
        """Interpreter and FC-like worker start, frames: the part outside the shim's phases."""
        return max(0.0, self.first_seconds - sum(self.phases.values()))

    @property
    def ratio(self) -> float:
        return self.first_seconds / self.warm_seconds


def has_initializer() -> bool:
    return "def initialize(" in (FUNCTION_DIR / "index.py").read_text(encoding="utf-8")


def _collect(runner: Any, cloud: LocalCloud, label: str) -> tuple[float, dict[str, Any]]:
    import time

    task_id = finished_task(cloud, 1, 200_000, label=label)
    started = time.monotonic()
    outcome = runner.invoke({"taskId": task_id})
    seconds = time.monotonic() - started
    if not outcome.ok:
        raise RuntimeError(f"invocation failed: {outcome.error}\n{outcome.logs[-2000:]}")
    answer = json.loads(outcome.result) if isinstance(outcome.result, str) else outcome.result
    result = answer["result"]["results"][0]
    if result["outcome"] != "copied":
        raise RuntimeError(f"not copied: {result}")
    return seconds, answer["phases"]


def _warm(runner: Any, cloud: LocalCloud, label: str) -> float:
    """A warm call, made once the instance's API pacer (API_QPS=5: a call every 0.21 s) would let
    it poll at once: back to back, a warm call would measure the pacer, not the invocation."""
    import time

    time.sleep(0.5)
    return _collect(runner, cloud, label)[0]


def measure(
    model: NetworkModel, *, initializer: bool, first_runs: int = 3, warm_calls: int = 3
) -> FirstCallResult:
    """`first_runs` fresh instances (best kept: a first call is one sample, and the machine's
    other tenants only ever add to it), then the best of `warm_calls` in the last one."""
    with local_cloud(model) as cloud, tempfile.TemporaryDirectory(prefix="bench-shim-") as shim:
        (Path(shim) / "index.py").write_text(_SHIM, encoding="utf-8")
        env = {
            **BENCH_ENV,
            "BENCH_FUNCTION_DIR": str(FUNCTION_DIR),
            "BENCH_INITIALIZER": "1" if initializer else "0",
        }
        best: tuple[float, dict[str, float]] | None = None
        for n in range(first_runs):
            runner = cloud.runner(env=env, code_dir=Path(shim))
            try:
                first = _collect(runner, cloud, f"first-{n}")
                if best is None or first[0] < best[0]:
                    best = first
                if n == first_runs - 1:
                    warm = min(_warm(runner, cloud, f"warm-{k}") for k in range(warm_calls))
            finally:
                runner.close()
    assert best is not None
    first_seconds, phases = best
    return FirstCallResult(initializer and "initialize" in phases, first_seconds, warm, phases)
