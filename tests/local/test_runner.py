"""The FC-like runner invokes a handler the way Function Compute 3.0 does (tests/local/fixtures)."""

from __future__ import annotations

import hashlib
import json
import os
import random
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from local.credentials import CredentialStore, IssuedCredentials
from local.runner import (
    FunctionRunner,
    FunctionSpec,
    destination_name,
    mns_retry_intervals,
    resolve_placeholders,
)

REPO = Path(__file__).parents[2]
HANDLER_DIR = Path(__file__).parent / "fixtures" / "trivial_handler"

TEST_TEMPLATE = """\
edition: 3.0.0
name: runner-test
vars:
  greeting: hello from vars
  topic: test-topic
resources:
  echo:
    component: fc3
    props:
      region: cn-hangzhou
      functionName: echo-fn
      runtime: python3.12
      handler: index.handler
      code: {code}
      memorySize: 256
      timeout: 10
      environmentVariables:
        GREETING: ${{vars.greeting}}
      triggers:
        - triggerName: tick
          triggerType: timer
          triggerConfig:
            cronExpression: "0 * * * * *"
            enable: true
            payload: '{{"sweep": {{"maxTasks": 7}}}}'
        - triggerName: json-tasks
          triggerType: mns_topic
          sourceArn: acs:mns:cn-hangzhou:${{config('AccountID')}}:/topics/${{vars.topic}}
          triggerConfig:
            notifyContentFormat: JSON
            notifyStrategy: BACKOFF_RETRY
        - triggerName: stream-tasks
          triggerType: mns_topic
          sourceArn: acs:mns:cn-hangzhou:${{config('AccountID')}}:/topics/stream-topic
          triggerConfig:
            notifyContentFormat: STREAM
            notifyStrategy: BACKOFF_RETRY
        - triggerName: tagged-tasks
          triggerType: mns_topic
          sourceArn: acs:mns:cn-hangzhou:${{config('AccountID')}}:/topics/tagged-topic
          triggerConfig:
            notifyContentFormat: STREAM
            notifyStrategy: EXPONENTIAL_DECAY_RETRY
            filterTag: batch
      asyncInvokeConfig:
        maxAsyncRetryAttempts: 2
        maxAsyncEventAgeInSeconds: 3600
        destinationConfig:
          onFailure:
            destination: acs:mns:cn-hangzhou:${{config('AccountID')}}:/queues/test-dlq/messages
"""


@pytest.fixture
def spec(tmp_path: Path) -> FunctionSpec:
    template = tmp_path / "template.yml"
    template.write_text(TEST_TEMPLATE.format(code=HANDLER_DIR), encoding="utf-8")
    return FunctionSpec.from_template(template)


@pytest.fixture
def issued() -> list[IssuedCredentials]:
    return []


@pytest.fixture
def credentials(issued: list[IssuedCredentials]) -> Callable[[], IssuedCredentials]:
    store = CredentialStore()

    def issue() -> IssuedCredentials:
        creds = store.issue_sts(900)
        issued.append(creds)
        return creds

    return issue


@pytest.fixture
def make_runner(
    spec: FunctionSpec, credentials: Callable[[], IssuedCredentials], tmp_path: Path
) -> Iterator[Callable[..., FunctionRunner]]:
    runners: list[FunctionRunner] = []

    def make(**options: Any) -> FunctionRunner:
        options.setdefault("credentials", credentials)
        options.setdefault("destinations_dir", tmp_path / "destinations")
        options.setdefault("rng", random.Random(7))
        runner = FunctionRunner(spec, code_dir=HANDLER_DIR, env_overrides={}, **options)
        runners.append(runner)
        return runner

    yield make
    for runner in runners:
        runner.close()


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


# --- template -------------------------------------------------------------------------------------


def test_spec_reads_the_template_and_resolves_vars(spec: FunctionSpec) -> None:
    assert (spec.name, spec.handler, spec.runtime) == ("echo-fn", "index.handler", "python3.12")
    assert (spec.memory_size, spec.timeout) == (256, 10)
    assert spec.environment == {"GREETING": "hello from vars"}
    assert spec.code_path == HANDLER_DIR
    assert spec.trigger(None, "timer").payload == '{"sweep": {"maxTasks": 7}}'
    tasks = spec.trigger("json-tasks", "mns_topic")
    assert (tasks.notify_content_format, tasks.notify_strategy) == ("JSON", "BACKOFF_RETRY")
    assert tasks.topic_name == "test-topic"
    assert spec.async_config.max_retry_attempts == 2
    assert spec.async_config.on_failure is not None
    assert destination_name(spec.async_config.on_failure) == "test-dlq"
    with pytest.raises(LookupError):
        spec.trigger("nope", "mns_topic")


