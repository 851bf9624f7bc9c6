"""What FC hands the function and how it retries: the MNS topic trigger event (JSON and STREAM),
the timer event, MNS's notifyStrategy and FC's async retry schedules, destination names."""

from __future__ import annotations

import hashlib
import json
import random
import re
import time
import uuid
from datetime import datetime, timezone
from typing import Any

# MNS topic trigger retry strategies (fc-facts.md).
BACKOFF_RETRIES = 3
BACKOFF_INTERVAL_S = (10.0, 20.0)
EXPONENTIAL_DECAY_RETRIES = 176
EXPONENTIAL_DECAY_MAX_INTERVAL_S = 512.0
# FC does not document its async retry schedule precisely; an exponential backoff from 1 s
# (capped at 5 minutes) is close enough to exercise the function's retry handling.
ASYNC_RETRY_FIRST_INTERVAL_S = 1.0
ASYNC_RETRY_MAX_INTERVAL_S = 300.0


def build_mns_event(
    notify_content_format: str,
    body: str,
    attributes: dict[str, str] | None = None,
    *,
    topic_owner: str,
    topic_name: str,
    subscription_name: str,
    message_id: str | None = None,
    publish_time_ms: int | None = None,
) -> bytes:
    """The event an MNS topic trigger hands to the function (see fc3-event-templates/)."""
    if notify_content_format == "STREAM":
        if not attributes:
            return body.encode()
        # MNS carries user attributes as one "Extend" attribute holding their JSON.
        extend = json.dumps(attributes, separators=(",", ":"), ensure_ascii=False)
        return json.dumps({"body": body, "attrs": {"Extend": extend}}).encode()
    if notify_content_format != "JSON":
        raise ValueError(f"unknown notifyContentFormat {notify_content_format!r}")
    standard = {
        "TopicOwner": topic_owner,
        "Message": body,
        "Subscriber": topic_owner,
        "PublishTime": publish_time_ms if publish_time_ms is not None else int(time.time() * 1000),
        "SubscriptionName": subscription_name,
        "MessageMD5": hashlib.md5(body.encode()).hexdigest().upper(),
        "TopicName": topic_name,
        "MessageId": message_id or uuid.uuid4().hex.upper(),
    }
    return json.dumps({**(attributes or {}), **standard}).encode()


def build_timer_event(trigger_name: str, payload: str, trigger_time: datetime) -> bytes:
    if trigger_time.tzinfo is None:  # FC's cron runs in UTC
        trigger_time = trigger_time.replace(tzinfo=timezone.utc)
    stamp = trigger_time.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return json.dumps(
        {"triggerTime": stamp, "triggerName": trigger_name, "payload": payload}
    ).encode()


def mns_retry_intervals(
    strategy: str, rng: random.Random, max_retries: int | None = None
) -> list[float]:
    if strategy == "BACKOFF_RETRY":
        intervals = [rng.uniform(*BACKOFF_INTERVAL_S) for _ in range(BACKOFF_RETRIES)]
    elif strategy == "EXPONENTIAL_DECAY_RETRY":
        intervals = [
            min(2.0**attempt, EXPONENTIAL_DECAY_MAX_INTERVAL_S)
            for attempt in range(EXPONENTIAL_DECAY_RETRIES)
        ]
    else:
        raise ValueError(f"unknown notifyStrategy {strategy!r}")
    return intervals if max_retries is None else intervals[:max_retries]


def async_retry_interval(retry_number: int) -> float:
    """Wait before async retry `retry_number` (1-based)."""
    return min(ASYNC_RETRY_FIRST_INTERVAL_S * 2 ** (retry_number - 1), ASYNC_RETRY_MAX_INTERVAL_S)


def destination_name(arn: str) -> str:
    """Local directory name for a destination ARN: the MNS queue/topic or function name."""
    match = re.search(r"/(?:queues|topics)/([^/]+)", arn) or re.search(r"functions/([^/]+)", arn)
    name = match[1] if match else arn.rstrip("/").rsplit("/", 1)[-1].rsplit(":", 1)[-1]
    return re.sub(r"[^\w.-]", "_", name) or "destination"


def event_bytes(event: bytes | str | dict[str, Any]) -> bytes:
    if isinstance(event, bytes):
        return event
    if isinstance(event, str):
        return event.encode()
    return json.dumps(event).encode()


def decode_payload(payload: bytes) -> Any:
    try:
        text = payload.decode()
    except UnicodeDecodeError:
        return payload
    try:
        return json.loads(text)
    except ValueError:
        return text
