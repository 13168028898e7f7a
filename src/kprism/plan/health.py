"""Why pods are not ready, and when a release stops waiting for them (pure).

:func:`explain` turns what the adapter observed of a pod (container states, restart
counts, the ``PodScheduled`` and ``Ready`` conditions) into :class:`PodIssue` lines;
:func:`pod_events` picks the recent Warning Events of those pods (``Unhealthy``,
``FailedScheduling``, ``BackOff`` ...) for ``kprism status`` and the dashboard.

Some reasons do not go away by waiting (:data:`STUCK`: the image cannot be pulled, the
container keeps crashing, its config is missing). :func:`guard` wraps a strategy's step
table so that, on the steps that wait for the candidate, a candidate pod stuck like
that for ``spec.fail_fast_after`` seconds fails the release (canary: abort; blue-green
before the switch: nothing was flipped) with the reason in the error, instead of
waiting for the ready timeout. The clock is the release status (``failing_since``: when
a stuck pod was first observed, cleared when none is), so it survives a restart of the
process that drives the release.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from kprism.model.observed import AppObs, ContainerObs, PodObs
from kprism.model.release import ReleaseStatus
from kprism.plan.machine import Act, Fail, Next, Result, StepFn, Wait, iso, parse_iso

#: container waiting reasons that waiting does not cure
STUCK = frozenset(
    {
        "ImagePullBackOff",
        "ErrImagePull",
        "CrashLoopBackOff",
        "CreateContainerConfigError",
        "InvalidImageName",
    }
)
#: waiting reasons of a container that is on its way (not worth a line)
_STARTING = frozenset({"ContainerCreating", "PodInitializing"})
#: Event reasons worth showing for a pod that is not ready
EVENT_REASONS = frozenset(
    {
        "Unhealthy",
        "FailedScheduling",
        "BackOff",
        "Failed",
        "FailedMount",
        "FailedAttachVolume",
        "FailedCreatePodSandBox",
        "InspectFailed",
        "ErrImageNeverPull",
        "Evicted",
        "Preempted",
        "OOMKilling",
    }
)


@dataclass(frozen=True, kw_only=True)
class PodIssue:
    """One reason a pod is not ready: a container's state, or the pod's scheduling."""

    pod: str
    reason: str
    container: str = ""
    message: str = ""
    restarts: int = 0
    exit_code: int | None = None
    #: a reason waiting does not cure (:data:`STUCK`, or a container that crashed and is
    #: not ready again)
    stuck: bool = False

    def describe(self) -> str:
        """``pod web-green-x container web: ImagePullBackOff — Back-off pulling image ...``"""
        where = f"pod {self.pod}" + (f" container {self.container}" if self.container else "")
        extra = []
        if self.exit_code is not None:
            extra.append(f"exit code {self.exit_code}")
        if self.restarts:
            extra.append(f"{self.restarts} restart{'s' if self.restarts != 1 else ''}")
        text = f"{where}: {self.reason}" + (f" ({', '.join(extra)})" if extra else "")
        return text + (f" — {self.message}" if self.message else "")

    def to_dict(self) -> dict[str, Any]:
        return {
            "pod": self.pod,
            "container": self.container,
            "reason": self.reason,
            "message": self.message,
            "restarts": self.restarts,
            "exitCode": self.exit_code,
            "stuck": self.stuck,
        }


def _container_issue(pod: PodObs, c: ContainerObs) -> PodIssue | None:
    base = PodIssue(pod=pod.name, container=c.name, reason="", restarts=c.restarts)
    if c.ready:
        return None
    if c.state == "waiting" and c.reason and c.reason not in _STARTING:
        return replace(
            base,
            reason=c.reason,
            message=c.message,
            exit_code=c.last_exit_code if c.restarts else None,
            stuck=c.reason in STUCK,
        )
    if c.state == "terminated":
        if c.init and c.exit_code == 0:
            return None  # an init container that did its work
        return replace(
            base,
            reason=c.reason or "Terminated",
            message=c.message,
            exit_code=c.exit_code,
            stuck=c.exit_code not in (None, 0),
        )
    if c.restarts and c.last_exit_code not in (None, 0):
        # Running again after a crash, not ready: one turn of a crash loop.
        return replace(
            base,
            reason=c.last_reason or "Error",
            message="restarted after it exited, not ready yet",
            exit_code=c.last_exit_code,
            stuck=True,
        )
    if c.state == "running" and not c.init:
        return replace(base, reason="NotReady", message="running, readiness probe not passing")
    return None


def explain(pod: PodObs) -> tuple[PodIssue, ...]:
    """Why ``pod`` is not ready, most telling first; () for a ready pod."""
    if pod.ready:
        return ()
    if pod.terminating:
        return (PodIssue(pod=pod.name, reason="Terminating"),)
    issues: list[PodIssue] = []
    if pod.unschedulable:
        reason, _, message = pod.unschedulable.partition(": ")
        issues.append(PodIssue(pod=pod.name, reason=reason or "Unschedulable", message=message))
    for c in pod.containers:
        issue = _container_issue(pod, c)
        if issue is not None:
            issues.append(issue)
    if any(i.reason != "NotReady" for i in issues):
        issues = [i for i in issues if i.reason != "NotReady"]
    if not issues:
        reason, _, message = pod.not_ready.partition(": ")
        issues.append(
            PodIssue(
                pod=pod.name,
                reason=reason or (pod.phase or "NotReady"),
                message=message,
            )
        )
    elif issues[0].reason == "NotReady" and pod.not_ready:
        _, _, message = pod.not_ready.partition(": ")
        issues = [replace(i, message=message or i.message) for i in issues]
    issues.sort(key=lambda i: not i.stuck)
    return tuple(issues)


def not_ready(obs: AppObs, track: str | None = None) -> tuple[PodIssue, ...]:
    """Every issue of the app's pods that are not ready (of ``track`` only, if given)."""
    return tuple(
        issue
        for p in sorted(obs.pods, key=lambda p: p.name)
        if (track is None or p.track == track)
        for issue in explain(p)
    )


