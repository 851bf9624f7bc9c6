"""`make bench-day`: a simulated production day under the result API's quota (bench/day/sim.py),
validated once against a real-time run through the FC-like runner and the emulators
(bench/day/validate.py). `quick()` is the seeded CI check of the simulated polls per task."""

from __future__ import annotations

# The production policy the figures are for (README "Performance", "A production day").
RECOMMENDED_ENV = {"FIRST_POLL_AFTER_SECONDS": "15"}


def quick_figure() -> float:
    """Simulated polls per collected task, typical profile, nominal load, seeded: deterministic."""
    from bench.day.sim import PROFILES, Scenario, simulate

    typical = next(p for p in PROFILES if p.name == "typical")
    _, figures = simulate(
        Scenario(typical, rate_per_hour=3600, hours=0.5, env=dict(RECOMMENDED_ENV), seed=12)
    )
    return figures.polls_per_task
