"""template.yml is a valid fc3 deployment (official component schema) and keeps the contract the
function's code relies on."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from local.runner import resolve_placeholders

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
        # as `s` does before the component sees them: ${vars.*} resolved (region is an enum)
        props = resolve_placeholders(resource["props"], template.get("vars") or {})
        assert schema_errors(schema, props) == [], name


def test_function_contract(props: dict[str, Any]) -> None:
    assert props["functionName"] == "alimt-result-collector"
    assert props["handler"] == "index.handler"
    assert props["runtime"] == "python3.12"
    assert props["memorySize"] % 64 == 0
    assert props["timeout"] > int(props["environmentVariables"]["SAFETY_MARGIN_SECONDS"])
    # a no-op on built-in runtimes (fc-facts.md): leaving it out says what FC does
    assert "instanceConcurrency" not in props
    assert props["role"].startswith("${vars.") or props["role"].startswith("acs:ram::")


def test_the_deployed_code_is_the_built_package(template: dict[str, Any]) -> None:
    [resource] = template["resources"].values()
    # the artifact `make package` writes and tests/e2e/test_package.py runs, not function/
    assert resource["props"]["code"] == "./dist/alimt-result-collector.zip"
    assert {"run": "make package", "path": "./"} in resource["actions"]["pre-deploy"]


def test_logs_reach_simple_log_service(props: dict[str, Any]) -> None:
    log_config = props["logConfig"]
    assert log_config == "auto" or {"project", "logstore"} <= set(log_config)


def test_cpu_and_memory_follow_the_fc3_ratio_rules(props: dict[str, Any]) -> None:
    cpu, memory_gb = props["cpu"], props["memorySize"] / 1024
    assert round(cpu / 0.05, 6) == round(cpu / 0.05)  # a multiple of 0.05 vCPU
    assert 1 <= memory_gb / cpu <= 4  # memory (GB) between 1x and 4x the vCPUs
    assert props["diskSize"] in (512, 10240)


def test_an_initializer_warms_each_instance(props: dict[str, Any]) -> None:
    initializer = props["instanceLifecycleConfig"]["initializer"]
    assert initializer["handler"] == "index.initialize"
    assert 1 <= initializer["timeout"] <= props["timeout"]
    import index  # the handler FC calls must exist

    assert callable(index.initialize)


def test_regions_and_names_live_in_vars(template: dict[str, Any]) -> None:
    without_vars = {key: value for key, value in template.items() if key != "vars"}
    assert "cn-hangzhou" not in json.dumps(without_vars)
    for name in ("region", "topic_name", "dlq_name"):
        assert template["vars"][name], name
    used = set(re.findall(r"\$\{vars\.([\w-]+)\}", json.dumps(without_vars)))
    assert used <= set(template["vars"]), used - set(template["vars"])


def test_environment_variables_are_complete_strings(props: dict[str, Any]) -> None:
    env = props["environmentVariables"]
    assert set(env) >= REQUIRED_ENV
    assert all(isinstance(value, str) for value in env.values())
    assert env["OUTPUT_PREFIX"].endswith("/") and env["STATE_PREFIX"].endswith("/")
    assert env["ALLOW_INSECURE_SOURCES"] == "false"
    # The sweep must end well before the function's hard kill.
    assert int(env["SWEEP_MAX_SECONDS"]) + int(env["SAFETY_MARGIN_SECONDS"]) < props["timeout"]


# The fc3 schema accepts unknown keys inside triggerConfig (a misspelt `cronExpresion` passes it):
# each trigger config the template uses is checked against its documented keys and values here.
TIMER_KEYS = {"cronExpression", "enable", "payload"}
MNS_TOPIC_KEYS = {"notifyContentFormat", "notifyStrategy", "filterTag"}
NOTIFY_CONTENT_FORMATS = {"STREAM", "JSON"}
NOTIFY_STRATEGIES = {"BACKOFF_RETRY", "EXPONENTIAL_DECAY_RETRY"}
# FC cron: seconds minutes hours day-of-month month day-of-week, in UTC (fields of digits and */,-?)
CRON_FIELD = re.compile(r"^(\*|\?|\d+(-\d+)?)(/\d+)?(,(\*|\d+(-\d+)?)(/\d+)?)*$")


def timer_config_problems(config: dict[str, Any]) -> list[str]:
    problems = [f"unknown timer key {key!r}" for key in set(config) - TIMER_KEYS]
    fields = str(config.get("cronExpression", "")).split()
    if len(fields) != 6 or not all(CRON_FIELD.match(f) for f in fields):
        problems.append(f"cronExpression {config.get('cronExpression')!r} is not six cron fields")
    if not isinstance(config.get("enable"), bool):
        problems.append("enable must be a boolean")
    if "payload" in config and not isinstance(config["payload"], str):
        problems.append("payload must be a string")
    return problems


def mns_topic_config_problems(config: dict[str, Any]) -> list[str]:
    problems = [f"unknown mns_topic key {key!r}" for key in set(config) - MNS_TOPIC_KEYS]
    if config.get("notifyContentFormat") not in NOTIFY_CONTENT_FORMATS:
        problems.append(f"notifyContentFormat {config.get('notifyContentFormat')!r}")
    if config.get("notifyStrategy") not in NOTIFY_STRATEGIES:
        problems.append(f"notifyStrategy {config.get('notifyStrategy')!r}")
    if "filterTag" in config and not (
        isinstance(config["filterTag"], str) and 0 < len(config["filterTag"]) <= 16
    ):
        problems.append("filterTag must be a string of 1-16 characters")
    return problems


TRIGGER_CHECKS = {"timer": timer_config_problems, "mns_topic": mns_topic_config_problems}


def test_every_trigger_config_uses_documented_keys_and_values(props: dict[str, Any]) -> None:
    for item in props["triggers"]:
        check = TRIGGER_CHECKS.get(item["triggerType"])
        assert check is not None, f"add the documented values of {item['triggerType']} triggers"
        assert check(item["triggerConfig"]) == [], item["triggerName"]


@pytest.mark.parametrize(
    ("trigger_type", "mutation", "expected"),
    [
        ("timer", lambda c: c.update(cronExpresion=c.pop("cronExpression")), "cronExpresion"),
        ("timer", lambda c: c.update(cronExpression="* * * * *"), "six cron fields"),
        ("timer", lambda c: c.update(enable="true"), "boolean"),
        ("mns_topic", lambda c: c.update(notifyStrategy="RETRY_FOREVER"), "notifyStrategy"),
        ("mns_topic", lambda c: c.update(notifyContentFormat="XML"), "notifyContentFormat"),
        ("mns_topic", lambda c: c.update(filtertag="x"), "filtertag"),
    ],
    ids=["misspelt-cron", "five-field-cron", "string-enable", "strategy", "format", "misspelt-tag"],
)
def test_trigger_checks_catch_what_the_schema_lets_through(
    props: dict[str, Any], schema: dict[str, Any], trigger_type: str, mutation: Any, expected: str
) -> None:
    broken = copy.deepcopy(props)
    config = trigger(broken, trigger_type)["triggerConfig"]
    mutation(config)
    problems = TRIGGER_CHECKS[trigger_type](config)
    assert any(expected in problem for problem in problems), problems


def test_timer_trigger_runs_every_minute_with_a_json_payload(props: dict[str, Any]) -> None:
    timer = trigger(props, "timer")
    config = timer["triggerConfig"]
    assert len(config["cronExpression"].split()) == 6  # FC cron has a seconds field
    assert config["enable"] is True
    assert "sweep" in json.loads(config["payload"])


def test_mns_topic_trigger(props: dict[str, Any]) -> None:
    mns = trigger(props, "mns_topic")
    assert mns["triggerConfig"]["notifyContentFormat"] in NOTIFY_CONTENT_FORMATS
    assert mns["triggerConfig"]["notifyStrategy"] == "EXPONENTIAL_DECAY_RETRY"
    assert re.fullmatch(
        r"acs:mns:\$\{vars\.region\}:[^:]+:/topics/\$\{vars\.topic_name\}", mns["sourceArn"]
    )
    assert mns["invocationRole"]


def test_failed_async_events_go_to_a_dead_letter_queue(props: dict[str, Any]) -> None:
    config = props["asyncInvokeConfig"]
    assert config["maxAsyncRetryAttempts"] == 3
    assert config["maxAsyncEventAgeInSeconds"] == 3600
    destination = config["destinationConfig"]["onFailure"]["destination"]
    assert destination.startswith("acs:mns:${vars.region}:")
    assert destination.endswith("/queues/${vars.dlq_name}/messages")


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
