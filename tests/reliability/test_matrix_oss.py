"""Fault matrix, OSS rows: server errors, slow and reset uploads, wrong CRC64 answers, existing keys
and failing listings, injected in the OSS emulator; the writes are counted there too."""

from __future__ import annotations

import json
import threading
import time

import pytest

from tests.reliability.support import (
    COPIED,
    HELD_BY_PLATFORM,
    PENDING,
    Harness,
    account,
    check_single_writes,
)

SWEEP = {"triggerTime": "2026-11-29T00:00:00Z", "triggerName": "sweep", "payload": ""}


def image_key(task_id: str, index: int = 0) -> str:
    return f"translated/{task_id}/{index:03d}-final.png"


def make_due(h: Harness, task_id: str) -> None:
    """Make a pending record due now, as if its recheck time had come."""
    record = h.json_object(f"collector/pending/{task_id}.json")
    assert record is not None
    record["nextCheck"] = "2000-01-01T00:00:00.000Z"
    h.cloud.bucket().put_object(f"collector/pending/{task_id}.json", json.dumps(record))


def pending_task(h: Harness, images: int = 1) -> str:
    """A task the first delivery finds unfinished (pending), then finished and due for the sweep."""
    task_id = h.make_task(images=images, polls_until_finished=10_000)
    first = h.invoke({"taskId": task_id})
    assert account(h, task_id, [first]) == PENDING
    h.cloud.alimt.finish_task(task_id)
    make_due(h, task_id)
    return task_id


@pytest.mark.parametrize("status", [500, 503])
def test_server_error_on_an_image_put_then_success(h: Harness, status: int) -> None:
    task_id = h.make_task(images=2)
    h.cloud.oss.inject("put", f"http:{status}", key=image_key(task_id), count=1)
    invocation = h.invoke({"taskId": task_id})
    assert invocation.error is None, invocation.error
    assert account(h, task_id, [invocation]) == COPIED
    check_single_writes(h, task_id)


@pytest.mark.parametrize("what", ["pending record", "manifest"])
def test_server_error_on_a_state_write_then_success(h: Harness, what: str) -> None:
    task_id = h.make_task(images=1)
    key = (
        f"collector/pending/{task_id}.json"
        if what == "pending record"
        else f"translated/{task_id}/manifest.json"
    )
    h.cloud.oss.inject("put", "http:503", key=key, count=1)
    invocation = h.invoke({"taskId": task_id})
    assert invocation.error is None, f"one 5xx on the {what} is retried in process"
    assert account(h, task_id, [invocation]) == COPIED
    check_single_writes(h, task_id)


def test_server_error_on_every_put(h: Harness) -> None:
    """OSS refuses every write: nothing can be recorded, so the invocation fails for the platform
    to keep the event; once OSS is back the redelivery collects the task."""
    h.timeout = 2.5
    task_id = h.make_task(images=1)
    h.cloud.oss.inject("put", "http:503", count=None)
    invocation = h.invoke({"taskId": task_id})
    assert invocation.retryable and task_id in str(invocation.error)
    assert invocation.seconds < h.timeout
    assert account(h, task_id, [invocation]) == HELD_BY_PLATFORM
    assert h.object_keys() == []

    h.cloud.oss.clear_faults()
    h.timeout = 20
    again = h.invoke({"taskId": task_id})
    assert account(h, task_id, [again]) == COPIED
    check_single_writes(h, task_id)


def test_slow_put_within_the_timeout(h: Harness) -> None:
    task_id = h.make_task(images=1)
    h.cloud.oss.inject("put", "delay:1", key=image_key(task_id), count=1)
    invocation = h.invoke({"taskId": task_id})
    assert invocation.error is None
    assert account(h, task_id, [invocation]) == COPIED
    check_single_writes(h, task_id)


def test_slow_put_whose_answer_comes_after_the_client_gave_up(h: Harness) -> None:
    """The write happened but the answer came too late: the retry finds the object (409) and uses
    it, so the image is written once."""
    task_id = h.make_task(images=1)
    # ObjectStore's timeout is max(5 s, SOURCE_TIMEOUT_SECONDS): answer after it
    h.cloud.oss.inject("put", "delay:5.5", key=image_key(task_id), count=1)
    invocation = h.invoke({"taskId": task_id})
    assert invocation.error is None, invocation.error
    assert account(h, task_id, [invocation]) == COPIED
    check_single_writes(h, task_id)


def test_reset_mid_upload(h: Harness) -> None:
    task_id = h.make_task(images=2, image_size=300_000)
    h.cloud.oss.inject("put", "reset-mid-body", key=image_key(task_id), count=1)
    invocation = h.invoke({"taskId": task_id})
    assert invocation.error is None, invocation.error
    assert account(h, task_id, [invocation]) == COPIED
    check_single_writes(h, task_id)
    assert h.cloud.oss.temp_files(h.cloud.bucket_name) == [], "no partial object left behind"


