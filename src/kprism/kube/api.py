"""The adapter's seam: what the rest of kprism may ask of the cluster, as Protocols.

:class:`~kprism.kube.client.Kube` is the one real implementation (lightkube, one
request per call). Operations, the engine and the routers are typed against
:class:`KubeApi`, so a test can hand them an in-memory fake that satisfies the same
Protocol (``tests/unit/fakekube.py``) and the type checker keeps the two in step.

Besides requests, the adapter hands out the two long-lived things an engine needs: the
app's :class:`Lock` (a ``coordination.k8s.io`` Lease) and a change :class:`Feed`
(watches), so that they too can be faked.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from kprism.model.actions import KubeAction
from kprism.model.observed import AppObs, ServiceObs

if TYPE_CHECKING:
    from kprism.kube.client import ResourceKind
    from kprism.kube.lease import LeaseInfo


class Lock(Protocol):
    """One app's lock: only its holder drives the app's release (see kube.lease)."""

    @property
    def identity(self) -> str: ...
    @property
    def duration(self) -> int: ...
    def info(self) -> LeaseInfo | None: ...
    def try_acquire(self, now: datetime | None = None) -> LeaseInfo | None: ...
    def acquire(self, now: datetime | None = None) -> None: ...
    def renew_if_due(self, now: datetime) -> None: ...
    def release(self) -> None: ...


class Feed(Protocol):
    """Wakes a waiter when anything of an app changes (see kube.watch, kube.cache)."""

    def __enter__(self) -> Feed: ...
    def __exit__(self, *exc: object) -> None: ...
    def wait(self, timeout: float) -> bool: ...


class KubeApi(Protocol):
    """Everything kprism asks of one cluster; each call is one request (or one watch)."""

    @property
    def namespace(self) -> str:
        """The default namespace (the kubeconfig context's, or ``-n``)."""

    # reading
    def check_namespace(self, namespace: str) -> None: ...
    def get_service(self, name: str, namespace: str) -> ServiceObs: ...
    def find_service(self, name: str, namespace: str) -> ServiceObs | None: ...
    def list_services(self, namespace: str | None) -> list[ServiceObs]: ...
    def raw_service(self, name: str, namespace: str) -> dict[str, Any]: ...
    def list_objects(
        self, kind: str, namespace: str | None, labels: Mapping[str, str] | None = None
    ) -> list[dict[str, Any]]: ...
    def observe(
        self, *, namespace: str, service: str, track_label: str, fresh: bool = False
    ) -> AppObs:
        """The app's snapshot; from a watch cache where one runs, unless ``fresh``."""

    # writing
    def patch_service(self, name: str, namespace: str, patch: Mapping[str, Any]) -> ServiceObs: ...
    def json_patch_deployment(
        self, name: str, namespace: str, ops: list[dict[str, Any]]
    ) -> dict[str, Any]: ...
    def apply(self, action: KubeAction, *, namespace: str, service: str) -> None: ...
    def emit_event(
        self, *, namespace: str, service: str, reason: str, message: str, warning: bool = False
    ) -> None: ...

    # generic objects (routers)
    def get_object(self, res: ResourceKind, name: str, namespace: str) -> dict[str, Any]: ...
    def find_object(
        self, res: ResourceKind, name: str, namespace: str
    ) -> dict[str, Any] | None: ...
    def create_object(self, res: ResourceKind, body: Mapping[str, Any]) -> None: ...
    def replace_object(self, res: ResourceKind, body: Mapping[str, Any]) -> None: ...
    def patch_object(
        self, res: ResourceKind, name: str, namespace: str, patch: Mapping[str, Any]
    ) -> None: ...
    def delete_object(self, res: ResourceKind, name: str, namespace: str) -> None: ...

    def watch_services(self, namespace: str | None) -> Callable[[], None]:
        """Serve :meth:`list_services` from a watch until the returned function is called."""

    def whoami(self) -> str:
        """The user this client acts as, as the API server authenticates it (audit)."""

    # lock and change feed
    def lease(self, *, namespace: str, app: str) -> Lock: ...
    def feed(self, *, namespace: str, service: str, app_selector: Mapping[str, str]) -> Feed: ...
