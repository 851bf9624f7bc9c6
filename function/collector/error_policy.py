"""The one place that decides what a failure means: retry it, or dead-letter the task.

Every outcome rule is here: the table (`POLICY`, read by `decide`), then the rules around it, each
a small function the use cases call: a task past its pending lifetime (`outlived`,
`pending_too_long`), which of several image errors speaks for the task (`worst_error`), what an
unreadable pending record means (`fresh_record_for`), and what a failed fan-out means
(`fan_out_decision`: never a dead letter).

Read the table top to bottom. Keys are `<source>:<code>` as produced by the adapters
(`alimt_gateway`, `object_store`, `image_source`, `fc_dispatcher`) and by the collector itself.

Precedence for alimt: business codes arrive as numbers or `System.*` names, in an HTTP 200 body or with
an error status, in `Code` or leading `Message`; `alimt_gateway` reduces each to its number first, so a
known business code decides the row whatever the HTTP status; then throttling (`Throttling*`, 429);
only then the HTTP status (5xx retry, 403 forbidden, other 4xx refused). A code not in the table
falls back to the rule for its source (`<source>:*`): unknown trouble is retried, never silently
dropped, because the pending registry bounds every retry by PENDING_LIFETIME_SECONDS anyway.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from collector.errors import CollectorError, InputCode, OssCode, Source, TaskCode


class Action(str, Enum):
    RETRY = "retry"  # transient: back off and try again (in-process, then via the platform)
    DEAD_LETTER = "dead_letter"  # final: cannot succeed; record why and stop
    DEAD_LETTER_REDRIVABLE = "dead_letter_redrivable"  # final until an operator fixes the account


R, D, DR = Action.RETRY, Action.DEAD_LETTER, Action.DEAD_LETTER_REDRIVABLE

# fmt: off
POLICY: dict[str, tuple[Action, str]] = {
    # --- alimt business codes (alimt-api.md) -----------------------------------------------------
    "alimt:101": (R,  "alimt request timed out (System.RequestTimeOut)"),
    "alimt:102": (R,  "alimt system error (System.Error)"),
    "alimt:103": (D,  "image URL could not be decoded (System.UrlDecodingError)"),
    "alimt:104": (D,  "missing or invalid parameter (System.ParameterError)"),
    "alimt:105": (D,  "language pair not supported (System.LanguageNotSupported)"),
    "alimt:106": (D,  "language detection failed (System.LanguageDetectError)"),
    "alimt:107": (D,  "translation failed (System.TranslateError)"),
    "alimt:108": (D,  "text too long (System.StringTooLong)"),
    "alimt:110": (DR, "machine translation not activated on the account (System.AccountNotActivated)"),
    "alimt:111": (DR, "sub-account service failed (System.SubServiceFailed)"),
    "alimt:112": (R,  "call to the translation service failed (System.TranslateServiceCallFailed)"),
    "alimt:113": (DR, "account not activated or in arrears (System.AccountNotActivatedOrInArrears)"),
    # --- alimt gateway and transport ---------------------------------------------------------------
    "alimt:Throttling":     (R,  "alimt API throttled the call (QPS quota)"),
    "alimt:HTTP5xx":        (R,  "alimt API answered with a server error"),
    "alimt:Timeout":        (R,  "alimt API did not answer in time"),
    "alimt:ConnectionError": (R, "could not reach the alimt API"),
    "alimt:BadResponse":    (R,  "alimt API answered with something that is not its JSON"),
    # STS keys are issued per invocation: the next attempt gets fresh ones.
    "alimt:InvalidSecurityToken.Expired": (R, "the function's STS token expired"),
    "alimt:SignatureDoesNotMatch":        (DR, "alimt rejected the request signature (check the role)"),
    "alimt:InvalidAccessKeyId.NotFound":  (DR, "alimt does not know the access key (check the role)"),
    "alimt:InvalidSecurityToken.MismatchWithAccessKey": (DR, "alimt rejected the STS token"),
    "alimt:Forbidden":      (DR, "the function's role may not call GetTranslateImageBatchResult"),
    "alimt:HTTP4xx":        (D,  "alimt API refused the request"),
    "alimt:*":              (R,  "unrecognised alimt error"),
    # --- the task itself ------------------------------------------------------------------------
    "task:invalid":         (D,  "task unknown, or its results expired (kept 1 hour after finishing)"),
    "task:failed":          (D,  "the translation task failed"),
    "task:EmptyResult":     (D,  "task finished without any result entries"),
    "task:PendingTooLong":  (D,  "task stayed unfinished past PENDING_LIFETIME_SECONDS"),
    "task:*":               (R,  "unrecognised task state"),
    # --- downloading result images ------------------------------------------------------------------
    "image:403":            (D,  "result image link refused access (expired signed URL)"),
    "image:404":            (D,  "result image link not found (expired or deleted)"),
    "image:410":            (D,  "result image link gone"),
    "image:TooLarge":       (D,  "result image larger than MAX_IMAGE_BYTES"),
    "image:NotAllowed":     (D,  "result image URL refused by the source policy"),
    "image:TooManyRedirects": (D, "result image URL redirects too often"),
    "image:HTTP4xx":        (D,  "result image host refused the request"),
    "image:HTTP5xx":        (R,  "result image host answered with a server error"),
    "image:Truncated":      (R,  "result image download ended early"),
    "image:CrcMismatch":    (R,  "result image bytes differ from the host's CRC64 (corrupted on the way)"),
    "image:Timeout":        (R,  "result image host too slow"),
    "image:ConnectionError": (R, "could not reach the result image host"),
    "image:*":              (R,  "unrecognised image download error"),
    # --- OSS (output and state) -----------------------------------------------------------------
    # Without a working bucket nothing can be recorded, not even a dead letter: fail loudly and let
    # the platform keep the event (async onFailure destination / MNS retries).
    "oss:CrcMismatch":      (R,  "OSS reported a different CRC64 than was sent"),
    "oss:HTTP5xx":          (R,  "OSS answered with a server error"),
    "oss:ConnectionError":  (R,  "could not reach OSS"),
    "oss:*":                (R,  "OSS refused the request (check bucket, endpoint and role)"),
    # --- FC: sending sweep shards to other invocations (fan-out) ------------------------------------
    # No task is dead-lettered for these: the sweep keeps to what it can do alone and the next tick
    # dispatches again. The action says whether waiting helps (retry) or an operator must act.
    "fc:Throttling":        (R,  "FC throttled the asynchronous invocation"),
    "fc:HTTP5xx":           (R,  "FC answered with a server error"),
    "fc:Timeout":           (R,  "FC did not answer in time"),
    "fc:ConnectionError":   (R,  "could not reach the FC endpoint"),
    "fc:BadResponse":       (R,  "FC answered with something unexpected"),
    "fc:InvalidSecurityToken.Expired": (R, "the function's STS token expired"),
    "fc:SignatureDoesNotMatch":        (DR, "FC rejected the request signature (check the role)"),
    "fc:InvalidAccessKeyId.NotFound":  (DR, "FC does not know the access key (check the role)"),
    "fc:InvalidSecurityToken.MismatchWithAccessKey": (DR, "FC rejected the STS token"),
    "fc:Forbidden":         (DR, "the function's role may not call fc:InvokeFunction on the target"),
    "fc:FunctionNotFound":  (DR, "FANOUT_FUNCTION_NAME names no function in this region"),
    "fc:HTTP4xx":           (DR, "FC refused the invocation request (check FC_ENDPOINT)"),
    "fc:*":                 (R,  "unrecognised FC error"),
    # --- our own limits -------------------------------------------------------------------------
    "budget:DeadlineExceeded": (R, "the invocation's time budget ran out"),
    "input:*":              (D,  "the event was refused"),
    # --- the last line of defence -----------------------------------------------------------------
    # An exception no adapter classified (a bug, or an answer nobody foresaw): retried like any
    # transient trouble, so PENDING_LIFETIME_SECONDS still bounds it, and logged with its traceback.
    "internal:Unexpected":  (R,  "unexpected error while collecting the task (see the log's traceback)"),
    "internal:*":           (R,  "unexpected error while collecting the task"),
}
# fmt: on


@dataclass(frozen=True)
class Decision:
    action: Action
    reason: str
    rule: str  # the table key that matched, for the logs

    @property
    def retry(self) -> bool:
        return self.action is Action.RETRY

    @property
    def redrivable(self) -> bool:
        return self.action is Action.DEAD_LETTER_REDRIVABLE


def decide(error: CollectorError) -> Decision:
    for rule in (error.key, f"{error.source}:*"):
        if rule in POLICY:
            action, reason = POLICY[rule]
            return Decision(action, reason, rule)
    return Decision(Action.RETRY, "unclassified failure", "*")


# --- the rules around the table ----------------------------------------------------------------------
def outlived(error: CollectorError, *, age: float | None, lifetime: float) -> CollectorError:
    """A transient failure of a task older than PENDING_LIFETIME_SECONDS is final: it becomes
    `task:PendingTooLong`, naming the last error. `age` None: the task has no record yet."""
    if age is None or age <= lifetime or not decide(error).retry:
        return error
    return CollectorError(
        Source.TASK, TaskCode.PENDING_TOO_LONG, f"transient errors for too long; last: {error.key}"
    )


def pending_too_long(
    raw_status: str | None, *, age: float, lifetime: float
) -> CollectorError | None:
    """A task still running past PENDING_LIFETIME_SECONDS is given up (its results, if they ever
    come, would outlive their 1-hour retention before a sweep finds them)."""
    if age <= lifetime:
        return None
    return CollectorError(
        Source.TASK,
        TaskCode.PENDING_TOO_LONG,
        f"still {raw_status!r} after {age:.0f}s (limit {lifetime:.0f}s)",
    )


def worst_error(errors: list[CollectorError]) -> CollectorError | None:
    """Of several image errors of one task, a final one speaks for it: retrying cannot fix a dead
    link. Otherwise the first transient one."""
    for error in errors:
        if not decide(error).retry:
            return error
    return errors[0] if errors else None


def fresh_record_for(error: CollectorError) -> bool:
    """A pending record that cannot be read: True if the task keeps going with a fresh record (a
    corrupt document: the TaskId in its key is all we need), False if the sweep skips it until the
    next tick (OSS trouble, which passes)."""
    return error.code == OssCode.CORRUPT_DOCUMENT and error.source == Source.OSS


def fan_out_decision(error: CollectorError) -> Decision:
    """A failed fan-out never dead-letters a task (no task is lost: the sweep keeps to what it can
    do alone and the next tick dispatches again). The row's action only tells the operator whether
    waiting helps (retry) or someone must act (redrivable: fix the role or FANOUT_FUNCTION_NAME)."""
    return decide(error)


def rejection_decision() -> Decision:
    """A refused event: dead-lettered, never redriven (there is no TaskId to collect)."""
    return decide(CollectorError(Source.INPUT, InputCode.BAD_INPUT, "the event was refused"))
