"""Fault matrix, alimt rows: every business code, throttling, gateway errors, transport failures,
odd answers and odd tasks, through the real handler and SDK against the alimt emulator.

Each row asserts where the task ended (tests.reliability.support.account), what the invocation
returned or raised, and how often the API was asked."""

from __future__ import annotations

from typing import Any

import pytest

from local.alimt_emulator import BUSINESS_CODES
from tests.reliability.support import (
    COPIED,
    DEAD_LETTERED,
    PENDING,
    Harness,
    Invocation,
    account,
    check_single_writes,
)

RESULT = "GetTranslateImageBatchResult"
TRANSIENT_CODES = {101, 102, 112}
REDRIVABLE_CODES = {110, 111, 113}
SHORT_TIMEOUT = 2.5  # a function timeout that a persistent transient fault outlasts quickly


def polls(h: Harness, task_id: str) -> int:
    return h.cloud.alimt.calls(RESULT, task_id)


def outlast_budget(h: Harness, task_id: str, step: str) -> Invocation:
    """The fault answers every poll: the invocation gives up at its deadline, keeps the task
    pending and raises the retryable error naming it."""
    h.timeout = SHORT_TIMEOUT
    h.cloud.alimt.script(task_id, [step] * 200)
    invocation = h.invoke({"taskId": task_id})
    assert invocation.retryable, invocation.error
    assert task_id in str(invocation.error)
    assert invocation.seconds < SHORT_TIMEOUT, "it stopped before the function timeout"
    assert account(h, task_id, [invocation]) == PENDING
    assert polls(h, task_id) >= 2, "it retried in process before giving up"
    return invocation


def then_recovers(h: Harness, task_id: str) -> None:
    """The fault is gone: the next delivery copies everything, each object written once."""
    h.cloud.alimt.clear_faults()
    again = h.invoke({"taskId": task_id})
    assert again.error is None, again.error
    assert again.result_for(task_id)["outcome"] == "copied"  # type: ignore[index]
    assert account(h, task_id, [again]) == COPIED
    check_single_writes(h, task_id)


def dead_letter(h: Harness, task_id: str) -> dict[str, Any]:
    letter = h.json_object(f"collector/dead-letter/{task_id}.json")
    assert letter is not None
    return letter


@pytest.mark.parametrize("code", sorted(BUSINESS_CODES))
def test_business_code(h: Harness, code: int) -> None:
    task_id = h.make_task(images=1)
    if code in TRANSIENT_CODES:
        invocation = outlast_budget(h, task_id, f"code:{code}")
        record = h.json_object(f"collector/pending/{task_id}.json")
        assert record is not None and record["lastCode"] == f"alimt:{code}"
        assert f"alimt:{code}" in str(invocation.error)
        then_recovers(h, task_id)
        return
    h.cloud.alimt.script(task_id, [f"code:{code}"])
    invocation = h.invoke({"taskId": task_id})
    assert invocation.error is None, "a final error does not ask the platform to retry"
    result = invocation.result_for(task_id)
    assert result is not None and result["outcome"] == "dead_lettered"
    assert result["code"] == f"alimt:{code}"
    assert account(h, task_id, [invocation]) == DEAD_LETTERED
    letter = dead_letter(h, task_id)
    assert letter["code"] == str(code) and letter["rule"] == f"alimt:{code}"
    assert letter["redrivable"] is (code in REDRIVABLE_CODES)
    assert BUSINESS_CODES[code] in letter["reason"]
    assert polls(h, task_id) == 1, "what cannot succeed is never retried"
    assert h.object_keys(f"translated/{task_id}/") == []


@pytest.mark.parametrize("code", sorted(TRANSIENT_CODES))
def test_transient_business_code_once_is_retried_in_process(h: Harness, code: int) -> None:
    task_id = h.make_task(images=1)
    h.cloud.alimt.script(task_id, [f"code:{code}"])
    invocation = h.invoke({"taskId": task_id})
    assert invocation.error is None
    assert account(h, task_id, [invocation]) == COPIED
    assert polls(h, task_id) == 2
    check_single_writes(h, task_id)


