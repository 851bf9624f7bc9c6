"""Every error the API, the image host or OSS can produce lands on the action the policy table says."""

from __future__ import annotations

import json

import pytest

from collector.errors import RetryableInvocationError
from local.cloud import LocalCloud
from tests.functional.conftest import HandlerHarness

TRANSIENT = [101, 102, 112]
FINAL = [103, 104, 105, 106, 107, 108]
REDRIVABLE = [110, 111, 113]


def new_task(cloud: LocalCloud, images: int = 1) -> str:
    return cloud.alimt.create_task(cloud.add_images("src", images), need_editor_data=True)


def dead_letter(collector: HandlerHarness, task_id: str) -> dict:
    return collector.json_object(f"collector/dead-letter/{task_id}.json")


@pytest.mark.parametrize("code", TRANSIENT)
def test_transient_codes_are_retried_in_process(collector: HandlerHarness, code: int) -> None:
    task_id = new_task(collector.cloud)
    collector.cloud.alimt.script(task_id, [f"code:{code}", f"code:{code}", "ok"])
    answer = collector.invoke({"taskId": task_id})
    assert answer["results"][0]["outcome"] == "copied"
    assert collector.cloud.alimt.calls("GetTranslateImageBatchResult", task_id) == 3


@pytest.mark.parametrize("code", TRANSIENT)
def test_lasting_transient_codes_fail_the_invocation_and_stay_pending(
    collector: HandlerHarness, code: int
) -> None:
    collector.timeout = 3.0  # a 2-second budget after the safety margin
    task_id = new_task(collector.cloud)
    collector.cloud.alimt.script(task_id, [f"code:{code}"] * 1000)
    with pytest.raises(RetryableInvocationError) as raised:
        collector.invoke({"taskId": task_id})
    assert task_id in str(raised.value) and f"alimt:{code}" in str(raised.value)
    record = collector.json_object(f"collector/pending/{task_id}.json")
    assert record["lastCode"] == f"alimt:{code}" and record["attempts"] == 1
    assert collector.list_keys("collector/dead-letter/") == []


@pytest.mark.parametrize("code", FINAL + REDRIVABLE)
def test_final_codes_are_dead_lettered_and_the_invocation_succeeds(
    collector: HandlerHarness, code: int
) -> None:
    task_id = new_task(collector.cloud)
    collector.cloud.alimt.script(task_id, [f"code:{code}"])
    answer = collector.invoke({"taskId": task_id})
    [result] = answer["results"]
    assert result["outcome"] == "dead_lettered" and result["code"] == f"alimt:{code}"
    assert collector.cloud.alimt.calls("GetTranslateImageBatchResult", task_id) == 1
    letter = dead_letter(collector, task_id)
    assert letter["taskId"] == task_id and letter["code"] == str(code)
    assert letter["redrivable"] is (code in REDRIVABLE)
    assert letter["reason"] and letter["message"].startswith("System.")
    assert letter["requestId"] and letter["firstSeen"] and letter["attempts"] == 1
    assert json.loads(letter["event"]) == {"taskId": task_id}
    assert collector.list_keys("collector/pending/") == []
    assert collector.list_keys("translated/") == []


@pytest.mark.parametrize(
    "steps",
    [
        ["throttle", "throttle"],
        ["throttle-retry-after:300"],
        ["http:500", "http:502", "http:503"],
        ["html:502"],
        ["notjson"],
        ["reset", "reset"],
        ["hang:3"],  # longer than API_TIMEOUT_SECONDS: a read timeout
    ],
)
def test_gateway_and_transport_errors_are_retried(
    collector: HandlerHarness, steps: list[str]
) -> None:
    task_id = new_task(collector.cloud)
    collector.cloud.alimt.script(task_id, [*steps, "ok"])
    answer = collector.invoke({"taskId": task_id})
    assert answer["results"][0]["outcome"] == "copied"


@pytest.mark.parametrize(
    ("setup", "code"),
    [
        (lambda cloud, t: cloud.alimt.configure_task(t, fail_task=True), "task:failed"),
        (lambda cloud, t: cloud.alimt.forget_task(t), "task:invalid"),
        (lambda cloud, t: cloud.alimt.expire_task(t), "task:invalid"),
        (lambda cloud, t: cloud.alimt.script(t, ["empty-result"]), "task:EmptyResult"),
    ],
)
def test_task_level_failures_are_dead_lettered(
    collector: HandlerHarness, setup: object, code: str
) -> None:
    task_id = new_task(collector.cloud)
    setup(collector.cloud, task_id)  # type: ignore[operator]
    answer = collector.invoke({"taskId": task_id})
    assert answer["results"][0]["outcome"] == "dead_lettered"
    assert answer["results"][0]["code"] == code
    assert dead_letter(collector, task_id)["redrivable"] is False


