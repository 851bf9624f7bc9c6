"""The image host, exercised over real HTTP with requests/urllib3 (the collector's clients)."""

from __future__ import annotations

import hashlib
import io
import logging
import os
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, quote, urlsplit

import oss2
import pytest
import requests
import urllib3
from PIL import Image

from local.clock import Clock
from local.httpserver import NetworkShape
from local.image_host import ImageHost
from tests.local.conftest import PROXY_VARS

REPO_ROOT = Path(__file__).resolve().parents[2]
MiB = 1024 * 1024


@pytest.fixture(scope="module")
def _shared() -> Iterator[tuple[ImageHost, Clock]]:
    # One server per module: stopping a server waits out its poll interval, so per-test servers
    # would dominate the run time. The `host` fixture resets everything a test can change.
    clock = Clock()
    with ImageHost(clock, signing_key=b"test-signing-key") as images:
        yield images, clock


@pytest.fixture
def clock(_shared: tuple[ImageHost, Clock]) -> Clock:
    return _shared[1]


@pytest.fixture
def host(_shared: tuple[ImageHost, Clock]) -> Iterator[ImageHost]:
    images, clock = _shared
    yield images
    images.clear_faults()
    images.clear_requests()
    images.shape = NetworkShape()
    clock.reset()


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        session.trust_env = False
        yield session


@pytest.fixture
def pool() -> Iterator[urllib3.PoolManager]:
    manager = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(connect=2, read=5))
    yield manager
    manager.clear()


def _download(pool: urllib3.PoolManager, url: str) -> tuple[int, int, str, dict[str, str]]:
    """Stream a body: (length, crc64, sha256, headers), without holding it in memory."""
    resp = pool.request("GET", url, preload_content=False, enforce_content_length=True)
    assert resp.status == 200
    crc = oss2.utils.Crc64(0)
    digest = hashlib.sha256()
    length = 0
    for piece in resp.stream(1 << 16):
        crc.update(piece)
        digest.update(piece)
        length += len(piece)
    resp.release_conn()
    return length, int(crc.crc), digest.hexdigest(), dict(resp.headers)


def _open_image(data: bytes) -> Image.Image:
    Image.open(io.BytesIO(data)).verify()  # structure (and, for PNG, every chunk CRC)
    image = Image.open(io.BytesIO(data))
    image.load()  # pixels decode too
    return image


# ---- real images -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("fmt", "ext", "pil_format", "content_type"),
    [("png", "png", "PNG", "image/png"), ("jpg", "jpg", "JPEG", "image/jpeg")],
)
def test_small_image_is_a_real_decodable_image(
    host: ImageHost, http: requests.Session, fmt: str, ext: str, pil_format: str, content_type: str
) -> None:
    url = host.add_image("task1/final", size_bytes=12_000, fmt=fmt)
    resp = http.get(url, timeout=5)
    assert resp.status_code == 200
    assert resp.headers["Content-Type"] == content_type
    assert int(resp.headers["Content-Length"]) == len(resp.content) == 12_000
    assert host.image_size("task1/final") == 12_000
    image = _open_image(resp.content)
    assert image.format == pil_format
    assert image.size == (320, 240)
    assert urlsplit(url).path == f"/task1/final.{ext}"


def test_jpeg_alias_and_unknown_format(host: ImageHost) -> None:
    assert urlsplit(host.add_image("x", size_bytes=9000, fmt="jpeg")).path == "/x.jpg"
    with pytest.raises(ValueError):
        host.add_image("y", size_bytes=9000, fmt="gif")


def test_url_is_shaped_like_an_oss_signed_url(host: ImageHost, clock: Clock) -> None:
    url = host.add_image("a/b c", size_bytes=5000, ttl_seconds=600)
    parts = urlsplit(url)
    assert parts.scheme == "http"
    assert parts.netloc == host.host_port
    assert parts.path == "/a/b%20c.png"
    query = parse_qs(parts.query)
    assert set(query) == {"Expires", "OSSAccessKeyId", "Signature"}
    assert query["OSSAccessKeyId"][0].startswith("LTAI")
    assert abs(int(query["Expires"][0]) - (clock.now() + 600)) <= 1
    assert len(query["Signature"][0]) == 28  # base64 of an HMAC-SHA1


@pytest.mark.parametrize(("fmt", "marker"), [("png", b"zzPd"), ("jpg", b"\xff\xfe")])
def test_padded_image_stays_valid(
    host: ImageHost, http: requests.Session, fmt: str, marker: bytes
) -> None:
    size = 3 * MiB + 12_345
    url = host.add_image("padded", size_bytes=size, fmt=fmt)
    data = http.get(url, timeout=5).content
    assert len(data) == size
    assert marker in data[:20_000]  # the padding is really framed as a chunk/segment
    assert _open_image(data).size == (320, 240)
    assert data == b"".join(host.image_bytes_iter("padded"))