@pytest.mark.parametrize("step", ["throttle", "throttle-retry-after:300"])
def test_throttling_once(h: Harness, step: str) -> None:
    task_id = h.make_task(images=2)
    h.cloud.alimt.script(task_id, [step])
    invocation = h.invoke({"taskId": task_id})
    assert invocation.error is None
    assert account(h, task_id, [invocation]) == COPIED
    assert polls(h, task_id) == 2
    retries = [line for line in invocation.lines if line["event"] == "retry_decision"]
    assert [line["code"] for line in retries] == ["alimt:Throttling"]
    if step.startswith("throttle-retry-after"):
        assert retries[0]["delaySeconds"] >= 0.3, "the server's Retry-After is honoured"
    check_single_writes(h, task_id)


def test_throttling_that_outlasts_the_time_budget(h: Harness) -> None:
    task_id = h.make_task(images=1)
    invocation = outlast_budget(h, task_id, "throttle")
    record = h.json_object(f"collector/pending/{task_id}.json")
    assert record is not None and record["lastCode"] == "alimt:Throttling"
    assert "alimt:Throttling" in str(invocation.error)
    then_recovers(h, task_id)


def test_account_wide_qps_quota_is_respected(h: Harness) -> None:
    """A quota of 2 QPS and 6 tasks in one event: throttled calls are retried, every task copied."""
    h.cloud.alimt.set_qps_quota(2)
    task_ids = [h.make_task(images=1, need_editor_data=False) for _ in range(6)]
    invocation = h.invoke({"taskIds": task_ids})
    assert invocation.error is None, invocation.error
    for task_id in task_ids:
        assert account(h, task_id, [invocation]) == COPIED


@pytest.mark.parametrize("status", [500, 502, 503])
def test_gateway_server_error_once(h: Harness, status: int) -> None:
    task_id = h.make_task(images=1)
    h.cloud.alimt.script(task_id, [f"http:{status}"])
    invocation = h.invoke({"taskId": task_id})
    assert invocation.error is None
    assert account(h, task_id, [invocation]) == COPIED
    assert polls(h, task_id) == 2
    check_single_writes(h, task_id)


def test_gateway_html_error_page_once(h: Harness) -> None:
    task_id = h.make_task(images=1)
    h.cloud.alimt.script(task_id, ["html:502"])
    invocation = h.invoke({"taskId": task_id})
    assert invocation.error is None
    assert account(h, task_id, [invocation]) == COPIED


def test_gateway_server_error_that_outlasts_the_budget(h: Harness) -> None:
    task_id = h.make_task(images=1)
    invocation = outlast_budget(h, task_id, "http:503")
    assert "alimt:HTTP5xx" in str(invocation.error)
    then_recovers(h, task_id)


def test_read_timeout(h: Harness) -> None:
    h.configure(API_TIMEOUT_SECONDS="0.5")
    task_id = h.make_task(images=1)
    h.cloud.alimt.script(task_id, ["hang:1.5"])
    invocation = h.invoke({"taskId": task_id})
    assert invocation.error is None
    assert account(h, task_id, [invocation]) == COPIED
    retries = [line["code"] for line in invocation.lines if line["event"] == "retry_decision"]
    assert retries == ["alimt:Timeout"]


def test_connection_reset(h: Harness) -> None:
    task_id = h.make_task(images=1)
    h.cloud.alimt.script(task_id, ["reset"])
    invocation = h.invoke({"taskId": task_id})
    assert invocation.error is None
    assert account(h, task_id, [invocation]) == COPIED
    retries = [line["code"] for line in invocation.lines if line["event"] == "retry_decision"]
    assert retries == ["alimt:ConnectionError"]


def test_response_that_is_not_json(h: Harness) -> None:
    task_id = h.make_task(images=1)
    h.cloud.alimt.script(task_id, ["notjson"])
    invocation = h.invoke({"taskId": task_id})
    assert invocation.error is None
    assert account(h, task_id, [invocation]) == COPIED
    retries = [line["code"] for line in invocation.lines if line["event"] == "retry_decision"]
    assert retries == ["alimt:BadResponse"]


def test_response_that_is_never_json(h: Harness) -> None:
    task_id = h.make_task(images=1)
    outlast_budget(h, task_id, "notjson")
    record = h.json_object(f"collector/pending/{task_id}.json")
    assert record is not None and record["lastCode"] == "alimt:BadResponse"
    then_recovers(h, task_id)


