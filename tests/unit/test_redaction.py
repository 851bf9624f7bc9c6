"""Nothing secret leaves the function: signed query strings and credential values are masked."""

from __future__ import annotations

from collector.redaction import MASK, redact, redact_value, register_secrets, strip_query


def test_signed_url_query_is_removed() -> None:
    url = "https://bucket.oss-cn-hangzhou.aliyuncs.com/a/b.png?Expires=1&OSSAccessKeyId=LTAI5x&Signature=abc%3D"
    text = f"failed to fetch {url} (403)"
    out = redact(text)
    assert "Signature" not in out and "LTAI5x" not in out
    assert "https://bucket.oss-cn-hangzhou.aliyuncs.com/a/b.png?" + MASK in out
    assert strip_query(url) == "https://bucket.oss-cn-hangzhou.aliyuncs.com/a/b.png"


def test_registered_secrets_are_masked_everywhere() -> None:
    register_secrets(["supersecretvalue123", "CAISsecrettoken456", None, "abc"])
    value = {"message": "key supersecretvalue123", "nested": ["CAISsecrettoken456"], "n": 3}
    out = redact_value(value)
    assert out == {"message": f"key {MASK}", "nested": [MASK], "n": 3}
    assert redact("abc stays") == "abc stays"  # too short to be a secret: not registered


def test_header_like_secrets_are_masked() -> None:
    out = redact('Authorization: OSS AKID:c2lnbmF0dXJl\nx-oss-security-token: "CAIStok"')
    assert "c2lnbmF0dXJl" not in out and "CAIStok" not in out
    as_dict = redact(
        str({"authorization": "OSS AKID:c2lnbmF0dXJl", "x-oss-security-token": "CAIStok"})
    )
    assert "c2lnbmF0dXJl" not in as_dict and "CAIStok" not in as_dict
