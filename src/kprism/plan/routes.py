"""Pure rewrites of traffic-routing objects: what the exact-weight routers write and read.

The routers in :mod:`kprism.traffic` fetch a user's ``HTTPRoute`` or ``Ingress``, call
these functions on plain JSON dicts and write the result back with one request. Keeping
the rewrites here (no client, no clock) lets unit tests cover every shape of rule.

Gateway API (``HTTPRoute``)
    Every ``backendRef`` of a rule that points at the app's Service is replaced by one
    ``backendRef`` per track, to the per-track Service ``<service>-<track>``, with the
    track's weight (``weight`` on every ref, zero included, so the split is explicit).
    The original ``backendRefs`` are saved once, in the annotation
    :data:`ANNOTATION_ORIGINAL_REFS`, and every later rewrite starts from them again, so
    ``set_weights`` is idempotent and ``remove_managed_routes`` restores exactly what
    the user had. A rule that also sends traffic elsewhere keeps that share: its other
    refs' weights are multiplied by 100 and the app ref's weight ``a`` becomes
    ``a * percent`` per track, which keeps every ratio exact in integers.

ingress-nginx
    kprism never edits the user's Ingress. It creates a *canary* Ingress beside it: the
    same class, hosts and paths, restricted to the paths that route to the app's
    Service, pointed at the candidate's per-track Service, with the
    ``nginx.ingress.kubernetes.io/canary*`` annotations. ingress-nginx supports one
    canary backend per host/path, so at most two tracks.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from kprism.errors import InvalidSpecError, UsageError

ANNOTATION_ORIGINAL_REFS = "kprism.dev/original-backend-refs"
ANNOTATION_TRACK_SERVICE_OF = "kprism.dev/track-service-of"
ANNOTATION_CANARY_TRACK = "kprism.dev/canary-track"
ANNOTATION_CANARY_OF = "kprism.dev/canary-of"

NGINX = "nginx.ingress.kubernetes.io/"
NGINX_CANARY = NGINX + "canary"
NGINX_WEIGHT = NGINX + "canary-weight"
NGINX_HEADER = NGINX + "canary-by-header"
NGINX_HEADER_VALUE = NGINX + "canary-by-header-value"
NGINX_COOKIE = NGINX + "canary-by-cookie"
#: Every nginx annotation kprism writes on its canary Ingress (and so may remove).
NGINX_MANAGED = (NGINX_CANARY, NGINX_WEIGHT, NGINX_HEADER, NGINX_HEADER_VALUE, NGINX_COOKIE)
LEGACY_INGRESS_CLASS = "kubernetes.io/ingress.class"

GATEWAY_MAX_WEIGHT = 1_000_000  # HTTPRoute backendRef.weight maximum
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")

Rule = dict[str, Any]
SavedRefs = list[list[dict[str, Any]] | None]


def track_service_name(service: str, track: str) -> str:
    """The per-track Service kprism creates for an exact-weight router."""
    return f"{service}-{track}"


def canary_ingress_name(ingress: str) -> str:
    return f"{ingress}-kprism-canary"


def validate_weights(weights: Mapping[str, int], *, service: str) -> dict[str, int]:
    """Track → percent: integers in 0..100 that sum to 100, tracks usable in a name."""
    if not weights:
        raise InvalidSpecError("weights: at least one track needs a weight")
    out: dict[str, int] = {}
    for track, w in weights.items():
        name = track_service_name(service, track)
        if not _DNS_LABEL.match(track) or len(name) > 63:
            raise InvalidSpecError(
                f"weights: track {track!r} cannot name a Service ({name!r} must be a DNS "
                "label of at most 63 characters)"
            )
        if isinstance(w, bool) or not isinstance(w, int) or not 0 <= w <= 100:
            raise InvalidSpecError(f"weights: {track}={w!r} must be an integer in 0..100")
        out[track] = w
    if sum(out.values()) != 100:
        raise InvalidSpecError(f"weights: {_fmt(out)} sum to {sum(out.values())}, not 100")
    return out


def _fmt(weights: Mapping[str, int]) -> str:
    return " ".join(f"{t}={w}" for t, w in weights.items())


def split(weights: Mapping[str, int]) -> str:
    """``blue=90 green=10``: weights as messages show them."""
    return _fmt(weights)


# -- Gateway API ---------------------------------------------------------------------------


def is_service_ref(ref: Mapping[str, Any], *, service: str, namespace: str) -> bool:
    """A backendRef to the core Service ``service`` in the route's own namespace."""
    return (
        ref.get("name") == service
        and (ref.get("group") or "") == ""
        and (ref.get("kind") or "Service") == "Service"
        and (ref.get("namespace") or namespace) == namespace
    )


def routed_rules(rules: Sequence[Mapping[str, Any]], *, service: str, namespace: str) -> list[int]:
    """Indexes of the rules with a backendRef to the app's Service."""
    return [
        i
        for i, rule in enumerate(rules)
        if any(
            is_service_ref(r, service=service, namespace=namespace)
            for r in rule.get("backendRefs") or ()
        )
    ]


