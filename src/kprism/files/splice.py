"""Rewrite only the lines a fix changes: splice re-rendered blocks into the original text.

Why: ruamel.yaml's round-trip keeps comments, key order and quoting, but it serialises a
whole document in *one* indentation style. Real manifests mix styles (Sock Shop indents
one list by one space, the next by two; Online Boutique nests lists both ways), so a
re-serialised document changes dozens of lines nobody asked to change. And its pure
Python parser takes ~30 ms for a Deployment: a 5 MB manifest with a fix in every
Deployment spent minutes in it. Here each edit is mapped, on the document's node graph
(PyYAML's C composer: the line and column of every key and item), to the smallest block
of lines it touches:

- the entry ``key: value`` of a block mapping whose value the edit replaces (or a value
  in flow style ``{...}``/``[...]`` below it: the whole flow value is written again);
- the item ``- value`` of a block sequence;
- a key the edit adds: a new entry after the last entry of the mapping that gets it.

A replaced block is parsed on its own by ruamel.yaml's round-trip mode (a few lines:
comments, quotes and flow style survive), edited, and written again; an added entry is
rendered from the edited value. Both come out in the document's own indentation,
shifted to the column of the original key or dash; every other line stays byte for byte.
The caller parses the result again and compares it with the edited document; should
they differ, it re-serialises the whole document.
"""

from __future__ import annotations

import io
import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import CommentMark
from ruamel.yaml.scalarstring import FoldedScalarString, LiteralScalarString, ScalarString
from ruamel.yaml.tokens import CommentToken
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

_DOC_END: Final = re.compile(r"\.\.\.[ \t]*(#.*)?")
_BLOCK_SCALARS: Final = (LiteralScalarString, FoldedScalarString)


def round_trip_yaml() -> YAML:
    """ruamel.yaml in round-trip mode, as the rewriting uses it."""
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096  # never re-wrap long strings of a document we rewrite
    return yaml


def guess_indent(body: str) -> tuple[int, int, int]:
    """(mapping, sequence, offset) indents as ruamel wants them, guessed from the text."""
    mapping: int | None = None
    seq: tuple[int, int] | None = None
    lines = [ln.rstrip() for ln in body.splitlines()]
    lines = [ln for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]
    for prev, cur in itertools.pairwise(lines):
        if not prev.endswith(":"):
            continue
        key_col = len(prev) - len(prev.lstrip(" -"))
        col = len(cur) - len(cur.lstrip(" "))
        if cur.lstrip().startswith("- ") and seq is None:
            content = len(cur) - len(cur.lstrip(" -"))
            if col >= key_col:
                seq = (content - key_col, col - key_col)
        elif col > key_col and mapping is None and not cur.lstrip().startswith("-"):
            mapping = col - key_col
        if mapping is not None and seq is not None:
            break
    m = mapping or 2
    s, o = seq if seq is not None and seq[0] >= seq[1] + 2 else (2, 0)
    return m, s, o


def split_lines(text: str) -> list[str]:
    """Lines with their ends, split on ``\\n`` only (as YAML counts lines)."""
    parts = text.split("\n")
    out = [p + "\n" for p in parts[:-1]]
    if parts[-1]:
        out.append(parts[-1])
    return out


@dataclass(eq=False)
class Unit:
    """One block of lines that edits replace, or the place where one adds an entry."""

    insert: bool  # a new key after the mapping's last entry (else: replace lines)
    key: str | int  # mapping key, or sequence index
    depth: int  # path segments down to and including ``key``
    start: int  # first line replaced, or the line the new entry goes before
    end: int  # line after the last one replaced (== start for an insert)
    col: int  # column of the key, or of the dash
    container: Node  # the node that holds ``key``
    path: list[str] = field(default_factory=list)  # from the document root to ``key``
    outer_end: int = 0  # where the entry ends before trailing comments are trimmed
    value: Node | None = None  # the node it replaces
    ancestors: tuple[Node, ...] = ()  # the nodes above it (innermost last)
    edits: list[tuple[list[str], Any]] = field(default_factory=list)  # below it, in order


