"""What the planner must know about each traffic router (pure).

The routers themselves (:mod:`kprism.traffic`) do I/O; the planner cannot import them,
yet it plans differently for them. This table is what it needs: whether the router's
objects carry the split *exactly* (``gateway``, ``nginx``), or the split is the ratio
of ready pods, so replica counts define it and the Service selects every track
(``replicas``). Callers decide on these flags, never on a router's name.
"""

from __future__ import annotations

from dataclasses import dataclass

from kprism.errors import UsageError


@dataclass(frozen=True, kw_only=True)
class RouterKind:
    """One router's capabilities."""

    #: the name users pick it by (``--router NAME``), stored in the release spec
    name: str
    #: True: the routing objects carry the weights exactly and the Service stays pinned
    #: to stable; False: the Service selects every track and the ready-pod ratio is the split
    exact_weights: bool
    #: most tracks with a weight at once (None: no limit)
    max_tracks: int | None = None


REPLICAS = RouterKind(name="replicas", exact_weights=False)
GATEWAY = RouterKind(name="gateway", exact_weights=True)
NGINX = RouterKind(name="nginx", exact_weights=True, max_tracks=2)

#: every router, by name, in the order help texts list them
ROUTER_KINDS: dict[str, RouterKind] = {k.name: k for k in (REPLICAS, GATEWAY, NGINX)}

DEFAULT_ROUTER = REPLICAS.name


def router_kind(name: str) -> RouterKind:
    """The router called ``name``; UsageError naming the known ones otherwise."""
    try:
        return ROUTER_KINDS[name]
    except KeyError:
        names = list(ROUTER_KINDS)
        raise UsageError(
            f"--router {name!r} is unknown: use {', '.join(names[:-1])} or {names[-1]}"
        ) from None


def exact_weights(name: str) -> bool:
    """Whether router ``name`` carries the split exactly. An unknown name counts as an
    exact router, so the engine looks it up and fails with a clear error (ops refuses
    unknown names before a release starts; only a hand-edited status has one)."""
    kind = ROUTER_KINDS.get(name)
    return kind is None or kind.exact_weights
