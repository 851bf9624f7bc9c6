"""One FC-like function instance: a long-lived process that loads the handler once and serves calls.

Started by `local.runner.FunctionRunner` as `python -m local.fc_worker --code-dir DIR --handler H
[--initializer I]` (or as `python -I -S local/fc_worker.py ...`, so only DIR and the standard
library are importable: this module needs nothing else).
The runner talks to it over the process's original stdin/stdout with length-prefixed JSON frames;
fd 1 is then pointed at stderr so the handler's prints and logs cannot corrupt that channel and are
captured as the invocation's logs instead (what FC shows as the function log).

Frames (4-byte big-endian length, then UTF-8 JSON):
  worker -> runner  {"type": "ready", "pid": N,
                     "error": null | {"errorType", "errorMessage", "stackTrace"}}
  runner -> worker  {"type": "initialize", "requestId", "context": {...}, "setEnv", "unsetEnv"}
                    (once, before the first invoke, when the function has an initializer)
  runner -> worker  {"type": "invoke", "requestId", "event" (base64), "context": {...},
                     "setEnv": {...}, "unsetEnv": [...]}
  worker -> runner  {"type": "result", "requestId", "ok", "payload" (base64) | "error": {...}}
                    (the answer to both)
The worker exits when its stdin closes. Timeouts are enforced by the runner (SIGKILL), as FC does.
"""

from __future__ import annotations

import argparse
import base64
import importlib
import json
import logging
import os
import struct
import sys
import traceback
from dataclasses import dataclass
from types import TracebackType
from typing import IO, Any

_LENGTH = struct.Struct(">I")
# Marker lines written to the log stream around each call, like FC's own function log.
START_MARKER = "FC Invoke Start RequestId: "
END_MARKER = "FC Invoke End RequestId: "


def write_frame(stream: IO[bytes], message: dict[str, Any]) -> None:
    data = json.dumps(message, separators=(",", ":")).encode()
    stream.write(_LENGTH.pack(len(data)) + data)
    stream.flush()


def read_frame(stream: IO[bytes]) -> dict[str, Any] | None:
    """The next frame, or None at end of stream (the peer went away)."""
    header = _read_exactly(stream, _LENGTH.size)
    if header is None:
        return None
    (length,) = _LENGTH.unpack(header)
    body = _read_exactly(stream, length)
    if body is None:
        return None
    message: dict[str, Any] = json.loads(body)
    return message


def _read_exactly(stream: IO[bytes], count: int) -> bytes | None:
    chunks = bytearray()
    while len(chunks) < count:
        chunk = stream.read(count - len(chunks))
        if not chunk:
            return None
        chunks.extend(chunk)
    return bytes(chunks)


def error_payload(exc: BaseException, tb: TracebackType | None) -> dict[str, Any]:
    """FC's Python error shape: errorMessage, errorType and the stack as a list of frames."""
    return {
        "errorMessage": str(exc),
        "errorType": type(exc).__name__,
        "stackTrace": traceback.format_list(traceback.extract_tb(tb)),
    }


def _report(exc: BaseException) -> dict[str, Any]:
    """Log the traceback without this module's own frame, as FC shows it, and return its payload."""
    tb = exc.__traceback__.tb_next if exc.__traceback__ else None
    traceback.print_exception(type(exc), exc, tb, file=sys.stderr)
    return error_payload(exc, tb)


# --- the context object handed to the handler -------------------------------------------------


@dataclass(frozen=True)
class FunctionMeta:
    name: str
    handler: str
    memory: int
    timeout: int


@dataclass(frozen=True)
class Credentials:
    access_key_id: str
    access_key_secret: str
    security_token: str | None


class FCContext:
    """Attributes of FC's Python context. `credentials` exists only in the python3.10 style:
    the python3.12 runtime has none and passes the keys in environment variables instead."""

    def __init__(self, raw: dict[str, Any]) -> None:
        self.request_id: str = raw["requestId"]
        self.region: str = raw["region"]
        self.account_id: str = raw["accountId"]
        self.function = FunctionMeta(**raw["function"])
        if "credentials" in raw:
            creds = raw["credentials"]
            self.credentials: Credentials | None = Credentials(**creds) if creds else None


# --- logging like the FC Python runtime: root logger at INFO, lines tagged with the request id -


