"""The retry / dead-letter table: each documented code lands on the documented action."""

from __future__ import annotations

import pytest

from collector.error_policy import POLICY, Action, decide
from collector.errors import CollectorError, Source

TRANSIENT_CODES = ["101", "102", "112"]
FINAL_CODES = ["103", "104", "105", "106", "107", "108"]
ACCOUNT_CODES = ["110", "111", "113"]


@pytest.mark.parametrize("code", TRANSIENT_CODES)
def test_transient_alimt_codes_are_retried(code: str) -> None:
    assert decide(CollectorError(Source.ALIMT, code, "x")).action is Action.RETRY


@pytest.mark.parametrize("code", FINAL_CODES)
def test_final_alimt_codes_are_dead_lettered(code: str) -> None:
    decision = decide(CollectorError(Source.ALIMT, code, "x"))
    assert decision.action is Action.DEAD_LETTER
    assert not decision.redrivable


@pytest.mark.parametrize("code", ACCOUNT_CODES)
def test_account_codes_are_redrivable_dead_letters(code: str) -> None:
    decision = decide(CollectorError(Source.ALIMT, code, "x"))
    assert decision.action is Action.DEAD_LETTER_REDRIVABLE
    assert decision.redrivable


def test_all_twelve_codes_are_in_the_table() -> None:
    codes = {key.split(":")[1] for key in POLICY if key.startswith("alimt:") and key[6:].isdigit()}
    assert codes == set(TRANSIENT_CODES + FINAL_CODES + ACCOUNT_CODES)


@pytest.mark.parametrize(
    ("source", "code", "action"),
    [
        (Source.ALIMT, "Throttling", Action.RETRY),
        (Source.ALIMT, "HTTP5xx", Action.RETRY),
        (Source.ALIMT, "Timeout", Action.RETRY),
        (Source.ALIMT, "ConnectionError", Action.RETRY),
        (Source.ALIMT, "BadResponse", Action.RETRY),
        (Source.ALIMT, "InvalidSecurityToken.Expired", Action.RETRY),
        (Source.ALIMT, "SignatureDoesNotMatch", Action.DEAD_LETTER_REDRIVABLE),
        (Source.ALIMT, "Forbidden", Action.DEAD_LETTER_REDRIVABLE),
        (Source.ALIMT, "HTTP4xx", Action.DEAD_LETTER),
        (Source.ALIMT, "SomethingNew", Action.RETRY),
        (Source.TASK, "invalid", Action.DEAD_LETTER),
        (Source.TASK, "failed", Action.DEAD_LETTER),
        (Source.TASK, "PendingTooLong", Action.DEAD_LETTER),
        (Source.TASK, "EmptyResult", Action.DEAD_LETTER),
        (Source.IMAGE, "403", Action.DEAD_LETTER),
        (Source.IMAGE, "404", Action.DEAD_LETTER),
        (Source.IMAGE, "TooLarge", Action.DEAD_LETTER),
        (Source.IMAGE, "NotAllowed", Action.DEAD_LETTER),
        (Source.IMAGE, "HTTP5xx", Action.RETRY),
        (Source.IMAGE, "Truncated", Action.RETRY),
        (Source.IMAGE, "Timeout", Action.RETRY),
        (Source.OSS, "HTTP5xx", Action.RETRY),
        (Source.OSS, "CrcMismatch", Action.RETRY),
        (Source.OSS, "ConnectionError", Action.RETRY),
        (Source.BUDGET, "DeadlineExceeded", Action.RETRY),
        (Source.INPUT, "BadInput", Action.DEAD_LETTER),
    ],
)
def test_table_rows(source: str, code: str, action: Action) -> None:
    decision = decide(CollectorError(source, code, "detail"))
    assert decision.action is action
    assert decision.reason


def test_unknown_source_is_retried_not_dropped() -> None:
    assert decide(CollectorError("elsewhere", "x", "y")).action is Action.RETRY
