"""Render ``kprism doctor`` findings as text, JSON or SARIF 2.1.0.

Why three formats: people read ``file:line: KP001 warning ...`` lines (editors and CI
logs turn them into links), scripts read JSON, and code-scanning services (GitHub,
GitLab) ingest SARIF and annotate the pull request on the offending line. Rendering
knows nothing about where findings came from: a finding is
:class:`~kprism.ops.doctor.Located` in a file, or, for live-cluster objects, only by its
object reference.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Iterable, Sequence
from pathlib import PurePath
from typing import Any, Final

from kprism import __version__
from kprism.ops.doctor import RULES, STDIN_NAME, Located, Severity, locate

SARIF_SCHEMA: Final = "https://json.schemastore.org/sarif-2.1.0.json"
_SARIF_LEVEL: Final = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}


def counts(items: Iterable[Located]) -> dict[Severity, int]:
    """How many findings of each severity."""
    out = dict.fromkeys(Severity, 0)
    for item in items:
        out[item.finding.severity] += 1
    return out


def summary(items: Sequence[Located], *, objects: int) -> str:
    """``2 warnings, 1 info in 3 objects (2 fixable with --fix)``."""
    if not items:
        return f"no problems found in {objects} object{'s' if objects != 1 else ''}"
    c = counts(items)
    parts = []
    for sev in Severity:
        n = c[sev]
        if n:
            noun = sev.value if sev is Severity.INFO or n == 1 else sev.value + "s"
            parts.append(f"{n} {noun}")
    fixable = sum(1 for i in items if i.finding.fixable)
    tail = f" ({fixable} fixable with --fix)" if fixable else ""
    return f"{', '.join(parts)} in {objects} object{'s' if objects != 1 else ''}{tail}"


def render_text(items: Sequence[Located], *, objects: int) -> str:
    """One line per finding plus an indented fix hint, then a summary line."""
    lines = []
    for item in items:
        f = item.finding
        lines.append(f"{item.where}: {f.rule_id} {f.severity.value} {f.message}")
        hint = " (kprism doctor --fix)" if f.fixable else ""
        lines.append(f"    fix: {f.fix}{hint}")
    lines.append(summary(items, objects=objects))
    return "\n".join(lines) + "\n"


def _finding_json(item: Located) -> dict[str, Any]:
    f = item.finding
    return {
        "rule_id": f.rule_id,
        "slug": f.slug,
        "severity": f.severity.value,
        "object": {
            "kind": f.object_ref.kind,
            "namespace": f.object_ref.namespace,
            "name": f.object_ref.name,
        },
        "container": f.container,
        "message": f.message,
        "fix": f.fix,
        "path": f.path,
        "fixable": f.fixable,
        "file": item.file,
        "line": item.line,
    }


def render_json(
    items: Sequence[Located],
    *,
    objects: int,
    fixed: Sequence[Located] = (),
    warnings: Sequence[str] = (),
) -> str:
    """``{"findings": [...], "fixed": [...], "summary": {...}}`` as indented JSON, with
    ``"warnings"`` (files skipped) when there are any."""
    c = counts(items)
    doc: dict[str, Any] = {
        "findings": [_finding_json(i) for i in items],
        "fixed": [_finding_json(i) for i in fixed],
        "summary": {"objects": objects, **{sev.value: c[sev] for sev in Severity}},
    }
    if warnings:
        doc["warnings"] = list(warnings)
    return json.dumps(doc, indent=2) + "\n"


def _uri(file: str) -> str:
    """A file as a SARIF URI: ``file://`` for an absolute path, else a relative reference;
    percent-encoded either way (a space, ``#`` or ``%`` in a name is not a URI). Findings
    read from stdin are in ``stdin``."""
    if file == STDIN_NAME:
        return "stdin"
    path = PurePath(file)
    return path.as_uri() if path.is_absolute() else urllib.parse.quote(path.as_posix())


def _notifications(warnings: Sequence[str]) -> list[dict[str, Any]]:
    if not warnings:
        return []
    notes = [{"level": "warning", "message": {"text": w}} for w in warnings]
    return [{"executionSuccessful": True, "toolExecutionNotifications": notes}]


def render_sarif(items: Sequence[Located], *, warnings: Sequence[str] = ()) -> str:
    """A SARIF 2.1.0 log with one run; ``runs[0].tool.driver.rules`` lists every rule."""
    rule_index = {r.id: n for n, r in enumerate(RULES)}
    results = []
    for item in items:
        f = item.finding
        result: dict[str, Any] = {
            "ruleId": f.rule_id,
            "ruleIndex": rule_index[f.rule_id],
            "level": _SARIF_LEVEL[f.severity],
            "message": {"text": f"{f.message}. Fix: {f.fix}"},
        }
        location: dict[str, Any] = {
            "logicalLocations": [
                {
                    "name": f.object_ref.name,
                    "fullyQualifiedName": f"{f.object_ref}{f.path}",
                    "kind": "resource",
                }
            ]
        }
        if item.file is not None and (item.file == STDIN_NAME or not item.file.startswith("<")):
            location["physicalLocation"] = {
                "artifactLocation": {"uri": _uri(item.file)},
                "region": {"startLine": item.line or 1},
            }
        result["locations"] = [location]
        results.append(result)
    log = {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "kprism doctor",
                        "version": __version__,
                        "rules": [
                            {
                                "id": r.id,
                                "name": r.slug,
                                "shortDescription": {"text": r.title},
                                "fullDescription": {"text": f"Protects against {r.protects}."},
                                "help": {"text": r.fix},
                                "defaultConfiguration": {"level": _SARIF_LEVEL[r.severity]},
                                "properties": {"fixable": r.fixable},
                            }
                            for r in RULES
                        ],
                    }
                },
                "results": results,
                **({"invocations": _notifications(warnings)} if warnings else {}),
            }
        ],
    }
    return json.dumps(log, indent=2) + "\n"


__all__ = [
    "Located",
    "counts",
    "locate",
    "render_json",
    "render_sarif",
    "render_text",
    "summary",
]
