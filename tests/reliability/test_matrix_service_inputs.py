"""Fault matrix, issue 9 rows: whatever the real services send.

- every business code (101-113) in every form the service may use (number or name, in `Code` or
  leading `Message`, with HTTP 200, 4xx or 5xx) lands on its row of the policy table;
- generated finished results with arbitrary JSON in every field (hypothesis) never raise anything
  but the documented RetryableInvocationError, and the task ends in exactly one place;
- two deliveries of one task (MNS and a sweep) racing, one of them slowed in the emulator, never
  leave it in two places.

Each row goes through the real handler and SDKs against the emulators and is counted in the report."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from collector.errors import RetryableInvocationError
from local.alimt_emulator import BUSINESS_CODES
from local.runner import build_mns_event
from tests.reliability.support import (
    COPIED,
    DEAD_LETTERED,
    FIGURES,
    PENDING,
    Harness,
    Invocation,
    account,
    capture,
    check_single_writes,
    settled_outcomes,
)

TRANSIENT = {101, 102, 112}
REDRIVABLE = {110, 111, 113}
SWEEP = {"triggerTime": "2026-11-29T00:00:00Z", "triggerName": "sweep", "payload": ""}

# --- item 1 -----------------------------------------------------------------------------------------
FORMS: dict[str, tuple[int, Any]] = {
    "HTTP 200, numeric Code": (200, lambda n: {"Code": n, "Message": "failed"}),
    "HTTP 200, symbolic Code": (200, lambda n: {"Code": BUSINESS_CODES[n], "Message": "x"}),
    "HTTP 200, leading Message": (200, lambda n: {"Code": "", "Message": f"{n}: failed"}),
    "HTTP 403, numeric Code": (403, lambda n: {"Code": str(n), "Message": "failed"}),
    "HTTP 400, symbolic Code": (400, lambda n: {"Code": BUSINESS_CODES[n], "Message": "x"}),
    "HTTP 500, numeric Code": (500, lambda n: {"Code": n, "Message": "failed"}),
    "HTTP 503, symbolic leading Message": (
        503,
        lambda n: {"Code": "Error", "Message": f"{BUSINESS_CODES[n]} failed"},
    ),
}


@pytest.mark.parametrize("code", sorted(BUSINESS_CODES))
@pytest.mark.parametrize("form", list(FORMS))
def test_business_code_form(h: Harness, form: str, code: int) -> None:
    passed = False
    try:
        status, body = FORMS[form]
        step = f"reply:{status}:{json.dumps(body(code))}"
        task_id = h.make_task(images=1)
        if code in TRANSIENT:
            h.cloud.alimt.script(task_id, [step, "ok"])  # retried in process, then collected
            invocation = h.invoke({"taskId": task_id})
            assert invocation.error is None, invocation.error
            assert account(h, task_id, [invocation]) == COPIED
            assert h.cloud.alimt.calls("GetTranslateImageBatchResult", task_id) == 2
        else:
            h.cloud.alimt.script(task_id, [step])
            invocation = h.invoke({"taskId": task_id})
            assert invocation.error is None, invocation.error
            assert account(h, task_id, [invocation]) == DEAD_LETTERED
            letter = h.json_object(f"collector/dead-letter/{task_id}.json")
            assert letter is not None and letter["code"] == str(code)
            assert letter["redrivable"] is (code in REDRIVABLE)
            assert letter["message"].startswith(BUSINESS_CODES[code])
        passed = True
    finally:
        FIGURES.form(form, passed)


# --- item 2 -----------------------------------------------------------------------------------------
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**64), max_value=2**64)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
    | st.sampled_from(["\ud800", "https://[::1", "", "200", "true", "finished", [], {}]),
    lambda inner: (  # empty containers are leaves above: these always hold something
        st.lists(inner, min_size=1, max_size=3)
        | st.dictionaries(st.text(max_size=8), inner, min_size=1, max_size=3)
    ),
    max_leaves=6,
)
FIELDS = ["SourceImageUrl", "FinalImageUrl", "InPaintingUrl", "TemplateJson", "Code", "Message", "Success"]  # fmt: skip
KEEP, DROP = "keep", "drop"


@st.composite
def result_plan(draw: Any) -> Any:
    """How to bend a real two-entry result: per entry, per field keep / drop / an arbitrary value;
    sometimes an entry, the whole Result, Status or Data replaced by an arbitrary value."""
    entries = []
    for _ in range(2):
        if draw(st.integers(0, 9)) == 0:
            entries.append(("value", draw(json_values)))
            continue
        fields = {}
        for name in FIELDS:
            choice = draw(st.sampled_from([KEEP, KEEP, DROP, "value"]))
            fields[name] = (choice, draw(json_values) if choice == "value" else None)
        entries.append(("fields", fields))
    envelope = draw(st.sampled_from(["ok"] * 6 + ["result", "status", "data"]))
    replacement = draw(json_values) if envelope != "ok" else None
    return entries, envelope, replacement


def bent_data(real: list[dict[str, Any]], plan: Any) -> Any:
    entries_plan, envelope, replacement = plan
    entries: list[Any] = []
    for original, (kind, spec) in zip(real, entries_plan, strict=True):
        if kind == "value":
            entries.append(spec)
            continue
        entry = dict(original)
        for name, (choice, value) in spec.items():
            if choice == DROP:
                entry.pop(name, None)
            elif choice == "value":
                entry[name] = value
        entries.append(entry)
    data: Any = {"Status": "finished", "Result": entries}
    if envelope == "result":
        data["Result"] = replacement
    elif envelope == "status":
        data["Status"] = replacement
    elif envelope == "data":
        data = replacement
    return data


MALFORMED = settings(
    max_examples=40,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)


@MALFORMED
@given(plan=result_plan())
def test_a_malformed_finished_result_never_crashes_and_the_task_ends_in_one_place(
    h: Harness, plan: Any
) -> None:
    h.timeout = 2.5  # a malformed envelope is retried until the budget ends: keep that short
    task_id = h.make_task(images=2)
    data = bent_data(h.cloud.alimt.result_entries(task_id), plan)
    h.cloud.alimt.script(task_id, [f"data:{json.dumps(data)}"] * 100)
    FIGURES.add("malformed_examples")
    invocation = h.invoke({"taskId": task_id})
    if invocation.error is not None and not isinstance(invocation.error, RetryableInvocationError):
        FIGURES.add("fuzz_crashes")
        FIGURES.sample("crash_samples", f"{type(invocation.error).__name__}: {invocation.error}")
    assert invocation.error is None or invocation.retryable, repr(invocation.error)
    state = account(h, task_id, [invocation])
    if invocation.retryable:
        assert state == PENDING
        record = h.json_object(f"collector/pending/{task_id}.json")
        # every malformed value is classified at the boundary: none reaches the last line of defence
        assert record is not None and record["lastCode"] != "internal:Unexpected", record
    FIGURES.add("malformed_placed")


# --- item 3 -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "slow_answer",
    [
        "code:113",
        "code:104",
        "reply:403:" + json.dumps({"Code": 113}),
        "throttle",
        "status:running",
    ],
)
def test_mns_and_a_sweep_racing_never_put_a_task_in_two_places(
    h: Harness, slow_answer: str
) -> None:
    """The MNS delivery's poll is held in the emulator while a sweep copies the task; its answer
    (a final code, throttling, or still running) then arrives too late to matter."""
    FIGURES.add("race_runs")
    h.timeout = 4.0
    task_id = h.make_task(images=2)
    late = ["throttle"] * 300 if slow_answer == "throttle" else []
    h.cloud.alimt.script(task_id, [f"latency:1.5:{slow_answer}", "ok", *late])
    mns = build_mns_event(
        "JSON",
        json.dumps({"TaskId": task_id}),
        topic_owner="1",
        topic_name="t",
        subscription_name="s",
    ).decode()
    contexts = [h.context(), h.context()]
    results: list[Invocation | None] = [None, None]

    def deliver_mns() -> None:
        results[0] = h.call(mns, contexts[0])

    with capture() as out:
        thread = threading.Thread(target=deliver_mns)
        thread.start()
        end = time.monotonic() + 10
        while h.cloud.alimt.steps_left(task_id) > 1 + len(late):  # its poll is held now
            assert time.monotonic() < end
            time.sleep(0.01)
        results[1] = h.call(SWEEP, contexts[1])
        thread.join(timeout=30)
    outcomes = settled_outcomes(h, results, out.getvalue(), task_id, expected=2)
    done = [r for r in results if r is not None]
    places = [
        key
        for key in (
            f"translated/{task_id}/manifest.json",
            f"collector/pending/{task_id}.json",
            f"collector/dead-letter/{task_id}.json",
        )
        if h.json_object(key) is not None
    ]
    if len(places) != 1:
        FIGURES.add("race_double_placed")
    assert sorted(outcomes) == ["already_copied", "copied"], outcomes
    assert account(h, task_id, done) == COPIED
    check_single_writes(h, task_id)