def test_corrupted_png_padding_is_detected_by_pillow(
    host: ImageHost, http: requests.Session
) -> None:
    # Guards the validity test above: Pillow really checks the padding chunk CRCs.
    data = bytearray(http.get(host.add_image("p", size_bytes=200_000), timeout=5).content)
    data[100_000] ^= 0xFF
    with pytest.raises(SyntaxError):
        Image.open(io.BytesIO(bytes(data))).verify()


@pytest.mark.parametrize("fmt", ["png", "jpg"])
def test_size_below_the_base_image_still_gives_a_valid_image(
    host: ImageHost, http: requests.Session, fmt: str
) -> None:
    data = http.get(host.add_image("tiny", size_bytes=100, fmt=fmt), timeout=5).content
    assert len(data) == host.image_size("tiny") >= 100
    assert _open_image(data).size == (320, 240)


def test_large_image_streams_exact_length_and_identical_bytes(
    host: ImageHost, pool: urllib3.PoolManager
) -> None:
    size = 30 * MiB
    url = host.add_image("big/final", size_bytes=size)
    first = _download(pool, url)
    second = _download(pool, url)
    assert first[0] == second[0] == size
    assert int(first[3]["Content-Length"]) == size
    assert first[1:3] == second[1:3]
    assert first[1] == host.expected_crc64("big/final")
    assert first[3]["x-oss-hash-crc64ecma"] == str(first[1])


def test_images_are_deterministic_per_name_across_hosts(clock: Clock) -> None:
    crcs = []
    for key in (b"k1", b"k2"):
        with ImageHost(clock, signing_key=key) as images:
            images.add_image("same", size_bytes=300_000, fmt="jpg")
            images.add_image("other", size_bytes=300_000, fmt="jpg")
            crcs.append((images.expected_crc64("same"), images.expected_crc64("other")))
    assert crcs[0] == crcs[1]
    assert crcs[0][0] != crcs[0][1]


def test_head_returns_headers_only(host: ImageHost, http: requests.Session) -> None:
    url = host.add_image("h", size_bytes=80_000, fmt="jpg")
    resp = http.head(url, timeout=5)
    assert resp.status_code == 200
    assert resp.headers["Content-Length"] == "80000"
    assert resp.headers["Content-Type"] == "image/jpeg"
    assert resp.content == b""
    assert http.get(url, timeout=5).status_code == 200  # keep-alive connection still usable


# ---- signatures, expiry, 404 -------------------------------------------------------------------
def _error_code(resp: requests.Response) -> str:
    body = resp.text
    return body.split("<Code>", 1)[1].split("</Code>", 1)[0]


def test_expired_url_is_refused(host: ImageHost, http: requests.Session, clock: Clock) -> None:
    url = host.add_image("e", size_bytes=5000, ttl_seconds=60)
    assert http.get(url, timeout=5).status_code == 200
    clock.advance(61)
    resp = http.get(url, timeout=5)
    assert resp.status_code == 403
    assert _error_code(resp) == "AccessDenied"
    assert "Request has expired" in resp.text
    assert http.get(host.url_for("e"), timeout=5).status_code == 200  # a fresh URL works


def test_tampered_or_missing_signature_is_refused(host: ImageHost, http: requests.Session) -> None:
    url = host.add_image("s", size_bytes=5000)
    other = host.add_image("t", size_bytes=5000)
    sig = parse_qs(urlsplit(url).query)["Signature"][0]
    flipped = ("A" if sig[0] != "A" else "B") + sig[1:]
    tampered = url.split("Signature=")[0] + "Signature=" + quote(flipped, safe="")
    resp = http.get(tampered, timeout=5)
    assert resp.status_code == 403
    assert _error_code(resp) == "SignatureDoesNotMatch"
    # a valid signature for another object does not open this one
    other_sig = urlsplit(other).query.split("Signature=", 1)[1]
    swapped = url.split("Signature=")[0] + "Signature=" + other_sig
    assert http.get(swapped, timeout=5).status_code == 403
    unsigned = http.get(url.split("?")[0], timeout=5)
    assert unsigned.status_code == 403
    assert _error_code(unsigned) == "AccessDenied"
    assert unsigned.headers["Content-Type"] == "application/xml"


def test_wrong_signing_key_is_refused(clock: Clock, http: requests.Session) -> None:
    with (
        ImageHost(clock, signing_key=b"one") as first,
        ImageHost(clock, signing_key=b"two") as second,
    ):
        url = first.add_image("k", size_bytes=5000)
        second.add_image("k", size_bytes=5000)
        foreign = url.replace(first.host_port, second.host_port)
        assert http.get(foreign, timeout=5).status_code == 403


