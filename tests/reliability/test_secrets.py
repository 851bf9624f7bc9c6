"""Secrets: every STS key the suite hands the function is a recognisable fake (SecretWatch.issue),
and every invocation's log lines, error message and answer, and every manifest, pending record, dead
letter and FC destination record, is scanned for them and for signed query strings (conftest.py and
support.Harness do that for every test). This file checks that the scanner can fail, and runs the
paths most likely to leak."""

from __future__ import annotations

import json

from tests.reliability.support import COPIED, DEAD_LETTERED, Harness, SecretWatch, account


def test_the_scanner_finds_what_it_looks_for() -> None:
    probe = SecretWatch()
    probe.add("FAKE-SECRET-probe-must-never-be-logged")
    assert probe.leaks("x FAKE-SECRET-probe-must-never-be-logged y")
    assert probe.leaks("https://h/p.png?Expires=1&OSSAccessKeyId=LTAI5tX&Signature=abc%3D")
    assert probe.leaks('{"url": "http://h/x?x-oss-signature=abcd"}')
    assert not probe.leaks("https://h/p.png?<redacted>")
    assert not probe.leaks("Signature=<redacted>")


def test_signed_urls_and_keys_stay_out_of_logs_letters_and_manifests(h: Harness) -> None:
    cloud = h.cloud
    copied = h.make_task(images=2)
    refused = h.make_task(images=1)
    h.materialise_results(refused)
    task = cloud.alimt.task(refused)
    assert task is not None and task.results
    signed = task.results[0].final_url
    assert signed is not None and "Signature=" in signed
    cloud.images.inject(f"{refused}/0-final*", "403", count=None)

    first = h.invoke({"taskIds": [copied, refused]})
    assert account(h, copied, [first]) == COPIED
    assert account(h, refused, [first]) == DEAD_LETTERED

    # A sender pastes a signed URL and this invocation's own secret into an event: the dead letter
    # keeps the event, without either.
    context = h.context()
    secret = context.credentials.access_key_secret
    event = json.dumps({"taskId": signed, "note": f"secret={secret}"})
    from tests.reliability.support import capture

    with capture() as out:
        bad = h.call(event, context)
    bad.log_text = out.getvalue()
    h.scan(bad)
    assert bad.answer is not None and bad.answer["counts"]["rejected"] == 1
    letters = h.object_keys("collector/dead-letter/rejected/")
    assert letters
    for key in letters:
        text = cloud.bucket().get_object(key).read().decode()
        assert secret not in text and "Signature=" not in text, text
    # (the cloud fixture scans every manifest, record and letter again when the test ends)
