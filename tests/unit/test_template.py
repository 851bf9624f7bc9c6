"""template.yml is a valid fc3 deployment (official component schema) and keeps the contract the
function's code relies on."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

REPO = Path(__file__).parents[2]
TEMPLATE = REPO / "template.yml"
SCHEMA = REPO.parent / "shared/reference/fc3-schema.json"

REQUIRED_ENV = {
    "OUTPUT_BUCKET",
    "OUTPUT_PREFIX",
    "STATE_PREFIX",
    "ALIMT_ENDPOINT",
    "OSS_ENDPOINT",
    "ALLOWED_SOURCE_HOSTS",
    "ALLOW_INSECURE_SOURCES",
    "WAIT_BUDGET_SECONDS",
    "SAFETY_MARGIN_SECONDS",
    "COPY_CONCURRENCY",
    "MAX_IMAGE_BYTES",
    "PENDING_LIFETIME_SECONDS",
    "API_QPS",
    "MAX_TASKS_PER_EVENT",
    "SWEEP_MAX_SECONDS",
    "SWEEP_SHARDS_MAX",
    "LOG_LEVEL",
}


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    if not SCHEMA.is_file():
        pytest.fail(
            f"fc3 schema not found at {SCHEMA}: CI keeps ../shared/ beside the clone "
            "(shared/reference/fc3-schema.json); restore it rather than skipping this check"
        )
    loaded: dict[str, Any] = json.loads(SCHEMA.read_text(encoding="utf-8"))
    return loaded


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(TEMPLATE.read_text(encoding="utf-8"))
    return loaded


@pytest.fixture(scope="module")
def props(template: dict[str, Any]) -> dict[str, Any]:
    resources = [r for r in template["resources"].values() if r.get("component") == "fc3"]
    assert len(resources) == 1, "template.yml should deploy exactly one fc3 function"
    resource_props: dict[str, Any] = resources[0]["props"]
    return resource_props


def schema_errors(schema: dict[str, Any], props: dict[str, Any]) -> list[str]:
    validator_class = jsonschema.validators.validator_for(schema)  # honours "$schema" (draft-07)
    validator_class.check_schema(schema)
    validator = validator_class(schema)
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(props)]


def trigger(props: dict[str, Any], trigger_type: str) -> dict[str, Any]:
    matches = [t for t in props["triggers"] if t["triggerType"] == trigger_type]
    assert len(matches) == 1, f"expected one {trigger_type} trigger"
    return matches[0]


def test_serverless_devs_3_edition(template: dict[str, Any]) -> None:
    assert str(template["edition"]) == "3.0.0"
    assert all(r["component"] == "fc3" for r in template["resources"].values())


def test_every_fc3_resource_validates_against_the_schema(
    template: dict[str, Any], schema: dict[str, Any]
) -> None:
    for name, resource in template["resources"].items():
        assert schema_errors(schema, resource["props"]) == [], name


def test_function_contract(props: dict[str, Any]) -> None:
    assert props["functionName"] == "alimt-result-collector"
    assert props["handler"] == "index.handler"
    assert props["runtime"] == "python3.12"
    assert props["code"] == "./function"
    assert props["memorySize"] % 64 == 0
    assert props["timeout"] > int(props["environmentVariables"]["SAFETY_MARGIN_SECONDS"])
    assert props["instanceConcurrency"] == 1
    assert props["role"].startswith("${vars.") or props["role"].startswith("acs:ram::")


def test_environment_variables_are_complete_strings(props: dict[str, Any]) -> None:
    env = props["environmentVariables"]
    assert set(env) >= REQUIRED_ENV
    assert all(isinstance(value, str) for value in env.values())
    assert env["OUTPUT_PREFIX"].endswith("/") and env["STATE_PREFIX"].endswith("/")
    assert env["ALLOW_INSECURE_SOURCES"] == "false"
    # The sweep must end well before the function's hard kill.
    assert int(env["SWEEP_MAX_SECONDS"]) + int(env["SAFETY_MARGIN_SECONDS"]) < props["timeout"]


def test_timer_trigger_runs_every_minute_with_a_json_payload(props: dict[str, Any]) -> None:
    timer = trigger(props, "timer")
    config = timer["triggerConfig"]
    assert len(config["cronExpression"].split()) == 6  # FC cron has a seconds field
    assert config["enable"] is True
    assert "sweep" in json.loads(config["payload"])


def test_mns_topic_trigger(props: dict[str, Any]) -> None:
    mns = trigger(props, "mns_topic")
    assert mns["triggerConfig"]["notifyContentFormat"] in {"JSON", "STREAM"}
    assert mns["triggerConfig"]["notifyStrategy"] == "EXPONENTIAL_DECAY_RETRY"
    assert "/topics/" in mns["sourceArn"]
    assert mns["invocationRole"]


def test_failed_async_events_go_to_a_dead_letter_queue(props: dict[str, Any]) -> None:
    config = props["asyncInvokeConfig"]
    assert config["maxAsyncRetryAttempts"] == 3
    assert config["maxAsyncEventAgeInSeconds"] == 3600
    destination = config["destinationConfig"]["onFailure"]["destination"]
    assert destination.startswith("acs:mns:cn-hangzhou:")
    assert destination.endswith("/queues/alimt-collector-dlq/messages")


@pytest.mark.parametrize(
    ("mutation", "expected_in_error"),
    [
        (lambda p: p.update(memorySize=100), "memorySize"),
        (lambda p: p["triggers"][0].update(triggerType="cron"), "triggers"),
        (lambda p: p.update(timeout=0), "timeout"),
        (lambda p: p.pop("handler"), "'handler' is a required property"),
    ],
    ids=["memory-not-multiple-of-64", "unknown-trigger-type", "zero-timeout", "no-handler"],
)
def test_schema_check_rejects_a_broken_template(
    props: dict[str, Any], schema: dict[str, Any], mutation: Any, expected_in_error: str
) -> None:
    broken = copy.deepcopy(props)
    mutation(broken)
    errors = schema_errors(schema, broken)
    assert errors, "a broken template passed the schema check"
    assert any(expected_in_error in error for error in errors), errors
