"""The alimt emulator's tasks: how each behaves (`TaskOptions`), its per-image results, and how a
result poll moves it along (created -> running -> finished, failed, or invalid once expired)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

RESULT_RETENTION_SECONDS = 3600.0  # results are deleted 1 hour after the task finishes


@dataclass
class TaskOptions:
    """How a task behaves; the emulator's defaults apply to tasks created through the API."""

    polls_until_finished: int = 0  # result polls answered created/running before it finishes
    seconds_until_finished: float = 0.0  # clock seconds after creation before it finishes
    need_editor_data: bool = False
    image_size: int = 20_000
    fmt: str = "png"
    url_ttl_seconds: float = RESULT_RETENTION_SECONDS
    failing_images: dict[int, tuple[int, str]] = field(default_factory=dict)
    fail_task: bool = False


@dataclass
class ImageResult:
    source_url: str
    final_url: str | None = None
    inpainting_url: str | None = None
    template_json: str | None = None
    code: int = 200
    message: str = "OK"

    @property
    def success(self) -> bool:
        return self.code == 200

    def as_json(self, *, with_final_url: bool = True) -> dict[str, Any]:
        entry: dict[str, Any] = {"SourceImageUrl": self.source_url}
        if self.success:
            if with_final_url and self.final_url:
                entry["FinalImageUrl"] = self.final_url
            if self.inpainting_url:
                entry["InPaintingUrl"] = self.inpainting_url
            if self.template_json is not None:
                entry["TemplateJson"] = self.template_json
        entry.update({"Code": self.code, "Message": self.message, "Success": self.success})
        return entry


@dataclass
class Task:
    task_id: str
    image_urls: list[str]
    created_at: float
    options: TaskOptions
    source_language: str = "zh"
    target_language: str = "en"
    translate_field: str = "general"
    polls: int = 0  # result polls answered with the task's own state
    finished_at: float | None = None
    expired: bool = False
    results: list[ImageResult] | None = None  # generated lazily when the task finishes

    def finish_time(self, now: float) -> float | None:
        """When the task finished (clock time), or None if it is still created/running."""
        if self.finished_at is not None:
            return self.finished_at
        due = self.created_at + self.options.seconds_until_finished
        if self.options.polls_until_finished <= 0:
            # Purely time-driven: finished whether or not anybody polled, so expiry is exact.
            return due if now >= due else None
        return None


def poll(task: Task, now: float) -> str:
    """Count one result poll of `task` and say what it answers: `created`, `running`, `invalid`
    (results gone), `failed` or `finished`."""
    finished_at = task.finish_time(now)
    task.polls += 1
    if finished_at is None:
        options = task.options
        if task.polls > options.polls_until_finished and (
            now >= task.created_at + options.seconds_until_finished
        ):
            task.finished_at = finished_at = now
        else:
            return "created" if task.polls == 1 else "running"
    if now - finished_at >= RESULT_RETENTION_SECONDS:
        task.expired = True
        return "invalid"
    return "failed" if task.options.fail_task else "finished"
