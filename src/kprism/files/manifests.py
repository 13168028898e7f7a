"""Kubernetes manifests on disk: load them with line numbers, rewrite them with fixes.

Why this exists: ``kprism doctor -f`` must point at the line to change
(``deploy.yaml:21: KP001 warning ...``), and ``--fix`` edits files that people keep in git,
so it must not lose their comments, key order or quoting. PyYAML forgets all of that;
ruamel.yaml's round-trip mode keeps it and knows the line of every node.

Each ``---`` document is parsed on its own, and only the documents that a fix changes
are serialised again: every other byte of the file stays exactly as it was. Documents
that are empty or not Kubernetes objects (no ``apiVersion``/``kind``) are skipped;
``kind: List`` documents (``kubectl get -o yaml``) yield their items. Bad YAML raises
:class:`~kprism.errors.InvalidSpecError` with ``file:line`` in a one-line message.

This is the file adapter (I/O): :mod:`kprism.ops.doctor` calls it; the pure rules never
see a file.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, TextIO

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import CommentMark, MarkedYAMLError, YAMLError
from ruamel.yaml.scalarstring import ScalarString
from ruamel.yaml.tokens import CommentToken

from kprism.errors import InvalidSpecError, NotFoundError, UsageError
from kprism.files.splice import find_unit, guess_indent, splice, split_lines
from kprism.plan.doctor import Edit, ObjectFix, split_pointer

STDIN: Final = "-"
STDIN_NAME: Final = "<stdin>"
_SUFFIXES: Final = (".yaml", ".yml")
_SEPARATOR: Final = re.compile(r"---(?=[ \t]|\r?$|\n)")
_PLAIN_SEPARATOR: Final = re.compile(r"---[ \t]*(#.*)?\r?\n?")


@dataclass(eq=False)
class _Chunk:
    """One ``---`` document of a file: its separator line, its text, its parse."""

    header: str  # the separator line, kept verbatim ("" for the first document)
    body: str
    first_line: int  # 0-based line of the file where ``body`` starts
    data: Any
    edits: list[tuple[Manifest, Edit]] = field(default_factory=list)  # --fix: still to write


@dataclass(eq=False)
class _File:
    source: str
    path: Path | None  # None for stdin
    text: str
    chunks: list[_Chunk] = field(default_factory=list)


@dataclass(frozen=True, eq=False)
class Manifest:
    """One Kubernetes object read from a file, and where it came from."""

    obj: dict[str, Any]  # plain dicts/lists/scalars, ready for doctor.audit()
    source: str  # the file as named on the command line, or "<stdin>"
    doc: int  # 0-based document number in the file
    item: int | None  # position inside a ``kind: List`` document, else None
    _file: _File = field(repr=False)
    _chunk: _Chunk = field(repr=False)
    _node: Any = field(repr=False)

    def line(self, path: str = "") -> int:
        """1-based line of the deepest node on JSON pointer ``path`` that exists."""
        node = self._node
        line = _node_line(node)
        for seg in split_pointer(path):
            if isinstance(node, CommentedMap) and seg in node:
                line = node.lc.key(seg)[0]
                node = node[seg]
            elif isinstance(node, CommentedSeq) and seg.isdigit() and int(seg) < len(node):
                line = node.lc.item(int(seg))[0]
                node = node[int(seg)]
            else:
                break
        return line + self._chunk.first_line + 1


def _node_line(node: Any) -> int:
    lc = getattr(node, "lc", None)
    return int(lc.line) if lc is not None and lc.line is not None else 0


def _yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096  # never re-wrap long strings of a document we rewrite
    return yaml


def _plain(node: Any) -> Any:
    """ruamel's round-trip types → plain dicts, lists, str, int, float, bool."""
    if isinstance(node, dict):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    if isinstance(node, bool):
        return bool(node)
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    if isinstance(node, str):
        return str(node)
    return node


def _split(text: str) -> Iterator[tuple[str, str, int]]:
    """(separator line, body, 0-based first line of body) for each ``---`` document."""
    header, start = "", 0
    body: list[str] = []
    for n, line in enumerate(text.splitlines(keepends=True)):
        if _SEPARATOR.match(line):
            if header or body:
                yield header, "".join(body), start
            if _PLAIN_SEPARATOR.fullmatch(line):
                header, body, start = line, [], n + 1
            else:  # "--- !tag" or "--- {inline}": the document starts on this line
                header, body, start = "", [line], n
        else:
            body.append(line)
    if header or body:
        yield header, "".join(body), start


