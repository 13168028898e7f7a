"""Kubernetes manifests on disk: load them with line numbers, rewrite them with fixes.

Why this exists: ``kprism doctor -f`` must point at the line to change
(``deploy.yaml:21: KP001 warning ...``), and ``--fix`` edits files that people keep in git,
so it must not lose their comments, key order or quoting. Reading is done by PyYAML's
C parser (:mod:`kprism.files.fastyaml`: plain objects and the line of every node, fast
on a 5 MB manifest); only the documents ``--fix`` changes are parsed again with
ruamel.yaml's round-trip mode, which keeps comments and quoting, and only the lines of
the fix are written anew (:mod:`kprism.files.splice`).

Each ``---`` document is parsed on its own. Documents
that are empty or not Kubernetes objects (no ``apiVersion``/``kind``) are skipped;
``kind: List`` documents (``kubectl get -o yaml``) yield their items. Bad YAML raises
:class:`~kprism.errors.InvalidSpecError` with ``file:line`` in a one-line message.

This is the file adapter (I/O): :mod:`kprism.ops.doctor` calls it; the pure rules never
see a file.
"""

from __future__ import annotations

import copy
import io
import os
import re
import shutil
import stat
import sys
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, TextIO

import yaml as pyyaml
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from kprism.errors import InvalidSpecError, NotFoundError, UsageError
from kprism.files import STDIN as STDIN  # noqa: PLC0414 - re-export
from kprism.files import STDIN_NAME as STDIN_NAME  # noqa: PLC0414 - re-export
from kprism.files.fastyaml import compose, equal, item_node, node_line, parse
from kprism.files.splice import (
    find_unit,
    guess_indent,
    round_trip_yaml,
    set_path,
    splice,
    split_lines,
)
from kprism.plan.doctor import Edit, ObjectFix, split_pointer

_SUFFIXES: Final = (".yaml", ".yml")
_SEPARATOR: Final = re.compile(r"---(?=[ \t]|\r?$|\n)")
_PLAIN_SEPARATOR: Final = re.compile(r"---[ \t]*(#.*)?\r?\n?")


@dataclass(eq=False)
class _Chunk:
    """One ``---`` document of a file: its separator line, its text, its parse."""

    header: str  # the separator line, kept verbatim ("" for the first document)
    body: str
    first_line: int  # 0-based line of the file where ``body`` starts
    composed: Any = None  # the node graph, for lines, made when a finding needs one
    round_tripped: bool = False  # parsed (in part) by ruamel.yaml to be rewritten
    edits: list[tuple[Manifest, Edit]] = field(default_factory=list)  # --fix: still to write


@dataclass(eq=False)
class _File:
    source: str
    path: Path | None  # None for stdin
    text: str
    chunks: list[_Chunk] = field(default_factory=list)
    yaml: YAML | None = None  # the round-trip parser, set up when a fix needs it


@dataclass(frozen=True, eq=False)
class Manifest:
    """One Kubernetes object read from a file, and where it came from."""

    obj: dict[str, Any]  # plain dicts/lists/scalars, ready for doctor.audit()
    source: str  # the file as named on the command line, or "<stdin>"
    doc: int  # 0-based document number in the file
    item: int | None  # position inside a ``kind: List`` document, else None
    _file: _File = field(repr=False)
    _chunk: _Chunk = field(repr=False)

    def line(self, path: str = "") -> int:
        """1-based line of the deepest node on JSON pointer ``path`` that exists."""
        chunk = self._chunk
        if chunk.composed is None:
            chunk.composed = compose(_terminated(chunk.body))
        node = chunk.composed
        if self.item is not None:
            node = item_node(node, "items", self.item)
        return node_line(node, split_pointer(path)) + chunk.first_line + 1

    @property
    def round_tripped(self) -> bool:
        """Whether its document was parsed again for a rewrite (only ``--fix`` does)."""
        return self._chunk.round_tripped


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


def _terminated(body: str) -> str:
    """A document as parsed: a block scalar at the very end keeps its line break, as if
    the file had one."""
    return body if body.endswith("\n") else body + "\n"


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
            data = parse(_terminated(body))
        except pyyaml.MarkedYAMLError as exc:
            if action := _ACTION.search(body):
                raise _unrendered(file.source, body, action, start) from exc
            mark = exc.problem_mark or exc.context_mark
            line = start + (mark.line + 1 if mark is not None else 1)
            what = _one_line(exc.problem or exc.context or "cannot be parsed")
            raise InvalidSpecError(f"{file.source}:{line}: invalid YAML: {what}") from exc
        except pyyaml.YAMLError as exc:
            msg = f"{file.source}:{start + 1}: invalid YAML: {_one_line(str(exc))}"
            raise InvalidSpecError(msg) from exc
        chunk = _Chunk(header=header, body=body, first_line=start)
        file.chunks.append(chunk)
        if not _is_kube(data):
            continue
        items = data.get("items")
        if str(data["kind"]).endswith("List") and isinstance(items, list):
            for n, item in enumerate(items):
                if _is_kube(item):
                    out.append(Manifest(item, file.source, doc, n, file, chunk))
        else:
            out.append(Manifest(data, file.source, doc, None, file, chunk))
    return out


