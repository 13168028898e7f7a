"""Router ``gateway``: exact weights through a Gateway API ``HTTPRoute``.

The user owns an HTTPRoute (option ``httproute``) whose rules send traffic to the
app's Service. ``set_weights`` rewrites every such rule's ``backendRefs`` into weighted
refs to the per-track Services (one PATCH, ``resourceVersion`` as precondition), saving
the original refs in the annotation ``kprism.dev/original-backend-refs`` on the first
write; ``remove_managed_routes`` puts them back and drops the annotation. Any number of
tracks (rainbow). The rewrites are :mod:`kprism.plan.routes`; this module only reads
and writes.

A gateway applies route changes on its own schedule (Traefik: a 2 s provider throttle).
Two rules keep it from ever loading a route it cannot serve (both measured on the data
plane, docs/zero-downtime.md): a route names a per-track Service only once that Service
has its EndpointSlice, and after the original refs are restored the per-track Services
are kept for ``SETTLE_SECONDS`` (the restore time is kept in the annotation
``kprism.dev/routes-restored``, and ``observed_weights`` reports the last weights until
then, so the planner asks again) before they are deleted.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from kprism.errors import NotFoundError, UsageError
from kprism.kube.api import KubeApi
from kprism.kube.client import ResourceKind
from kprism.kube.errors import ResourceTypeMissing
from kprism.model.routing import GATEWAY
from kprism.plan.routes import (
    ANNOTATION_ORIGINAL_REFS,
    dump_saved,
    gateway_weights,
    load_saved,
    restore_rules,
    rewrite_rules,
    routed_rules,
    save_backend_refs,
    validate_weights,
)
from kprism.traffic.base import (
    RouteContext,
    RouterBase,
    check_options,
    check_track_services,
    delete_track_services,
    ensure_track_services,
    track_services_routable,
)

OPTION = "httproute"
ANNOTATION_RESTORED = "kprism.dev/routes-restored"
SETTLE_SECONDS = 5.0  # > Traefik's 2 s provider throttle plus its own reload


class GatewayRouter(RouterBase):
    """Weighted ``backendRefs`` on the user's HTTPRoute."""

    kind = GATEWAY

    def __init__(
        self,
        *,
        group: str = "gateway.networking.k8s.io",
        version: str = "v1",
        kind: str = "HTTPRoute",
        plural: str = "httproutes",
    ) -> None:
        self.route_kind = kind
        self.crd = f"{plural}.{group}"
        self.api_version = f"{group}/{version}"
        self.resource = ResourceKind(api_version=self.api_version, kind=kind, plural=plural)

    # -- I/O --------------------------------------------------------------------------------

    @contextmanager
    def _call(self) -> Iterator[None]:
        """The API server does not serve the route's type: the CRD is not installed."""
        try:
            yield
        except ResourceTypeMissing as exc:
            raise UsageError(
                f"Gateway API CRD {self.crd} ({self.api_version}) is not installed in the "
                f"cluster: install the Gateway API standard channel, or use another router"
            ) from exc

    def _get(self, kube: KubeApi, ctx: RouteContext) -> dict[str, Any]:
        with self._call():
            return kube.get_object(self.resource, ctx.options.get(OPTION, ""), ctx.namespace)

    def _patch(
        self, kube: KubeApi, ctx: RouteContext, route: Mapping[str, Any], patch: dict[str, Any]
    ) -> None:
        name = route["metadata"]["name"]
        patch.setdefault("metadata", {})["resourceVersion"] = route["metadata"]["resourceVersion"]
        with self._call():
            kube.patch_object(self.resource, name, ctx.namespace, patch)

    # -- Router -----------------------------------------------------------------------------

    def check(self, kube: KubeApi, ctx: RouteContext) -> None:
        check_options(ctx, router=self.name, required=(OPTION,))
        route = self._get(kube, ctx)
        rules = (route.get("spec") or {}).get("rules") or []
        if not routed_rules(rules, service=ctx.service, namespace=ctx.namespace):
            saved = (route["metadata"].get("annotations") or {}).get(ANNOTATION_ORIGINAL_REFS)
            if saved is None:
                raise UsageError(
                    f"{self.route_kind} {ctx.options[OPTION]} does not reference Service "
                    f"{ctx.service}: no rule has a backendRef to it (add one, or name the "
                    f"route that does with option {OPTION})"
                )
        check_track_services(kube, ctx, ctx.tracks)

    def set_weights(self, kube: KubeApi, ctx: RouteContext, weights: Mapping[str, int]) -> None:
        check_options(ctx, router=self.name, required=(OPTION,))
        want = validate_weights(weights, service=ctx.service)
        route = self._get(kube, ctx)
        name = route["metadata"]["name"]
        rules = (route.get("spec") or {}).get("rules") or []
        annotations = route["metadata"].get("annotations") or {}
        raw = annotations.get(ANNOTATION_ORIGINAL_REFS)
        if raw is None:
            saved = save_backend_refs(rules, service=ctx.service, namespace=ctx.namespace)
            if all(s is None for s in saved):
                raise UsageError(
                    f"{self.route_kind} {name} does not reference Service {ctx.service}: no rule "
                    "has a backendRef to it"
                )
        else:
            saved = load_saved(raw, route=name)
        new_rules = rewrite_rules(
            rules,
            saved,
            service=ctx.service,
            namespace=ctx.namespace,
            weights=want,
            route=name,
        )
        ensure_track_services(kube, ctx, tuple(sorted(want)))
        if new_rules == rules and raw is not None:
            return
        if not track_services_routable(kube, ctx, tuple(sorted(want))):
            return  # not yet: the planner sees the old weights and asks again
        patch: dict[str, Any] = {"spec": {"rules": new_rules}}
        if raw is None:
            patch["metadata"] = {
                "annotations": {
                    ANNOTATION_ORIGINAL_REFS: dump_saved(saved),
                    ANNOTATION_RESTORED: None,
                }
            }
        self._patch(kube, ctx, route, patch)

    def observed_weights(self, kube: KubeApi, ctx: RouteContext) -> dict[str, int] | None:
        route = self._get(kube, ctx)
        annotations = route["metadata"].get("annotations") or {}
        raw = annotations.get(ANNOTATION_ORIGINAL_REFS)
        if raw is None:
            restored = _restored(annotations)
            return None if restored is None else restored[1]
        rules = (route.get("spec") or {}).get("rules") or []
        return gateway_weights(
            rules,
            load_saved(raw, route=route["metadata"]["name"]),
            service=ctx.service,
            namespace=ctx.namespace,
        )

    def remove_managed_routes(self, kube: KubeApi, ctx: RouteContext) -> None:
        try:
            route = self._get(kube, ctx)
        except NotFoundError:  # the user deleted the route: nothing to put back
            delete_track_services(kube, ctx)
            return
        name = route["metadata"].get("name", "")
        annotations = route["metadata"].get("annotations") or {}
        raw = annotations.get(ANNOTATION_ORIGINAL_REFS)
        if raw is not None:
            rules = (route.get("spec") or {}).get("rules") or []
            saved = load_saved(raw, route=name)
            last = gateway_weights(rules, saved, service=ctx.service, namespace=ctx.namespace)
            restored = restore_rules(rules, saved, route=name)
            mark = json.dumps({"at": time.time(), "weights": last}, sort_keys=True)
            self._patch(
                kube,
                ctx,
                route,
                {
                    "metadata": {
                        "annotations": {ANNOTATION_ORIGINAL_REFS: None, ANNOTATION_RESTORED: mark}
                    },
                    "spec": {"rules": restored},
                },
            )
            return
        done = _restored(annotations)
        if done is not None and time.time() - done[0] < SETTLE_SECONDS:
            return  # the gateway may still route to the track Services
        delete_track_services(kube, ctx)
        if done is not None:
            self._patch(
                kube, ctx, route, {"metadata": {"annotations": {ANNOTATION_RESTORED: None}}}
            )


def _restored(annotations: Mapping[str, str]) -> tuple[float, dict[str, int]] | None:
    """When the original refs were put back, and the weights in force until then."""
    raw = annotations.get(ANNOTATION_RESTORED)
    if raw is None:
        return None
    try:
        data = json.loads(raw)
        return float(data["at"]), {str(k): int(v) for k, v in (data.get("weights") or {}).items()}
    except (ValueError, KeyError, TypeError):
        return (0.0, {})
