"""Fault scripting for the OSS emulator: which operations and key globs a fault targets, how a
fault spec (`FAULT_KINDS`) parses, and which faults an operation can consume."""

from __future__ import annotations

import fnmatch
import threading
from dataclasses import dataclass

OPS = frozenset(
    {
        "put",
        "get",
        "head",
        "delete",
        "list",
        "copy",
        "complete",
        "upload_part",
        "initiate",
        "abort",
        "list_parts",
        "*",
    }
)
FAULT_KINDS = ("http:<5xx>", "html:<5xx>", "delay:<seconds>", "reset", "reset-mid-body", "bad-crc")
SERVER_ERROR_CODES = {500: "InternalError", 502: "BadGateway", 503: "ServiceUnavailable"}


@dataclass
class Fault:
    op: str
    kind: str  # "http", "html", "delay", "reset", "reset-mid-body", "bad-crc"
    key_glob: str
    remaining: int | None  # None: forever
    status: int = 0
    delay_seconds: float = 0.0


def parse_fault(op: str, fault: str, key: str, count: int | None) -> Fault:
    if op not in OPS:
        raise ValueError(f"unknown op {op!r}; expected one of {sorted(OPS)}")
    kind, _, arg = fault.partition(":")
    if kind in ("http", "html"):
        status = int(arg)
        if not 400 <= status <= 599:
            raise ValueError(f"fault status must be 4xx/5xx: {fault!r}")
        return Fault(op, kind, key, count, status=status)
    if kind == "delay":
        return Fault(op, kind, key, count, delay_seconds=float(arg))
    if fault in ("reset", "reset-mid-body", "bad-crc"):
        return Fault(op, fault, key, count)
    raise ValueError(f"unknown fault {fault!r}; expected one of {FAULT_KINDS}")


def fault_applies(kind: str, op: str) -> bool:
    """Faults that only make sense for some operations are not consumed by the others."""
    if kind == "bad-crc":
        return op in ("put", "copy", "complete", "upload_part", "get", "head")
    if kind == "reset-mid-body":
        return op in ("put", "upload_part", "complete", "get")
    return True


class FaultBook:
    """The injected faults, in the order given; each request takes the first that targets it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def take(self, op: str, key: str) -> Fault | None:
        """The first fault for `op` on `key` (consumed once, or kept while it runs forever)."""
        with self._lock:
            for fault in self._faults:
                if fault.op not in ("*", op) or not fnmatch.fnmatchcase(key, fault.key_glob):
                    continue
                if not fault_applies(fault.kind, op):
                    continue
                if fault.remaining is not None:
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self._faults.remove(fault)
                return fault
        return None
