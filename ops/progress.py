"""Progress for long operations, on stderr so that stdout stays parseable (`--json`)."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    """Prints `<label>: <n> <unit>` every `every` items, and a final line if anything was printed."""

    def __init__(
        self, label: str, *, unit: str = "objects", every: int = 100, stream: TextIO | None = None
    ) -> None:
        self.label = label
        self.unit = unit
        self.every = every
        self.count = 0
        self._stream = stream
        self._started = time.monotonic()
        self._printed = False

    def step(self, n: int = 1) -> None:
        before = self.count
        self.count += n
        if self.every > 0 and self.count // self.every > before // self.every:
            self._write(f"{self.label}: {self.count} {self.unit}...")

    def done(self) -> None:
        if self._printed:
            elapsed = time.monotonic() - self._started
            self._write(f"{self.label}: {self.count} {self.unit} in {elapsed:.1f}s")

    def _write(self, line: str) -> None:
        self._printed = True
        stream = self._stream or sys.stderr
        stream.write(line + "\n")
        stream.flush()


class NoProgress(Progress):
    def __init__(self) -> None:
        super().__init__("", every=0)

    def done(self) -> None:
        return None
