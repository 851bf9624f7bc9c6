"""Time: the invocation's deadline, jittered exponential backoff, and pacing under the API's QPS quota."""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass

from collector.scheduling import pacer_interval


@dataclass
class Deadline:
    """The moment our work must be done: invocation start + function timeout - safety margin.

    FC kills the instance at the timeout; stopping before it leaves state we chose, not a torn copy."""

    expires_at: float  # time.monotonic() value

    @classmethod
    def after(cls, seconds: float) -> Deadline:
        return cls(time.monotonic() + max(0.0, seconds))

    def remaining(self) -> float:
        return max(0.0, self.expires_at - time.monotonic())

    def expired(self) -> bool:
        return self.remaining() <= 0.0

    def sooner(self, seconds: float) -> Deadline:
        """A deadline that is at most `seconds` from now and never past this one."""
        return Deadline(min(self.expires_at, time.monotonic() + max(0.0, seconds)))


@dataclass(frozen=True)
class Backoff:
    """Equal-jitter exponential backoff: attempt n waits uniform(c / 2, c), c = min(cap, base * 2**n)."""

    base: float = 0.2
    cap: float = 5.0

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        ceiling = min(self.cap, self.base * (2 ** min(attempt, 20)))
        return (rng or random).uniform(ceiling / 2, ceiling)


# A quota is counted where requests arrive, and the way there has jitter (scheduling, the network,
# the gateway): calls sent exactly 1/qps apart put qps+1 calls into some 1-second window about half
# the time. So qps calls are spread over 1 s plus this margin, which costs 5% of the rate.
QUOTA_JITTER_MARGIN_SECONDS = 0.05


class RateLimiter:
    """Spaces calls (1 s + margin)/qps apart across threads, so our own pacing never trips the quota."""

    def __init__(self, qps: float, *, margin_seconds: float = QUOTA_JITTER_MARGIN_SECONDS) -> None:
        self.qps = qps
        self._interval = pacer_interval(qps, margin_seconds)
        self._next = time.monotonic()
        self._lock = threading.Lock()

    def acquire(self, deadline: Deadline | None = None) -> bool:
        """Wait for the next slot. False (without waiting) if the slot comes after the deadline."""
        with self._lock:
            now = time.monotonic()
            slot = max(now, self._next)
            if deadline is not None and slot > deadline.expires_at:
                return False
            self._next = slot + self._interval
        delay = slot - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        return True


_shared_limiters: dict[float, RateLimiter] = {}
_shared_lock = threading.Lock()


def shared_limiter(qps: float) -> RateLimiter:
    """One limiter per rate for the whole instance, so back-to-back invocations of a warm instance
    stay paced too."""
    with _shared_lock:
        if qps not in _shared_limiters:
            _shared_limiters[qps] = RateLimiter(qps)
        return _shared_limiters[qps]