def save_backend_refs(
    rules: Sequence[Mapping[str, Any]], *, service: str, namespace: str
) -> SavedRefs:
    """What the annotation keeps: each rule's backendRefs if it routes to the Service,
    else None (kprism does not touch that rule)."""
    touched = set(routed_rules(rules, service=service, namespace=namespace))
    return [
        copy.deepcopy(list(rule.get("backendRefs") or ())) if i in touched else None
        for i, rule in enumerate(rules)
    ]


def dump_saved(saved: SavedRefs) -> str:
    return json.dumps({"version": 1, "rules": saved}, separators=(",", ":"), sort_keys=True)


def load_saved(raw: str, *, route: str) -> SavedRefs:
    try:
        rules = json.loads(raw).get("rules")
    except (ValueError, AttributeError):
        rules = None
    if not isinstance(rules, list):
        raise UsageError(
            f"HTTPRoute {route}: annotation {ANNOTATION_ORIGINAL_REFS} is not kprism's JSON; "
            "restore the route's backendRefs by hand and remove the annotation"
        )
    return [list(r) if isinstance(r, list) else None for r in rules]


def _expand(
    refs: Sequence[Mapping[str, Any]],
    *,
    service: str,
    namespace: str,
    weights: Mapping[str, int],
    route: str,
) -> list[dict[str, Any]]:
    tracks = sorted(weights)
    alone = len(refs) == 1
    out: list[dict[str, Any]] = []
    for ref in refs:
        if not is_service_ref(ref, service=service, namespace=namespace):
            kept = copy.deepcopy(dict(ref))
            kept["weight"] = int(ref.get("weight", 1)) * 100
            out.append(kept)
            continue
        base = int(ref.get("weight", 1))
        for track in tracks:
            new = copy.deepcopy(dict(ref))
            new["name"] = track_service_name(service, track)
            new["weight"] = weights[track] if alone else base * weights[track]
            out.append(new)
    if any(r["weight"] > GATEWAY_MAX_WEIGHT for r in out):
        raise UsageError(
            f"HTTPRoute {route}: a backendRef weight would exceed {GATEWAY_MAX_WEIGHT} after "
            "splitting it by percent; lower the weights of that rule's backendRefs"
        )
    return out


def rewrite_rules(
    rules: Sequence[Mapping[str, Any]],
    saved: SavedRefs,
    *,
    service: str,
    namespace: str,
    weights: Mapping[str, int],
    route: str,
) -> list[Rule]:
    """The rules with every saved rule's refs split over the per-track Services."""
    _check_shape(rules, saved, route=route)
    out: list[Rule] = []
    for rule, original in zip(rules, saved, strict=True):
        new = copy.deepcopy(dict(rule))
        if original is not None:
            new["backendRefs"] = _expand(
                original, service=service, namespace=namespace, weights=weights, route=route
            )
        out.append(new)
    return out


def restore_rules(
    rules: Sequence[Mapping[str, Any]], saved: SavedRefs, *, route: str
) -> list[Rule]:
    """The rules with the saved backendRefs put back (other rules untouched)."""
    _check_shape(rules, saved, route=route)
    out: list[Rule] = []
    for rule, original in zip(rules, saved, strict=True):
        new = copy.deepcopy(dict(rule))
        if original is not None:
            new["backendRefs"] = copy.deepcopy(original)
        out.append(new)
    return out


def _check_shape(rules: Sequence[Mapping[str, Any]], saved: SavedRefs, *, route: str) -> None:
    if len(rules) != len(saved):
        raise UsageError(
            f"HTTPRoute {route} has {len(rules)} rules but had {len(saved)} when kprism saved "
            f"its backendRefs in annotation {ANNOTATION_ORIGINAL_REFS}: put the rules back "
            "(or restore the backendRefs from the annotation by hand and remove it)"
        )


def gateway_weights(
    rules: Sequence[Mapping[str, Any]], saved: SavedRefs, *, service: str, namespace: str
) -> dict[str, int]:
    """Track → percent that the rules' backendRefs carry (VerifyWeight).

    ``{}`` when the routed rules disagree with each other or lost their per-track refs
    (someone edited the route): never equal to a split kprism asked for.
    """
    if len(rules) != len(saved):
        return {}
    seen: list[dict[str, int]] = []
    for rule, original in zip(rules, saved, strict=True):
        if original is None:
            continue
        kept = {r.get("name") for r in original}
        prefix = f"{service}-"
        per_track: dict[str, int] = {}
        for ref in rule.get("backendRefs") or ():
            name = str(ref.get("name", ""))
            if name in kept or not name.startswith(prefix):
                continue
            if not is_service_ref({**ref, "name": service}, service=service, namespace=namespace):
                continue
            track = name[len(prefix) :]
            per_track[track] = per_track.get(track, 0) + int(ref.get("weight", 1))
        if not per_track:
            return {}
        seen.append(percentages(per_track))
    if not seen or any(s != seen[0] for s in seen):
        return {}
    return seen[0]


