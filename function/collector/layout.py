"""Where everything lives in OSS. The key layout is a contract with users (README "OSS layout"):
change it only with a migration."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from collector.models import task_id_problem

MANIFEST_NAME = "manifest.json"  # written last: its presence means "collected"


@dataclass(frozen=True)
class KeyLayout:
    output_prefix: str
    state_prefix: str

    # results -------------------------------------------------------------------------------------
    def task_prefix(self, task_id: str, output_prefix: str | None = None) -> str:
        return f"{output_prefix or self.output_prefix}{task_id}/"

    def manifest_key(self, task_id: str, output_prefix: str | None = None) -> str:
        return self.manifest_key_under(self.task_prefix(task_id, output_prefix))

    @staticmethod
    def manifest_key_under(task_prefix: str) -> str:
        """The manifest of the task whose own prefix (a manifest's `outputPrefix`) is given."""
        return task_prefix + MANIFEST_NAME

    def task_id_from_manifest_key(self, key: str) -> str | None:
        """The TaskId of a manifest directly under a TaskId folder of OUTPUT_PREFIX, else None."""
        rest = key[len(self.output_prefix) :] if key.startswith(self.output_prefix) else ""
        task_id, _, name = rest.partition("/")
        return task_id if task_id and name == MANIFEST_NAME else None

    @staticmethod
    def is_manifest_key(key: str) -> bool:
        return key.rsplit("/", 1)[-1] == MANIFEST_NAME

    @staticmethod
    def artifact_key(task_prefix: str, stem: str, extension: str) -> str:
        """`<task prefix>000-final.png`: one result object of a task."""
        return f"{task_prefix}{stem}.{extension}"

    @staticmethod
    def artifact_stem_of(task_prefix: str, key: str) -> str | None:
        """The stem of a result object listed under `task_prefix`; None for the manifest or
        anything deeper."""
        name = key[len(task_prefix) :]
        if name == MANIFEST_NAME or "/" in name:
            return None
        return name.rsplit(".", 1)[0]

    @staticmethod
    def artifact_stem(index: int, kind: str) -> str:
        """`000-final`, `000-inpainting`, `000-template`: the extension follows the content."""
        return f"{index:03d}-{kind}"

    # state ----------------------------------------------------------------------------------------
    @property
    def pending_prefix(self) -> str:
        return f"{self.state_prefix}pending/"

    def pending_key(self, task_id: str) -> str:
        return f"{self.pending_prefix}{task_id}.json"

    @property
    def dead_letter_prefix(self) -> str:
        return f"{self.state_prefix}dead-letter/"

    def dead_letter_key(self, task_id: str) -> str:
        return f"{self.dead_letter_prefix}{task_id}.json"

    @property
    def rejected_prefix(self) -> str:
        return f"{self.dead_letter_prefix}rejected/"

    def task_id_from_dead_letter_key(self, key: str) -> str | None:
        """The TaskId of a dead letter's key; None for a rejected event's letter or anything else."""
        if not key.startswith(self.dead_letter_prefix) or not key.endswith(".json"):
            return None
        name = key[len(self.dead_letter_prefix) : -len(".json")]
        return name if "/" not in name and name else None

    def submission_key(self, task_id: str) -> str:
        """What `alimt-collector submit` sent for a task (its source URLs, for the gallery)."""
        return f"{self.state_prefix}submissions/{task_id}.json"

    def rejected_key(self, raw_event: str) -> str:
        """Bad input has no usable TaskId: key it by a hash of the event. The `rejected/` folder cannot
        collide with a TaskId, which never contains '/'."""
        digest = hashlib.sha256(raw_event.encode("utf-8", "surrogatepass")).hexdigest()[:32]
        return f"{self.rejected_prefix}{digest}.json"

    def task_id_from_pending_key(self, key: str) -> str | None:
        if not key.startswith(self.pending_prefix) or not key.endswith(".json"):
            return None
        name = key[len(self.pending_prefix) : -len(".json")]
        # a record named like no TaskId (say "..") must never be polled or become part of a key
        return name if task_id_problem(name) is None else None