def _last_leaf(node: Node | None) -> Node | None:
    while isinstance(node, MappingNode | SequenceNode) and node.value:
        last = node.value[-1]
        node = last[1] if isinstance(node, MappingNode) else last
    return node


def _trim(lines: Sequence[str], start: int, end: int, col: int, block: bool, keep: bool) -> int:
    """``end`` without the blank, comment and ``...`` lines that close the block: they
    stay where they are. Lines indented deeper than ``col`` after a block scalar
    (``block``) are its content, not comments; a keep-chomped one (``keep``, ``|+``)
    owns its blank lines."""
    while end > start + 1:
        line = lines[end - 1]
        text = line.strip()
        indent = len(line) - len(line.lstrip(" "))
        if not text:
            if keep:
                break
        elif text.startswith("#") or _DOC_END.fullmatch(text):
            if block and indent > col:
                break
        else:
            break
        end -= 1
    return end


def _trim_node(lines: Sequence[str], start: int, end: int, col: int, value: Node | None) -> int:
    leaf = _last_leaf(value)
    block = isinstance(leaf, ScalarNode) and leaf.style in ("|", ">")
    keep = block and isinstance(leaf, ScalarNode) and str(leaf.value).endswith("\n\n")
    return _trim(lines, start, end, col, block, keep)


def _dash_col(lines: Sequence[str], line: int, col: int) -> int | None:
    """The column of the ``-`` of a sequence item whose content starts at (line, col)."""
    head = lines[line][:col].rstrip()
    if head.endswith("-") and not head[:-1].strip():
        return len(head) - 1
    return None


def _pos(node: Node) -> tuple[int, int]:
    return int(node.start_mark.line), int(node.start_mark.column)


def _map_unit(node: MappingNode, seg: str, lines: Sequence[str], span: tuple[int, int]) -> Unit:
    keys = [k.value if isinstance(k, ScalarNode) else None for k, _ in node.value]
    col = _pos(node.value[0][0])[1]
    if seg not in keys:
        at = _trim_node(lines, span[0], span[1], col, node)
        return Unit(insert=True, key=seg, depth=0, start=at, end=at, col=col, container=node)
    i = keys.index(seg)
    key, value = node.value[i]
    line, col = _pos(key)
    nxt = _pos(node.value[i + 1][0])[0] if i + 1 < len(keys) else span[1]
    return Unit(
        insert=False,
        key=seg,
        depth=0,
        start=line,
        end=_trim_node(lines, line, nxt, col, value),
        outer_end=nxt,
        col=col,
        container=node,
        value=value,
    )


def _seq_unit(
    node: SequenceNode, seg: str, lines: Sequence[str], span: tuple[int, int]
) -> Unit | None:
    if not seg.isdigit() or int(seg) >= len(node.value):
        return None
    i = int(seg)
    value = node.value[i]
    line, col = _pos(value)
    dash = _dash_col(lines, line, col)
    if dash is None:
        return None  # "- - x", or a dash alone on its line
    nxt = _pos(node.value[i + 1])[0] if i + 1 < len(node.value) else span[1]
    return Unit(
        insert=False,
        key=i,
        depth=0,
        start=line,
        end=_trim_node(lines, line, nxt, dash, value),
        outer_end=nxt,
        col=dash,
        container=node,
        value=value,
    )


