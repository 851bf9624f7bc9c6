"""Hostile input: TaskIds that try to become part of an OSS key, and result URLs that point at
internal addresses (SSRF). Every one must be refused, and nothing fetched or written for it."""

from __future__ import annotations

import json
import re

import pytest

from local.alimt_emulator import ImageResult
from local.runner import build_mns_event
from tests.reliability.support import DEAD_LETTERED, FIGURES, Harness, account

HOSTILE_TASK_IDS = [
    "../x",
    "..",
    ".",
    "a/b",
    "/abs",
    "a\\b",
    "a\x00b",
    "\x00",
    "T" * 10_240,
    "TASK-\u0410\u0412\u0421",  # Cyrillic look-alikes of ABC
    "\uff34\uff21\uff33\uff2b",  # fullwidth TASK
    "TASK\u2215x",  # division slash
    "\u2024\u2024\u2215x",  # one-dot leaders and a division slash
    "TASK\u200b",  # zero-width space
    "TASK\ud800",  # lone surrogate
    " TASK",
    "TASK\n",
    "TASK\r\n",
    "-TASK",
    "%2e%2e%2fx",
    "TASK?x=1",
    "TASK#frag",
    "",
]


SAFE_KEY = re.compile(r"[A-Za-z0-9/_.-]+")
REJECTED_KEY = re.compile(r"collector/dead-letter/rejected/[0-9a-f]{32}\.json")


def shapes(task_id: str) -> list[object]:
    """The same TaskId in every event shape the function accepts. (A bare message body is trimmed
    like any text message, so bare shapes are left out for ids whose only fault is whitespace.)"""
    body = json.dumps({"TaskId": task_id})
    events: list[object] = [
        {"taskId": task_id},
        {"TaskId": task_id},
        {"taskIds": [task_id]},
        build_mns_event(
            "JSON", body, topic_owner="1", topic_name="t", subscription_name="s"
        ).decode(),
        {"body": body, "attrs": {}},
        body,
    ]
    if task_id.strip() == task_id:
        events += [task_id, json.dumps(task_id), {"body": task_id}]
    return events


@pytest.mark.parametrize("task_id", HOSTILE_TASK_IDS, ids=lambda t: repr(t)[:24])
def test_hostile_task_id_never_becomes_part_of_a_key(h: Harness, task_id: str) -> None:
    for event in shapes(task_id):
        FIGURES.add("hostile_tried")
        invocation = h.invoke(event)
        assert invocation.error is None, f"{event!r}: {invocation.error!r}"
        answer = invocation.answer or {}
        assert answer["counts"]["rejected"] == 1, (event, answer)
        assert all(r["taskId"] is None for r in answer["results"])
        assert all(r.get("reason") for r in answer["results"]), "each refusal says why"
        FIGURES.add("hostile_refused")
    for key in h.object_keys():
        assert REJECTED_KEY.fullmatch(key), key
    assert h.cloud.alimt.calls("GetTranslateImageBatchResult") == 0


SWEEP = {"triggerTime": "2026-11-29T00:00:00Z", "triggerName": "sweep", "payload": ""}


@pytest.mark.parametrize(
    "name", ["..", ".", "a b", "%2e%2e", "TASK\u2215x", "\uff34\uff21\uff33\uff2b", "x" * 200]
)
def test_hostile_pending_record_key_is_not_swept_into_a_key(h: Harness, name: str) -> None:
    """Someone (or something) put a pending record whose name is no TaskId: the sweep must not
    poll it or build keys from it."""
    FIGURES.add("hostile_tried")
    record = {
        "taskId": name,
        "firstSeen": "2026-01-01T00:00:00Z",
        "nextCheck": "2000-01-01T00:00:00Z",
    }
    h.cloud.bucket().put_object(f"collector/pending/{name}.json", json.dumps(record))
    tick = h.invoke(SWEEP)
    assert tick.error is None, tick.error
    assert h.cloud.alimt.calls("GetTranslateImageBatchResult") == 0
    assert [k for k in h.object_keys() if not k.startswith("collector/")] == []
    assert all(
        SAFE_KEY.fullmatch(k) for k in h.object_keys() if k != f"collector/pending/{name}.json"
    )
    FIGURES.add("hostile_refused")


