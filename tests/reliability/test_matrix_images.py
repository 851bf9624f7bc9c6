"""Fault matrix, image host rows: what the result image URLs can do to a download (error statuses,
expired signatures, broken bodies, oversize, trickling, redirects), injected in the image host."""

from __future__ import annotations

import pytest

from tests.reliability.support import (
    COPIED,
    DEAD_LETTERED,
    PENDING,
    Harness,
    account,
    check_single_writes,
)

IMAGE_SIZE = 60_000


def final_glob(task_id: str, index: int = 0) -> str:
    return f"{task_id}/{index}-final*"


def image_name(task_id: str, index: int = 0) -> str:
    """The image host's name of a result image (the emulator names them with the extension)."""
    return f"{task_id}/{index}-final.png"


def assert_copied_bytes_match_the_source(h: Harness, task_id: str) -> None:
    """What OSS holds is what the image host serves: same size and CRC64 for every final image."""
    manifest = h.json_object(f"translated/{task_id}/manifest.json")
    assert manifest is not None
    for entry in manifest["images"]:
        name = image_name(task_id, entry["index"])
        assert entry["final"]["size"] == h.cloud.images.image_size(name)
        assert entry["final"]["crc64"] == str(h.cloud.images.expected_crc64(name))


def dead_letter_code(h: Harness, task_id: str) -> str:
    letter = h.json_object(f"collector/dead-letter/{task_id}.json")
    assert letter is not None
    return str(letter["rule"])


@pytest.mark.parametrize(("fault", "rule"), [("404", "image:404"), ("http:410", "image:410")])
def test_missing_image(h: Harness, fault: str, rule: str) -> None:
    task_id = h.make_task(images=2)
    h.cloud.images.inject(final_glob(task_id, 1), fault, count=None)
    invocation = h.invoke({"taskId": task_id})
    assert invocation.error is None, "a dead link is final: no platform retry"
    assert account(h, task_id, [invocation]) == DEAD_LETTERED
    assert dead_letter_code(h, task_id) == rule
    assert h.cloud.images.get_count(image_name(task_id, 1)) == 1, "never fetched twice"


def test_expired_signed_url(h: Harness) -> None:
    task_id = h.make_task(images=1, url_ttl_seconds=60)
    h.materialise_results(task_id)
    h.cloud.clock.advance(120)  # the result URLs' signatures expire (a real 403 from the host)
    invocation = h.invoke({"taskId": task_id})
    assert invocation.error is None
    assert account(h, task_id, [invocation]) == DEAD_LETTERED
    assert dead_letter_code(h, task_id) == "image:403"


@pytest.mark.parametrize("fault", ["truncate:1000", "reset", "http:503", "http:429"])
def test_broken_download_once_is_retried(h: Harness, fault: str) -> None:
    task_id = h.make_task(images=2, image_size=IMAGE_SIZE)
    h.cloud.images.inject(final_glob(task_id), fault, count=1)
    invocation = h.invoke({"taskId": task_id})
    assert invocation.error is None, invocation.error
    assert account(h, task_id, [invocation]) == COPIED
    assert_copied_bytes_match_the_source(h, task_id)
    check_single_writes(h, task_id)


def test_truncated_body_every_time(h: Harness) -> None:
    h.timeout = 2.5
    task_id = h.make_task(images=2, image_size=IMAGE_SIZE)
    h.cloud.images.inject(final_glob(task_id), "truncate:1000", count=None)
    invocation = h.invoke({"taskId": task_id})
    assert invocation.retryable and "image:Truncated" in str(invocation.error)
    assert account(h, task_id, [invocation]) == PENDING
    assert f"translated/{task_id}/000-final.png" not in h.object_keys(), "no partial object"

    h.cloud.images.clear_faults()
    again = h.invoke({"taskId": task_id})
    assert account(h, task_id, [again]) == COPIED
    assert_copied_bytes_match_the_source(h, task_id)
    check_single_writes(h, task_id)