def stuck(obs: AppObs, track: str) -> tuple[PodIssue, ...]:
    """Stuck issues of the track's pods that are not terminating."""
    return tuple(
        issue
        for p in sorted(obs.pods, key=lambda p: p.name)
        if p.track == track and not p.terminating
        for issue in explain(p)
        if issue.stuck
    )


@dataclass(frozen=True, kw_only=True)
class PodEvent:
    """A recent Warning Event of a pod that is not ready."""

    pod: str
    reason: str
    message: str
    count: int = 1
    last: str = ""

    def describe(self) -> str:
        times = f" (×{self.count})" if self.count > 1 else ""
        return f"pod {self.pod}: {self.reason}{times} — {self.message}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "pod": self.pod,
            "reason": self.reason,
            "message": self.message,
            "count": self.count,
            "last": self.last,
        }


def pod_events(
    events: Iterable[Mapping[str, Any]], pods: Collection[str], *, per_pod: int = 3
) -> tuple[PodEvent, ...]:
    """The newest Warning Events (``Unhealthy``, ``FailedScheduling`` ...; at most
    ``per_pod`` each) of ``pods``, from raw core/v1 Events, newest first."""
    found: list[PodEvent] = []
    for ev in events:
        ref = ev.get("involvedObject") or {}
        if ref.get("kind") != "Pod" or ref.get("name") not in pods:
            continue
        if ev.get("type") != "Warning" and ev.get("reason") not in EVENT_REASONS:
            continue
        last = str(
            ev.get("lastTimestamp")
            or (ev.get("series") or {}).get("lastObservedTime")
            or ev.get("eventTime")
            or (ev.get("metadata") or {}).get("creationTimestamp")
            or ""
        )
        count = int(ev.get("count") or (ev.get("series") or {}).get("count") or 1)
        found.append(
            PodEvent(
                pod=str(ref["name"]),
                reason=str(ev.get("reason") or ""),
                message=str(ev.get("message") or "").strip(),
                count=count,
                last=last,
            )
        )
    found.sort(key=lambda e: e.last, reverse=True)
    kept: list[PodEvent] = []
    seen: dict[str, int] = {}
    for e in found:
        if seen.get(e.pod, 0) < per_pod:
            seen[e.pod] = seen.get(e.pod, 0) + 1
            kept.append(e)
    return tuple(kept)


# -- failing fast -------------------------------------------------------------------------


def failure(st: ReleaseStatus, issues: tuple[PodIssue, ...], failing: float) -> str:
    """The error a release fails with: the first stuck pod, and how many more."""
    more = len({i.pod for i in issues}) - 1
    others = f"; {more} more pod{'s' if more != 1 else ''} stuck" if more > 0 else ""
    return (
        f"candidate {st.candidate_deployment} is stuck: {issues[0].describe()} "
        f"(for {failing:.0f}s, fail-fast after {st.spec.fail_fast_after:g}s){others}"
    )


def _with_since(
    result: Result, st: ReleaseStatus, since: str, note: str = "", left: float | None = None
) -> Result:
    """``result`` with ``failing_since`` recorded (and the stuck pod named in a wait)."""
    match result:
        case Act(actions=actions, status=new):
            return Act(actions, status=(new or st).evolve(failing_since=since))
        case Wait(message=message, requeue_after=after, status=new, event=event):
            return Wait(
                message + note,
                after if left is None else left if after is None else min(after, left),
                status=(new or st).evolve(failing_since=since),
                event=event,
            )
        case Next(step=step, status=new, event=event):
            return Next(step, status=(new or st).evolve(failing_since=since), event=event)
    return result


def check(st: ReleaseStatus, obs: AppObs, now: datetime) -> tuple[str, str, float] | Fail | None:
    """Whether the candidate is stuck: None if not (or fail-fast is off), a :class:`Fail`
    once it has been for ``spec.fail_fast_after`` seconds, else (since, note for the
    wait message, seconds left)."""
    grace = st.spec.fail_fast_after
    if grace <= 0 or st.aborting:
        return None
    issues = stuck(obs, st.candidate)
    if not issues:
        return None
    since = parse_iso(st.failing_since) or now
    failing = max(0.0, (now - since).total_seconds())
    if failing >= grace:
        return Fail(failure(st, issues, failing))
    left = grace - failing
    # the deadline, not a countdown: the message (and so the recorded status) stays the
    # same from one look to the next while nothing changes
    at = iso((since + timedelta(seconds=grace)).replace(microsecond=0))
    note = f"; {issues[0].describe()} (the release fails at {at} if it stays so)"
    return iso(since), note, left


def guard(table: Mapping[str, StepFn], *, checked: Collection[str]) -> dict[str, StepFn]:
    """``table`` with the ``checked`` steps failing the release once a candidate pod has
    been stuck for ``spec.fail_fast_after`` seconds; every step keeps ``failing_since``
    (set while a checked step sees a stuck pod, cleared otherwise)."""

    def guarded(name: str, fn: StepFn) -> StepFn:
        def step(st: ReleaseStatus, obs: AppObs, now: datetime) -> Result:
            found = check(st, obs, now) if name in checked else None
            if isinstance(found, Fail):
                return found
            result = fn(st, obs, now)
            if found is not None:
                since, note, left = found
                return _with_since(result, st, since, note, left)
            if st.failing_since and not isinstance(result, Fail):
                return _with_since(result, st, "")
            return result

        return step

    return {name: guarded(name, fn) for name, fn in table.items()}