def _is_kube(node: Any) -> bool:
    return (
        isinstance(node, dict)
        and isinstance(node.get("apiVersion"), str)
        and isinstance(node.get("kind"), str)
    )


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


#: A template action that names one of Helm's built-in objects: ``{{ .Values.x }}``.
_HELM_OBJECT: Final = re.compile(
    r"\{\{-?[^{}\n]*?\.(?:Values|Release|Chart|Capabilities)\b[^{}\n]*\}\}"
)
#: Any template action, ``{{ ... }}`` on one line.
_ACTION: Final = re.compile(r"\{\{[^{}\n]*\}\}")


def _unrendered(
    source: str, text: str, match: re.Match[str], first_line: int = 0
) -> InvalidSpecError:
    """The one-line answer to a Helm template given where a manifest was expected."""
    line = first_line + text.count("\n", 0, match.start()) + 1
    action = match.group(0) if len(match.group(0)) <= 40 else match.group(0)[:37] + "..."
    return InvalidSpecError(
        f"{source}:{line}: an unrendered Helm template ({action}), not a manifest: render it "
        "first, e.g. helm template RELEASE CHART | kprism doctor -f -"
    )


def _has_mapping_key(node: Any) -> bool:
    """Whether a mapping has a mapping as a key: what ``{{ x }}`` parses to outside quotes."""
    if isinstance(node, dict):
        return any(isinstance(k, Mapping) or _has_mapping_key(v) for k, v in node.items())
    if isinstance(node, list):
        return any(_has_mapping_key(v) for v in node)
    return False


def load_text(text: str, *, source: str) -> list[Manifest]:
    """The Kubernetes objects in a YAML text (one or more documents)."""
    return _parse(_File(source=source, path=None, text=text))


def _parse(file: _File) -> list[Manifest]:
    text = file.text.removeprefix("\ufeff")
    if helm := _HELM_OBJECT.search(text):
        raise _unrendered(file.source, text, helm)
    out: list[Manifest] = []
    for doc, (header, body, start) in enumerate(_split(text)):
        try:
            # a block scalar at the very end keeps its line break, as if the file had one
            data = _yaml().load(body if body.endswith("\n") else body + "\n")
        except MarkedYAMLError as exc:
            if action := _ACTION.search(body):
                raise _unrendered(file.source, body, action, start) from exc
            mark = exc.problem_mark or exc.context_mark
            line = start + (mark.line + 1 if mark is not None else 1)
            what = _one_line(exc.problem or exc.context or "cannot be parsed")
            raise InvalidSpecError(f"{file.source}:{line}: invalid YAML: {what}") from exc
        except YAMLError as exc:
            msg = f"{file.source}:{start + 1}: invalid YAML: {_one_line(str(exc))}"
            raise InvalidSpecError(msg) from exc
        if "{{" in body and _has_mapping_key(data) and (action := _ACTION.search(body)):
            raise _unrendered(file.source, body, action, start)
        chunk = _Chunk(header=header, body=body, first_line=start, data=data)
        file.chunks.append(chunk)
        if not _is_kube(data):
            continue
        items = data.get("items")
        if str(data["kind"]).endswith("List") and isinstance(items, list):
            for n, item in enumerate(items):
                if _is_kube(item):
                    out.append(Manifest(_plain(item), file.source, doc, n, file, chunk, item))
        else:
            out.append(Manifest(_plain(data), file.source, doc, None, file, chunk, data))
    return out


def _files_in(directory: Path) -> list[Path]:
    found: list[Path] = []
    for root, dirs, files in os.walk(directory):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found.extend(
            Path(root, f)
            for f in sorted(files)
            if f.lower().endswith(_SUFFIXES) and not f.startswith(".")
        )
    return found


def load(sources: Sequence[str], *, stdin: TextIO | None = None) -> list[Manifest]:
    """Objects from files, directories (``*.yaml``/``*.yml``, recursively) and ``-`` (stdin).

    Raises :class:`~kprism.errors.NotFoundError` for a missing path and
    :class:`~kprism.errors.InvalidSpecError` for unreadable files, bad YAML, or when no
    Kubernetes object is found at all.
    """
    out: list[Manifest] = []
    seen: set[Path] = set()
    for source in sources:
        if source == STDIN:
            text = (stdin or sys.stdin).read()
            out.extend(_parse(_File(source=STDIN_NAME, path=None, text=text)))
            continue
        path = Path(source)
        if path.is_dir():
            paths = _files_in(path)
        elif path.exists():
            paths = [path]
        else:
            raise NotFoundError(f"{source}: no such file or directory")
        for p in paths:
            key = p.resolve()
            if key in seen:
                continue
            seen.add(key)
            try:
                with p.open(encoding="utf-8", newline="") as fh:  # keep CRLF as it is
                    text = fh.read()
            except (OSError, UnicodeDecodeError) as exc:
                raise InvalidSpecError(f"{p}: cannot read: {_one_line(str(exc))}") from exc
            out.extend(_parse(_File(source=str(p), path=p, text=text)))
    if not out:
        raise InvalidSpecError(f"no Kubernetes objects found in {', '.join(sources)}")
    return out


