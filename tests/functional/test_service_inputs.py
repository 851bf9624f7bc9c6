"""Whatever the real services send (issue 9), through the real handler and SDKs against the emulators:
every form of a business code, malformed results, unexpected errors, racing deliveries, and the
objects a dead-lettered task leaves behind."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest

from collector.errors import RetryableInvocationError
from collector.ports import Copier, CopyReport
from local.cloud import LocalCloud
from tests.functional.conftest import HandlerHarness

NAMES = {102: "System.Error", 104: "System.ParameterError", 113: "System.AccountNotActivatedOrInArrears"}  # fmt: skip
SWEEP = {"triggerTime": "2026-11-29T00:00:00Z", "triggerName": "sweep", "payload": ""}


def new_task(cloud: LocalCloud, images: int = 1, **options: Any) -> str:
    options.setdefault("need_editor_data", True)
    return cloud.alimt.create_task(cloud.add_images("src", images), **options)


# --- item 1: every form of a business code -------------------------------------------------------
# (form, HTTP status, body): where the code is, and with which status the service answers.
CODE_FORMS: dict[str, tuple[int, Any]] = {
    "200 numeric Code": (200, lambda n: {"Code": n, "Message": "failed"}),
    "200 symbolic Code": (200, lambda n: {"Code": NAMES[n], "Message": "failed"}),
    "200 numeric leading Message": (200, lambda n: {"Code": "", "Message": f"{n} failed"}),
    "200 symbolic leading Message": (200, lambda n: {"Message": f"{NAMES[n]}: failed"}),
    "403 numeric Code": (403, lambda n: {"Code": str(n), "Message": "failed"}),
    "400 symbolic Code": (400, lambda n: {"Code": NAMES[n], "Message": "failed"}),
    "500 numeric Code": (500, lambda n: {"Code": n, "Message": "failed"}),
    "503 symbolic leading Message": (503, lambda n: {"Code": "Error", "Message": NAMES[n]}),
}


def code_step(form: str, number: int) -> str:
    status, body = CODE_FORMS[form]
    return f"reply:{status}:{json.dumps(body(number))}"


@pytest.mark.parametrize("form", sorted(CODE_FORMS))
def test_a_transient_business_code_is_retried_in_every_form(
    collector: HandlerHarness, form: str
) -> None:
    task_id = new_task(collector.cloud)
    collector.cloud.alimt.script(task_id, [code_step(form, 102), "ok"])
    answer = collector.invoke({"taskId": task_id})
    assert answer["results"][0]["outcome"] == "copied"
    assert collector.cloud.alimt.calls("GetTranslateImageBatchResult", task_id) == 2


@pytest.mark.parametrize("form", sorted(CODE_FORMS))
@pytest.mark.parametrize(("number", "redrivable"), [(104, False), (113, True)])
def test_a_final_business_code_is_dead_lettered_by_its_number_in_every_form(
    collector: HandlerHarness, form: str, number: int, redrivable: bool
) -> None:
    task_id = new_task(collector.cloud)
    collector.cloud.alimt.script(task_id, [code_step(form, number)])
    answer = collector.invoke({"taskId": task_id})
    [result] = answer["results"]
    assert (result["outcome"], result["code"]) == ("dead_lettered", f"alimt:{number}")
    letter = collector.json_object(f"collector/dead-letter/{task_id}.json")
    assert letter["code"] == str(number) and letter["rule"] == f"alimt:{number}"
    assert letter["message"].startswith(NAMES[number])
    assert letter["redrivable"] is redrivable
    assert collector.list_keys("collector/pending/") == []


# --- item 2: malformed results ---------------------------------------------------------------------
BAD_FIELDS = [
    ("TemplateJson", {"TemplateJson": "x"}),
    ("TemplateJson", 5),
    ("TemplateJson", "\ud800"),
    ("FinalImageUrl", 5),
    ("FinalImageUrl", ["https://x/y.png"]),
    ("FinalImageUrl", {"url": "https://x/y.png"}),
    ("InPaintingUrl", 1.5),
    ("InPaintingUrl", True),
    ("SourceImageUrl", [1]),
    ("SourceImageUrl", {}),
    ("Code", {"a": 1}),
    ("Code", [200]),
    ("Message", ["x"]),
    ("Success", "perhaps"),
    ("Success", [True]),
]


@pytest.mark.parametrize(("field", "value"), BAD_FIELDS, ids=lambda v: repr(v)[:20])
def test_a_malformed_entry_fails_that_image_only(
    collector: HandlerHarness, field: str, value: Any
) -> None:
    task_id = new_task(collector.cloud, images=2)
    collector.cloud.alimt.script(task_id, [f"mangle:0:{json.dumps({field: value})}"])
    answer = collector.invoke({"taskId": task_id})
    [result] = answer["results"]
    assert (result["outcome"], result.get("code")) == ("copied", "finished_with_errors")
    manifest = collector.json_object(f"translated/{task_id}/manifest.json")
    bad, good = manifest["images"]
    assert manifest["status"] == "finished_with_errors" and manifest["failedCount"] == 1
    assert (bad["success"], bad["code"]) == (False, "BadEntry")
    assert field in bad["message"]
    assert bad["final"] is None and bad["inpainting"] is None and bad["template"] is None
    assert good["success"] is True
    assert {good[k]["key"].rsplit("/", 1)[1] for k in ("final", "inpainting", "template")} == {
        "001-final.png",
        "001-inpainting.png",
        "001-template.json",
    }
    assert not [k for k in collector.list_keys(f"translated/{task_id}/") if "/000-" in k]


def test_an_entry_that_is_not_an_object_fails_that_image_only(collector: HandlerHarness) -> None:
    task_id = new_task(collector.cloud, images=1)
    [entry] = collector.cloud.alimt.result_entries(task_id)
    collector.cloud.alimt.script(task_id, [f"result:{json.dumps([7, entry])}"])
    answer = collector.invoke({"taskId": task_id})
    assert answer["results"][0]["code"] == "finished_with_errors"
    manifest = collector.json_object(f"translated/{task_id}/manifest.json")
    assert [i["success"] for i in manifest["images"]] == [False, True]
    assert "expected an object" in manifest["images"][0]["message"]


MALFORMED_ENVELOPES = [
    "data:[]",
    'data:"finished"',
    "data:5",
    'data:{"Status": 5, "Result": []}',
    'data:{"Status": ["finished"], "Result": []}',
    'data:{"Status": "finished", "Result": {"0": {}}}',
    'data:{"Status": "finished", "Result": "abc"}',
    "result:5",
    'reply:200:["Code", 200]',
    'reply:200:"OK"',
    'reply:200:{"Code": {"x": 1}, "Data": {}}',
    'reply:400:["not", "an", "object"]',
]


@pytest.mark.parametrize("step", MALFORMED_ENVELOPES)
def test_a_malformed_envelope_is_retried_as_bad_response(
    collector: HandlerHarness, step: str
) -> None:
    collector.timeout = 3.0
    task_id = new_task(collector.cloud)
    collector.cloud.alimt.script(task_id, [step] * 200)
    with pytest.raises(RetryableInvocationError) as raised:
        collector.invoke({"taskId": task_id})
    assert f"{task_id}: alimt:BadResponse" in str(raised.value)
    record = collector.json_object(f"collector/pending/{task_id}.json")
    assert record["lastCode"] == "alimt:BadResponse"
    # and once the answer is right again, the task is collected
    collector.cloud.alimt.clear_faults()
    assert collector.invoke({"taskId": task_id})["results"][0]["outcome"] == "copied"


def put_record(collector: HandlerHarness, task_id: str, **fields: Any) -> None:
    record = {
        "taskId": task_id,
        "firstSeen": "2020-01-01T00:00:00.000Z",  # far older than PENDING_LIFETIME_SECONDS
        "attempts": 3,
        "nextCheck": "2000-01-01T00:00:00Z",
        **fields,
    }
    collector.cloud.bucket().put_object(f"collector/pending/{task_id}.json", json.dumps(record))


def test_a_malformed_envelope_is_bounded_by_the_pending_lifetime(
    collector: HandlerHarness,
) -> None:
    task_id = new_task(collector.cloud)
    put_record(collector, task_id)
    collector.cloud.alimt.script(task_id, ["data:[]"] * 200)
    answer = collector.invoke(SWEEP)
    [result] = answer["results"]
    assert (result["outcome"], result["code"]) == ("dead_lettered", "task:PendingTooLong")
    letter = collector.json_object(f"collector/dead-letter/{task_id}.json")
    assert "alimt:BadResponse" in letter["message"]
    assert collector.list_keys("collector/pending/") == []


def test_a_content_length_that_is_not_ascii_digits_is_ignored(collector: HandlerHarness) -> None:
    task_id = new_task(collector.cloud)
    collector.cloud.images.inject(f"{task_id}/0-final*", "length-header:\u00b2", count=None)
    answer = collector.invoke({"taskId": task_id})
    assert answer["results"][0]["outcome"] == "copied"
    manifest = collector.json_object(f"translated/{task_id}/manifest.json")
    assert manifest["images"][0]["final"]["size"] == 20_000


class FailingCopier:
    """A test double of our own `ports.Copier` (no SDK is touched): for one TaskId, a plain bug
    (RuntimeError) that no adapter classifies; every other task is copied by the real copier."""

    def __init__(self, real: Copier, task_id: str) -> None:
        self.real = real
        self.task_id = task_id

    def copy(
        self, task_id: str, output_prefix: str | None, images: Any, deadline: Any
    ) -> CopyReport:
        if task_id == self.task_id:
            raise RuntimeError(f"copier bug for {task_id}")
        return self.real.copy(task_id, output_prefix, images, deadline)


def copier_failing_for(monkeypatch: pytest.MonkeyPatch, task_id: str) -> None:
    """Injected where the copy mode is chosen (wiring.build_copier)."""
    import collector.wiring as wiring

    real_build = wiring.build_copier

    def build(*args: Any) -> Copier:
        return FailingCopier(real_build(*args), task_id)

    monkeypatch.setattr(wiring, "build_copier", build)


def test_an_unexpected_error_is_classified_and_spares_the_other_tasks(
    collector: HandlerHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A copier that fails with an error nobody classifies for one task: the last line of defence
    classifies it; the other tasks of the sweep are collected."""
    odd = new_task(collector.cloud)
    fine = [new_task(collector.cloud) for _ in range(2)]
    copier_failing_for(monkeypatch, odd)
    put_record(collector, odd, firstSeen=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))  # fmt: skip
    for task_id in fine:
        put_record(collector, task_id, firstSeen=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))  # fmt: skip
    with pytest.raises(RetryableInvocationError) as raised:
        collector.invoke(SWEEP)
    assert f"{odd}: internal:Unexpected" in str(raised.value)
    for task_id in fine:
        assert f"translated/{task_id}/manifest.json" in collector.list_keys("translated/")
    assert f"collector/pending/{odd}.json" in collector.list_keys("collector/pending/")
    # and the lifetime still applies to it
    put_record(collector, odd, attempts=5000)
    answer = collector.invoke(SWEEP)
    [result] = answer["results"]
    assert (result["outcome"], result["code"]) == ("dead_lettered", "task:PendingTooLong")


