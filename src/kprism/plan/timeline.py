"""A release's timeline and the app's audit trail (pure).

:func:`note` runs after every decision of the step machine (:func:`kprism.plan.machine.drive`)
and appends to ``ReleaseStatus.timeline`` what changed: the step reached, each Event
the engine emits, a wait that begins (a timed pause until when, a pause for the operator), the operator's intent with who sent it, its reason and its outcome
(applied, refused with why, or ignored), and the candidate's traffic share when it moved.
Nothing is appended while nothing happens, so a release that waits writes nothing.
Finished releases keep their newest marks in the history entry (``kprism.dev/history``).

:func:`audit` flattens the history into one row per operation — releases, rollbacks,
splits, scales, clones, and every promote/abort/pause/resume found in their timelines —
with actor, source (cli/web/controller), reason, time and outcome; :func:`select` filters
them. :func:`weights` is the candidate's traffic share over time, for the plot.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kprism.model.actions import EmitEvent, KubeAction
from kprism.model.release import (
    TIMELINE_LIMIT,
    Action,
    Intent,
    Mark,
    Phase,
    ReleaseStatus,
    Strategy,
    mark_from_json,
)

#: the Event each intent produces when the engine takes it
_TAKEN = {
    Action.ABORT: "AbortRequested",
    Action.PROMOTE: "Promoted",
    Action.PROMOTE_FULL: "Promoted",
    Action.PAUSE: "Paused",
    Action.RESUME: "Resumed",
}
_REFUSED = ("PromoteRefused", "ResumeRefused")
#: the longest text a mark keeps (the history annotation is bounded)
TEXT_LIMIT = 200


def _iso(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


def _short(text: str) -> str:
    return text if len(text) <= TEXT_LIMIT else text[: TEXT_LIMIT - 1] + "…"


def intent_outcome(
    intent: Intent, before: ReleaseStatus, events: Sequence[EmitEvent]
) -> tuple[str, str]:
    """(outcome, why) of ``intent`` given the Events its decision emitted."""
    for ev in events:
        if ev.reason in _REFUSED:
            return "refused", ev.message
    if any(ev.reason == _TAKEN[intent.action] for ev in events):
        return "applied", ""
    if intent.release != before.id:
        return "ignored", f"it was sent to release {intent.release}"
    if before.aborting:
        return "ignored", "the release is already being aborted"
    return "ignored", f"nothing to {intent.action.value} at step {before.step}"


def note(
    before: ReleaseStatus,
    after: ReleaseStatus,
    actions: Iterable[KubeAction],
    intent: Intent | None,
    now: datetime,
) -> ReleaseStatus:
    """``after`` with what happened since ``before`` appended to its timeline."""
    if before.phase.terminal:  # nothing moves a finished release; its history is written
        return after
    at = _iso(now)
    events = [a for a in actions if isinstance(a, EmitEvent)]
    marks: list[Mark] = []
    if intent is not None:
        outcome, why = intent_outcome(intent, before, events)
        marks.append(
            Mark(
                at=at,
                kind="intent",
                what=intent.action.value,
                text=_short(why),
                by=intent.by,
                reason=_short(intent.reason),
                outcome=outcome,
            )
        )
    if after.step != before.step:
        marks.append(Mark(at=at, kind="step", what=after.step, text=_short(after.message)))
    marks.extend(
        Mark(at=at, kind="event", what=ev.reason, text=_short(ev.message)) for ev in events
    )
    if after.pause_until and after.pause_until != before.pause_until:
        marks.append(
            Mark(at=at, kind="wait", what="timed pause", text=f"until {after.pause_until}")
        )
    if after.phase == Phase.PAUSED and before.phase != Phase.PAUSED:
        marks.append(Mark(at=at, kind="wait", what="paused", text=_short(after.message)))
    if (after.requested_weight, after.achieved_weight) != (
        before.requested_weight,
        before.achieved_weight,
    ):
        marks.append(
            Mark(
                at=at,
                kind="weight",
                what="weight",
                weight=after.achieved_weight,
                requested=after.requested_weight,
            )
        )
    if not marks:
        return after
    return after.evolve(timeline=(*after.timeline, *marks)[-TIMELINE_LIMIT:])


# -- the weight plot ---------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Point:
    at: str
    weight: float  # the candidate's share, 0..100


_SWITCHED = ("TrafficSwitched",)
_BACK = ("ReleaseAborted", "ReleaseFailed", "AbortRequested")


def weights(
    strategy: str,
    marks: Sequence[Mapping[str, Any]] | Sequence[Mark],
    *,
    started_at: str,
    finished_at: str = "",
    phase: str = "",
) -> list[Point]:
    """The candidate's traffic share over a release: the canary's achieved weights as
    recorded, blue-green's 0 → 100 at the switch (back to 0 when it was undone)."""
    ms = [m if isinstance(m, Mark) else mark_from_json(m) for m in marks]
    points = [Point(at=started_at, weight=0.0)] if started_at else []
    last = 0.0
    for m in ms:
        value: float | None = None
        if strategy == Strategy.CANARY.value and m.kind == "weight" and m.weight is not None:
            value = m.weight
        elif strategy != Strategy.CANARY.value and m.kind == "event":
            if m.what in _SWITCHED:
                value = 100.0
            elif m.what in _BACK and last:
                value = 0.0
        if value is not None and value != last:
            points.append(Point(at=m.at, weight=value))
            last = value
    end = {"Succeeded": 100.0, "Aborted": 0.0, "Failed": 0.0}.get(phase)
    if finished_at and end is not None:
        points.append(Point(at=finished_at, weight=end))
    return points


