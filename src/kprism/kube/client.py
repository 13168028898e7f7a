"""The Kubernetes adapter: observe one app, apply one action, one request per call.

This module (with the rest of :mod:`kprism.kube`) is the only code in kprism that
talks to the API server. It knows nothing about releases: it turns API objects into
:mod:`kprism.model.observed` snapshots and :mod:`kprism.model.actions` into requests.
Waiting, retrying and deciding live elsewhere.
"""

from __future__ import annotations

import contextlib
import functools
import os
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

import httpx2
from lightkube import Client, KubeConfig
from lightkube.codecs import from_dict
from lightkube.config.client_adapter import ConnectionParams
from lightkube.config.kubeconfig import SingleConfig
from lightkube.generic_resource import create_namespaced_resource
from lightkube.models.core_v1 import EventSource, ObjectReference
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.autoscaling_v2 import HorizontalPodAutoscaler
from lightkube.resources.core_v1 import ConfigMap, Event, Namespace, Pod, Secret, Service
from lightkube.resources.discovery_v1 import EndpointSlice
from lightkube.resources.networking_v1 import Ingress
from lightkube.resources.policy_v1 import PodDisruptionBudget
from lightkube.types import PatchType

from kprism.errors import ClusterError, KprismError, NotFoundError, UsageError
from kprism.kube.cache import (
    APP_KINDS,
    DEPLOYMENTS,
    ENDPOINT_SLICES,
    HPAS,
    PODS,
    SERVICES,
    ClusterCache,
    Informer,
)
from kprism.kube.cache import Kind as CacheKind
from kprism.kube.errors import translating
from kprism.model.actions import (
    CreateDeployment,
    DeleteDeployment,
    DeleteHpa,
    DeleteService,
    EmitEvent,
    EnsureHpa,
    EnsureService,
    KubeAction,
    ReplaceTemplate,
    ScaleDeployment,
    SetSelector,
)
from kprism.model.observed import (
    AppObs,
    ContainerObs,
    DeploymentObs,
    HpaObs,
    PodObs,
    ServiceObs,
    SiblingObs,
)
from kprism.model.release import ANNOTATION_SOURCE_OF, LABEL_MANAGED

if TYPE_CHECKING:
    from kprism.kube.lease import AppLease
    from kprism.kube.watch import AppFeed

FIELD_MANAGER = "kprism"

#: What :meth:`Kube.list_objects` can list, by ``kind`` as manifests spell it.
_LISTABLE: dict[str, Any] = {
    "Service": Service,
    "Deployment": Deployment,
    "Pod": Pod,
    "PodDisruptionBudget": PodDisruptionBudget,
    "HorizontalPodAutoscaler": HorizontalPodAutoscaler,
    "EndpointSlice": EndpointSlice,
    "ConfigMap": ConfigMap,  # shared analysis templates (kprism.ops.analysis)
    "Event": Event,  # why pods are not ready (kprism.ops.apps status)
}


@dataclass(frozen=True, kw_only=True)
class ResourceKind:
    """A namespaced resource type, for the generic object calls (``get_object`` …) that
    routers use for objects the adapter has no typed method for (Ingress, HTTPRoute)."""

    api_version: str  # "v1", "networking.k8s.io/v1", "gateway.networking.k8s.io/v1"
    kind: str
    plural: str


SERVICE = ResourceKind(api_version="v1", kind="Service", plural="services")
INGRESS = ResourceKind(api_version="networking.k8s.io/v1", kind="Ingress", plural="ingresses")
SECRET = ResourceKind(api_version="v1", kind="Secret", plural="secrets")  # kprism.notify

_BUILTIN: dict[ResourceKind, Any] = {SERVICE: Service, INGRESS: Ingress, SECRET: Secret}


@functools.cache
def _resource(res: ResourceKind) -> Any:
    """The lightkube resource class of ``res`` (built in, or a generic one for a CRD)."""
    if res in _BUILTIN:
        return _BUILTIN[res]
    group, _, version = res.api_version.rpartition("/")
    return create_namespaced_resource(group, version, res.kind, res.plural)


@dataclass(frozen=True, kw_only=True)
class Target:
    """Where to connect: a kubeconfig file, a context, a namespace."""

    kubeconfig: str | None = None
    context: str | None = None
    namespace: str | None = None
    #: act as this user (``Impersonate-User``/``Impersonate-Group`` on every request;
    #: the dashboard signed in as someone): (user, groups)
    impersonate: tuple[str, tuple[str, ...]] | None = None


def _load_config(target: Target) -> SingleConfig:
    path = target.kubeconfig or os.environ.get("KUBECONFIG", "").split(os.pathsep)[0] or None
    if path and not os.path.exists(path):
        raise UsageError(f"kubeconfig {path!r} does not exist: pass --kubeconfig PATH")
    try:
        kc = KubeConfig.from_file(path) if path else KubeConfig.from_env()
    except Exception as exc:
        raise ClusterError(f"cannot load a kubeconfig: {exc}") from exc
    try:
        config = kc.get(context_name=target.context)
    except Exception as exc:
        raise UsageError(
            f"unknown kubeconfig context {target.context!r}: see `kubectl config get-contexts`"
        ) from exc
    if config is None:
        raise UsageError(f"unknown kubeconfig context {target.context!r}")
    return config


def _meta(obj: Any) -> ObjectMeta:
    meta: ObjectMeta = obj.metadata
    return meta


def _dict(obj: Any) -> dict[str, Any]:
    data: dict[str, Any] = obj.to_dict()
    return data


