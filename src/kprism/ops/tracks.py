"""Direct operations on tracks, outside a release: scale, pin, adopt, clone, split.

Adopt and split are one-shot, level-triggered plans (:mod:`kprism.plan.adopt`,
:mod:`kprism.plan.rainbow`) run to their end under the app's Lease by
:func:`kprism.engine.converge.converge`; scale and clone are one request each.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from kprism.engine.clock import Clock, SystemClock
from kprism.engine.converge import converge
from kprism.errors import ConflictError, KprismError, ReleaseFailed, UsageError
from kprism.kube.api import KubeApi, Lock
from kprism.kube.state import operation_patch, read_operation, read_release
from kprism.model.actions import (
    CreateDeployment,
    KubeAction,
    ScaleDeployment,
    SetWeights,
)
from kprism.model.observed import AppObs, DeploymentObs
from kprism.model.operation import Operation, OpKind
from kprism.model.release import Change, Phase
from kprism.model.routing import DEFAULT_ROUTER, router_kind
from kprism.ops.apps import App, check_no_operation, observe, track_label_patch
from kprism.ops.releases import new_release_id
from kprism.ops.running import actor, app_lease, utcnow
from kprism.plan import siblings
from kprism.plan.adopt import decide_adopt
from kprism.plan.converge import ConvergeStep
from kprism.plan.machine import iso
from kprism.plan.preflight import PALETTE, check_single_app, fmt_labels
from kprism.plan.rainbow import decide_restore, decide_split, parse_weights, restore_point
from kprism.plan.template import apply_change, track_deployment, track_deployment_name, with_track
from kprism.plan.validate import check_track

__all__ = [
    "abort_operation",
    "adopt",
    "clone",
    "parse_weights",
    "pin",
    "scale",
    "split",
]

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
        fresh = observe(kube, app)  # under the Lease: nothing started meanwhile
        dep = _check_scale(fresh, app, track=track, replicas=replicas)
        check_no_operation(app, fresh, doing=f"scale {track}")
        kube.apply(
            ScaleDeployment(name=dep.name, replicas=replicas),
            namespace=app.namespace,
            service=app.name,
        )
        message = f"{dep.name} scaled from {dep.replicas} to {replicas}"
        _event(kube, app, "Scaled", message)
        _record_done(
            kube,
            app,
            OpKind.SCALE,
            before=f"{track} {dep.replicas}",
            after=f"{track} {replicas}",
            message=message,
        )
    finally:
        lease.release()
    return dep


def _record_done(
    kube: KubeApi, app: App, kind: OpKind, *, before: str, after: str, message: str
) -> None:
    """Record a one-request operation (scale, clone) in the app's history."""
    now = iso(utcnow())
    op = Operation(
        id=f"{kind.value}-{new_release_id(utcnow())}",
        kind=kind,
        phase=Phase.SUCCEEDED,
        by=actor(kube),
        started_at=now,
        finished_at=now,
        message=message,
        before_text=before,
        after_text=after,
    )
    _record(kube, app, op)


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
    decide_adopt(obs, track=track)  # validate before taking anything (an HPA moves to the clone)
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
    check_no_operation(app, obs, doing=f"clone {track}")
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
    _event(kube, app, "Cloned", msg)
    _record_done(
        kube,
        app,
        OpKind.CLONE,
        before=f"{serving} ({fmt_labels(stable.images())})",
        after=f"{track} ({fmt_labels(images)}, {replicas} replicas)",
        message=msg,
    )
    return msg


class _AbortRequested(Exception):
    """The split's record asks for an abort (``kprism abort`` from anywhere)."""

    def __init__(self, op: Operation) -> None:
        super().__init__(op.abort_requested)
        self.op = op


def _record(kube: KubeApi, app: App, op: Operation, *, attempts: int = 10) -> None:
    """Write ``op`` onto the app's Service (its history entry once it ended), keeping an
    abort request someone wrote meanwhile."""
    for attempt in range(attempts):
        svc = kube.get_service(app.name, app.namespace) if attempt else observe(kube, app).service
        current = read_operation(svc)
        if (
            current is not None
            and current.id == op.id
            and current.abort_requested
            and not op.abort_requested
        ):
            op = dataclasses.replace(
                op, abort_requested=current.abort_requested, reason=current.reason
            )
        try:
            kube.patch_service(app.name, app.namespace, operation_patch(svc, op))
            return
        except ConflictError:
            if attempt == attempts - 1:
                raise


def _event(kube: KubeApi, app: App, reason: str, message: str) -> None:
    kube.emit_event(namespace=app.namespace, service=app.name, reason=reason, message=message)


