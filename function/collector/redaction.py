"""Keep secrets out of everything we write: logs, errors, manifests and dead letters.

Two rules: a URL keeps its scheme, host and path but loses its query string and fragment (signed URLs
carry signatures and access key ids there), and the invocation's credential values are masked wherever
they appear.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from typing import Any

_URL_QUERY = re.compile(r"(\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s?#\"'<>]*)[?#][^\s\"'<>]*")
_AUTHORIZATION = re.compile(r"(?i)(authorization['\"]?\s*[:=]\s*['\"]?)[^'\"\n]*")
_AUTH_HEADER = re.compile(
    r"(?i)(x-acs-security-token|x-oss-security-token|security[_-]?token"
    r"|access[_-]?key[_-]?secret|signature)(['\"]?\s*[:=]\s*['\"]?)[^\s'\",}]+"
)

_secrets: set[str] = set()
_lock = threading.Lock()
MASK = "<redacted>"


def register_secrets(values: Iterable[str | None]) -> None:
    """Remember this invocation's secret values (STS keys) so they are masked wherever they show up."""
    with _lock:
        for value in values:
            if value and len(value) >= 6:
                _secrets.add(value)


def strip_query(url: str | None) -> str | None:
    """`https://h/p.png?Signature=..` -> `https://h/p.png`: what may be stored and logged."""
    if url is None:
        return None
    return url.split("#", 1)[0].split("?", 1)[0]


def redact(text: str) -> str:
    text = _URL_QUERY.sub(r"\1?" + MASK, text)
    text = _AUTHORIZATION.sub(r"\1" + MASK, text)
    text = _AUTH_HEADER.sub(r"\1\2" + MASK, text)
    with _lock:
        known = tuple(_secrets)
    for secret in known:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def redact_value(value: Any) -> Any:
    """Redact every string inside a JSON-like value."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {redact(str(k)): redact_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_value(v) for v in value]
    return value
