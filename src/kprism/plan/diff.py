"""What a release or a rollback changes in the pod template, field by field (pure).

The dashboard's confirmation dialogs show it before anything is done: one row per field
that differs, with its path as ``kubectl explain`` would name it (containers by name:
``spec.containers[web].image``), the value before and after (``None``: absent).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, kw_only=True)
class FieldChange:
    path: str
    before: str | None
    after: str | None

    def to_dict(self) -> dict[str, str | None]:
        return {"path": self.path, "before": self.before, "after": self.after}


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def _named(items: list[Any]) -> bool:
    return bool(items) and all(
        isinstance(i, Mapping) and isinstance(i.get("name"), str) for i in items
    )


def _flat(value: Any, path: str) -> Iterator[tuple[str, Any]]:
    if isinstance(value, Mapping) and value:
        for k in sorted(value):
            yield from _flat(value[k], f"{path}.{k}" if path else str(k))
    elif isinstance(value, list) and _named(value):
        for item in value:
            rest = {k: v for k, v in item.items() if k != "name"}
            yield from _flat(rest, f"{path}[{item['name']}]")
    elif isinstance(value, list) and value and all(isinstance(i, Mapping) for i in value):
        for i, item in enumerate(value):
            yield from _flat(item, f"{path}[{i}]")
    else:
        yield path, value


def template_diff(
    before: Mapping[str, Any], after: Mapping[str, Any], *, track_label: str = ""
) -> list[FieldChange]:
    """The fields of pod template ``after`` that differ from ``before``, in path order;
    the track label (different on every track by design) is left out."""
    old = dict(_flat(before, ""))
    new = dict(_flat(after, ""))
    out = []
    for path in sorted(old.keys() | new.keys()):
        if track_label and path == f"metadata.labels.{track_label}":
            continue
        if old.get(path) == new.get(path):
            continue
        out.append(
            FieldChange(
                path=path,
                before=None if path not in old else _text(old[path]),
                after=None if path not in new else _text(new[path]),
            )
        )
    return out
