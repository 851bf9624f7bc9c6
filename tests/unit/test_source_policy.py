"""SourcePolicy: only https on allowed hosts, never an internal address, before any byte is fetched."""

from __future__ import annotations

import pytest

from collector.errors import CollectorError
from collector.image_source import SourcePolicy

STRICT = SourcePolicy(("*.aliyuncs.com", "cdn.example.com"))
LOCAL = SourcePolicy(("127.0.0.1", "localhost"), allow_insecure=True)


@pytest.mark.parametrize(
    "url",
    [
        "https://mt-result.oss-cn-hangzhou.aliyuncs.com/x.png?Signature=1",
        "https://a.b.aliyuncs.com/x.png",
        "https://cdn.example.com/x.jpg",
        "https://cdn.example.com:443/x.jpg",
    ],
)
def test_allowed_urls(url: str) -> None:
    scheme, host, port = STRICT.check_url(url)
    assert scheme == "https" and port == 443 and host


@pytest.mark.parametrize(
    "url",
    [
        "http://mt-result.oss-cn-hangzhou.aliyuncs.com/x.png",  # not https
        "file:///etc/passwd",
        "ftp://cdn.example.com/x",
        "https://aliyuncs.com.evil.com/x.png",
        "https://evilaliyuncs.com/x.png",
        "https://aliyuncs.com/x.png",  # the wildcard means a subdomain
        "https://127.0.0.1/x.png",
        "https://[::1]/x.png",
        "https://2130706433/x.png",
        "https://0x7f000001/x.png",
        "https://100.100.100.200/latest/meta-data",
        "https://user:pw@cdn.example.com/x.png",
        "https://",
        "https://cdn.example.com:99999/x",
    ],
)
def test_refused_urls(url: str) -> None:
    with pytest.raises(CollectorError) as caught:
        STRICT.check_url(url)
    assert caught.value.key == "image:NotAllowed"


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "172.31.255.255",
        "192.168.1.1",
        "169.254.169.254",
        "100.100.100.200",
        "100.64.0.1",
        "0.0.0.0",
        "::1",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "fe80::1",
        "fc00::1",
        "224.0.0.1",
    ],
)
def test_internal_addresses_are_refused(address: str) -> None:
    with pytest.raises(CollectorError) as caught:
        STRICT.check_address(address)
    assert caught.value.key == "image:NotAllowed"


def test_public_address_is_accepted() -> None:
    STRICT.check_address("47.96.1.1")
    STRICT.check_address("2400:3200::1")


def test_insecure_mode_allows_http_and_loopback_only() -> None:
    assert LOCAL.check_url("http://127.0.0.1:8080/x.png") == ("http", "127.0.0.1", 8080)
    LOCAL.check_address("127.0.0.1")
    LOCAL.check_address("::1")
    for internal in ("10.0.0.1", "192.168.0.1", "169.254.169.254", "100.100.100.200"):
        with pytest.raises(CollectorError):
            LOCAL.check_address(internal)
    with pytest.raises(CollectorError):
        LOCAL.check_url("file:///etc/passwd")


def test_dns_names_resolving_to_loopback_are_refused() -> None:
    with pytest.raises(CollectorError) as caught:
        SourcePolicy(("localhost",)).resolve("localhost", 443)
    assert caught.value.key == "image:NotAllowed"
