"""Traffic routers: who splits a canary's traffic between tracks (see :mod:`.base`).

Pick one by name with :func:`router_for`; build what it needs to know about the app with
:func:`route_context`.
"""

from __future__ import annotations

from kprism.errors import UsageError
from kprism.traffic.base import (
    RouteContext,
    Router,
    context_for_service,
    delete_track_services,
    ensure_track_services,
    route_context,
)
from kprism.traffic.gateway_api import GatewayRouter
from kprism.traffic.ingress_nginx import NginxRouter
from kprism.traffic.replicas import ReplicasRouter

#: every router by name; a router is one module plus its :class:`~kprism.model.routing.RouterKind`
#: (in ``ROUTER_KINDS``) plus one entry here
ROUTERS: dict[str, Router] = {
    r.kind.name: r for r in (ReplicasRouter(), GatewayRouter(), NginxRouter())
}


def router_for(name: str) -> Router:
    """The router called ``name``; UsageError naming the known ones otherwise."""
    try:
        return ROUTERS[name]
    except KeyError:
        raise UsageError(
            f"unknown traffic router {name!r}: pick one of {', '.join(sorted(ROUTERS))}"
        ) from None


__all__ = [
    "ROUTERS",
    "GatewayRouter",
    "NginxRouter",
    "ReplicasRouter",
    "RouteContext",
    "Router",
    "context_for_service",
    "delete_track_services",
    "ensure_track_services",
    "route_context",
    "router_for",
]
