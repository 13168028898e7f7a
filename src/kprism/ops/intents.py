"""Operator intents on a release in flight (promote, abort, pause, resume), and rollback.

An intent is written onto the app's Service; the engine that holds the app's Lease
sees it through its watch and acts. If no engine holds the Lease, the call takes it
and drives the release itself — to its end or to its next wait point, as the strategy
says (:mod:`kprism.plan.strategies`) — so an intent is never left unattended.
"""

from __future__ import annotations

from collections.abc import Callable

from kprism.engine.clock import Clock, SystemClock
from kprism.errors import ConflictError, LockedError, UsageError
from kprism.kube.api import KubeApi, Lock
from kprism.kube.state import intent_patch, read_intent, read_release
from kprism.model.release import Action, Intent, ReleaseStatus
from kprism.ops.apps import App, observe
from kprism.ops.handover import HandedOver, follow, is_controller
from kprism.ops.rollbacks import start_rollback
from kprism.ops.running import (
    TickHandler,
    actor,
    app_lease,
    check_outcome,
    drive,
    stop_at_wait_points,
    utcnow,
)
from kprism.plan import drift
from kprism.plan.intents import check_intent, check_moved_on, drives_to_end, writes_intent

__all__ = ["await_intent", "check_moved_on", "resume", "rollback", "send_intent", "write_intent"]
from kprism.plan.machine import iso

LEASE_POLL = 0.5  # seconds between attempts to take the Lease in ``resume``
INTENT_POLL = 0.5  # seconds between looks at a pending intent in ``await_intent``


def send_intent(
    kube: KubeApi,
    app: App,
    action: Action,
    *,
    reason: str = "",
    drive_if_unattended: bool = True,
    on_tick: TickHandler | None = None,
    timeout: float | None = None,
    accept_drift: bool = False,
    on_handover: Callable[[HandedOver], None] | None = None,
) -> ReleaseStatus:
    """Write an intent onto the app. If no engine holds the Lease, take it and act.

    A release that drifted (someone else changed what it set) takes no promote unless
    ``accept_drift``: UsageError naming the change, recorded on the release by the engine.

    ``on_handover``: if a controller holds the Lease, it is called with the controller,
    then the release is followed (``on_tick`` for every new status, as the controller
    records it) until the controller took the intent and the release ended or waits for
    an operator again — the dashboard's page follows a promote or an abort this way.
    """
    st = check_intent(
        read_release(observe(kube, app).service), action, app=app.name, accept_drift=accept_drift
    )
    if writes_intent(st, action) or accept_drift:
        intent = Intent(
            action=action,
            release=st.id,
            by=actor(kube),
            at=iso(utcnow()),
            reason=reason,
            accept_drift=accept_drift,
        )
        write_intent(kube, app, intent)
    if not drive_if_unattended:
        return st
    lease = app_lease(kube, app)
    holder = lease.try_acquire()
    if holder is not None:  # a live engine holds the Lease: it sees the intent through its watch
        if on_handover is None or not is_controller(holder.holder):
            return st
        on_handover(HandedOver(status=st, controller=holder.holder))
        until = None if drives_to_end(st, action) else stop_at_wait_points
        return follow(kube, app, st.id, on_tick=on_tick, until=until, timeout=timeout)
    until = None if drives_to_end(st, action) else stop_at_wait_points
    if drift.check(st, observe(kube, app), routes=False) and not accept_drift:
        until = stop_at_wait_points  # the engine stops on the drift: record it and say so
    final = drive(kube, app, lease=lease, on_tick=on_tick, until=until, timeout=timeout)
    check_moved_on(final, action, app=app.name, accept_drift=accept_drift)
    return final


def await_intent(
    kube: KubeApi, app: App, *, timeout: float, clock: Clock | None = None
) -> tuple[ReleaseStatus | None, bool]:
    """After :func:`send_intent` left an intent to the engine holding the Lease: wait (on
    the clock, at most ``timeout`` seconds) until that engine has taken it. Returns the
    release status then, and whether the intent was taken (no intent pending: at once)."""
    clock = clock or SystemClock()
    start = clock.monotonic()
    while True:
        svc = observe(kube, app).service
        st, intent = read_release(svc), read_intent(svc)
        if intent is None or st is None or intent.release != st.id or st.phase.terminal:
            return st, True
        if clock.monotonic() - start >= timeout:
            return st, False
        clock.sleep(INTENT_POLL)


