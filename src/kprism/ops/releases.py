"""Starting a release: plan it (validate against the cluster, describe its steps),
record it under the app's Lease, and drive it.

Bad input raises :class:`kprism.errors.UsageError` before anything in the cluster is
changed: :func:`plan_release` only reads.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from kprism.errors import UsageError
from kprism.kube.api import KubeApi, Lock
from kprism.kube.state import read_release
from kprism.model.observed import AppObs, DeploymentObs
from kprism.model.release import Kind, ReleaseSpec, ReleaseStatus, Strategy, status_to_json
from kprism.model.routing import router_kind
from kprism.ops.analysis import check_analysis, with_shared_templates
from kprism.ops.apps import App, check_no_operation, observe
from kprism.ops.doctor import check_release
from kprism.ops.running import (
    TickHandler,
    actor,
    app_lease,
    check_outcome,
    check_still,
    drive,
    record_release,
    stop_at_wait_points,
    utcnow,
)
from kprism.ops.specs import check_notify, describe_notify
from kprism.plan.preflight import (
    candidate_track,
    check_hpa,
    check_siblings,
    check_single_app,
    describe_canary,
    describe_steps,
    fmt_labels,
    stable_track,
    weight_warnings,
)
from kprism.plan.start import Basis, basis_of, initial_status
from kprism.plan.template import apply_change, track_deployment_name, with_track


def new_release_id(now: datetime) -> str:
    return f"{now:%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:4]}"


def check_no_release(kube: KubeApi, app: App, obs: AppObs) -> None:
    """UsageError if a release of the app is in progress (naming who drives it)."""
    check_no_operation(app, obs, doing="release")
    st = read_release(obs.service)
    if st is not None and not st.phase.terminal:
        holder = app_lease(kube, app).info()
        by = (
            f", driven by {holder.holder}"
            if holder and holder.holder and not holder.stale(utcnow())
            else ""
        )
        raise UsageError(
            f"release {st.id} of {app.name} is in progress (step {st.step}, {st.phase.value}{by}): "
            f"use `kprism resume {app.name}`, `kprism promote {app.name}` or `kprism abort {app.name}`"
        )


@dataclass(frozen=True, kw_only=True)
class ReleasePlan:
    """What ``release`` would do: the initial status and the steps in order."""

    status: ReleaseStatus
    steps: tuple[str, ...]
    warnings: tuple[str, ...] = ()
    basis: Basis = field(default_factory=Basis)  # what it was planned on

    def to_dict(self) -> dict[str, Any]:
        return {
            "release": status_to_json(self.status),
            "steps": list(self.steps),
            "warnings": list(self.warnings),
        }


def check_canary_spec(spec: ReleaseSpec) -> None:
    """Canary steps must be present; routers must exist (analysis: :func:`check_analysis`)."""
    if spec.canary is None:
        raise UsageError(
            "a canary needs steps: --steps 10,25,50,100 [--pause 2m] or -f release.yaml"
        )
    router_kind(spec.router)  # UsageError naming the known routers
    if spec.preview:
        raise UsageError(
            "--preview is for blue-green releases: canary steps expose the new version"
        )


def check_router(kube: KubeApi, app: App, obs: AppObs, spec: ReleaseSpec) -> None:
    if not router_kind(spec.router).exact_weights:
        return  # no routing objects to check: the ready-pod ratio is the split
    from kprism.traffic import route_context, router_for

    router_for(spec.router).check(kube, route_context(obs, spec.router_options))


def _pick_tracks(
    obs: AppObs, app: App, spec: ReleaseSpec, *, stable_track_name: str | None, force: bool
) -> tuple[DeploymentObs, str, str]:
    """(stable Deployment, candidate track, candidate Deployment name), checked."""
    stable = stable_track(obs, stable_track_name)
    assert stable.track is not None
    if stable.replicas == 0:
        raise UsageError(
            f"stable Deployment {stable.name} has 0 replicas: scale it up before releasing"
        )
    if spec.strategy != Strategy.CANARY:
        check_hpa(obs, stable, force=force)
    candidate = candidate_track(obs, stable, spec.track)
    existing = obs.track(candidate)
    cand_name = (
        existing.name if existing else track_deployment_name(stable.name, stable.track, candidate)
    )
    if existing is None and obs.deployment(cand_name) is not None:
        raise UsageError(
            f"Deployment {cand_name} exists but is not the {candidate} track of {app.name}"
        )
    if existing is not None:
        check_hpa(obs, existing, force=force)
    return stable, candidate, cand_name


def _candidate_images(
    app: App, stable: DeploymentObs, spec: ReleaseSpec, candidate: str
) -> dict[str, str]:
    """The candidate's images; UsageError if the change changes nothing."""
    template = with_track(
        apply_change(stable.template, spec.change), label=app.track_label, track=candidate
    )
    images = {c["name"]: c.get("image", "") for c in template.get("spec", {}).get("containers", [])}
    change = spec.change
    same = template == with_track(stable.template, label=app.track_label, track=candidate)
    if (change.template and same) or (
        images == stable.images() and not (change.env or change.patch or change.template)
    ):
        raise UsageError(f"nothing to release: {stable.name} already runs {fmt_labels(images)}")
    return images