def _resource_of(path: str) -> str:
    """``/apis/apps/v1/namespaces/web/deployments/hello`` → ``deployments``."""
    parts = [p for p in path.split("/") if p]
    rest = parts[2:] if parts[:1] == ["api"] else parts[3:]
    if rest[:1] == ["namespaces"] and len(rest) >= 3:
        rest = rest[2:]
    return rest[0] if rest else "-"


class _Counting(httpx2.BaseTransport):
    """Counts every request kprism makes, by verb and resource (``GET pods``,
    ``WATCH services``): tests assert on these counts, benchmarks report them. Answers
    of 400 and more, and requests that got no answer, are counted in ``errors`` too
    (``GET leases 404``, ``PATCH services transport``): the controller's
    ``kprism_api_errors_total``."""

    def __init__(
        self, inner: httpx2.BaseTransport, counts: Counter[str], errors: Counter[str]
    ) -> None:
        self._inner = inner
        self._counts = counts
        self._errors = errors

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        verb = "WATCH" if request.url.params.get("watch") else request.method
        what = f"{verb} {_resource_of(request.url.path)}"
        self._counts[what] += 1
        try:
            resp = self._inner.handle_request(request)
        except httpx2.TransportError:
            self._errors[f"{what} transport"] += 1
            raise
        if resp.status_code >= 400:
            self._errors[f"{what} {resp.status_code}"] += 1
        return resp

    def close(self) -> None:
        self._inner.close()


class _Impersonating(httpx2.BaseTransport):
    """Sends every request as another user: the API server checks that the connection's
    own credentials may ``impersonate`` that user and those groups, then authorizes the
    request — and writes its audit log — as them."""

    def __init__(self, inner: httpx2.BaseTransport, user: str, groups: tuple[str, ...]) -> None:
        self._inner = inner
        self._headers = [("Impersonate-User", user)] + [("Impersonate-Group", g) for g in groups]

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        kept = [
            (k, v) for k, v in request.headers.multi_items() if not k.startswith("impersonate-")
        ]
        request.headers = httpx2.Headers(kept + self._headers)
        return self._inner.handle_request(request)

    def close(self) -> None:
        self._inner.close()


