"""How a release or a rollback starts: its first recorded status (pure).

:mod:`kprism.ops` observes the app, checks it (:mod:`kprism.plan.preflight`) and picks a
release id; these functions decide the first status the engine will drive, so the two
ways a release begins (``release`` and ``rollback``) are unit-tested without a cluster.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from kprism.errors import UsageError
from kprism.model.observed import AppObs, DeploymentObs, HpaObs
from kprism.model.release import Kind, Phase, ReleaseSpec, ReleaseStatus
from kprism.plan import bluegreen
from kprism.plan.machine import iso


def initial_status(
    *,
    release_id: str,
    spec: ReleaseSpec,
    stable: DeploymentObs,
    candidate: str,
    candidate_deployment: str,
    candidate_images: Mapping[str, str],
    now: datetime,
    hpa: HpaObs | None = None,
) -> ReleaseStatus:
    """The status a new release is recorded with: every strategy starts at pinning the
    Service to stable. ``hpa`` (the user's HPA on stable) is driven by a canary only."""
    assert stable.track is not None
    status = ReleaseStatus(
        id=release_id,
        kind=Kind.RELEASE,
        spec=spec,
        phase=Phase.PROGRESSING,
        step=bluegreen.PIN,
        stable=stable.track,
        candidate=candidate,
        stable_deployment=stable.name,
        candidate_deployment=candidate_deployment,
        replicas=stable.replicas,
        stable_images=stable.images(),
        candidate_images=dict(candidate_images),
        started_at=iso(now),
        step_started_at=iso(now),
        message="starting",
    )
    if hpa is not None:
        status = status.evolve(hpa=hpa.name, hpa_min=hpa.min_replicas, hpa_max=hpa.max_replicas)
    return status


def rollback_target(
    obs: AppObs, history: Sequence[Mapping[str, Any]], *, app: str
) -> tuple[DeploymentObs, DeploymentObs]:
    """(serving, previous) Deployments of a rollback: the track the last successful
    release into the serving one came from, else the only other track.
    UsageError when there is nothing to roll back (to)."""
    serving = obs.serving_track()
    if serving is None:
        raise UsageError(f"nothing to roll back: Service {app} does not pin a track")
    current = obs.track(serving)
    previous = None
    for entry in reversed(history):
        if entry.get("kind", Kind.RELEASE.value) not in (Kind.RELEASE.value, Kind.ROLLBACK.value):
            continue  # a split, scale or clone: no track change to go back on
        if entry.get("phase") == Phase.SUCCEEDED.value and entry.get("candidate") == serving:
            previous = entry.get("stable")
            break
    if previous is None:
        others = [d for d in obs.deployments if d.track and d.track != serving]
        previous = others[0].track if len(others) == 1 else None
    prev_dep = obs.track(previous) if previous else None
    if current is None or prev_dep is None:
        raise UsageError(f"nothing to roll back to: app {app} has no previous track")
    return current, prev_dep


def rollback_status(
    *,
    release_id: str,
    current: DeploymentObs,
    previous: DeploymentObs,
    scale_down_delay: float,
    now: datetime,
) -> ReleaseStatus:
    """A rollback is a blue-green release back onto ``previous`` with its unchanged
    template, promoted automatically; it starts at (re)scaling that track."""
    assert current.track is not None
    assert previous.track is not None
    return ReleaseStatus(
        id=release_id,
        kind=Kind.ROLLBACK,
        spec=ReleaseSpec(auto_promote=True, scale_down_delay=scale_down_delay),
        phase=Phase.PROGRESSING,
        step=bluegreen.CREATE,
        stable=current.track,
        candidate=previous.track,
        stable_deployment=current.name,
        candidate_deployment=previous.name,
        replicas=max(current.replicas, 1),
        stable_images=current.images(),
        candidate_images=previous.images(),
        started_at=iso(now),
        step_started_at=iso(now),
        message="rolling back",
    )


@dataclass(frozen=True, kw_only=True)
class Basis:
    """What a release or rollback was planned on. Planning happens before the Lease is
    taken, so by the time it is, another engine may have run a whole release: the plan
    is recorded only if the app still looks like this (:func:`stale_reason`)."""

    last_release: str = ""  # id of the release the Service recorded ("" for none)
    serving: str | None = None  # the track the Service pinned
    tracks: Mapping[str, Mapping[str, str]] = field(default_factory=dict)  # track → images
    replicas: Mapping[str, int] = field(default_factory=dict)  # track → spec.replicas


def basis_of(obs: AppObs, last_release: ReleaseStatus | None) -> Basis:
    return Basis(
        last_release=last_release.id if last_release is not None else "",
        serving=obs.serving_track(),
        tracks={d.track: d.images() for d in obs.deployments if d.track},
        replicas={d.track: d.replicas for d in obs.deployments if d.track},
    )


def stale_reason(planned: Basis, now: Basis) -> str | None:
    """Why a plan made on ``planned`` must not be recorded on ``now`` (None: it may)."""
    if now.last_release != planned.last_release:
        return f"release {now.last_release or '(none)'} was recorded after this one was planned"
    if now.serving != planned.serving:
        return f"the Service now selects track {now.serving!r}, not {planned.serving!r}"
    for track, images in planned.tracks.items():
        if now.tracks.get(track) != images:
            return f"track {track} changed (images {dict(now.tracks.get(track) or {})})"
    if planned.serving is not None and now.replicas.get(planned.serving) != planned.replicas.get(
        planned.serving
    ):
        return f"track {planned.serving} was scaled to {now.replicas.get(planned.serving)}"
    return None
