"""Which Events become notifications, and what a notification carries (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from kprism.model.analysis import RunPhase
from kprism.model.release import ReleaseStatus

#: notification events, in the order a release can meet them
EVENTS = (
    "started",
    "step",
    "paused",
    "resumed",
    "analysis-failed",
    "promoted",
    "aborting",
    "aborted",
    "rolled-back",
    "succeeded",
    "failed",
)

_BY_REASON = {
    "ReleaseStarted": "started",
    "RollbackStarted": "rolled-back",
    "StepReached": "step",
    "PreviewReady": "step",
    "TrafficSwitched": "step",
    "Paused": "paused",
    "AnalysisInconclusive": "paused",
    "Resumed": "resumed",
    "Promoted": "promoted",
    "AbortRequested": "aborting",
    "ReleaseAborted": "aborted",
    "ReleaseSucceeded": "succeeded",
}


@dataclass(frozen=True, kw_only=True)
class Notification:
    """One event of one release, as receivers get it."""

    event: str  # one of EVENTS
    reason: str  # the Kubernetes Event's reason
    message: str
    namespace: str
    app: str
    time: str
    release: dict[str, Any] = field(default_factory=dict)
    warning: bool = False
    #: the release's own receivers (its spec's ``notify``), told beside the namespace's
    receivers: tuple[Mapping[str, Any], ...] = ()

    def as_json(self) -> dict[str, Any]:
        return {
            "event": self.event,
            "reason": self.reason,
            "message": self.message,
            "namespace": self.namespace,
            "app": self.app,
            "time": self.time,
            "warning": self.warning,
            **({"release": self.release} if self.release else {}),
        }


def _event(reason: str, status: ReleaseStatus | None) -> str | None:
    if reason == "ReleaseFailed":
        if status is not None and not status.phase.terminal:
            # leaving the forward path: an analysis that failed, or another error
            failed = any(r.phase in (RunPhase.FAILED, RunPhase.ERROR) for r in status.analysis)
            return "analysis-failed" if failed else None
        return "failed"
    return _BY_REASON.get(reason)


def release_fields(status: ReleaseStatus) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": status.id,
        "kind": str(status.kind),
        "strategy": str(status.spec.strategy),
        "phase": str(status.phase),
        "step": status.step,
        "stable": status.stable,
        "candidate": status.candidate,
        "images": dict(status.candidate_images),
    }
    if status.spec.canary is not None:
        out["weight"] = status.requested_weight
    return out


def notification_for(
    *,
    namespace: str,
    app: str,
    reason: str,
    message: str,
    warning: bool = False,
    status: ReleaseStatus | None = None,
    now: datetime | None = None,
) -> Notification | None:
    """The notification an Event makes, or None when it is not one people are told of."""
    event = _event(reason, status)
    if event is None:
        return None
    return Notification(
        event=event,
        reason=reason,
        message=message,
        namespace=namespace,
        app=app,
        time=(now or datetime.now(UTC)).isoformat(timespec="seconds"),
        release=release_fields(status) if status is not None else {},
        warning=warning,
        receivers=tuple(status.spec.notify) if status is not None else (),
    )