class Kube:
    """One connection to one cluster, scoped to a default namespace.

    Requests go through lightkube; watches go through :attr:`cache`, the process's
    shared informers (:mod:`kprism.kube.cache`), which :meth:`observe` reads from while
    an engine's feed keeps them running. :attr:`requests` counts every request.
    """

    def __init__(self, target: Target | None = None) -> None:
        target = target or Target()
        config = _load_config(target)
        self.namespace = target.namespace or config.namespace or "default"
        self.server = config.cluster.server
        self.target = target
        self.requests: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()  # failed requests by verb, resource and code
        self._whoami: str | None = None
        context = getattr(config, "context", None)
        self._kubeconfig_user: str = str(getattr(context, "user", "") or "")
        timeout = httpx2.Timeout(20.0)
        try:
            params = ConnectionParams(timeout=timeout).httpx_params(config)
        except Exception as exc:
            raise ClusterError(f"cannot use the kubeconfig's credentials: {exc}") from exc
        verify, auth = params["verify"], params["auth"]

        def transport() -> httpx2.BaseTransport:
            # no pool limit: every informer holds one watch, every engine thread may be
            # in a request at once (the default 100 made 200 releases queue for sockets)
            unlimited = httpx2.Limits(max_connections=None, max_keepalive_connections=20)
            inner: httpx2.BaseTransport = httpx2.HTTPTransport(verify=verify, limits=unlimited)
            if target.impersonate is not None:
                inner = _Impersonating(inner, *target.impersonate)
            return _Counting(inner, self.requests, self.errors)

        self.client = Client(
            config, field_manager=FIELD_MANAGER, timeout=timeout, transport=transport()
        )
        self.cache = ClusterCache(
            lambda: httpx2.Client(
                base_url=params["base_url"], auth=auth, transport=transport(), timeout=timeout
            )
        )

    def close(self) -> None:
        self.cache.stop()
        self.client.close()

    # -- reading ------------------------------------------------------------------------

    def check_namespace(self, namespace: str) -> None:
        with translating(f"get namespace {namespace}", kind="Namespace", name=namespace):
            self.client.get(Namespace, namespace)

    def get_service(self, name: str, namespace: str) -> ServiceObs:
        with translating(
            f"get Service {name} in namespace {namespace}",
            kind="Service",
            name=name,
            namespace=namespace,
        ):
            svc = self.client.get(Service, name, namespace=namespace)
        return service_obs(_dict(svc))

    def find_service(self, name: str, namespace: str) -> ServiceObs | None:
        try:
            return self.get_service(name, namespace)
        except NotFoundError:
            return None

    def list_services(self, namespace: str | None) -> list[ServiceObs]:
        """Services of a namespace (None: all), from the watch cache while one covers it."""
        inf = self.cache.watching(SERVICES, namespace)
        if inf is not None:
            return [service_obs(o) for o in inf.items(namespace)]
        with translating(f"list Services in namespace {namespace or 'all'}"):
            items = list(self.client.list(Service, namespace=namespace or "*"))
        return [service_obs(_dict(s)) for s in items]

    def raw_service(self, name: str, namespace: str) -> dict[str, Any]:
        with translating(
            f"get Service {name} in namespace {namespace}",
            kind="Service",
            name=name,
            namespace=namespace,
        ):
            return _dict(self.client.get(Service, name, namespace=namespace))

    def list_deployments(
        self, namespace: str, labels: Mapping[str, str] | None = None
    ) -> list[dict[str, Any]]:
        with translating(f"list Deployments in namespace {namespace}"):
            return [
                _dict(d)
                for d in self.client.list(Deployment, namespace=namespace, labels=_labels(labels))
            ]

    def get_deployment(self, name: str, namespace: str) -> dict[str, Any]:
        with translating(f"get Deployment {name} in namespace {namespace}"):
            return _dict(self.client.get(Deployment, name, namespace=namespace))

    def list_pods(self, namespace: str, labels: Mapping[str, str]) -> list[dict[str, Any]]:
        with translating(f"list Pods in namespace {namespace}"):
            return [
                _dict(p) for p in self.client.list(Pod, namespace=namespace, labels=_labels(labels))
            ]

    def _list_slices(self, service: str, namespace: str) -> list[dict[str, Any]]:
        with translating(f"list EndpointSlices of Service {service} in namespace {namespace}"):
            return [
                _dict(es)
                for es in self.client.list(
                    EndpointSlice,
                    namespace=namespace,
                    labels={"kubernetes.io/service-name": service},
                )
            ]

    def ready_endpoints(self, service: str, namespace: str) -> frozenset[str]:
        """Pods the Service's EndpointSlices list with ``ready: true``."""
        return ready_names(self._list_slices(service, namespace))

    def _list_raw_hpas(self, namespace: str) -> list[dict[str, Any]]:
        with translating(f"list HorizontalPodAutoscalers in namespace {namespace}"):
            return [
                _dict(h) for h in self.client.list(HorizontalPodAutoscaler, namespace=namespace)
            ]

    def list_hpas(self, namespace: str) -> list[HpaObs]:
        return [h for h in map(hpa_obs, self._list_raw_hpas(namespace)) if h is not None]

    def list_objects(
        self, kind: str, namespace: str | None, labels: Mapping[str, str] | None = None
    ) -> list[dict[str, Any]]:
        """Raw objects of one ``kind`` (Service, Deployment, Pod, PodDisruptionBudget,
        HorizontalPodAutoscaler, EndpointSlice, ConfigMap) in ``namespace``, or in every
        namespace for None."""
        cached = _INFORMED.get(kind)
        if cached is not None and namespace:
            items = self._list_informed(cached, namespace)
            if items is not None:
                # as a direct LIST answers: each object with its kind, in name order
                api_version = cached.group_path.removeprefix("/apis/").removeprefix("/api/")
                return [
                    {"apiVersion": api_version, "kind": kind, **o}
                    for o in sorted(items, key=lambda o: o.get("metadata", {}).get("name", ""))
                    if not labels or _selects(labels, o.get("metadata", {}).get("labels") or {})
                ]
        where = f"namespace {namespace}" if namespace else "all namespaces"
        with translating(f"list {kind}s in {where}", kind=kind, namespace=namespace or ""):
            return [
                _dict(o)
                for o in self.client.list(
                    _LISTABLE[kind], namespace=namespace or "*", labels=_labels(labels)
                )
            ]

    @contextlib.contextmanager
    def _joined(
        self, kinds: tuple[CacheKind, ...], namespace: str
    ) -> Iterator[dict[str, Informer] | None]:
        """The shared informers of ``kinds`` in ``namespace`` — started, or joined if an
        engine, a pre-flight or another observation already runs them (200 releases in one
        namespace make one LIST and one WATCH per kind, not 200 LISTs each) — synced and
        caught up with this thread's writes; None when they cannot be (the caller reads
        directly: a user who may not list or watch, a sync slower than
        ``INFORMED_SYNC_SECONDS``). They linger a little after their last user."""
        done = self.cache.subscribe(kinds, namespace, _ignore_event, sync_timeout=0.0)
        try:
            deadline = time.monotonic() + INFORMED_SYNC_SECONDS
            for kind in kinds:
                started = self.cache.informer_for(kind, namespace)
                while (
                    started is not None
                    and not started.synced
                    and not started.denied
                    and time.monotonic() < deadline
                ):
                    started.wait_synced(0.05)
            found = {k.name: self.cache.watching(k, namespace) for k in kinds}
            synced = {name: inf for name, inf in found.items() if inf is not None}
            if len(synced) < len(kinds) or not self.cache.caught_up(synced, namespace, 2.0):
                yield None
            else:
                yield synced
        finally:
            done()

    def _list_informed(self, kind: CacheKind, namespace: str) -> list[dict[str, Any]] | None:
        """``kind`` in ``namespace`` from the shared informer (see :meth:`_joined`)."""
        with self._joined((kind,), namespace) as synced:
            return synced[kind.name].items(namespace) if synced is not None else None

    def observe(
        self, *, namespace: str, service: str, track_label: str, fresh: bool = False
    ) -> AppObs:
        """Observe one app: its Service, tracks, pods, endpoints, preview, HPAs, and the
        other Services over its pods (with their endpoints).

        From the shared informers when they watch the namespace and have seen this
        process's own writes (no request at all); otherwise, or with ``fresh``, from the
        API server (one request per kind, and one EndpointSlice list per Service).
        """
        if not fresh:
            informers = {k.name: self.cache.watching(k, namespace) for k in APP_KINDS}
            synced = {k: i for k, i in informers.items() if i is not None}
            if len(synced) == len(APP_KINDS) and self.cache.caught_up(synced, namespace, 2.0):
                return self._observe_cached(synced, namespace, service, track_label)
            # before the app's feed subscribed (planning, the first status, a one-shot
            # command): join the informers rather than LIST the whole namespace
            with self._joined(APP_KINDS, namespace) as joined:
                if joined is not None:
                    return self._observe_cached(joined, namespace, service, track_label)
        with translating(f"list Services in namespace {namespace}"):
            services = [_dict(s) for s in self.client.list(Service, namespace=namespace)]
        by_name = {s.get("metadata", {}).get("name"): s for s in services}
        if service not in by_name:
            raise _service_missing(service, namespace)
        svc = service_obs(by_name[service])
        preview = by_name.get(preview_name(service))
        app_sel = _app_selector(svc, track_label)
        return _app_obs(
            namespace=namespace,
            svc=svc,
            track_label=track_label,
            deployments=self.list_deployments(namespace),
            pods=self.list_pods(namespace, app_sel),
            preview=service_obs(preview) if preview is not None else None,
            slices=lambda name: self._list_slices(name, namespace),
            hpas=self._list_raw_hpas(namespace),
            services=services,
        )

    def _observe_cached(
        self, informers: Mapping[str, Informer], namespace: str, service: str, track_label: str
    ) -> AppObs:
        raw = informers[SERVICES.name].get(namespace, service)
        if raw is None:
            raise _service_missing(service, namespace)
        svc = service_obs(raw)
        preview = informers[SERVICES.name].get(namespace, preview_name(service))

        def slices(name: str) -> list[dict[str, Any]]:
            return [
                s
                for s in informers[ENDPOINT_SLICES.name].items(namespace)
                if (s.get("metadata", {}).get("labels") or {}).get("kubernetes.io/service-name")
                == name
            ]

        app_sel = _app_selector(svc, track_label)
        return _app_obs(
            namespace=namespace,
            svc=svc,
            track_label=track_label,
            deployments=informers[DEPLOYMENTS.name].items(namespace),
            pods=[
                p
                for p in informers[PODS.name].items(namespace)
                if _selects(app_sel, p.get("metadata", {}).get("labels") or {})
            ],
            preview=service_obs(preview) if preview is not None else None,
            slices=slices,
            hpas=informers[HPAS.name].items(namespace),
            services=informers[SERVICES.name].items(namespace),
        )

    # -- generic objects (one request each; plain JSON in and out) -----------------------

    def _what(self, verb: str, res: ResourceKind, name: str, namespace: str) -> str:
        return f"{verb} {res.kind} {name} in namespace {namespace}"

    def get_object(self, res: ResourceKind, name: str, namespace: str) -> dict[str, Any]:
        """One object as JSON; NotFoundError (with kind/name/namespace) when it is missing,
        :class:`~kprism.kube.errors.ResourceTypeMissing` when its type is not served."""
        with translating(
            self._what("get", res, name, namespace), kind=res.kind, name=name, namespace=namespace
        ):
            return _dict(self.client.get(_resource(res), name, namespace=namespace))

    def find_object(self, res: ResourceKind, name: str, namespace: str) -> dict[str, Any] | None:
        try:
            return self.get_object(res, name, namespace)
        except NotFoundError:
            return None

    def create_object(self, res: ResourceKind, body: Mapping[str, Any]) -> None:
        meta = body["metadata"]
        with translating(
            f"create {res.kind} {meta['name']} in namespace {meta['namespace']}", kind=res.kind
        ):
            made = self.client.create(cast(Any, from_dict(dict(body))), namespace=meta["namespace"])
        self._wrote(res.kind, meta["namespace"], made)

    def replace_object(self, res: ResourceKind, body: Mapping[str, Any]) -> None:
        """PUT ``body``; its ``metadata.resourceVersion`` is the precondition."""
        meta = body["metadata"]
        with translating(
            f"replace {res.kind} {meta['name']} in namespace {meta['namespace']}", kind=res.kind
        ):
            done = self.client.replace(cast(Any, from_dict(dict(body))))
        self._wrote(res.kind, meta["namespace"], done)

    def patch_object(
        self, res: ResourceKind, name: str, namespace: str, patch: Mapping[str, Any]
    ) -> None:
        """JSON merge patch; include metadata.resourceVersion in ``patch`` for a precondition."""
        with translating(
            self._what("patch", res, name, namespace), kind=res.kind, name=name, namespace=namespace
        ):
            done = self.client.patch(
                _resource(res), name, dict(patch), namespace=namespace, patch_type=PatchType.MERGE
            )
        self._wrote(res.kind, namespace, done)

    def delete_object(self, res: ResourceKind, name: str, namespace: str) -> None:
        """Delete one object; one that is already gone is not an error."""
        with (
            suppress(NotFoundError),
            translating(
                self._what("delete", res, name, namespace),
                kind=res.kind,
                name=name,
                namespace=namespace,
            ),
        ):
            self.client.delete(_resource(res), name, namespace=namespace)
            self.cache.deleted(res.kind, namespace, name)

    def _wrote(self, kind: str, namespace: str, obj: Any) -> None:
        """Tell the cache about a write, so reads from it wait until the watch saw it."""
        self.cache.wrote(kind, namespace, _meta(obj).resourceVersion if obj is not None else None)

    # -- lock and change feed -----------------------------------------------------------

    def watch_services(self, namespace: str | None) -> Callable[[], None]:
        """Keep the Services of ``namespace`` (None: all) in the watch cache, so
        :meth:`list_services` answers without a request; returns the function that stops it.
        Refuses (ForbiddenError) where the user may not list them there."""
        self.list_services(namespace)  # fails fast on RBAC, before a watch retries forever
        return self.cache.subscribe((SERVICES,), namespace, lambda *_: None, sync_timeout=20.0)

    def whoami(self) -> str:
        """The user the API server authenticates this client as (a SelfSubjectReview,
        which every authenticated user may create; asked once): what the audit trail
        records, not the OS user. The kubeconfig's user name if the review fails."""
        if self._whoami is None:
            from lightkube.resources.authentication_v1 import SelfSubjectReview

            try:
                with translating("create a SelfSubjectReview (who am I)"):
                    review = self.client.create(SelfSubjectReview(), field_manager=None)
                info = review.status.userInfo if review.status is not None else None
                self._whoami = (info.username if info is not None else None) or ""
            except KprismError:
                self._whoami = ""
            if not self._whoami:
                self._whoami = self._kubeconfig_user or "unknown"
        return self._whoami

    def review_token(self, token: str) -> tuple[str, tuple[str, ...]] | None:
        """Who a bearer token authenticates as, asked with this client's own credentials
        (a TokenReview; needs ``create tokenreviews``): (user, groups), or None when the
        API server does not accept the token (expired, revoked, forged)."""
        from lightkube.models.authentication_v1 import TokenReviewSpec
        from lightkube.resources.authentication_v1 import TokenReview

        with translating("create a TokenReview (check a sign-in)", kind="TokenReview"):
            review = self.client.create(
                TokenReview(spec=TokenReviewSpec(token=token)), field_manager=None
            )
        status = review.status
        if status is None or not status.authenticated or status.user is None:
            return None
        user = status.user.username or ""
        return (user, tuple(status.user.groups or ())) if user else None

    def may(self, verb: str, resource: str, *, group: str = "", namespace: str) -> tuple[bool, str]:
        """Whether this client's user may ``verb`` ``resource`` in ``namespace`` (a
        SelfSubjectAccessReview, which every authenticated user may create; as the
        impersonated user when there is one): (allowed, the authorizer's reason)."""
        from lightkube.models.authorization_v1 import (
            ResourceAttributes,
            SelfSubjectAccessReviewSpec,
        )
        from lightkube.resources.authorization_v1 import SelfSubjectAccessReview

        attrs = ResourceAttributes(verb=verb, resource=resource, group=group, namespace=namespace)
        with translating(f"review access to {verb} {resource} in {namespace}"):
            review = self.client.create(
                SelfSubjectAccessReview(spec=SelfSubjectAccessReviewSpec(resourceAttributes=attrs)),
                field_manager=None,
            )
        status = review.status
        if status is None:
            return False, ""
        return bool(status.allowed), status.reason or ""

    def lease(self, *, namespace: str, app: str) -> AppLease:
        """The app's Lease (not taken yet). Its holder names the impersonated user when
        there is one (who drives the app, as ``kprism status`` and a refused start say)."""
        from kprism.kube.lease import AppLease, make_identity

        acting = self.target.impersonate
        identity = make_identity(acting[0]) if acting is not None else None
        return AppLease(self, namespace=namespace, app=app, identity=identity)

    def feed(self, *, namespace: str, service: str, app_selector: Mapping[str, str]) -> AppFeed:
        """A change feed for the app over the shared informers (started by ``with``)."""
        from kprism.kube.watch import AppFeed

        return AppFeed(self.cache, namespace=namespace, service=service, app_selector=app_selector)

    # -- writing ------------------------------------------------------------------------

    def patch_service(self, name: str, namespace: str, patch: Mapping[str, Any]) -> ServiceObs:
        """JSON merge patch; include metadata.resourceVersion in ``patch`` for a precondition."""
        with translating(f"patch Service {name} in namespace {namespace}"):
            svc = self.client.patch(
                Service, name, dict(patch), namespace=namespace, patch_type=PatchType.MERGE
            )
        self._wrote("Service", namespace, svc)
        return service_obs(_dict(svc))

    def json_patch_deployment(
        self, name: str, namespace: str, ops: list[dict[str, Any]]
    ) -> dict[str, Any]:
        """RFC 6902 JSON patch; a failed ``test`` op comes back as UsageError (HTTP 422)."""
        with translating(f"patch Deployment {name} in namespace {namespace}"):
            dep = self.client.patch(
                Deployment, name, ops, namespace=namespace, patch_type=PatchType.JSON
            )
        self._wrote("Deployment", namespace, dep)
        return _dict(dep)

    def apply(self, action: KubeAction, *, namespace: str, service: str) -> None:
        """Carry out one planner action with one request (creates tolerate 'exists')."""
        c = self.client
        match action:
            case CreateDeployment(name=name, body=body):
                with translating(f"create Deployment {name} in namespace {namespace}"):
                    made = c.create(cast(Deployment, from_dict(dict(body))), namespace=namespace)
                self._wrote("Deployment", namespace, made)
            case ReplaceTemplate(name=name, template=template, annotations=annotations):
                ops: list[dict[str, Any]] = [
                    {"op": "replace", "path": "/spec/template", "value": dict(template)}
                ]
                for k, v in annotations.items():
                    ops.append(
                        {"op": "add", "path": f"/metadata/annotations/{_escape(k)}", "value": v}
                    )
                with translating(f"update Deployment {name} in namespace {namespace}"):
                    dep = c.patch(
                        Deployment, name, ops, namespace=namespace, patch_type=PatchType.JSON
                    )
                self._wrote("Deployment", namespace, dep)
            case ScaleDeployment(name=name, replicas=replicas):
                with translating(f"scale Deployment {name} in namespace {namespace}"):
                    dep = c.patch(
                        Deployment,
                        name,
                        {"spec": {"replicas": replicas}},
                        namespace=namespace,
                        patch_type=PatchType.MERGE,
                    )
                self._wrote("Deployment", namespace, dep)
            case DeleteDeployment(name=name):
                with (
                    suppress(NotFoundError),
                    translating(f"delete Deployment {name} in namespace {namespace}"),
                ):
                    c.delete(Deployment, name, namespace=namespace)
                    self.cache.deleted("Deployment", namespace, name)
            case SetSelector(service=svc_name, selector=selector, previous=previous):
                patch: dict[str, str | None] = {k: None for k in previous if k not in selector}
                patch.update(selector)
                self.patch_service(svc_name, namespace, {"spec": {"selector": patch}})
            case EnsureService(name=name, selector=selector, ports=ports, labels=labels):
                body = {
                    "apiVersion": "v1",
                    "kind": "Service",
                    "metadata": {"name": name, "labels": {LABEL_MANAGED: "kprism", **labels}},
                    "spec": {"selector": dict(selector), "ports": [_port(p) for p in ports]},
                }
                existing = self.find_service(name, namespace)
                if existing is None:
                    with translating(f"create Service {name} in namespace {namespace}"):
                        created = c.create(cast(Service, from_dict(body)), namespace=namespace)
                    self._wrote("Service", namespace, created)
                else:
                    patch = {k: None for k in existing.selector if k not in selector}
                    patch.update(dict(selector))
                    self.patch_service(name, namespace, {"spec": {"selector": patch}})
            case DeleteService(name=name):
                with (
                    suppress(NotFoundError),
                    translating(f"delete Service {name} in namespace {namespace}"),
                ):
                    c.delete(Service, name, namespace=namespace)
                    self.cache.deleted("Service", namespace, name)
            case EnsureHpa(name=name, target=target, min_replicas=lo, max_replicas=hi, spec=spec):
                self._ensure_hpa(namespace, name, target, lo, hi, spec)
            case DeleteHpa(name=name):
                with (
                    suppress(NotFoundError),
                    translating(f"delete HorizontalPodAutoscaler {name} in namespace {namespace}"),
                ):
                    c.delete(HorizontalPodAutoscaler, name, namespace=namespace)
                    self.cache.deleted("HorizontalPodAutoscaler", namespace, name)
            case EmitEvent(reason=reason, message=message, warning=warning):
                self.emit_event(
                    namespace=namespace,
                    service=service,
                    reason=reason,
                    message=message,
                    warning=warning,
                )

    def _ensure_hpa(
        self, namespace: str, name: str, target: str, lo: int, hi: int, spec: Mapping[str, Any]
    ) -> None:
        what = f"HorizontalPodAutoscaler {name} in namespace {namespace}"
        patch = {
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target},
                "minReplicas": lo,
                "maxReplicas": hi,
            }
        }
        try:
            with translating(f"patch {what}"):
                hpa = self.client.patch(
                    HorizontalPodAutoscaler,
                    name,
                    patch,
                    namespace=namespace,
                    patch_type=PatchType.MERGE,
                )
        except NotFoundError:
            body = {
                "apiVersion": "autoscaling/v2",
                "kind": "HorizontalPodAutoscaler",
                "metadata": {"name": name, "labels": {LABEL_MANAGED: "kprism"}},
                "spec": {**dict(spec), **patch["spec"]},
            }
            with translating(f"create {what}"):
                hpa = self.client.create(
                    cast(HorizontalPodAutoscaler, from_dict(body)), namespace=namespace
                )
        self._wrote("HorizontalPodAutoscaler", namespace, hpa)

    def emit_event(
        self, *, namespace: str, service: str, reason: str, message: str, warning: bool = False
    ) -> None:
        now = datetime.now(UTC)
        ev = Event(
            metadata=ObjectMeta(
                name=f"{service}.kprism.{uuid.uuid4().hex[:10]}", namespace=namespace
            ),
            involvedObject=ObjectReference(
                kind="Service", apiVersion="v1", name=service, namespace=namespace
            ),
            reason=reason,
            message=message[:1024],
            type="Warning" if warning else "Normal",
            source=EventSource(component="kprism"),
            firstTimestamp=now,
            lastTimestamp=now,
            count=1,
            reportingComponent="kprism",
            reportingInstance=os.uname().nodename,
        )
        with translating(f"create Event on Service {service} in namespace {namespace}"):
            self.client.create(ev, namespace=namespace)

    def list_events(self, *, namespace: str, service: str) -> list[dict[str, Any]]:
        with translating(f"list Events in namespace {namespace}"):
            items = self.client.list(
                Event,
                namespace=namespace,
                fields={"involvedObject.kind": "Service", "involvedObject.name": service},
            )
            return [_dict(e) for e in items]