def find_unit(
    root: Node | None, segs: Sequence[str], lines: Sequence[str], span: tuple[int, int]
) -> Unit | None:
    """The block of ``lines`` that setting ``segs`` below ``root`` rewrites, or None when it
    cannot be told (the caller then re-serialises the whole document)."""
    node, outer = root, span
    ancestors: list[Node] = []
    unit: Unit | None = None
    for depth, seg in enumerate(segs, 1):
        flow = isinstance(node, MappingNode | SequenceNode) and bool(node.flow_style)
        if flow or not isinstance(node, MappingNode | SequenceNode) or not node.value:
            return unit  # rewrite the whole entry that holds the flow value or scalar
        ancestors.append(node)
        if isinstance(node, MappingNode):
            unit = _map_unit(node, seg, lines, outer)
        else:
            unit = _seq_unit(node, seg, lines, outer)
            if unit is None:
                return None
        unit.depth, unit.path, unit.ancestors = depth, list(segs[:depth]), tuple(ancestors)
        if unit.insert:
            return unit
        node, outer = unit.value, (unit.start, unit.outer_end)
    return unit


# ----------------------------------------------------------------------------- rendering


def to_node(value: Any, *, like: Any = None) -> Any:
    """Plain data as ruamel round-trip nodes; a string replacing a quoted or block string
    keeps its quotes or block style."""
    if isinstance(value, dict):
        m = CommentedMap()
        for k, v in value.items():
            m[k] = to_node(v)
        return m
    if isinstance(value, list):
        return CommentedSeq(to_node(v) for v in value)
    if isinstance(value, str) and isinstance(like, ScalarString):
        return type(like)(value)  # keep a literal "|" block a literal block
    return value


def _pop_trailing(node: Any, into: list[CommentToken]) -> None:
    """Take the comments that follow the last leaf of ``node`` (they would be lost)."""
    if isinstance(node, CommentedMap) and node:
        last = list(node.keys())[-1]
        _pop_trailing(node[last], into)
        entry = node.ca.items.get(last)
        if entry and len(entry) > 2 and entry[2] is not None:
            into.append(entry[2])
            entry[2] = None
    elif isinstance(node, CommentedSeq) and node:
        last_i = len(node) - 1
        _pop_trailing(node[last_i], into)
        entry = node.ca.items.get(last_i)
        if entry and entry[0] is not None:
            into.append(entry[0])
            entry[0] = None
    if isinstance(node, CommentedMap | CommentedSeq) and node.ca.comment:
        first = node.ca.comment[0]
        if isinstance(first, CommentToken):
            into.append(first)
            node.ca.comment[0] = None


def _push_trailing(node: Any, tokens: list[CommentToken]) -> None:
    unique = list({id(t): t for t in tokens}.values())
    if not unique:
        return
    token = unique[0]
    if len(unique) > 1:
        token = CommentToken("".join(t.value for t in unique), CommentMark(unique[0].column), None)
    while True:
        if isinstance(node, CommentedMap) and node:
            last = list(node.keys())[-1]
            if isinstance(node[last], CommentedMap | CommentedSeq) and node[last]:
                node = node[last]
                continue
            node.ca.items[last] = [None, None, token, None]
        elif isinstance(node, CommentedSeq) and node:
            node.ca.items[len(node) - 1] = [token, None]
        return


def set_path(root: Any, segs: Sequence[str], value: Any) -> None:
    """Set ``value`` at ``segs`` in a round-trip tree, creating missing parent mappings.
    A replaced mapping or list hands the comments after its last line to the new value."""
    node = root
    for seg in segs[:-1]:
        if isinstance(node, list):
            node = node[int(seg)]
        else:
            if not isinstance(node.get(seg), dict | list):
                node[seg] = CommentedMap()
            node = node[seg]
    key: Any = int(segs[-1]) if isinstance(node, list) else segs[-1]
    old = node[key] if (isinstance(node, list) or key in node) else None
    new = to_node(value, like=old)
    if isinstance(old, CommentedMap | CommentedSeq):
        carried: list[CommentToken] = []
        _pop_trailing(old, carried)
        _push_trailing(new, carried)
    node[key] = new


def _fragment(lines: Sequence[str], unit: Unit) -> str:
    """The unit's lines as a document of their own: the first from the key or dash on,
    the others without the indentation the block has in the file."""
    out = [lines[unit.start][unit.col :]]
    for line in lines[unit.start + 1 : unit.end]:
        indent = len(line) - len(line.lstrip(" "))
        out.append(line[min(indent, unit.col) :])
    text = "".join(out)
    return text if text.endswith("\n") else text + "\n"