def _readable(path: Path, warnings: list[str]) -> bool:
    """Whether a file found in a directory can be read: a dangling symlink or a FIFO (which
    would wait for a writer forever), socket or device is skipped with a warning."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        if path.is_symlink():
            warnings.append(f"{path}: dangling symlink to {os.readlink(path)}, skipped")
        return False
    except OSError as exc:
        warnings.append(f"{path}: cannot read: {_one_line(str(exc))}, skipped")
        return False
    if not stat.S_ISREG(mode):
        warnings.append(f"{path}: not a regular file, skipped")
        return False
    return True


def _files_in(directory: Path, warnings: list[str]) -> list[Path]:
    found: list[Path] = []
    for root, dirs, files in os.walk(directory):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found.extend(
            Path(root, f)
            for f in sorted(files)
            if f.lower().endswith(_SUFFIXES)
            and not f.startswith(".")
            and _readable(Path(root, f), warnings)
        )
    return found


def load(
    sources: Sequence[str],
    *,
    stdin: TextIO | None = None,
    warnings: list[str] | None = None,
) -> list[Manifest]:
    """Objects from files, directories (``*.yaml``/``*.yml``, recursively) and ``-`` (stdin).

    Raises :class:`~kprism.errors.NotFoundError` for a missing path and
    :class:`~kprism.errors.InvalidSpecError` for unreadable files, bad YAML, or when no
    Kubernetes object is found at all. What a directory holds that is not a readable file
    (a dangling symlink, a FIFO) is skipped, with a line appended to ``warnings``; a path
    named on its own is read as it is (``-f <(helm template ...)`` is a pipe).
    """
    warnings = [] if warnings is None else warnings
    out: list[Manifest] = []
    seen: set[Path] = set()
    for source in sources:
        if source == STDIN:
            text = (stdin or sys.stdin).read()
            out.extend(_parse(_File(source=STDIN_NAME, path=None, text=text)))
            continue
        path = Path(source)
        if path.is_dir():
            paths = _files_in(path, warnings)
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


def _render(
    file: _File, chunk: _Chunk, edits: Sequence[tuple[list[str], Any]], newline: str
) -> str:
    """The whole document parsed in round-trip mode, edited and serialised again: when the
    edits cannot be spliced in (it still keeps comments, key order and quoting)."""
    chunk.round_tripped = True
    if file.yaml is None:
        file.yaml = round_trip_yaml()
    try:
        data = file.yaml.load(_terminated(chunk.body))
    except YAMLError as exc:
        where = f"{file.source}:{chunk.first_line + 1}"
        raise InvalidSpecError(f"{where}: cannot rewrite: {_one_line(str(exc))}") from exc
    for segs, value in edits:
        set_path(data, segs, value)
    yaml = round_trip_yaml()
    mapping, sequence, offset = guess_indent(chunk.body)
    yaml.indent(mapping=mapping, sequence=sequence, offset=offset)
    if chunk.body.lstrip().startswith("---"):
        yaml.explicit_start = True
    buf = io.StringIO()
    yaml.dump(data, buf)
    text = buf.getvalue()
    text = text.replace("\r\n", "\n")  # comments keep the CR they were read with
    return text if newline == "\n" else text.replace("\n", newline)


def _rewrite(file: _File, chunk: _Chunk, newline: str) -> str:
    """The document's new text: the edited lines spliced into the original ones (see
    :mod:`kprism.files.splice`), or, where that cannot be done, the whole document."""
    body = _terminated(chunk.body)
    edits = [
        ([] if m.item is None else ["items", str(m.item)]) + split_pointer(e.path)
        for m, e in chunk.edits
    ]
    values = [e.value for _, e in chunk.edits]
    lines = split_lines(chunk.body)
    node = compose(body)
    units = [find_unit(node, segs, lines, (0, len(lines))) for segs in edits]
    expected = parse(body)
    for segs, value in zip(edits, values, strict=True):
        _set_plain(expected, segs, value)
    if all(u is not None for u in units):
        chunk.round_tripped = True  # the blocks that change are
        if file.yaml is None:
            file.yaml = round_trip_yaml()
        todo = [(u, s, v) for u, s, v in zip(units, edits, values, strict=True) if u is not None]
        indent = guess_indent(chunk.body)
        text = splice(
            chunk.body, todo, expected=expected, indent=indent, newline=newline, yaml=file.yaml
        )
        # the splice is checked: the text must parse to the edited document
        if equal(parse(_terminated(text)), expected):
            return text
    return _render(file, chunk, list(zip(edits, values, strict=True)), newline)


def _set_plain(root: Any, segs: Sequence[str], value: Any) -> None:
    """Set ``value`` at ``segs`` in plain data, creating missing parent mappings."""
    node = root
    for seg in segs[:-1]:
        if isinstance(node, list):
            node = node[int(seg)]
        else:
            if not isinstance(node.get(seg), dict | list):
                node[seg] = {}
            node = node[seg]
    if isinstance(node, list):
        node[int(segs[-1])] = copy.deepcopy(value)
    else:
        node[segs[-1]] = copy.deepcopy(value)


def _write(file: _File) -> None:
    newline = "\r\n" if "\r\n" in file.text else "\n"
    for chunk in file.chunks:
        if chunk.edits:
            chunk.body = _rewrite(file, chunk, newline)
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
