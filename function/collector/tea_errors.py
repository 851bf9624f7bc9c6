"""What the Tea/darabonba SDK stack raises, as a `CollectorError` of a given source.

Both Alibaba Cloud API adapters (alimt, FC) see the same exception types; only the codes that mean
something special differ, and those are passed in. The retry/dead-letter decision stays in
error_policy.
"""

from __future__ import annotations

from collections.abc import Callable

from collector.errors import CollectorError
from collector.redaction import redact

CREDENTIAL_CODES = frozenset(
    {
        "SignatureDoesNotMatch",
        "InvalidAccessKeyId.NotFound",
        "InvalidSecurityToken.Expired",
        "InvalidSecurityToken.MismatchWithAccessKey",
    }
)


# What the SDK raises when an answer has an unexpected shape (e.g. an error body that is a JSON
# list, on which it calls .get): the service said something, just not what the SDK expects.
_SHAPE_ERRORS = (AttributeError, TypeError, KeyError)


def classify_tea_error(
    exc: BaseException,
    source: str,
    *,
    throttling_prefixes: tuple[str, ...] = ("Throttling",),
    forbidden_prefixes: tuple[str, ...] = ("Forbidden", "NoPermission"),
    client_code: Callable[[int, str], str | None] | None = None,
) -> CollectorError:
    """`client_code(status, code)` may name a 4xx more precisely (e.g. a business code);
    otherwise a 4xx is `HTTP4xx`."""
    from alibabacloud_tea_openapi.exceptions import ThrottlingException
    from darabonba.exceptions import UnretryableException

    if isinstance(exc, ThrottlingException):  # carries x-acs-retry-after (ms)
        retry_after = getattr(exc, "retry_after", None)
        return CollectorError(
            source,
            "Throttling",
            f"HTTP {getattr(exc, 'status_code', '?')} {getattr(exc, 'code', '')}",
            retry_after_seconds=(retry_after / 1000.0) if isinstance(retry_after, int) else None,
        )
    if isinstance(exc, UnretryableException):  # no HTTP answer we could read
        inner_exc = getattr(exc, "inner_exception", None)
        inner = str(inner_exc or exc)
        lowered = inner.lower()
        if "parse the value as json" in lowered or isinstance(inner_exc, _SHAPE_ERRORS):
            return CollectorError(source, "BadResponse", "response is not JSON")
        if "timed out" in lowered or "timeout" in lowered:
            return CollectorError(source, "Timeout", redact(inner)[:300])
        return CollectorError(source, "ConnectionError", redact(inner)[:300])
    status = getattr(exc, "status_code", None)
    code = str(getattr(exc, "code", "") or "")
    if not isinstance(status, int) and isinstance(exc, _SHAPE_ERRORS):
        return CollectorError(source, "BadResponse", f"unexpected answer ({type(exc).__name__})")
    if not isinstance(status, int):
        return CollectorError(
            source, "ConnectionError", redact(f"{type(exc).__name__}: {exc}")[:300]
        )
    detail = f"HTTP {status} {code}".strip()
    if status == 429 or code.startswith(throttling_prefixes):
        return CollectorError(source, "Throttling", detail)
    if status >= 500:
        return CollectorError(source, "HTTP5xx", detail)
    if code in CREDENTIAL_CODES:
        return CollectorError(source, code, detail)
    if status == 403 or code.startswith(forbidden_prefixes):
        return CollectorError(source, "Forbidden", detail)
    precise = client_code(status, code) if client_code else None
    return CollectorError(source, precise or "HTTP4xx", detail)
