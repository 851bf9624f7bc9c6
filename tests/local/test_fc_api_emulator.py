"""The FC API emulator against the real `alibabacloud-fc20230330` SDK, and the dispatcher on top."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator

import pytest
from alibabacloud_fc20230330.client import Client
from alibabacloud_fc20230330.models import InvokeFunctionHeaders, InvokeFunctionRequest
from alibabacloud_tea_openapi.exceptions import ClientException
from alibabacloud_tea_openapi.models import Config
from darabonba.runtime import RuntimeOptions

from collector.credentials import FunctionCredentials
from collector.error_policy import Action, decide
from collector.errors import CollectorError
from collector.fanout import DispatchError
from collector.fc_dispatcher import FcDispatcher, fc_endpoint
from local.clock import Clock
from local.credentials import CredentialStore
from local.fc_api_emulator import FcApiEmulator

FUNCTION = "alimt-result-collector"
ASYNC = InvokeFunctionHeaders(x_fc_invocation_type="Async")


class Recorder:
    def __init__(self) -> None:
        self.payloads: list[bytes] = []
        self.lock = threading.Lock()

    def __call__(self, payload: bytes) -> None:
        with self.lock:
            self.payloads.append(payload)


@pytest.fixture
def store() -> CredentialStore:
    return CredentialStore(Clock())


@pytest.fixture
def fc(store: CredentialStore) -> Iterator[FcApiEmulator]:
    with FcApiEmulator(store) as emulator:
        yield emulator


def client(fc: FcApiEmulator, key_id: str, secret: str, token: str | None = None) -> Client:
    return Client(
        Config(
            access_key_id=key_id,
            access_key_secret=secret,
            security_token=token,
            endpoint=fc.host_port,
            protocol="http",
            region_id="cn-hangzhou",
            read_timeout=2000,
            connect_timeout=1000,
        )
    )


def invoke(sdk: Client, body: bytes, name: str = FUNCTION) -> object:
    return sdk.invoke_function_with_options(
        name, InvokeFunctionRequest(body=body), ASYNC, RuntimeOptions(read_timeout=2000)
    )


def test_async_invocation_is_accepted_and_handed_to_the_function(
    fc: FcApiEmulator, store: CredentialStore
) -> None:
    recorder = Recorder()
    fc.register_function(FUNCTION, recorder)
    sts = store.issue_sts()
    sdk = client(fc, sts.access_key_id, sts.access_key_secret, sts.security_token)

    response = invoke(sdk, b'{"sweep": {"shard": 1, "shards": 2}}')

    assert response.status_code == 202  # type: ignore[attr-defined]
    assert response.headers["x-fc-request-id"]  # type: ignore[attr-defined]
    assert recorder.payloads == [b'{"sweep": {"shard": 1, "shards": 2}}']
    (invocation,) = fc.invocations_of(FUNCTION)
    assert invocation.access_key_id == sts.access_key_id
    assert invocation.request_id == response.headers["x-fc-request-id"]  # type: ignore[attr-defined]
    # the request log keeps neither the signature nor the token
    logged = fc.requests[-1]
    assert logged.status == 202 and logged.path == f"/2023-03-30/functions/{FUNCTION}/invocations"
    assert "authorization" not in logged.headers and "x-acs-security-token" not in logged.headers


def test_wrong_secret_is_refused(fc: FcApiEmulator, store: CredentialStore) -> None:
    recorder = Recorder()
    fc.register_function(FUNCTION, recorder)
    sts = store.issue_sts()
    sdk = client(fc, sts.access_key_id, "not-the-secret", sts.security_token)

    with pytest.raises(ClientException) as raised:
        invoke(sdk, b"{}")

    assert raised.value.code == "SignatureDoesNotMatch"
    assert raised.value.status_code == 400
    assert recorder.payloads == [] and fc.invocations == []


def test_expired_token_and_unknown_function_are_refused(
    fc: FcApiEmulator, store: CredentialStore
) -> None:
    fc.register_function(FUNCTION, Recorder())
    sts = store.issue_sts(ttl_seconds=10)
    sdk = client(fc, sts.access_key_id, sts.access_key_secret, sts.security_token)
    with pytest.raises(ClientException) as missing:
        invoke(sdk, b"{}", name="no-such-function")
    assert (missing.value.status_code, missing.value.code) == (404, "FunctionNotFound")

    store.clock.advance(11)
    with pytest.raises(ClientException) as expired:
        invoke(sdk, b"{}")
    assert expired.value.code == "InvalidSecurityToken.Expired"


def dispatcher(fc: FcApiEmulator, store: CredentialStore) -> FcDispatcher:
    sts = store.issue_sts()
    return FcDispatcher(
        endpoint=fc.endpoint,
        function_name=FUNCTION,
        credentials=FunctionCredentials(
            sts.access_key_id, sts.access_key_secret, sts.security_token
        ),
        region="cn-hangzhou",
        timeout_seconds=2,
    )


def test_dispatcher_sends_each_event_as_an_async_invocation(
    fc: FcApiEmulator, store: CredentialStore
) -> None:
    recorder = Recorder()
    fc.register_function(FUNCTION, recorder)
    events = [{"sweep": {"shard": i, "shards": 3}} for i in (1, 2)]

    dispatcher(fc, store).dispatch(events)

    assert [json.loads(p) for p in recorder.payloads] == events
    assert all(r.headers["x-fc-invocation-type"] == "Async" for r in fc.requests)


@pytest.mark.parametrize(
    ("fault", "key", "action"),
    [
        ("http:429", "fc:Throttling", Action.RETRY),
        ("http:503", "fc:HTTP5xx", Action.RETRY),
        ("http:403", "fc:Forbidden", Action.DEAD_LETTER_REDRIVABLE),
        ("reset", "fc:ConnectionError", Action.RETRY),
    ],
)
def test_dispatch_failures_are_classified(
    fc: FcApiEmulator, store: CredentialStore, fault: str, key: str, action: Action
) -> None:
    fc.register_function(FUNCTION, Recorder())
    fc.inject(fault)
    with pytest.raises(CollectorError) as raised:
        dispatcher(fc, store).dispatch([{"sweep": {"shard": 1, "shards": 2}}])
    assert raised.value.key == key
    assert not isinstance(raised.value, DispatchError)  # nothing was sent
    assert decide(raised.value).action is action


def test_a_failure_after_some_events_says_how_many_went_out(
    fc: FcApiEmulator, store: CredentialStore
) -> None:
    recorder = Recorder()
    fc.register_function(FUNCTION, FailSecond(recorder, fc))
    events = [{"sweep": {"shard": i, "shards": 4}} for i in (1, 2, 3)]

    with pytest.raises(DispatchError) as partial:
        dispatcher(fc, store).dispatch(events)

    assert partial.value.sent == 1 and partial.value.key == "fc:HTTP5xx"
    assert [json.loads(p) for p in recorder.payloads] == events[:1]


class FailSecond:
    """Accepts one invocation, then makes the emulator fail the next request."""

    def __init__(self, recorder: Recorder, fc: FcApiEmulator) -> None:
        self.recorder, self.fc = recorder, fc

    def __call__(self, payload: bytes) -> None:
        self.recorder(payload)
        self.fc.inject("http:503")


def test_endpoint_defaults_to_the_account_endpoint() -> None:
    assert fc_endpoint("", "123", "cn-shanghai") == "https://123.cn-shanghai.fc.aliyuncs.com"
    assert fc_endpoint("http://127.0.0.1:9", "123", "cn-shanghai") == "http://127.0.0.1:9"
    assert fc_endpoint("", None, "cn-hangzhou") == "https://fcv3.cn-hangzhou.aliyuncs.com"
