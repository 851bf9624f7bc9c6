"""`submit`: start image batch translations with the official SDK (`TranslateImageBatch`) and register
each TaskId in the pending registry, so the timer sweep collects it even if nobody publishes it.

The API takes at most 20 image URLs per request: longer lists are split into several batches, each
with its own TaskId. Business errors come back as HTTP 200 with a `Code`: that code is checked.

Each accepted batch also gets a submission record, `<STATE_PREFIX>submissions/<TaskId>.json` (language
pair, field, image count, when): the result API does not say what was asked, and the gallery shows it."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from collector.alimt_gateway import build_alimt_client, map_sdk_error, normalise_code
from collector.config import prefix_problem
from collector.errors import CollectorError, ObjectAlreadyExists, Source
from collector.layout import KeyLayout
from collector.models import task_id_problem
from collector.records import PendingRecord, iso
from collector.redaction import redact, strip_query
from collector.state import PendingRegistry
from ops.jsonview import fields_json
from ops.settings import OpsSettings

MAX_IMAGES_PER_REQUEST = 20
FIELDS = ("general", "e-commerce")


class SubmitError(Exception):
    """The service refused a batch (`code` is its business or gateway code)."""

    def __init__(
        self,
        code: str,
        message: str,
        submitted: list[SubmittedBatch],
        cause: CollectorError | None = None,
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.submitted = submitted  # batches that were accepted before the failure
        self.cause = cause  # the classified failure, for an operator's message


@dataclass(frozen=True)
class SubmitRequest:
    image_urls: tuple[str, ...]
    source_language: str
    target_language: str
    field: str = "general"
    need_editor_data: bool = True
    custom_task_id: str | None = None
    output_prefix: str | None = None  # None: the configured OUTPUT_PREFIX

    def problems(self) -> list[str]:
        found = []
        if not self.image_urls:
            found.append("no image URLs given")
        for url in self.image_urls:
            if not url.startswith(("http://", "https://")) or "," in url:
                found.append(f"not an http(s) URL without commas: {strip_query(url)!r}")
        if self.field not in FIELDS:
            found.append(f"field must be one of {', '.join(FIELDS)}")
        if self.output_prefix:
            problem = prefix_problem(self.output_prefix)
            if problem:
                found.append(f"output prefix {self.output_prefix!r}: {problem}")
        return found


_JSON_FIELDS = "task_id image_count:images request_id registered registration_error"


@dataclass(frozen=True)
class SubmittedBatch:
    task_id: str
    image_count: int
    request_id: str | None
    registered: bool  # False: a pending record already existed (e.g. a de-duplicated resubmit)
    registration_error: str | None = None  # OSS refused the pending record: publish the TaskId

    def to_json(self) -> dict[str, Any]:
        return fields_json(self, _JSON_FIELDS)


def read_url_lines(lines: Iterable[str]) -> list[str]:
    """One URL per line; blank lines and `#` comments are ignored."""
    return [s for s in (line.strip() for line in lines) if s and not s.startswith("#")]


def split_batches(urls: Sequence[str], size: int = MAX_IMAGES_PER_REQUEST) -> list[list[str]]:
    unique = list(dict.fromkeys(urls))  # the service processes a repeated URL once anyway
    return [unique[i : i + size] for i in range(0, len(unique), size)]


def batch_custom_id(custom_task_id: str | None, index: int, batches: int) -> str | None:
    """One CustomTaskId per batch, stable across reruns, so a resubmit is de-duplicated batch-wise."""
    if not custom_task_id or batches == 1:
        return custom_task_id
    return f"{custom_task_id}-{index + 1}"


class AlimtSubmitter:
    def __init__(self, settings: OpsSettings) -> None:
        self._client, self._runtime = build_alimt_client(
            settings.config.alimt_endpoint,
            settings.credentials,
            settings.config.api_timeout_seconds,
        )

    def translate_batch(
        self, urls: list[str], request: SubmitRequest, custom_task_id: str | None
    ) -> tuple[str, str | None]:
        """Start one batch; (TaskId, RequestId). Raises CollectorError with the service's code."""
        from alibabacloud_alimt20181012.models import TranslateImageBatchRequest

        ext = {"needEditorData": "true" if request.need_editor_data else "false"}
        api_request = TranslateImageBatchRequest(
            image_urls=",".join(urls),
            source_language=request.source_language,
            target_language=request.target_language,
            field=request.field,
            ext=json.dumps(ext),
            custom_task_id=custom_task_id,
        )
        try:
            response = self._client.translate_image_batch_with_options(api_request, self._runtime)
        except Exception as exc:
            raise map_sdk_error(exc) from None
        body = response.body
        code = normalise_code(getattr(body, "code", None))
        if code and code != "200":
            raise CollectorError(Source.ALIMT, code, redact(str(body.message or "")))
        task_id = getattr(getattr(body, "data", None), "task_id", None)
        problem = task_id_problem(task_id)
        if problem:
            raise CollectorError(Source.ALIMT, "BadResponse", f"no usable TaskId: {problem}")
        assert isinstance(task_id, str)
        return task_id, getattr(body, "request_id", None)


