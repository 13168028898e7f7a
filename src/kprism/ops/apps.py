"""Naming and reading apps: connect, observe, status, history, list.

An app is named by its Service. Reading never changes anything and never takes the
app's Lease, so it works while another machine drives a release.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from kprism.errors import ForbiddenError, NotFoundError, UsageError
from kprism.kube.api import KubeApi
from kprism.kube.client import Kube, Target
from kprism.kube.lease import LeaseInfo
from kprism.kube.state import read_history, read_intent, read_operation, read_release
from kprism.model.observed import AppObs, DeploymentObs, ServiceObs
from kprism.model.operation import Operation, operation_to_json
from kprism.model.release import (
    ANNOTATION_RELEASE,
    ANNOTATION_TRACK_LABEL,
    Drift,
    Intent,
    ReleaseStatus,
    Strategy,
    history_entry,
    status_to_json,
)
from kprism.plan import canary, drift, health
from kprism.plan import siblings as sib
from kprism.plan.validate import check_label_key

DEFAULT_TRACK_LABEL = "color"


def connect(
    *,
    kubeconfig: str | None = None,
    context: str | None = None,
    namespace: str | None = None,
    as_user: str | None = None,
    as_groups: Sequence[str] = (),
) -> Kube:
    """Open a connection (kubeconfig file and context as kubectl would pick them).

    ``as_user``: every request impersonates that user (and ``as_groups``), so the API
    server authorizes it as them: the dashboard acting for a signed-in user."""
    path = kubeconfig or os.environ.get("KUBECONFIG", "").split(os.pathsep)[0]
    if path:
        check_kubeconfig(path)
    impersonate = (as_user, tuple(as_groups)) if as_user else None
    return Kube(
        Target(kubeconfig=kubeconfig, context=context, namespace=namespace, impersonate=impersonate)
    )


def check_kubeconfig(path: str) -> None:
    """Refuse, in one line, a kubeconfig file that is empty or not a kubeconfig (a missing
    or unreadable one is the adapter's to report)."""
    try:
        text = Path(path).read_text()
    except (OSError, ValueError, UnicodeDecodeError):
        return
    fix = "pass --kubeconfig PATH (or set KUBECONFIG) to a kubeconfig file"
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise UsageError(
            f"kubeconfig {path!r} is not valid YAML ({' '.join(str(exc).split())}): {fix}"
        ) from exc
    if data is None:
        raise UsageError(f"kubeconfig {path!r} is empty: {fix}")
    if not isinstance(data, dict) or not isinstance(data.get("clusters"), list):
        raise UsageError(f"kubeconfig {path!r} is not a kubeconfig (it lists no clusters): {fix}")


@dataclass(frozen=True, kw_only=True)
class App:
    """Names one app: a Service in a namespace, and the label that tells tracks apart."""

    name: str
    namespace: str
    track_label: str = DEFAULT_TRACK_LABEL


def app_ref(
    kube: KubeApi,
    name: str,
    *,
    namespace: str | None = None,
    track_label: str | None = None,
) -> App:
    """Name an app. Without ``track_label`` (the caller was not told one), the label the
    app was adopted or released with (stored on its Service), else the default."""
    namespace = namespace or kube.namespace
    if track_label is None:
        svc = kube.find_service(name, namespace)
        track_label = stored_track_label(svc) if svc is not None else DEFAULT_TRACK_LABEL
    check_label_key(track_label)
    return App(name=name, namespace=namespace, track_label=track_label)


def stored_track_label(svc: ServiceObs, default: str = DEFAULT_TRACK_LABEL) -> str:
    """The track label stored on an app's Service (``kprism.dev/track-label``), else
    ``default``; UsageError naming the annotation when it holds no label key."""
    stored = svc.annotations.get(ANNOTATION_TRACK_LABEL)
    if not stored:
        return default
    try:
        check_label_key(stored)
    except UsageError as exc:
        raise UsageError(
            f"annotation {ANNOTATION_TRACK_LABEL} on Service {svc.name} is not a label key "
            f"({exc}): fix it with `kubectl annotate --overwrite service {svc.name} "
            f"{ANNOTATION_TRACK_LABEL}=LABEL`"
        ) from exc
    return stored


def track_label_patch(app: App) -> dict[str, Any]:
    """A merge patch storing ``app``'s track label on its Service."""
    return {"metadata": {"annotations": {ANNOTATION_TRACK_LABEL: app.track_label}}}


def namespace_missing(kube: KubeApi, namespace: str) -> bool:
    """Whether ``namespace`` surely does not exist (False when we may not tell)."""
    try:
        kube.check_namespace(namespace)
    except NotFoundError:
        return True
    except Exception:  # forbidden to read namespaces: we cannot tell
        return False
    return False


def app_not_found(kube: KubeApi, app: App) -> NotFoundError:
    """The error for an app whose Service is missing: its namespace, or the app."""
    if namespace_missing(kube, app.namespace):
        return NotFoundError(
            f"namespace {app.namespace!r} does not exist: pass -n/--namespace with an "
            "existing namespace",
            kind="Namespace",
            name=app.namespace,
        )
    return NotFoundError(
        f"app {app.name!r} not found: there is no Service {app.name} in namespace "
        f"{app.namespace} (an app is named by its Service; see `kprism list`)",
        kind="Service",
        name=app.name,
        namespace=app.namespace,
    )


def check_no_operation(app: App, obs: AppObs, *, doing: str) -> None:
    """UsageError if a split of the app is in flight (or was left unfinished by a process
    that died): ``doing`` would fight it."""
    op = read_operation(obs.service)
    if op is not None and op.in_flight:
        raise UsageError(
            f"{op.kind.value} {op.id} of {app.name} ({op.to_text()}, by {op.by}) is not finished: "
            f"`kprism abort {app.name}` restores the traffic as it was before it "
            f"({op.from_text()}), or run the {op.kind.value} again to finish it; then {doing}"
        )


def observe(kube: KubeApi, app: App) -> AppObs:
    """Observe an app, turning a missing Service or namespace into a clear error."""
    try:
        return kube.observe(namespace=app.namespace, service=app.name, track_label=app.track_label)
    except NotFoundError as exc:
        if exc.kind == "Service" and exc.name == app.name:
            raise app_not_found(kube, app) from exc
        raise


@dataclass(frozen=True, kw_only=True)
class TrackView:
    track: str | None
    deployment: str
    replicas: int
    ready: int
    images: dict[str, str]
    serving: bool
    endpoints: int
    #: why its pods that are not ready are not (:func:`kprism.plan.health.explain`)
    not_ready: tuple[health.PodIssue, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        data = dict(self.__dict__)
        data["not_ready"] = [i.to_dict() for i in self.not_ready]
        return data


@dataclass(frozen=True, kw_only=True)
class ServiceView:
    """Another Service over the app's pods: what it selects and whether it moves with the
    app's Service (``moves``), or why kprism cannot move it (``problem``)."""

    name: str
    selector: dict[str, str]
    track: str | None  # the track it pins, None when it selects every track
    endpoints: int
    moves: bool
    in_line: bool  # it selects what the app's Service selects
    problem: str = ""


@dataclass(frozen=True, kw_only=True)
class AppStatus:
    app: App
    selector: dict[str, str]
    tracks: tuple[TrackView, ...]
    release: ReleaseStatus | None
    intent: Intent | None
    lease: LeaseInfo | None
    endpoints: int
    services: tuple[ServiceView, ...] = ()
    #: recent Warning Events of the pods that are not ready (Unhealthy, FailedScheduling ...)
    pod_events: tuple[health.PodEvent, ...] = ()
    #: what someone else changed of what the release in progress set, as it is now
    #: (also before an engine has seen it)
    drift: tuple[Drift, ...] = ()
    #: the last split/scale/clone (a split in flight can be aborted like a release)
    operation: Operation | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "app": self.app.name,
            "namespace": self.app.namespace,
            "trackLabel": self.app.track_label,
            "selector": self.selector,
            "readyEndpoints": self.endpoints,
            "tracks": [t.to_dict() for t in self.tracks],
            "podEvents": [e.to_dict() for e in self.pod_events],
            "services": [s.__dict__ for s in self.services],
            "drift": [d.__dict__ for d in self.drift],
            "release": status_to_json(self.release) if self.release else None,
            "intent": self.intent.__dict__ if self.intent else None,
            "operation": operation_to_json(self.operation) if self.operation else None,
            "lease": (
                {
                    "holder": self.lease.holder,
                    "renewed": self.lease.renewed.isoformat() if self.lease.renewed else None,
                }
                if self.lease and self.lease.holder
                else None
            ),
        }


def _pods_of(obs: AppObs, d: DeploymentObs) -> set[str]:
    """The pods of Deployment ``d``: those its ReplicaSets (``<deployment>-<hash>``) own;
    a pod without a known owner by its track label, when ``d`` has one."""
    pods = set()
    for p in obs.pods:
        if p.owner is not None:
            if p.owner.rpartition("-")[0] == d.name:
                pods.add(p.name)
        elif d.track is not None and p.track == d.track:
            pods.add(p.name)
    return pods


def _not_ready(obs: AppObs, names: set[str]) -> tuple[health.PodIssue, ...]:
    return tuple(
        issue
        for p in sorted(obs.pods, key=lambda p: p.name)
        if p.name in names
        for issue in health.explain(p)
    )


def track_views(obs: AppObs) -> tuple[TrackView, ...]:
    """One row per Deployment of the app: size, readiness, images, whether it serves, and
    the Service's ready endpoints among its own pods."""
    serving = obs.serving_track()
    return tuple(
        TrackView(
            track=d.track,
            deployment=d.name,
            replicas=d.replicas,
            ready=d.ready,
            images=d.images(),
            serving=(serving is None and d.ready > 0)
            or (serving is not None and d.track == serving),
            endpoints=len(obs.endpoints & _pods_of(obs, d)),
            not_ready=_not_ready(obs, _pods_of(obs, d)),
        )
        for d in obs.deployments
    )


def pod_events(kube: KubeApi, obs: AppObs) -> tuple[health.PodEvent, ...]:
    """Recent Warning Events of the app's pods that are not ready (one list of the
    namespace's Events, only when some pod is not ready; none where Events may not be
    listed)."""
    names = {p.name for p in obs.pods if not p.ready}
    if not names:
        return ()
    try:
        events = kube.list_objects("Event", obs.namespace)
    except ForbiddenError:
        return ()
    return health.pod_events(events, names)


def service_views(obs: AppObs) -> tuple[ServiceView, ...]:
    """One row per other Service over the app's pods (see :mod:`kprism.plan.siblings`)."""
    strays = {s.name for s in sib.strays(obs)}
    return tuple(
        ServiceView(
            name=s.name,
            selector=dict(s.service.selector),
            track=s.service.selector.get(obs.track_label),
            endpoints=len(s.endpoints),
            moves=sib.movable(obs, s),
            in_line=sib.movable(obs, s) and s.name not in strays,
            problem="" if sib.movable(obs, s) else sib.unmovable_reason(obs, s),
        )
        for s in obs.siblings
    )


def app_status(kube: KubeApi, app: App) -> AppStatus:
    obs = observe(kube, app)
    lease = kube.lease(namespace=app.namespace, app=app.name).info()
    st = read_release(obs.service)
    in_flight = st is not None and not st.phase.terminal and not st.aborting
    return AppStatus(
        app=app,
        selector=dict(obs.service.selector),
        tracks=track_views(obs),
        release=st,
        intent=read_intent(obs.service),
        lease=lease,
        endpoints=len(obs.endpoints),
        services=service_views(obs),
        pod_events=pod_events(kube, obs),
        drift=drift.check(st, obs, routes=False) if st is not None and in_flight else (),
        operation=read_operation(obs.service),
    )


def history(kube: KubeApi, app: App) -> list[dict[str, Any]]:
    svc = observe(kube, app).service
    entries = read_history(svc)
    current = read_release(svc)
    if current is not None and not current.phase.terminal:
        entries.append(history_entry(current))
    return list(reversed(entries))


def canary_steps(st: ReleaseStatus) -> list[dict[str, Any]]:
    """A canary release's steps with replica counts and achievable weights (for status
    and plan views): ``index``, ``kind``, ``weight``, ``candidate``, ``stable``,
    ``achieved``, ``pause``, ``untilPromote``."""
    return canary.describe(st)


@dataclass(frozen=True, kw_only=True)
class AppSummary:
    namespace: str
    name: str
    serving: str | None
    phase: str
    step: str
    tracks: str
    #: the last release: its strategy, tracks, and the candidate's traffic share now
    #: (a canary in flight: the achieved weight; otherwise 100 while the Service pins it)
    strategy: str = ""
    stable: str = ""
    candidate: str = ""
    weight: float = 0.0
    in_flight: bool = False


def _summary(svc: ServiceObs, default_label: str) -> AppSummary | None:
    track_label = svc.annotations.get(ANNOTATION_TRACK_LABEL) or default_label
    st = read_release(svc) if ANNOTATION_RELEASE in svc.annotations else None
    if st is None and track_label not in svc.selector:
        return None
    return AppSummary(
        namespace=svc.namespace,
        name=svc.name,
        serving=svc.selector.get(track_label),
        phase=st.phase.value if st else "-",
        step=st.step if st else "-",
        tracks=f"{st.stable}→{st.candidate}" if st else "-",
        strategy=st.spec.strategy.value if st else "",
        stable=st.stable if st else "",
        candidate=st.candidate if st else "",
        weight=_candidate_share(st, svc.selector.get(track_label)) if st else 0.0,
        in_flight=st is not None and not st.phase.terminal,
    )


def _candidate_share(st: ReleaseStatus, serving: str | None) -> float:
    if st.spec.strategy == Strategy.CANARY and not st.phase.terminal:
        return st.achieved_weight
    return 100.0 if serving == st.candidate else 0.0


def watch_apps(kube: KubeApi, *, namespace: str | None) -> Callable[[], None]:
    """Keep the apps of ``namespace`` (None: every namespace the user may list) in a watch
    cache: :func:`list_apps` then answers without a request (a long-running shell, such as
    the dashboard, calls this once). Falls back to the connection's default namespace
    where listing every namespace is forbidden. Returns the function that stops it."""
    try:
        return kube.watch_services(namespace)
    except ForbiddenError:
        if namespace is not None:
            raise
        return kube.watch_services(kube.namespace)


def list_apps(
    kube: KubeApi, *, namespace: str | None, track_label: str | None = None
) -> list[AppSummary]:
    """Services that are kprism apps: they carry release state or select by their track
    label (the one stored on each Service, else ``track_label``, else the default)."""
    track_label = track_label or DEFAULT_TRACK_LABEL
    out = []
    for svc in kube.list_services(namespace):
        summary = _summary(svc, track_label)
        if summary is not None:
            out.append(summary)
    return out