def test_wrong_crc64_returned(h: Harness) -> None:
    """OSS answers with a CRC64 that is not the one of the bytes sent: the object is deleted and
    written again (the second write is not a duplicate: the first copy is gone)."""
    task_id = h.make_task(images=1)
    key = image_key(task_id)
    h.cloud.oss.inject("put", "bad-crc", key=key, count=1)
    invocation = h.invoke({"taskId": task_id})
    assert invocation.error is None, invocation.error
    assert account(h, task_id, [invocation]) == COPIED
    assert h.cloud.oss.put_count(h.cloud.bucket_name, key) == 2
    check_single_writes(h, task_id)


def test_wrong_crc64_returned_for_a_source_without_crc(h: Harness) -> None:
    """The image host states no CRC64 (like a CDN): the collector hashes the bytes once on the way
    and still catches OSS answering with another CRC64 (deleted, written again, right CRC)."""
    task_id = h.make_task(images=1)
    key = image_key(task_id)
    h.cloud.oss.inject("put", "bad-crc", key=key, count=1)
    h.cloud.images.send_crc64 = False
    try:
        invocation = h.invoke({"taskId": task_id})
    finally:
        h.cloud.images.send_crc64 = True
    assert invocation.error is None, invocation.error
    assert account(h, task_id, [invocation]) == COPIED
    assert h.cloud.oss.put_count(h.cloud.bucket_name, key) == 2
    check_single_writes(h, task_id)
    manifest = h.json_object(f"translated/{task_id}/manifest.json")
    assert manifest is not None
    stored = manifest["images"][0]["final"]
    assert stored["crc64"] == str(h.cloud.images.expected_crc64(f"{task_id}/0-final.png"))


def test_wrong_crc64_on_the_manifest(h: Harness) -> None:
    task_id = h.make_task(images=1)
    h.cloud.oss.inject("put", "bad-crc", key=f"translated/{task_id}/manifest.json", count=1)
    invocation = h.invoke({"taskId": task_id})
    again = h.invoke({"taskId": task_id}) if invocation.error else None
    runs = [invocation] + ([again] if again else [])
    assert account(h, task_id, runs) == COPIED
    check_single_writes(h, task_id)


def test_key_already_exists_when_written(h: Harness) -> None:
    """Another delivery writes an image between our listing and our put: OSS answers 409
    FileAlreadyExists (x-oss-forbid-overwrite) and the collector uses that object."""
    task_id = h.make_task(images=1)
    key = image_key(task_id)
    h.cloud.images.inject(f"{task_id}/0-final*", "ttfb:0.6", count=1)
    h.materialise_results(task_id)
    name = f"{task_id}/0-final.png"

    def other_writer() -> None:
        deadline = time.monotonic() + 5
        while h.cloud.images.get_count(name) == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        h.cloud.bucket().put_object(key, b"".join(h.cloud.images.image_bytes_iter(name)))

    writer = threading.Thread(target=other_writer)
    writer.start()
    invocation = h.invoke({"taskId": task_id})
    writer.join()
    assert invocation.error is None, invocation.error
    assert account(h, task_id, [invocation]) == COPIED
    refused = [
        r
        for r in h.cloud.oss.requests_matching("PUT")
        if r.info.get("key") == key and r.status == 409
    ]
    assert len(refused) == 1, "the collector's own put was refused, not forced over"
    assert h.cloud.oss.put_count(h.cloud.bucket_name, key) == 1
    check_single_writes(h, task_id)


def test_listing_fails_during_a_sweep(h: Harness) -> None:
    """The pending registry cannot be listed: the tick fails loudly (for the platform to retry) and
    loses nothing; the next tick collects the task."""
    task_id = pending_task(h)
    h.cloud.oss.inject("list", "http:503", key="collector/pending/", count=1)
    failed_tick = h.invoke(SWEEP)
    assert failed_tick.error is not None
    assert failed_tick.retryable, f"documented retryable error, got {failed_tick.error!r}"
    assert account(h, task_id) == PENDING
    [line] = [line for line in failed_tick.lines if line["event"] == "invocation_failed"]
    assert line["code"] == "oss:HTTP5xx", "the log line names what failed"

    tick = h.invoke(SWEEP)
    assert tick.error is None, tick.error
    assert account(h, task_id, [tick]) == COPIED
    check_single_writes(h, task_id)


def test_listing_fails_while_copying(h: Harness) -> None:
    """Listing the task's output prefix (to reuse earlier objects) fails once: retried."""
    task_id = h.make_task(images=1)
    h.cloud.oss.inject("list", "http:500", key=f"translated/{task_id}/", count=1)
    invocation = h.invoke({"taskId": task_id})
    runs = [invocation]
    if invocation.error is not None:
        assert invocation.retryable
        runs.append(h.invoke({"taskId": task_id}))
    assert account(h, task_id, runs) == COPIED
    check_single_writes(h, task_id)


def test_reading_a_pending_record_fails_during_a_sweep(h: Harness) -> None:
    task_id = pending_task(h)
    h.cloud.oss.inject("get", "http:503", key=f"collector/pending/{task_id}.json", count=1)
    tick = h.invoke(SWEEP)
    assert tick.error is None, tick.error
    assert account(h, task_id) == PENDING, "kept for the next tick"
    assert [
        line for line in tick.lines if line.get("taskId") == task_id and line["level"] == "WARNING"
    ], "the log names the unreadable record"
    tick = h.invoke(SWEEP)
    assert account(h, task_id, [tick]) == COPIED
