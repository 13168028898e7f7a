"""What the page shows, computed from the JSON :mod:`kprism.ops` returns (pure).

The page does no release logic of its own: it renders these dictionaries. Keeping the
derivations here (not in JavaScript) makes them unit-testable and keeps the page dumb.
"""

from __future__ import annotations

import math
import re
from typing import Any

from kprism.model.routing import DEFAULT_ROUTER
from kprism.model.steps import (
    Analysis,
    Pause,
    SetCandidateScale,
    SetWeight,
    Step,
    canary_spec_from_data,
    format_duration,
)

TERMINAL = ("Succeeded", "Failed", "Aborted")


def step_text(step: Step) -> str:
    """One canary step as the step list shows it."""
    match step:
        case SetWeight():
            return f"setWeight {step.weight}%"
        case Pause():
            if step.duration is None:
                return "pause until promote"
            return f"pause {format_duration(step.duration)}"
        case SetCandidateScale():
            return f"setCandidateScale {step.scale.replicas}"
        case Analysis():
            names = ", ".join(t.template_name for t in step.analysis.templates)
            return f"analysis {names}"


def canary_rows(release: dict[str, Any] | None) -> list[dict[str, Any]] | None:
    """The canary step list of a release with the state of each step, or None for a
    blue-green release. The setWeight step in effect carries the requested and achieved
    weights the engine recorded (``achieved`` is what the ready pods or routes give)."""
    if not release:
        return None
    spec = release.get("spec") or {}
    canary = spec.get("canary")
    if spec.get("strategy") != "canary" or not canary:
        return None
    steps = canary_spec_from_data(canary, source="the release's canary spec").steps
    index = int(release.get("step_index", 0))
    phase = str(release.get("phase", ""))
    done_all = phase == "Succeeded"
    stopped = phase in ("Failed", "Aborted") or bool(release.get("aborting"))
    in_effect = max(
        (i for i, s in enumerate(steps) if isinstance(s, SetWeight) and i <= index), default=None
    )
    rows = []
    for i, step in enumerate(steps):
        weight = step.weight if isinstance(step, SetWeight) else None
        if done_all or i < index:
            state = "done"
        elif i == index:
            state = "stopped" if stopped else "current"
        else:
            state = "pending"
        row: dict[str, Any] = {
            "index": i,
            "number": i + 1,
            "kind": step.kind,
            "what": step_text(step),
            "weight": weight,
            "state": state,
            "requested": weight,
            "achieved": None,
        }
        if i == in_effect and not done_all:
            row["achieved"] = release.get("achieved_weight")
        rows.append(row)
    return rows


def weights(release: dict[str, Any] | None) -> dict[str, Any] | None:
    """The canary's traffic share for the candidate track: what the last step requested
    and achieved (as recorded), and what it has ``now`` (0 after an abort)."""
    if not release or (release.get("spec") or {}).get("strategy") != "canary":
        return None
    phase = release.get("phase")
    achieved = float(release.get("achieved_weight", 0.0))
    # the share the candidate has now: all once promoted, none once aborted or failed
    now = 100.0 if phase == "Succeeded" else 0.0 if phase in ("Aborted", "Failed") else achieved
    return {
        "candidate": release.get("candidate"),
        "stable": release.get("stable"),
        "requested": float(release.get("requested_weight", 0.0)),
        "achieved": achieved,
        "now": now,
        "final": phase in TERMINAL,
        "router": (release.get("spec") or {}).get("router", DEFAULT_ROUTER),
    }


def in_flight(release: dict[str, Any] | None) -> bool:
    return bool(release) and str((release or {}).get("phase")) not in TERMINAL


def detail(status: dict[str, Any], jobs: list[dict[str, Any]]) -> dict[str, Any]:
    """Everything the app page shows on one poll (history is fetched separately)."""
    release = status.get("release")
    serving = sorted(t["track"] for t in status.get("tracks", []) if t.get("serving"))
    return {
        "status": status,
        "serving": serving,
        "inFlight": in_flight(release),
        "canary": canary_rows(release),
        "weights": weights(release),
        "analysis": analysis(release),
        "jobs": jobs,
    }


_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
_DONE = ("Successful", "Failed", "Error", "Inconclusive", "Terminated")


def _number(text: Any) -> float | None:
    """The first number a measurement's value shows (``0.02``, ``[0.02]``), else None."""
    found = _NUMBER.search(str(text or ""))
    if found is None:
        return None
    value = float(found.group())
    return value if math.isfinite(value) else None


def _condition(spec: dict[str, Any]) -> str:
    parts = []
    if spec.get("successCondition"):
        parts.append(f"pass: {spec['successCondition']}")
    if spec.get("failureCondition"):
        parts.append(f"fail: {spec['failureCondition']}")
    if spec.get("dryRun"):
        parts.append("dry run")
    return "; ".join(parts) or "-"


def analysis(release: dict[str, Any] | None) -> list[dict[str, Any]] | None:
    """Each analysis run, each metric: its measurements so far (phase, value, a number to
    plot where the value shows one) against its condition, and why a run ended."""
    runs = (release or {}).get("analysis") or []
    if not runs:
        return None
    out = []
    for run in runs:
        specs = {m.get("name"): m for m in run.get("metrics") or []}
        metrics = []
        for r in run.get("results") or []:
            spec = specs.get(r.get("name"), {})
            points = [
                {
                    "phase": m.get("phase", ""),
                    "text": m.get("value", ""),
                    "value": _number(m.get("value")),
                    "message": m.get("message", ""),
                }
                for m in r.get("measurements") or []
            ]
            metrics.append(
                {
                    "name": r.get("name", ""),
                    "phase": r.get("phase", ""),
                    "condition": _condition(spec),
                    "count": r.get("count", 0),
                    "limit": spec.get("count"),
                    "pending": r.get("pending") is not None,
                    "points": points,
                    "message": r.get("message", ""),
                }
            )
        phase = run.get("phase", "")
        out.append(
            {
                "name": run.get("name", ""),
                "phase": phase,
                "verdict": run.get("message", "") if phase in _DONE else "",
                "metrics": metrics,
            }
        )
    return out
