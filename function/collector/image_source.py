"""Downloading result images safely: only https, only allowed hosts, never an internal address.

The URL in a result is data from outside. Before any byte is fetched the host must match
ALLOWED_SOURCE_HOSTS and every address it resolves to must be public; the connection then goes to
the address that was checked (no second DNS lookup to rebind), and each redirect is checked the same
way. ALLOW_INSECURE_SOURCES (local runs only) additionally permits http and loopback, nothing else.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import SplitResult, urljoin, urlsplit

from collector.budget import Deadline
from collector.errors import BudgetCode, CollectorError, ImageCode, Source
from collector.redaction import strip_query

CHUNK_BYTES = 256 * 1024
GATHER_SECONDS = 1.0  # a slow body's bytes are passed on to the upload at least this often
MAX_REDIRECTS = 3
_METADATA = ipaddress.ip_address("100.100.100.200")
_SHARED = ipaddress.ip_network("100.64.0.0/10")  # carrier-grade NAT; holds the metadata address
_EXTENSIONS = {
    "image/png": "png",
    "image/jpeg": "jpg",
    "image/jpg": "jpg",
    "image/webp": "webp",
    "image/gif": "gif",
    "image/bmp": "bmp",
}
_PATH_EXTENSIONS = {"png", "jpg", "jpeg", "webp", "gif", "bmp"}


@dataclass(frozen=True)
class SourcePolicy:
    allowed_hosts: tuple[str, ...]
    allow_insecure: bool = False

    def check_url(self, url: str) -> tuple[str, str, int]:
        """(scheme, host, port) of an acceptable URL, or CollectorError image:NotAllowed."""
        shown = strip_query(url)
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            raise _refused(f"malformed URL {shown!r}") from None
        scheme = parts.scheme.lower()
        host = (parts.hostname or "").lower()
        self._check_parts(parts, scheme, host, shown)
        port = port or (443 if scheme == "https" else 80)
        if not self._host_allowed(host, port):
            raise _refused(f"host {host!r} is not in ALLOWED_SOURCE_HOSTS: {shown}")
        return scheme, host, port

    def _check_parts(self, parts: SplitResult, scheme: str, host: str, shown: str | None) -> None:
        if scheme not in ("https", "http") or (scheme == "http" and not self.allow_insecure):
            raise _refused(f"scheme {scheme or 'none'!r} is not allowed: {shown}")
        if not host:
            raise _refused(f"URL has no host: {shown}")
        if parts.username or parts.password:
            raise _refused(f"URL carries credentials: {strip_query(parts.geturl().split('@')[-1])}")

    def _host_allowed(self, host: str, port: int) -> bool:
        return any(_host_matches(pattern, host, port) for pattern in self.allowed_hosts)

    def check_address(self, address: str) -> None:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        if ip.is_loopback and self.allow_insecure:
            return
        if _is_internal(ip):
            raise _refused(f"address {ip} is internal")

    def resolve(self, host: str, port: int) -> str:
        """Resolve and vet every address; return the one to connect to."""
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as exc:
            raise CollectorError(
                Source.IMAGE, ImageCode.CONNECTION_ERROR, f"cannot resolve {host}: {exc}"
            ) from None
        addresses = [str(info[4][0]) for info in infos]
        if not addresses:
            raise CollectorError(Source.IMAGE, ImageCode.CONNECTION_ERROR, f"{host} has no address")
        for address in addresses:  # all of them: any one could be picked by a later lookup
            self.check_address(address)
        return addresses[0]


def _host_matches(pattern: str, host: str, port: int) -> bool:
    """One ALLOWED_SOURCE_HOSTS entry: `name`, `*.suffix`, either with `:port`."""
    name, _, want_port = pattern.rpartition(":") if _has_port(pattern) else (pattern, "", "")
    name = name.strip("[]")
    if want_port and int(want_port) != port:
        return False
    if name.startswith("*."):
        return host.endswith(name[1:]) and len(host) > len(name) - 1
    return host == name


def _is_internal(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Anything but a public address (the metadata service, private, shared, loopback ...)."""
    if ip == _METADATA or (isinstance(ip, ipaddress.IPv4Address) and ip in _SHARED):
        return True
    flags = (ip.is_private, ip.is_loopback, ip.is_link_local, ip.is_multicast, ip.is_reserved)
    return any(flags) or ip.is_unspecified or not ip.is_global


# One request, its body streamed as sent: redirects are followed (and vetted) by `open`, retries are
# the policy's (retry.py), and the pool is per vetted address, so the Host header differs from it.
_STREAMED_GET: dict[str, bool] = {
    "redirect": False,
    "retries": False,
    "preload_content": False,
    "decode_content": False,
    "assert_same_host": False,
}


def _status_error(status: int, shown: str | None) -> CollectorError:
    """What a result image host's non-200 answer means (the policy table decides the rest)."""
    if status in (403, 404, 410):
        return CollectorError(Source.IMAGE, str(status), f"{shown} answered {status}")
    if status >= 500:
        return CollectorError(Source.IMAGE, ImageCode.HTTP5XX, f"{shown} answered {status}")
    if status == 429:
        return CollectorError(Source.IMAGE, ImageCode.HTTP5XX, f"{shown} throttled (429)")
    return CollectorError(Source.IMAGE, ImageCode.HTTP4XX, f"{shown} answered {status}")