def test_unknown_and_removed_images_are_404(host: ImageHost, http: requests.Session) -> None:
    resp = http.get(host.url_for("never/added"), timeout=5)
    assert resp.status_code == 404
    assert _error_code(resp) == "NoSuchKey"
    url = host.add_image("gone", size_bytes=5000)
    host.remove_image("gone")
    assert http.get(url, timeout=5).status_code == 404
    with pytest.raises(KeyError):
        host.image_size("gone")


# ---- faults ------------------------------------------------------------------------------------
def test_truncate_gives_an_incomplete_read(host: ImageHost, pool: urllib3.PoolManager) -> None:
    url = host.add_image("tr/final", size_bytes=500_000)
    host.inject("tr/*", "truncate:100000", count=1)
    resp = pool.request("GET", url, preload_content=False, enforce_content_length=True)
    assert resp.headers["Content-Length"] == "500000"  # the full length is announced
    with pytest.raises(urllib3.exceptions.ProtocolError) as excinfo:
        resp.read()
    assert "IncompleteRead" in repr(excinfo.value)
    resp.release_conn()
    assert host.requests_matching(path_contains="tr/final")[-1].info["bytes_sent"] == 100_000
    assert _download(pool, url)[0] == 500_000  # count=1: the next request is whole


def test_truncate_surfaces_in_requests(host: ImageHost, http: requests.Session) -> None:
    url = host.add_image("tr2", size_bytes=300_000, fmt="jpg")
    host.inject("tr2", "truncate:10")
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        http.get(url, timeout=5)


def test_wrong_length_larger_than_body(host: ImageHost, pool: urllib3.PoolManager) -> None:
    url = host.add_image("wl", size_bytes=50_000)
    host.inject("wl", "wrong-length:60000", count=1)
    resp = pool.request("GET", url, preload_content=False, enforce_content_length=True)
    assert resp.headers["Content-Length"] == "60000"
    with pytest.raises(urllib3.exceptions.ProtocolError):
        resp.read()
    resp.release_conn()


def test_wrong_length_smaller_than_body(host: ImageHost, http: requests.Session) -> None:
    url = host.add_image("ws", size_bytes=50_000)
    host.inject("ws", "wrong-length:20000", count=1)
    resp = http.get(url, timeout=5)  # looks like a complete, shorter response
    assert resp.status_code == 200
    assert len(resp.content) == 20_000
    whole = b"".join(host.image_bytes_iter("ws"))
    assert resp.content == whole[:20_000]
    assert http.get(url, timeout=5).content == whole


def test_bad_crc_header(host: ImageHost, http: requests.Session) -> None:
    url = host.add_image("c", size_bytes=40_000)
    host.inject("c", "bad-crc", count=1)
    resp = http.get(url, timeout=5)
    assert resp.headers["x-oss-hash-crc64ecma"] != str(host.expected_crc64("c"))
    assert resp.content == b"".join(host.image_bytes_iter("c"))


def test_slow_body(host: ImageHost, http: requests.Session) -> None:
    url = host.add_image("slow", size_bytes=150_000)
    host.inject("slow", "slow:300000")
    started = time.monotonic()
    assert len(http.get(url, timeout=5).content) == 150_000
    elapsed = time.monotonic() - started
    assert 0.4 <= elapsed < 2.0


def test_ttfb_fault_delays_the_headers(host: ImageHost, http: requests.Session) -> None:
    url = host.add_image("late", size_bytes=5000)
    host.inject("late", "ttfb:0.5", count=1)
    started = time.monotonic()
    assert http.get(url, timeout=5).status_code == 200
    assert time.monotonic() - started >= 0.5
    started = time.monotonic()
    http.get(url, timeout=5)
    assert time.monotonic() - started < 0.4


def test_redirect_points_anywhere(host: ImageHost, http: requests.Session) -> None:
    url = host.add_image("r", size_bytes=5000)
    target = "http://169.254.169.254/latest/meta-data/"
    host.inject("r", f"redirect:{target}")
    resp = http.get(url, timeout=5, allow_redirects=False)
    assert resp.status_code == 302
    assert resp.headers["Location"] == target


def test_reset_is_a_connection_error(host: ImageHost, http: requests.Session) -> None:
    url = host.add_image("rst", size_bytes=5000)
    host.inject("rst", "reset", count=1)
    with pytest.raises(requests.exceptions.ConnectionError):
        http.get(url, timeout=5)
    assert http.get(url, timeout=5).status_code == 200


