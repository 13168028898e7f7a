"""The controller: every app's release driven in the cluster, by the same engine.

One process (or one replica per shard) watches the apps in its scope through the shared
watch cache — one informer per resource kind, for all namespaces or per listed
namespace, never one watch per app — and turns events into *keys* (apps) on a work
queue (:mod:`kprism.controller.queue`): one worker handles one app at a time, workers
are bounded threads, failures are retried with a per-app back-off.

Handling an app (:meth:`Controller.reconcile`) is level-triggered: it reads the app's
Service from the cache and

- a release in flight (annotation ``kprism.dev/release``, not finished): take the app's
  Lease when it is free or stale (a CLI that crashed, a controller replica that died),
  then run **one engine step** (``Engine.step``: observe → decide → record → act) per
  wake-up; the app's next wake-up is its next event or the step's requeue time. Intents
  written by the CLI or the dashboard are Service events: they wake the app at once;
- a release request (``kprism.dev/release-request``, written by ``kprism release`` when
  a controller covers the app): start it under the app's Lease, or mark it refused;
- a GitOps source Deployment (``kprism.dev/source-of``) whose template the serving
  track does not run: release it (:mod:`kprism.ops.sources`).

Only the replica leading the app's shard (:mod:`kprism.controller.election`) does any of
this; a replica that loses the lead gives back the apps' Leases.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

from kprism.controller.election import Elector
from kprism.controller.metrics import Metrics
from kprism.controller.queue import WorkQueue
from kprism.engine.clock import Clock, SystemClock
from kprism.engine.loop import MAX_WAIT, Engine, Tick
from kprism.errors import ConflictError, KprismError, LockedError, UsageError
from kprism.kube.cache import APP_KINDS, DEPLOYMENTS, SERVICES, Informer, Kind
from kprism.kube.client import Kube, service_obs
from kprism.kube.lease import AppLease, LeaseInfo
from kprism.kube.state import read_history, read_intent, read_release
from kprism.kube.watch import concerns
from kprism.model.observed import ServiceObs
from kprism.model.release import (
    ANNOTATION_RELEASE,
    ANNOTATION_RELEASE_REQUEST,
    ANNOTATION_SOURCE_OF,
    Action,
    Intent,
    ReleaseStatus,
)
from kprism.ops.apps import DEFAULT_TRACK_LABEL, App, stored_track_label
from kprism.ops.handover import controller_identity, read_request, take_request
from kprism.ops.intents import write_intent
from kprism.ops.sources import source_spec, start_source_release
from kprism.plan.analysis import next_due_in
from kprism.plan.controller import (
    ANNOTATION_SCOPE,
    Scope,
    SourceVerdict,
    controller_lease_name,
    decide_source,
    source_moved,
)
from kprism.plan.machine import iso, parse_iso

log = logging.getLogger("kprism.controller")

AppKey = tuple[str, str]  # (namespace, Service name)


@dataclass(frozen=True, kw_only=True)
class Config:
    """How one controller replica runs (``kprism controller``'s options)."""

    scope: Scope = field(default_factory=Scope)
    lease_namespace: str = "kprism-system"
    workers: int = 4
    track_label: str = DEFAULT_TRACK_LABEL
    identity: str | None = None
    lease_duration: int = 15  # seconds, for the shard's Lease and the apps' Leases
    standby_retry: float = 2.0  # seconds between a standby's tries of the shard's Lease
    resync: float = 300.0  # seconds between two looks at every app (a safety net)
    sync_timeout: float = 30.0  # seconds to wait for the caches at start


@dataclass
class _Driven:
    """An app whose Lease this replica holds, and the engine that drives it."""

    engine: Engine
    lease: AppLease
    release: str
    fresh: bool = False
    status: ReleaseStatus | None = None  # after the last step (the cache may lag behind)


class Controller:
    def __init__(self, kube: Kube, config: Config, *, clock: Clock | None = None) -> None:
        self.kube = kube
        self.config = config
        self.scope = config.scope
        self.identity = config.identity or controller_identity()
        self.clock = clock or SystemClock()
        self.queue: WorkQueue[AppKey] = WorkQueue()
        self.counts: Counter[str] = Counter()
        self._driven: dict[AppKey, _Driven] = {}
        self._active: dict[str, dict[str, dict[str, str]]] = {}  # ns → app → its pod labels
        self._reported: dict[AppKey, str] = {}  # the last problem reported per app
        # monotonic time of the earliest watch event for each app since it was last
        # looked at: the start of kprism_reaction_seconds
        self._woken: dict[AppKey, float] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._unsubscribe: list[Callable[[], None]] = []
        self.elector = Elector(
            kube,
            namespace=config.lease_namespace,
            name=controller_lease_name(self.scope.shard, self.scope.shards),
            identity=self.identity,
            annotations={ANNOTATION_SCOPE: self.scope.to_json()},
            duration=config.lease_duration,
            retry=config.standby_retry,
            on_change=self._leading_changed,
        )
        self.metrics = Metrics(self)

    # -- life cycle ---------------------------------------------------------------------------

    def _scopes(self) -> list[str | None]:
        return list(self.scope.namespaces) or [None]

    def start(self) -> None:
        """Subscribe to the caches (one informer per kind and scope), then start the
        workers and the leader election."""
        for ns in self._scopes():  # every informer starts now; they sync in parallel
            self._unsubscribe.append(
                self.kube.cache.subscribe(APP_KINDS, ns, self._on_event, sync_timeout=0.0)
            )
        deadline = time.monotonic() + self.config.sync_timeout
        while self.unsynced() and time.monotonic() < deadline:
            time.sleep(0.05)
        for where in self.unsynced():  # the others keep working; /readyz says 503
            log.warning("cannot watch %s (RBAC?): its apps are not driven", where)
        for i in range(max(1, self.config.workers)):
            t = threading.Thread(target=self._work, daemon=True, name=f"kprism-worker-{i}")
            t.start()
            self._threads.append(t)
        resync = threading.Thread(target=self._resync_loop, daemon=True, name="kprism-resync")
        resync.start()
        self._threads.append(resync)
        self.elector.start()

    def stop(self, *, release: bool = True) -> None:
        """Stop. ``release``: give back the shard's and the apps' Leases so another
        replica (or a CLI) continues at once; False behaves as a crash would (the Leases
        expire), for tests."""
        self._stop.set()
        self.queue.shutdown()
        for t in self._threads:
            t.join(timeout=30)
        self.elector.stop(release=release)
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe.clear()
        if release:
            for key in list(self._driven):
                self._let_go(key)
        self._driven.clear()

    def unsynced(self) -> list[str]:
        """The kinds and scopes whose informers have not synced (or whose watch is down):
        a namespace the controller may not watch shows up here."""
        return [
            f"{kind.name}s in {ns or 'all namespaces'}"
            for ns in self._scopes()
            for kind in APP_KINDS
            if self._informer(kind, ns) is None
        ]

    def alive(self) -> bool:
        """The workers and the election run (a liveness probe)."""
        return (
            bool(self._threads)
            and all(t.is_alive() for t in self._threads)
            and self.elector.running()
        )

    def ready(self) -> bool:
        """Alive, and every cache synced (leading or standing by: a readiness probe)."""
        return self.alive() and not self.unsynced()

    def leading(self) -> bool:
        return self.elector.holds()

    def driven(self) -> list[AppKey]:
        with self._lock:
            return sorted(self._driven)

    def stats(self) -> dict[str, Any]:
        return {
            "leading": self.leading(),
            "driven": len(self._driven),
            "queue": self.queue.stats(),
            "cache": self.kube.cache.stats(),
            **self.counts,
        }

    # -- events → keys ------------------------------------------------------------------------

    def _leading_changed(self, leading: bool) -> None:
        self.counts["leader_transitions"] += 1
        self._resync()  # leading: look at every app; not: let every app go

    def _resync_loop(self) -> None:
        while not self._stop.wait(self.config.resync):
            self._resync()

    def _resync(self) -> None:
        """Queue every app in scope: Services with release state, apps named by sources,
        and the apps this replica drives."""
        keys: set[AppKey] = set(self._driven)
        for ns in self._scopes():
            services = self._informer(SERVICES, ns)
            if services is not None:
                for svc in services.items(ns):
                    meta = svc.get("metadata") or {}
                    ann = meta.get("annotations") or {}
                    if ANNOTATION_RELEASE in ann or ANNOTATION_RELEASE_REQUEST in ann:
                        keys.add((meta.get("namespace", ""), meta.get("name", "")))
            deployments = self._informer(DEPLOYMENTS, ns)
            if deployments is not None:
                for dep in deployments.items(ns):
                    meta = dep.get("metadata") or {}
                    app = (meta.get("annotations") or {}).get(ANNOTATION_SOURCE_OF)
                    if app:
                        keys.add((meta.get("namespace", ""), app))
        for key in keys:
            if self.scope.watches_namespace(key[0]):
                self.queue.add(key)

    def _on_event(self, kind: str, event: str, obj: Mapping[str, Any]) -> None:
        """Called by the informers' threads: route the event to the apps it concerns."""
        if event == "RELISTED":
            self._resync()
            return
        meta = obj.get("metadata") or {}
        ns = str(meta.get("namespace", ""))
        if not self.scope.watches_namespace(ns):
            return
        ann = meta.get("annotations") or {}
        if kind == "Service" and (
            ANNOTATION_RELEASE in ann or ANNOTATION_RELEASE_REQUEST in ann or event == "DELETED"
        ):
            self._wake((ns, str(meta.get("name", ""))))
        elif kind == "Deployment" and ann.get(ANNOTATION_SOURCE_OF):
            self._wake((ns, str(ann[ANNOTATION_SOURCE_OF])))
        with self._lock:
            active = list(self._active.get(ns, {}).items())
        for app, labels in active:
            if concerns(kind, obj, namespace=ns, service=app, selector=labels):
                self._wake((ns, app))

    def _wake(self, key: AppKey) -> None:
        """Queue ``key`` for a watch event, noting when it was observed."""
        with self._lock:
            self._woken.setdefault(key, time.monotonic())
        self.queue.add(key)

    def _set_active(self, key: AppKey, labels: Mapping[str, str] | None) -> None:
        ns, name = key
        with self._lock:
            apps = self._active.setdefault(ns, {})
            if labels is None:
                apps.pop(name, None)
                if not apps:
                    self._active.pop(ns, None)
            else:
                apps[name] = dict(labels)

    # -- workers ---------------------------------------------------------------------------------

    def _work(self) -> None:
        while not self._stop.is_set():
            key = self.queue.get(timeout=1.0)
            if key is None:
                continue
            try:
                after = self.reconcile(key)
                self.queue.forget(key)
                if after is not None:
                    self.queue.add_after(key, after)
            except Exception as exc:
                self.counts["errors"] += 1
                delay = self.queue.add_rate_limited(key)
                log.warning(
                    "app %s/%s: %s (again in %.1fs)",
                    *key,
                    exc,
                    delay,
                    extra={"namespace": key[0], "app": key[1]},
                    exc_info=not isinstance(exc, KprismError),
                )
            finally:
                self.queue.done(key)

    def _informer(self, kind: Kind, ns: str | None) -> Informer | None:
        """The cache's synced informer for ``kind`` in ``ns`` (None: all namespaces)."""
        found: Informer | None = cast(Any, self.kube.cache).watching(kind, ns)
        return found

    def _service(self, ns: str, name: str) -> ServiceObs | None:
        services = self._informer(SERVICES, ns)
        if services is None:
            return self.kube.find_service(name, ns)
        raw = services.get(ns, name)
        return service_obs(raw) if raw is not None else None

    def _sources(self, ns: str, app: str) -> list[dict[str, Any]]:
        deployments = self._informer(DEPLOYMENTS, ns)
        items = (
            deployments.items(ns)
            if deployments is not None
            else self.kube.list_objects("Deployment", ns)
        )
        return sorted(
            (
                d
                for d in items
                if ((d.get("metadata") or {}).get("annotations") or {}).get(ANNOTATION_SOURCE_OF)
                == app
            ),
            key=lambda d: str((d.get("metadata") or {}).get("name", "")),
        )

    def reconcile(self, key: AppKey) -> float | None:
        """Do what app ``key`` needs now; seconds until it must be looked at again
        (None: only on its next event)."""
        self.counts["reconciles"] += 1
        with self._lock:
            woken = self._woken.pop(key, None)
        if woken is not None:
            self.metrics.queue_wait.observe(time.monotonic() - woken)
        ns, name = key
        svc = self._service(ns, name)
        if svc is None or not (self.leading() and self.scope.covers(ns, name, svc.labels)):
            self._let_go(key)
            self._set_active(key, None)
            return None
        try:
            label = stored_track_label(svc, self.config.track_label)
        except UsageError as exc:
            self._report(key, App(name=name, namespace=ns), "BadTrackLabel", str(exc))
            return None
        app = App(name=name, namespace=ns, track_label=label)
        try:
            st = read_release(svc)
        except UsageError as exc:
            self._report(key, app, "BadReleaseState", str(exc))
            return None
        if st is not None and not st.phase.terminal:
            self._set_active(key, {k: v for k, v in svc.selector.items() if k != label})
            return self._drive(key, app, svc, st, woken=woken)
        self._set_active(key, None)
        self._let_go(key)
        req = read_request(svc)
        if req is not None and not req.refused:
            return self._take_request(key, app, svc, req)
        sources = self._sources(ns, name)
        if len(sources) > 1:
            names = ", ".join(str(s["metadata"]["name"]) for s in sources)
            self._report(key, app, "SourceRefused", f"several source Deployments name it: {names}")
            return None
        if sources:
            return self._release_source(key, app, svc, st, sources[0])
        return None

    # -- driving ------------------------------------------------------------------------------

    def _app_lease(self, app: App) -> AppLease:
        return AppLease(
            self.kube,
            namespace=app.namespace,
            app=app.name,
            identity=self.identity,
            duration=self.config.lease_duration,
        )

    def _until_stale(self, holder: LeaseInfo) -> float:
        """Seconds until ``holder``'s Lease is stale if it stops renewing it."""
        left = holder.duration - holder.age(datetime.now(UTC))
        return max(0.5, min(left + 0.5, float(holder.duration)))

    def _adopt(self, key: AppKey, app: App, lease: AppLease, release: str) -> _Driven:
        engine = Engine(
            self.kube,
            namespace=app.namespace,
            service=app.name,
            track_label=app.track_label,
            lease=lease,
            clock=self.clock,
            on_tick=lambda tick: self._tick(app, tick),
        )
        driven = _Driven(engine=engine, lease=lease, release=release)
        with self._lock:
            self._driven[key] = driven
        return driven

    def _drive(
        self,
        key: AppKey,
        app: App,
        svc: ServiceObs,
        st: ReleaseStatus,
        *,
        woken: float | None = None,
    ) -> float | None:
        driven = self._driven.get(key)
        if driven is None:
            lease = self._app_lease(app)
            holder = lease.try_acquire()
            if holder is not None:  # a CLI, a dashboard or another replica drives it
                return self._until_stale(holder)
            driven = self._adopt(key, app, lease, st.id)
            self.counts["adopted"] += 1
            self.metrics.started.labels(st.spec.strategy.value, "adopted").inc()
            log.info(
                "driving release %s at step %s",
                st.id,
                st.step,
                extra={
                    "namespace": app.namespace,
                    "app": app.name,
                    "release": st.id,
                    "step": st.step,
                },
            )
            self.kube.emit_event(
                namespace=app.namespace,
                service=app.name,
                reason="ControllerDriving",
                message=f"release {st.id} at step {st.step}: driven by {self.identity}",
            )
        driven.release = st.id
        self._abort_if_source_moved(app, svc, st)
        before = driven.status if driven.status is not None and driven.status.id == st.id else st
        started = time.monotonic()
        try:
            decision, _ = driven.engine.step(fresh=driven.fresh)
            driven.fresh = False
        except ConflictError:
            self.counts["conflicts"] += 1
            driven.fresh = True  # someone wrote meanwhile: decide again on fresh state
            return 0.0
        except LockedError as exc:  # the Lease expired and someone else took it
            log.warning("%s", exc, extra={"namespace": app.namespace, "app": app.name})
            with self._lock:
                self._driven.pop(key, None)
            return 1.0
        self.counts["steps"] += 1
        acted = time.monotonic()
        self.metrics.engine_step.observe(acted - started)
        if decision.actions and woken is not None:
            self.metrics.reaction.observe(acted - woken)
        self._observe_step(before, decision.status)
        driven.status = decision.status
        if decision.done:
            self.counts["finished"] += 1
            self.metrics.finished.labels(
                decision.status.phase.value, decision.status.spec.strategy.value
            ).inc()
            log.info(
                "release %s %s",
                decision.status.id,
                decision.status.phase.value.lower(),
                extra={
                    "namespace": app.namespace,
                    "app": app.name,
                    "release": st.id,
                    "step": decision.status.step,
                    "phase": decision.status.phase.value,
                },
            )
            self._let_go(key)
            return 0.0  # look again: a request or a newer source may wait
        # as Engine.run waits, but on the queue: events of the app wake it earlier
        wait = decision.requeue_after if decision.requeue_after is not None else MAX_WAIT
        wait = min(wait, MAX_WAIT, driven.lease.duration / 3)
        if decision.actions:
            wait = min(wait, 1.0)
        due = next_due_in(decision.status, self.clock.now())
        if due is not None:  # the next analysis measurement
            wait = min(wait, due)
        return max(wait, 0.05)

    def _observe_step(self, before: ReleaseStatus, after: ReleaseStatus) -> None:
        """A release that left a step (or ended in it): how long it was there, by the
        status' own times."""
        if after.id != before.id or before.phase.terminal:
            return
        if after.step != before.step:
            end = after.step_started_at
        elif after.phase.terminal:
            end = after.finished_at
        else:
            return
        start, stop = parse_iso(before.step_started_at), parse_iso(end)
        if start is None or stop is None:
            return
        self.metrics.step_duration.labels(before.spec.strategy.value, before.step).observe(
            max(0.0, (stop - start).total_seconds())
        )

    def _tick(self, app: App, tick: Tick) -> None:
        st = tick.status
        extra = {
            "namespace": app.namespace,
            "app": app.name,
            "release": st.id,
            "step": st.step,
            "phase": st.phase.value,
        }
        for action in tick.actions:
            log.info("%s", action, extra=extra)

    def _let_go(self, key: AppKey) -> None:
        with self._lock:
            driven = self._driven.pop(key, None)
        if driven is None:
            return
        try:
            driven.lease.release()
        except KprismError as exc:
            log.warning("could not give back the Lease of %s/%s: %s", *key, exc)

    def _report(self, key: AppKey, app: App, reason: str, message: str) -> None:
        """A problem with an app, as a warning Event — once, not on every look."""
        if self._reported.get(key) == message:
            return
        self._reported[key] = message
        log.warning("%s", message, extra={"namespace": app.namespace, "app": app.name})
        try:
            self.kube.emit_event(
                namespace=app.namespace,
                service=app.name,
                reason=reason,
                message=message,
                warning=True,
            )
        except KprismError as exc:
            log.warning("could not emit an Event: %s", exc)

    # -- starting releases ------------------------------------------------------------------------

    def _take_request(self, key: AppKey, app: App, svc: ServiceObs, req: Any) -> float | None:
        lease = self._app_lease(app)
        try:
            st, _ = take_request(self.kube, app, svc, req, lease=lease)
        except LockedError:
            return float(self.config.lease_duration) / 3
        except UsageError as exc:
            self.counts["refused"] += 1
            log.warning(
                "release request %s refused: %s",
                req.id,
                exc,
                extra={"namespace": app.namespace, "app": app.name, "release": req.id},
            )
            return None
        self.counts["started"] += 1
        self.metrics.started.labels(st.spec.strategy.value, "request").inc()
        self._adopt(key, app, lease, st.id)
        return 0.0

    def _release_source(
        self,
        key: AppKey,
        app: App,
        svc: ServiceObs,
        current: ReleaseStatus | None,
        source: Mapping[str, Any],
    ) -> float | None:
        try:
            obs = self.kube.observe(
                namespace=app.namespace, service=app.name, track_label=app.track_label
            )
        except UsageError as exc:
            self._report(key, app, "SourceRefused", f"cannot release the source: {exc}")
            return None
        decision = decide_source(source, obs, current, read_history(svc))
        if decision.verdict == SourceVerdict.REFUSE:
            self._report(key, app, "SourceRefused", decision.reason)
            return None
        if decision.verdict != SourceVerdict.RELEASE:
            self._reported.pop(key, None)
            return None
        try:
            spec = source_spec(
                source, svc.annotations, app, template=decision.template, tag=decision.tag
            )
            lease = self._app_lease(app)
            st, _ = start_source_release(self.kube, app, spec, lease=lease)
        except LockedError:
            return float(self.config.lease_duration) / 3
        except UsageError as exc:
            self.counts["refused"] += 1
            self._report(key, app, "SourceRefused", f"{decision.tag} not released: {exc}")
            return None
        self._reported.pop(key, None)
        self.counts["started"] += 1
        self.metrics.started.labels(st.spec.strategy.value, "source").inc()
        log.info(
            "release %s of %s started",
            st.id,
            decision.tag,
            extra={"namespace": app.namespace, "app": app.name, "release": st.id},
        )
        self._adopt(key, app, lease, st.id)
        return 0.0

    def _abort_if_source_moved(self, app: App, svc: ServiceObs, st: ReleaseStatus) -> None:
        """A release of a source's older template: the newest wins, abort this one."""
        if not st.spec.source or read_intent(svc) is not None:
            return
        for source in self._sources(app.namespace, app.name):
            reason = source_moved(source, st)
            if reason is not None:
                log.info(
                    "aborting: %s",
                    reason,
                    extra={"namespace": app.namespace, "app": app.name, "release": st.id},
                )
                write_intent(
                    self.kube,
                    app,
                    Intent(
                        action=Action.ABORT,
                        release=st.id,
                        by=self.identity,
                        at=iso(datetime.now(UTC)),
                        reason=reason,
                    ),
                )
                return