def percentages(raw: Mapping[str, int]) -> dict[str, int]:
    """Relative weights → integer percents (exact for what kprism writes)."""
    total = sum(raw.values())
    if total <= 0:
        return {t: 0 for t in raw}
    return {t: round(100 * w / total) for t, w in sorted(raw.items())}


# -- ingress-nginx --------------------------------------------------------------------------


def _backend_is(backend: Mapping[str, Any] | None, service: str) -> bool:
    return bool(backend) and (backend or {}).get("service", {}).get("name") == service


def _retarget(backend: Mapping[str, Any], target: str) -> dict[str, Any]:
    new = copy.deepcopy(dict(backend))
    new["service"]["name"] = target
    return new


def ingress_routes_to(spec: Mapping[str, Any], service: str) -> bool:
    """Whether any backend of the Ingress (default or a path's) is the Service."""
    return canary_ingress_spec(spec, service=service, target=service) is not None


def canary_ingress_spec(
    spec: Mapping[str, Any], *, service: str, target: str
) -> dict[str, Any] | None:
    """The canary Ingress's spec: the user's class, and only the hosts/paths that route to
    ``service``, sent to ``target`` instead. None if nothing routes to ``service``."""
    out: dict[str, Any] = {}
    if spec.get("ingressClassName"):
        out["ingressClassName"] = spec["ingressClassName"]
    if _backend_is(spec.get("defaultBackend"), service):
        out["defaultBackend"] = _retarget(spec["defaultBackend"], target)
    rules: list[dict[str, Any]] = []
    for rule in spec.get("rules") or ():
        paths = [
            {**copy.deepcopy(dict(p)), "backend": _retarget(p["backend"], target)}
            for p in (rule.get("http") or {}).get("paths") or ()
            if _backend_is(p.get("backend"), service)
        ]
        if paths:
            new: dict[str, Any] = {"http": {"paths": paths}}
            if rule.get("host"):
                new["host"] = rule["host"]
            rules.append(new)
    if rules:
        out["rules"] = rules
    if "defaultBackend" not in out and not rules:
        return None
    return out


def canary_backends(spec: Mapping[str, Any]) -> set[str]:
    """Names of every Service the (canary) Ingress spec sends traffic to."""
    names: set[str] = set()
    default = spec.get("defaultBackend") or {}
    if default.get("service"):
        names.add(default["service"].get("name", ""))
    for rule in spec.get("rules") or ():
        for p in (rule.get("http") or {}).get("paths") or ():
            names.add(((p.get("backend") or {}).get("service") or {}).get("name", ""))
    return names


def canary_annotations(
    *, weight: int, options: Mapping[str, str], user_annotations: Mapping[str, str]
) -> dict[str, str]:
    """The nginx annotations of the canary Ingress (plus the user's legacy class)."""
    out = {NGINX_CANARY: "true", NGINX_WEIGHT: str(weight)}
    if options.get("header"):
        out[NGINX_HEADER] = options["header"]
        if options.get("header-value"):
            out[NGINX_HEADER_VALUE] = options["header-value"]
    if options.get("cookie"):
        out[NGINX_COOKIE] = options["cookie"]
    if user_annotations.get(LEGACY_INGRESS_CLASS):
        out[LEGACY_INGRESS_CLASS] = user_annotations[LEGACY_INGRESS_CLASS]
    return out


def nginx_split(
    weights: Mapping[str, int], *, serving: str | None, service: str
) -> tuple[str, str | None, int]:
    """(stable, canary track or None, canary weight) for ingress-nginx.

    The user's Ingress goes to the app's Service, so *stable* is the track that Service
    pins; the canary Ingress carries the one other track.
    """
    if serving is None:
        raise UsageError(
            f"Service {service} selects every track: the nginx router needs it pinned to the "
            "stable track (the user's Ingress sends the rest of the traffic there)"
        )
    if len(weights) > 2:
        raise UsageError(
            f"ingress-nginx supports one canary backend: weights for {len(weights)} tracks "
            f"({split(weights)}); use the gateway router for more than two tracks"
        )
    if serving not in weights:
        raise UsageError(
            f"Service {service} sends the Ingress's traffic to track {serving}, which has no "
            f"weight in {split(weights)}"
        )
    others = [t for t in weights if t != serving]
    if not others:
        return serving, None, 0
    return serving, others[0], weights[others[0]]


def unknown_options(
    options: Mapping[str, str], allowed: Iterable[str], *, router: str
) -> str | None:
    """A one-line complaint about option keys the router does not take, or None."""
    allowed = sorted(allowed)
    bad = sorted(k for k in options if k not in allowed)
    if not bad:
        return None
    return (
        f"router {router} does not take option(s) {', '.join(bad)}; it takes "
        f"{', '.join(allowed) or 'none'}"
    )
