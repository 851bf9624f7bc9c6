"""The network model: what the emulators add to loopback so latency and concurrency can show."""

from __future__ import annotations

from dataclasses import dataclass

from local.cloud import LocalCloud

MB = 1_000_000  # throughput is reported in decimal MB/s, like network links
MiB = 1 << 20


@dataclass(frozen=True)
class NetworkModel:
    """A time to first byte on every request (image host, OSS, alimt) and a bandwidth cap per
    connection (image host downloads, OSS uploads and downloads). Zero values: raw loopback."""

    name: str
    ttfb_seconds: float = 0.0
    bandwidth_bytes_per_second: float = 0.0

    @property
    def shaped(self) -> bool:
        return self.ttfb_seconds > 0 or self.bandwidth_bytes_per_second > 0

    def describe(self) -> str:
        if not self.shaped:
            return f"{self.name}: raw loopback (no added latency, no bandwidth cap)"
        bandwidth = (
            f"{self.bandwidth_bytes_per_second / MB:g} MB/s per connection"
            if self.bandwidth_bytes_per_second
            else "no bandwidth cap"
        )
        return (
            f"{self.name}: {self.ttfb_seconds * 1000:g} ms to first byte per request "
            f"(image host, OSS, alimt), {bandwidth} (image host, OSS)"
        )

    def apply(self, cloud: LocalCloud) -> None:
        for shape in (cloud.images.shape, cloud.oss.shape):
            shape.ttfb_seconds = self.ttfb_seconds
            shape.bandwidth_bytes_per_second = self.bandwidth_bytes_per_second
        cloud.alimt.network.ttfb_seconds = self.ttfb_seconds


def shaped(ttfb_ms: float = 30.0, bandwidth_mb_s: float = 25.0) -> NetworkModel:
    return NetworkModel("shaped", ttfb_ms / 1000.0, bandwidth_mb_s * MB)


UNSHAPED = NetworkModel("unshaped")
