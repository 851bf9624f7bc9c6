"""Domain errors. Adapters turn SDK, HTTP and OSS exceptions into a `CollectorError` with a source and a
normalised code; `error_policy` alone decides what each one means (retry or dead-letter)."""

from __future__ import annotations

from typing import Final


class Source:
    """Where a failure came from. Part of the lookup key in the error policy table."""

    ALIMT = "alimt"  # the result API (business codes, gateway errors, transport)
    OSS = "oss"  # the output/state bucket
    IMAGE = "image"  # downloading a result image from its (signed) URL
    TASK = "task"  # facts about the task itself (invalid, failed, pending too long)
    INPUT = "input"  # the event we were given
    BUDGET = "budget"  # our own time budget ran out
    FC = "fc"  # Function Compute: sending a sweep shard to another invocation (fan-out)
    INTERNAL = "internal"  # anything else that went wrong while working on a task (a bug)


# Codes the collector itself raises or compares, per source. Named constants, so a misspelt code
# fails `mypy` instead of falling through to `<source>:*` in production; every one has its row in
# error_policy.POLICY (tests/unit/test_error_policy.py checks it). Wire codes (alimt business numbers,
# SDK and HTTP codes) arrive as text from the adapters and are looked up as they are.
class TaskCode:
    INVALID: Final = "invalid"
    FAILED: Final = "failed"
    EMPTY_RESULT: Final = "EmptyResult"
    PENDING_TOO_LONG: Final = "PendingTooLong"


class ImageCode:
    NOT_ALLOWED: Final = "NotAllowed"
    TOO_LARGE: Final = "TooLarge"
    TOO_MANY_REDIRECTS: Final = "TooManyRedirects"
    TRUNCATED: Final = "Truncated"
    HTTP4XX: Final = "HTTP4xx"
    HTTP5XX: Final = "HTTP5xx"
    TIMEOUT: Final = "Timeout"
    CONNECTION_ERROR: Final = "ConnectionError"


class OssCode:
    CORRUPT_DOCUMENT: Final = "CorruptDocument"  # a state document that is not our JSON
    CRC_MISMATCH: Final = "CrcMismatch"
    SIZE_MISMATCH: Final = "SizeMismatch"
    HTTP5XX: Final = "HTTP5xx"
    CONNECTION_ERROR: Final = "ConnectionError"


class ApiCode:  # alimt and fc: gateway and transport codes the adapters produce themselves
    THROTTLING: Final = "Throttling"
    BAD_RESPONSE: Final = "BadResponse"


class BudgetCode:
    DEADLINE_EXCEEDED: Final = "DeadlineExceeded"


class InputCode:
    BAD_INPUT: Final = "BadInput"


class InternalCode:
    UNEXPECTED: Final = "Unexpected"


class CollectorError(Exception):
    """A classified failure. `code` is stable and machine-readable; `detail` is safe to log (redacted)."""

    def __init__(
        self, source: str, code: str, detail: str, *, retry_after_seconds: float | None = None
    ) -> None:
        # what a service sent may hold lone surrogates (valid JSON escapes): never let them reach
        # a log line or an OSS document, where encoding them would fail
        code, detail = _storable(code), _storable(detail)
        super().__init__(f"{source}:{code}: {detail}")
        self.source = source
        self.code = code
        self.detail = detail
        self.retry_after_seconds = retry_after_seconds

    @property
    def key(self) -> str:
        return f"{self.source}:{self.code}"


def _storable(text: str) -> str:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


class ObjectAlreadyExists(Exception):
    """OSS refused a write with 409 FileAlreadyExists: another writer (or an earlier attempt) got there
    first. Not a failure for us: the object is complete, since OSS writes are atomic."""

    def __init__(self, key: str) -> None:
        super().__init__(f"object already exists: {key}")
        self.key = key


class InvalidEvent(ValueError):
    """The event cannot be understood. The message names what was wrong; it is shown to the caller."""


class RetryableInvocationError(Exception):
    """Raised by the handler so that FC (async retries) or MNS (notifyStrategy) delivers the event again.
    Every task it names is also recorded in the pending registry, so nothing depends on that retry."""