def write_intent(kube: KubeApi, app: App, intent: Intent, *, attempts: int = 20) -> None:
    """Write ``intent`` with the Service's resourceVersion as precondition; on a conflict
    (the engine recorded a status meanwhile) re-read and write again."""
    svc = observe(kube, app).service
    for attempt in range(attempts):
        try:
            kube.patch_service(app.name, app.namespace, intent_patch(svc, intent))
            return
        except ConflictError:
            if attempt == attempts - 1:
                raise
            svc = kube.get_service(app.name, app.namespace)
            current = read_release(svc)
            if current is None or current.id != intent.release or current.phase.terminal:
                raise UsageError(
                    f"release {intent.release} of {app.name} ended before the "
                    f"{intent.action.value} intent could be written"
                ) from None


def _take_lease(
    kube: KubeApi, app: App, *, sent: bool, wait_for_lease: float, clock: Clock
) -> Lock | None:
    """The app's Lease, waiting up to ``wait_for_lease`` seconds; None when a live
    engine holds it and ``sent`` (it will act on the intent sent); LockedError when it
    stays held."""
    lease = app_lease(kube, app)
    start = clock.monotonic()
    while True:
        holder = lease.try_acquire()
        if holder is None:
            return lease
        if sent:
            return None
        if clock.monotonic() - start >= wait_for_lease:
            raise LockedError(
                f"app {app.name} is being driven by {holder.holder} (renewed {holder.age(utcnow()):.0f}s ago): "
                f"it will be resumable once that Lease expires ({holder.duration}s without renewal)",
                holder=holder.holder,
            )
        clock.sleep(LEASE_POLL)


def resume(
    kube: KubeApi,
    app: App,
    *,
    on_tick: TickHandler | None = None,
    timeout: float | None = None,
    wait_for_lease: float = 0.0,
    clock: Clock | None = None,
) -> ReleaseStatus:
    """Take over an unattended (or crashed) release and drive it to the end. A release that
    drifted is not resumed (UsageError naming the change, recorded on the release by the
    engine): ``promote --accept-drift``, ``abort``, or undo the change first."""
    obs = observe(kube, app)
    st = read_release(obs.service)
    if st is None:
        raise UsageError(f"nothing to resume: app {app.name} has no release")
    drifted = not st.phase.terminal and not st.aborting and bool(drift.check(st, obs, routes=False))
    sent = False
    if st.paused and not st.phase.terminal:
        # A paused release: the resume intent is enough if an engine is driving it.
        write_intent(
            kube,
            app,
            Intent(action=Action.RESUME, release=st.id, by=actor(kube), at=iso(utcnow())),
        )
        sent = True
    clock = clock or SystemClock()
    lease = _take_lease(kube, app, sent=sent, wait_for_lease=wait_for_lease, clock=clock)
    if lease is None:
        return st  # the live engine holding the Lease sees the intent through its watch
    if st.phase.terminal:
        lease.release()
        return st
    until = stop_at_wait_points if drifted else None
    final = drive(kube, app, lease=lease, on_tick=on_tick, timeout=timeout, until=until)
    check_moved_on(final, Action.RESUME, app=app.name, accept_drift=False)
    return final


def rollback(
    kube: KubeApi,
    app: App,
    *,
    on_tick: TickHandler | None = None,
    scale_down_delay: float = 30.0,
    timeout: float | None = None,
    wait: bool = True,
) -> ReleaseStatus:
    """Go back to the previous track: abort a release in flight, or reverse-flip a finished one."""
    obs = observe(kube, app)
    st = read_release(obs.service)
    if st is not None and not st.phase.terminal:
        return check_outcome(
            send_intent(
                kube, app, Action.ABORT, reason="rollback", on_tick=on_tick, timeout=timeout
            )
        )
    lease = start_rollback(kube, app, obs, to=None, scale_down_delay=scale_down_delay)
    final = drive(
        kube,
        app,
        lease=lease,
        on_tick=on_tick,
        timeout=timeout,
        until=None if wait else stop_at_wait_points,
    )
    return check_outcome(final)
