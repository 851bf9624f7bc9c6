"""The retry / dead-letter table: each documented code lands on the documented action."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from collector.business_codes import NAMES
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


# --- issue 9 item 1: the business code decides, in every form it arrives -------------------------
# Each answer goes over the wire: the real alimt SDK against the alimt emulator (`reply:` step), then
# the adapter; so what the SDK does with the body (ClientException / ServerException / a normal
# return) is part of what is tested.
BUSINESS_NAMES = NAMES  # the one table (collector.business_codes), also the emulator's
EXPECTED_ACTION = {
    **{c: Action.RETRY for c in (101, 102, 112)},
    **{c: Action.DEAD_LETTER for c in (103, 104, 105, 106, 107, 108)},
    **{c: Action.DEAD_LETTER_REDRIVABLE for c in (110, 111, 113)},
}
STATUSES = [200, 400, 401, 403, 404, 409, 429, 500, 502, 503]
FORMS = {
    "numeric Code": lambda n: {"Code": n, "Message": "something went wrong"},
    "numeric str Code": lambda n: {"Code": str(n), "Message": "something went wrong"},
    "symbolic Code": lambda n: {"Code": BUSINESS_NAMES[n], "Message": "something went wrong"},
    "numeric leading Message": lambda n: {"Code": "", "Message": f"{n}: something went wrong"},
    "symbolic leading Message": lambda n: {
        "Code": "Error",
        "Message": f"{BUSINESS_NAMES[n]}, something went wrong",
    },
}


@pytest.fixture(scope="module")
def alimt_wire() -> Iterator[Any]:
    from collector.alimt_gateway import AlimtGateway
    from collector.credentials import FunctionCredentials
    from local.alimt_emulator import AlimtEmulator
    from local.credentials import CredentialStore

    store = CredentialStore()
    store.add_access_key("LTAI-unit", "unit-secret")
    with AlimtEmulator(store) as emulator:
        gateway = AlimtGateway(
            emulator.endpoint, FunctionCredentials("LTAI-unit", "unit-secret", None), 5.0
        )
        yield emulator, gateway


def answer(wire: Any, status: int, body: dict[str, Any]) -> CollectorError:
    emulator, gateway = wire
    emulator.script("T-unit", [f"reply:{status}:{json.dumps(body)}"])
    with pytest.raises(CollectorError) as raised:
        gateway.get_result("T-unit")
    return raised.value


@pytest.mark.parametrize("status", STATUSES)
@pytest.mark.parametrize("form", sorted(FORMS))
@pytest.mark.parametrize("number", sorted(BUSINESS_NAMES))
def test_a_known_business_code_decides_the_row_whatever_the_status(
    alimt_wire: Any, number: int, form: str, status: int
) -> None:
    error = answer(alimt_wire, status, FORMS[form](number))
    decision = decide(error)
    assert (error.key, decision.rule) == (f"alimt:{number}", f"alimt:{number}")
    assert decision.action is EXPECTED_ACTION[number]
    # the dead letter's code is the number; the name stays in the message
    assert error.code == str(number) and error.detail.startswith(BUSINESS_NAMES[number])


@pytest.mark.parametrize(
    ("status", "body", "key"),
    [
        # no known code: throttling, then the HTTP status decides
        (429, {"Code": "Throttling.User", "Message": "flow control"}, "alimt:Throttling"),
        (400, {"Code": "Throttling.Api", "Message": "flow control"}, "alimt:Throttling"),
        (200, {"Code": "Throttling", "Message": "flow control"}, "alimt:Throttling"),
        (429, {"Code": "", "Message": "slow down"}, "alimt:Throttling"),
        (500, {"Code": "InternalError", "Message": "oops"}, "alimt:HTTP5xx"),
        (503, {"Message": "System.Unknown"}, "alimt:HTTP5xx"),
        (403, {"Code": "Forbidden.RAM", "Message": "no"}, "alimt:Forbidden"),
        (400, {"Code": "InvalidParameter", "Message": "bad"}, "alimt:HTTP4xx"),
        (404, {"Code": "InvalidAction.NotFound", "Message": "?"}, "alimt:HTTP4xx"),
        # a code that is not the service's own (109 is not documented): not a business code
        (403, {"Code": "", "Message": "109 nope"}, "alimt:Forbidden"),
        (200, {"Code": 109, "Message": "nope"}, "alimt:109"),
        # Message is read only when Code is empty or generic
        (403, {"Code": "Forbidden.RAM", "Message": "113 in arrears"}, "alimt:Forbidden"),
        # the longer name is not mistaken for its prefix
        (500, {"Code": "System.AccountNotActivatedOrInArrears"}, "alimt:113"),
        (500, {"Code": "", "Message": "System.AccountNotActivatedOrInArrears"}, "alimt:113"),
    ],
)
def test_without_a_known_business_code_throttling_then_the_status_decides(
    alimt_wire: Any, status: int, body: dict[str, Any], key: str
) -> None:
    assert answer(alimt_wire, status, body).key == key


def test_internal_unexpected_is_retried() -> None:
    decision = decide(CollectorError(Source.INTERNAL, "Unexpected", "KeyError: 'x'"))
    assert decision.action is Action.RETRY and decision.rule == "internal:Unexpected"


@pytest.mark.parametrize(
    ("code", "message", "number"),
    [
        (113, None, 113),
        ("113", "", 113),
        (113.0, "", 113),
        (" system.error ", "", 102),
        ("", "1130 is not a code", None),
        ("", "113x", None),
        ("", "[System.StringTooLong] text too long", 108),
        ("", "System.AccountNotActivated: not yet", 110),
        ("", "System.AccountNotActivatedOrInArrears", 113),
        ("null", "104 missing TaskId", 104),
        ("Forbidden", "113", None),
        (200, "System.Error", None),  # a success code is not generic: Message is not read
        (True, "113", 113),  # a boolean Code says nothing: Message decides
        (109, "", None),
        ("System.Unknown", "", None),
        ({"Code": 113}, "", None),
    ],
)
def test_business_code_extraction(code: Any, message: Any, number: int | None) -> None:
    from collector.business_codes import business_code

    assert business_code(code, message) == number


def test_every_named_code_has_its_own_row_or_its_source_rule() -> None:
    """The code constants (errors.py) are what the collector raises: each must be decided by a row
    of the table, never by the catch-all `*`."""
    from collector import errors
    from collector.error_policy import POLICY

    sources = {
        errors.TaskCode: [errors.Source.TASK],
        errors.ImageCode: [errors.Source.IMAGE],
        errors.OssCode: [errors.Source.OSS],
        errors.ApiCode: [errors.Source.ALIMT, errors.Source.FC],
        errors.BudgetCode: [errors.Source.BUDGET],
        errors.InputCode: [errors.Source.INPUT],
        errors.InternalCode: [errors.Source.INTERNAL],
    }
    for holder, where in sources.items():
        codes = [v for k, v in vars(holder).items() if k.isupper()]
        assert codes, holder
        for source in where:
            for code in codes:
                assert f"{source}:{code}" in POLICY or f"{source}:*" in POLICY, (source, code)


def test_the_rules_around_the_table() -> None:
    from collector.error_policy import fresh_record_for, outlived, pending_too_long, worst_error
    from collector.errors import CollectorError, OssCode, Source, TaskCode

    transient = CollectorError(Source.IMAGE, "HTTP5xx", "x")
    final = CollectorError(Source.IMAGE, "404", "gone")
    assert worst_error([transient, final]) is final
    assert worst_error([transient]) is transient and worst_error([]) is None
    assert outlived(transient, age=None, lifetime=10) is transient
    assert outlived(transient, age=5, lifetime=10) is transient
    assert outlived(final, age=50, lifetime=10) is final
    assert outlived(transient, age=50, lifetime=10).code == TaskCode.PENDING_TOO_LONG
    assert pending_too_long("running", age=5, lifetime=10) is None
    assert pending_too_long("running", age=50, lifetime=10) is not None
    assert fresh_record_for(CollectorError(Source.OSS, OssCode.CORRUPT_DOCUMENT, "x"))
    assert not fresh_record_for(CollectorError(Source.OSS, OssCode.HTTP5XX, "x"))