def _router_plan(
    kube: KubeApi, app: App, op: Operation, tracks: tuple[str, ...]
) -> tuple[Callable[[AppObs], AppObs], Callable[[KubeAction], None]]:
    """(observe-with-routes, apply) for a split or its restore over ``op.router``."""
    from kprism.traffic import RouteContext, route_context, router_for

    exact = router_kind(op.router).exact_weights
    ctx: RouteContext | None = None

    def with_routes(obs: AppObs) -> AppObs:
        nonlocal ctx
        if not exact:
            return obs
        ctx = route_context(obs, dict(op.router_options), tracks=tracks)
        return dataclasses.replace(
            obs, route_weights=router_for(op.router).observed_weights(kube, ctx)
        )

    def apply(action: KubeAction) -> None:
        if isinstance(action, SetWeights):
            assert ctx is not None
            router_for(op.router).set_weights(kube, ctx, action.weights)
        else:
            kube.apply(action, namespace=app.namespace, service=app.name)

    return with_routes, apply


def _restore(
    kube: KubeApi,
    app: App,
    op: Operation,
    *,
    lease: Lock,
    timeout: float,
    on_progress: Callable[[str], None] | None,
    clock: Clock | None,
) -> str:
    """Put the traffic back as it was before the split ``op`` (held ``lease``)."""
    assert op.before is not None
    before = op.before
    _record(kube, app, dataclasses.replace(op, restoring=True))
    with_routes, apply = _router_plan(kube, app, op, tuple(before.replicas))
    return converge(
        kube,
        namespace=app.namespace,
        service=app.name,
        app_selector=observe(kube, app).app_selector,
        what="restore after the split",
        decide=lambda: decide_restore(with_routes(observe(kube, app)), before, router=op.router),
        apply=apply,
        event_reason="TrafficRestored",
        timeout=timeout,
        on_progress=on_progress,
        clock=clock,
        lease=lease,
    )


def _finish(kube: KubeApi, app: App, op: Operation, phase: Phase, message: str) -> Operation:
    done = dataclasses.replace(
        op, phase=phase, message=message, finished_at=iso(utcnow()), restoring=False
    )
    _record(kube, app, done)
    return done


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
    """Rainbow: split traffic over several live tracks by weight (see kprism.plan.rainbow).

    Recorded on the app as an operation with the traffic as it was before (its restore
    point): ``kprism abort`` from anywhere restores it, and so does a split that cannot
    finish (:class:`ReleaseFailed` naming why, exit 1). A split left unfinished by a process
    that died keeps its restore point when it is run again.
    """
    options = router_options or {}
    total = _check_split(kube, app, weights, router=router, options=options)
    lease = app_lease(kube, app)
    lease.acquire()
    try:
        op, fresh, with_routes, apply = _begin_split(
            kube, app, weights, router=router, options=options, total=total
        )
        return _drive_split(
            kube,
            app,
            op,
            fresh.app_selector,
            decide=lambda: _decide_split(kube, app, op, with_routes),
            apply=apply,
            lease=lease,
            timeout=timeout,
            on_progress=on_progress,
            clock=clock,
        )
    finally:
        lease.release()


def _decide_split(
    kube: KubeApi, app: App, op: Operation, with_routes: Callable[[AppObs], AppObs]
) -> ConvergeStep:
    """The next step of split ``op``, unless someone asked to abort it."""
    current = observe(kube, app)
    recorded = read_operation(current.service)
    if recorded is not None and recorded.id == op.id and recorded.abort_requested:
        raise _AbortRequested(recorded)
    return decide_split(with_routes(current), op.weights, router=op.router, total=op.total)


def _drive_split(
    kube: KubeApi,
    app: App,
    op: Operation,
    app_selector: dict[str, str],
    *,
    decide: Callable[[], ConvergeStep],
    apply: Callable[[KubeAction], None],
    lease: Lock,
    timeout: float,
    on_progress: Callable[[str], None] | None,
    clock: Clock | None,
) -> str:
    """Converge on the split; restore the traffic if it is aborted or cannot finish."""
    try:
        message = converge(
            kube,
            namespace=app.namespace,
            service=app.name,
            app_selector=app_selector,
            what="split",
            decide=decide,
            apply=apply,
            event_reason="TrafficSplit",
            timeout=timeout,
            on_progress=on_progress,
            clock=clock,
            lease=lease,
        )
    except _AbortRequested as stop:
        asked = stop.op
        restored = _restore(
            kube, app, asked, lease=lease, timeout=timeout, on_progress=on_progress, clock=clock
        )
        why = f": {asked.reason}" if asked.reason else ""
        text = f"split {op.id} aborted by {asked.abort_requested}{why}; {restored}"
        _finish(kube, app, asked, Phase.ABORTED, text)
        raise ReleaseFailed(text, phase=Phase.ABORTED.value) from None
    except (KprismError, OSError) as exc:
        # It cannot finish (a track never ready, the deadline, the API gone): put the
        # traffic back as it was. If even that fails, the record stays in flight and
        # `kprism abort` continues the restore.
        restored = _restore(
            kube, app, op, lease=lease, timeout=timeout, on_progress=on_progress, clock=clock
        )
        text = f"split {op.id} failed: {exc}; {restored}"
        _finish(kube, app, op, Phase.FAILED, text)
        raise ReleaseFailed(text) from exc
    _finish(kube, app, op, Phase.SUCCEEDED, message)
    return message