def submit(
    settings: OpsSettings,
    request: SubmitRequest,
    *,
    register: bool = True,
    on_submitted: Callable[[SubmittedBatch], None] | None = None,
) -> list[SubmittedBatch]:
    """Submit every batch; stop at the first refusal (SubmitError says what was already accepted)."""
    submitter = AlimtSubmitter(settings)
    store = settings.object_store()
    registry = PendingRegistry(store, settings.layout) if register else None
    batches = split_batches(request.image_urls)
    done: list[SubmittedBatch] = []
    for index, urls in enumerate(batches):
        custom_id = batch_custom_id(request.custom_task_id, index, len(batches))
        try:
            task_id, request_id = submitter.translate_batch(urls, request, custom_id)
        except CollectorError as error:
            raise SubmitError(error.code, error.detail, done, error) from None
        registered, registration_error = False, None
        record = submission_record(task_id, len(urls), request, request_id)
        # The gallery's language pair and field. Losing it loses no result, and an OSS failure
        # here shows in the pending record's write just below (same bucket, same identity); an
        # existing record is a de-duplicated resubmit (same CustomTaskId): the first one stands.
        with contextlib.suppress(ObjectAlreadyExists, CollectorError):
            store.put_json(submission_key(settings.layout, task_id), record, forbid_overwrite=True)
        if registry is not None:
            try:
                registered = registry.create(new_pending_record(task_id, request.output_prefix))
            except CollectorError as error:  # the TaskId must still reach the operator
                registration_error = error.key
        batch = SubmittedBatch(task_id, len(urls), request_id, registered, registration_error)
        done.append(batch)
        if on_submitted is not None:
            on_submitted(batch)
    return done


def new_pending_record(task_id: str, output_prefix: str | None) -> PendingRecord:
    now = time.time()
    return PendingRecord.received(
        task_id, now=now, output_prefix=output_prefix, trigger="submit", due=now, status="submitted"
    )


def submission_key(layout: KeyLayout, task_id: str) -> str:
    return layout.submission_key(task_id)


def submission_record(
    task_id: str, image_count: int, request: SubmitRequest, request_id: str | None
) -> dict[str, Any]:
    """What was asked for this TaskId (README "OSS layout": submission record)."""
    return {
        "taskId": task_id,
        "submittedAt": iso(time.time()),
        "sourceLanguage": request.source_language,
        "targetLanguage": request.target_language,
        "field": request.field,
        "imageCount": image_count,
        "needEditorData": request.need_editor_data,
        "customTaskId": request.custom_task_id,
        "outputPrefix": request.output_prefix,
        "apiRequestId": request_id,
    }