# --- hostile result URLs ----------------------------------------------------------------------------
# (URL, the ALLOWED_SOURCE_HOSTS entry that lets it past the host list, so that the scheme or the
# address check is what refuses it)
HOSTILE_URLS = [
    ("http://images.example.com/x.png", "images.example.com"),
    ("file:///etc/passwd", "localhost"),
    ("ftp://images.example.com/x.png", "images.example.com"),
    ("https://127.0.0.1/x.png", "127.0.0.1"),
    ("https://127.0.0.1:{port}/x.png", "127.0.0.1"),
    ("https://localhost:{port}/x.png", "localhost"),
    ("https://10.1.2.3/x.png", "10.1.2.3"),
    ("https://172.16.5.4/x.png", "172.16.5.4"),
    ("https://172.31.255.254/x.png", "172.31.255.254"),
    ("https://192.168.0.10/x.png", "192.168.0.10"),
    ("https://169.254.169.254/latest/meta-data/", "169.254.169.254"),
    ("https://100.100.100.200/latest/meta-data/", "100.100.100.200"),
    ("https://0.0.0.0/x.png", "0.0.0.0"),
    ("https://[::1]/x.png", "[::1]"),
    ("https://[::ffff:127.0.0.1]/x.png", "[::ffff:127.0.0.1]"),
    ("https://[::ffff:a9fe:a9fe]/x.png", "[::ffff:a9fe:a9fe]"),
    ("https://[::ffff:10.0.0.1]/x.png", "[::ffff:10.0.0.1]"),
    ("https://[fe80::1]/x.png", "[fe80::1]"),
    ("https://[fd00::1]/x.png", "[fd00::1]"),
    ("https://2130706433/x.png", "2130706433"),  # 127.0.0.1, decimal
    ("https://0x7f000001/x.png", "0x7f000001"),  # 127.0.0.1, hex
    ("https://0177.0.0.1/x.png", "0177.0.0.1"),  # 127.0.0.1, octal
    ("https://127.1/x.png", "127.1"),
    ("https://167772161/x.png", "167772161"),  # 10.0.0.1, decimal
    ("https://0xa9fea9fe/x.png", "0xa9fea9fe"),  # 169.254.169.254, hex
    ("https://user:pw@images.example.com/x.png", "images.example.com"),
]


@pytest.mark.parametrize(("url", "allowed"), HOSTILE_URLS, ids=[u for u, _ in HOSTILE_URLS])
def test_hostile_result_url_is_refused_before_any_byte_is_fetched(
    h: Harness, url: str, allowed: str
) -> None:
    FIGURES.add("hostile_tried")
    url = url.format(port=h.cloud.images.port)
    h.configure(ALLOW_INSECURE_SOURCES="false", ALLOWED_SOURCE_HOSTS=f"{allowed},*.aliyuncs.com")
    task_id = h.make_task(images=1, need_editor_data=False)
    h.materialise_results(task_id)
    task = h.cloud.alimt.task(task_id)
    assert task is not None and task.results
    task.results = [ImageResult(task.results[0].source_url, final_url=url)]
    h.cloud.images.clear_requests()

    invocation = h.invoke({"taskId": task_id}, timeout=5)

    assert invocation.error is None, invocation.error
    assert account(h, task_id, [invocation]) == DEAD_LETTERED
    letter = h.json_object(f"collector/dead-letter/{task_id}.json")
    assert letter is not None and letter["rule"] == "image:NotAllowed", letter
    assert h.cloud.images.requests == [], "nothing was fetched"
    assert h.object_keys(f"translated/{task_id}/") == []
    FIGURES.add("hostile_refused")


@pytest.mark.parametrize(
    "target",
    [
        "http://10.0.0.1/x.png",
        "http://172.16.0.1/x.png",
        "http://192.168.1.1/x.png",
        "http://169.254.169.254/latest/meta-data/",
        "http://100.100.100.200/latest/meta-data/",
        "http://[::ffff:10.0.0.1]/x.png",
        "http://[fd00::1]/x.png",
        "http://167772161/x.png",
        "http://0xa9fea9fe/x.png",
        "file:///etc/passwd",
    ],
)
def test_redirect_to_a_hostile_address_is_refused(h: Harness, target: str) -> None:
    """The image host (loopback http, so the local-only ALLOW_INSECURE_SOURCES is on) redirects to
    an internal address: the hop is checked like the first URL and refused (loopback and http are
    the only things that setting permits)."""
    FIGURES.add("hostile_tried")
    host = target.split("/")[2]
    h.configure(ALLOWED_SOURCE_HOSTS=f"127.0.0.1,{host or 'localhost'}")
    task_id = h.make_task(images=1, need_editor_data=False)
    h.cloud.images.inject(f"{task_id}/0-final*", f"redirect:{target}", count=None)
    invocation = h.invoke({"taskId": task_id}, timeout=5)
    assert invocation.error is None, invocation.error
    assert account(h, task_id, [invocation]) == DEAD_LETTERED
    letter = h.json_object(f"collector/dead-letter/{task_id}.json")
    assert letter is not None and letter["rule"] == "image:NotAllowed", letter
    FIGURES.add("hostile_refused")
