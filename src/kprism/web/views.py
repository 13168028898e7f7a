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
from kprism.ops.rollbacks import can_roll_back_to

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


def detail(
    status: dict[str, Any],
    jobs: list[dict[str, Any]],
    history: list[dict[str, Any]] | None = None,
    plot: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Everything the app page shows on one update (the history table is fetched
    separately; ``history`` here gives the tracks' ages and the rollback targets)."""
    release = status.get("release")
    serving = sorted(t["track"] for t in status.get("tracks", []) if t.get("serving"))
    history = history or []
    return {
        "status": status,
        "serving": serving,
        "inFlight": in_flight(release),
        "canary": canary_rows(release),
        "weights": weights(release),
        "analysis": analysis(release),
        "jobs": jobs,
        "traffic": traffic(status),
        "ages": track_ages(status, history),
        "timeline": timeline_rows(release),
        "plot": plot or [],
        "preview": preview(status),
        "controls": controls(status, history),
        "rollbackTargets": rollback_targets(history, serving),
    }


# -- traffic, ages, timeline, controls (issue 14 items 5 and 6) ---------------------------


def _segment(track: str, weight: float, note: str = "") -> dict[str, Any]:
    w = round(max(0.0, min(100.0, weight)), 1)
    return {"track": track, "weight": w, "label": f"{track} {w:g}%{note}"}


def traffic(status: dict[str, Any]) -> list[dict[str, Any]]:
    """Who gets the app's traffic now, as bar segments (track, share, a text label):
    a canary's achieved weight, a pinned track's 100 %, or — when the Service selects
    every track (a split by pods) — each track's share of the ready endpoints."""
    release = status.get("release") or {}
    w = weights(release) if in_flight(release) else None
    if w is not None:
        return [
            _segment(str(w["candidate"]), w["now"]),
            _segment(str(w["stable"]), 100.0 - w["now"]),
        ]
    tracks = [t for t in status.get("tracks", []) if t.get("track")]
    pinned = [t for t in tracks if t.get("serving")]
    if len(pinned) == 1:
        return [_segment(str(pinned[0]["track"]), 100.0)]
    live = [t for t in pinned if t.get("endpoints")]
    total = sum(int(t["endpoints"]) for t in live)
    if not total:
        return []
    return [
        _segment(str(t["track"]), 100.0 * int(t["endpoints"]) / total, " (by pods)") for t in live
    ]


def list_traffic(app: dict[str, Any]) -> list[dict[str, Any]]:
    """The traffic bar of an app in the list (from its summary: no extra request)."""
    if app.get("in_flight") and app.get("candidate"):
        share = float(app.get("weight", 0.0))
        return [
            _segment(str(app["candidate"]), share),
            _segment(str(app.get("stable", "")), 100.0 - share),
        ]
    if app.get("serving"):
        return [_segment(str(app["serving"]), 100.0)]
    return []


def track_ages(status: dict[str, Any], history: list[dict[str, Any]]) -> dict[str, str]:
    """Since when each track runs what it runs: the start of the last release or rollback
    into it (the newest first in ``history``), as ISO time."""
    out: dict[str, str] = {}
    release = status.get("release")
    entries = ([release] if release else []) + list(history)
    for e in entries:
        if e.get("kind") not in ("release", "rollback") or not e.get("candidate"):
            continue
        track = str(e["candidate"])
        if track not in out and e.get("phase") != "Aborted" and e.get("phase") != "Failed":
            out[track] = str(e.get("started_at", ""))
    return out


def timeline_rows(release: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The release's timeline, oldest first, with its start as the first row."""
    if not release:
        return []
    rows: list[dict[str, Any]] = [
        {
            "at": release.get("started_at", ""),
            "kind": "start",
            "what": str(release.get("kind", "release")),
            "text": f"{release.get('stable')} → {release.get('candidate')}",
            "by": release.get("started_by") or release.get("by", ""),  # status or history
            "reason": "",
            "outcome": "",
        }
    ]
    for m in release.get("timeline") or []:
        if m.get("kind") == "weight":
            continue  # the plot shows them
        rows.append(
            {
                "at": m.get("at", ""),
                "kind": m.get("kind", ""),
                "what": m.get("what", ""),
                "text": m.get("text", ""),
                "by": m.get("by", ""),
                "reason": m.get("reason", ""),
                "outcome": m.get("outcome", ""),
            }
        )
    return rows


def preview(status: dict[str, Any]) -> dict[str, Any] | None:
    """The preview Service of a blue-green release in flight, and how to reach it."""
    release = status.get("release") or {}
    spec = release.get("spec") or {}
    if not in_flight(release) or spec.get("strategy") != "bluegreen" or not spec.get("preview"):
        return None
    name = f"{status.get('app')}-preview"
    return {
        "service": name,
        "track": release.get("candidate"),
        "reach": f"kubectl -n {status.get('namespace')} port-forward service/{name} 8080:PORT",
    }


def controls(status: dict[str, Any], history: list[dict[str, Any]]) -> dict[str, str]:
    """Why each release button would do nothing now ("" where it would act)."""
    release = status.get("release") or {}
    live = in_flight(release)
    aborting = bool(release.get("aborting"))
    canary = (release.get("spec") or {}).get("strategy") == "canary"
    none = "no release in progress"
    # a manual promotion gate (a timed pause has pause_until; an operator's pause, paused)
    at_gate = (
        live
        and release.get("phase") == "Paused"
        and not release.get("paused")
        and not release.get("pause_until")
    )
    driven = bool(status.get("lease"))
    out = {
        "promote": ""
        if live and not aborting
        else none
        if not live
        else "the release is being aborted",
        "promote-full": "",
        "pause": "",
        "resume": "",
        "abort": "" if live and not aborting else none if not live else "already aborting",
        "rollback": "",
    }
    if not live:
        out["promote-full"] = none
    elif not canary:
        out["promote-full"] = "a blue-green release has no steps to skip: Promote switches"
    elif aborting:
        out["promote-full"] = "the release is being aborted"
    if not live:
        out["pause"] = none
    elif aborting:
        out["pause"] = "the release is being aborted"
    elif release.get("paused"):
        out["pause"] = "already paused"
    if not live:
        out["resume"] = none
    elif at_gate:
        out["resume"] = "waiting at a promotion gate: Resume does nothing here, Promote goes on"
    elif not release.get("paused") and driven:  # undriven: Resume takes it over
        out["resume"] = "the release is running: nothing to resume"
    if not live:
        tracks = [t for t in status.get("tracks", []) if t.get("track")]
        serving = [t["track"] for t in tracks if t.get("serving")]
        back = any(
            e.get("kind") in ("release", "rollback")
            and e.get("phase") == "Succeeded"
            and e.get("candidate") in serving
            for e in history
        )
        if len(serving) != 1:
            out["rollback"] = "the Service pins no single track: nothing to roll back"
        elif not back and len(tracks) != 2:
            out["rollback"] = f"nothing to return to: no earlier release into {serving[0]}" + (
                " and no other track" if len(tracks) < 2 else ""
            )
    return out


def rollback_targets(history: list[dict[str, Any]], serving: list[str]) -> list[dict[str, Any]]:
    """Earlier releases a rollback can go back to (succeeded, with images), newest first;
    the one serving now is left out."""
    out = []
    current = True
    for e in history:
        if not can_roll_back_to(e):
            continue
        if current and e.get("candidate") in serving:
            current = False  # the newest succeeded release is what serves now
            continue
        current = False
        images = ", ".join(f"{k}={v}" if k else v for k, v in e["candidate_images"].items())
        out.append(
            {
                "id": e.get("id"),
                "label": f"{e.get('id')} · {images} · {e.get('started_at', '')[:16]}",
            }
        )
    return out


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
