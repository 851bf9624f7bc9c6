"""Fidelity tests of the alimt emulator, driven by the real, unmodified alimt SDK."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from alibabacloud_alimt20181012 import models as alimt_models
from alibabacloud_alimt20181012.client import Client
from alibabacloud_tea_openapi.client import Client as OpenApiClient
from alibabacloud_tea_openapi.exceptions import (
    ClientException,
    ServerException,
    ThrottlingException,
)
from alibabacloud_tea_openapi.models import Config, OpenApiRequest, Params
from alibabacloud_tea_util.models import RuntimeOptions
from darabonba.exceptions import UnretryableException

from local.alimt_emulator import BUSINESS_CODES, AlimtEmulator, FaultStep
from local.clock import Clock
from local.credentials import CredentialStore, IssuedCredentials

UUID_UPPER = re.compile(r"^[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}$")


@dataclass
class RecordingImageHost:
    """Stands in for local.image_host.ImageHost: records add_image calls, returns fake URLs."""

    calls: list[tuple[str, int, str, float]] = field(default_factory=list)

    def add_image(
        self, name: str, *, size_bytes: int, fmt: str = "png", ttl_seconds: float = 3600
    ) -> str:
        self.calls.append((name, size_bytes, fmt, ttl_seconds))
        return f"http://127.0.0.1:9/img/{name}?Expires=1&Signature=sig"


@pytest.fixture
def store(clock: Clock) -> CredentialStore:
    return CredentialStore(clock)


@pytest.fixture
def key(store: CredentialStore) -> IssuedCredentials:
    return store.add_access_key("LTAItestkey", "test-secret")


@pytest.fixture
def images() -> RecordingImageHost:
    return RecordingImageHost()


@pytest.fixture
def emu(
    store: CredentialStore, images: RecordingImageHost, clock: Clock
) -> Iterator[AlimtEmulator]:
    with AlimtEmulator(store, images, clock) as emulator:
        yield emulator


def make_client(
    emu: AlimtEmulator,
    creds: IssuedCredentials,
    *,
    secret: str | None = None,
    token: str | None = None,
    read_timeout: int = 3000,
    signature_algorithm: str | None = None,
) -> Client:
    config = Config(
        access_key_id=creds.access_key_id,
        access_key_secret=secret or creds.access_key_secret,
        security_token=token or creds.security_token,
        endpoint=emu.host_port,
        protocol="http",
        region_id="cn-hangzhou",
        read_timeout=read_timeout,
        connect_timeout=1000,
    )
    if signature_algorithm:
        config.signature_algorithm = signature_algorithm
    return Client(config)


def poll(client: Client, task_id: str) -> alimt_models.GetTranslateImageBatchResultResponse:
    return client.get_translate_image_batch_result(
        alimt_models.GetTranslateImageBatchResultRequest(task_id=task_id)
    )


def submit(
    client: Client, urls: list[str], **kwargs: str
) -> alimt_models.TranslateImageBatchResponse:
    request = alimt_models.TranslateImageBatchRequest(
        image_urls=",".join(urls), source_language="zh", target_language="en", **kwargs
    )
    return client.translate_image_batch(request)


# ---- the normal path ---------------------------------------------------------------------------


def test_submit_then_poll_until_finished(
    emu: AlimtEmulator, key: IssuedCredentials, images: RecordingImageHost
) -> None:
    emu.set_defaults(polls_until_finished=2, image_size=1234)
    client = make_client(emu, key)
    urls = ["http://src/a.png", "http://src/b.jpg", "http://src/a.png"]
    submitted = submit(client, urls, ext=json.dumps({"needEditorData": "true"}), field="e-commerce")
    assert submitted.status_code == 200
    assert submitted.body.code == 200 and submitted.body.message == "OK"
    task_id = submitted.body.data.task_id
    assert UUID_UPPER.match(task_id)

    statuses = []
    for _ in range(3):
        response = poll(client, task_id)
        assert response.body.code == 200
        statuses.append(response.body.data.status)
        if response.body.data.status != "finished":
            assert response.body.data.result == []
    assert statuses == ["created", "running", "finished"]

    results = response.body.data.result
    assert [r.source_image_url for r in results] == ["http://src/a.png", "http://src/b.jpg"]
    for index, entry in enumerate(results):
        assert entry.code == 200 and entry.message == "OK" and entry.success is True
        assert entry.final_image_url.startswith(f"http://127.0.0.1:9/img/{task_id}/{index}-final.")
        assert f"{index}-inpainting" in entry.in_painting_url
        assert isinstance(json.loads(entry.template_json), dict)
    # Images are made once, lazily, with the configured size; a later poll reuses them.
    assert len(images.calls) == 4
    assert {c[1] for c in images.calls} == {1234}
    assert poll(client, task_id).body.data.result[0].final_image_url == results[0].final_image_url
    assert len(images.calls) == 4
    assert emu.task(task_id).translate_field == "e-commerce"  # type: ignore[union-attr]


def test_without_editor_data_only_final_urls(emu: AlimtEmulator, key: IssuedCredentials) -> None:
    client = make_client(emu, key)
    task_id = submit(client, ["http://src/a.png"]).body.data.task_id
    entry = poll(client, task_id).body.data.result[0]
    assert entry.final_image_url
    assert entry.in_painting_url is None and entry.template_json is None


def test_without_image_host_urls_are_placeholders(
    store: CredentialStore, key: IssuedCredentials
) -> None:
    with AlimtEmulator(store) as emulator:
        task_id = emulator.create_task(["http://src/a.png"])
        entry = poll(make_client(emulator, key), task_id).body.data.result[0]
    assert entry.final_image_url == f"http://images.invalid/{task_id}/0-final.png"


def test_seconds_until_finished_follows_the_clock(
    emu: AlimtEmulator, key: IssuedCredentials, clock: Clock
) -> None:
    client = make_client(emu, key)
    task_id = emu.create_task(["http://src/a.png"], seconds_until_finished=30)
    assert poll(client, task_id).body.data.status == "created"
    assert poll(client, task_id).body.data.status == "running"
    clock.advance(31)
    assert poll(client, task_id).body.data.status == "finished"


def test_custom_task_id_deduplicates_for_three_minutes(
    emu: AlimtEmulator, key: IssuedCredentials, clock: Clock
) -> None:
    client = make_client(emu, key)
    first = submit(client, ["http://src/a.png"], custom_task_id="c1").body.data.task_id
    assert submit(client, ["http://src/a.png"], custom_task_id="c1").body.data.task_id == first
    clock.advance(181)
    assert submit(client, ["http://src/a.png"], custom_task_id="c1").body.data.task_id != first


def test_parameter_errors_are_code_104(emu: AlimtEmulator, key: IssuedCredentials) -> None:
    client = make_client(emu, key)
    too_many = submit(client, [f"http://src/{i}.png" for i in range(21)])
    assert (too_many.status_code, too_many.body.code) == (200, 104)
    assert too_many.body.message == "System.ParameterError" and too_many.body.data is None
    assert submit(client, ["http://src/a.png"], ext="{not json").body.code == 104
    missing = poll(client, "")
    assert (missing.status_code, missing.body.code) == (200, 104)


def test_request_id_and_log(emu: AlimtEmulator, key: IssuedCredentials) -> None:
    client = make_client(emu, key)
    task_id = emu.create_task(["http://src/a.png"])
    response = poll(client, task_id)
    assert UUID_UPPER.match(response.body.request_id)
    assert response.headers["x-acs-request-id"] == response.body.request_id
    poll(client, "OTHER")
    assert emu.calls("GetTranslateImageBatchResult") == 2
    assert emu.calls("GetTranslateImageBatchResult", task_id) == 1
    assert emu.calls("TranslateImageBatch") == 0
    for record in emu.requests:
        assert "authorization" not in record.headers
        assert "test-secret" not in repr(record)


# ---- credentials and signatures ----------------------------------------------------------------


def test_sts_token_works(emu: AlimtEmulator, store: CredentialStore) -> None:
    sts = store.issue_sts(ttl_seconds=900)
    task_id = emu.create_task(["http://src/a.png"])
    assert poll(make_client(emu, sts), task_id).body.data.status == "finished"


def test_v2_rpc_signature_is_accepted(emu: AlimtEmulator, key: IssuedCredentials) -> None:
    task_id = emu.create_task(["http://src/a.png"])
    client = make_client(emu, key, signature_algorithm="v2")
    assert poll(client, task_id).body.data.status == "finished"
    assert emu.requests[-1].info["signature"] == "v2"
    wrong = make_client(emu, key, secret="nope", signature_algorithm="v2")
    with pytest.raises(ClientException) as caught:
        poll(wrong, task_id)
    assert caught.value.code == "SignatureDoesNotMatch"


def test_wrong_secret_is_signature_does_not_match(
    emu: AlimtEmulator, key: IssuedCredentials
) -> None:
    with pytest.raises(ClientException) as caught:
        poll(make_client(emu, key, secret="wrong-secret"), "T")
    assert (caught.value.status_code, caught.value.code) == (400, "SignatureDoesNotMatch")


def test_unknown_access_key(emu: AlimtEmulator) -> None:
    stranger = IssuedCredentials("LTAIstranger", "whatever", None, None)
    with pytest.raises(ClientException) as caught:
        poll(make_client(emu, stranger), "T")
    assert (caught.value.status_code, caught.value.code) == (404, "InvalidAccessKeyId.NotFound")
    assert UUID_UPPER.match(caught.value.request_id)


def test_bad_and_expired_sts_token(
    emu: AlimtEmulator, store: CredentialStore, clock: Clock
) -> None:
    sts = store.issue_sts(ttl_seconds=900)
    with pytest.raises(ClientException) as caught:
        poll(make_client(emu, sts, token="CAISforged"), "T")
    assert caught.value.code == "InvalidSecurityToken.MismatchWithAccessKey"
    assert caught.value.status_code == 400
    clock.advance(901)
    with pytest.raises(ClientException) as caught:
        poll(make_client(emu, sts), "T")
    assert (caught.value.status_code, caught.value.code) == (400, "InvalidSecurityToken.Expired")


def test_unknown_action_and_wrong_version(emu: AlimtEmulator, key: IssuedCredentials) -> None:
    client = make_client(emu, key)
    with pytest.raises(ClientException) as caught:
        client.translate_general(
            alimt_models.TranslateGeneralRequest(
                source_text="x", source_language="zh", target_language="en", format_type="text"
            )
        )
    assert (caught.value.status_code, caught.value.code) == (404, "InvalidAction.NotFound")

    params = Params(
        action="GetTranslateImageBatchResult",
        version="2099-01-01",
        protocol="HTTP",
        pathname="/",
        method="POST",
        auth_type="AK",
        style="RPC",
        req_body_type="formData",
        body_type="json",
    )
    generic = OpenApiClient(make_config(emu, key))
    with pytest.raises(ClientException) as caught:
        generic.call_api(params, OpenApiRequest(body={"TaskId": "T"}), RuntimeOptions())
    assert (caught.value.status_code, caught.value.code) == (400, "InvalidVersion")


def make_config(emu: AlimtEmulator, creds: IssuedCredentials) -> Config:
    return Config(
        access_key_id=creds.access_key_id,
        access_key_secret=creds.access_key_secret,
        endpoint=emu.host_port,
        protocol="http",
        region_id="cn-hangzhou",
    )


# ---- business codes and gateway faults ---------------------------------------------------------


@pytest.mark.parametrize("code", sorted(BUSINESS_CODES))
def test_business_codes_come_back_on_http_200(
    emu: AlimtEmulator, key: IssuedCredentials, code: int
) -> None:
    task_id = emu.create_task(["http://src/a.png"])
    emu.script(task_id, [f"code:{code}"])
    response = poll(make_client(emu, key), task_id)
    assert response.status_code == 200
    assert response.body.code == code  # an int, like the normal answers
    assert response.body.message == BUSINESS_CODES[code]
    assert response.body.data is None


def test_throttling_without_and_with_retry_after(
    emu: AlimtEmulator, key: IssuedCredentials
) -> None:
    client = make_client(emu, key)
    emu.script(None, ["throttle", "throttle-retry-after:1500"])
    with pytest.raises(ClientException) as plain:
        poll(client, "T")
    assert (plain.value.status_code, plain.value.code) == (429, "Throttling.User")
    with pytest.raises(ThrottlingException) as throttled:
        poll(client, "T")
    assert throttled.value.retry_after == 1500
    assert throttled.value.code == "Throttling.User"


@pytest.mark.parametrize(
    ("step", "status", "code"),
    [
        ("http:500", 500, "InternalError"),
        ("http:502", 502, "BadGateway"),
        ("http:503", 503, "ServiceUnavailable"),
        ("http:503:Throttling", 503, "Throttling"),
    ],
)
def test_server_errors_with_json_bodies(
    emu: AlimtEmulator, key: IssuedCredentials, step: str, status: int, code: str
) -> None:
    emu.set_fault(step, count=1)
    client = make_client(emu, key)
    with pytest.raises(ServerException) as caught:
        poll(client, "T")
    assert (caught.value.status_code, caught.value.code) == (status, code)
    assert poll(client, "T").body.data.status == "invalid"  # the fault was used up


@pytest.mark.parametrize("step", ["html:502", "html:500", "notjson"])
def test_non_json_bodies_are_unretryable(
    emu: AlimtEmulator, key: IssuedCredentials, step: str
) -> None:
    emu.set_fault(step)
    with pytest.raises(UnretryableException) as caught:
        poll(make_client(emu, key), "T")
    assert "json" in str(caught.value.inner_exception).lower()


def test_connection_reset_is_unretryable(emu: AlimtEmulator, key: IssuedCredentials) -> None:
    emu.set_fault("reset", count=1)
    with pytest.raises(UnretryableException):
        poll(make_client(emu, key), "T")
    assert emu.requests[-1].info["outcome"] == "reset"


def test_hang_times_out_on_the_client(emu: AlimtEmulator, key: IssuedCredentials) -> None:
    emu.set_fault("hang:3", count=1)
    started = time.monotonic()
    with pytest.raises(UnretryableException) as caught:
        poll(make_client(emu, key, read_timeout=500), "T")
    assert time.monotonic() - started < 2.5
    assert "timed out" in str(caught.value).lower()


def test_latency_delays_a_normal_answer(emu: AlimtEmulator, key: IssuedCredentials) -> None:
    task_id = emu.create_task(["http://src/a.png"])
    emu.script(task_id, ["latency:0.3"])
    started = time.monotonic()
    assert poll(make_client(emu, key), task_id).body.data.status == "finished"
    assert time.monotonic() - started >= 0.3


# ---- scripts -----------------------------------------------------------------------------------


def test_task_script_is_consumed_in_order(emu: AlimtEmulator, key: IssuedCredentials) -> None:
    client = make_client(emu, key)
    task_id = emu.create_task(["http://src/a.png"], polls_until_finished=1)
    other = emu.create_task(["http://src/b.png"])
    emu.script(task_id, ["throttle", "code:102", "status:weird", "ok"])

    with pytest.raises(ClientException):
        poll(client, task_id)
    assert poll(client, other).body.data.status == "finished"  # other tasks unaffected
    assert poll(client, task_id).body.code == 102
    assert poll(client, task_id).body.data.status == "weird"
    # Faulted answers did not count as polls: the task still needs its one running poll.
    assert poll(client, task_id).body.data.status == "created"
    assert poll(client, task_id).body.data.status == "finished"
    outcomes = [r.info["outcome"] for r in emu.requests if r.info.get("task_id") == task_id]
    assert outcomes == ["Throttling.User", "code:102", "status:weird", "created", "finished"]


def test_task_script_wins_over_global_and_count_limits_global_fault(
    emu: AlimtEmulator, key: IssuedCredentials
) -> None:
    client = make_client(emu, key)
    task_id = emu.create_task(["http://src/a.png"])
    emu.script(task_id, ["ok"])
    emu.set_fault("code:101", count=2)
    assert poll(client, task_id).body.code == 200
    assert poll(client, task_id).body.code == 101
    assert submit(client, ["http://src/x.png"]).body.code == 101  # global faults hit any action
    assert poll(client, task_id).body.code == 200


def test_odd_finished_answers(emu: AlimtEmulator, key: IssuedCredentials) -> None:
    client = make_client(emu, key)
    task_id = emu.create_task(["http://src/a.png", "http://src/b.png"])
    emu.script(task_id, ["empty-result", "missing-urls"])
    empty = poll(client, task_id).body.data
    assert (empty.status, empty.result) == ("finished", [])
    missing = poll(client, task_id).body.data.result
    assert len(missing) == 2
    assert all(r.final_image_url is None and r.success for r in missing)
    assert all(r.final_image_url for r in poll(client, task_id).body.data.result)


def test_fault_step_parsing() -> None:
    assert FaultStep.parse("code:107") == FaultStep("code", 107)
    assert FaultStep.parse("hang:2.5") == FaultStep("hang", 2.5)
    assert FaultStep.parse("http:503:Throttling") == FaultStep("http", 503, "Throttling")
    assert str(FaultStep.parse("throttle-retry-after:200")) == "throttle-retry-after:200"
    for bad in ("explode", "code", "reset:1", "code:abc"):
        with pytest.raises(ValueError):
            FaultStep.parse(bad)


# ---- task outcomes -----------------------------------------------------------------------------


def test_results_expire_one_hour_after_finishing(
    emu: AlimtEmulator, key: IssuedCredentials, clock: Clock
) -> None:
    client = make_client(emu, key)
    task_id = emu.create_task(["http://src/a.png"], polls_until_finished=1)
    poll(client, task_id)
    clock.advance(600)
    assert poll(client, task_id).body.data.status == "finished"  # finished now, at +600 s
    clock.advance(3599)
    assert poll(client, task_id).body.data.status == "finished"
    clock.advance(2)
    gone = poll(client, task_id).body
    assert (gone.code, gone.data.status, gone.data.result) == (200, "invalid", [])


def test_unpolled_task_expires_one_hour_after_creation(
    emu: AlimtEmulator, key: IssuedCredentials, clock: Clock
) -> None:
    task_id = emu.create_task(["http://src/a.png"])
    clock.advance(3601)
    assert poll(make_client(emu, key), task_id).body.data.status == "invalid"


def test_expire_forget_and_unknown_tasks_are_invalid(
    emu: AlimtEmulator, key: IssuedCredentials
) -> None:
    client = make_client(emu, key)
    expired = emu.create_task(["http://src/a.png"])
    forgotten = emu.create_task(["http://src/a.png"])
    emu.expire_task(expired)
    emu.forget_task(forgotten)
    for task_id in (expired, forgotten, "NO-SUCH-TASK"):
        body = poll(client, task_id).body
        assert (body.code, body.data.status) == (200, "invalid")


def test_failed_task(emu: AlimtEmulator, key: IssuedCredentials) -> None:
    client = make_client(emu, key)
    task_id = emu.create_task(["http://src/a.png"], polls_until_finished=1, fail_task=True)
    assert poll(client, task_id).body.data.status == "created"
    body = poll(client, task_id).body
    assert (body.code, body.data.status, body.data.result) == (200, "failed", [])


def test_some_images_fail_within_a_finished_task(
    emu: AlimtEmulator, key: IssuedCredentials, images: RecordingImageHost
) -> None:
    task_id = emu.create_task(
        ["http://src/a.png", "http://src/b.png", "http://src/c.png"],
        failing_images={1: (107, "System.TranslateError")},
        need_editor_data=False,
    )
    results = poll(make_client(emu, key), task_id).body.data.result
    assert [r.success for r in results] == [True, False, True]
    failed = results[1]
    assert (failed.code, failed.message, failed.source_image_url) == (
        107,
        "System.TranslateError",
        "http://src/b.png",
    )
    assert failed.final_image_url is None and failed.in_painting_url is None
    assert [c[0] for c in images.calls] == [f"{task_id}/0-final.png", f"{task_id}/2-final.png"]


def test_configure_task_created_through_the_api(emu: AlimtEmulator, key: IssuedCredentials) -> None:
    client = make_client(emu, key)
    task_id = submit(client, ["http://src/a.png"]).body.data.task_id
    emu.configure_task(task_id, failing_images={0: (106, "System.LanguageDetectError")})
    entry = poll(client, task_id).body.data.result[0]
    assert (entry.success, entry.code) == (False, 106)


# ---- QPS quota ---------------------------------------------------------------------------------


def test_qps_quota_throttles_excess_result_polls(
    emu: AlimtEmulator, key: IssuedCredentials
) -> None:
    client = make_client(emu, key)
    task_id = emu.create_task(["http://src/a.png"])
    emu.set_qps_quota(3)
    outcomes = []
    for _ in range(6):
        try:
            outcomes.append(poll(client, task_id).body.data.status)
        except ClientException as err:
            assert (err.status_code, err.code) == (429, "Throttling.User")
            outcomes.append("throttled")
    assert outcomes[:3] == ["finished"] * 3
    assert outcomes.count("throttled") >= 2  # a slow machine may slide past one window edge
    assert emu.qps_served + emu.qps_throttled == 6
    assert emu.qps_throttled == outcomes.count("throttled")
    # Submissions are not subject to the result API's quota.
    assert submit(client, ["http://src/a.png"]).body.code == 200
    time.sleep(1.05)
    assert poll(client, task_id).body.data.status == "finished"


def test_qps_quota_with_retry_after(emu: AlimtEmulator, key: IssuedCredentials) -> None:
    client = make_client(emu, key)
    emu.set_qps_quota(1, retry_after_ms=700)
    poll(client, "T")
    with pytest.raises(ThrottlingException) as caught:
        poll(client, "T")
    assert caught.value.retry_after == 700