def test_an_unexpected_error_is_logged_once_with_a_redacted_traceback(
    collector: HandlerHarness, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    odd = new_task(collector.cloud)
    copier_failing_for(monkeypatch, odd)
    capsys.readouterr()
    with pytest.raises(RetryableInvocationError):
        collector.invoke({"taskId": odd})
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines() if x.startswith("{")]
    unexpected = [x for x in lines if x.get("event") == "unexpected_error"]
    assert unexpected and unexpected[0]["error"] == "RuntimeError"
    assert "Traceback" in unexpected[0]["traceback"]
    outcome = [x for x in lines if x.get("event") == "task_outcome"][-1]
    assert (outcome["outcome"], outcome["code"]) == ("retry", "internal:Unexpected")


def test_a_huge_attempts_count_only_caps_the_recheck_delay(collector: HandlerHarness) -> None:
    """A hand-edited record with attempts far past any real count: the task is checked as usual
    (the recheck delay is capped; it used to overflow)."""
    odd = new_task(collector.cloud, polls_until_finished=100)
    put_record(collector, odd, attempts=5000, firstSeen=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))  # fmt: skip
    answer = collector.invoke(SWEEP)
    [result] = answer["results"]
    assert result["outcome"] == "pending"
    record = collector.json_object(f"collector/pending/{odd}.json")
    assert record["attempts"] == 5001


