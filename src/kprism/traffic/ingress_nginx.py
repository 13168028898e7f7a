"""Router ``nginx``: exact weights through an ingress-nginx canary Ingress.

The user's Ingress (option ``ingress``) routes to the app's Service, which stays pinned
to the stable track; kprism never edits it. Beside it kprism keeps a canary Ingress
``<ingress>-kprism-canary``: the same class and the hosts/paths that reach the app,
pointed at the candidate's per-track Service, annotated
``nginx.ingress.kubernetes.io/canary: "true"`` and ``canary-weight: "<percent>"``, and
optionally ``canary-by-header`` (+ ``-value``) / ``canary-by-cookie`` for A/B tests
(options ``header``, ``header-value``, ``cookie``). ingress-nginx honours one canary per
host/path, so this router takes at most two tracks.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kprism.errors import NotFoundError, UsageError
from kprism.kube.api import KubeApi
from kprism.kube.client import INGRESS
from kprism.model.release import LABEL_MANAGED
from kprism.model.routing import NGINX
from kprism.plan.routes import (
    ANNOTATION_CANARY_OF,
    ANNOTATION_CANARY_TRACK,
    NGINX_CANARY,
    NGINX_WEIGHT,
    canary_annotations,
    canary_backends,
    canary_ingress_name,
    canary_ingress_spec,
    nginx_split,
    track_service_name,
    validate_weights,
)
from kprism.traffic.base import (
    RouteContext,
    RouterBase,
    check_options,
    check_track_services,
    delete_track_services,
    ensure_track_services,
)

OPTION = "ingress"
OPTIONAL = ("header", "header-value", "cookie")


class NginxRouter(RouterBase):
    """A canary Ingress with ``canary-weight`` beside the user's Ingress."""

    kind = NGINX

    # -- I/O --------------------------------------------------------------------------------

    def _get(self, kube: KubeApi, name: str, namespace: str) -> dict[str, Any]:
        return kube.get_object(INGRESS, name, namespace)

    def _find(self, kube: KubeApi, name: str, namespace: str) -> dict[str, Any] | None:
        try:
            return self._get(kube, name, namespace)
        except NotFoundError:
            return None

    @staticmethod
    def _ours(obj: Mapping[str, Any], ctx: RouteContext) -> bool:
        meta = obj.get("metadata") or {}
        return (meta.get("labels") or {}).get(LABEL_MANAGED) == "kprism" and (
            meta.get("annotations") or {}
        ).get(ANNOTATION_CANARY_OF) == ctx.options.get(OPTION)

    def _check_options(self, ctx: RouteContext) -> None:
        check_options(ctx, router=self.name, required=(OPTION,), optional=OPTIONAL)
        if ctx.options.get("header-value") and not ctx.options.get("header"):
            raise UsageError(
                "router nginx: option header-value needs option header (the header to match)"
            )

    def _user_ingress(self, kube: KubeApi, ctx: RouteContext) -> dict[str, Any]:
        name = ctx.options[OPTION]
        user = self._get(kube, name, ctx.namespace)
        if (user["metadata"].get("annotations") or {}).get(NGINX_CANARY) == "true":
            raise UsageError(
                f"Ingress {name} is itself an ingress-nginx canary: name the main Ingress "
                f"that routes to Service {ctx.service} with option {OPTION}"
            )
        return user

    def _canary_of(self, kube: KubeApi, ctx: RouteContext) -> dict[str, Any] | None:
        """kprism's canary Ingress, None if absent; UsageError if the name is taken."""
        name = canary_ingress_name(ctx.options[OPTION])
        found = self._find(kube, name, ctx.namespace)
        if found is not None and not self._ours(found, ctx):
            raise UsageError(
                f"Ingress {name} exists and is not kprism's canary of Ingress "
                f"{ctx.options[OPTION]}: rename or delete it"
            )
        return found

    # -- Router -----------------------------------------------------------------------------

    def check(self, kube: KubeApi, ctx: RouteContext) -> None:
        self._check_options(ctx)
        if len(ctx.tracks) > 2:
            raise UsageError(
                f"ingress-nginx supports one canary backend, not {len(ctx.tracks)} tracks "
                f"({', '.join(ctx.tracks)}): use the gateway router for more than two"
            )
        user = self._user_ingress(kube, ctx)
        if canary_ingress_spec(user.get("spec") or {}, service=ctx.service, target="-") is None:
            raise UsageError(
                f"Ingress {ctx.options[OPTION]} does not reference Service {ctx.service}: no "
                f"backend of it is the Service (add one, or name the Ingress that routes to "
                f"it with option {OPTION})"
            )
        if ctx.serving_track is None:
            raise UsageError(
                f"Service {ctx.service} selects every track: the nginx router needs it pinned "
                f"to the stable track ({ctx.track_label}=TRACK), since Ingress "
                f"{ctx.options[OPTION]} sends the stable share there"
            )
        self._canary_of(kube, ctx)
        check_track_services(kube, ctx, ctx.tracks)

    def set_weights(self, kube: KubeApi, ctx: RouteContext, weights: Mapping[str, int]) -> None:
        self._check_options(ctx)
        want = validate_weights(weights, service=ctx.service)
        _, track, weight = nginx_split(want, serving=ctx.serving_track, service=ctx.service)
        existing = self._canary_of(kube, ctx)
        if track is None:  # everything on the Ingress's own backend: no canary
            self._delete_canary(kube, ctx, existing)
            return
        user = self._user_ingress(kube, ctx)
        target = track_service_name(ctx.service, track)
        spec = canary_ingress_spec(user.get("spec") or {}, service=ctx.service, target=target)
        if spec is None:
            raise UsageError(
                f"Ingress {ctx.options[OPTION]} does not reference Service {ctx.service}"
            )
        annotations = canary_annotations(
            weight=weight,
            options=ctx.options,
            user_annotations=user["metadata"].get("annotations") or {},
        )
        annotations[ANNOTATION_CANARY_OF] = ctx.options[OPTION]
        annotations[ANNOTATION_CANARY_TRACK] = track
        name = canary_ingress_name(ctx.options[OPTION])
        body: dict[str, Any] = {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "Ingress",
            "metadata": {
                "name": name,
                "namespace": ctx.namespace,
                "labels": {LABEL_MANAGED: "kprism"},
                "annotations": annotations,
            },
            "spec": spec,
        }
        ensure_track_services(kube, ctx, (track,))
        if existing is None:
            kube.create_object(INGRESS, body)
            return
        meta = existing["metadata"]
        if existing.get("spec") == spec and (meta.get("annotations") or {}) == annotations:
            return
        body["metadata"]["resourceVersion"] = meta["resourceVersion"]
        kube.replace_object(INGRESS, body)

    def observed_weights(self, kube: KubeApi, ctx: RouteContext) -> dict[str, int] | None:
        self._check_options(ctx)
        canary = self._find(kube, canary_ingress_name(ctx.options[OPTION]), ctx.namespace)
        if canary is None or not self._ours(canary, ctx):
            return None
        annotations = canary["metadata"].get("annotations") or {}
        track = annotations.get(ANNOTATION_CANARY_TRACK, "")
        try:
            weight = int(annotations.get(NGINX_WEIGHT, ""))
        except ValueError:
            return {}
        if (
            annotations.get(NGINX_CANARY) != "true"
            or not 0 <= weight <= 100
            or canary_backends(canary.get("spec") or {}) != {track_service_name(ctx.service, track)}
            or ctx.serving_track is None
        ):
            return {}
        if ctx.serving_track == track:
            return {track: 100}
        return {ctx.serving_track: 100 - weight, track: weight}

    def remove_managed_routes(self, kube: KubeApi, ctx: RouteContext) -> None:
        self._check_options(ctx)
        self._delete_canary(kube, ctx, self._canary_of(kube, ctx))
        delete_track_services(kube, ctx)

    def _delete_canary(
        self, kube: KubeApi, ctx: RouteContext, existing: Mapping[str, Any] | None
    ) -> None:
        if existing is None:
            return
        kube.delete_object(INGRESS, existing["metadata"]["name"], ctx.namespace)
