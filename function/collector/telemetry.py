"""Structured logs: one JSON object per line on stdout, which Simple Log Service parses as JSON.

Every line carries the request id. Lines are redacted before they are written.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from typing import Any, TextIO

from collector.redaction import redact_value

_LEVELS = {"DEBUG": 10, "INFO": 20, "WARNING": 30, "ERROR": 40}


class EventLog:
    def __init__(self, request_id: str, level: str = "INFO", stream: TextIO | None = None) -> None:
        self.request_id = request_id
        self._threshold = _LEVELS.get(level.upper(), 20)
        self._stream = stream
        self._lock = threading.Lock()

    def emit(self, event: str, level: str = "INFO", *, always: bool = False, **fields: Any) -> None:
        if not always and _LEVELS.get(level, 20) < self._threshold:
            return
        record = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
            + f".{int(time.time() * 1000) % 1000:03d}Z",
            "level": level,
            "event": event,
            "requestId": self.request_id,
        }
        record.update({k: v for k, v in fields.items() if v is not None})
        line = json.dumps(redact_value(record), ensure_ascii=False, default=str)
        stream = self._stream or sys.stdout
        with self._lock:
            stream.write(line + "\n")
            stream.flush()

    def metric(self, event: str, **fields: Any) -> None:
        """A line charted as a metric: written whatever LOG_LEVEL says, so charts never go blank."""
        self.emit(event, "INFO", always=True, **fields)

    def debug(self, event: str, **fields: Any) -> None:
        self.emit(event, "DEBUG", **fields)

    def info(self, event: str, **fields: Any) -> None:
        self.emit(event, "INFO", **fields)

    def warning(self, event: str, **fields: Any) -> None:
        self.emit(event, "WARNING", **fields)

    def error(self, event: str, **fields: Any) -> None:
        self.emit(event, "ERROR", **fields)
