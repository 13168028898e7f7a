"""The traffic-router interface, and the per-track Services the exact routers share.

A canary moves traffic in steps. Who decides the split is a plug-in, modelled on
argo-rollouts' ``trafficrouting`` interface (SetWeight, VerifyWeight,
RemoveManagedRoutes, Type):

``replicas``
    the default: the app's Service selects every track, the split is the ratio of ready
    pods (the planner scales the Deployments and verifies it on the EndpointSlices).
``gateway``
    Gateway API: the user's ``HTTPRoute`` gets weighted ``backendRefs``.
``nginx``
    ingress-nginx: a canary ``Ingress`` beside the user's, with ``canary-weight``.

The exact routers send each track's share to a per-track Service ``<service>-<track>``
that kprism creates (:func:`ensure_track_services`) and deletes again
(:func:`delete_track_services`). Routers do I/O, so unlike :mod:`kprism.plan` this
package talks to the API server, through :class:`kprism.kube.client.Kube` (its generic
object calls for the objects the adapter has no typed method for: HTTPRoute, Ingress); every
rewrite of an object is a pure function in :mod:`kprism.plan.routes`. A router call
makes a few requests (read, then write with ``resourceVersion`` as precondition), never
waits and never retries: a 409 surfaces as :class:`kprism.errors.ConflictError` and the
engine calls again, which is safe because every call is idempotent.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from kprism.errors import UsageError
from kprism.kube.api import KubeApi
from kprism.kube.client import SERVICE
from kprism.model.observed import AppObs, ServiceObs
from kprism.model.release import LABEL_MANAGED
from kprism.model.routing import RouterKind
from kprism.plan.routes import ANNOTATION_TRACK_SERVICE_OF, track_service_name, unknown_options


@dataclass(frozen=True, kw_only=True)
class RouteContext:
    """What a router needs to know about the app (built by :func:`route_context`)."""

    namespace: str
    service: str
    track_label: str
    app_selector: Mapping[str, str]
    ports: tuple[Mapping[str, Any], ...]
    #: router options, e.g. ``{"httproute": "web"}`` or ``{"ingress": "web", "header": "X-Canary"}``
    options: Mapping[str, str] = field(default_factory=dict)
    #: the track the app's Service pins (None: it selects every track)
    serving_track: str | None = None
    #: tracks the release will use; ``check`` makes sure their Services can be created
    tracks: tuple[str, ...] = ()


def context_for_service(
    svc: ServiceObs,
    *,
    track_label: str,
    options: Mapping[str, str] | None = None,
    tracks: tuple[str, ...] = (),
) -> RouteContext:
    return RouteContext(
        namespace=svc.namespace,
        service=svc.name,
        track_label=track_label,
        app_selector={k: v for k, v in svc.selector.items() if k != track_label},
        ports=tuple(svc.ports),
        options=dict(options or {}),
        serving_track=svc.selector.get(track_label),
        tracks=tracks,
    )


def route_context(
    obs: AppObs, options: Mapping[str, str] | None = None, *, tracks: tuple[str, ...] = ()
) -> RouteContext:
    """The router's view of an observed app."""
    return context_for_service(
        obs.service, track_label=obs.track_label, options=options, tracks=tracks
    )


class Router(Protocol):
    """One way of splitting traffic between tracks.

    ``kind`` is the router's entry in :mod:`kprism.model.routing`: its name and the
    capabilities the planner plans by; ``name``, ``exact`` and ``max_tracks`` read it.
    """

    kind: ClassVar[RouterKind]

    @property
    def name(self) -> str:
        """The name users pick it by (``--router NAME``)."""

    @property
    def exact(self) -> bool:
        """True when the split is exactly the weights (objects carry it); False when it is
        the ratio of ready pods, so replica counts define the split."""

    @property
    def max_tracks(self) -> int | None:
        """Most tracks with a weight at once (None: no limit)."""

    def check(self, kube: KubeApi, ctx: RouteContext) -> None:
        """Pre-flight, changes nothing: raise UsageError (one line naming the object and
        the fix) if this router cannot work for the app."""

    def set_weights(self, kube: KubeApi, ctx: RouteContext, weights: Mapping[str, int]) -> None:
        """Route ``weights`` (track → percent, summing to 100). Idempotent."""

    def observed_weights(self, kube: KubeApi, ctx: RouteContext) -> dict[str, int] | None:
        """What the objects say now (track → percent), None when no managed route
        exists (never set, or removed). Empty dict when the objects contradict each
        other. Zero-weight tracks are included as written."""

    def remove_managed_routes(self, kube: KubeApi, ctx: RouteContext) -> None:
        """Put the user's objects back as they were found; delete what kprism created."""