def test_real_template_loads() -> None:
    spec = FunctionSpec.from_template(REPO / "template.yml")
    assert (spec.name, spec.handler, spec.runtime) == (
        "alimt-result-collector",
        "index.handler",
        "python3.12",
    )
    assert (spec.memory_size, spec.timeout, spec.instance_concurrency) == (512, 300, 1)
    assert spec.code_path == REPO / "dist/alimt-result-collector.zip"  # `make package`
    assert (spec.initializer, spec.initializer_timeout) == ("index.initialize", 60)
    assert spec.environment["OUTPUT_BUCKET"] and "${" not in spec.environment["OUTPUT_BUCKET"]
    assert json.loads(spec.trigger("sweep", "timer").payload) == {"sweep": {"maxTasks": 500}}
    tasks = spec.trigger("tasks", "mns_topic")
    assert (tasks.notify_content_format, tasks.notify_strategy) == (
        "JSON",
        "EXPONENTIAL_DECAY_RETRY",
    )
    assert spec.async_config.max_retry_attempts == 3
    assert spec.async_config.max_event_age_s == 3600
    assert destination_name(spec.async_config.on_failure or "") == "alimt-collector-dlq"


def test_placeholders_resolve_from_vars_and_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNNER_TEST_VALUE", "from-env")
    resolved = resolve_placeholders(
        {"a": "${vars.n}", "b": "x-${vars.s}-${env(RUNNER_TEST_VALUE)}", "c": ["${config('X')}"]},
        {"n": 5, "s": "str"},
    )
    assert resolved == {"a": 5, "b": "x-str-from-env", "c": ["${config('X')}"]}


# --- synchronous invocation -----------------------------------------------------------------------


