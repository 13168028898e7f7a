"""Read YAML fast, with the line of every node: PyYAML's C parser (libyaml) where present.

Why: ``kprism doctor -f`` on a 5 MB manifest spent 28 s in ruamel.yaml's round-trip
loader, which it only needs for the few documents ``--fix`` rewrites. Auditing needs
plain objects (:func:`parse`) and, for each finding, a line (:func:`compose`, only for
the documents that have findings). Keys
must be unique (YAML says so; PyYAML would silently keep the last one), and keys are
strings, as in a Kubernetes object.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import yaml
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

_Base: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_MERGE = "tag:yaml.org,2002:merge"


class _Loader(_Base):  # type: ignore[misc]  # the C loader has no stubs of its own
    """The safe loader with duplicate keys refused and keys as strings."""

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[str, Any]:
        seen: set[str] = set()
        for key_node, _ in node.value:
            if not isinstance(key_node, ScalarNode) or key_node.tag == _MERGE:
                continue
            if key_node.value in seen:
                raise ConstructorError(
                    "while constructing a mapping",
                    node.start_mark,
                    f"found duplicate key {key_node.value!r}",
                    key_node.start_mark,
                )
            seen.add(key_node.value)
        data: dict[Any, Any] = super().construct_mapping(node, deep=deep)
        if all(isinstance(k, str) for k in data):
            return data
        return {str(k): v for k, v in data.items()}


def parse(text: str) -> Any:
    """The plain data of one YAML document; raises :class:`yaml.YAMLError`."""
    loader = _Loader(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


_Composer: Any = getattr(yaml, "CBaseLoader", yaml.BaseLoader)


def compose(text: str) -> Node | None:
    """The node graph of one YAML document, for its lines (tags are not resolved).

    Kept apart from :func:`parse`: the graph of a 5 MB manifest takes three times the
    memory of its data, and only the documents with findings need their lines.
    """
    loader = _Composer(text)
    try:
        node: Node | None = loader.get_single_node()
    finally:
        loader.dispose()
    return node


def node_line(node: Node | None, segs: Sequence[str]) -> int:
    """0-based line of the deepest node on the path ``segs`` below ``node`` that exists:
    the line of a mapping's key, or of a sequence's item."""
    if node is None:
        return 0
    line = node.start_mark.line
    for seg in segs:
        if isinstance(node, MappingNode):
            for key, value in node.value:
                if isinstance(key, ScalarNode) and key.value == seg:
                    line, node = key.start_mark.line, value
                    break
            else:
                break
        elif isinstance(node, SequenceNode) and seg.isdigit() and int(seg) < len(node.value):
            node = node.value[int(seg)]
            line = node.start_mark.line
        else:
            break
    return int(line)


def equal(a: Any, b: Any) -> bool:
    """Equal as data: same keys in the same order, and a bool is not an int."""
    if isinstance(a, dict) or isinstance(b, dict):
        return (
            isinstance(a, dict)
            and isinstance(b, dict)
            and list(a) == list(b)
            and all(equal(x, y) for x, y in zip(a.values(), b.values(), strict=True))
        )
    if isinstance(a, list) or isinstance(b, list):
        return (
            isinstance(a, list)
            and isinstance(b, list)
            and len(a) == len(b)
            and all(equal(x, y) for x, y in zip(a, b, strict=True))
        )
    return type(a) is type(b) and bool(a == b)


def item_node(node: Node | None, key: str, index: int) -> Node | None:
    """``node[key][index]`` in the node graph (a ``kind: List`` document's item)."""
    if not isinstance(node, MappingNode):
        return None
    for k, v in node.value:
        if isinstance(k, ScalarNode) and k.value == key and isinstance(v, SequenceNode):
            return v.value[index] if index < len(v.value) else None
    return None


__all__ = ["compose", "equal", "item_node", "node_line", "parse"]
