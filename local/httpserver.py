"""The HTTP plumbing every emulator shares: a threaded loopback server started as a context manager,
request logging, chunked-body reading and the connection-level faults (reset, hang, slow bodies).

Protocol logic lives in each emulator; this module knows nothing about alimt or OSS.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import struct
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar
from urllib.parse import parse_qsl

log = logging.getLogger("local")


@dataclass
class RequestRecord:
    """One served request, as the emulator saw it (for tests that count calls)."""

    method: str
    path: str
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)
    at: float = field(default_factory=time.time)


@dataclass
class IncomingRequest:
    """An API call as read off the wire (`EmulatorRequestHandler.read_request`)."""

    path: str
    query: list[tuple[str, str]]
    body: bytes


class QuietThreadingHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Client hang-ups during injected faults are expected; keep the test output readable.
        log.debug("connection error from %s", client_address, exc_info=True)


class EmulatorRequestHandler(BaseHTTPRequestHandler):
    """Base handler: HTTP/1.1 keep-alive, body helpers, fault helpers. `self.emulator` is the owner."""

    protocol_version = "HTTP/1.1"
    server_version = "LocalCloud/1.0"
    # TCP_NODELAY on every accepted socket: on a kept-alive connection a small response would
    # otherwise wait for the client's delayed ACK (Nagle), ~40 ms per request on loopback.
    disable_nagle_algorithm = True
    emulator: ClassVar[Any] = None

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.emulator.name if self.emulator else "-", *args)

    # ---- bodies -------------------------------------------------------------------------
    def read_body(self) -> bytes:
        return b"".join(self.iter_body())

    def iter_body(self, chunk_size: int = 1 << 16) -> Iterator[bytes]:
        """Yield the request body, whether sent with Content-Length or chunked."""
        if self.headers.get("Transfer-Encoding", "").lower() != "chunked":
            declared = int(self.headers.get("Content-Length") or 0)
            yield from self._read_exactly(declared, chunk_size, "client closed mid body")
            return
        while True:
            line = self.rfile.readline(65537)
            if not line:
                raise ConnectionError("client closed mid chunked body")
            size = int(line.split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                self._skip_trailers()
                return
            yield from self._read_exactly(size, chunk_size, "client closed mid chunk")
            self.rfile.readline(3)  # CRLF after the chunk

    def _read_exactly(self, remaining: int, chunk_size: int, short: str) -> Iterator[bytes]:
        while remaining:
            data = self.rfile.read(min(remaining, chunk_size))
            if not data:
                raise ConnectionError(short)
            remaining -= len(data)
            yield data

    def _skip_trailers(self) -> None:
        """Chunked trailers, up to the blank line that ends the body."""
        while True:
            trailer = self.rfile.readline(65537)
            if trailer in (b"\r\n", b"\n", b""):
                return

    def read_request(self) -> IncomingRequest | None:
        """The path, query pairs and body of an API call; None (the connection is closed) when the
        client went away before its body was complete."""
        try:
            body = self.read_body()
        except ConnectionError:
            self.close_connection = True
            return None
        path, _, raw_query = self.path.partition("?")
        return IncomingRequest(path, parse_qsl(raw_query, keep_blank_values=True), body)

    def send_bytes(
        self,
        status: int,
        body: bytes,
        headers: dict[str, str] | None = None,
        head_only: bool = False,
    ) -> None:
        self.send_response(status)
        hdrs = dict(headers or {})
        hdrs.setdefault("Content-Length", str(len(body)))
        for name, value in hdrs.items():
            self.send_header(name, value)
        self.end_headers()
        if body and not head_only and self.command != "HEAD":
            self.wfile.write(body)

    # ---- faults -------------------------------------------------------------------------
    def reset_connection(self) -> None:
        """Close with RST (SO_LINGER 0): the client sees 'connection reset by peer'."""
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.close()

    def hang(self, seconds: float) -> None:
        """Accept the request and say nothing for a while, then drop the connection."""
        time.sleep(seconds)
        self.close_connection = True


class ApiRequestHandler(EmulatorRequestHandler):
    """For the JSON APIs: every POST (or GET: the v2 RPC style may put everything in the query)
    goes to `emulator.handle(handler)`."""

    def do_POST(self) -> None:
        self.emulator.handle(self)

    def do_GET(self) -> None:
        self.emulator.handle(self)


class Emulator:
    """A loopback server on an ephemeral port, usable as a context manager or started from the CLI."""

    name = "emulator"
    handler_class: type[EmulatorRequestHandler] = EmulatorRequestHandler

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._host = host
        self._port = port
        self._server: QuietThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.requests: list[RequestRecord] = []
        self._requests_lock = threading.Lock()

    # lifecycle
    def start(self) -> Emulator:
        handler = type(f"{type(self).__name__}Handler", (self.handler_class,), {"emulator": self})
        self._server = QuietThreadingHTTPServer((self._host, self._port), handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=self.name,
            daemon=True,
        )
        self._thread.start()
        log.info("%s listening on %s", self.name, self.endpoint)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._server is not None, f"{self.name} is not started"
        return int(self._server.server_address[1])

    @property
    def host_port(self) -> str:
        return f"{self._host}:{self.port}"

    @property
    def endpoint(self) -> str:
        return f"http://{self.host_port}"

    # request log
    def record(self, rec: RequestRecord) -> None:
        with self._requests_lock:
            self.requests.append(rec)
        log.info("%s %s %s -> %s", self.name, rec.method, rec.path, rec.status)

    def clear_requests(self) -> None:
        with self._requests_lock:
            self.requests.clear()

    def requests_matching(
        self, method: str | None = None, path_contains: str | None = None
    ) -> list[RequestRecord]:
        with self._requests_lock:
            return [
                r
                for r in self.requests
                if (method is None or r.method == method)
                and (path_contains is None or path_contains in r.path)
            ]


@dataclass
class NetworkShape:
    """A crude model of a real network for benchmarks: a delay before the first byte of each
    response and a per-connection bandwidth cap. Zero values mean raw loopback."""

    ttfb_seconds: float = 0.0
    bandwidth_bytes_per_second: float = 0.0

    def first_byte_delay(self) -> None:
        if self.ttfb_seconds > 0:
            time.sleep(self.ttfb_seconds)

    def pace(self, started: float, bytes_so_far: int) -> None:
        """Sleep just enough that `bytes_so_far` since `started` stays under the bandwidth cap."""
        if self.bandwidth_bytes_per_second > 0:
            due = started + bytes_so_far / self.bandwidth_bytes_per_second
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)


def wait_for_interrupt() -> None:
    """Block until Ctrl-C: how each emulator's command line keeps serving."""
    with contextlib.suppress(KeyboardInterrupt):
        while True:
            time.sleep(3600)