def test_python312_style_gets_env_credentials_context_and_bytes(
    make_runner: Callable[..., FunctionRunner],
    issued: list[IssuedCredentials],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.invalid:3128")  # must not reach the instance
    runner = make_runner(runtime_style="python3.12")
    result = runner.invoke({"print": "hello log"})
    assert result.ok, result.error
    seen = result.result
    assert seen["eventType"] == "bytes"
    assert json.loads(seen["eventText"]) == {"print": "hello log"}
    assert seen["requestId"] == result.request_id
    assert (seen["region"], seen["accountId"]) == ("cn-hangzhou", "1234567890123456")
    assert seen["function"] == {
        "name": "echo-fn",
        "handler": "index.handler",
        "memory": 256,
        "timeout": 10,
    }
    creds = issued[-1]
    assert seen["hasContextCredentials"] is False
    assert seen["envCredentials"] == {
        "accessKeyId": creds.access_key_id,
        "secretSha256": sha256(creds.access_key_secret),
        "securityToken": creds.security_token,
    }
    assert seen["fcEnv"] == {
        "FC_FUNCTION_NAME": "echo-fn",
        "FC_REGION": "cn-hangzhou",
        "FC_ACCOUNT_ID": "1234567890123456",
    }
    assert seen["templateEnv"] == "hello from vars"
    assert seen["proxy"] is None
    assert "hello log" in result.logs
    assert f"FC Invoke End RequestId: {result.request_id}" in result.logs
    assert creds.access_key_secret not in result.logs


def test_python310_style_gets_context_credentials_only(
    make_runner: Callable[..., FunctionRunner],
    issued: list[IssuedCredentials],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", "HOST-KEY-MUST-NOT-LEAK")
    runner = make_runner(runtime_style="python3.10")
    seen = runner.invoke(b"not json").result
    creds = issued[-1]
    assert seen["eventText"] == "not json"
    assert seen["contextCredentials"] == {
        "accessKeyId": creds.access_key_id,
        "secretSha256": sha256(creds.access_key_secret),
        "securityToken": creds.security_token,
    }
    assert seen["envCredentials"] == {
        "accessKeyId": None,
        "secretSha256": None,
        "securityToken": None,
    }


def test_both_styles_get_fresh_credentials_on_every_call(
    make_runner: Callable[..., FunctionRunner], issued: list[IssuedCredentials]
) -> None:
    runner = make_runner(runtime_style="both")
    first = runner.invoke({}).result
    second = runner.invoke({}).result
    assert len(issued) == 2 and issued[0].access_key_id != issued[1].access_key_id
    for seen, creds in ((first, issued[0]), (second, issued[1])):
        assert seen["contextCredentials"]["accessKeyId"] == creds.access_key_id
        assert seen["envCredentials"]["accessKeyId"] == creds.access_key_id


def test_warm_instance_is_reused(make_runner: Callable[..., FunctionRunner]) -> None:
    runner = make_runner()
    first = runner.invoke({})
    second = runner.invoke({})
    assert (first.cold_start, second.cold_start) == (True, False)
    assert first.result["pid"] == second.result["pid"] == runner.instance_pid
    assert first.result["loadedAt"] == second.result["loadedAt"]  # module imported once
    assert first.request_id != second.request_id


def test_handler_error_fails_the_call_but_keeps_the_instance(
    make_runner: Callable[..., FunctionRunner],
) -> None:
    runner = make_runner()
    failed = runner.invoke({"fail": "boom"})
    assert not failed.ok and not failed.timed_out
    assert failed.error is not None
    assert (failed.error["errorType"], failed.error["errorMessage"]) == ("RuntimeError", "boom")
    assert any("index.py" in frame for frame in failed.error["stackTrace"])
    assert "RuntimeError: boom" in failed.logs
    after = runner.invoke({})
    assert after.ok and after.result["pid"] == failed.instance_pid


def test_timeout_kills_the_instance_and_the_next_call_cold_starts(
    make_runner: Callable[..., FunctionRunner],
) -> None:
    runner = make_runner(timeout_override=1.0)
    warm = runner.invoke({})
    started = time.monotonic()
    slow = runner.invoke({"sleep": 10, "print": "started slow work"})
    elapsed = time.monotonic() - started
    assert slow.timed_out and not slow.ok
    assert slow.error is not None and slow.error["errorType"] == "FunctionTimeout"
    assert 0.9 <= elapsed < 2.5
    assert "started slow work" in slow.logs
    assert not process_exists(warm.result["pid"])
    fresh = runner.invoke({})
    assert fresh.ok and fresh.cold_start
    assert fresh.result["pid"] != warm.result["pid"]
    assert fresh.result["function"]["timeout"] == 1


def test_missing_handler_is_reported_like_fc(tmp_path: Path) -> None:
    spec = FunctionSpec(name="broken", handler="index.no_such_handler", runtime="python3.12")
    with FunctionRunner(spec, code_dir=HANDLER_DIR, env_overrides={}, credentials=None) as runner:
        result = runner.invoke({})
    assert not result.ok
    assert result.error is not None and result.error["errorType"] == "HandlerNotFound"


# --- asynchronous invocation ----------------------------------------------------------------------


def test_async_retries_then_writes_the_on_failure_record(
    make_runner: Callable[..., FunctionRunner], tmp_path: Path
) -> None:
    runner = make_runner()
    event = {"fail": "always broken", "taskId": "EEA28E6D-4828-5031-BD8C-8FF1B3216842"}
    outcome = runner.invoke_async(event)
    assert len(outcome.attempts) == 3  # the first call + maxAsyncRetryAttempts 2
    assert not any(attempt.ok for attempt in outcome.attempts)
    assert outcome.waits_s == [1.0, 2.0]
    assert (outcome.destination, outcome.condition) == ("onFailure", "RetriesExhausted")
    assert outcome.record_path is not None
    assert outcome.record_path.parent == tmp_path / "destinations" / "test-dlq"
    record = json.loads(outcome.record_path.read_text())
    assert json.loads(record["requestPayload"]) == event
    assert record["responsePayload"]["errorMessage"] == "always broken"
    assert record["responsePayload"]["errorType"] == "RuntimeError"
    assert (record["functionName"], record["attempts"]) == ("echo-fn", 3)
    assert record["requestContext"]["condition"] == "RetriesExhausted"


def test_async_success_after_two_failures_goes_nowhere(
    make_runner: Callable[..., FunctionRunner], tmp_path: Path
) -> None:
    runner = make_runner()
    counter = tmp_path / "counter"
    outcome = runner.invoke_async({"failTimes": 2, "counterFile": str(counter)})
    assert [attempt.ok for attempt in outcome.attempts] == [False, False, True]
    assert outcome.ok and outcome.condition == "Success"
    assert outcome.destination is None and outcome.record_path is None  # no onSuccess configured
    assert not (tmp_path / "destinations").exists()
    assert counter.read_text() == "xxx"


# --- MNS topic trigger ----------------------------------------------------------------------------


def test_mns_json_event_without_attributes(make_runner: Callable[..., FunctionRunner]) -> None:
    runner = make_runner()
    body = "EEA28E6D-4828-5031-BD8C-8FF1B3216842"
    before_ms = int(time.time() * 1000)
    delivery = runner.publish_mns(body, trigger="json-tasks")
    assert delivery.consumed and len(delivery.attempts) == 1
    event = json.loads(delivery.event)
    assert set(event) == {
        "TopicOwner",
        "TopicName",
        "Subscriber",
        "SubscriptionName",
        "MessageId",
        "Message",
        "MessageMD5",
        "PublishTime",
    }
    assert event["Message"] == body
    assert event["MessageMD5"] == hashlib.md5(body.encode()).hexdigest().upper()
    assert (event["TopicName"], event["TopicOwner"]) == ("test-topic", "1234567890123456")
    assert before_ms <= event["PublishTime"] <= int(time.time() * 1000)
    assert delivery.attempts[0].result["eventText"].encode() == delivery.event


def test_mns_json_event_merges_attributes(make_runner: Callable[..., FunctionRunner]) -> None:
    body = json.dumps({"TaskId": "EEA28E6D-4828-5031-BD8C-8FF1B3216842", "outputPrefix": "custom/"})
    delivery = make_runner().publish_mns(body, {"origin": "submitter"}, trigger="json-tasks")
    event = json.loads(delivery.event)
    assert event["origin"] == "submitter"
    assert json.loads(event["Message"])["outputPrefix"] == "custom/"
    assert event["MessageMD5"] == hashlib.md5(body.encode()).hexdigest().upper()


def test_mns_stream_event_is_the_body_or_body_and_attrs(
    make_runner: Callable[..., FunctionRunner],
) -> None:
    runner = make_runner()
    body = '{"taskId": "EEA28E6D-4828-5031-BD8C-8FF1B3216842"}'
    plain = runner.publish_mns(body, trigger="stream-tasks")
    assert plain.event == body.encode()
    assert plain.attempts[0].result["eventText"] == body
    with_attrs = runner.publish_mns(body, {"origin": "submitter"}, trigger="stream-tasks")
    assert json.loads(with_attrs.event) == {
        "body": body,
        "attrs": {"Extend": '{"origin":"submitter"}'},
    }


def test_mns_backoff_retry_until_success(
    make_runner: Callable[..., FunctionRunner], tmp_path: Path
) -> None:
    counter = tmp_path / "mns-counter"
    attributes = {"failTimes": "2", "counterFile": str(counter)}  # merged into the JSON event
    delivery = make_runner().publish_mns("task", attributes, trigger="json-tasks")
    assert [attempt.ok for attempt in delivery.attempts] == [False, False, True]
    assert delivery.consumed
    assert len(delivery.waits_s) == 2 and all(10 <= wait <= 20 for wait in delivery.waits_s)
    assert json.loads(delivery.attempts[-1].result["eventText"])["failTimes"] == "2"


def test_mns_backoff_retry_gives_up_after_three_retries(
    make_runner: Callable[..., FunctionRunner],
) -> None:
    delivery = make_runner().publish_mns("task", {"fail": "down"}, trigger="json-tasks")
    assert len(delivery.attempts) == 4 and not delivery.consumed
    assert len(delivery.waits_s) == 3


def test_mns_filter_tag_and_exponential_decay(make_runner: Callable[..., FunctionRunner]) -> None:
    runner = make_runner()
    untagged = runner.publish_mns("x", trigger="tagged-tasks")
    assert untagged.filtered and untagged.attempts == []
    failing = runner.publish_mns(
        '{"fail": "no"}', trigger="tagged-tasks", tag="batch", max_retries=4
    )
    assert len(failing.attempts) == 5 and failing.waits_s == [1.0, 2.0, 4.0, 8.0]
    full = mns_retry_intervals("EXPONENTIAL_DECAY_RETRY", random.Random(0))
    assert len(full) == 176 and full[9] == 512.0 and full[-1] == 512.0


# --- timer trigger --------------------------------------------------------------------------------


def test_timer_tick_delivers_the_configured_payload(
    make_runner: Callable[..., FunctionRunner],
) -> None:
    when = datetime(2025, 1, 1, 0, 1, tzinfo=timezone.utc)
    result = make_runner().tick_timer(trigger_time=when)
    assert result.ok
    assert json.loads(result.result["eventText"]) == {
        "triggerTime": "2025-01-01T00:01:00Z",
        "triggerName": "tick",
        "payload": '{"sweep": {"maxTasks": 7}}',
    }
