"""The reference copiers the collector is compared with, run in a child process of their own:

- naive:   what a first attempt looks like: sequential, each image downloaded whole into memory
  with `requests`, then written with `oss2.Bucket.put_object` (its default CRC check on).
- naive8:  the same, 8-wide with a thread pool (what a user would write next): as fast as the
  network allows, but every object in flight is held whole in memory.
- raw:     the floor: the same bytes relayed from the image host straight into OSS over the same
  number of connections, by a minimal loop (http.client, one reusable buffer, OSS V1 signature,
  chunked upload like the collector's) with no CRC, no checks, no retries and no logic.

Run as `python -m bench.copiers < spec.json`; prints one JSON line
{"seconds", "bytes", "peakRss", "cpuSeconds"}.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import json
import queue
import resource
import sys
import threading
import time
from email.utils import formatdate
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

BUFFER_BYTES = 256 * 1024


def naive(spec: dict[str, Any]) -> int:
    import oss2
    import requests

    bucket = oss2.Bucket(
        oss2.Auth(spec["accessKeyId"], spec["accessKeySecret"]),
        spec["ossEndpoint"],
        spec["bucket"],
    )
    session = requests.Session()
    total = 0
    for index, url in enumerate(spec["urls"]):
        response = session.get(url, timeout=60)
        response.raise_for_status()
        data = response.content
        bucket.put_object(f"{spec['prefix']}{index:03d}.png", data)
        total += len(data)
    return total


def naive8(spec: dict[str, Any]) -> int:
    from concurrent.futures import ThreadPoolExecutor

    import oss2
    import requests

    bucket = oss2.Bucket(
        oss2.Auth(spec["accessKeyId"], spec["accessKeySecret"]),
        spec["ossEndpoint"],
        spec["bucket"],
        session=oss2.Session(pool_size=spec["connections"]),
    )
    local = threading.local()

    def copy(item: tuple[int, str]) -> int:
        index, url = item
        if not hasattr(local, "session"):
            local.session = requests.Session()
        response = local.session.get(url, timeout=60)
        response.raise_for_status()
        data = response.content
        bucket.put_object(f"{spec['prefix']}{index:03d}.png", data)
        return len(data)

    with ThreadPoolExecutor(max_workers=spec["connections"]) as pool:
        return sum(pool.map(copy, enumerate(spec["urls"])))


def raw(spec: dict[str, Any]) -> int:
    oss = urlsplit(spec["ossEndpoint"])
    work: queue.Queue[tuple[int, str]] = queue.Queue()
    for item in enumerate(spec["urls"]):
        work.put(item)
    totals: list[int] = []
    errors: list[BaseException] = []

    def loop() -> None:
        source: http.client.HTTPConnection | None = None
        target = http.client.HTTPConnection(oss.hostname or "", oss.port, timeout=60)
        buffer = bytearray(BUFFER_BYTES)
        view = memoryview(buffer)
        copied = 0
        try:
            while True:
                try:
                    index, url = work.get_nowait()
                except queue.Empty:
                    break
                parts = urlsplit(url)
                if source is None:
                    source = http.client.HTTPConnection(
                        parts.hostname or "", parts.port, timeout=60
                    )
                source.request("GET", f"{parts.path}?{parts.query}")
                response = source.getresponse()
                key = f"{spec['prefix']}{index:03d}.png"
                date = formatdate(usegmt=True)
                content_type = "image/png"
                to_sign = f"PUT\n\n{content_type}\n{date}\n/{spec['bucket']}/{key}"
                signature = base64.b64encode(
                    hmac.new(
                        spec["accessKeySecret"].encode(), to_sign.encode(), hashlib.sha1
                    ).digest()
                ).decode()
                target.putrequest("PUT", f"/{spec['bucket']}/{quote(key, safe='/')}")
                target.putheader("Date", date)
                target.putheader("Content-Type", content_type)
                target.putheader("Transfer-Encoding", "chunked")
                target.putheader("Authorization", f"OSS {spec['accessKeyId']}:{signature}")
                target.endheaders()
                while True:
                    count = response.readinto(buffer)
                    if not count:
                        break
                    target.send(b"%x\r\n" % count)
                    target.send(view[:count])
                    target.send(b"\r\n")
                    copied += count
                target.send(b"0\r\n\r\n")
                answer = target.getresponse()
                answer.read()
                if answer.status != 200:
                    raise RuntimeError(f"PUT {key}: HTTP {answer.status}")
        except BaseException as exc:  # reported by the parent
            errors.append(exc)
        finally:
            totals.append(copied)

    threads = [threading.Thread(target=loop) for _ in range(spec["connections"])]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return sum(totals)


def peak_rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def main() -> int:
    spec = json.load(sys.stdin)
    if spec["kind"] in (
        "naive",
        "naive8",
    ):  # imported before the clock starts, like a warm instance
        import oss2  # noqa: F401
        import requests  # noqa: F401
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu_before = usage.ru_utime + usage.ru_stime
    started = time.monotonic()
    copied = {"naive": naive, "naive8": naive8, "raw": raw}[spec["kind"]](spec)
    seconds = time.monotonic() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu = usage.ru_utime + usage.ru_stime - cpu_before
    print(
        json.dumps(
            {"seconds": seconds, "bytes": copied, "peakRss": peak_rss_bytes(), "cpuSeconds": cpu}
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
