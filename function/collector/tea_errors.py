"""What the Tea/darabonba SDK stack raises, as a `CollectorError` of a given source.

Both Alibaba Cloud API adapters (alimt, FC) see the same exception types; only the codes that mean
something special differ, and those are passed in. The retry/dead-letter decision stays in
error_policy.
"""

from __future__ import annotations

from collections.abc import Callable

from collector.errors import ApiCode, CollectorError
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
            ApiCode.THROTTLING,
            f"HTTP {getattr(exc, 'status_code', '?')} {getattr(exc, 'code', '')}",
            retry_after_seconds=(retry_after / 1000.0) if isinstance(retry_after, int) else None,
        )
    if isinstance(exc, UnretryableException):  # no HTTP answer we could read
        return _no_answer(exc, source)
    status = getattr(exc, "status_code", None)
    if not isinstance(status, int):
        return _no_status(exc, source)
    code = str(getattr(exc, "code", "") or "")
    detail = f"HTTP {status} {code}".strip()
    named = _by_status(status, code, throttling_prefixes, forbidden_prefixes)
    if named is None and client_code is not None:
        named = client_code(status, code)
    return CollectorError(source, named or "HTTP4xx", detail)


def _no_answer(exc: BaseException, source: str) -> CollectorError:
    inner_exc = getattr(exc, "inner_exception", None)
    inner = str(inner_exc or exc)
    lowered = inner.lower()
    if "parse the value as json" in lowered or isinstance(inner_exc, _SHAPE_ERRORS):
        return CollectorError(source, ApiCode.BAD_RESPONSE, "response is not JSON")
    if "timed out" in lowered or "timeout" in lowered:
        return CollectorError(source, "Timeout", redact(inner)[:300])
    return CollectorError(source, "ConnectionError", redact(inner)[:300])


def _no_status(exc: BaseException, source: str) -> CollectorError:
    if isinstance(exc, _SHAPE_ERRORS):
        return CollectorError(
            source, ApiCode.BAD_RESPONSE, f"unexpected answer ({type(exc).__name__})"
        )
    return CollectorError(source, "ConnectionError", redact(f"{type(exc).__name__}: {exc}")[:300])


def _by_status(
    status: int, code: str, throttling: tuple[str, ...], forbidden: tuple[str, ...]
) -> str | None:
    """The code an HTTP error status maps to, in precedence order; None: a plain 4xx."""
    if status == 429 or code.startswith(throttling):
        return ApiCode.THROTTLING
    if status >= 500:
        return "HTTP5xx"
    if code in CREDENTIAL_CODES:
        return code
    if status == 403 or code.startswith(forbidden):
        return "Forbidden"
    return None
