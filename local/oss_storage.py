"""The OSS emulator's storage on disk: buckets under `root_dir`, each object a data file plus a JSON
sidecar committed by rename (an interrupted upload never leaves a partial object), and the
multipart uploads' parts."""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import shutil
import threading
from dataclasses import asdict
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import quote

from local.oss_protocol import BUCKET_NAME, ObjectMeta, OssError, PartMeta


class BucketStorage:
    """The storage half of `OssEmulator` (a mixin; `OssEmulator.__init__` sets the state)."""

    root_dir: Path
    _lock: threading.RLock
    _objects: dict[str, dict[str, ObjectMeta]]
    _put_counts: dict[tuple[str, str], int]

    def create_bucket(self, name: str) -> None:
        if not BUCKET_NAME.match(name):
            raise ValueError(f"invalid OSS bucket name: {name!r}")
        with self._lock:
            for sub in ("objects", ".tmp", ".uploads"):
                (self.root_dir / name / sub).mkdir(parents=True, exist_ok=True)
            self._objects.setdefault(name, {})

    def object_path(self, bucket: str, key: str) -> Path:
        """Where the data of `key` lives (whether or not it exists)."""
        return self.root_dir / bucket / "objects" / (self._stem(key) + ".data")

    # ---- faults ---------------------------------------------------------------------------------    # ---- storage --------------------------------------------------------------------------------
    @staticmethod
    def _stem(key: str) -> str:
        # Injective, file-system safe names; the "o_" prefix keeps "." and ".." harmless.
        encoded = quote(key, safe="")
        if len(encoded) <= 200:
            return "o_" + encoded
        return "h_" + hashlib.sha256(key.encode("utf-8")).hexdigest()

    def _sidecar_path(self, bucket: str, key: str) -> Path:
        return self.root_dir / bucket / "objects" / (self._stem(key) + ".json")

    def _load(self) -> None:
        for bucket_dir in sorted(self.root_dir.iterdir()):
            if not (bucket_dir.is_dir() and BUCKET_NAME.match(bucket_dir.name)):
                continue
            self.create_bucket(bucket_dir.name)
            for leftover in (bucket_dir / ".tmp").glob("*"):
                leftover.unlink(missing_ok=True)  # half-written bodies from a crash
            objects = self._objects[bucket_dir.name]
            for sidecar in (bucket_dir / "objects").glob("*.json"):
                meta = ObjectMeta(**json.loads(sidecar.read_text(encoding="utf-8")))
                if self.object_path(bucket_dir.name, meta.key).exists():
                    objects[meta.key] = meta

    def _require_bucket(self, bucket: str) -> dict[str, ObjectMeta]:
        with self._lock:
            objects = self._objects.get(bucket)
        if objects is None:
            raise OssError(
                404, "NoSuchBucket", "The specified bucket does not exist.", {"BucketName": bucket}
            )
        return objects

    def _new_temp_path(self, bucket: str) -> Path:
        self._require_bucket(bucket)
        return self.root_dir / bucket / ".tmp" / secrets.token_hex(16)

    def _commit(
        self, bucket: str, key: str, tmp: Path, meta: ObjectMeta, forbid_overwrite: bool
    ) -> None:
        """Make a fully received temp file the object `key`, atomically with respect to readers."""
        sidecar_tmp = tmp.with_name(tmp.name + ".json")
        with self._lock:
            objects = self._require_bucket(bucket)
            if forbid_overwrite and key in objects:
                raise OssError(
                    409,
                    "FileAlreadyExists",
                    "The object you specified already exists and can not be overwritten.",
                )
            sidecar_tmp.write_text(json.dumps(asdict(meta)), encoding="utf-8")
            os.replace(tmp, self.object_path(bucket, key))
            os.replace(sidecar_tmp, self._sidecar_path(bucket, key))
            objects[key] = meta
            self._put_counts[(bucket, key)] = self._put_counts.get((bucket, key), 0) + 1

    def _open_object(self, bucket: str, key: str) -> tuple[ObjectMeta, BinaryIO] | None:
        with self._lock:
            meta = self._require_bucket(bucket).get(key)
            if meta is None:
                return None
            # Opened under the lock: an overwrite renames a new inode in, ours stays valid.
            return meta, open(self.object_path(bucket, key), "rb")

    def _delete(self, bucket: str, key: str) -> None:
        with self._lock:
            objects = self._require_bucket(bucket)
            if objects.pop(key, None) is not None:
                self._sidecar_path(bucket, key).unlink(missing_ok=True)
                self.object_path(bucket, key).unlink(missing_ok=True)

    def _sorted_objects(self, bucket: str) -> list[ObjectMeta]:
        with self._lock:
            objects = self._require_bucket(bucket)
            return [objects[k] for k in sorted(objects)]

    # ---- multipart storage ---------------------------------------------------------------------
    def _upload_dir(self, bucket: str, upload_id: str) -> Path:
        return self.root_dir / bucket / ".uploads" / upload_id

    def _part_path(self, bucket: str, upload_id: str, part_number: int) -> Path:
        return self._upload_dir(bucket, upload_id) / f"{part_number:05d}.part"

    def _create_upload(self, bucket: str, key: str, info: dict[str, Any]) -> str:
        upload_id = secrets.token_hex(16).upper()
        directory = self._upload_dir(bucket, upload_id)
        directory.mkdir(parents=True)
        (directory / "upload.json").write_text(json.dumps({"key": key, **info}), encoding="utf-8")
        return upload_id

    def _upload_info(self, bucket: str, upload_id: str) -> dict[str, Any]:
        path = self._upload_dir(bucket, upload_id) / "upload.json"
        info: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return info

    def _upload_exists(self, bucket: str, key: str, upload_id: str) -> bool:
        if not re.fullmatch(r"[0-9A-F]{32}", upload_id):
            return False
        with self._lock:
            try:
                return self._upload_info(bucket, upload_id)["key"] == key
            except FileNotFoundError:
                return False

    def _store_part(self, bucket: str, upload_id: str, tmp: Path, part: PartMeta) -> None:
        with self._lock:
            if not self._upload_dir(bucket, upload_id).is_dir():
                raise OssError(404, "NoSuchUpload", "The specified upload does not exist.")
            path = self._part_path(bucket, upload_id, part.part_number)
            os.replace(tmp, path)
            path.with_suffix(".json").write_text(json.dumps(asdict(part)), encoding="utf-8")

    def _parts(self, bucket: str, upload_id: str) -> list[PartMeta]:
        with self._lock:
            directory = self._upload_dir(bucket, upload_id)
            return [
                PartMeta(**json.loads(p.read_text(encoding="utf-8")))
                for p in sorted(directory.glob("*.json"))
                if p.name != "upload.json"
            ]

    def _remove_upload(self, bucket: str, upload_id: str) -> None:
        with self._lock:
            shutil.rmtree(self._upload_dir(bucket, upload_id), ignore_errors=True)
