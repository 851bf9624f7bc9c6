"""`make bench-day`: a simulated production day under the result API's quota (bench/day/sim.py),
validated once against a real-time run through the FC-like runner and the emulators
(bench/day/validate.py). `quick()` is the seeded CI check of the simulated polls per task."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

BASELINE_PATH = Path(__file__).resolve().parents[1] / "day_baseline.json"
QUICK_TOLERANCE = 1.25  # fail when polls/task grows by more than 25% over the recorded figure
# The production policy the figures are for (README "Performance", "A production day").
RECOMMENDED_ENV = {"FIRST_POLL_AFTER_SECONDS": "15"}


@dataclass
class QuickResult:
    name: str
    value: float
    recorded: float
    ok: bool

    def line(self) -> str:
        verdict = "ok" if self.ok else f"REGRESSED (> {QUICK_TOLERANCE:.2f}x the recorded figure)"
        return (
            f"{self.name}: {self.value:.3f} (recorded {self.recorded:.3f}, "
            f"{self.value / self.recorded:.2f}x) {verdict}"
        )


def quick_figure() -> float:
    """Simulated polls per collected task, typical profile, nominal load, seeded: deterministic."""
    from bench.day.sim import PROFILES, Scenario, simulate

    typical = next(p for p in PROFILES if p.name == "typical")
    _, figures = simulate(
        Scenario(typical, rate_per_hour=3600, hours=0.5, env=dict(RECOMMENDED_ENV), seed=12)
    )
    return figures.polls_per_task


def quick(*, record: bool = False) -> QuickResult:
    """The `--quick` check: a few seconds, fails when polls/task regresses by more than 25%."""
    value = quick_figure()
    if record or not BASELINE_PATH.exists():
        BASELINE_PATH.write_text(
            json.dumps({"typical_nominal_polls_per_task": round(value, 4)}, indent=2) + "\n",
            encoding="utf-8",
        )
    recorded = float(
        json.loads(BASELINE_PATH.read_text(encoding="utf-8"))["typical_nominal_polls_per_task"]
    )
    return QuickResult(
        "simulated polls/task (typical, nominal)",
        value,
        recorded,
        value <= recorded * QUICK_TOLERANCE,
    )
