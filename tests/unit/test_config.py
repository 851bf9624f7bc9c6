"""CollectorConfig.from_env: defaults, parsing, and errors that name the bad variable."""

from __future__ import annotations

import pytest

from collector.config import DEFAULT_ALLOWED_SOURCE_HOSTS, CollectorConfig, ConfigError


def test_defaults_with_only_the_required_bucket() -> None:
    config = CollectorConfig.from_env({"OUTPUT_BUCKET": "my-output"})
    assert config.output_bucket == "my-output"
    assert config.output_prefix == "translated/"
    assert config.state_prefix == "collector/"
    assert config.alimt_endpoint == "mt.cn-hangzhou.aliyuncs.com"
    assert config.oss_endpoint_for("cn-shanghai") == "https://oss-cn-shanghai-internal.aliyuncs.com"
    assert config.allowed_source_hosts == DEFAULT_ALLOWED_SOURCE_HOSTS
    assert config.allow_insecure_sources is False


def test_values_are_parsed() -> None:
    config = CollectorConfig.from_env(
        {
            "OUTPUT_BUCKET": "out-1",
            "OUTPUT_PREFIX": "images/",
            "STATE_PREFIX": "state/",
            "ALIMT_ENDPOINT": "http://127.0.0.1:8080",
            "OSS_ENDPOINT": "http://127.0.0.1:9090/",
            "ALLOWED_SOURCE_HOSTS": "127.0.0.1, *.example.com",
            "ALLOW_INSECURE_SOURCES": "TRUE",
            "COPY_CONCURRENCY": "4",
            "API_QPS": "2.5",
            "LOG_LEVEL": "debug",
        }
    )
    assert config.alimt_endpoint == "http://127.0.0.1:8080"
    assert config.oss_endpoint_for("x") == "http://127.0.0.1:9090"
    assert config.allowed_source_hosts == ("127.0.0.1", "*.example.com")
    assert config.allow_insecure_sources is True
    assert config.copy_concurrency == 4
    assert config.api_qps == 2.5
    assert config.log_level == "DEBUG"


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({}, "OUTPUT_BUCKET"),
        ({"OUTPUT_BUCKET": "Bad_Bucket"}, "OUTPUT_BUCKET"),
        ({"OUTPUT_PREFIX": "no-slash"}, "OUTPUT_PREFIX"),
        ({"OUTPUT_PREFIX": "../x/"}, "OUTPUT_PREFIX"),
        ({"STATE_PREFIX": "/abs/"}, "STATE_PREFIX"),
        ({"ALIMT_ENDPOINT": "http://host/path"}, "ALIMT_ENDPOINT"),
        ({"OSS_ENDPOINT": "ftp://x"}, "OSS_ENDPOINT"),
        ({"ALLOWED_SOURCE_HOSTS": "*"}, "ALLOWED_SOURCE_HOSTS"),
        ({"ALLOWED_SOURCE_HOSTS": " , "}, "ALLOWED_SOURCE_HOSTS"),
        ({"ALLOW_INSECURE_SOURCES": "maybe"}, "ALLOW_INSECURE_SOURCES"),
        ({"WAIT_BUDGET_SECONDS": "soon"}, "WAIT_BUDGET_SECONDS"),
        ({"COPY_CONCURRENCY": "0"}, "COPY_CONCURRENCY"),
        ({"COPY_CONCURRENCY": "2.5"}, "COPY_CONCURRENCY"),
        ({"MAX_IMAGE_BYTES": "-1"}, "MAX_IMAGE_BYTES"),
        ({"API_QPS": "0"}, "API_QPS"),
        ({"LOG_LEVEL": "LOUD"}, "LOG_LEVEL"),
        ({"OUTPUT_PREFIX": "collector/out/"}, "STATE_PREFIX"),
    ],
)
def test_errors_name_the_variable(env: dict[str, str], variable: str) -> None:
    full = {"OUTPUT_BUCKET": "my-output", **env} if "OUTPUT_BUCKET" not in env and env else env
    with pytest.raises(ConfigError) as caught:
        CollectorConfig.from_env(full)
    assert variable in str(caught.value)
