"""kprism's Python API: what the CLI, the dashboard and a future controller all call.

Every function takes a :class:`~kprism.kube.client.Kube` connection and names an app
by its Service. Functions that change a release in flight (promote, abort, pause,
resume) write an *intent* onto the app; the engine that holds the app's Lease acts on
it. If no engine holds the Lease, the call takes it and drives the release itself to
the next stable point, so an intent is never left unattended.

Bad input raises :class:`kprism.errors.UsageError` (exit 2) before anything in the
cluster is changed.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from kprism.engine.clock import Clock, SystemClock
from kprism.engine.converge import converge
from kprism.engine.loop import Engine, Tick
from kprism.errors import ConflictError, LockedError, NotFoundError, ReleaseFailed, UsageError
from kprism.kube.client import Kube, Target
from kprism.kube.lease import AppLease, LeaseInfo
from kprism.kube.state import intent_patch, read_history, read_intent, read_release, status_patch
from kprism.model.actions import KubeAction, ScaleDeployment, SetSelector, SetWeights
from kprism.model.observed import AppObs, DeploymentObs
from kprism.model.release import (
    Action,
    Change,
    Intent,
    Kind,
    Phase,
    ReleaseSpec,
    ReleaseStatus,
    Strategy,
)
from kprism.plan import bluegreen
from kprism.plan.converge import ConvergeStep
from kprism.plan.preflight import (
    PALETTE,
    _candidate_track,
    _check_hpa,
    _stable_track,
    check_single_app,
    describe_canary,
    describe_steps,
)
from kprism.plan.preflight import (
    fmt_labels as fmt_labels,
)
from kprism.plan.template import apply_change, track_deployment_name, with_track
from kprism.plan.validate import check_label_key, check_track

DEFAULT_TRACK_LABEL = "color"

TickHandler = Callable[[Tick], None]


def connect(
    *, kubeconfig: str | None = None, context: str | None = None, namespace: str | None = None
) -> Kube:
    """Open a connection (kubeconfig file and context as kubectl would pick them)."""
    return Kube(Target(kubeconfig=kubeconfig, context=context, namespace=namespace))


@dataclass(frozen=True, kw_only=True)
class App:
    """Names one app: a Service in a namespace, and the label that tells tracks apart."""

    name: str
    namespace: str
    track_label: str = DEFAULT_TRACK_LABEL


def app_ref(
    kube: Kube, name: str, *, namespace: str | None = None, track_label: str = DEFAULT_TRACK_LABEL
) -> App:
    check_label_key(track_label)
    return App(name=name, namespace=namespace or kube.namespace, track_label=track_label)


# -- reading ------------------------------------------------------------------------------


def observe(kube: Kube, app: App) -> AppObs:
    """Observe an app, turning a missing Service or namespace into a clear error."""
    try:
        return kube.observe(namespace=app.namespace, service=app.name, track_label=app.track_label)
    except NotFoundError as exc:
        if "Service" in str(exc) and f"Service {app.name} " in str(exc):
            ns_missing = _namespace_missing(kube, app.namespace)
            if ns_missing:
                raise NotFoundError(
                    f"namespace {app.namespace!r} does not exist: pass -n/--namespace with an existing namespace"
                ) from exc
            raise NotFoundError(
                f"app {app.name!r} not found: there is no Service {app.name} in namespace {app.namespace} "
                "(an app is named by its Service; see `kprism list`)"
            ) from exc
        raise


def _namespace_missing(kube: Kube, namespace: str) -> bool:
    try:
        kube.check_namespace(namespace)
    except NotFoundError:
        return True
    except Exception:  # forbidden to read namespaces: we cannot tell
        return False
    return False


@dataclass(frozen=True, kw_only=True)
class TrackView:
    track: str | None
    deployment: str
    replicas: int
    ready: int
    images: dict[str, str]
    serving: bool
    endpoints: int


@dataclass(frozen=True, kw_only=True)
class AppStatus:
    app: App
    selector: dict[str, str]
    tracks: tuple[TrackView, ...]
    release: ReleaseStatus | None
    intent: Intent | None
    lease: LeaseInfo | None
    endpoints: int

    def to_dict(self) -> dict[str, Any]:
        from kprism.model.release import status_to_json

        return {
            "app": self.app.name,
            "namespace": self.app.namespace,
            "trackLabel": self.app.track_label,
            "selector": self.selector,
            "readyEndpoints": self.endpoints,
            "tracks": [t.__dict__ for t in self.tracks],
            "release": status_to_json(self.release) if self.release else None,
            "intent": self.intent.__dict__ if self.intent else None,
            "lease": (
                {
                    "holder": self.lease.holder,
                    "renewed": self.lease.renewed.isoformat() if self.lease.renewed else None,
                }
                if self.lease and self.lease.holder
                else None
            ),
        }


def app_status(kube: Kube, app: App) -> AppStatus:
    obs = observe(kube, app)
    serving = obs.serving_track()
    tracks = tuple(
        TrackView(
            track=d.track,
            deployment=d.name,
            replicas=d.replicas,
            ready=d.ready,
            images=d.images(),
            serving=(serving is None and d.ready > 0)
            or (serving is not None and d.track == serving),
            endpoints=len(obs.endpoints & {p.name for p in obs.pods if p.track == d.track}),
        )
        for d in obs.deployments
    )
    lease = AppLease(kube, namespace=app.namespace, app=app.name).info()
    return AppStatus(
        app=app,
        selector=dict(obs.service.selector),
        tracks=tracks,
        release=read_release(obs.service),
        intent=read_intent(obs.service),
        lease=lease,
        endpoints=len(obs.endpoints),
    )


def history(kube: Kube, app: App) -> list[dict[str, Any]]:
    svc = _service(kube, app)
    entries = read_history(svc)
    current = read_release(svc)
    if current is not None and not current.phase.terminal:
        from kprism.model.release import history_entry

        entries.append(history_entry(current))
    return list(reversed(entries))


def _service(kube: Kube, app: App) -> Any:
    return observe(kube, app).service


@dataclass(frozen=True, kw_only=True)
class AppSummary:
    namespace: str
    name: str
    serving: str | None
    phase: str
    step: str
    tracks: str


def list_apps(
    kube: Kube, *, namespace: str | None, track_label: str = DEFAULT_TRACK_LABEL
) -> list[AppSummary]:
    """Services that are kprism apps: they carry release state or select by the track label."""
    out = []
    for svc in kube.list_services(namespace):
        st = read_release(svc) if "kprism.dev/release" in svc.annotations else None
        if st is None and track_label not in svc.selector:
            continue
        out.append(
            AppSummary(
                namespace=svc.namespace,
                name=svc.name,
                serving=svc.selector.get(track_label),
                phase=st.phase.value if st else "-",
                step=st.step if st else "-",
                tracks=f"{st.stable}→{st.candidate}" if st else "-",
            )
        )
    return out


# -- starting a release ---------------------------------------------------------------------


def _now() -> datetime:
    return datetime.now(UTC)


def new_release_id(now: datetime) -> str:
    return f"{now:%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:4]}"


def _check_no_release(obs: AppObs, app: App, kube: Kube) -> None:
    st = read_release(obs.service)
    if st is not None and not st.phase.terminal:
        holder = AppLease(kube, namespace=app.namespace, app=app.name).info()
        by = (
            f", driven by {holder.holder}"
            if holder and holder.holder and not holder.stale(_now())
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

    def to_dict(self) -> dict[str, Any]:
        from kprism.model.release import status_to_json

        return {
            "release": status_to_json(self.status),
            "steps": list(self.steps),
            "warnings": list(self.warnings),
        }


def plan_release(
    kube: Kube,
    app: App,
    spec: ReleaseSpec,
    *,
    stable_track: str | None = None,
    force: bool = False,
    now: datetime | None = None,
) -> ReleasePlan:
    """Validate a release against the cluster and describe it step by step. Changes nothing."""
    now = now or _now()
    obs = observe(kube, app)
    check_single_app(obs)
    _check_no_release(obs, app, kube)
    from kprism.ops.doctor import check_release  # lazily: ops.doctor imports this module

    warnings = check_release(kube, app, force=force)  # doctor rules: errors raise UsageError
    if spec.strategy == Strategy.CANARY:
        check_canary_spec(spec)
    if spec.change.empty:
        raise UsageError("nothing to release: give --image, --set-env or --patch-file")
    stable = _stable_track(obs, stable_track)
    assert stable.track is not None
    if stable.replicas == 0:
        raise UsageError(
            f"stable Deployment {stable.name} has 0 replicas: scale it up before releasing"
        )
    stable_hpa = next((h for h in obs.hpas if h.target == stable.name), None)
    if spec.strategy != Strategy.CANARY:
        _check_hpa(obs, stable, force=force)
    candidate = _candidate_track(obs, stable, spec.track)
    existing = obs.track(candidate)
    cand_name = (
        existing.name if existing else track_deployment_name(stable.name, stable.track, candidate)
    )
    if existing is None and obs.deployment(cand_name) is not None:
        raise UsageError(
            f"Deployment {cand_name} exists but is not the {candidate} track of {app.name}"
        )
    if existing is not None:
        _check_hpa(obs, existing, force=force)
    template = with_track(
        apply_change(stable.template, spec.change), label=app.track_label, track=candidate
    )
    cand_images = {
        c["name"]: c.get("image", "") for c in template.get("spec", {}).get("containers", [])
    }
    if cand_images == stable.images() and not spec.change.env and not spec.change.patch:
        raise UsageError(
            f"nothing to release: {stable.name} already runs {fmt_labels(cand_images)}"
        )
    status = ReleaseStatus(
        id=new_release_id(now),
        kind=Kind.RELEASE,
        spec=spec,
        phase=Phase.PROGRESSING,
        step=bluegreen.PIN,
        stable=stable.track,
        candidate=candidate,
        stable_deployment=stable.name,
        candidate_deployment=cand_name,
        replicas=stable.replicas,
        stable_images=stable.images(),
        candidate_images=cand_images,
        started_at=bluegreen.iso(now),
        step_started_at=bluegreen.iso(now),
        message="starting",
    )
    if spec.strategy == Strategy.CANARY:
        others = [
            d
            for d in obs.deployments
            if d.track not in (stable.track, candidate) and d.replicas > 0
        ]
        if others and spec.router == "replicas":
            names = ", ".join(
                f"{d.name} ({app.track_label}={d.track}, {d.replicas} replicas)" for d in others
            )
            raise UsageError(
                f"a canary with the replicas router makes Service {app.name} select every track, and "
                f"{names} would get traffic too: scale it to 0 or use --router gateway"
            )
        if stable_hpa is not None:
            status = status.evolve(
                hpa=stable_hpa.name,
                hpa_min=stable_hpa.min_replicas,
                hpa_max=stable_hpa.max_replicas,
            )
        check_router(kube, app, obs, spec)
        return ReleasePlan(status=status, steps=describe_canary(status, obs), warnings=warnings)
    return ReleasePlan(status=status, steps=describe_steps(status, obs), warnings=warnings)


def check_canary_spec(spec: ReleaseSpec) -> None:
    """Canary steps must be present and supported; routers must exist."""
    from kprism.model.steps import canary_spec_from_data

    if spec.canary is None:
        raise UsageError(
            "a canary needs steps: --steps 10,25,50,100 [--pause 2m] or -f release.yaml"
        )
    cs = canary_spec_from_data(dict(spec.canary))
    if any(type(s).__name__ == "Analysis" for s in cs.steps):
        raise UsageError(
            "analysis steps are not available yet (no analysis provider is installed): remove them"
        )
    if spec.router not in ("replicas", "gateway", "nginx"):
        raise UsageError(f"--router {spec.router!r} is unknown: use replicas, gateway or nginx")
    if spec.preview:
        raise UsageError(
            "--preview is for blue-green releases: canary steps expose the new version"
        )


def check_router(kube: Kube, app: App, obs: AppObs, spec: ReleaseSpec) -> None:
    if spec.router == "replicas":
        return
    from kprism.traffic import route_context, router_for

    router_for(spec.router).check(kube, route_context(obs, spec.router_options))


def start_release(
    kube: Kube,
    app: App,
    spec: ReleaseSpec,
    *,
    stable_track: str | None = None,
    force: bool = False,
    lease: AppLease | None = None,
    on_warning: Callable[[str], None] | None = None,
) -> tuple[ReleaseStatus, AppLease]:
    """Validate, take the Lease and record a new release. Nothing else changes yet.

    ``on_warning`` gets each pre-flight warning (a doctor finding) once the release is
    recorded, before the engine changes anything: a start that is refused prints only why.
    """
    plan = plan_release(kube, app, spec, stable_track=stable_track, force=force)
    lease = lease or AppLease(kube, namespace=app.namespace, app=app.name)
    lease.acquire()
    try:
        obs = observe(kube, app)
        _check_no_release(obs, app, kube)
        kube.patch_service(app.name, app.namespace, status_patch(obs.service, plan.status))
        kube.emit_event(
            namespace=app.namespace,
            service=app.name,
            reason="ReleaseStarted",
            message=(
                f"release {plan.status.id}: {plan.status.stable} → {plan.status.candidate} "
                f"({fmt_labels(plan.status.candidate_images)}) by {lease.identity}"
            ),
        )
    except BaseException:
        lease.release()
        raise
    for warning in plan.warnings:
        if on_warning is not None:
            on_warning(warning)
    return plan.status, lease


def drive(
    kube: Kube,
    app: App,
    *,
    lease: AppLease,
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


def release(
    kube: Kube,
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


def check_outcome(st: ReleaseStatus) -> ReleaseStatus:
    if st.phase in (Phase.FAILED, Phase.ABORTED):
        raise ReleaseFailed(
            f"release {st.id} {st.phase.value.lower()}: "
            f"{st.message.removeprefix('aborted: ').removeprefix('failed: ')}",
            phase=st.phase.value,
        )
    return st


# -- intents --------------------------------------------------------------------------------


def _identity() -> str:
    try:
        import getpass

        user = getpass.getuser()
    except Exception:
        user = "unknown"
    return f"{user}@{os.uname().nodename}"


def send_intent(
    kube: Kube,
    app: App,
    action: Action,
    *,
    reason: str = "",
    drive_if_unattended: bool = True,
    on_tick: TickHandler | None = None,
    timeout: float | None = None,
) -> ReleaseStatus:
    """Write an intent onto the app. If no engine holds the Lease, take it and act."""
    obs = observe(kube, app)
    st = read_release(obs.service)
    if st is None or st.phase.terminal:
        what = {
            Action.PROMOTE: "promote",
            Action.PROMOTE_FULL: "promote",
            Action.ABORT: "abort",
            Action.PAUSE: "pause",
            Action.RESUME: "resume",
        }[action]
        last = f" (last release {st.id} {st.phase.value.lower()})" if st else ""
        hint = (
            f"; to go back to the previous version use `kprism rollback {app.name}`"
            if action == Action.ABORT and st
            else ""
        )
        raise UsageError(
            f"nothing to {what}: app {app.name} has no release in progress{last}{hint}"
        )
    if action in (Action.PROMOTE, Action.PROMOTE_FULL) and st.spec.strategy == Strategy.CANARY:
        if st.aborting:
            raise UsageError(f"nothing to promote: release {st.id} is being aborted")
        if st.step not in (bluegreen.PIN, bluegreen.CREATE, "canary-step") or st.full:
            raise UsageError(
                f"nothing to promote: release {st.id} is past its steps (step {st.step})"
            )
    elif action in (Action.PROMOTE, Action.PROMOTE_FULL):
        if st.aborting:
            raise UsageError(f"nothing to promote: release {st.id} is being aborted")
        if st.step not in bluegreen.BEFORE_SWITCH or st.promoted or st.spec.auto_promote:
            raise UsageError(
                f"nothing to promote: release {st.id} is past promotion (step {st.step})"
                if st.step not in bluegreen.BEFORE_SWITCH
                else f"nothing to promote: release {st.id} is already promoted (step {st.step})"
            )
    if action == Action.PAUSE and st.paused:
        raise UsageError(f"release {st.id} is already paused")
    if action == Action.RESUME and not st.paused and st.phase != Phase.PAUSED:
        pass  # resume doubles as "drive it" below
    intent = Intent(
        action=action, release=st.id, by=_identity(), at=bluegreen.iso(_now()), reason=reason
    )
    if action != Action.RESUME or st.paused:
        write_intent(kube, app, intent)
    if not drive_if_unattended:
        return st
    lease = AppLease(kube, namespace=app.namespace, app=app.name)
    holder = lease.try_acquire()
    if holder is not None:
        return st  # a live engine holds the Lease: it sees the intent through its watch
    until = (
        None
        if (
            action in (Action.ABORT, Action.PROMOTE, Action.PROMOTE_FULL, Action.RESUME)
            and st.spec.strategy == Strategy.BLUEGREEN
        )
        or action in (Action.ABORT, Action.PROMOTE_FULL)
        else stop_at_wait_points
    )
    return drive(kube, app, lease=lease, on_tick=on_tick, until=until, timeout=timeout)


def write_intent(kube: Kube, app: App, intent: Intent, *, attempts: int = 20) -> None:
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


def resume(
    kube: Kube,
    app: App,
    *,
    on_tick: TickHandler | None = None,
    timeout: float | None = None,
    wait_for_lease: float = 0.0,
    clock: Clock | None = None,
) -> ReleaseStatus:
    """Take over an unattended (or crashed) release and drive it to the end."""
    obs = observe(kube, app)
    st = read_release(obs.service)
    if st is None:
        raise UsageError(f"nothing to resume: app {app.name} has no release")
    sent = False
    if st.paused and not st.phase.terminal:
        # A paused release: the resume intent is enough if an engine is driving it.
        write_intent(
            kube,
            app,
            Intent(action=Action.RESUME, release=st.id, by=_identity(), at=bluegreen.iso(_now())),
        )
        sent = True
    lease = AppLease(kube, namespace=app.namespace, app=app.name)
    clock = clock or SystemClock()
    start = clock.monotonic()
    while True:
        holder = lease.try_acquire()
        if holder is None:
            break
        if sent:
            return st  # the live engine holding the Lease sees the intent through its watch
        if clock.monotonic() - start >= wait_for_lease:
            raise LockedError(
                f"app {app.name} is being driven by {holder.holder} (renewed {holder.age(_now()):.0f}s ago): "
                f"it will be resumable once that Lease expires ({holder.duration}s without renewal)",
                holder=holder.holder,
            )
        threading.Event().wait(0.5)
    if st.phase.terminal:
        lease.release()
        return st
    return drive(kube, app, lease=lease, on_tick=on_tick, timeout=timeout)


def rollback(
    kube: Kube,
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
    serving = obs.serving_track()
    if serving is None:
        raise UsageError(f"nothing to roll back: Service {app.name} does not pin a track")
    current = obs.track(serving)
    previous = None
    for entry in reversed(read_history(obs.service)):
        if entry.get("phase") == Phase.SUCCEEDED.value and entry.get("candidate") == serving:
            previous = entry.get("stable")
            break
    if previous is None:
        others = [d for d in obs.deployments if d.track and d.track != serving]
        previous = others[0].track if len(others) == 1 else None
    prev_dep = obs.track(previous) if previous else None
    if current is None or prev_dep is None or previous is None:
        raise UsageError(f"nothing to roll back to: app {app.name} has no previous track")
    now = _now()
    status = ReleaseStatus(
        id=new_release_id(now),
        kind=Kind.ROLLBACK,
        spec=ReleaseSpec(auto_promote=True, scale_down_delay=scale_down_delay),
        phase=Phase.PROGRESSING,
        step=bluegreen.CREATE,
        stable=serving,
        candidate=previous,
        stable_deployment=current.name,
        candidate_deployment=prev_dep.name,
        replicas=max(current.replicas, 1),
        stable_images=current.images(),
        candidate_images=prev_dep.images(),
        started_at=bluegreen.iso(now),
        step_started_at=bluegreen.iso(now),
        message="rolling back",
    )
    lease = AppLease(kube, namespace=app.namespace, app=app.name)
    lease.acquire()
    try:
        obs = observe(kube, app)
        kube.patch_service(app.name, app.namespace, status_patch(obs.service, status))
        kube.emit_event(
            namespace=app.namespace,
            service=app.name,
            reason="RollbackStarted",
            message=f"rollback {status.id}: {serving} → {previous} by {lease.identity}",
        )
    except BaseException:
        lease.release()
        raise
    final = drive(
        kube,
        app,
        lease=lease,
        on_tick=on_tick,
        timeout=timeout,
        until=None if wait else stop_at_wait_points,
    )
    return check_outcome(final)


# -- direct operations ------------------------------------------------------------------------


def scale(kube: Kube, app: App, *, track: str, replicas: int) -> DeploymentObs:
    """Scale one track. Refuses to scale the serving track to 0 or to fight a release in flight."""
    if replicas < 0:
        raise UsageError("--replicas must be 0 or more")
    obs = observe(kube, app)
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
    lease = AppLease(kube, namespace=app.namespace, app=app.name)
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


def pin(kube: Kube, app: App, track: str) -> None:
    """Point the Service at one track (used by adopt; a flip without a release)."""
    obs = observe(kube, app)
    kube.apply(
        SetSelector(
            service=app.name,
            selector={**obs.app_selector, app.track_label: track},
            previous=dict(obs.service.selector),
        ),
        namespace=app.namespace,
        service=app.name,
    )


def adopt(
    kube: Kube,
    app: App,
    *,
    track: str = PALETTE[0],
    timeout: float = 300.0,
    on_progress: Callable[[str], None] | None = None,
    clock: Clock | None = None,
) -> str:
    """Bring an existing Deployment + Service into track form with zero downtime."""
    from kprism.plan.adopt import decide_adopt

    check_track(track, label=app.track_label)
    obs = observe(kube, app)
    check_single_app(obs)
    decide_adopt(obs, track=track)  # validate before taking anything
    for d in obs.deployments:
        _check_hpa(obs, d, force=False) if d.track is None else None
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


def clone(
    kube: Kube,
    app: App,
    *,
    track: str,
    change: Change,
    replicas: int = 1,
) -> str:
    """Clone the serving track into a new track with a change, without traffic ("one click
    to clone a new version"). Give it traffic with ``split`` or a release."""
    check_track(track, label=app.track_label)
    if replicas < 0:
        raise UsageError("--replicas must be 0 or more")
    if change.empty:
        raise UsageError("nothing to clone: give --image, --set-env or --patch-file")
    obs = observe(kube, app)
    check_single_app(obs)
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
    existing = obs.track(track)
    if existing is not None:
        raise UsageError(f"track {app.track_label}={track} already exists ({existing.name})")
    from kprism.model.actions import CreateDeployment
    from kprism.plan.template import track_deployment

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
    kube: Kube,
    app: App,
    weights: dict[str, int],
    *,
    router: str = "replicas",
    router_options: dict[str, str] | None = None,
    timeout: float = 300.0,
    on_progress: Callable[[str], None] | None = None,
    clock: Clock | None = None,
) -> str:
    """Rainbow: split traffic over several live tracks by weight (see kprism.plan.rainbow)."""
    import dataclasses

    from kprism.plan.rainbow import decide_split

    obs = observe(kube, app)
    st = read_release(obs.service)
    if st is not None and not st.phase.terminal:
        raise UsageError(
            f"release {st.id} of {app.name} is in progress: finish or abort it before a split"
        )
    if router not in ("replicas", "gateway", "nginx"):
        raise UsageError(f"--router {router!r} is unknown: use replicas, gateway or nginx")
    total = sum(d.replicas for d in obs.deployments if d.track and obs.ready_pods(d.track)) or max(
        (d.replicas for d in obs.deployments), default=1
    )
    ctx = None
    if router != "replicas":
        from kprism.traffic import route_context, router_for

        ctx = route_context(obs, router_options or {}, tracks=tuple(weights))
        router_for(router).check(kube, ctx)
    decide_split(obs, weights, router=router, total=total)  # validate before any change

    def decide() -> ConvergeStep:
        nonlocal ctx
        current = observe(kube, app)
        if router != "replicas":
            from kprism.traffic import route_context, router_for

            ctx = route_context(current, router_options or {}, tracks=tuple(weights))
            current = dataclasses.replace(
                current, route_weights=router_for(router).observed_weights(kube, ctx)
            )
        return decide_split(current, weights, router=router, total=total)

    def apply(action: KubeAction) -> None:
        if isinstance(action, SetWeights):
            from kprism.traffic import router_for

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


@dataclass(frozen=True, kw_only=True)
class SpecArgs:
    """Release options as the shells collect them."""

    images: Sequence[tuple[str, str]] = ()
    env: Sequence[tuple[str, str, str]] = ()
    patch: dict[str, Any] = field(default_factory=dict)
    strategy: Strategy = Strategy.BLUEGREEN
    preview: bool = False
    auto_promote: bool = False
    scale_down_delay: float = 30.0
    ready_timeout: float = 600.0
    track: str | None = None
    canary: dict[str, Any] | None = None
    router: str = "replicas"
    router_options: dict[str, str] = field(default_factory=dict)

    def to_spec(self) -> ReleaseSpec:
        env: dict[str, dict[str, str]] = {}
        for container, name, value in self.env:
            env.setdefault(container, {})[name] = value
        return ReleaseSpec(
            strategy=self.strategy,
            change=Change(images=dict(self.images), env=env, patch=self.patch),
            preview=self.preview,
            auto_promote=self.auto_promote,
            scale_down_delay=self.scale_down_delay,
            ready_timeout=self.ready_timeout,
            track=self.track,
            canary=self.canary,
            router=self.router,
            router_options=self.router_options,
        )
