"""One warm FC instance: the `local.fc_worker` process and the threads that drain its frame pipe and
its log stream."""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from local.fc_worker import read_frame, write_frame


class WarmInstance:
    """One worker process and the threads that drain its protocol pipe and its log stream."""

    def __init__(
        self,
        argv: list[str],
        cwd: Path,
        env: dict[str, str],
        log_sink: Callable[[str], None] | None,
    ) -> None:
        self.process = subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,  # so a kill takes the handler's own children with it
        )
        self.pid = self.process.pid
        self.ready: dict[str, Any] | None = None
        self._frames: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._log_lines: list[str] = []
        self._log_closed = False
        self._log_cond = threading.Condition()
        self._log_sink = log_sink
        assert self.process.stdout is not None and self.process.stderr is not None
        self._threads = [
            threading.Thread(target=self._pump_frames, args=(self.process.stdout,), daemon=True),
            threading.Thread(target=self._pump_logs, args=(self.process.stderr,), daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def _pump_frames(self, stream: IO[bytes]) -> None:
        while True:
            try:
                frame = read_frame(stream)
            except (OSError, ValueError):
                frame = None
            self._frames.put(frame)
            if frame is None:
                return

    def _pump_logs(self, stream: IO[bytes]) -> None:
        for raw in iter(stream.readline, b""):
            line = raw.decode("utf-8", "replace")
            with self._log_cond:
                self._log_lines.append(line)
                self._log_cond.notify_all()
            if self._log_sink:
                self._log_sink(line)
        with self._log_cond:
            self._log_closed = True
            self._log_cond.notify_all()

    def log_mark(self) -> int:
        with self._log_cond:
            return len(self._log_lines)

    def logs_since(self, mark: int, until_line: str | None = None, wait_s: float = 2.0) -> str:
        """Log lines from `mark`, after waiting (briefly) for `until_line` or the stream's end."""

        def arrived() -> bool:
            if self._log_closed:
                return True
            return until_line is not None and any(
                line.rstrip("\n") == until_line for line in self._log_lines[mark:]
            )

        with self._log_cond:
            self._log_cond.wait_for(arrived, timeout=wait_s)
            return "".join(self._log_lines[mark:])

    def next_frame(self, timeout_s: float) -> dict[str, Any] | None:
        """Raises queue.Empty when nothing arrives in time; None when the process went away."""
        return self._frames.get(timeout=max(timeout_s, 0.0))

    def send(self, frame: dict[str, Any]) -> bool:
        try:
            assert self.process.stdin is not None
            write_frame(self.process.stdin, frame)
            return True
        except (OSError, ValueError):
            return False

    def kill(self) -> None:
        """SIGKILL, like FC at the timeout: no cleanup code of the handler runs."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)
        self._reap(wait_s=5.0)

    def close(self, grace_s: float = 2.0) -> None:
        if self.process.stdin is not None:
            with contextlib.suppress(OSError):
                self.process.stdin.close()  # the worker exits at end of input
        try:
            self.process.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            self.kill()
            return
        self._reap(wait_s=grace_s)

    def _reap(self, wait_s: float) -> None:
        self.process.wait(timeout=wait_s)
        for thread in self._threads:
            thread.join(timeout=wait_s)
        for stream in (self.process.stdin, self.process.stdout, self.process.stderr):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
