"""A controllable clock shared by the emulators, so expiry (1-hour result retention, signed URL
lifetimes, STS token expiry) can be tested without waiting."""

from __future__ import annotations

import threading
import time


class Clock:
    """Wall-clock time plus an adjustable offset. `advance()` moves every emulator forward at once."""

    def __init__(self) -> None:
        self._offset = 0.0
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return time.time() + self._offset

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._offset += seconds

    def reset(self) -> None:
        with self._lock:
            self._offset = 0.0
