"""Rolling back to any earlier release in the history, and what a release or a rollback
would change (the dashboard's confirmation dialogs).

The history keeps each release's images per container (not its whole pod template). A
rollback to release REV therefore goes back onto REV's track when that Deployment still
runs REV's images (the plain rollback: scaled up, switched, verified), and otherwise
releases REV's images blue-green onto the serving pod template — recorded as a rollback,
promoted automatically; any other change made since REV (env, patches) stays, and the
preview says so.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from kprism.errors import UsageError
from kprism.kube.api import KubeApi, Lock
from kprism.kube.state import read_history, read_release
from kprism.model.observed import AppObs, DeploymentObs
from kprism.model.release import Change, Kind, Phase, ReleaseSpec, ReleaseStatus
from kprism.ops.apps import App, observe
from kprism.ops.releases import new_release_id, start_release
from kprism.ops.running import (
    TickHandler,
    actor,
    check_outcome,
    check_still,
    drive,
    record_release,
    stop_at_wait_points,
    utcnow,
)
from kprism.plan.diff import template_diff
from kprism.plan.preflight import fmt_labels
from kprism.plan.start import basis_of, rollback_status, rollback_target
from kprism.plan.template import apply_change

_BACK_TO = (Kind.RELEASE.value, Kind.ROLLBACK.value)


def can_roll_back_to(entry: Mapping[str, Any]) -> bool:
    """Whether a rollback can go back to this history entry: a release (or rollback)
    that succeeded and recorded its images."""
    return (
        entry.get("kind") in _BACK_TO
        and entry.get("phase") == Phase.SUCCEEDED.value
        and bool(entry.get("candidate_images"))
    )


def _entry(history: list[dict[str, Any]], revision: str, *, app: str) -> dict[str, Any]:
    found = next((e for e in history if e.get("id") == revision), None)
    if found is None:
        known = [str(e.get("id")) for e in reversed(history) if e.get("kind") in _BACK_TO][:5]
        listed = f": the last are {', '.join(known)}" if known else ""
        raise UsageError(
            f"release {revision!r} is not in app {app}'s history{listed} (`kprism history {app}`)"
        )
    if can_roll_back_to(found):
        return found
    if found.get("kind") not in _BACK_TO or not found.get("candidate_images"):
        raise UsageError(
            f"{found.get('kind')} {revision} changed no version: roll back to a release"
        )
    if found.get("phase") != Phase.SUCCEEDED.value:
        raise UsageError(
            f"release {revision} {str(found.get('phase', '')).lower()}: it never served; "
            "roll back to a release that succeeded"
        )
    return found


@dataclasses.dataclass(frozen=True, kw_only=True)
class RollbackTarget:
    current: DeploymentObs
    previous: DeploymentObs | None  # the track to go back onto; None: release the images
    images: Mapping[str, str]
    revision: str
    note: str  # what a rollback to it restores, in words


def rollback_target_of(obs: AppObs, revision: str | None, *, app: str) -> RollbackTarget:
    """Where a rollback (to ``revision``, default the previous track) goes."""
    history = read_history(obs.service)
    if revision is None:
        current, previous = rollback_target(obs, history, app=app)
        return RollbackTarget(
            current=current,
            previous=previous,
            images=previous.images(),
            revision="",
            note=f"back to track {previous.track} as it is",
        )
    entry = _entry(history, revision, app=app)
    serving = obs.serving_track()
    pinned = obs.track(serving) if serving else None
    if pinned is None:
        raise UsageError(f"nothing to roll back: Service {app} does not pin a track")
    current = pinned
    images = {str(k): str(v) for k, v in entry["candidate_images"].items()}
    if current.images() == images:
        raise UsageError(
            f"app {app} already runs release {revision}'s images ({fmt_labels(images)}) on "
            f"track {serving}: nothing to roll back"
        )
    kept = obs.track(str(entry.get("candidate", "")))
    if kept is not None and kept.track != serving and kept.images() == images:
        return RollbackTarget(
            current=current,
            previous=kept,
            images=images,
            revision=revision,
            note=f"back to track {kept.track}, which still runs release {revision}'s images",
        )
    return RollbackTarget(
        current=current,
        previous=None,
        images=images,
        revision=revision,
        note=(
            f"release {revision}'s images onto the serving pod template (the history keeps "
            "each release's images, not its whole pod template: other changes made since stay)"
        ),
    )


def preview_rollback(kube: KubeApi, app: App, *, to: str | None = None) -> dict[str, Any]:
    """What a rollback (to release ``to``) would change: tracks, images, pod-template
    fields. Changes nothing; refuses what the rollback would refuse."""
    obs = observe(kube, app)
    st = read_release(obs.service)
    if st is not None and not st.phase.terminal:
        return {
            "from": st.candidate,
            "to": st.stable,
            "note": f"release {st.id} is in progress: rollback aborts it, traffic stays on "
            f"(or returns to) {st.stable}, {st.candidate_deployment} is scaled to 0",
            "diff": [],
        }
    t = rollback_target_of(obs, to, app=app.name)
    after = (
        t.previous.template
        if t.previous is not None
        else apply_change(t.current.template, Change(images=t.images))
    )
    return {
        "from": t.current.track,
        "to": t.previous.track if t.previous is not None else "a new track",
        "note": t.note,
        "diff": [
            c.to_dict()
            for c in template_diff(t.current.template, after, track_label=app.track_label)
        ],
    }


def preview_release(kube: KubeApi, app: App, spec: ReleaseSpec) -> dict[str, Any]:
    """What a release of ``spec`` would change in the serving pod template."""
    obs = observe(kube, app)
    serving = obs.serving_track()
    stable = obs.track(serving) if serving else None
    if stable is None:
        stable = next((d for d in obs.deployments if d.track), None)
    if stable is None:
        raise UsageError(f"app {app.name} has no track to release from")
    after = apply_change(stable.template, spec.change)
    return {
        "from": stable.track,
        "diff": [
            c.to_dict() for c in template_diff(stable.template, after, track_label=app.track_label)
        ],
    }


def start_rollback(
    kube: KubeApi, app: App, obs: AppObs, *, to: str | None, scale_down_delay: float
) -> Lock:
    """Record a rollback of a finished release — to release ``to`` of the history, or to
    the previous track — and return the app's Lease, held, for :func:`drive`."""
    t = rollback_target_of(obs, to, app=app.name)
    if t.previous is None:
        spec = ReleaseSpec(
            change=Change(images=t.images), auto_promote=True, scale_down_delay=scale_down_delay
        )
        return start_release(kube, app, spec, kind=Kind.ROLLBACK)[1]
    basis = basis_of(obs, read_release(obs.service))
    now = utcnow()
    status = rollback_status(
        release_id=new_release_id(now),
        current=t.current,
        previous=t.previous,
        scale_down_delay=scale_down_delay,
        now=now,
    )
    status = dataclasses.replace(status, started_by=actor(kube))
    to_text = f" to release {to}" if to else ""
    return record_release(
        kube,
        app,
        status,
        check=lambda fresh: check_still(basis, fresh, app=app, what="rollback"),
        reason="RollbackStarted",
        message=lambda by: (
            f"rollback {status.id}{to_text}: {status.stable} → {status.candidate} by {by}"
        ),
    )


def rollback_to(
    kube: KubeApi,
    app: App,
    revision: str,
    *,
    on_tick: TickHandler | None = None,
    scale_down_delay: float = 30.0,
    timeout: float | None = None,
    wait: bool = True,
) -> ReleaseStatus:
    """Roll back to release ``revision`` of the history (see the module's docstring)."""
    obs = observe(kube, app)
    st = read_release(obs.service)
    if st is not None and not st.phase.terminal:
        raise UsageError(
            f"release {st.id} is in progress: `kprism rollback {app.name}` (without --to) aborts "
            f"it; roll back to {revision} once it ended"
        )
    lease = start_rollback(kube, app, obs, to=revision, scale_down_delay=scale_down_delay)
    final = drive(
        kube,
        app,
        lease=lease,
        on_tick=on_tick,
        timeout=timeout,
        until=None if wait else stop_at_wait_points,
    )
    return check_outcome(final)
