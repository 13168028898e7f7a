"""Direct operations on tracks, outside a release: scale, pin, adopt, clone, split.

Adopt and split are one-shot, level-triggered plans (:mod:`kprism.plan.adopt`,
:mod:`kprism.plan.rainbow`) run to their end under the app's Lease by
:func:`kprism.engine.converge.converge`; scale and clone are one request each.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from kprism.engine.clock import Clock
from kprism.engine.converge import converge
from kprism.errors import UsageError
from kprism.kube.api import KubeApi
from kprism.kube.state import read_release
from kprism.model.actions import (
    CreateDeployment,
    KubeAction,
    ScaleDeployment,
    SetWeights,
)
from kprism.model.observed import AppObs, DeploymentObs
from kprism.model.release import Change
from kprism.model.routing import DEFAULT_ROUTER, router_kind
from kprism.ops.apps import App, observe, track_label_patch
from kprism.ops.running import app_lease
from kprism.plan import siblings
from kprism.plan.adopt import decide_adopt
from kprism.plan.converge import ConvergeStep
from kprism.plan.preflight import PALETTE, check_hpa, check_single_app, fmt_labels
from kprism.plan.rainbow import decide_split, parse_weights

__all__ = ["adopt", "clone", "parse_weights", "pin", "scale", "split"]
from kprism.plan.template import apply_change, track_deployment, track_deployment_name, with_track
from kprism.plan.validate import check_track

MAX_REPLICAS = 2**31 - 1  # a Deployment's replicas is an int32


def check_replicas(replicas: int) -> int:
    if not 0 <= replicas <= MAX_REPLICAS:
        raise UsageError(f"--replicas {replicas}: must be from 0 to {MAX_REPLICAS}")
    return replicas


def _check_scale(obs: AppObs, app: App, *, track: str, replicas: int) -> DeploymentObs:
    dep = obs.track(track)
    if dep is None:
        tracks = ", ".join(sorted(d.track for d in obs.deployments if d.track)) or "none"
        raise UsageError(
            f"app {app.name} has no track {app.track_label}={track} (tracks: {tracks})"
        )
    st = read_release(obs.service)
    if st is not None and not st.phase.terminal and track in (st.stable, st.candidate):
        raise UsageError(
            f"track {track} is part of release {st.id} in progress: abort or finish it first"
        )
    if replicas == 0 and obs.serving_track() == track:
        raise UsageError(
            f"track {track} serves all traffic of {app.name}: scaling it to 0 would drop every request"
        )
    return dep


def scale(kube: KubeApi, app: App, *, track: str, replicas: int) -> DeploymentObs:
    """Scale one track. Refuses to scale the serving track to 0 or to fight a release in flight."""
    check_replicas(replicas)  # before the Lease: a refused scale writes nothing
    dep = _check_scale(observe(kube, app), app, track=track, replicas=replicas)
    lease = app_lease(kube, app)
    lease.acquire()
    try:
        kube.apply(
            ScaleDeployment(name=dep.name, replicas=replicas),
            namespace=app.namespace,
            service=app.name,
        )
        kube.emit_event(
            namespace=app.namespace,
            service=app.name,
            reason="Scaled",
            message=f"{dep.name} scaled to {replicas}",
        )
    finally:
        lease.release()
    return dep


def pin(kube: KubeApi, app: App, track: str) -> None:
    """Point the Service, and every other Service that moves with it, at one track (a
    flip without a release)."""
    for action in siblings.select(observe(kube, app), track):
        kube.apply(action, namespace=app.namespace, service=app.name)


def adopt(
    kube: KubeApi,
    app: App,
    *,
    track: str = PALETTE[0],
    timeout: float = 300.0,
    on_progress: Callable[[str], None] | None = None,
    clock: Clock | None = None,
) -> str:
    """Bring an existing Deployment + Service into track form with zero downtime. The
    track label is stored on the Service: later commands need no ``--track-label``."""
    check_track(track, label=app.track_label)
    obs = observe(kube, app)
    check_single_app(obs)
    decide_adopt(obs, track=track)  # validate before taking anything
    for d in obs.deployments:
        if d.track is None:
            check_hpa(obs, d, force=False)
    kube.patch_service(app.name, app.namespace, track_label_patch(app))
    return converge(
        kube,
        namespace=app.namespace,
        service=app.name,
        app_selector=obs.app_selector,
        what="adopt",
        decide=lambda: decide_adopt(observe(kube, app), track=track),
        event_reason="Adopted",
        timeout=timeout,
        on_progress=on_progress,
        clock=clock,
    )


def _serving_deployment(obs: AppObs, app: App) -> tuple[str, DeploymentObs]:
    serving = obs.serving_track()
    if serving is None:
        raise UsageError(
            f"Service {app.name} selects no track: run `kprism adopt {app.name}` first, so the clone "
            "gets no traffic by accident"
        )
    stable = obs.track(serving)
    if stable is None:
        raise UsageError(
            f"Service {app.name} selects {app.track_label}={serving} but no Deployment has it"
        )
    return serving, stable


def clone(
    kube: KubeApi,
    app: App,
    *,
    track: str,
    change: Change,
    replicas: int = 1,
) -> str:
    """Clone the serving track into a new track with a change, without traffic ("one click
    to clone a new version"). Give it traffic with ``split`` or a release."""
    check_track(track, label=app.track_label)
    check_replicas(replicas)
    if change.empty:
        raise UsageError("nothing to clone: give --image, --set-env or --patch-file")
    obs = observe(kube, app)
    check_single_app(obs)
    serving, stable = _serving_deployment(obs, app)
    existing = obs.track(track)
    if existing is not None:
        raise UsageError(f"track {app.track_label}={track} already exists ({existing.name})")
    name = track_deployment_name(stable.name, serving, track)
    if obs.deployment(name) is not None:
        raise UsageError(f"Deployment {name} already exists")
    template = with_track(apply_change(stable.template, change), label=app.track_label, track=track)
    body = track_deployment(
        stable,
        name=name,
        label=app.track_label,
        track=track,
        template=template,
        replicas=replicas,
        release_id="clone",
    )
    kube.apply(CreateDeployment(name=name, body=body), namespace=app.namespace, service=app.name)
    images = {c["name"]: c.get("image", "") for c in template.get("spec", {}).get("containers", [])}
    msg = f"created Deployment {name} ({app.track_label}={track}, {fmt_labels(images)}, {replicas} replicas) without traffic"
    kube.emit_event(namespace=app.namespace, service=app.name, reason="Cloned", message=msg)
    return msg


def split(
    kube: KubeApi,
    app: App,
    weights: dict[str, int],
    *,
    router: str = DEFAULT_ROUTER,
    router_options: dict[str, str] | None = None,
    timeout: float = 300.0,
    on_progress: Callable[[str], None] | None = None,
    clock: Clock | None = None,
) -> str:
    """Rainbow: split traffic over several live tracks by weight (see kprism.plan.rainbow)."""
    from kprism.traffic import RouteContext, route_context, router_for

    obs = observe(kube, app)
    st = read_release(obs.service)
    if st is not None and not st.phase.terminal:
        raise UsageError(
            f"release {st.id} of {app.name} is in progress: finish or abort it before a split"
        )
    exact = router_kind(router).exact_weights  # UsageError naming the known routers
    total = sum(d.replicas for d in obs.deployments if d.track and obs.ready_pods(d.track)) or max(
        (d.replicas for d in obs.deployments), default=1
    )
    options = router_options or {}
    ctx: RouteContext | None = None
    if exact:
        ctx = route_context(obs, options, tracks=tuple(weights))
        router_for(router).check(kube, ctx)
    decide_split(obs, weights, router=router, total=total)  # validate before any change

    def decide() -> ConvergeStep:
        nonlocal ctx
        current = observe(kube, app)
        if exact:
            ctx = route_context(current, options, tracks=tuple(weights))
            current = dataclasses.replace(
                current, route_weights=router_for(router).observed_weights(kube, ctx)
            )
        return decide_split(current, weights, router=router, total=total)

    def apply(action: KubeAction) -> None:
        if isinstance(action, SetWeights):
            assert ctx is not None
            router_for(router).set_weights(kube, ctx, action.weights)
        else:
            kube.apply(action, namespace=app.namespace, service=app.name)

    return converge(
        kube,
        namespace=app.namespace,
        service=app.name,
        app_selector=obs.app_selector,
        what="split",
        decide=decide,
        apply=apply,
        event_reason="TrafficSplit",
        timeout=timeout,
        on_progress=on_progress,
        clock=clock,
    )
