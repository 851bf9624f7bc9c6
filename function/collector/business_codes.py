"""The alimt business codes (alimt-api.md), in whichever form the service sends them.

The documentation gives each error as a number (101-113) and as a name (`System.Error`); the service
may put either in `Code`, in the body of an HTTP 200 or of an HTTP 4xx/5xx, and either may also lead
`Message`. Whatever the form, the code is reduced to its number, which is what the policy table and
the dead letter use (so `redrive --code 113` finds every such letter).
"""

from __future__ import annotations

import re
from typing import Any

NAMES: dict[int, str] = {
    101: "System.RequestTimeOut",
    102: "System.Error",
    103: "System.UrlDecodingError",
    104: "System.ParameterError",
    105: "System.LanguageNotSupported",
    106: "System.LanguageDetectError",
    107: "System.TranslateError",
    108: "System.StringTooLong",
    110: "System.AccountNotActivated",
    111: "System.SubServiceFailed",
    112: "System.TranslateServiceCallFailed",
    113: "System.AccountNotActivatedOrInArrears",
}
_BY_NAME = {name.lower(): number for number, name in NAMES.items()}
# A code leading Message: "113", "113: ...", "System.Error, ...", "[System.Error] ...". Longest
# names first, so `System.AccountNotActivatedOrInArrears` is not read as `System.AccountNotActivated`.
_LEADING = re.compile(
    r"^\s*[\[(]?\s*(?:(?P<number>1[01][0-9])|(?P<name>"
    + "|".join(re.escape(n) for n in sorted(NAMES.values(), key=len, reverse=True))
    + r"))(?![A-Za-z0-9.])",
    re.IGNORECASE,
)
# `Code` values that say nothing about the cause: look at Message instead.
# (200 is not one of them: it says "success", and a success's Message is not an error.)
GENERIC_CODES = frozenset(
    {
        "",
        "none",
        "null",
        "0",
        "-1",
        "error",
        "unknown",
        "unknownerror",
        "internalerror",
        "fail",
        "failed",
    }
)


def code_text(code: Any) -> str:
    """`Code` as text: the API sends an int or a str (the SDK passes either through)."""
    if code is None or isinstance(code, bool):
        return ""
    if isinstance(code, float) and code.is_integer():
        code = int(code)
    return str(code).strip() if isinstance(code, (int, float, str)) else ""


def known_code(value: Any) -> int | None:
    """The business number `value` names exactly (113, "113", "System.AccountNotActivatedOrInArrears")."""
    text = code_text(value)
    if text.isascii() and text.isdigit():
        number = int(text)
        return number if number in NAMES else None
    return _BY_NAME.get(text.lower())


def leading_code(message: Any) -> int | None:
    """A business code at the start of `message`, numeric or symbolic."""
    if not isinstance(message, str):
        return None
    match = _LEADING.match(message)
    if match is None:
        return None
    if match.group("number"):
        number = int(match.group("number"))
        return number if number in NAMES else None
    return _BY_NAME.get(match.group("name").lower())


def business_code(code: Any, message: Any) -> int | None:
    """The business code of an answer: `Code` if it names one; else, when `Code` is empty or
    generic, one leading `Message`. None when neither holds a known code."""
    number = known_code(code)
    if number is not None:
        return number
    if code_text(code).lower() in GENERIC_CODES:
        return leading_code(message)
    return None


def describe(number: int, message: Any) -> str:
    """The dead letter's message: the name first (operators grep for it), then what was said."""
    name = NAMES[number]
    said = message.strip() if isinstance(message, str) else ""
    if not said or said == name:
        return name
    return f"{name}: {said}"
