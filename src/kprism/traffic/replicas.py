"""Router ``replicas`` (the default, the seed's way): the split is the ready-pod ratio.

The app's Service selects every track and kube-proxy spreads connections over the ready
endpoints, so the planner defines the split by scaling the Deployments
(:mod:`kprism.plan.weights`) and verifies it on the EndpointSlices. There are no routing
objects to write, read back or remove: every method is a no-op. It exists so that every
canary has a router.
"""

from __future__ import annotations

from collections.abc import Mapping

from kprism.kube.api import KubeApi
from kprism.model.routing import REPLICAS
from kprism.traffic.base import RouteContext, RouterBase, check_options


class ReplicasRouter(RouterBase):
    """No routing objects: replica counts are the split."""

    kind = REPLICAS

    def check(self, kube: KubeApi, ctx: RouteContext) -> None:
        check_options(ctx, router=self.name, required=())

    def set_weights(self, kube: KubeApi, ctx: RouteContext, weights: Mapping[str, int]) -> None:
        return None

    def observed_weights(self, kube: KubeApi, ctx: RouteContext) -> dict[str, int] | None:
        return None

    def remove_managed_routes(self, kube: KubeApi, ctx: RouteContext) -> None:
        return None
