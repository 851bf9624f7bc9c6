"""The JSON form of the operator tool's reports: attribute names in camelCase, in a stated order."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar


def camel(name: str) -> str:
    """`dead_letters_by_code` -> `deadLettersByCode`."""
    first, *rest = name.split("_")
    return first + "".join(part.title() for part in rest)


def fields_json(obj: object, names: str) -> dict[str, Any]:
    """`{camel(name): obj.name}` for each of the space-separated `names`, in order; `attr:key`
    names the key explicitly."""
    view: dict[str, Any] = {}
    for name in names.split():
        attr, _, key = name.partition(":")
        view[key or camel(attr)] = getattr(obj, attr)
    return view


@dataclass
class BatchReport:
    """What an operator command did to many tasks: the part every such report shares."""

    JSON_FIELDS: ClassVar[str] = "dry_run examined failed"

    dry_run: bool
    failed: list[dict[str, Any]] = field(default_factory=list)  # per task: the error
    examined: int = 0

    def to_json(self) -> dict[str, Any]:
        return fields_json(self, self.JSON_FIELDS)
