"""A production day under the result API's quota: a discrete-event simulation on a virtual clock.

What is simulated is the collector's **scheduling**, through the production functions themselves:
`collector.scheduling` (deferred first poll, in-process wait budget and poll intervals, nextCheck
backoff, oldest-first sweep order, pacer spacing), `collector.fanout` (capacity, shard planning, shard
shares of the quota, the TaskId hash), `collector.budget.Backoff` (retries of throttled calls),
`collector.records.PendingRecord` (the registry's records) and `CollectorConfig.from_env` over
template.yml's environment. The control flow of `CollectTask.run` and `SweepRegistry.run`
is mirrored step by step (each OSS request and API call a timed step), with their I/O replaced by a
modelled alimt, OSS and FC:

- alimt: a task's duration is lognormal around the profile's median, scaled by its image count; its
  results expire 1 h after it finishes; `GetTranslateImageBatchResult` is admitted under an
  account-wide quota (sliding 1-second window, as the emulator does) or throttled (HTTP 429);
- MNS delivers each TaskId when it is submitted (PublishTime = submission); a timer fires every
  minute with template.yml's payload;
- FC: each invocation runs in an instance of its own (instanceConcurrency 1, idle instances reused,
  each with its own pacer, like `shared_limiter`), billed vCPU-s and GB-s for its whole duration,
  waiting included (template.yml's memory and cpu; without `cpu`, fc3 gives 512 MB 0.35 vCPU).
"""

from __future__ import annotations

import dataclasses
import heapq
import math
import random
from collections import deque
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from collector.budget import QUOTA_JITTER_MARGIN_SECONDS, Backoff
from collector.config import CollectorConfig
from collector.fanout import capacity, max_shards_for, plan_shards, shard_of, shard_qps
from collector.models import SweepOptions
from collector.records import PendingRecord
from collector.scheduling import (
    deferred_first_check,
    keep_waiting,
    next_check_after,
    next_poll_interval,
    pacer_interval,
    sweep_order,
    wait_budget,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
RESULT_RETENTION_SECONDS = 3600.0
RECORD_FETCH_CONCURRENCY = 16  # sweep_registry.py
STATE_WRITES_AFTER_COPY = 3  # manifest PUT, record DELETE, dead-letter DELETE
CPU_BY_MEMORY_MB = {512: 0.35}  # fc3's default vCPU for a memory size (fc-facts.md)


@dataclass(frozen=True)
class Profile:
    """Task durations: lognormal with this median for an average batch, scaled by image count."""

    name: str
    median_seconds: float
    sigma: float = 0.5
    images_max: int = 20

    def duration(self, images: int, rng: random.Random) -> float:
        mean_images = (1 + self.images_max) / 2
        scale = (2 + images) / (2 + mean_images)  # per-image cost around a fixed part
        return self.median_seconds * scale * math.exp(rng.gauss(0.0, self.sigma))


PROFILES = (Profile("fast", 5.0), Profile("typical", 30.0), Profile("slow", 300.0))


@dataclass(frozen=True)
class Latency:
    """Modelled service times (seconds): FC to alimt/OSS inside the region, and copying."""

    api: float = 0.06
    oss: float = 0.02
    copy_fixed: float = 0.15
    copy_per_wave: float = 0.5  # one round of COPY_CONCURRENCY images (~1 MB each at 0.35 vCPU)
    mns: float = 0.1  # publish -> invocation
    fc_async: float = 0.1  # fan-out InvokeFunction -> shard invocation
    jitter: float = 0.3  # +- share of each service time

    def draw(self, base: float, rng: random.Random) -> float:
        return base * (1.0 + rng.uniform(-self.jitter, self.jitter))


@dataclass
class Scenario:
    profile: Profile
    rate_per_hour: float  # nominal arrival rate (Poisson)
    hours: float = 1.0  # arrivals for this long, then the registry drains
    burst_rate_per_hour: float = 0.0  # extra rate during the burst
    burst_start: float = 1200.0
    burst_seconds: float = 900.0
    quota_qps: float = 5.0  # the account's quota for GetTranslateImageBatchResult
    env: dict[str, str] = field(default_factory=dict)  # over template.yml's environment
    tick_seconds: float = 60.0
    latency: Latency = field(default_factory=Latency)
    seed: int = 12
    arrivals: list[tuple[float, int, float]] | None = None  # (submit, images, duration): fixed


@dataclass
class SimTask:
    task_id: str
    submitted: float
    images: int
    duration: float
    polls: int = 0
    throttled: int = 0
    collected_at: float | None = None
    lost: str | None = None  # why it was dead-lettered (expired results, ...)

    @property
    def finished_at(self) -> float:
        return self.submitted + self.duration


@dataclass
class Invocation:
    kind: str
    start: float
    end: float = 0.0
    task_wait: float = 0.0  # sleeping between polls of an unfinished task
    pacer_wait: float = 0.0  # waiting for an API slot under API_QPS
    polls: int = 0  # admitted API calls


# --- a minimal process-based event loop --------------------------------------------------------
Step = Generator[Any, Any, Any]


class Process:
    def __init__(self, gen: Step) -> None:
        self.gen = gen
        self.done = False
        self.value: Any = None
        self.waiters: list[Process] = []


class Join:
    def __init__(self, processes: list[Process]) -> None:
        self.processes = processes


class Loop:
    def __init__(self) -> None:
        self.now = 0.0
        self._heap: list[tuple[float, int, Process, Any]] = []
        self._seq = 0

    def start(self, gen: Step, delay: float = 0.0) -> Process:
        process = Process(gen)
        self._push(self.now + delay, process, None)
        return process

    def _push(self, at: float, process: Process, value: Any) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (at, self._seq, process, value))

    def run(self, until: float, idle: Callable[[], bool] | None = None) -> None:
        while self._heap and self._heap[0][0] <= until:
            at, _, process, value = heapq.heappop(self._heap)
            self.now = at
            try:
                command = process.gen.send(value)
            except StopIteration as stop:
                process.done = True
                process.value = stop.value
                for waiter in process.waiters:
                    if all(p.done for p in waiter.value):  # value: the processes it waits for
                        self._push(self.now, waiter, None)
                continue
            if isinstance(command, Join):
                pending = [p for p in command.processes if not p.done]
                if not pending:
                    self._push(self.now, process, None)
                else:
                    process.value = command.processes
                    for p in pending:
                        p.waiters.append(process)
            else:
                self._push(self.now + max(0.0, float(command)), process, None)
            if idle is not None and idle():
                return


