"""`python -m bench`: run every benchmark once and print the tables (see bench/RESULTS.md).

Options: --quick (the CI guard: a few figures against bench/baseline.json, see bench/quick.py),
--record-baseline (with --quick), --smoke (smaller cases), --markdown FILE (also write the tables
as Markdown), --ttfb-ms / --bandwidth-mb-s (the network model)."""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from bench import coldstart, fanout, firstcall, memory, quick, redelivery, sweep, throughput
from bench.model import MB, UNSHAPED, shaped
from bench.report import Table, ratio, verdict

MiB = 1 << 20
PREAMBLE = """# Benchmark results

Written by `make bench` (`python -m bench --markdown bench/RESULTS.md`); `make bench-quick` is the
CI guard (`python -m bench --quick`: the collector/relay CPU ratios and the simulated polls per task
against bench/baseline.json).
Every ratio compares two measurements taken in the same run, so the noise of a shared machine
mostly cancels out; absolute MB/s and CPU-s are this machine's. The emulators (image host, OSS,
alimt) run in the benchmark process; what is measured runs in a child process of its own (the
real function in the FC-like worker, or a reference copier), so its CPU time (user + sys) and its
peak RSS (VmHWM) are its own. The network model adds a time to first byte to every request and
caps each connection's bandwidth.

"""