@pytest.mark.parametrize(
    ("fault", "status", "code"),
    [
        ("http:503", 503, "ServiceUnavailable"),
        ("http:500", 500, "InternalError"),
        ("404", 404, "NoSuchKey"),
        ("403", 403, "AccessDenied"),
    ],
)
def test_status_faults_then_recovery(
    host: ImageHost, http: requests.Session, fault: str, status: int, code: str
) -> None:
    url = host.add_image("f/final", size_bytes=5000)
    host.inject("f/*", fault, count=2)
    for _ in range(2):
        resp = http.get(url, timeout=5)
        assert resp.status_code == status
        assert _error_code(resp) == code
    assert http.get(url, timeout=5).status_code == 200


def test_faults_match_by_glob_and_clear(host: ImageHost, http: requests.Session) -> None:
    hit = host.add_image("task9/final", size_bytes=5000)
    miss = host.add_image("task9x/final", size_bytes=5000)
    host.inject("task9/*.png", "http:500")
    assert http.get(hit, timeout=5).status_code == 500
    assert http.get(hit, timeout=5).status_code == 500  # no count: forever
    assert http.get(miss, timeout=5).status_code == 200
    host.clear_faults()
    assert http.get(hit, timeout=5).status_code == 200


def test_first_outcome_fault_wins_and_modifiers_combine(
    host: ImageHost, http: requests.Session
) -> None:
    url = host.add_image("m", size_bytes=5000)
    host.inject("m", "ttfb:0.3", count=1)
    host.inject("m", "http:503", count=1)
    host.inject("m", "404", count=1)
    started = time.monotonic()
    assert http.get(url, timeout=5).status_code == 503
    assert time.monotonic() - started >= 0.3
    assert http.get(url, timeout=5).status_code == 404
    assert http.get(url, timeout=5).status_code == 200


def test_bad_fault_specs_are_rejected(host: ImageHost) -> None:
    for spec in ("boom", "truncate", "truncate:x", "slow:", "http:abc"):
        with pytest.raises(ValueError):
            host.inject("*", spec)


# ---- counters and logging ----------------------------------------------------------------------
def test_counts_and_request_log_hide_the_signature(
    host: ImageHost, http: requests.Session, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="local")
    url = host.add_image("log/final", size_bytes=5000)
    signature = urlsplit(url).query.split("Signature=", 1)[1]
    http.get(url, timeout=5)
    http.head(url, timeout=5)
    http.get(url.split("?")[0], timeout=5)
    assert host.get_count("log/final") == 3
    assert host.get_count("log/final.png") == 3
    assert host.get_count("other") == 0
    records = host.requests_matching(path_contains="log/final")
    assert [(r.method, r.status) for r in records] == [("GET", 200), ("HEAD", 200), ("GET", 403)]
    assert all(r.path == "/log/final.png" for r in records)
    assert caplog.records  # the host does log requests...
    for text in (signature, "Signature", "Expires="):
        assert text not in caplog.text  # ...but never the signed query


# ---- memory and network shape ------------------------------------------------------------------
def test_serving_50mb_does_not_buffer_the_image(host: ImageHost, pool: urllib3.PoolManager) -> None:
    url = host.add_image("huge", size_bytes=50 * MiB, fmt="jpg")
    tracemalloc.start()
    try:
        baseline, _ = tracemalloc.get_traced_memory()
        length = _download(pool, url)[0]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert length == 50 * MiB
    assert peak - baseline < 4 * MiB


def test_network_shape_paces_bandwidth_and_ttfb(host: ImageHost, http: requests.Session) -> None:
    url = host.add_image("shaped", size_bytes=MiB)
    host.shape.bandwidth_bytes_per_second = 2 * MiB
    started = time.monotonic()
    assert len(http.get(url, timeout=5).content) == MiB
    elapsed = time.monotonic() - started
    assert 0.45 <= elapsed < 1.5
    host.shape.bandwidth_bytes_per_second = 0
    host.shape.ttfb_seconds = 0.3
    started = time.monotonic()
    http.head(url, timeout=5)
    assert time.monotonic() - started >= 0.3


# ---- command line ------------------------------------------------------------------------------
@pytest.mark.timeout(30)
def test_command_line_serves_sample_images(http: requests.Session) -> None:
    env = {k: v for k, v in os.environ.items() if k not in PROXY_VARS}
    proc = subprocess.Popen(
        [sys.executable, "-m", "local.image_host", "--port", "0"],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert "listening" in proc.stdout.readline()
        urls = [proc.stdout.readline().strip() for _ in range(3)]
        assert all(u.startswith("http://127.0.0.1:") and "Signature=" in u for u in urls)
        resp = http.get(urls[0], timeout=5)
        assert resp.status_code == 200
        assert _open_image(resp.content).format == "PNG"
    finally:
        proc.terminate()
        proc.wait(timeout=5)