@pytest.mark.parametrize("delta", [+1000, -1000], ids=["longer", "shorter"])
def test_wrong_content_length(h: Harness, delta: int) -> None:
    """The host announces a length that is not the image's: the copy must not keep wrong bytes."""
    task_id = h.make_task(images=1, image_size=IMAGE_SIZE)
    h.cloud.images.inject(final_glob(task_id), f"wrong-length:{IMAGE_SIZE + delta}", count=1)
    invocation = h.invoke({"taskId": task_id})
    assert invocation.error is None, invocation.error
    assert account(h, task_id, [invocation]) == COPIED
    assert_copied_bytes_match_the_source(h, task_id)
    check_single_writes(h, task_id)


def test_body_corrupted_in_transit(h: Harness) -> None:
    """The host's CRC64 header disagrees with the bytes (corruption on the way): not kept."""
    task_id = h.make_task(images=1, image_size=IMAGE_SIZE)
    h.cloud.images.inject(final_glob(task_id), "bad-crc", count=1)
    invocation = h.invoke({"taskId": task_id})
    assert invocation.error is None, invocation.error
    assert account(h, task_id, [invocation]) == COPIED
    assert h.cloud.images.get_count(image_name(task_id)) == 2, "downloaded again"
    check_single_writes(h, task_id)


def test_body_larger_than_the_size_cap(h: Harness) -> None:
    h.configure(MAX_IMAGE_BYTES="40000")
    task_id = h.make_task(images=1, image_size=IMAGE_SIZE)
    invocation = h.invoke({"taskId": task_id})
    assert invocation.error is None
    assert account(h, task_id, [invocation]) == DEAD_LETTERED
    assert dead_letter_code(h, task_id) == "image:TooLarge"
    assert h.object_keys(f"translated/{task_id}/") == [] or all(
        "final" not in key for key in h.object_keys(f"translated/{task_id}/")
    )


def test_body_larger_than_announced_and_the_cap(h: Harness) -> None:
    """The host announces a small length but the image is over the cap: the stream is cut."""
    h.configure(MAX_IMAGE_BYTES="40000")
    task_id = h.make_task(images=1, image_size=IMAGE_SIZE)
    h.cloud.images.inject(final_glob(task_id), "wrong-length:30000", count=None)
    invocation = h.invoke({"taskId": task_id}, timeout=3)
    assert account(h, task_id, [invocation]) in (DEAD_LETTERED, PENDING)
    assert f"translated/{task_id}/000-final.png" not in h.object_keys()


def test_very_slow_body_that_exceeds_the_budget(h: Harness) -> None:
    """A trickling body must not hold the invocation past its deadline (FC would kill it)."""
    timeout = 3.0
    task_id = h.make_task(images=1, image_size=IMAGE_SIZE)
    h.cloud.images.inject(final_glob(task_id), "slow:8000", count=None)  # 7.5 s for the image
    invocation = h.invoke({"taskId": task_id}, timeout=timeout)
    assert invocation.seconds < timeout, f"ran {invocation.seconds:.1f}s past a {timeout}s timeout"
    assert invocation.retryable, invocation.error
    assert account(h, task_id, [invocation]) == PENDING
    assert f"translated/{task_id}/000-final.png" not in h.object_keys()

    h.cloud.images.clear_faults()
    again = h.invoke({"taskId": task_id})
    assert account(h, task_id, [again]) == COPIED
    check_single_writes(h, task_id)


@pytest.mark.parametrize(
    "target",
    [
        "http://10.0.0.1/x.png",
        "http://169.254.169.254/latest/meta-data/",
        "http://100.100.100.200/latest/meta-data/",
        "http://192.168.1.1:8080/x.png",
    ],
)
def test_redirect_to_a_private_address(h: Harness, target: str) -> None:
    host = target.split("/")[2]
    # the host list allows the target, so it is the address check that must refuse it
    h.configure(ALLOWED_SOURCE_HOSTS=f"127.0.0.1,{host.split(':')[0]},{host}")
    task_id = h.make_task(images=1)
    h.cloud.images.inject(final_glob(task_id), f"redirect:{target}", count=None)
    invocation = h.invoke({"taskId": task_id}, timeout=5)
    assert invocation.error is None
    assert account(h, task_id, [invocation]) == DEAD_LETTERED
    letter = h.json_object(f"collector/dead-letter/{task_id}.json")
    assert letter is not None and letter["rule"] == "image:NotAllowed"
    assert "internal" in letter["message"]
