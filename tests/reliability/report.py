"""Run the reliability and security suite and print its figures.

    python -m tests.reliability.report [extra pytest arguments]     (or: make reliability)

Runs pytest on tests/reliability in a child process, which writes the figures its tests observed
(tests/reliability/support.py `Figures`) to a temporary JSON file, then prints them as a table.
Exits non-zero when pytest failed, or any task was lost, any object written twice, any fuzzed event
crashed the function, any secret leaked, any hostile input got through, or fewer than
MIN_FUZZED_EVENTS events were fuzzed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
MIN_FUZZED_EVENTS = 10_000
PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy")


def run_suite(extra_args: list[str], figures_path: Path) -> tuple[int, float]:
    env = {k: v for k, v in os.environ.items() if k not in PROXY_VARS}
    env["RELIABILITY_FIGURES"] = str(figures_path)
    command = [sys.executable, "-m", "pytest", "tests/reliability", "-p", "no:cacheprovider"]
    started = time.monotonic()
    returncode = subprocess.call(command + extra_args, cwd=ROOT, env=env)
    return returncode, time.monotonic() - started


def table(figures: dict[str, Any], pytest_status: int, seconds: float) -> tuple[str, list[str]]:
    """The printed table, and the reasons (if any) to fail."""
    problems = []
    if pytest_status != 0:
        problems.append(f"pytest exited with status {pytest_status}")
    for name, label in (
        ("tasks_lost", "tasks lost"),
        ("duplicate_writes", "duplicate writes"),
        ("fuzz_crashes", "crashes on fuzzed input"),
        ("secret_leaks", "secrets leaked"),
    ):
        if figures[name] > 0:
            problems.append(f"{label}: {figures[name]}")
    if figures.get("race_double_placed", 0) > 0:
        problems.append(
            f"racing deliveries left a task in two places: {figures['race_double_placed']}"
        )
    if figures.get("malformed_placed", 0) < figures.get("malformed_examples", 0):
        problems.append("a generated malformed result did not end in exactly one place")
    for form, (tried, passed) in figures.get("code_forms", {}).items():
        if passed < tried:
            problems.append(f"business code form {form!r}: {tried - passed} of {tried} misfiled")
    if figures["hostile_refused"] < figures["hostile_tried"]:
        problems.append("a hostile input was not refused")
    if figures["fuzz_examples"] < MIN_FUZZED_EVENTS:
        problems.append(
            f"only {figures['fuzz_examples']} generated events (want >= {MIN_FUZZED_EVENTS})"
        )

    rows = [
        ("fault-matrix rows tried", f"{figures['rows_tried']} ({figures['rows_passed']} passed)"),
        ("tasks checked (nothing-lost helper)", figures["tasks_checked"]),
        ("tasks lost", figures["tasks_lost"]),
        ("duplicate writes", figures["duplicate_writes"]),
        (
            "fuzzed events parsed",
            f"{figures['fuzz_events']} ({figures['fuzz_examples']} generated x 5 variants)",
        ),
        ("fuzzed events through the handler", figures["fuzz_handler_events"]),
        ("crashes on fuzzed input", figures["fuzz_crashes"]),
        ("hostile inputs refused", f"{figures['hostile_refused']} of {figures['hostile_tried']}"),
        *(
            (f"business code form: {form}", f"{passed} of {tried} codes")
            for form, (tried, passed) in sorted(figures.get("code_forms", {}).items())
        ),
        (
            "malformed results through the handler",
            f"{figures.get('malformed_placed', 0)} of {figures.get('malformed_examples', 0)} in one place",
        ),
        (
            "racing deliveries (MNS + sweep)",
            f"{figures.get('race_runs', 0)} runs, {figures.get('race_double_placed', 0)} in 2 places",
        ),
        ("secret scans / leaks", f"{figures['secret_scans']} / {figures['secret_leaks']}"),
        ("tests", f"{figures['tests_run']} ({figures['tests_passed']} passed) in {seconds:.0f}s"),
    ]
    width = max(len(label) for label, _ in rows)
    lines = ["", "Reliability and security suite", "-" * (width + 24)]
    lines += [f"{label:<{width}}  {value!s:>20}" for label, value in rows]
    lines.append("-" * (width + 24))
    for name in ("lost_samples", "crash_samples", "leak_samples"):
        for sample in figures.get(name, []):
            lines.append(f"  {name[:-8]}: {sample}")
    lines.append("RESULT: " + ("FAIL - " + "; ".join(problems) if problems else "PASS"))
    return "\n".join(lines), problems


def main(argv: list[str] | None = None) -> int:
    extra = list(sys.argv[1:] if argv is None else argv)
    with tempfile.TemporaryDirectory(prefix="reliability-") as tmp:
        figures_path = Path(tmp) / "figures.json"
        status, seconds = run_suite(extra, figures_path)
        if not figures_path.exists():
            print(f"the suite wrote no figures (pytest status {status})", file=sys.stderr)
            return status or 1
        figures = json.loads(figures_path.read_text(encoding="utf-8"))
    text, problems = table(figures, status, seconds)
    print(text)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
