"""Releases handed over to the in-cluster controller (``kprism controller``).

With a controller running, a laptop need not stay awake for a release. Who drives an
app is still only ever said by its Lease; a controller says which apps it covers on its
own Lease (``kprism-controller`` or ``kprism-controller-<shard>`` in the controller's
namespace, annotation ``kprism.dev/controller-scope``). :func:`controller_of` reads
them: a live controller Lease whose scope covers the app, or a controller holding the
app's own Lease, means a controller is there.

Then ``kprism release`` does not drive: :func:`hand_over` plans the release here (so bad
input is refused at once, with the same messages), writes it as a *request* onto the
Service (``kprism.dev/release-request``), and waits until the controller took it — it
records the release under the request's id — or refused it (the reason comes back in
the request). :func:`follow` then shows the release's progress as the engine's ticks
would. The controller side is :func:`take_request`.

Without a controller, nothing here runs: the CLI drives as it always did.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from kprism.engine.clock import Clock, SystemClock
from kprism.errors import (
    ConflictError,
    ForbiddenError,
    LockedError,
    NotFoundError,
    TimeoutError_,
    UsageError,
)
from kprism.kube.api import KubeApi, Lock
from kprism.kube.state import read_intent, read_release
from kprism.model.observed import ServiceObs
from kprism.model.release import ANNOTATION_RELEASE_REQUEST, ReleaseSpec, ReleaseStatus
from kprism.model.request import ReleaseRequest, request_from_json, request_to_json
from kprism.ops.apps import App, observe
from kprism.ops.releases import plan_release, start_release
from kprism.ops.running import Tick, TickHandler, actor, app_lease, check_outcome, utcnow
from kprism.plan.controller import ANNOTATION_SCOPE, Scope, controller_lease_name, shard_of
from kprism.plan.machine import iso

CONTROLLER_USER = "kprism-controller"
#: where the CLI looks for the controller's Leases (default: kprism-system)
CONTROLLER_NAMESPACE_ENV = "KPRISM_CONTROLLER_NAMESPACE"
DEFAULT_CONTROLLER_NAMESPACE = "kprism-system"
REQUEST_WAIT = 30.0  # seconds the controller may take to pick a request up
FOLLOW_WAIT = 5.0  # re-read at least this often while following


def controller_identity() -> str:
    """A controller replica's Lease holder identity: ``kprism-controller@HOST:PID:RAND``
    (the host is the pod's name in a cluster; a dead PID on the same host is stale)."""
    return f"{CONTROLLER_USER}@{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:4]}"


def is_controller(holder: str) -> bool:
    return holder.startswith(CONTROLLER_USER + "@")


def controller_namespace(given: str | None = None) -> str:
    return given or os.environ.get(CONTROLLER_NAMESPACE_ENV) or DEFAULT_CONTROLLER_NAMESPACE


def _live_scope(kube: KubeApi, namespace: str, lease_name: str) -> tuple[str, Scope] | None:
    """(holder, scope) of a live controller Lease; None when there is none."""
    info = kube.lease(namespace=namespace, app=lease_name.removeprefix("kprism-")).info()
    if info is None or not info.holder or info.stale(utcnow()):
        return None
    scope = Scope.from_json(info.annotations.get(ANNOTATION_SCOPE, ""))
    return (info.holder, scope) if scope is not None else None


def controller_of(kube: KubeApi, app: App, *, namespace: str | None = None) -> str | None:
    """The Lease holder identity of a live controller that covers ``app``, or None.

    Costs one to three GETs of Leases (and one of the Service when a controller is
    found); a controller namespace that is missing or that the user may not read means
    no controller: the CLI drives itself, as without one.
    """
    try:
        info = app_lease(kube, app).info()
        if info is not None and is_controller(info.holder) and not info.stale(utcnow()):
            return info.holder
        ns = controller_namespace(namespace)
        found = _live_scope(kube, ns, controller_lease_name(0, 1))
        if found is None:
            first = _live_scope(kube, ns, controller_lease_name(0, 2))
            if first is None:
                return None
            shard = shard_of(app.namespace, app.name, first[1].shards)
            found = (
                first
                if shard == 0
                else _live_scope(kube, ns, controller_lease_name(shard, first[1].shards))
            )
            if found is None:
                return None
        holder, scope = found
        labels = kube.get_service(app.name, app.namespace).labels
        return holder if scope.covers(app.namespace, app.name, labels) else None
    except (ForbiddenError, NotFoundError):
        return None


# -- the CLI's side ------------------------------------------------------------------------


def read_request(svc: ServiceObs) -> ReleaseRequest | None:
    raw = svc.annotations.get(ANNOTATION_RELEASE_REQUEST)
    return request_from_json(raw) if raw else None


def _request_patch(req: ReleaseRequest | None, *, resource_version: str = "") -> dict[str, object]:
    meta: dict[str, object] = {
        "annotations": {ANNOTATION_RELEASE_REQUEST: request_to_json(req) if req else None}
    }
    if resource_version:
        meta["resourceVersion"] = resource_version
    return {"metadata": meta}


def hand_over(
    kube: KubeApi,
    app: App,
    spec: ReleaseSpec,
    *,
    stable_track: str | None = None,
    force: bool = False,
    on_warning: Callable[[str], None] | None = None,
    timeout: float = REQUEST_WAIT,
    clock: Clock | None = None,
) -> ReleaseStatus:
    """Plan the release here, write it as a request for the controller, and wait until
    the controller recorded it (its first status) or refused it (UsageError with the
    controller's reason). TimeoutError_ when no controller took it in ``timeout``."""
    plan = plan_release(kube, app, spec, stable_track=stable_track, force=force)
    for warning in plan.warnings:
        if on_warning is not None:
            on_warning(warning)
    req = ReleaseRequest(
        id=plan.status.id,
        spec=spec,
        stable_track=stable_track,
        force=force,
        by=actor(kube),
        at=iso(utcnow()),
    )
    kube.patch_service(app.name, app.namespace, _request_patch(req))
    clock = clock or SystemClock()
    start = clock.monotonic()
    obs = observe(kube, app)
    with kube.feed(
        namespace=app.namespace, service=app.name, app_selector=obs.app_selector
    ) as feed:
        while True:
            svc = observe(kube, app).service
            st = read_release(svc)
            if st is not None and st.id == req.id:
                return st
            pending = read_request(svc)
            if pending is not None and pending.id == req.id and pending.refused:
                raise UsageError(f"the controller refused the release: {pending.refused}")
            if pending is None or pending.id != req.id:
                raise UsageError(
                    f"the release request {req.id} of {app.name} was replaced or removed "
                    "before a controller took it"
                )
            left = timeout - (clock.monotonic() - start)
            if left <= 0:
                raise TimeoutError_(
                    f"no controller took the release request {req.id} of {app.name} in "
                    f"{timeout:.0f}s; it stays on Service {app.name} (annotation "
                    f"{ANNOTATION_RELEASE_REQUEST}) for the controller, or remove it and run "
                    "the release with the controller stopped"
                )
            feed.wait(min(left, 1.0))


def follow(
    kube: KubeApi,
    app: App,
    release_id: str,
    *,
    on_tick: TickHandler | None = None,
    until: Callable[[ReleaseStatus], bool] | None = None,
    timeout: float | None = None,
    clock: Clock | None = None,
) -> ReleaseStatus:
    """Follow release ``release_id`` (driven elsewhere) until it ends or ``until`` says
    stop; ``on_tick`` gets every new status, as from an engine here (with no actions).
    ``until`` is asked only while no intent waits for the engine (one that does is
    about to change the release)."""
    clock = clock or SystemClock()
    start = clock.monotonic()
    obs = observe(kube, app)
    last: ReleaseStatus | None = None
    with kube.feed(
        namespace=app.namespace, service=app.name, app_selector=obs.app_selector
    ) as feed:
        while True:
            obs = observe(kube, app)
            st = read_release(obs.service)
            if st is None or st.id != release_id:
                if last is None:
                    raise UsageError(f"release {release_id} of {app.name} is not recorded")
                return last  # replaced: the last state this one had
            if st != last and on_tick is not None:
                on_tick(Tick(status=st, observed=obs, actions=()))
            last = st
            intent = read_intent(obs.service)
            pending = intent is not None and intent.release == st.id
            if st.phase.terminal or (until is not None and not pending and until(st)):
                return st
            wait = FOLLOW_WAIT
            if timeout is not None:
                left = timeout - (clock.monotonic() - start)
                if left <= 0:
                    raise TimeoutError_(
                        f"gave up following after {timeout:.0f}s at step {st.step}: {st.message}; "
                        f"the controller goes on driving it (`kprism status {app.name} -w`)"
                    )
                wait = min(wait, left)
            feed.wait(wait)


@dataclass(frozen=True, kw_only=True)
class HandedOver:
    """A release the controller took: its first status and who drives it."""

    status: ReleaseStatus
    controller: str


def release_via_controller(
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
    on_handover: Callable[[HandedOver], None] | None = None,
    controller_ns: str | None = None,
    check: bool = True,
) -> ReleaseStatus | None:
    """If a controller covers ``app``: hand the release over and (``wait``) follow it to
    its end (``check``: :class:`ReleaseFailed` when it fails or is aborted, as the CLI
    exits 1; else its final status, as the dashboard shows it). None when no controller
    covers the app: the caller drives the release itself."""
    holder = controller_of(kube, app, namespace=controller_ns)
    if holder is None:
        return None
    st = hand_over(kube, app, spec, stable_track=stable_track, force=force, on_warning=on_warning)
    if on_handover is not None:
        on_handover(HandedOver(status=st, controller=holder))
    if not wait:
        return st
    final = follow(kube, app, st.id, on_tick=on_tick, timeout=timeout)
    return check_outcome(final) if check else final


# -- the controller's side ---------------------------------------------------------------


def take_request(
    kube: KubeApi, app: App, svc: ServiceObs, req: ReleaseRequest, *, lease: Lock
) -> tuple[ReleaseStatus, Lock]:
    """Start the requested release under ``lease`` (the controller's) with the request's
    id, then remove the request. A refused start (bad input, a release in progress)
    marks the request refused with the reason and raises that UsageError; LockedError
    (someone else holds the app) leaves the request for later."""
    try:
        st, lease = start_release(
            kube,
            app,
            req.spec,
            stable_track=req.stable_track,
            force=req.force,
            lease=lease,
            release_id=req.id,
            started_by=req.by,
        )
    except LockedError:
        raise
    except UsageError as exc:
        kube.patch_service(
            app.name,
            app.namespace,
            _request_patch(req.refuse(str(exc)), resource_version=svc.resource_version),
        )
        kube.emit_event(
            namespace=app.namespace,
            service=app.name,
            reason="ReleaseRequestRefused",
            message=f"release request {req.id} by {req.by}: {exc}",
            warning=True,
        )
        raise
    clear_request(kube, app, req.id)
    kube.emit_event(
        namespace=app.namespace,
        service=app.name,
        reason="ReleaseHandedOver",
        message=f"release {req.id} requested by {req.by} at {req.at}, driven by {lease.identity}",
    )
    return st, lease


def clear_request(kube: KubeApi, app: App, request_id: str, *, attempts: int = 5) -> None:
    """Remove the request ``request_id`` from the Service (not a newer one)."""
    for _ in range(attempts):
        svc = kube.get_service(app.name, app.namespace)
        req = read_request(svc)
        if req is None or req.id != request_id:
            return
        try:
            kube.patch_service(
                app.name,
                app.namespace,
                _request_patch(None, resource_version=svc.resource_version),
            )
            return
        except ConflictError:
            continue