def test_results_expire_one_hour_after_finishing(collector: HandlerHarness) -> None:
    task_id = new_task(collector.cloud)
    collector.cloud.alimt.finish_task(task_id)
    collector.cloud.clock.advance(3601)
    answer = collector.invoke({"taskId": task_id})
    assert answer["results"][0]["code"] == "task:invalid"


def test_expired_image_links_are_dead_lettered(collector: HandlerHarness) -> None:
    from alibabacloud_alimt20181012.models import GetTranslateImageBatchResultRequest

    cloud = collector.cloud
    task_id = cloud.alimt.create_task(cloud.add_images("src", 1), url_ttl_seconds=60)
    # somebody polls once: the result links are signed now, valid for 60 s
    cloud.alimt_client().get_translate_image_batch_result(
        GetTranslateImageBatchResultRequest(task_id=task_id)
    )
    cloud.clock.advance(120)  # the links have expired; the results (kept 1 h) have not
    answer = collector.invoke({"taskId": task_id})
    assert answer["results"][0]["outcome"] == "dead_lettered"
    assert answer["results"][0]["code"] == "image:403"
    assert "Signature" not in json.dumps(dead_letter(collector, task_id))


def test_missing_image_is_dead_lettered(collector: HandlerHarness) -> None:
    task_id = new_task(collector.cloud)
    collector.cloud.images.inject(f"{task_id}/0-final*", "404", count=None)
    answer = collector.invoke({"taskId": task_id})
    assert answer["results"][0]["code"] == "image:404"


def test_image_over_the_size_cap_is_dead_lettered(collector: HandlerHarness) -> None:
    collector.configure(MAX_IMAGE_BYTES="50000")
    task_id = collector.cloud.alimt.create_task(
        collector.cloud.add_images("src", 1), image_size=80_000
    )
    answer = collector.invoke({"taskId": task_id})
    assert answer["results"][0]["code"] == "image:TooLarge"
    keys = collector.list_keys("translated/")
    assert not [k for k in keys if k.endswith((".png", "manifest.json"))], keys


def test_expired_sts_token_is_retried_and_a_bad_signature_dead_lettered(
    collector: HandlerHarness,
) -> None:
    task_id = new_task(collector.cloud)
    collector.cloud.alimt.script(task_id, ["http:400:InvalidSecurityToken.Expired", "ok"])
    assert collector.invoke({"taskId": task_id})["results"][0]["outcome"] == "copied"

    other = new_task(collector.cloud)
    collector.cloud.alimt.script(other, ["http:400:SignatureDoesNotMatch"])
    answer = collector.invoke({"taskId": other})
    assert answer["results"][0]["code"] == "alimt:SignatureDoesNotMatch"
    assert dead_letter(collector, other)["redrivable"] is True


def test_oss_errors_are_retried(collector: HandlerHarness) -> None:
    task_id = new_task(collector.cloud, images=2)
    oss = collector.cloud.oss
    oss.inject("put", "http:503", key=f"translated/{task_id}/000-final*", count=1)
    oss.inject("put", "reset-mid-body", key=f"translated/{task_id}/001-final*", count=1)
    oss.inject("put", "bad-crc", key=f"translated/{task_id}/000-inpainting*", count=1)
    answer = collector.invoke({"taskId": task_id})
    assert answer["results"][0]["outcome"] == "copied"
    manifest = collector.json_object(f"translated/{task_id}/manifest.json")
    for entry in manifest["images"]:
        for kind in ("final", "inpainting", "template"):
            stored = oss.object_meta(collector.cloud.bucket_name, entry[kind]["key"])
            assert stored is not None and str(stored.crc64) == entry[kind]["crc64"]


def test_hostile_result_urls_are_refused_before_any_fetch(collector: HandlerHarness) -> None:
    collector.configure(ALLOW_INSECURE_SOURCES="false")
    task_id = new_task(collector.cloud)
    answer = collector.invoke({"taskId": task_id})
    assert answer["results"][0]["code"] == "image:NotAllowed"
    assert sum(1 for r in collector.cloud.images.requests if task_id in r.path) == 0
    assert "http" in dead_letter(collector, task_id)["message"]


def test_redirect_to_a_private_address_is_refused(collector: HandlerHarness) -> None:
    task_id = new_task(collector.cloud)
    collector.cloud.images.inject(f"{task_id}/0-final*", "redirect:http://10.0.0.7/x.png", None)
    answer = collector.invoke({"taskId": task_id})
    assert answer["results"][0]["code"] == "image:NotAllowed"