def _check_split(
    kube: KubeApi, app: App, weights: dict[str, int], *, router: str, options: dict[str, str]
) -> int:
    """Refuse a split that cannot start, before anything is written; the total replicas."""
    from kprism.traffic import route_context, router_for

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
    if exact:
        router_for(router).check(kube, route_context(obs, options, tracks=tuple(weights)))
    decide_split(obs, weights, router=router, total=total)  # validate before any change
    return total


def _begin_split(
    kube: KubeApi,
    app: App,
    weights: dict[str, int],
    *,
    router: str,
    options: dict[str, str],
    total: int,
) -> tuple[Operation, AppObs, Callable[[AppObs], AppObs], Callable[[KubeAction], None]]:
    """Under the app's Lease: record the split with its restore point and say so."""
    fresh = observe(kube, app)
    st = read_release(fresh.service)
    if st is not None and not st.phase.terminal:
        raise UsageError(f"release {st.id} of {app.name} started meanwhile: nothing was changed")
    prev = read_operation(fresh.service)
    op = Operation(
        id=f"split-{new_release_id(utcnow())}",
        kind=OpKind.SPLIT,
        phase=Phase.PROGRESSING,
        by=actor(kube),
        started_at=iso(utcnow()),
        weights=dict(weights),
        router=router,
        router_options=dict(options),
        total=total,
    )
    with_routes, apply = _router_plan(kube, app, op, tuple(weights))
    if prev is not None and prev.in_flight and prev.before is not None:
        before = prev.before  # the unfinished split's: the state before it began
        _finish(kube, app, prev, Phase.ABORTED, f"superseded by {op.id}")
    else:
        before = restore_point(fresh, routes=with_routes(fresh).route_weights)
    op = dataclasses.replace(op, before=before)
    _record(kube, app, op)
    _event(
        kube, app, "SplitStarted", f"split {op.id}: {op.from_text()} → {op.to_text()} by {op.by}"
    )
    return op, fresh, with_routes, apply


def abort_operation(
    kube: KubeApi,
    app: App,
    *,
    reason: str = "",
    timeout: float = 300.0,
    on_progress: Callable[[str], None] | None = None,
    clock: Clock | None = None,
) -> tuple[Operation, bool] | None:
    """Abort the split in flight: ``None`` when there is none. Returns the operation as
    it ended (or as it is at ``timeout``) and whether the restore ran here.

    The abort request is written onto the record: the process driving the split sees it
    through its watch and restores the traffic. If that process is gone (killed, its
    laptop closed), its Lease expires and the restore runs here.
    """
    clock = clock or SystemClock()
    op = read_operation(observe(kube, app).service)
    if op is None or not op.in_flight:
        return None
    asked = dataclasses.replace(op, abort_requested=actor(kube), reason=reason)
    lease = app_lease(kube, app)
    holder = lease.try_acquire()
    if holder is not None:
        _record(kube, app, asked)
        _event(
            kube, app, "SplitAbortRequested", f"abort of {op.id} asked by {asked.abort_requested}"
        )
        if on_progress is not None:
            on_progress(
                f"abort of {op.id} written; {holder.holder} drives it and restores the traffic"
            )
        start = clock.monotonic()
        while True:
            now = read_operation(observe(kube, app).service)
            if now is None or now.id != op.id or not now.in_flight:
                return (now or asked), False
            if lease.try_acquire() is None:
                break  # the process driving it is gone: restore here
            if clock.monotonic() - start >= timeout:
                return now, False
            clock.sleep(0.5)
    try:
        now = read_operation(observe(kube, app).service)  # under the Lease
        if now is None or now.id != op.id or not now.in_flight:
            return (now or asked), False
        asked = dataclasses.replace(now, abort_requested=actor(kube), reason=reason)
        restored = _restore(
            kube, app, asked, lease=lease, timeout=timeout, on_progress=on_progress, clock=clock
        )
        why = f": {reason}" if reason else ""
        text = f"{op.kind.value} {op.id} aborted by {asked.abort_requested}{why}; {restored}"
        return _finish(kube, app, asked, Phase.ABORTED, text), True
    finally:
        lease.release()
