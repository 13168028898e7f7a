"""An in-memory adapter that satisfies :class:`kprism.kube.api.KubeApi`, over the
blue-green simulator (:mod:`tests.unit.bgsim`), and a clock that only moves when told.

Ops and the engine run on it unchanged: the fake keeps the app Service's annotations
(with a resourceVersion precondition, so 409s are real), applies actions to the
simulator, records Events, holds Leases in memory, and its change feed advances the
simulated cluster (pods get ready, endpoints catch up) and the clock on every wait.
Test code only.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from kprism.errors import ConflictError, NotFoundError
from kprism.kube.api import Feed, KubeApi, Lock
from kprism.kube.client import ResourceKind
from kprism.kube.lease import LeaseInfo
from kprism.model.actions import KubeAction
from kprism.model.observed import AppObs, ServiceObs
from tests.unit.bgsim import T0, Sim

NS = "ns"
SERVICE = "hello"


class FakeClock:
    """``now``/``monotonic`` move only with ``sleep`` or ``advance``."""

    def __init__(self, start: datetime = T0) -> None:
        self.start = start
        self.t = 0.0

    def now(self) -> datetime:
        return self.start + timedelta(seconds=self.t)

    def monotonic(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += seconds

    def advance(self, seconds: float) -> None:
        self.t += seconds


class FakeLock:
    """A Lease in memory: ``holders`` is shared by every lock of one FakeKube."""

    def __init__(self, holders: dict[str, str], app: str, identity: str) -> None:
        self.holders = holders
        self.app = app
        self.identity = identity
        self.duration = 15
        self.held = False

    def info(self) -> LeaseInfo | None:
        holder = self.holders.get(self.app)
        return LeaseInfo(holder=holder, renewed=T0, duration=self.duration) if holder else None

    def try_acquire(self, now: datetime | None = None) -> LeaseInfo | None:
        holder = self.holders.get(self.app)
        if holder and holder != self.identity:
            return self.info()
        self.holders[self.app] = self.identity
        self.held = True
        return None

    def acquire(self, now: datetime | None = None) -> None:
        from kprism.errors import LockedError

        if self.try_acquire(now) is not None:
            raise LockedError(f"app {self.app} is locked", holder=self.holders[self.app])

    def renew_if_due(self, now: datetime) -> None:
        return None

    def release(self) -> None:
        if self.held and self.holders.get(self.app) == self.identity:
            del self.holders[self.app]
        self.held = False


class FakeFeed:
    """Each wait is one simulated tick: every Deployment gets one more ready pod."""

    def __init__(self, kube: FakeKube) -> None:
        self.kube = kube

    def __enter__(self) -> FakeFeed:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def wait(self, timeout: float) -> bool:
        self.kube.waits.append(timeout)
        self.kube.clock.advance(timeout)
        self.kube.sim.tick(list(self.kube.sim.deployments), seconds=timeout)
        return True


class FakeKube:
    """The adapter over a :class:`Sim` (one app, Service ``hello`` in namespace ``ns``)."""

    def __init__(self, sim: Sim, *, clock: FakeClock | None = None) -> None:
        self.sim = sim
        self.clock = clock or FakeClock()
        self.annotations: dict[str, str] = {}
        self.rv = 1
        self.events: list[tuple[str, str]] = []
        self.applied: list[KubeAction] = []
        self.patches: list[Mapping[str, Any]] = []
        self.holders: dict[str, str] = {}
        self.user = "alice@example.com"  # who the API server says this client is
        self.waits: list[float] = []
        self.fresh_observes = 0  # observe(fresh=True) calls: re-reads after a conflict
        #: called before each request by name ("observe", "patch_service", ...): raise to fail it
        self.fail: Callable[[str], None] = lambda call: None
        self._locks = 0

    @property
    def namespace(self) -> str:
        return NS

    def _service(self) -> ServiceObs:
        return ServiceObs(
            name=SERVICE,
            namespace=NS,
            selector=dict(self.sim.selector),
            annotations=dict(self.annotations),
            ports=({"port": 80},),
            resource_version=str(self.rv),
        )

    # reading
    def check_namespace(self, namespace: str) -> None:
        if namespace != NS:
            raise NotFoundError(f"no namespace {namespace}", kind="Namespace", name=namespace)

    def get_service(self, name: str, namespace: str) -> ServiceObs:
        self.fail("get_service")
        if (name, namespace) != (SERVICE, NS):
            raise NotFoundError(
                f"cannot get Service {name}", kind="Service", name=name, namespace=namespace
            )
        return self._service()

    def find_service(self, name: str, namespace: str) -> ServiceObs | None:
        try:
            return self.get_service(name, namespace)
        except NotFoundError:
            return None

    def watch_services(self, namespace: str | None) -> Callable[[], None]:
        return lambda: None

    def list_services(self, namespace: str | None) -> list[ServiceObs]:
        return [self._service()] if namespace in (None, NS) else []

    def raw_service(self, name: str, namespace: str) -> dict[str, Any]:
        svc = self.get_service(name, namespace)
        return {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": svc.name, "namespace": NS, "annotations": dict(svc.annotations)},
            "spec": {"selector": dict(svc.selector), "ports": [dict(p) for p in svc.ports]},
        }

    def list_objects(
        self, kind: str, namespace: str | None, labels: Mapping[str, str] | None = None
    ) -> list[dict[str, Any]]:
        """Raw Deployments of the simulator (for the doctor pre-flight); nothing else."""
        if kind != "Deployment":
            return []
        return [
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": d.name, "namespace": NS, "generation": d.generation},
                "spec": {
                    "replicas": d.replicas,
                    "selector": {"matchLabels": {"app": "hello", "color": d.track}},
                    "template": d.template,
                },
            }
            for d in self.sim.deployments.values()
        ]

    def observe(
        self, *, namespace: str, service: str, track_label: str, fresh: bool = False
    ) -> AppObs:
        self.fail("observe")
        self.fresh_observes += fresh
        svc = self.get_service(service, namespace)
        return dataclasses.replace(self.sim.observe(), service=svc)

    # writing
    def patch_service(self, name: str, namespace: str, patch: Mapping[str, Any]) -> ServiceObs:
        self.fail("patch_service")
        meta = patch.get("metadata", {})
        if meta.get("resourceVersion") not in (None, str(self.rv)):
            raise ConflictError(f"conflict: cannot patch Service {name}")
        for key, value in (meta.get("annotations") or {}).items():
            if value is None:
                self.annotations.pop(key, None)
            else:
                self.annotations[key] = value
        self.patches.append(patch)
        self.rv += 1
        return self._service()

    def json_patch_deployment(
        self, name: str, namespace: str, ops: list[dict[str, Any]]
    ) -> dict[str, Any]:
        raise NotImplementedError

    def apply(self, action: KubeAction, *, namespace: str, service: str) -> None:
        self.fail("apply")
        self.applied.append(action)
        self.sim.apply(action)

    def emit_event(
        self, *, namespace: str, service: str, reason: str, message: str, warning: bool = False
    ) -> None:
        self.events.append((reason, message))

    # generic objects: no router objects in this fake
    def get_object(self, res: ResourceKind, name: str, namespace: str) -> dict[str, Any]:
        raise NotFoundError(f"no {res.kind} {name}", kind=res.kind, name=name)

    def find_object(self, res: ResourceKind, name: str, namespace: str) -> dict[str, Any] | None:
        return None

    def create_object(self, res: ResourceKind, body: Mapping[str, Any]) -> None:
        raise NotImplementedError

    def replace_object(self, res: ResourceKind, body: Mapping[str, Any]) -> None:
        raise NotImplementedError

    def patch_object(
        self, res: ResourceKind, name: str, namespace: str, patch: Mapping[str, Any]
    ) -> None:
        raise NotImplementedError

    def delete_object(self, res: ResourceKind, name: str, namespace: str) -> None:
        return None

    # lock and change feed
    def whoami(self) -> str:
        return self.user

    def lease(self, *, namespace: str, app: str) -> Lock:
        self._locks += 1
        return FakeLock(self.holders, app, identity=f"test:{self._locks}")

    def feed(self, *, namespace: str, service: str, app_selector: Mapping[str, str]) -> Feed:
        return FakeFeed(self)


def fake(sim: Sim, *, clock: FakeClock | None = None) -> FakeKube:
    kube = FakeKube(sim, clock=clock)
    _: KubeApi = kube  # the type checker holds the fake to the adapter's Protocol
    return kube