# --------------------------------------------------------------------- rewriting


def _to_node(value: Any, *, like: Any = None) -> Any:
    if isinstance(value, dict):
        m = CommentedMap()
        for k, v in value.items():
            m[k] = _to_node(v)
        return m
    if isinstance(value, list):
        return CommentedSeq(_to_node(v) for v in value)
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


def _set(root: Any, path: str, value: Any) -> None:
    segs = split_pointer(path)
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
    new = _to_node(value, like=old)
    if isinstance(old, CommentedMap | CommentedSeq):
        carried: list[CommentToken] = []
        _pop_trailing(old, carried)
        _push_trailing(new, carried)
    node[key] = new


def _render(chunk: _Chunk, newline: str) -> str:
    """The whole document serialised again (when the edits cannot be spliced in)."""
    yaml = _yaml()
    mapping, sequence, offset = guess_indent(chunk.body)
    yaml.indent(mapping=mapping, sequence=sequence, offset=offset)
    if chunk.body.lstrip().startswith("---"):
        yaml.explicit_start = True
    buf = io.StringIO()
    yaml.dump(chunk.data, buf)
    text = buf.getvalue()
    text = text.replace("\r\n", "\n")  # comments keep the CR they were read with
    return text if newline == "\n" else text.replace("\n", newline)


def _rewrite(chunk: _Chunk, edits: Sequence[tuple[Manifest, Edit]], newline: str) -> str:
    """The document's new text: the edited lines spliced into the original ones (see
    :mod:`kprism.files.splice`), or, where that cannot be done, the whole document."""
    lines = split_lines(chunk.body)
    units = []
    for n, (m, edit) in enumerate(edits):
        prefix = [] if m.item is None else ["items", str(m.item)]
        unit = find_unit(chunk.data, prefix + split_pointer(edit.path), lines, (0, len(lines)))
        if unit is not None:
            unit.seq = n
        units.append(unit)
    for m, edit in edits:
        _set(m._node, edit.path, edit.value)
    whole = [u for u in units if u is not None]
    if len(whole) == len(units):
        indent = guess_indent(chunk.body)
        text = splice(chunk.body, whole, edited=chunk.data, indent=indent, newline=newline)
        if text is not None:
            return text
    return _render(chunk, newline)


def _write(file: _File) -> None:
    newline = "\r\n" if "\r\n" in file.text else "\n"
    for chunk in file.chunks:
        if chunk.edits:
            chunk.body = _rewrite(chunk, chunk.edits, newline)
            chunk.edits = []
    bom = "\ufeff" if file.text.startswith("\ufeff") else ""
    text = bom + "".join(c.header + c.body for c in file.chunks)
    assert file.path is not None
    fd, tmp = tempfile.mkstemp(prefix=f".{file.path.name}.", dir=file.path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        shutil.copymode(file.path, tmp)
        Path(tmp).replace(file.path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    file.text = text


def apply_fixes(manifests: Sequence[Manifest], fixes: Iterable[ObjectFix]) -> list[str]:
    """Rewrite the manifests' files in place with ``fixes`` (from ``doctor.plan_fixes``).

    ``ObjectFix.index`` indexes ``manifests`` (the same sequence whose ``obj`` went to
    ``audit``). Only the lines an edit changes are written anew, in the document's own
    indentation (:mod:`kprism.files.splice`); every other line, comment and document
    stays byte for byte. Returns the files written, in order. After this the
    ``manifests`` are stale: load the files again to audit the result.
    """
    touched: dict[int, _File] = {}
    for fix in fixes:
        m = manifests[fix.index]
        if m._file.path is None:
            raise UsageError(f"{m.source}: --fix cannot rewrite stdin; pass a file with -f")
        m._chunk.edits.extend((m, edit) for edit in fix.edits)
        if fix.edits:
            touched.setdefault(id(m._file), m._file)
    for file in touched.values():
        _write(file)
    return [f.source for f in touched.values()]


__all__ = ["STDIN", "STDIN_NAME", "Manifest", "apply_fixes", "load", "load_text"]
