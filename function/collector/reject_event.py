"""Use case: reject an event (or one bad entry of it). A dead letter keyed by a hash of the event,
and a clear reason; nothing is polled."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from collector.error_policy import rejection_decision
from collector.errors import CollectorError, InputCode
from collector.models import Outcome, TaskOutcome
from collector.ports import Clock
from collector.records import DeadLetter
from collector.state import DeadLetterStore
from collector.telemetry import EventLog

MAX_EVENT_CHARS = 65536


def event_text(raw: Any) -> str:
    """The event as text for a dead letter, whatever it was (undecodable bytes are escaped)."""
    if isinstance(raw, (bytes, bytearray)):
        return bytes(raw[:MAX_EVENT_CHARS]).decode("utf-8", "backslashreplace")
    if isinstance(raw, str):
        return raw[:MAX_EVENT_CHARS]
    return repr(raw)[:MAX_EVENT_CHARS]


@dataclass(frozen=True)
class RejectEvent:
    dead_letters: DeadLetterStore
    log: EventLog
    request_id: str
    clock: Clock = time.time

    def run(self, raw_event: str, reason: str, *, key_hint: str = "") -> TaskOutcome:
        decision = rejection_decision()
        letter = DeadLetter(
            task_id=None,
            code=InputCode.BAD_INPUT,
            reason=reason,
            message="the event was refused; fix the sender and publish again",
            request_id=self.request_id,
            redrivable=decision.redrivable,
            attempts=1,
            first_seen=self.clock(),
            event=raw_event,
            rule=decision.rule,
        )
        try:
            # the key covers the reason too, so two bad ids in one batch get two letters
            key = self.dead_letters.put(letter, raw_event_for_key=raw_event + "\x00" + key_hint)
        except CollectorError as error:
            self.log.error("dead_letter_failed", code=error.key, reason=reason)
            return TaskOutcome(None, Outcome.RETRY, code=error.key, reason=reason)
        self.log.warning(
            "task_outcome",
            outcome="rejected",
            code=InputCode.BAD_INPUT,
            reason=reason,
            deadLetterKey=key,
        )
        return TaskOutcome(None, Outcome.REJECTED, code=InputCode.BAD_INPUT, reason=reason)