def _check_canary_tracks(app: App, obs: AppObs, spec: ReleaseSpec, status: ReleaseStatus) -> None:
    """With the replicas router the Service selects every track: other live tracks
    would get traffic too."""
    others = [
        d
        for d in obs.deployments
        if d.track not in (status.stable, status.candidate) and d.replicas > 0
    ]
    if others and not router_kind(spec.router).exact_weights:
        names = ", ".join(
            f"{d.name} ({app.track_label}={d.track}, {d.replicas} replicas)" for d in others
        )
        raise UsageError(
            f"a canary with the replicas router makes Service {app.name} select every track, and "
            f"{names} would get traffic too: scale it to 0 or use --router gateway"
        )


def plan_release(
    kube: KubeApi,
    app: App,
    spec: ReleaseSpec,
    *,
    stable_track: str | None = None,
    force: bool = False,
    now: datetime | None = None,
    release_id: str | None = None,
) -> ReleasePlan:
    """Validate a release against the cluster and describe it step by step. Changes nothing.
    ``release_id``: the id to give it (a release handed over to the controller has one)."""
    now = now or utcnow()
    obs = observe(kube, app)
    check_single_app(obs)
    check_no_release(kube, app, obs)
    check_siblings(obs, force=force)
    basis = basis_of(obs, read_release(obs.service))
    warnings = check_release(kube, app, force=force)  # doctor rules: errors raise UsageError
    canary = spec.strategy == Strategy.CANARY
    if canary:
        check_canary_spec(spec)
    spec = with_shared_templates(kube, app.namespace, spec)  # copied into the release
    check_analysis(spec)
    check_notify(spec.notify)  # the release's own receivers (the Python API's too)
    if spec.change.empty:
        raise UsageError("nothing to release: give --image, --set-env or --patch-file")
    stable, candidate, cand_name = _pick_tracks(
        obs, app, spec, stable_track_name=stable_track, force=force
    )
    status = initial_status(
        release_id=release_id or new_release_id(now),
        spec=spec,
        stable=stable,
        candidate=candidate,
        candidate_deployment=cand_name,
        candidate_images=_candidate_images(app, stable, spec, candidate),
        now=now,
        hpa=next((h for h in obs.hpas if h.target == stable.name), None) if canary else None,
    )
    told = describe_notify(spec.notify)
    if not canary:
        steps = (*describe_steps(status, obs), *([told] if told else []))
        return ReleasePlan(status=status, steps=steps, warnings=warnings, basis=basis)
    _check_canary_tracks(app, obs, spec, status)
    check_router(kube, app, obs, spec)
    steps = (*describe_canary(status, obs), *([told] if told else []))
    warnings = (*warnings, *weight_warnings(status))
    return ReleasePlan(status=status, steps=steps, warnings=warnings, basis=basis)


def start_release(
    kube: KubeApi,
    app: App,
    spec: ReleaseSpec,
    *,
    stable_track: str | None = None,
    force: bool = False,
    lease: Lock | None = None,
    on_warning: Callable[[str], None] | None = None,
    release_id: str | None = None,
    started_by: str = "",
    kind: Kind = Kind.RELEASE,
) -> tuple[ReleaseStatus, Lock]:
    """Validate, take the Lease and record a new release. Nothing else changes yet.
    ``started_by``: who asked (a request handed to the controller); default this client.

    ``on_warning`` gets each pre-flight warning (a doctor finding) once the release is
    recorded, before the engine changes anything: a start that is refused prints only why.
    """
    plan = plan_release(
        kube, app, spec, stable_track=stable_track, force=force, release_id=release_id
    )
    st = dataclasses.replace(plan.status, started_by=started_by or actor(kube), kind=kind)

    def checks(obs: AppObs) -> None:  # on fresh state, under the Lease, before recording
        check_no_release(kube, app, obs)
        check_still(plan.basis, obs, app=app, what="release")

    lease = record_release(
        kube,
        app,
        st,
        lease=lease,
        check=checks,
        reason="ReleaseStarted" if kind == Kind.RELEASE else "RollbackStarted",
        message=lambda by: (
            f"{kind.value} {st.id}: {st.stable} → {st.candidate} "
            f"({fmt_labels(st.candidate_images)}) by {by}"
        ),
    )
    for warning in plan.warnings:
        if on_warning is not None:
            on_warning(warning)
    return st, lease


def release(
    kube: KubeApi,
    app: App,
    spec: ReleaseSpec,
    *,
    stable_track: str | None = None,
    force: bool = False,
    wait: bool = True,
    on_tick: TickHandler | None = None,
    timeout: float | None = None,
    on_warning: Callable[[str], None] | None = None,
) -> ReleaseStatus:
    """Start a release and drive it. Raises :class:`ReleaseFailed` if it ends failed or aborted."""
    _, lease = start_release(
        kube, app, spec, stable_track=stable_track, force=force, on_warning=on_warning
    )
    final = drive(
        kube,
        app,
        lease=lease,
        on_tick=on_tick,
        until=None if wait else stop_at_wait_points,
        timeout=timeout,
    )
    return check_outcome(final)
