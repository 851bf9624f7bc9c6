"""parse_trigger_event: every accepted shape, and clear refusals for everything else."""

from __future__ import annotations

import json

import pytest

from collector.errors import InvalidEvent
from collector.events import MAX_EVENT_BYTES, parse_trigger_event
from collector.models import TaskRequest, TriggerKind

TASK = "EEA28E6D-4828-5031-BD8C-8FF1B3216842"
OTHER = "0C2D0A6E-1111-4C3B-9E0A-5A4B3C2D1E0F"


def mns_json(message: str, **attributes: str) -> bytes:
    envelope = {
        "TopicOwner": "1186202104331798",
        "Message": message,
        "Subscriber": "1186202104331798",
        "PublishTime": 1550216480040,
        "SubscriptionName": "collector",
        "MessageMD5": "BA4BA9B48AC81F0F9C66F6C909C39DBB",
        "TopicName": "alimt-tasks",
        "MessageId": "2F5B3C082B923D4EAC694B76D928F0C1",
        **attributes,
    }
    return json.dumps(envelope).encode()


@pytest.mark.parametrize(
    ("raw", "kind", "tasks"),
    [
        (mns_json(TASK), TriggerKind.MNS_JSON, [TaskRequest(TASK)]),
        (mns_json(json.dumps({"TaskId": TASK})), TriggerKind.MNS_JSON, [TaskRequest(TASK)]),
        (
            mns_json(json.dumps({"taskId": TASK, "outputPrefix": "custom/run-1/"}), key="value"),
            TriggerKind.MNS_JSON,
            [TaskRequest(TASK, "custom/run-1/")],
        ),
        (TASK.encode(), TriggerKind.MNS_STREAM, [TaskRequest(TASK)]),
        (f"  {TASK}\n".encode(), TriggerKind.MNS_STREAM, [TaskRequest(TASK)]),
        (
            json.dumps({"body": TASK, "attrs": {"Extend": '{"key":"value"}'}}).encode(),
            TriggerKind.MNS_STREAM,
            [TaskRequest(TASK)],
        ),
        (
            json.dumps({"body": json.dumps({"TaskId": TASK})}).encode(),
            TriggerKind.MNS_STREAM,
            [TaskRequest(TASK)],
        ),
        (json.dumps({"taskId": TASK}).encode(), TriggerKind.DIRECT, [TaskRequest(TASK)]),
        (json.dumps({"TaskId": TASK}), TriggerKind.DIRECT, [TaskRequest(TASK)]),
        (
            json.dumps({"taskIds": [TASK, OTHER, TASK]}).encode(),
            TriggerKind.DIRECT,
            [TaskRequest(TASK), TaskRequest(OTHER)],
        ),
    ],
)
def test_accepted_shapes(raw: bytes | str, kind: TriggerKind, tasks: list[TaskRequest]) -> None:
    event = parse_trigger_event(raw)
    assert event.kind is kind
    assert list(event.tasks) == tasks
    assert event.rejections == ()


# Item 5 of issue 9: a TaskId that also parses as a JSON scalar is that TaskId in every format.
SCALAR_IDS = ["12345", "1E5", "1e5", "true", "false", "null", "0", "007", "NaN", "Infinity"]
FORMATS = {
    "stream bare": lambda t: t.encode(),
    "stream bare with newline": lambda t: f"{t}\n".encode(),
    "stream JSON string": lambda t: json.dumps(t).encode(),
    "stream body": lambda t: json.dumps({"body": t}).encode(),
    "stream body JSON string": lambda t: json.dumps({"body": json.dumps(t)}).encode(),
    "stream body object": lambda t: json.dumps({"body": json.dumps({"TaskId": t})}).encode(),
    "mns json message": lambda t: mns_json(t),
    "mns json message JSON string": lambda t: mns_json(json.dumps(t)),
    "mns json message object": lambda t: mns_json(json.dumps({"TaskId": t})),
    "direct": lambda t: json.dumps({"taskId": t}).encode(),
    "direct list": lambda t: json.dumps({"taskIds": [t]}).encode(),
}


@pytest.mark.parametrize("task_id", SCALAR_IDS)
@pytest.mark.parametrize("form", sorted(FORMATS))
def test_a_task_id_that_parses_as_a_json_scalar_is_that_task_id_in_every_format(
    task_id: str, form: str
) -> None:
    event = parse_trigger_event(FORMATS[form](task_id))
    assert [t.task_id for t in event.tasks] == [task_id], form
    assert event.rejections == ()


