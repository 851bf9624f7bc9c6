"""`python -m bench`: run every benchmark once and print the table (see bench/RESULTS.md).

Options: --quick (smaller cases, for a smoke run), --markdown FILE (also write the tables as
Markdown), --ttfb-ms / --bandwidth-mb-s (the network model)."""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from datetime import datetime, timezone

from bench import coldstart, fanout, memory, redelivery, sweep, throughput
from bench.model import MB, UNSHAPED, shaped
from bench.report import Table, ratio, verdict

MiB = 1 << 20


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller cases (smoke run)")
    parser.add_argument("--markdown", metavar="FILE", help="also write the tables as Markdown")
    parser.add_argument("--ttfb-ms", type=float, default=30.0)
    parser.add_argument("--bandwidth-mb-s", type=float, default=25.0)
    args = parser.parse_args(argv)
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        os.environ.pop(name, None)  # everything is on loopback

    model = shaped(args.ttfb_ms, args.bandwidth_mb_s)
    began = time.monotonic()
    header = [
        f"date: {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC; cores: {os.cpu_count()}; "
        f"python {platform.python_version()} on {platform.machine()}",
        f"network model: {model.describe()}",
        f"               {UNSHAPED.describe()}",
    ]
    print("\n".join(header), flush=True)
    tables: list[Table] = []

    def show(table: Table) -> None:
        tables.append(table)
        print("\n" + table.text(), flush=True)

    # 1. copy throughput -------------------------------------------------------------------------
    cases = [(throughput.CopyCase(50, 5 * MB), model), (throughput.CopyCase(50, 5 * MB), UNSHAPED)]
    cases.append((throughput.CopyCase(10, 50 * MB), model))
    if args.quick:
        cases = [
            (throughput.CopyCase(10, 5 * MB), model),
            (throughput.CopyCase(10, 5 * MB), UNSHAPED),
        ]
    copy = Table(
        "1. Copy throughput, one finished task end to end through the handler (MB/s, 1 MB = 10^6 B)",
        [
            "case",
            "network",
            "collector",
            "naive",
            "raw limit",
            "coll/naive",
            "coll/limit",
            "coll peak RSS",
        ],
    )
    first_copy = None
    for case, net in cases:
        result = throughput.measure(case, net)
        first_copy = first_copy or result
        naive = result.naive_mb_s or 0.0
        copy.add(
            case.label,
            net.name,
            result.collector_mb_s,
            naive,
            result.raw_mb_s,
            ratio(result.collector_mb_s, naive),
            ratio(result.collector_mb_s, result.raw_mb_s),
            f"{result.collector_peak_rss / MiB:.0f} MiB",
        )
    assert first_copy is not None
    copy.notes.append(
        f"target ({first_copy.case.label}, shaped): collector/naive "
        + verdict(ratio(first_copy.collector_mb_s, first_copy.naive_mb_s or 0.0), 5, at_most=False)
        + "; collector/limit "
        + verdict(ratio(first_copy.collector_mb_s, first_copy.raw_mb_s), 0.8, at_most=False)
    )
    copy.notes.append(
        f"collector and raw limit use {throughput.COPY_CONNECTIONS} connections; naive is sequential"
    )
    show(copy)

    # 2. memory ------------------------------------------------------------------------------------
    sizes = (1, 10) if args.quick else (1, 100)
    points = [memory.measure(n, UNSHAPED) for n in sizes]
    mem = Table(
        f"2. Peak RSS of the collecting process, batches of {memory.IMAGE_BYTES / MB:g} MB images",
        ["images", "peak RSS", "seconds", "vs 1 image"],
    )
    for point in points:
        mem.add(
            point.images,
            f"{point.peak_rss / MiB:.1f} MiB",
            point.seconds,
            ratio(point.peak_rss, points[0].peak_rss),
        )
    mem_ratio = ratio(points[-1].peak_rss, points[0].peak_rss)
    mem.notes.append(
        f"target: {sizes[-1]}-image / 1-image " + verdict(mem_ratio, 1.5, at_most=True)
    )
    mem.notes.append(
        f"largest peak {points[-1].peak_rss / MiB:.0f} MiB of the 512 MiB instance "
        f"({'fits' if points[-1].peak_rss < memory.INSTANCE_MEMORY_BYTES else 'DOES NOT FIT'})"
    )
    show(mem)

    # 3. cold start --------------------------------------------------------------------------------
    cold = coldstart.measure(5 if args.quick else 9)
    start = Table(
        f"3. Cold start: import time in a fresh interpreter (best of {cold.runs})",
        ["what is imported", "ms", "vs floor"],
    )
    start.add("floor: alimt client + tea openapi models + oss2", cold.floor_seconds * 1000, 1.0)
    start.add(
        "function/index.py (SDKs load lazily)",
        cold.index_seconds * 1000,
        ratio(cold.index_seconds, cold.floor_seconds),
    )
    start.add(
        "index + what the first collect imports",
        cold.first_call_seconds * 1000,
        ratio(cold.first_call_seconds, cold.floor_seconds),
    )
    start.notes.append(
        "target: index / floor "
        + verdict(ratio(cold.index_seconds, cold.floor_seconds), 1.2, at_most=True)
        + "; first collect / floor "
        + verdict(ratio(cold.first_call_seconds, cold.floor_seconds), 1.2, at_most=True)
    )
    show(start)

    # 4. sweep -------------------------------------------------------------------------------------
    n_tasks, qps = (200, 50.0) if args.quick else (1000, 50.0)
    swept = sweep.measure(model, tasks=n_tasks, qps=qps)
    sweep_table = Table(
        "4. Timer sweep over pending tasks under an API QPS quota (tasks still running)",
        ["tasks", "quota QPS", "wall s", "N/QPS s", "wall/(N/QPS)", "served", "throttled"],
    )
    sweep_ratio = ratio(swept.seconds, swept.ideal_seconds)
    sweep_table.add(
        swept.tasks,
        swept.qps,
        swept.seconds,
        swept.ideal_seconds,
        sweep_ratio,
        swept.served,
        swept.throttled,
    )
    sweep_table.notes.append(
        "target: "
        + verdict(sweep_ratio, 1.1, at_most=True)
        + f"; throttled {swept.throttled} (target 0)"
    )
    sweep_table.notes.append(
        f"API_QPS={qps:g} (= the quota), SWEEP_CONCURRENCY=16; processed {swept.processed}"
    )
    show(sweep_table)

    # 5. redelivery --------------------------------------------------------------------------------
    again = redelivery.measure(model)
    redo = Table(
        f"5. Redelivery of a collected task ({again.images} x 1 MB)",
        [
            "first collect s",
            "again s",
            "again/first",
            "OSS writes",
            "OSS requests",
            "API calls",
            "outcome",
        ],
    )
    redo.add(
        again.first_seconds,
        again.again_seconds,
        ratio(again.again_seconds, again.first_seconds),
        again.oss_writes,
        again.oss_requests,
        again.api_calls,
        again.outcome,
    )
    redo.notes.append(f"target: 0 OSS writes: {'met' if again.oss_writes == 0 else 'MISSED'}")
    show(redo)

    # 6. fan-out -----------------------------------------------------------------------------------
    workers = (1, 2) if args.quick else (1, 2, 4, 6)
    fan_tasks = 100 if args.quick else 200
    fan = Table(
        f"6. Fan-out: K instances each sweeping one shard, quota {qps:g} QPS ({fan_tasks} tasks)",
        ["instances", "wall s", "tasks/s", "vs 1 instance", "of quota", "throttled"],
    )
    base = None
    for k in workers:
        fan_point = fanout.measure(model, k, tasks=fan_tasks, qps=qps)
        base = base or fan_point.tasks_per_second
        fan.add(
            k,
            fan_point.seconds,
            fan_point.tasks_per_second,
            ratio(fan_point.tasks_per_second, base),
            f"{fan_point.tasks_per_second / qps:.0%}",
            fan_point.throttled,
        )
    fan.notes.append(
        "each instance: SWEEP_CONCURRENCY=2 (held back on purpose) and API_QPS/K; "
        "the pacer keeps a 5% jitter margin, so the ceiling is ~95% of the quota"
    )
    show(fan)

    total = time.monotonic() - began
    print(f"\nbench finished in {total:.0f} s", flush=True)
    if args.markdown:
        with open(args.markdown, "w", encoding="utf-8") as out:
            out.write("\n".join(f"{line}  " for line in header) + "\n\n")
            out.write("\n\n".join(t.markdown() for t in tables) + "\n")
            out.write(f"\nbench finished in {total:.0f} s\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
