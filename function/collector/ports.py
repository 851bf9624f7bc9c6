"""The edges of the collector, as protocols: what the use cases need from the outside world.

One production implementation each (wiring.py builds them); the local cloud's emulators are the test
double behind them. A use case names only these types, never an adapter, so a second implementation
(say a server-side copy mode: `UploadPartCopy` / `x-oss-copy-source` instead of download + upload) is
a new class that satisfies `Copier`, chosen in wiring.py, with no edit to the first.

  port            production implementation
  ResultApi       alimt_gateway.AlimtGateway       (GetTranslateImageBatchResult, alimt SDK)
  ObjectStorePort object_store.ObjectStore         (OSS through oss2)
  ImageSourcePort image_source.ImageSource         (result image URLs through urllib3)
  Copier          copier.ImageCopier               (download + streamed upload)
  Dispatcher      fc_dispatcher.FcDispatcher       (FC async invocation, sweep fan-out)
  Clock           time.time
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from collector.budget import Deadline
from collector.errors import CollectorError
from collector.models import BatchResult, ImageResult, ListedObject, StoredObject

Chunks = Iterable[bytes]
Images = tuple[ImageResult, ...]


class Clock(Protocol):
    """Wall-clock seconds since the epoch (what records and schedules are written in)."""

    def __call__(self) -> float: ...


class ResultApi(Protocol):
    """The result API: one task's batch result, or a CollectorError(source alimt)."""

    def get_result(self, task_id: str) -> BatchResult: ...


class ObjectStorePort(Protocol):
    """The output/state bucket. Every failure is a CollectorError(source oss); a create-once write
    that finds the object raises ObjectAlreadyExists."""

    def get_json(self, key: str) -> dict[str, Any] | None: ...

    def put_json(
        self, key: str, document: dict[str, Any], *, forbid_overwrite: bool = False
    ) -> StoredObject: ...

    def put_stream(
        self, key: str, chunks: Chunks, content_type: str, *, source_crc64: str | None = None
    ) -> StoredObject: ...

    def head(self, key: str) -> StoredObject | None: ...

    def exists(self, key: str) -> bool: ...

    def delete(self, key: str) -> None: ...

    def list(self, prefix: str) -> Iterator[ListedObject]: ...


class OpenedImage(Protocol):
    """A download in progress: headers read, body streamed by `chunks()`."""

    content_type: str
    crc64: str | None

    @property
    def extension(self) -> str: ...

    def chunks(self) -> Iterator[bytes]: ...

    def close(self) -> None: ...


class ImageSourcePort(Protocol):
    """Opens a result image URL (vetted by the source policy) or raises CollectorError(image)."""

    def open(self, url: str, deadline: Deadline) -> OpenedImage: ...


@dataclass
class CopyReport:
    """What a copy of one task's results did: the manifest's `images`, and what failed."""

    manifest_images: list[dict[str, Any]]
    failed_entries: int
    objects_written: int = 0
    bytes_written: int = 0
    errors: list[CollectorError] = field(default_factory=list)


class Copier(Protocol):
    """Copies one finished task's result entries under its output prefix."""

    def copy(
        self, task_id: str, output_prefix: str | None, images: Images, deadline: Deadline
    ) -> CopyReport: ...


class Dispatcher(Protocol):
    """Sends sweep events to other invocations of the function (fan-out)."""

    def dispatch(self, events: list[dict[str, Any]]) -> None:
        """Send every event or raise CollectorError (fanout.DispatchError once some were sent)."""
