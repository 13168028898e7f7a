"""Rewrite only the lines a fix changes: splice re-rendered entries into the original text.

Why: ruamel.yaml's round-trip keeps comments, key order and quoting, but it serialises a
whole document in *one* indentation style. Real manifests mix styles (Sock Shop indents
one list by one space, the next by two; Online Boutique nests lists both ways), so a
re-serialised document changes dozens of lines nobody asked to change. Here each edit is
mapped, on the document as it was parsed, to the smallest block it touches:

- the entry ``key: value`` of a block mapping whose value the edit replaces (or a value
  in flow style ``{...}``/``[...]`` below it: the whole flow value is rendered again);
- the item ``- value`` of a block sequence;
- a key the edit adds: a new entry after the last entry of the mapping that gets it.

Only those blocks are rendered again (by ruamel.yaml, in the document's own indentation,
shifted to the column of the original key or dash) and spliced into the original lines;
every other line stays byte for byte. The result is parsed again and must equal the
edited document, else :func:`splice` returns None and the caller re-serialises the whole
document instead.
"""

from __future__ import annotations

import copy
import io
import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import CommentMark, YAMLError
from ruamel.yaml.scalarstring import FoldedScalarString, LiteralScalarString
from ruamel.yaml.tokens import CommentToken

_DOC_END: Final = re.compile(r"\.\.\.[ \t]*(#.*)?")
_BLOCK_SCALARS: Final = (LiteralScalarString, FoldedScalarString)


def _yaml() -> YAML:
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
    """One block of lines that an edit replaces, or the place where it inserts one."""

    insert: bool  # a new key after the mapping's last entry (else: replace lines)
    container: Any  # the CommentedMap/CommentedSeq that holds ``key`` (as parsed)
    key: Any  # mapping key, or sequence index
    start: int  # first line replaced, or the line the new entry goes before
    end: int  # line after the last one replaced (== start for an insert)
    col: int  # column of the key, or of the dash
    value: Any = None  # the value it replaces, as parsed
    ancestors: tuple[Any, ...] = ()  # the containers above it, as parsed (innermost last)
    seq: int = 0  # the order of the edit that asked for it


def _last_leaf(node: Any) -> Any:
    while isinstance(node, CommentedMap | CommentedSeq) and node:
        node = node[list(node.keys())[-1]] if isinstance(node, CommentedMap) else node[-1]
    return node


def _ends_in_block_scalar(node: Any) -> bool:
    return isinstance(_last_leaf(node), _BLOCK_SCALARS)


def _trim(lines: Sequence[str], start: int, end: int, col: int, value: Any) -> int:
    """``end`` without the blank, comment and ``...`` lines that close the block: they
    stay where they are. Lines indented deeper than ``col`` after a block scalar are its
    content, not comments; a keep-chomped scalar (``|+``) owns its blank lines."""
    block = _ends_in_block_scalar(value)
    keep = block and str(_last_leaf(value)).endswith("\n\n")
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


def _dash_col(lines: Sequence[str], line: int, col: int) -> int | None:
    """The column of the ``-`` of a sequence item whose content starts at (line, col)."""
    head = lines[line][:col].rstrip()
    if head.endswith("-") and not head[:-1].strip():
        return len(head) - 1
    return None


def _key_col(mapping: CommentedMap) -> int:
    first = next(iter(mapping))
    return int(mapping.lc.key(first)[1])


def _flow(node: Any) -> bool:
    return isinstance(node, CommentedMap | CommentedSeq) and bool(node.fa.flow_style())


def find_unit(
    root: Any, segs: Sequence[str], lines: Sequence[str], span: tuple[int, int]
) -> Unit | None:
    """The block of ``lines`` that setting ``segs`` below ``root`` rewrites, or None when it
    cannot be told (the caller then re-serialises the whole document)."""
    node, (start, end) = root, span
    ancestors: list[Any] = []
    unit: Unit | None = None
    for seg in segs:
        if _flow(node) or not isinstance(node, CommentedMap | CommentedSeq):
            return unit  # rewrite the whole entry that holds the flow value or scalar
        ancestors.append(node)
        if isinstance(node, CommentedMap):
            if not node:
                return unit
            col = _key_col(node)
            if seg not in node:
                at = _trim(lines, start, end, col, node)
                return Unit(
                    insert=True,
                    container=node,
                    key=seg,
                    start=at,
                    end=at,
                    col=col,
                    ancestors=tuple(ancestors),
                )
            keys = list(node)
            i = keys.index(seg)
            line, col = node.lc.key(seg)
            nxt = node.lc.key(keys[i + 1])[0] if i + 1 < len(keys) else end
            unit = Unit(
                insert=False,
                container=node,
                key=seg,
                start=int(line),
                end=_trim(lines, int(line), int(nxt), int(col), node[seg]),
                col=int(col),
                value=node[seg],
                ancestors=tuple(ancestors),
            )
            node, start, end = node[seg], int(line), int(nxt)
        else:
            if not seg.isdigit() or int(seg) >= len(node):
                return None
            i = int(seg)
            line, col = node.lc.item(i)
            dash = _dash_col(lines, int(line), int(col))
            if dash is None:
                return None
            nxt = node.lc.item(i + 1)[0] if i + 1 < len(node) else end
            unit = Unit(
                insert=False,
                container=node,
                key=i,
                start=int(line),
                end=_trim(lines, int(line), int(nxt), dash, node[i]),
                col=dash,
                value=node[i],
                ancestors=tuple(ancestors),
            )
            node, start, end = node[i], int(line), int(nxt)
    return unit


