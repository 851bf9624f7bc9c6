"""The collector's durable state in OSS: the pending registry, dead letters and manifests (the records
themselves are in records.py, their keys in layout.py).

Layout (README "OSS layout"):
  <STATE_PREFIX>pending/<TaskId>.json       a task we know of that is not collected yet
  <STATE_PREFIX>dead-letter/<TaskId>.json   a task that cannot be collected, and why
  <OUTPUT_PREFIX><TaskId>/manifest.json     written last: its presence means "collected"
"""

from __future__ import annotations

from typing import Any

from collector.errors import ObjectAlreadyExists
from collector.layout import KeyLayout
from collector.ports import ObjectStorePort
from collector.records import DeadLetter, Manifest, PendingRecord


def _create_once(store: ObjectStorePort, key: str, document: dict[str, Any]) -> bool:
    """Write `key` unless it exists (`x-oss-forbid-overwrite`). False if another writer got there
    first: OSS writes are atomic, so what is there is whole."""
    try:
        store.put_json(key, document, forbid_overwrite=True)
    except ObjectAlreadyExists:
        return False
    return True


class PendingRegistry:
    def __init__(self, store: ObjectStorePort, layout: KeyLayout) -> None:
        self._store = store
        self._layout = layout

    def get(self, task_id: str) -> PendingRecord | None:
        data = self._store.get_json(self._layout.pending_key(task_id))
        return PendingRecord.from_json(task_id, data) if data is not None else None

    def create(self, record: PendingRecord) -> bool:
        """Record a newly seen task. False if a record already exists (another delivery made it)."""
        return _create_once(self._store, self._layout.pending_key(record.task_id), record.to_json())

    def save(self, record: PendingRecord) -> None:
        self._store.put_json(self._layout.pending_key(record.task_id), record.to_json())

    def remove(self, task_id: str) -> None:
        self._store.delete(self._layout.pending_key(task_id))

    def list_task_ids(self) -> list[str]:
        listed = self._store.list(self._layout.pending_prefix)
        return [t for t in (self._layout.task_id_from_pending_key(o.key) for o in listed) if t]


class DeadLetterStore:
    def __init__(self, store: ObjectStorePort, layout: KeyLayout) -> None:
        self._store = store
        self._layout = layout

    def put(self, letter: DeadLetter, raw_event_for_key: str | None = None) -> str:
        if letter.task_id is not None:
            key = self._layout.dead_letter_key(letter.task_id)
        else:
            key = self._layout.rejected_key(raw_event_for_key or letter.event or "")
        self._store.put_json(key, letter.to_json())
        return key

    def create(self, letter: DeadLetter) -> bool:
        """Dead-letter a task once (`x-oss-forbid-overwrite`): when two deliveries reach a final
        verdict, the first letter stands. False if one was already there."""
        assert letter.task_id is not None
        return _create_once(
            self._store, self._layout.dead_letter_key(letter.task_id), letter.to_json()
        )

    def get(self, task_id: str) -> dict[str, Any] | None:
        return self._store.get_json(self._layout.dead_letter_key(task_id))

    def get_letter(self, task_id: str) -> DeadLetter | None:
        data = self.get(task_id)
        return DeadLetter.from_json(data) if data is not None else None

    def mark_partial_objects_removed(self, task_id: str, document: dict[str, Any], at: str) -> None:
        """Rewrite a task's letter (as read, unknown fields kept) once ops purged its partial
        objects."""
        updated = {**document, "partialObjects": [], "partialObjectsRemovedAt": at}
        self._store.put_json(self._layout.dead_letter_key(task_id), updated)

    def list_task_ids(self) -> list[str]:
        """The TaskIds with a dead letter (rejected events, which have none, are left out)."""
        listed = self._store.list(self._layout.dead_letter_prefix)
        return [t for t in (self._layout.task_id_from_dead_letter_key(o.key) for o in listed) if t]

    def remove(self, task_id: str) -> None:
        self._store.delete(self._layout.dead_letter_key(task_id))


class ManifestStore:
    def __init__(self, store: ObjectStorePort, layout: KeyLayout) -> None:
        self._store = store
        self._layout = layout

    def exists(self, task_id: str, output_prefix: str | None) -> bool:
        return self._store.exists(self._layout.manifest_key(task_id, output_prefix))

    def get(self, task_id: str, output_prefix: str | None) -> dict[str, Any] | None:
        return self._store.get_json(self._layout.manifest_key(task_id, output_prefix))

    def create(self, output_prefix: str | None, manifest: Manifest) -> bool:
        """Write the manifest once. False if another delivery wrote it first."""
        key = self._layout.manifest_key(manifest.task_id, output_prefix)
        return _create_once(self._store, key, manifest.to_json())

    def partial_objects(self, task_id: str, output_prefix: str | None) -> list[dict[str, Any]]:
        """What an interrupted copy left under the task's prefix (everything but a manifest)."""
        task_prefix = self._layout.task_prefix(task_id, output_prefix)
        return [
            {"key": obj.key, "size": obj.size}
            for obj in self._store.list(task_prefix)
            if not self._layout.is_manifest_key(obj.key)
        ]
