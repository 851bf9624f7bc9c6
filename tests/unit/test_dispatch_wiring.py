"""Which dispatcher an invocation gets, and where it sends shards (no network, no SDK import)."""

from __future__ import annotations

import subprocess
import sys
from types import SimpleNamespace

import pytest

from collector.config import CollectorConfig, ConfigError
from collector.credentials import FunctionCredentials
from collector.fc_dispatcher import FcDispatcher
from collector.wiring import build_dispatcher

CREDS = FunctionCredentials("STS.key", "secret", "token")
CONTEXT = SimpleNamespace(
    function=SimpleNamespace(name="alimt-result-collector"), region="cn-shanghai", account_id="42"
)


def config(**env: str) -> CollectorConfig:
    return CollectorConfig.from_env({"OUTPUT_BUCKET": "out-bucket", **env})


def test_no_dispatcher_without_fan_out() -> None:
    assert build_dispatcher(config(), CONTEXT, CREDS, {}) is None


def test_dispatcher_targets_this_function_at_the_account_endpoint() -> None:
    dispatcher = build_dispatcher(config(SWEEP_SHARDS_MAX="4"), CONTEXT, CREDS, {})
    assert isinstance(dispatcher, FcDispatcher)
    assert dispatcher.function_name == "alimt-result-collector"
    assert dispatcher.endpoint == "https://42.cn-shanghai.fc.aliyuncs.com"
    assert dispatcher.region == "cn-shanghai"


def test_fan_out_target_and_endpoint_can_be_configured() -> None:
    dispatcher = build_dispatcher(
        config(
            SWEEP_SHARDS_MAX="2",
            FANOUT_FUNCTION_NAME="collector-shards",
            FC_ENDPOINT="http://127.0.0.1:9000",
        ),
        CONTEXT,
        CREDS,
        {},
    )
    assert isinstance(dispatcher, FcDispatcher)
    assert (dispatcher.function_name, dispatcher.endpoint) == (
        "collector-shards",
        "http://127.0.0.1:9000",
    )


def test_without_a_function_name_there_is_nowhere_to_send() -> None:
    context = SimpleNamespace(region="cn-hangzhou")
    assert build_dispatcher(config(SWEEP_SHARDS_MAX="4"), context, CREDS, {}) is None
    from_env = build_dispatcher(
        config(SWEEP_SHARDS_MAX="4"), context, CREDS, {"FC_FUNCTION_NAME": "f"}
    )
    assert isinstance(from_env, FcDispatcher) and from_env.function_name == "f"


def test_a_malformed_fc_endpoint_is_refused() -> None:
    with pytest.raises(ConfigError, match="FC_ENDPOINT"):
        config(FC_ENDPOINT="http://host/path")


def test_the_fc_sdk_is_not_imported_until_a_sweep_fans_out() -> None:
    script = (
        "import sys\n"
        "from types import SimpleNamespace\n"
        "from collector.config import CollectorConfig\n"
        "from collector.credentials import FunctionCredentials\n"
        "from collector.wiring import build_dispatcher\n"
        "config = CollectorConfig.from_env({'OUTPUT_BUCKET': 'out-bucket', 'SWEEP_SHARDS_MAX': '4'})\n"
        "context = SimpleNamespace(function=SimpleNamespace(name='f'), region='cn-hangzhou')\n"
        "assert build_dispatcher(config, context, FunctionCredentials('a', 'b', None), {})\n"
        "print(any(m.startswith('alibabacloud_fc20230330') for m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "False"