def _content_length(header: str | None) -> int | None:
    # isdigit() alone accepts '²', which int() refuses: only ASCII digits are a length
    return int(header) if header and header.isascii() and header.isdigit() else None


def _has_port(pattern: str) -> bool:
    return pattern.rsplit(":", 1)[-1].isdigit() and ("]" in pattern or pattern.count(":") == 1)


def _refused(detail: str) -> CollectorError:
    return CollectorError(Source.IMAGE, ImageCode.NOT_ALLOWED, detail)


@dataclass
class OpenImage:
    """A download in progress: headers are read, the body is streamed by `chunks()`."""

    url: str
    content_type: str
    content_length: int | None
    _response: Any
    _deadline: Deadline
    _max_bytes: int
    _complete: bool = False
    # The host's x-oss-hash-crc64ecma: what the bytes must hash to. Not checked here (that would be
    # a CRC pass over every byte): the store compares it with the CRC of the object it stored.
    crc64: str | None = None

    @property
    def extension(self) -> str:
        ext = _EXTENSIONS.get(self.content_type.split(";", 1)[0].strip().lower())
        if ext:
            return ext
        path_ext = (urlsplit(self.url).path.rsplit(".", 1)[-1] or "").lower()
        if path_ext in _PATH_EXTENSIONS:
            return "jpg" if path_ext == "jpeg" else path_ext
        return "bin"

    def chunks(self) -> Iterator[bytes]:
        """Yield the body; raise a classified error on truncation, oversize or the deadline."""
        from http.client import HTTPException

        from urllib3.exceptions import HTTPError as Urllib3Error

        received = 0
        shown = strip_query(self.url)
        read1 = _socket_reader(self._response)
        transport_errors = (Urllib3Error, HTTPException, OSError)
        try:
            while True:
                chunk = self._read_block(shown, read1, transport_errors)
                if not chunk:
                    break
                received += len(chunk)
                if received > self._max_bytes:
                    raise CollectorError(
                        Source.IMAGE,
                        ImageCode.TOO_LARGE,
                        f"{shown} exceeds {self._max_bytes} bytes",
                    )
                yield chunk
            if self.content_length is not None and received != self.content_length:
                raise CollectorError(
                    Source.IMAGE,
                    ImageCode.TRUNCATED,
                    f"{shown}: got {received} of {self.content_length} bytes",
                )
            _end_of_body(self._response)
            self._complete = True  # read to its end and whole: the connection may be reused
        finally:
            self.close()

    def _read_block(self, shown: str | None, read1: Any, transport_errors: Any) -> bytes:
        """Up to CHUNK_BYTES of the body (b"" at its end), gathered from socket reads. read1 brings
        what one socket read has (~64 KiB), so a trickling body cannot hold us past the deadline,
        checked between reads; gathering them makes everything downstream (the SDK's layers, the
        chunked upload's framing, a CRC update) run once per 256 KiB, not once per read.
        A slow body is passed on at least every GATHER_SECONDS, so the upload never sits idle."""
        pieces: list[bytes] = []
        size = 0
        started = time.monotonic()
        while size < CHUNK_BYTES:
            if self._deadline.expired():
                raise CollectorError(
                    Source.BUDGET, BudgetCode.DEADLINE_EXCEEDED, f"downloading {shown}"
                )
            try:
                piece = read1(CHUNK_BYTES - size)
            except transport_errors as exc:
                raise _transport_error(exc, shown) from None
            if not piece:
                break
            pieces.append(piece)
            size += len(piece)
            if time.monotonic() - started > GATHER_SECONDS:
                break
        return pieces[0] if len(pieces) == 1 else b"".join(pieces)

    def close(self) -> None:
        _discard(self._response, reusable=self._complete)


def _socket_reader(response: Any) -> Any:
    """The cheapest read1 for this response's body. urllib3 (preload_content and decode_content
    off) adds only bookkeeping to http.client's read1: a context manager and four Python calls per
    socket read. So read the http.client response under it directly when it is there and nothing
    was read through urllib3 yet. http.client still frames the body (Content-Length or chunked,
    never past its end) and answers b"" at its end, early if the body is short (`chunks` checks
    the length itself) or raises IncompleteRead (chunked); `_end_of_body` closes it."""
    import http.client

    raw = getattr(response, "_fp", None)
    if isinstance(raw, http.client.HTTPResponse) and not getattr(response, "_fp_bytes_read", 1):
        return raw.read1
    return response.read1


def _end_of_body(response: Any) -> None:
    """Mark http.client's response done once its body was read whole, as urllib3's own read1 does:
    up to CPython 3.12 http.client's read1 leaves it open at the end of the body
    (python/cpython#113199), and a connection whose last response is open cannot send the next
    request (ResponseNotReady)."""
    raw = getattr(response, "_fp", None)
    if raw is not None and not getattr(raw, "closed", True):
        raw.close()


