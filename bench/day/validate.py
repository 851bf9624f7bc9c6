"""The simulation against reality, once: ~100 tasks in real time through the FC-like runner (the real
handler in worker processes, template.yml's settings) and the emulators (alimt with a QPS quota and
per-task durations, OSS, image host), then the simulation with the same arrivals, durations and
settings. Time is scaled down 10x (durations, the timer period, the sweep budget, the deferral) so
the run takes about two minutes; the rest of the policy (recheck backoff) is the production code's."""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass
from datetime import datetime

from bench.day.sim import Latency, Profile, Scenario, World, percentile, simulate
from collector.records import parse_iso

SCALE = 10.0
PROFILE = Profile("typical/10", 30.0 / SCALE, images_max=4)
TICK_SECONDS = 60.0 / SCALE
QUOTA_QPS = 5.0
ENV = {
    "FIRST_POLL_AFTER_SECONDS": f"{15.0 / SCALE:g}",
    "SWEEP_MAX_SECONDS": f"{50.0 / SCALE:g}",
    "API_QPS": f"{QUOTA_QPS:g}",
    "LOG_LEVEL": "WARNING",
}
# Service times of the local cloud on loopback (2 shared cores), for the simulation's side.
LOCAL_LATENCY = Latency(
    api=0.03, oss=0.012, copy_fixed=0.06, copy_per_wave=0.05, mns=0.03, fc_async=0.05
)


@dataclass
class Comparison:
    tasks: int
    real_polls_per_task: float
    sim_polls_per_task: float
    real_p50: float
    sim_p50: float
    real_p99: float
    sim_p99: float
    real_throttled: int
    sim_throttled: int
    real_collected: int
    seconds: float

    @staticmethod
    def gap(real: float, sim: float) -> float:
        return abs(sim - real) / real if real else float("inf")


def arrivals(tasks: int, seed: int = 12) -> list[tuple[float, int, float]]:
    rate = 3600.0  # one task a second
    world = World(Scenario(PROFILE, rate, hours=tasks * 1.2 / rate, seed=seed))
    return world.arrivals()[:tasks]


def run(tasks: int = 100) -> Comparison:
    from local.cloud import LocalCloud

    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        os.environ.pop(name, None)
    plan = arrivals(tasks)
    began = time.monotonic()
    with LocalCloud() as cloud:
        mns = cloud.runner(env=ENV)
        timer = cloud.runner(env=ENV)
        try:
            # warm both instances (imports), outside the measured window and the quota
            warm = cloud.alimt.create_task(["https://source.example.com/warm.png"])
            mns.invoke({"taskId": warm})
            timer.tick_timer()
            cloud.alimt.set_qps_quota(QUOTA_QPS)
            ids: list[tuple[str, float, float]] = []  # task, created (clock), duration
            t0 = time.time()
            t0 = t0 + TICK_SECONDS - (t0 % TICK_SECONDS)  # phase as in the simulation
            stop = threading.Event()

            def ticks() -> None:
                k = 1
                while not stop.is_set():
                    at = t0 + k * TICK_SECONDS
                    if stop.wait(max(0.0, at - time.time())):
                        return
                    timer.tick_timer()
                    k += 1

            ticker = threading.Thread(target=ticks, daemon=True)
            ticker.start()
            for index, (offset, images, duration) in enumerate(plan):
                time.sleep(max(0.0, t0 + offset - time.time()))
                sources = [f"https://source.example.com/v{index}/{i}.png" for i in range(images)]
                task_id = cloud.alimt.create_task(
                    sources, image_size=5_000, seconds_until_finished=duration
                )
                task = cloud.alimt.task(task_id)
                assert task is not None
                ids.append((task_id, task.created_at, duration))
                mns.publish_mns(json.dumps({"TaskId": task_id}))
            bucket = cloud.bucket()
            give_up = time.time() + 120
            collected: dict[str, float] = {}
            while time.time() < give_up and len(collected) < len(ids):
                time.sleep(1.0)
                for task_id, _, _ in ids:
                    if task_id in collected:
                        continue
                    key = f"translated/{task_id}/manifest.json"
                    if bucket.object_exists(key):
                        manifest = json.loads(bucket.get_object(key).read())
                        collected[task_id] = parse_iso(manifest["collectedAt"], 0.0)
            stop.set()
            ticker.join(timeout=30)
            polls = 0
            delays = []
            for task_id, created, duration in ids:
                task = cloud.alimt.task(task_id)
                assert task is not None
                polls += task.polls
                if task_id in collected:
                    delays.append(collected[task_id] - (created + duration))
            real_throttled = cloud.alimt.qps_throttled
        finally:
            mns.close()
            timer.close()
    _, sim = simulate(
        Scenario(
            PROFILE,
            3600.0,
            env=dict(ENV),
            tick_seconds=TICK_SECONDS,
            quota_qps=QUOTA_QPS,
            latency=LOCAL_LATENCY,
            arrivals=plan,
        )
    )
    return Comparison(
        tasks=len(ids),
        real_polls_per_task=polls / max(1, len(collected)),
        sim_polls_per_task=sim.polls_per_task,
        real_p50=percentile(delays, 0.5),
        sim_p50=sim.delay_p50,
        real_p99=percentile(delays, 0.99),
        sim_p99=sim.delay_p99,
        real_throttled=real_throttled,
        sim_throttled=sim.throttled,
        real_collected=len(collected),
        seconds=time.monotonic() - began,
    )


if __name__ == "__main__":
    result = run()
    print(result)
    print(datetime.now())