def _dump(node: Any, indent: tuple[int, int, int]) -> list[str]:
    yaml = _yaml()
    mapping, sequence, offset = indent
    yaml.indent(mapping=mapping, sequence=sequence, offset=offset)
    buf = io.StringIO()
    yaml.dump(node, buf)
    return split_lines(buf.getvalue().replace("\r\n", "\n"))


def _render(unit: Unit, indent: tuple[int, int, int], newline: str) -> list[str]:
    """The unit's new lines, at its column."""
    value = copy.deepcopy(unit.container[unit.key])
    entry = unit.container.ca.items.get(unit.key)
    if isinstance(unit.container, CommentedSeq):
        frag: Any = CommentedSeq([value])
        if entry is not None:
            frag.ca.items[0] = list(entry)
    else:
        frag = CommentedMap()
        frag[unit.key] = value
        if entry is not None:
            frag.ca.items[unit.key] = list(entry)
    _shift_comments(frag, -unit.col)
    lines = _dump(frag, indent)
    # comment lines ruamel carried to the end stay in the original text instead
    lines = lines[: _trim(lines, 0, len(lines), 0, value)]
    depth = min(len(ln) - len(ln.lstrip(" ")) for ln in lines if ln.strip())
    pad = " " * unit.col
    return [pad + ln[depth:].rstrip("\n") + newline if ln.strip() else newline for ln in lines]


def _shifted(item: Any, delta: int) -> Any:
    if isinstance(item, CommentToken):
        return CommentToken(item.value, CommentMark(max(0, item.column + delta)), None)
    if isinstance(item, list):
        return [_shifted(x, delta) for x in item]
    return item


def _shift_comments(node: Any, delta: int) -> None:
    """Move the comments of a fragment that will be indented by ``-delta`` columns, so that
    they land where they were (end-of-line comments keep their column)."""
    if not isinstance(node, CommentedMap | CommentedSeq):
        return
    for key, entry in list(node.ca.items.items()):
        node.ca.items[key] = _shifted(entry, delta)
    if node.ca.comment:
        node.ca.comment = _shifted(node.ca.comment, delta)
    for child in node.values() if isinstance(node, CommentedMap) else node:
        _shift_comments(child, delta)


def _covered(unit: Unit, units: Sequence[Unit]) -> bool:
    """Whether another (replacing) unit rewrites the lines of ``unit`` too."""
    return any(
        not other.insert and any(a is other.value for a in unit.ancestors)
        for other in units
        if other is not unit
    )


def splice(
    body: str,
    units: Sequence[Unit],
    *,
    edited: Any,
    indent: tuple[int, int, int],
    newline: str,
) -> str | None:
    """``body`` with every unit's lines replaced by (or, for an insert, preceded by) the
    unit's rendering from the edited document; None when the result would not parse to
    ``edited``. The units must come from :func:`find_unit` on ``body`` as parsed, and
    ``edited`` is that parse after the edits (it is rendered, not changed)."""
    had_newline = body.endswith("\n")
    lines = split_lines(body if had_newline else body + newline)
    todo = [u for u in units if not _covered(u, units)]
    unique: dict[tuple[bool, int, Any], Unit] = {}
    for u in todo:
        unique.setdefault((u.insert, id(u.container), u.key), u)
    ordered = sorted(unique.values(), key=lambda u: (u.start, not u.insert, u.seq), reverse=True)
    for u in ordered:
        new = _render(u, indent, newline)
        lines[u.start : u.end] = new
    text = "".join(lines)
    if not had_newline:
        text = text.removesuffix(newline)
    try:
        again = _yaml().load(text if had_newline else text + "\n")
    except YAMLError:
        return None
    return text if _same(again, edited) else None


def _same(a: Any, b: Any) -> bool:
    """Equal as plain data: same keys in the same order, bools apart from ints."""
    if isinstance(a, dict) or isinstance(b, dict):
        return (
            isinstance(a, dict)
            and isinstance(b, dict)
            and [str(k) for k in a] == [str(k) for k in b]
            and all(_same(x, y) for x, y in zip(a.values(), b.values(), strict=True))
        )
    if isinstance(a, list) or isinstance(b, list):
        return (
            isinstance(a, list)
            and isinstance(b, list)
            and len(a) == len(b)
            and all(_same(x, y) for x, y in zip(a, b, strict=True))
        )
    if isinstance(a, str) or isinstance(b, str):
        return isinstance(a, str) and isinstance(b, str) and str(a) == str(b)
    return isinstance(a, bool) == isinstance(b, bool) and a == b


__all__ = ["Unit", "find_unit", "guess_indent", "splice", "split_lines"]