DAY_RESULTS = Path(__file__).with_name("RESULTS-day.md")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="CI guard against baseline.json")
    parser.add_argument("--record-baseline", action="store_true", help="with --quick")
    parser.add_argument("--smoke", action="store_true", help="smaller cases (smoke run)")
    parser.add_argument("--markdown", metavar="FILE", help="also write the tables as Markdown")
    parser.add_argument("--ttfb-ms", type=float, default=30.0)
    parser.add_argument("--bandwidth-mb-s", type=float, default=25.0)
    args = parser.parse_args(argv)
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        os.environ.pop(name, None)  # everything is on loopback
    if args.quick:
        return quick.run(record=args.record_baseline)
    args.quick = args.smoke  # the smaller cases below

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

    # 1. copy: CPU per GB and throughput ----------------------------------------------------------
    t = throughput
    everything = t.ALL_COPIERS
    collectors = (t.RELAY, t.COLLECTOR_SOURCE_CRC, t.COLLECTOR_NO_SOURCE_CRC)
    cases = [
        (t.CopyCase(50, 5 * MB), model, everything, 2),
        (t.CopyCase(50, 5 * MB), UNSHAPED, collectors, 1),
        (t.CopyCase(16, 50 * MB), model, (*collectors, t.NAIVE_8), 1),
    ]
    if args.quick:
        cases = [(t.CopyCase(20, 5 * MB), model, everything, 1)]
    copy = Table(
        "1. Copy: CPU-seconds per GB copied (the copying process's user + sys) and MB/s, one "
        "finished task (1 MB = 10^6 B, 1 GB = 10^9 B)",
        ["case", "network", "copier", "MB/s", "CPU-s/GB", "CPU vs relay", "peak RSS"],
    )
    headline = None
    for case, net, copiers, repeats in cases:
        result = t.measure(case, net, copiers=copiers, repeats=repeats)
        headline = headline or result
        for copier in copiers:
            run = result.runs[copier]
            copy.add(
                case.label,
                net.name,
                copier,
                run.mb_s,
                run.cpu_per_gb,
                result.cpu_ratio(copier),
                f"{run.peak_rss / MiB:.0f} MiB",
            )
        copy.notes.append(
            f"{case.label} {net.name}: the emulators spent {result.emulator_cpu_per_gb:.1f} "
            f"CPU-s/GB serving the relay; one Python process serves them all (one GIL, at most "
            f"one core), so their ceiling here is ~{result.emulator_ceiling_mb_s:.0f} MB/s"
        )
    assert headline is not None
    copy.notes.insert(
        0,
        f"targets ({headline.case.label}, {headline.model.name}): collector CPU/GB vs the relay "
        "with a source CRC "
        + verdict(headline.cpu_ratio(t.COLLECTOR_SOURCE_CRC), 1.3, at_most=True)
        + ", without "
        + verdict(headline.cpu_ratio(t.COLLECTOR_NO_SOURCE_CRC), 2.0, at_most=True),
    )
    crc_cost = t.crc_cpu_per_gb()
    copy.notes.insert(
        1,
        f"one CRC-64 pass (fastcrc, as the copier makes it) costs {crc_cost:.2f} CPU-s/GB on this machine "
        f"= {crc_cost / headline.runs[t.RELAY].cpu_per_gb:.2f} x the relay's whole CPU/GB: "
        "the floor of the copy without a source CRC is relay + that",
    )
    copy.notes.insert(
        2,
        f"relay: 8 connections, chunked upload, no CRC, no checks; collector: COPY_CONCURRENCY="
        f"{t.COPY_CONNECTIONS}; naive 8-wide: a thread pool of {t.COPY_CONNECTIONS}, each image "
        "whole in memory; naive sequential: one at a time. CPU of the copier's process only: "
        "the emulators run in the benchmark process. The network model's ceiling is "
        f"{t.COPY_CONNECTIONS} x {args.bandwidth_mb_s:g} = "
        f"{t.COPY_CONNECTIONS * args.bandwidth_mb_s:g} MB/s",
    )
    copy.notes.append(
        "what limits the collector's CPU per byte: not the CRC any more (one fastcrc pass, above) "
        "but the HTTP stack around each object and block: requests/urllib3/oss2 spend ~2 ms more "
        "CPU per object than the relay's bare http.client (about half the gap at 5 MB objects, "
        "less at 50 MB), and each byte is copied twice more (socket reads gathered into 256 KiB "
        "blocks, chunked framing). A minimal signed PUT client like the relay's is the lever "
        "left; it would have to keep oss2's error mapping (409, CRC, codes) and redaction"
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

    # 3. cold start and the first invocation -------------------------------------------------------
    cold = coldstart.measure(5 if args.quick else 9)
    variants = [False, True] if firstcall.has_initializer() else [False]
    first_calls = [firstcall.measure(UNSHAPED, initializer=v) for v in variants]
    start = Table(
        "3. First invocation of a fresh instance vs a warm one, end to end (a finished 1-image "
        f"task, unshaped loopback); SDK import floor {cold.floor_seconds * 1000:.0f} ms "
        f"(best of {cold.runs})",
        [
            "FC initializer",
            "first s",
            "warm s",
            "first / warm",
            "first / (floor + warm)",
            "in the first call",
        ],
    )
    for call in first_calls:
        start.add(
            "called" if call.initializer else "none",
            call.first_seconds,
            call.warm_seconds,
            call.ratio,
            ratio(call.first_seconds, cold.floor_seconds + call.warm_seconds),
            ", ".join(
                [f"instance start {call.instance_start_seconds * 1000:.0f} ms"]
                + [f"{k} {v * 1000:.0f} ms" for k, v in call.phases.items()]
            ),
        )
    for call in first_calls:
        start.notes.append(
            f"target ({'with' if call.initializer else 'without'} initializer): first <= 1.2 x "
            "(floor + warm) "
            + verdict(
                ratio(call.first_seconds, cold.floor_seconds + call.warm_seconds),
                1.2,
                at_most=True,
            )
        )
    if len(variants) == 1:
        start.notes.append("function/index.py has no initialize(context): one row")
    start.notes.append(
        f"import only: index.py {cold.index_seconds * 1000:.0f} ms, index + what the first "
        f"collect imports {cold.first_call_seconds * 1000:.0f} ms; first s includes starting "
        "the instance (interpreter + FC-like worker); the first handler call = the SDK imports "
        "(alimt/Tea with aiohttp, oss2 with its crypto modules) + a warm call"
    )
    start.notes.append(
        "what limits the first call: without the initializer it pays the SDK imports and the "
        "instance start (~70-90 ms of interpreter and worker, outside the floor) on top of a warm "
        "call; with it (template.yml's index.initialize) the imports move to the instance's "
        "start and the first call is a warm call plus its first connections (~30 ms)"
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
            out.write(PREAMBLE)
            out.write("\n".join(f"{line}  " for line in header) + "\n\n")
            out.write("\n\n".join(t.markdown() for t in tables) + "\n")
            out.write(f"\nbench finished in {total:.0f} s\n")
            if (
                DAY_RESULTS.exists()
            ):  # part 2, written by `python -m bench.day` (make bench runs it first)
                out.write("\n" + DAY_RESULTS.read_text(encoding="utf-8"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