def _discard(response: Any, *, reusable: bool) -> None:
    """Give the connection back only when its body was read to the end; otherwise close it, so a
    half-read response can never be mistaken for the next one."""
    try:
        if not reusable:
            response.close()
        response.release_conn()
    except Exception:  # pragma: no cover - best effort cleanup
        pass


def _transport_error(exc: BaseException, shown: str | None) -> CollectorError:
    name = type(exc).__name__
    text = str(exc).lower()
    if "timed out" in text or "timeout" in name.lower():
        return CollectorError(Source.IMAGE, ImageCode.TIMEOUT, f"{shown}: {name}")
    if "incompleteread" in text or "incomplete" in name.lower() or "protocol" in name.lower():
        return CollectorError(Source.IMAGE, ImageCode.TRUNCATED, f"{shown}: {name}")
    return CollectorError(Source.IMAGE, ImageCode.CONNECTION_ERROR, f"{shown}: {name}")


class ImageSource:
    """Opens result image URLs through the policy. Connection pools are per vetted address."""

    def __init__(self, policy: SourcePolicy, *, timeout_seconds: float, max_bytes: int) -> None:
        import urllib3

        self._urllib3 = urllib3
        self.policy = policy
        self._timeout = urllib3.Timeout(connect=min(5.0, timeout_seconds), read=timeout_seconds)
        self._max_bytes = max_bytes
        self._pools: dict[tuple[str, str, int, str], Any] = {}
        self._lock = threading.Lock()

    def open(self, url: str, deadline: Deadline) -> OpenImage:
        current = url
        for _hop in range(MAX_REDIRECTS + 1):
            scheme, host, port = self.policy.check_url(current)
            address = self.policy.resolve(host, port)
            response = self._get(scheme, host, port, address, current, deadline)
            if response.status in (301, 302, 303, 307, 308):
                location = response.headers.get("Location")
                _discard(response, reusable=False)
                if not location:
                    raise CollectorError(
                        Source.IMAGE, ImageCode.HTTP4XX, "redirect without Location"
                    )
                current = urljoin(current, location)
                continue
            return self._accept(response, current, deadline)
        raise CollectorError(
            Source.IMAGE,
            ImageCode.TOO_MANY_REDIRECTS,
            f"{strip_query(url)} redirects more than {MAX_REDIRECTS} times",
        )

    def _get(
        self, scheme: str, host: str, port: int, address: str, url: str, deadline: Deadline
    ) -> Any:
        from urllib3.exceptions import HTTPError as Urllib3Error

        parts = urlsplit(url)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        default_port = 443 if scheme == "https" else 80
        host_header = host if port == default_port else f"{host}:{port}"
        pool = self._pool(scheme, host, port, address)
        timeout = self._timeout
        remaining = deadline.remaining()
        if remaining <= 0:
            raise CollectorError(
                Source.BUDGET, BudgetCode.DEADLINE_EXCEEDED, f"before {strip_query(url)}"
            )
        if remaining < (timeout.read_timeout or remaining):
            timeout = self._urllib3.Timeout(connect=min(5.0, remaining), read=remaining)
        try:
            return pool.urlopen(
                "GET",
                target,
                headers={
                    "Host": host_header,
                    "Accept": "image/*,*/*;q=0.5",
                    "User-Agent": "alimt-result-collector",
                },
                timeout=timeout,
                **_STREAMED_GET,
            )
        except (Urllib3Error, OSError) as exc:
            raise _transport_error(exc, strip_query(url)) from None

    def _pool(self, scheme: str, host: str, port: int, address: str) -> Any:
        key = (scheme, address, port, host)
        with self._lock:
            pool = self._pools.get(key)
            if pool is None:
                if scheme == "https":
                    # Connect to the vetted address; TLS still verifies the certificate for `host`.
                    pool = self._urllib3.HTTPSConnectionPool(
                        address,
                        port,
                        maxsize=16,
                        server_hostname=host,
                        assert_hostname=host,
                        cert_reqs="CERT_REQUIRED",
                    )
                else:
                    pool = self._urllib3.HTTPConnectionPool(address, port, maxsize=16)
                self._pools[key] = pool
            return pool

    def _accept(self, response: Any, url: str, deadline: Deadline) -> OpenImage:
        shown = strip_query(url)
        status = int(response.status)
        if status != 200:
            _discard(response, reusable=False)
            raise _status_error(status, shown)
        length = _content_length(response.headers.get("Content-Length"))
        if length is not None and length > self._max_bytes:
            _discard(response, reusable=False)
            raise CollectorError(
                Source.IMAGE,
                ImageCode.TOO_LARGE,
                f"{shown} is {length} bytes; MAX_IMAGE_BYTES is {self._max_bytes}",
            )
        content_type = response.headers.get("Content-Type", "application/octet-stream")
        crc64 = (response.headers.get("x-oss-hash-crc64ecma") or "").strip()
        return OpenImage(
            url,
            content_type,
            length,
            response,
            deadline,
            self._max_bytes,
            crc64=crc64 if crc64.isdigit() else None,
        )

    def close(self) -> None:
        with self._lock:
            for pool in self._pools.values():
                pool.close()
            self._pools.clear()