# --- the modelled world ------------------------------------------------------------------------
class World:
    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self.rng = random.Random(scenario.seed)
        self.loop = Loop()
        spec = _template()
        env = dict(spec["env"])
        env.update(scenario.env)
        self.config = CollectorConfig.from_env(env)
        self.sweep_options = spec["sweep"]
        self.timeout = float(spec["timeout"])
        self.memory_gb = spec["memory_mb"] / 1024
        self.vcpu = spec["cpu"] or CPU_BY_MEMORY_MB.get(
            spec["memory_mb"], spec["memory_mb"] / 1024 * 0.7
        )
        self.tasks: dict[str, SimTask] = {}
        self.registry: dict[str, PendingRecord] = {}
        self.manifests: set[str] = set()
        self.window: deque[float] = deque()
        self.throttled = 0
        self.invocations: list[Invocation] = []
        self.idle_pacers: list[dict[float, float]] = []  # idle instances' pacers (qps -> next)
        self.backoff = Backoff()
        self.sweeps_started = 0
        self.max_registered = 0
        self.backlog_until = 0.0  # when the last sweep too big for its budget started

    # --- alimt ---
    def admit(self, at: float) -> bool:
        while self.window and at - self.window[0] >= 1.0:
            self.window.popleft()
        if len(self.window) >= self.scenario.quota_qps:
            self.throttled += 1
            return False
        self.window.append(at)
        return True

    def status(self, task: SimTask, at: float) -> str:
        if at < task.finished_at:
            return "running"
        if at - task.finished_at >= RESULT_RETENTION_SECONDS:
            return "invalid"
        return "finished"

    # --- FC ---
    def invoke(self, kind: str, body: Callable[[Invocation, dict[float, float]], Step]) -> None:
        def run() -> Step:
            pacers = self.idle_pacers.pop() if self.idle_pacers else {}
            inv = Invocation(kind, self.loop.now)
            yield from body(inv, pacers)
            inv.end = self.loop.now
            self.invocations.append(inv)
            self.idle_pacers.append(pacers)

        self.loop.start(run())

    def oss(self) -> float:
        return self.scenario.latency.draw(self.scenario.latency.oss, self.rng)

    # --- the collector, as service.collect does it ---
    def collect(
        self,
        inv: Invocation,
        pacers: dict[float, float],
        task_id: str,
        *,
        wait: bool,
        record: PendingRecord | None,
        deadline: float,
        qps: float,
        published_at: float | None = None,
    ) -> Step:
        loop, config, task = self.loop, self.config, self.tasks[task_id]
        yield self.oss()  # HEAD manifest
        if task_id in self.manifests:
            if record is not None:
                yield self.oss()
            return
        if record is None:
            yield self.oss()  # GET record
            existing = self.registry.get(task_id)
            if existing is not None:
                record = dataclasses.replace(existing)
            else:
                first = deferred_first_check(published_at, loop.now, config)
                record = PendingRecord(
                    task_id, first_seen=loop.now, next_check=first or loop.now, trigger="mns_json"
                )
                yield self.oss()  # PUT record (create-once)
                self.registry[task_id] = dataclasses.replace(record)
        if wait and deferred_first_check(published_at, loop.now, config):
            return
        wait_until = min(deadline, loop.now + wait_budget(config, wait))
        interval = config.poll_interval_seconds
        while True:
            status = yield from self.call_api(inv, pacers, task, deadline, qps)
            if status == "finished":
                waves = math.ceil(task.images / config.copy_concurrency)
                lat = self.scenario.latency
                yield lat.draw(lat.copy_fixed + lat.copy_per_wave * waves, self.rng)
                yield self.oss() * STATE_WRITES_AFTER_COPY
                if task_id not in self.manifests:
                    self.manifests.add(task_id)
                    task.collected_at = loop.now
                self.registry.pop(task_id, None)
                return
            if status == "invalid":
                yield self.oss() * 2  # dead letter, remove record
                task.lost = task.lost or "expired"
                self.registry.pop(task_id, None)
                return
            if status == "running" and keep_waiting(wait_until - loop.now, interval):
                inv.task_wait += interval
                yield interval
                interval = next_poll_interval(interval)
                continue
            break  # still running, or no API slot/retry left before the deadline
        # _still_pending / _failed (retry): the record rests, then the sweep asks again
        record.attempts += 1
        record.last_status = status
        record.last_check = loop.now
        record.next_check = next_check_after(record.attempts, loop.now)
        yield self.oss()  # PUT record
        if task_id not in self.manifests:
            self.registry[task_id] = dataclasses.replace(record)

    def call_api(
        self,
        inv: Invocation,
        pacers: dict[float, float],
        task: SimTask,
        deadline: float,
        qps: float,
    ) -> Step:
        """Pacer slot, then the call, retried with backoff when throttled (call_with_retry)."""
        loop, lat = self.loop, self.scenario.latency
        attempt = 0
        while True:
            slot = max(loop.now, pacers.get(qps, 0.0))
            if slot > deadline:
                return "no-slot"
            pacers[qps] = slot + pacer_interval(qps, QUOTA_JITTER_MARGIN_SECONDS)
            inv.pacer_wait += slot - loop.now
            yield slot - loop.now
            there = lat.draw(lat.api / 2, self.rng)
            admitted = self.admit(loop.now + there)
            yield there + lat.draw(lat.api / 2, self.rng)
            if admitted:
                task.polls += 1
                inv.polls += 1
                return self.status(task, loop.now - there)
            task.throttled += 1
            delay = self.backoff.delay(attempt, self.rng)
            if deadline - loop.now < delay + 0.5:
                return "throttled"
            yield delay
            attempt += 1

    # --- the sweep, as sweep_registry.SweepRegistry.run does it ---
    def sweep(self, inv: Invocation, pacers: dict[float, float], options: SweepOptions) -> Step:
        loop, config = self.loop, self.config
        budget = options.max_seconds or config.sweep_max_seconds
        deadline = min(inv.start + self.timeout - config.safety_margin_seconds, loop.now + budget)
        task_ids = sorted(self.registry)  # a listing is in key order
        yield self.oss() * (1 + len(task_ids) // 1000)
        self.max_registered = max(self.max_registered, len(task_ids))
        shards, shard = options.shards or 1, options.shard or 0
        qps = config.api_qps
        if options.shards is None:
            shards_max = min(config.sweep_shards_max, max_shards_for(config.api_qps))
            planned = plan_shards(len(task_ids), capacity(qps, budget), shards_max)
            if shards_max > 1 and planned > 1:
                shards = planned
                yield self.oss() * (shards - 1)  # InvokeFunction calls, about as fast
                for i in range(1, shards):
                    self.start_sweep(
                        SweepOptions(options.max_tasks, options.max_seconds, i, shards),
                        delay=self.scenario.latency.fc_async,
                    )
        if shards > 1:
            task_ids = [t for t in task_ids if shard_of(t, shards, config.api_qps) == shard]
            qps = shard_qps(config.api_qps, shard, shards)
        fits = len(task_ids) <= capacity(qps, budget)
        now = loop.now
        if not fits:
            self.backlog_until = max(self.backlog_until, now)
        items: list[Any]
        if fits:
            items = list(task_ids)
        else:
            yield self.oss() * math.ceil(len(task_ids) / RECORD_FETCH_CONCURRENCY)
            records = [
                dataclasses.replace(self.registry[t]) for t in task_ids if t in self.registry
            ]
            items, _ = sweep_order(records, now, options.max_tasks)
        queue: Iterator[Any] = iter(items)
        claimed = [0]

        def worker() -> Step:
            while True:
                if deadline - loop.now < 1.0:
                    return
                item = next(queue, None)
                if item is None:
                    return
                if isinstance(item, str):
                    yield self.oss()  # GET record
                    stored = self.registry.get(item)
                    if stored is None:
                        continue
                    record = dataclasses.replace(stored)
                else:
                    record = item
                if record.next_check > now:
                    continue
                if options.max_tasks is not None and claimed[0] >= options.max_tasks:
                    return
                claimed[0] += 1
                yield from self.collect(
                    inv,
                    pacers,
                    record.task_id,
                    wait=False,
                    record=record,
                    deadline=deadline,
                    qps=qps,
                )

        workers = max(1, min(config.sweep_concurrency, len(items)))
        yield Join([loop.start(worker()) for _ in range(workers)])

    def start_sweep(self, options: SweepOptions, delay: float = 0.0) -> None:
        def body(inv: Invocation, pacers: dict[float, float]) -> Step:
            return self.sweep(inv, pacers, options)

        def later() -> Step:
            yield delay
            self.invoke("sweep", body)

        self.loop.start(later())

    # --- drivers ---
    def arrivals(self) -> list[tuple[float, int, float]]:
        s = self.scenario
        if s.arrivals is not None:
            return s.arrivals
        rng = random.Random(s.seed * 7919 + 1)
        out: list[tuple[float, int, float]] = []
        t = 0.0
        horizon = s.hours * 3600
        while True:
            in_burst = s.burst_start <= t < s.burst_start + s.burst_seconds
            rate = (s.rate_per_hour + (s.burst_rate_per_hour if in_burst else 0.0)) / 3600
            t += rng.expovariate(rate)
            if t >= horizon:
                return out
            images = rng.randint(1, s.profile.images_max)
            out.append((t, images, s.profile.duration(images, rng)))

    def run(self) -> None:
        s, config = self.scenario, self.config
        arrivals = self.arrivals()
        for index, (at, images, duration) in enumerate(arrivals):
            task_id = f"T{index:06d}"
            self.tasks[task_id] = SimTask(task_id, at, images, duration)

            def deliver(task_id: str = task_id, at: float = at) -> Step:
                yield at + s.latency.draw(s.latency.mns, self.rng)

                def body(inv: Invocation, pacers: dict[float, float]) -> Step:
                    deadline = inv.start + self.timeout - config.safety_margin_seconds
                    yield from self.collect(
                        inv,
                        pacers,
                        task_id,
                        wait=True,
                        record=None,
                        deadline=deadline,
                        qps=config.api_qps,
                        published_at=at,
                    )

                self.invoke("mns", body)

            self.loop.start(deliver())

        def timer() -> Step:
            while True:
                yield s.tick_seconds - (self.loop.now % s.tick_seconds)
                self.sweeps_started += 1
                self.start_sweep(self.sweep_options)

        self.loop.start(timer())
        end = (arrivals[-1][0] if arrivals else 0.0) + 2 * RESULT_RETENTION_SECONDS
        step = 600.0
        t = 0.0
        while t < end:
            t += step
            self.loop.run(t)
            if t > arrivals[-1][0] + 60 and all(
                task.collected_at is not None or task.lost for task in self.tasks.values()
            ):
                self.loop.run(t + 2 * s.tick_seconds)  # let the last invocations end
                break
        for task in self.tasks.values():
            if task.collected_at is None and task.lost is None:
                task.lost = "never collected"


def _template() -> dict[str, Any]:
    """template.yml's environment, timer payload, timeout and memory: what production runs."""
    from collector.events import parse_trigger_event
    from local.runner import FunctionSpec, build_timer_event

    spec = FunctionSpec.from_template(REPO_ROOT / "template.yml")
    timer = spec.trigger(None, "timer")
    from datetime import datetime, timezone

    event = parse_trigger_event(
        build_timer_event(timer.name, timer.payload, datetime.now(timezone.utc))
    )
    return {
        "env": spec.environment,
        "sweep": event.sweep or SweepOptions(),
        "timeout": spec.timeout,
        "memory_mb": spec.memory_size,
        "cpu": spec.cpu,
    }


# --- figures -----------------------------------------------------------------------------------
@dataclass
class DayFigures:
    tasks: int
    collected: int
    lost: int
    polls_per_task: float
    sweep_polls_share: float
    throttled: int
    vcpu_s_per_task: float
    gb_s_per_task: float
    delay_p50: float
    delay_p99: float
    delay_max: float
    task_wait_share: float  # of billed time
    pacer_wait_share: float
    billed_seconds: float
    oldest_first: float  # rank correlation of submission and collection (1.0: strictly FIFO)
    max_registered: int
    backlog_cleared_after: float  # seconds after the burst ended until sweeps fit again


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    lo, hi = math.floor(k), math.ceil(k)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def spearman(xs: list[float], ys: list[float]) -> float:
    n = len(xs)
    if n < 3:
        return float("nan")

    def ranks(values: list[float]) -> list[float]:
        order = sorted(range(n), key=values.__getitem__)
        out = [0.0] * n
        for rank, i in enumerate(order):
            out[i] = float(rank)
        return out

    rx, ry = ranks(xs), ranks(ys)
    d2 = sum((a - b) ** 2 for a, b in zip(rx, ry, strict=True))
    return 1 - 6 * d2 / (n * (n * n - 1))


def simulate(scenario: Scenario) -> tuple[World, DayFigures]:
    world = World(scenario)
    world.run()
    tasks = list(world.tasks.values())
    done = [t for t in tasks if t.collected_at is not None]
    delays = [t.collected_at - t.finished_at for t in done if t.collected_at is not None]
    billed = sum(inv.end - inv.start for inv in world.invocations)
    n = max(1, len(done))
    polls = sum(t.polls for t in tasks)
    sweep_polls = sum(i.polls for i in world.invocations if i.kind == "sweep")
    burst = [
        t
        for t in done
        if scenario.burst_rate_per_hour
        and scenario.burst_start <= t.submitted < scenario.burst_start + scenario.burst_seconds
    ] or done
    figures = DayFigures(
        tasks=len(tasks),
        collected=len(done),
        lost=sum(1 for t in tasks if t.lost),
        polls_per_task=polls / n,
        sweep_polls_share=sweep_polls / max(1, polls),
        throttled=world.throttled,
        vcpu_s_per_task=billed * world.vcpu / n,
        gb_s_per_task=billed * world.memory_gb / n,
        delay_p50=percentile(delays, 0.5),
        delay_p99=percentile(delays, 0.99),
        delay_max=max(delays) if delays else float("nan"),
        task_wait_share=sum(i.task_wait for i in world.invocations) / billed if billed else 0.0,
        pacer_wait_share=sum(i.pacer_wait for i in world.invocations) / billed if billed else 0.0,
        billed_seconds=billed,
        oldest_first=spearman(
            [t.finished_at for t in burst], [t.collected_at or 0.0 for t in burst]
        ),
        max_registered=world.max_registered,
        backlog_cleared_after=max(
            0.0, world.backlog_until - (scenario.burst_start + scenario.burst_seconds)
        )
        if scenario.burst_rate_per_hour
        else 0.0,
    )
    return world, figures


def sustainable_per_hour(world: World, figures: DayFigures) -> float:
    """Tasks/hour the policy sustains at this quota: every poll the sweep makes fits in its
    capacity per tick (fan-out shards share the same API_QPS), and all polls fit in the quota."""
    config = world.config
    per_tick = capacity(config.api_qps, config.sweep_max_seconds)
    sweep_polls_per_hour = per_tick * 3600 / world.scenario.tick_seconds
    quota_per_hour = (
        min(world.scenario.quota_qps, config.api_qps) * 3600 / (1 + QUOTA_JITTER_MARGIN_SECONDS)
    )
    ppt = figures.polls_per_task
    sweep_ppt = ppt * figures.sweep_polls_share
    bounds = [quota_per_hour / ppt] if ppt else [float("inf")]
    if sweep_ppt:
        bounds.append(sweep_polls_per_hour / sweep_ppt)
    return min(bounds)
