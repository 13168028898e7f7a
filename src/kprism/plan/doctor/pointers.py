"""JSON pointers (RFC 6901) into plain objects, edits at them, and RFC 6902 patches.

Every finding names the field it is about with a pointer; every fix is a list of
:class:`~kprism.plan.doctor.base.Edit` at pointers. The file adapter applies them to YAML
(keeping comments), :func:`apply_edits` to a plain copy, :func:`to_json_patch` turns them
into a patch for the API server.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any

from kprism.plan.doctor.base import Edit


def pointer(*parts: str | int) -> str:
    """A JSON pointer (RFC 6901) from path segments."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def split_pointer(path: str) -> list[str]:
    """The segments of a JSON pointer (``""`` is the whole document)."""
    if not path:
        return []
    if not path.startswith("/"):
        raise ValueError(f"not a JSON pointer: {path!r}")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def get_path(obj: object, path: str) -> tuple[bool, Any]:
    """(found, value) at a JSON pointer."""
    node = obj
    for seg in split_pointer(path):
        if isinstance(node, Mapping) and seg in node:
            node = node[seg]
        elif isinstance(node, list) and seg.isdigit() and int(seg) < len(node):
            node = node[int(seg)]
        else:
            return False, None
    return True, node


def apply_edits(obj: Mapping[str, Any], edits: Iterable[Edit]) -> dict[str, Any]:
    """A deep copy of ``obj`` with ``edits`` applied (missing parent mappings are created)."""
    out: dict[str, Any] = copy.deepcopy(dict(obj))
    for edit in edits:
        segs = split_pointer(edit.path)
        if not segs:
            raise ValueError("an edit cannot replace the whole object")
        node: Any = out
        for seg in segs[:-1]:
            if isinstance(node, list):
                node = node[int(seg)]
            else:
                if not isinstance(node.get(seg), dict | list):
                    node[seg] = {}
                node = node[seg]
        if isinstance(node, list):
            node[int(segs[-1])] = copy.deepcopy(edit.value)
        else:
            node[segs[-1]] = copy.deepcopy(edit.value)
    return out


def to_json_patch(obj: Mapping[str, Any], edits: Iterable[Edit]) -> list[dict[str, Any]]:
    """RFC 6902 operations that apply ``edits`` to ``obj`` on the API server.

    A ``test`` on each touched container's name comes first, so the patch fails instead of
    editing the wrong container if the list changed since ``obj`` was read.
    """
    tests: dict[str, dict[str, Any]] = {}
    ops: list[dict[str, Any]] = []
    current: Mapping[str, Any] = obj
    for edit in edits:
        segs = split_pointer(edit.path)
        if len(segs) > 4 and segs[:4] == ["spec", "template", "spec", "containers"]:
            name_path = pointer(*segs[:5], "name")
            found, name = get_path(current, name_path)
            if found and name_path not in tests:
                tests[name_path] = {"op": "test", "path": name_path, "value": name}
        found, _ = get_path(current, edit.path)
        if found:
            ops.append({"op": "replace", "path": edit.path, "value": copy.deepcopy(edit.value)})
        else:
            depth = next(
                n for n in range(1, len(segs) + 1) if not get_path(current, pointer(*segs[:n]))[0]
            )
            value: Any = copy.deepcopy(edit.value)
            for seg in reversed(segs[depth:]):
                value = {seg: value}
            ops.append({"op": "add", "path": pointer(*segs[:depth]), "value": value})
        current = apply_edits(current, [edit])
    return [*tests.values(), *ops]


__all__ = ["apply_edits", "get_path", "pointer", "split_pointer", "to_json_patch"]