class RouterBase:
    """What every router shares: ``name``, ``exact`` and ``max_tracks`` from its ``kind``."""

    kind: ClassVar[RouterKind]

    @property
    def name(self) -> str:
        return self.kind.name

    @property
    def exact(self) -> bool:
        return self.kind.exact_weights

    @property
    def max_tracks(self) -> int | None:
        return self.kind.max_tracks


def check_options(
    ctx: RouteContext, *, router: str, required: tuple[str, ...], optional: tuple[str, ...] = ()
) -> None:
    problem = unknown_options(ctx.options, (*required, *optional), router=router)
    if problem:
        raise UsageError(problem)
    for key in required:
        if not ctx.options.get(key):
            raise UsageError(
                f"router {router} needs option {key}=NAME (the {key} that routes to "
                f"Service {ctx.service})"
            )


# -- per-track Services ---------------------------------------------------------------------

_PORT_KEYS = ("name", "port", "targetPort", "protocol", "appProtocol")


def _port_view(ports: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [{k: p[k] for k in _PORT_KEYS if p.get(k) is not None} for p in ports]


def track_service_body(ctx: RouteContext, track: str) -> dict[str, Any]:
    """The Service that sends to one track's pods only."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": track_service_name(ctx.service, track),
            "namespace": ctx.namespace,
            "labels": {LABEL_MANAGED: "kprism"},
            "annotations": {ANNOTATION_TRACK_SERVICE_OF: ctx.service},
        },
        "spec": {
            "selector": {**ctx.app_selector, ctx.track_label: track},
            "ports": _port_view(ctx.ports),
        },
    }


def _owned(svc: ServiceObs, ctx: RouteContext) -> bool:
    return svc.annotations.get(ANNOTATION_TRACK_SERVICE_OF) == ctx.service


def _existing_track_services(
    kube: KubeApi, ctx: RouteContext, tracks: tuple[str, ...]
) -> dict[str, ServiceObs | None]:
    """Track → its Service if it exists; UsageError if one is someone else's Service."""
    found: dict[str, ServiceObs | None] = {}
    for track in tracks:
        name = track_service_name(ctx.service, track)
        existing = kube.find_service(name, ctx.namespace)
        if existing is not None and not _owned(existing, ctx):
            raise UsageError(
                f"Service {name} exists and is not kprism's Service for track {track} of "
                f"{ctx.service} (no annotation {ANNOTATION_TRACK_SERVICE_OF}={ctx.service}): "
                "rename it or pick another track name"
            )
        found[track] = existing
    return found


def check_track_services(kube: KubeApi, ctx: RouteContext, tracks: tuple[str, ...]) -> None:
    """Refuse when a Service a track needs exists and is not kprism's track Service."""
    _existing_track_services(kube, ctx, tracks)


def ensure_track_services(kube: KubeApi, ctx: RouteContext, tracks: tuple[str, ...]) -> None:
    """Create (or correct) the Service of every track in ``tracks``. Checks every name
    before the first write, so a taken name changes nothing."""
    for track, existing in _existing_track_services(kube, ctx, tracks).items():
        body = track_service_body(ctx, track)
        name = body["metadata"]["name"]
        spec = body["spec"]
        if existing is None:
            kube.create_object(SERVICE, body)
        elif (
            dict(existing.selector) != spec["selector"]
            or _port_view(existing.ports) != spec["ports"]
        ):
            patch: dict[str, Any] = {
                "metadata": {"resourceVersion": existing.resource_version},
                "spec": {
                    "selector": {
                        **{k: None for k in existing.selector if k not in spec["selector"]},
                        **spec["selector"],
                    },
                    "ports": spec["ports"],
                },
            }
            kube.patch_service(name, ctx.namespace, patch)


def track_services_routable(kube: KubeApi, ctx: RouteContext, tracks: tuple[str, ...]) -> bool:
    """Every track's Service has its EndpointSlice, so a gateway can load it.

    A route that names a Service before the EndpointSlice controller has made its slice
    is a route a gateway cannot load: Traefik answered HTTP 500 for the whole route until
    the slice existed (measured on the data plane, docs/zero-downtime.md). Routers point
    routes at a new track Service only once this holds; the planner asks again."""
    for track in tracks:
        name = track_service_body(ctx, track)["metadata"]["name"]
        slices = kube.list_objects(
            "EndpointSlice", ctx.namespace, {"kubernetes.io/service-name": name}
        )
        if not slices:
            return False
    return True


def track_services(kube: KubeApi, ctx: RouteContext) -> list[ServiceObs]:
    """kprism's per-track Services of this app."""
    return [
        s
        for s in kube.list_services(ctx.namespace)
        if s.labels.get(LABEL_MANAGED) == "kprism" and _owned(s, ctx)
    ]


def delete_track_services(kube: KubeApi, ctx: RouteContext) -> None:
    """Delete every per-track Service kprism created for the app."""
    for svc in track_services(kube, ctx):
        kube.delete_object(SERVICE, svc.name, ctx.namespace)