# -- the audit trail ---------------------------------------------------------------------

_SOURCE = re.compile(r"\((\w+) on [^()]*\)\s*$")


def source_of(by: str) -> str:
    """The shell an actor string names (``alice (web on host)`` → ``web``), else ""."""
    found = _SOURCE.search(by or "")
    return found.group(1) if found else ""


@dataclass(frozen=True, kw_only=True)
class AuditRow:
    at: str
    kind: str  # release, rollback, split, scale, clone, promote, promote-full, abort, pause, resume
    release: str  # the release or operation id
    by: str
    source: str
    reason: str
    outcome: str  # a release's phase; an intent's applied/refused/ignored
    text: str

    def to_dict(self) -> dict[str, str]:
        return {
            "at": self.at,
            "kind": self.kind,
            "release": self.release,
            "by": self.by,
            "source": self.source,
            "reason": self.reason,
            "outcome": self.outcome,
            "text": self.text,
        }


def audit(history: Sequence[Mapping[str, Any]]) -> list[AuditRow]:
    """Every operation in ``history`` (entries in any order), newest first."""
    rows: list[AuditRow] = []
    for e in history:
        by = str(e.get("by", ""))
        source = source_of(by) or ("controller" if e.get("source") else "")
        rows.append(
            AuditRow(
                at=str(e.get("started_at", "")),
                kind=str(e.get("kind", "release")),
                release=str(e.get("id", "")),
                by=by,
                source=source,
                reason=str(e.get("reason", "")),
                outcome=str(e.get("phase", "")),
                text=f"{e.get('stable', '')} → {e.get('candidate', '')}",
            )
        )
        for m in e.get("timeline") or []:
            if not isinstance(m, Mapping) or m.get("kind") != "intent":
                continue
            mark = mark_from_json(m)
            rows.append(
                AuditRow(
                    at=mark.at,
                    kind=mark.what,
                    release=str(e.get("id", "")),
                    by=mark.by,
                    source=source_of(mark.by),
                    reason=mark.reason,
                    outcome=mark.outcome,
                    text=mark.text,
                )
            )
    rows.sort(key=lambda r: r.at, reverse=True)
    return rows


def select(
    rows: Iterable[AuditRow],
    *,
    actor: str | None = None,
    kind: str | None = None,
    outcome: str | None = None,
) -> list[AuditRow]:
    """The rows whose actor contains ``actor``, whose kind is one of ``kind``
    (comma-separated) and whose outcome starts with ``outcome`` (all case-insensitive)."""
    kinds = {k.strip().lower() for k in (kind or "").split(",") if k.strip()}
    out = []
    for r in rows:
        if actor and actor.lower() not in r.by.lower():
            continue
        if kinds and r.kind.lower() not in kinds:
            continue
        if outcome and not r.outcome.lower().startswith(outcome.lower()):
            continue
        out.append(r)
    return out
