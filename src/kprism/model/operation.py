"""Direct track operations outside a release — split, scale, clone — as recorded operations.

A split can take as long as a release (new pods must become ready, EndpointSlices must
list exactly the planned pods), so it is recorded like one: the ``kprism.dev/operation``
annotation of the app's Service holds the split in flight with the *restore point* (each
track's replicas and ready pods, what the Service selected, the router's weights) taken
before it changed anything. ``kprism abort`` (from any machine) asks the process driving
it to stop and put that state back, or puts it back itself when no process holds the
app's Lease; a split that fails (a track never ready, the deadline) restores it too.

Every operation, when it ends, is appended to the app's history (``kprism.dev/history``,
shared with releases) with its kind, who ran it, and what it changed (``from``/``to`` in
words: ``blue 100%`` → ``blue 80%, red 20%``; ``green 3`` → ``green 5``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from kprism.model.release import Phase
from kprism.model.routing import DEFAULT_ROUTER

ANNOTATION_OPERATION = "kprism.dev/operation"


class OpKind(StrEnum):
    SPLIT = "split"
    SCALE = "scale"
    CLONE = "clone"


@dataclass(frozen=True, kw_only=True)
class RestorePoint:
    """The app's traffic as it was before a split changed it."""

    replicas: Mapping[str, int]  # track → spec.replicas
    ready: Mapping[str, int]  # track → ready pods (a restore waits for no more than these)
    selected: str | None  # the track the Service pinned; None: it selected every track
    routes: Mapping[str, int] | None = None  # the exact-weight router's weights, if one was used

    def describe(self) -> str:
        """``blue 100%`` / ``blue 4, red 1 pods (all selected)`` for history and messages."""
        if self.routes:
            return ", ".join(f"{t} {w}%" for t, w in sorted(self.routes.items()) if w)
        if self.selected is not None:
            return f"{self.selected} 100%"
        live = {t: n for t, n in sorted(self.replicas.items()) if n}
        return ", ".join(f"{t} {n}" for t, n in live.items()) + " pods (all selected)"


@dataclass(frozen=True, kw_only=True)
class Operation:
    id: str
    kind: OpKind
    phase: Phase
    by: str  # user@host (CLI) or the dashboard's identity
    started_at: str
    finished_at: str = ""
    message: str = ""
    reason: str = ""  # why it was aborted (from `abort --reason`)
    # split
    weights: Mapping[str, int] = field(default_factory=dict)
    router: str = DEFAULT_ROUTER
    router_options: Mapping[str, str] = field(default_factory=dict)
    total: int = 0  # pods of capacity the split is planned over
    before: RestorePoint | None = None
    abort_requested: str = ""  # who asked to abort: the process driving it restores
    restoring: bool = False  # the restore is under way (a crash resumes it)
    # scale / clone: what changed, in words
    before_text: str = ""
    after_text: str = ""

    @property
    def in_flight(self) -> bool:
        return not self.phase.terminal

    def from_text(self) -> str:
        return self.before.describe() if self.before is not None else self.before_text

    def to_text(self) -> str:
        if self.kind == OpKind.SPLIT:
            return ", ".join(f"{t} {w}%" for t, w in self.weights.items())
        return self.after_text


def restore_to_json(rp: RestorePoint) -> dict[str, Any]:
    return {
        "replicas": dict(rp.replicas),
        "ready": dict(rp.ready),
        "selected": rp.selected,
        "routes": dict(rp.routes) if rp.routes is not None else None,
    }


def restore_from_json(data: Mapping[str, Any]) -> RestorePoint:
    routes = data.get("routes")
    return RestorePoint(
        replicas={str(k): int(v) for k, v in data["replicas"].items()},
        ready={str(k): int(v) for k, v in data.get("ready", {}).items()},
        selected=data.get("selected"),
        routes={str(k): int(v) for k, v in routes.items()} if routes is not None else None,
    )


def operation_to_json(op: Operation) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": op.id,
        "kind": op.kind.value,
        "phase": op.phase.value,
        "by": op.by,
        "startedAt": op.started_at,
        "finishedAt": op.finished_at,
        "message": op.message,
        "reason": op.reason,
        "weights": dict(op.weights),
        "router": op.router,
        "routerOptions": dict(op.router_options),
        "total": op.total,
        "abortRequested": op.abort_requested,
        "restoring": op.restoring,
        "beforeText": op.before_text,
        "afterText": op.after_text,
    }
    if op.before is not None:
        out["before"] = restore_to_json(op.before)
    return out


def operation_from_json(data: Mapping[str, Any]) -> Operation:
    before = data.get("before")
    return Operation(
        id=str(data["id"]),
        kind=OpKind(data["kind"]),
        phase=Phase(data["phase"]),
        by=str(data.get("by", "")),
        started_at=str(data.get("startedAt", "")),
        finished_at=str(data.get("finishedAt", "")),
        message=str(data.get("message", "")),
        reason=str(data.get("reason", "")),
        weights={str(k): int(v) for k, v in data.get("weights", {}).items()},
        router=str(data.get("router", DEFAULT_ROUTER)),
        router_options={str(k): str(v) for k, v in data.get("routerOptions", {}).items()},
        total=int(data.get("total", 0)),
        before=restore_from_json(before) if isinstance(before, Mapping) else None,
        abort_requested=str(data.get("abortRequested", "")),
        restoring=bool(data.get("restoring", False)),
        before_text=str(data.get("beforeText", "")),
        after_text=str(data.get("afterText", "")),
    )


def operation_history_entry(op: Operation) -> dict[str, Any]:
    """The history entry of a finished operation, in the shape release entries have
    (``stable``/``candidate`` are the FROM/TO columns of ``kprism history``)."""
    entry: dict[str, Any] = {
        "id": op.id,
        "kind": op.kind.value,
        "strategy": "",
        "phase": op.phase.value,
        "stable": op.from_text(),
        "candidate": op.to_text(),
        "serving": "",
        "started_at": op.started_at,
        "finished_at": op.finished_at,
        "message": op.message,
        "last_error": "",
        "by": op.by,
    }
    if op.reason:
        entry["reason"] = op.reason
    return entry