def test_timer_event_with_and_without_payload() -> None:
    plain = parse_trigger_event(
        b'{"triggerTime": "2026-11-29T07:49:00Z", "triggerName": "sweep", "payload": ""}'
    )
    assert plain.kind is TriggerKind.TIMER and plain.sweep is not None
    assert plain.sweep.max_tasks is None
    tuned = parse_trigger_event(
        json.dumps(
            {
                "triggerTime": "2026-11-29T07:49:00Z",
                "triggerName": "sweep",
                "payload": json.dumps({"sweep": {"maxTasks": 10, "maxSeconds": 20}}),
            }
        )
    )
    assert tuned.sweep is not None
    assert (tuned.sweep.max_tasks, tuned.sweep.max_seconds) == (10, 20.0)


def test_batch_keeps_good_ids_and_rejects_bad_ones() -> None:
    event = parse_trigger_event(json.dumps({"taskIds": [TASK, "../etc/passwd", 7]}))
    assert [t.task_id for t in event.tasks] == [TASK]
    reasons = [r.reason for r in event.rejections]
    assert len(reasons) == 2
    assert reasons[0].startswith("taskIds[1]:") and "letters, digits" in reasons[0]
    assert "must be a string, got int" in reasons[1]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"", "event is empty"),
        (b"   \n", "event is empty"),
        (b"\xff\xfe", "not valid UTF-8"),
        (b"../../etc/passwd", "not a valid TaskId"),
        (b"a/b", "not a valid TaskId"),
        (b"bad\x00id", "not a valid TaskId"),
        ("x" * 200, "limit is 128"),
        ("\u0415\u0415\u041028\u04156D", "ASCII letters"),  # Cyrillic look-alikes of EEA28E6D
        (b"[1, 2]", "got a JSON list"),
        (b"-42", "got a JSON int"),  # a JSON scalar that is not a valid TaskId
        (b"-1.5", "got a JSON float"),
        (b'{"hello": "world"}', "not a recognised shape"),
        (b'{"taskId": 5}', "must be a string, got int"),
        (b'{"taskId": "../x"}', "letters, digits"),
        (b'{"taskId": "T1", "colour": "red"}', "unknown keys"),
        (b'{"taskIds": "T1"}', "must be a list"),
        (b'{"taskIds": []}', "is empty"),
        (json.dumps({"taskIds": [f"T{i}" for i in range(51)]}).encode(), "limit is 50"),
        (b'{"taskId": "T1", "outputPrefix": "../up/"}', "'..' path segment"),
        (b'{"taskId": "T1", "outputPrefix": "/abs/"}', "must not start with '/'"),
        (b'{"taskId": "T1", "outputPrefix": "no-slash"}', "must end with '/'"),
        (b'{"taskId": "T1", "outputPrefix": "collector/x/"}', "STATE_PREFIX"),
        (mns_json(""), "is empty"),
        (mns_json("{not json"), "not valid JSON"),
        (
            json.dumps({"TopicOwner": "1", "MessageId": "m", "Message": 5}).encode(),
            "must be a string",
        ),
        (json.dumps({"body": 5}).encode(), "'body' must be a string"),
        (json.dumps({"body": "T1", "attrs": []}).encode(), "'attrs' must be an object"),
        (
            json.dumps({"triggerTime": "x", "triggerName": "t", "payload": "{bad"}).encode(),
            "payload must be a JSON object",
        ),
        (
            json.dumps(
                {"triggerTime": "x", "triggerName": "t", "payload": '{"sweep": {"maxTasks": 0}}'}
            ).encode(),
            "maxTasks",
        ),
        (
            json.dumps(
                {"triggerTime": "x", "triggerName": "t", "payload": '{"other": 1}'}
            ).encode(),
            "unknown keys",
        ),
        (b"[" * 100 + b"]" * 100, "nested"),
        (b"x" * (MAX_EVENT_BYTES + 1), "limit is"),
    ],
)
def test_refusals_name_the_problem(raw: bytes | str, message: str) -> None:
    with pytest.raises(InvalidEvent) as caught:
        parse_trigger_event(raw)
    assert message in str(caught.value)


def test_deep_nesting_beyond_the_json_recursion_limit_is_refused() -> None:
    with pytest.raises(InvalidEvent, match="nested"):
        parse_trigger_event(b"[" * 100_000 + b"]" * 100_000)