def _dump(yaml: YAML, node: Any) -> list[str]:
    buf = io.StringIO()
    yaml.dump(node, buf)
    return split_lines(buf.getvalue().replace("\r\n", "\n"))


def _render(unit: Unit, lines: Sequence[str], yaml: YAML, new_value: Any) -> list[str]:
    """The unit's new lines, starting at column 0 (the caller indents them)."""
    if unit.insert:
        frag: Any = CommentedMap()
        frag[unit.key] = to_node(new_value)
        key: Any = unit.key
    else:
        frag = yaml.load(_fragment(lines, unit))
        key = 0 if isinstance(frag, list) else unit.key
        for rel, value in unit.edits:
            set_path(frag, [str(key), *rel], value)
    out = _dump(yaml, frag)
    value = frag[key]
    leaf = value
    while isinstance(leaf, CommentedMap | CommentedSeq) and leaf:
        leaf = leaf[list(leaf.keys())[-1]] if isinstance(leaf, CommentedMap) else leaf[-1]
    block = isinstance(leaf, _BLOCK_SCALARS)
    keep = block and str(leaf).endswith("\n\n")
    # comment lines ruamel carried to the end stay in the original text instead
    return out[: _trim(out, 0, len(out), 0, block, keep)]


def _covered(unit: Unit, units: Sequence[Unit]) -> Unit | None:
    """The replacing unit whose lines hold ``unit``'s too, if any."""
    for other in units:
        if other is not unit and not other.insert and any(a is other.value for a in unit.ancestors):
            return other
    return None


def splice(
    body: str,
    units: Sequence[tuple[Unit, list[str], Any]],
    *,
    expected: Any,
    indent: tuple[int, int, int],
    newline: str,
    yaml: YAML,
) -> str:
    """``body`` with the lines of the units replaced (or, for an insert, preceded) by their
    new rendering. ``units`` pairs each edit's unit (from :func:`find_unit` on ``body``'s
    node graph) with the edit's path from the document root and its value; ``expected``
    is the document's plain data after every edit (what an added entry holds)."""
    had_newline = body.endswith("\n")
    lines = split_lines(body if had_newline else body + newline)
    plain = [u for u, _, _ in units]
    final: dict[tuple[bool, int, Any], Unit] = {}
    for unit, segs, value in units:
        outer = _covered(unit, plain)
        while outer is not None and (further := _covered(outer, plain)) is not None:
            outer = further
        target = outer or unit
        target = final.setdefault((target.insert, id(target.container), target.key), target)
        target.edits.append((list(segs[target.depth :]), value))
    mapping, sequence, offset = indent
    yaml.indent(mapping=mapping, sequence=sequence, offset=offset)
    order = list(final.values())
    ordered = sorted(
        enumerate(order), key=lambda p: (p[1].start, not p[1].insert, p[0]), reverse=True
    )
    for _, u in ordered:
        new_value = _at(expected, u.path) if u.insert else None
        out = _render(u, lines, yaml, new_value)
        first = lines[u.start][: u.col] if not u.insert else " " * u.col
        pad = " " * u.col
        new = [
            (first if n == 0 else pad) + ln.rstrip("\n") + newline if ln.strip() else newline
            for n, ln in enumerate(out)
        ]
        lines[u.start : u.end] = new
    text = "".join(lines)
    return text if had_newline else text.removesuffix(newline)


def _at(data: Any, segs: Sequence[str]) -> Any:
    for seg in segs:
        data = data[int(seg)] if isinstance(data, list) else data[seg]
    return data


__all__ = [
    "Unit",
    "find_unit",
    "guess_indent",
    "round_trip_yaml",
    "set_path",
    "splice",
    "split_lines",
    "to_node",
]