# --- item 3: racing deliveries ---------------------------------------------------------------------
def wait_for(condition: Any, timeout: float = 10.0) -> None:
    end = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < end, "timed out waiting"
        time.sleep(0.01)


@pytest.mark.parametrize(
    ("slow_then", "late"),
    [
        # the slow caller's poll answers a final code (it would write a dead letter)
        ("code:113", []),
        ("reply:403:" + json.dumps({"Code": "System.AccountNotActivatedOrInArrears"}), []),
        # ... or is throttled, then its retry meets a final code
        ("throttle", ["code:104"]),
        # ... or stay throttled until its budget runs out (it would re-save the pending record)
        ("throttle", ["throttle"] * 400),
        # ... or it sees the task still running (it would re-save the pending record)
        ("status:running", []),
    ],
)
def test_a_slow_delivery_never_puts_a_copied_task_in_a_second_place(
    collector: HandlerHarness, slow_then: str, late: list[str]
) -> None:
    collector.timeout = 4.0
    cloud = collector.cloud
    task_id = new_task(cloud)
    # First poll (the slow caller's): held 1.5 s, then answered `slow_then`. Second poll (the
    # fast caller's): the real result. Every later poll (the slow caller's retries): `late`.
    cloud.alimt.script(task_id, [f"latency:1.5:{slow_then}", "ok", *late])
    index = collector._load_index()
    slow_context, fast_context = collector.context(), collector.context()
    outcome: dict[str, Any] = {}

    def slow() -> None:
        try:
            outcome["slow"] = json.loads(index.handler(json.dumps({"taskId": task_id}).encode(), slow_context))  # fmt: skip
        except Exception as exc:
            outcome["slow"] = exc

    thread = threading.Thread(target=slow)
    thread.start()
    wait_for(lambda: cloud.alimt.steps_left(task_id) == 1 + len(late))  # its poll is in flight
    fast = json.loads(index.handler(json.dumps({"taskId": task_id}).encode(), fast_context))
    thread.join(timeout=30)
    assert fast["results"][0]["outcome"] == "copied"
    slow_answer = outcome["slow"]
    assert not isinstance(slow_answer, Exception), slow_answer
    assert slow_answer["results"][0]["outcome"] == "already_copied"
    assert f"translated/{task_id}/manifest.json" in collector.list_keys("translated/")
    assert collector.list_keys("collector/pending/") == []
    assert collector.list_keys("collector/dead-letter/") == []


# --- item 4: no orphans ----------------------------------------------------------------------------
def test_a_dead_letter_names_the_objects_already_copied_and_no_more_are_started(
    collector: HandlerHarness,
) -> None:
    collector.configure(COPY_CONCURRENCY="1")
    cloud = collector.cloud
    task_id = new_task(cloud, images=4, need_editor_data=False)
    cloud.images.inject(f"{task_id}/1-final*", "404", count=None)
    answer = collector.invoke({"taskId": task_id})
    assert answer["results"][0]["code"] == "image:404"
    letter = collector.json_object(f"collector/dead-letter/{task_id}.json")
    written = collector.list_keys(f"translated/{task_id}/")
    assert written == [f"translated/{task_id}/000-final.png"]  # image 1 failed: 2, 3 not started
    assert letter["partialObjects"] == [{"key": written[0], "size": 20_000}]
    assert not [r for r in cloud.images.requests if "/2-final" in r.path or "/3-final" in r.path]