def test_finished_with_an_empty_result(h: Harness) -> None:
    task_id = h.make_task(images=2)
    h.cloud.alimt.script(task_id, ["empty-result"])
    invocation = h.invoke({"taskId": task_id})
    assert invocation.error is None
    assert account(h, task_id, [invocation]) == DEAD_LETTERED
    assert dead_letter(h, task_id)["code"] == "EmptyResult"
    assert h.object_keys(f"translated/{task_id}/") == []


def test_result_entry_missing_its_urls(h: Harness) -> None:
    task_id = h.make_task(images=2)
    h.cloud.alimt.script(task_id, ["missing-urls"])
    invocation = h.invoke({"taskId": task_id})
    assert invocation.error is None
    assert account(h, task_id, [invocation]) == COPIED
    manifest = h.json_object(f"translated/{task_id}/manifest.json")
    assert manifest is not None and manifest["status"] == "finished_with_errors"
    assert [entry["code"] for entry in manifest["images"]] == ["MissingImageUrl"] * 2
    assert all(entry["final"] is None for entry in manifest["images"])
    check_single_writes(h, task_id)


def test_failed_task(h: Harness) -> None:
    task_id = h.make_task(images=1, fail_task=True)
    invocation = h.invoke({"taskId": task_id})
    assert invocation.error is None
    assert account(h, task_id, [invocation]) == DEAD_LETTERED
    assert dead_letter(h, task_id)["code"] == "failed"
    assert polls(h, task_id) == 1


@pytest.mark.parametrize("how", ["expired", "unknown"])
def test_expired_or_unknown_task(h: Harness, how: str) -> None:
    if how == "expired":
        task_id = h.make_task(images=1)
        h.cloud.alimt.expire_task(task_id)
    else:
        task_id = "TASK-NEVER-SUBMITTED-0001"
    invocation = h.invoke({"taskId": task_id})
    assert invocation.error is None
    assert account(h, task_id, [invocation]) == DEAD_LETTERED
    letter = dead_letter(h, task_id)
    assert letter["code"] == "invalid" and letter["redrivable"] is False
    assert polls(h, task_id) == 1


@pytest.mark.parametrize(
    ("gateway_code", "redrivable"),
    [
        ("400:SignatureDoesNotMatch", True),
        ("404:InvalidAccessKeyId.NotFound", True),
        ("400:InvalidSecurityToken.MismatchWithAccessKey", True),
        ("403:Forbidden.RAM", True),
    ],
)
def test_request_refused_for_its_credentials(
    h: Harness, gateway_code: str, redrivable: bool
) -> None:
    task_id = h.make_task(images=1)
    h.cloud.alimt.script(task_id, [f"http:{gateway_code}"])
    invocation = h.invoke({"taskId": task_id})
    assert invocation.error is None
    assert account(h, task_id, [invocation]) == DEAD_LETTERED
    assert dead_letter(h, task_id)["redrivable"] is redrivable
    assert polls(h, task_id) == 1


def test_alimt_says_the_sts_token_expired(h: Harness) -> None:
    """Only alimt refuses the token (say, clock skew): transient, since the next invocation gets
    fresh keys from FC."""
    task_id = h.make_task(images=1)
    invocation = outlast_budget(h, task_id, "http:400:InvalidSecurityToken.Expired")
    assert "alimt:InvalidSecurityToken.Expired" in str(invocation.error)
    then_recovers(h, task_id)


def test_expired_sts_token_everywhere(h: Harness) -> None:
    """The invocation's STS keys are expired for OSS and alimt alike: nothing can be written, so the
    invocation fails for the platform to retry; the retry (fresh keys) collects the task."""
    task_id = h.make_task(images=1)
    h.credential_ttl = 1.0
    h.load()
    context = h.context()
    h.cloud.clock.advance(5.0)
    from tests.reliability.support import capture

    with capture() as out:
        invocation = h.call({"taskId": task_id}, context)
    invocation.log_text = out.getvalue()
    h.scan(invocation)
    assert invocation.retryable and task_id in str(invocation.error)
    assert account(h, task_id, [invocation]) == "platform"
    assert h.object_keys("translated/") == []

    h.credential_ttl = 3600.0
    again = h.invoke({"taskId": task_id})
    assert again.error is None
    assert account(h, task_id, [again]) == COPIED