def _labels(labels: Mapping[str, str] | None) -> dict[str, Any] | None:
    return dict(labels) if labels else None


def preview_name(service: str) -> str:
    return f"{service}-preview"


def _escape(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


def _port(p: Mapping[str, Any]) -> dict[str, Any]:
    keep = ("name", "port", "targetPort", "protocol", "appProtocol")
    return {k: p[k] for k in keep if k in p and p[k] is not None}


#: kinds ``list_objects`` serves from the shared informers (the pre-flight's and the
#: doctor's reads of a namespace); PodDisruptionBudgets and others are listed directly
INFORMED_SYNC_SECONDS = 10.0  # then list directly
_INFORMED: dict[str, CacheKind] = {k.name: k for k in (SERVICES, DEPLOYMENTS, PODS, HPAS)}


def _ignore_event(kind: str, event: str, obj: dict[str, Any]) -> None:
    """A subscriber that only reads the store."""


def _selects(selector: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


#: the fields drift reports name a manager for, and where they sit in ``fieldsV1``
_DEPLOYMENT_FIELDS = {
    "spec.replicas": ("f:spec", "f:replicas"),
    "spec.template": ("f:spec", "f:template"),
}
_SERVICE_FIELDS = {"spec.selector": ("f:spec", "f:selector")}


def field_managers(
    meta: Mapping[str, Any], fields: Mapping[str, tuple[str, ...]]
) -> dict[str, str]:
    """Field path → the manager that last wrote it, from ``metadata.managedFields`` (the
    newest entry that owns the field or something under it; on a tie, not kprism)."""
    out: dict[str, str] = {}
    entries = [e for e in meta.get("managedFields") or [] if isinstance(e, Mapping)]
    for path, keys in fields.items():
        best: tuple[tuple[str, bool], str] | None = None
        for entry in entries:
            node: Any = entry.get("fieldsV1") or {}
            for key in keys:
                node = node.get(key) if isinstance(node, Mapping) else None
                if node is None:
                    break
            manager = str(entry.get("manager") or "")
            if node is None or not manager:
                continue
            rank = (str(entry.get("time") or ""), manager != FIELD_MANAGER)
            if best is None or rank > best[0]:
                best = (rank, manager)
        if best is not None:
            out[path] = best[1]
    return out


def service_obs(svc: Mapping[str, Any]) -> ServiceObs:
    meta = svc.get("metadata", {})
    spec = svc.get("spec", {})
    return ServiceObs(
        name=meta.get("name", ""),
        namespace=meta.get("namespace", ""),
        selector=dict(spec.get("selector") or {}),
        annotations=dict(meta.get("annotations") or {}),
        labels=dict(meta.get("labels") or {}),
        ports=tuple(spec.get("ports") or ()),
        resource_version=meta.get("resourceVersion", ""),
        managers=field_managers(meta, _SERVICE_FIELDS),
    )


def deployment_obs(d: Mapping[str, Any], track_label: str) -> DeploymentObs:
    meta = d.get("metadata", {})
    spec = d.get("spec", {})
    status = d.get("status") or {}
    selector = dict((spec.get("selector") or {}).get("matchLabels") or {})
    return DeploymentObs(
        name=meta.get("name", ""),
        track=selector.get(track_label),
        replicas=int(spec.get("replicas", 1) if spec.get("replicas") is not None else 1),
        ready=int(status.get("readyReplicas") or 0),
        updated=int(status.get("updatedReplicas") or 0),
        available=int(status.get("availableReplicas") or 0),
        total=int(status.get("replicas") or 0),
        generation=int(meta.get("generation") or 1),
        observed_generation=int(status.get("observedGeneration") or 0),
        selector=selector,
        labels=dict(meta.get("labels") or {}),
        annotations=dict(meta.get("annotations") or {}),
        template=dict(spec.get("template") or {}),
        strategy=dict(spec.get("strategy") or {}),
        managers=field_managers(meta, _DEPLOYMENT_FIELDS),
    )


def container_obs(c: Mapping[str, Any], *, init: bool = False) -> ContainerObs:
    """One entry of a pod's ``status.containerStatuses`` (or ``initContainerStatuses``)."""
    state = c.get("state") or {}
    kind = next((k for k in ("waiting", "running", "terminated") if k in state), "")
    now = state.get(kind) or {}
    last = (c.get("lastState") or {}).get("terminated") or {}
    code = now.get("exitCode")
    last_code = last.get("exitCode")
    return ContainerObs(
        name=str(c.get("name", "")),
        ready=bool(c.get("ready")),
        init=init,
        restarts=int(c.get("restartCount") or 0),
        state=kind,
        reason=str(now.get("reason") or ""),
        message=str(now.get("message") or ""),
        exit_code=int(code) if code is not None else None,
        last_reason=str(last.get("reason") or ""),
        last_exit_code=int(last_code) if last_code is not None else None,
    )


def _condition(status: Mapping[str, Any], kind: str) -> Mapping[str, Any]:
    return next((c for c in status.get("conditions") or [] if c.get("type") == kind), {})


def _why(cond: Mapping[str, Any]) -> str:
    """``reason: message`` of a False condition, or ""."""
    if cond.get("status") != "False":
        return ""
    return ": ".join(str(x) for x in (cond.get("reason"), cond.get("message")) if x)


def pod_obs(p: Mapping[str, Any], track_label: str) -> PodObs:
    meta = p.get("metadata", {})
    status = p.get("status") or {}
    ready_cond = _condition(status, "Ready")
    owner = next(
        (o.get("name") for o in meta.get("ownerReferences") or [] if o.get("controller")), None
    )
    return PodObs(
        name=meta.get("name", ""),
        track=(meta.get("labels") or {}).get(track_label),
        ready=ready_cond.get("status") == "True",
        terminating=meta.get("deletionTimestamp") is not None,
        owner=owner,
        created=str(meta.get("creationTimestamp") or ""),
        phase=str(status.get("phase") or ""),
        containers=tuple(
            container_obs(c, init=True) for c in status.get("initContainerStatuses") or []
        )
        + tuple(container_obs(c) for c in status.get("containerStatuses") or []),
        unschedulable=_why(_condition(status, "PodScheduled")),
        not_ready=_why(ready_cond),
    )


def ready_names(slices: Iterable[Mapping[str, Any]]) -> frozenset[str]:
    """Pods that EndpointSlices list with ``ready: true``."""
    names: set[str] = set()
    for es in slices:
        for ep in es.get("endpoints") or []:
            ref = ep.get("targetRef") or {}
            if (ep.get("conditions") or {}).get("ready") and ref.get("name"):
                names.add(ref["name"])
    return frozenset(names)


def hpa_obs(h: Mapping[str, Any]) -> HpaObs | None:
    """A HorizontalPodAutoscaler that scales a Deployment; None for other targets."""
    spec = h.get("spec") or {}
    ref = spec.get("scaleTargetRef") or {}
    if ref.get("kind") != "Deployment":
        return None
    return HpaObs(
        name=(h.get("metadata") or {}).get("name", ""),
        target=ref.get("name", ""),
        min_replicas=spec.get("minReplicas") or 1,
        max_replicas=spec.get("maxReplicas") or 1,
        desired=(h.get("status") or {}).get("desiredReplicas") or 0,
        spec=spec,
    )


def _service_missing(service: str, namespace: str) -> NotFoundError:
    return NotFoundError(
        f"cannot get Service {service} in namespace {namespace}: not found",
        kind="Service",
        name=service,
        namespace=namespace,
    )


def _matches(selector: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def _siblings(
    svc: ServiceObs,
    services: Iterable[Mapping[str, Any]],
    *,
    track_label: str,
    pods: list[tuple[str, Mapping[str, str]]],
    templates: list[Mapping[str, str]],
    slices: Callable[[str], list[dict[str, Any]]],
) -> tuple[SiblingObs, ...]:
    """Other Services of the namespace whose selector, without the track label, matches
    a pod of the app or one of its pod templates (an idle track has no pods). kprism's
    own Services (preview, per-track) and selector-less ones are not siblings."""
    out = []
    for raw in services:
        other = service_obs(raw)
        if (
            other.name in (svc.name, preview_name(svc.name))
            or other.labels.get(LABEL_MANAGED) == "kprism"
            or not other.selector
        ):
            continue
        own = {k: v for k, v in other.selector.items() if k != track_label}
        if not (
            any(_matches(own, labels) for _, labels in pods)
            or any(_matches(own, labels) for labels in templates)
        ):
            continue
        out.append(
            SiblingObs(
                service=other,
                endpoints=ready_names(slices(other.name)),
                selectable=frozenset(name for name, labels in pods if _matches(own, labels)),
            )
        )
    return tuple(sorted(out, key=lambda s: s.name))


def _app_selector(svc: ServiceObs, track_label: str) -> dict[str, str]:
    app_sel = {k: v for k, v in svc.selector.items() if k != track_label}
    if not app_sel:
        raise UsageError(
            f"Service {svc.name} selects pods only by {track_label!r} (or nothing): kprism needs "
            "app labels besides the track label, e.g. app=hello"
        )
    return app_sel


def _app_obs(
    *,
    namespace: str,
    svc: ServiceObs,
    track_label: str,
    deployments: Iterable[Mapping[str, Any]],
    pods: Iterable[Mapping[str, Any]],
    preview: ServiceObs | None,
    slices: Callable[[str], list[dict[str, Any]]],
    hpas: Iterable[Mapping[str, Any]],
    services: Iterable[Mapping[str, Any]] = (),
) -> AppObs:
    """One app's snapshot from raw objects (read by requests or from the informers). A
    GitOps source Deployment (``kprism.dev/source-of``) is not one of the app's tracks."""
    app_sel = _app_selector(svc, track_label)
    tracks = [
        deployment_obs(d, track_label)
        for d in deployments
        if ANNOTATION_SOURCE_OF not in (d.get("metadata", {}).get("annotations") or {})
        and _selects(
            app_sel, d.get("spec", {}).get("template", {}).get("metadata", {}).get("labels") or {}
        )
    ]
    pods = list(pods)
    return AppObs(
        namespace=namespace,
        service=svc,
        track_label=track_label,
        deployments=tuple(sorted(tracks, key=lambda d: d.name)),
        pods=tuple(sorted((pod_obs(p, track_label) for p in pods), key=lambda p: p.name)),
        endpoints=ready_names(slices(svc.name)),
        preview=preview,
        preview_endpoints=ready_names(slices(preview.name)) if preview else frozenset(),
        hpas=tuple(
            h
            for h in (hpa_obs(x) for x in hpas)
            if h is not None and any(d.name == h.target for d in tracks)
        ),
        siblings=_siblings(
            svc,
            services,
            track_label=track_label,
            pods=[
                (p.get("metadata", {}).get("name", ""), p.get("metadata", {}).get("labels") or {})
                for p in pods
            ],
            templates=[
                {
                    k: v
                    for k, v in (d.template.get("metadata", {}).get("labels") or {}).items()
                    if k != track_label
                }
                for d in tracks
            ],
            slices=slices,
        ),
    )


def iter_names(items: Iterable[Mapping[str, Any]]) -> list[str]:
    return [i.get("metadata", {}).get("name", "") for i in items]
