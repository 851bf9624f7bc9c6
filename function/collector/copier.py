"""The production Copier (ports.Copier): download each result and stream it into OSS. Streamed,
concurrent, verified, each object written once.

Per result entry: the translated image (`<index>-final.<ext>`), the inpainted background
(`<index>-inpainting.<ext>`) and the editor template (`<index>-template.json`), when present. An object
already under the task's prefix (from an earlier, interrupted attempt) is reused, not rewritten.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from collector.budget import Backoff, Deadline
from collector.error_policy import decide
from collector.errors import BudgetCode, CollectorError, ObjectAlreadyExists, OssCode, Source
from collector.heap import keep_copy_buffers
from collector.layout import KeyLayout
from collector.models import ImageResult, StoredObject
from collector.ports import CopyReport, ImageSourcePort, ObjectStorePort
from collector.redaction import strip_query
from collector.retry import call_with_retry
from collector.telemetry import EventLog

ARTIFACTS = ("final", "inpainting", "template")


@dataclass(frozen=True)
class CopyJob:
    index: int
    kind: str  # one of ARTIFACTS
    url: str | None = None  # for images
    text: str | None = None  # for the template


class ImageCopier:
    def __init__(
        self,
        store: ObjectStorePort,
        source: ImageSourcePort,
        layout: KeyLayout,
        *,
        concurrency: int,
        log: EventLog,
        backoff: Backoff | None = None,
    ) -> None:
        self._store = store
        self._source = source
        self._layout = layout
        self._concurrency = concurrency
        self._log = log
        self._backoff = backoff or Backoff()

    def copy(
        self,
        task_id: str,
        output_prefix: str | None,
        images: tuple[ImageResult, ...],
        deadline: Deadline,
    ) -> CopyReport:
        prefix = self._layout.task_prefix(task_id, output_prefix)
        existing = self._existing(prefix)
        jobs = [job for image in images for job in _jobs_for(image)]
        results: dict[tuple[int, str], StoredObject] = {}
        report = CopyReport(manifest_images=[], failed_entries=0)

        final_error = threading.Event()  # once the task is lost, start no new copies for it

        def run(job: CopyJob) -> tuple[CopyJob, StoredObject | None, bool, CollectorError | None]:
            stem = self._layout.artifact_stem(job.index, job.kind)
            found = existing.get(stem)
            if found is not None:
                return job, self._complete(found), False, None
            if final_error.is_set():
                return job, None, False, None
            try:
                stored, wrote = call_with_retry(
                    lambda: self._copy_one(prefix, stem, job, deadline),
                    deadline=deadline,
                    backoff=self._backoff,
                    log=self._log,
                    what=f"copy {stem}",
                    task_id=task_id,
                )
                return job, stored, wrote, None
            except CollectorError as error:
                if not decide(error).retry:
                    final_error.set()
                return job, None, False, error

        if jobs:
            keep_copy_buffers()  # once per process: see collector/heap.py
        workers = max(1, min(self._concurrency, len(jobs)))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="copy") as pool:
            for job, stored, wrote, error in pool.map(run, jobs):
                if error is not None:
                    report.errors.append(error)
                elif stored is not None:
                    results[(job.index, job.kind)] = stored
                    if wrote:
                        report.objects_written += 1
                        report.bytes_written += stored.size

        for image in images:
            entry = _manifest_entry(image, results)
            if not entry["success"]:
                report.failed_entries += 1
            report.manifest_images.append(entry)
        return report

    # --- one object ------------------------------------------------------------------------------
    def _copy_one(
        self, prefix: str, stem: str, job: CopyJob, deadline: Deadline
    ) -> tuple[StoredObject, bool]:
        if deadline.expired():
            raise CollectorError(
                Source.BUDGET, BudgetCode.DEADLINE_EXCEEDED, f"before copying {stem}"
            )
        if job.kind == "template":
            key = self._layout.artifact_key(prefix, stem, "json")
            body = (job.text or "").encode("utf-8")
            return self._put(key, [body], "application/json")
        assert job.url is not None
        image = self._source.open(job.url, deadline)
        try:
            key = self._layout.artifact_key(prefix, stem, image.extension)
            content_type = image.content_type.split(";", 1)[0].strip()
            return self._put(key, image.chunks(), content_type, source_crc64=image.crc64)
        finally:
            image.close()

    def _put(
        self, key: str, chunks: Any, content_type: str, *, source_crc64: str | None = None
    ) -> tuple[StoredObject, bool]:
        # A CRC mismatch (stored bytes differ from the source's) is raised by put_stream after it
        # deleted what it wrote, so the retry can write again.
        try:
            stored = self._store.put_stream(key, chunks, content_type, source_crc64=source_crc64)
            return stored, True
        except ObjectAlreadyExists:
            # A concurrent delivery wrote it (OSS writes are atomic, so it is whole): use theirs.
            found = self._store.head(key)
            if found is None:
                raise CollectorError(
                    Source.OSS, OssCode.HTTP5XX, f"{key} vanished after a 409"
                ) from None
            return self._complete(found), False

    def _existing(self, prefix: str) -> dict[str, StoredObject]:
        found: dict[str, StoredObject] = {}
        for obj in self._store.list(prefix):
            stem = self._layout.artifact_stem_of(prefix, obj.key)
            if stem is not None:
                found[stem] = StoredObject(obj.key, obj.size, "")
        return found

    def _complete(self, stored: StoredObject) -> StoredObject:
        """Listing gives no CRC64: ask OSS for it, so the manifest is the same on every path."""
        if stored.crc64:
            return stored
        head = self._store.head(stored.key)
        return head if head is not None else stored


def _jobs_for(image: ImageResult) -> list[CopyJob]:
    if not image.success:
        return []
    jobs = []
    if image.final_image_url:
        jobs.append(CopyJob(image.index, "final", url=image.final_image_url))
    if image.in_painting_url:
        jobs.append(CopyJob(image.index, "inpainting", url=image.in_painting_url))
    if image.template_json:
        jobs.append(CopyJob(image.index, "template", text=image.template_json))
    return jobs


def _manifest_entry(
    image: ImageResult, results: dict[tuple[int, str], StoredObject]
) -> dict[str, Any]:
    success = image.success
    code: Any = image.code
    message = image.message
    if success and not image.final_image_url:
        success, code, message = False, "MissingImageUrl", "result entry has no FinalImageUrl"
    entry: dict[str, Any] = {
        "index": image.index,
        "sourceImageUrl": strip_query(image.source_image_url),
        "success": success,
        "code": code,
        "message": message,
    }
    for kind in ARTIFACTS:
        stored = results.get((image.index, kind))
        entry[kind] = stored.to_json() if stored is not None else None
    return entry