class _RequestIdFilter(logging.Filter):
    request_id = ""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = self.request_id
        return True


def _configure_logging() -> _RequestIdFilter:
    request_filter = _RequestIdFilter()
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(request_filter)
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(request_id)s [%(levelname)s] %(message)s")
    )
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    return request_filter


# --- the instance -------------------------------------------------------------------------------


def _take_protocol_channel() -> tuple[IO[bytes], IO[bytes]]:
    """Keep private copies of stdin/stdout for frames; the handler gets /dev/null and stderr."""
    proto_in = os.fdopen(os.dup(0), "rb", buffering=0)
    proto_out = os.fdopen(os.dup(1), "wb", buffering=0)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    os.dup2(2, 1)
    sys.stdout = open(1, "w", buffering=1, encoding="utf-8", errors="replace", closefd=False)  # noqa: SIM115
    return proto_in, proto_out


class HandlerNotFound(Exception):
    """The module imported but has no such callable (FC's HandlerNotFound)."""


def _load_handler(code_dir: str, handler: str) -> Any:
    module_name, _, attr = handler.rpartition(".")
    if not module_name:
        raise HandlerNotFound(f"handler {handler!r} must look like 'module.function'")
    module = importlib.import_module(module_name)
    function = getattr(module, attr, None)
    if not callable(function):
        raise HandlerNotFound(f"handler {attr!r} not found in module {module_name!r} ({code_dir})")
    return function


def _isolate_sys_path(code_dir: str) -> None:
    """Like FC: the code package first, then the runtime's libraries; not the project checkout
    that was only on PYTHONPATH so this module could start."""
    own_dir = os.path.dirname(os.path.abspath(__file__))
    project_root = os.path.dirname(own_dir)
    drop = {project_root, own_dir}  # own_dir: sys.path[0] when started as a script without -I
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") not in drop]
    sys.path.insert(0, code_dir)


def _encode_result(value: Any) -> bytes:
    if value is None:
        return b""
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    if isinstance(value, str):
        return value.encode()
    return json.dumps(value).encode()


def _serve_one(
    message: dict[str, Any], function: Any, request_filter: _RequestIdFilter
) -> dict[str, Any]:
    """Run an invoke frame through the handler, or an initialize frame through the initializer
    (FC calls it with the context only)."""
    request_id = message["requestId"]
    for name in message.get("unsetEnv", []):
        os.environ.pop(name, None)
    os.environ.update(message.get("setEnv", {}))
    context = FCContext(message["context"])
    request_filter.request_id = request_id
    print(START_MARKER + request_id, file=sys.stderr, flush=True)
    try:
        if message.get("type") == "initialize":
            value = function(context)
        else:
            value = function(base64.b64decode(message["event"]), context)
        reply: dict[str, Any] = {
            "type": "result",
            "requestId": request_id,
            "ok": True,
            "payload": base64.b64encode(_encode_result(value)).decode(),
        }
    except Exception as exc:  # an unhandled error fails the invocation, the instance lives on
        reply = {"type": "result", "requestId": request_id, "ok": False, "error": _report(exc)}
    sys.stdout.flush()
    print(END_MARKER + request_id, file=sys.stderr, flush=True)
    return reply


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--code-dir", required=True)
    parser.add_argument("--handler", required=True)
    parser.add_argument("--initializer", help="FC initializer, e.g. index.initialize")
    args = parser.parse_args(argv)

    proto_in, proto_out = _take_protocol_channel()
    request_filter = _configure_logging()
    _isolate_sys_path(args.code_dir)
    try:
        handler = _load_handler(args.code_dir, args.handler)  # the cold start
        initializer = _load_handler(args.code_dir, args.initializer) if args.initializer else None
    except Exception as exc:
        ready = {"type": "ready", "pid": os.getpid(), "error": _report(exc)}
        write_frame(proto_out, ready)
        return 1
    write_frame(proto_out, {"type": "ready", "pid": os.getpid(), "error": None})

    while True:
        message = read_frame(proto_in)
        if message is None or message.get("type") not in ("invoke", "initialize"):
            return 0
        if message["type"] == "initialize" and initializer is None:
            return 0
        function = initializer if message["type"] == "initialize" else handler
        write_frame(proto_out, _serve_one(message, function, request_filter))


if __name__ == "__main__":
    sys.exit(main())
