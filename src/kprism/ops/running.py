"""Taking an app's Lease, recording a new release on it, and running the engine.

Every operation that starts something the engine then drives (a release, a rollback)
goes the same way, in :func:`record_release`: take the Lease → observe → write the
first status → emit an Event → hand the Lease to :func:`drive`, which gives it back
when the engine stops. If anything fails before the engine runs, the Lease is given
back at once, so a refused start never leaves the app locked.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime

from kprism.engine.clock import Clock, SystemClock
from kprism.engine.loop import Engine, Tick
from kprism.errors import LockedError, ReleaseFailed
from kprism.kube.api import KubeApi, Lock
from kprism.kube.client import Kube
from kprism.kube.state import read_release, status_patch
from kprism.model.observed import AppObs
from kprism.model.release import Phase, ReleaseStatus
from kprism.notify import notifier, publish
from kprism.ops.apps import App, observe, track_label_patch
from kprism.plan.start import Basis, basis_of, stale_reason

TickHandler = Callable[[Tick], None]

__all__ = [
    "Tick",
    "TickHandler",
    "actor",
    "app_lease",
    "check_outcome",
    "disconnect",
    "drive",
    "record_release",
    "set_source",
    "stop_at_wait_points",
    "utcnow",
]


def utcnow() -> datetime:
    return datetime.now(UTC)


_source = ["api"]  # which shell drives this process: set once at start-up


def set_source(name: str) -> None:
    """Name the shell this process runs (``cli``, ``web``, ``controller``; default ``api``)
    for the audit trail."""
    _source[0] = name


def actor(kube: KubeApi) -> str:
    """Who does something, for the audit trail (history, intents, operations): the user
    the API server authenticates (not the OS user), the shell, the host —
    ``alice@example.com (cli on laptop)``."""
    return f"{kube.whoami()} ({_source[0]} on {os.uname().nodename})"


def disconnect(kube: Kube, *, notify_wait: float = 10.0) -> None:
    """Close a connection once the notifications queued so far were delivered: the
    background worker reads the namespace's receivers through the connection the event
    came from (a dashboard job's, closed when the job ends)."""
    notifier().flush(notify_wait)
    kube.close()


def app_lease(kube: KubeApi, app: App) -> Lock:
    return kube.lease(namespace=app.namespace, app=app.name)


def record_release(
    kube: KubeApi,
    app: App,
    status: ReleaseStatus,
    *,
    reason: str,
    message: Callable[[str], str],
    lease: Lock | None = None,
    check: Callable[[AppObs], None] | None = None,
) -> Lock:
    """Take the app's Lease, observe, run ``check`` on what is there now, record
    ``status`` (and the app's track label, for later commands) and emit an Event
    (``reason``, ``message(holder identity)``).

    Returns the held Lease for :func:`drive`; gives it back if any of this fails.
    """
    lease = lease or app_lease(kube, app)
    lease.acquire()
    try:
        obs = observe(kube, app)
        if check is not None:
            check(obs)
        patch = status_patch(obs.service, status)
        patch["metadata"]["annotations"].update(track_label_patch(app)["metadata"]["annotations"])
        kube.patch_service(app.name, app.namespace, patch)
        text = message(lease.identity)
        kube.emit_event(namespace=app.namespace, service=app.name, reason=reason, message=text)
        publish(
            kube,
            namespace=app.namespace,
            service=app.name,
            reason=reason,
            message=text,
            status=status,
        )
    except BaseException:
        lease.release()
        raise
    return lease


def check_still(basis: Basis, obs: AppObs, *, app: App, what: str) -> None:
    """Refuse to record a plan made on a different app than what is there now (another
    engine ran a release between planning and taking the Lease, or someone edited it)."""
    reason = stale_reason(basis, basis_of(obs, read_release(obs.service)))
    if reason is not None:
        raise LockedError(
            f"app {app.name} changed while this {what} was being planned ({reason}): nothing "
            f"was changed; check `kprism status {app.name}` and run it again"
        )


def drive(
    kube: KubeApi,
    app: App,
    *,
    lease: Lock,
    on_tick: TickHandler | None = None,
    until: Callable[[ReleaseStatus], bool] | None = None,
    timeout: float | None = None,
    clock: Clock | None = None,
) -> ReleaseStatus:
    """Run the engine for ``app`` while holding ``lease``; release the Lease afterwards."""
    try:
        engine = Engine(
            kube,
            namespace=app.namespace,
            service=app.name,
            track_label=app.track_label,
            lease=lease,
            clock=clock or SystemClock(),
            on_tick=on_tick,
        )
        return engine.run(until=until, timeout=timeout)
    finally:
        lease.release()


def stop_at_wait_points(st: ReleaseStatus) -> bool:
    """For --no-wait: stop when the release needs an operator (paused or awaiting promotion)."""
    return st.phase == Phase.PAUSED


def check_outcome(st: ReleaseStatus) -> ReleaseStatus:
    """``st`` if the release did not end failed or aborted; :class:`ReleaseFailed` otherwise."""
    if st.phase in (Phase.FAILED, Phase.ABORTED):
        raise ReleaseFailed(
            f"release {st.id} {st.phase.value.lower()}: "
            f"{st.message.removeprefix('aborted: ').removeprefix('failed: ')}",
            phase=st.phase.value,
        )
    return st
