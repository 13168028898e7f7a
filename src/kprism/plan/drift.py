"""Drift: someone else changed what a release set (pure).

A release remembers, in its status, the value of every field it controls as it last
set or saw it (``applied``) and the values the actions recorded with the status are
setting (``pending``): the Service selectors (the app's and every other Service that
moves with it), the replicas and pod template of the stable and candidate Deployments,
and the exact router's weights. Field keys are ``Kind/name/field``
(``Deployment/web-green/spec.replicas``).

On every observation, before any step runs, :func:`check` compares: a field whose value
is neither what kprism set nor what it is setting has drifted — a ``kubectl set image``
on the candidate at the promotion gate, a ``kubectl scale`` or a selector edited by hand
during a paused canary. The release then stops (:func:`record`: Paused, a ``Drifted``
condition, the drifted fields with the field manager that changed each, from
``metadata.managedFields``, one Warning Event) and neither promote nor resume moves it
until the operator chooses: ``promote --accept-drift`` takes the cluster as it is as the
new truth (:func:`accept`; the images recorded are then those really running), ``abort``
goes back (the way back is never stopped by drift), or undoing the change clears it.

What is tolerated, so that no release stops by itself:

- a crash between recording a status and taking its actions: the old value is still
  accepted while the new one is pending;
- a pod template kprism writes: the API server fills in defaults, so the value is not
  known in advance; it is pending as "any" and taken as written when next seen;
- replicas an HPA controls (a user's HPA whose bounds kprism does not hold) and fields
  of objects that do not exist (yet): not tracked; a field seen for the first time is
  taken as it is.
"""

from __future__ import annotations

from collections.abc import Mapping

from kprism.model.actions import (
    CreateDeployment,
    KubeAction,
    RemoveRoutes,
    ReplaceTemplate,
    ScaleDeployment,
    SetSelector,
    SetWeights,
)
from kprism.model.observed import AppObs, DeploymentObs
from kprism.model.release import Condition, Drift, Phase, ReleaseStatus
from kprism.model.routing import exact_weights
from kprism.plan import siblings
from kprism.plan.template import template_hash

ANY = "*"
CONDITION = "Drifted"
REPLICAS = "spec.replicas"
TEMPLATE = "spec.template"
SELECTOR = "spec.selector"
ROUTES = "routes/-/weights"


def _fmt(values: Mapping[str, object] | None) -> str:
    if values is None:
        return "none"
    return ",".join(f"{k}={v}" for k, v in sorted(values.items())) or "<empty>"


def _weights(weights: Mapping[str, int] | None) -> str:
    """Route weights as compared: tracks with no share left out (a router may write a
    0 % track or not, and reads back the same split either way)."""
    if weights is None:
        return _fmt(None)
    return _fmt({track: w for track, w in weights.items() if w})


def _key(kind: str, name: str, field: str) -> str:
    return f"{kind}/{name}/{field}"


def _hpa_free(obs: AppObs, d: DeploymentObs) -> bool:
    """Replicas nobody but kprism sets: no HPA scales ``d``, or kprism holds it at one size."""
    return all(h.min_replicas == h.max_replicas for h in obs.hpas if h.target == d.name)


def fields(st: ReleaseStatus, obs: AppObs, *, routes: bool = True) -> dict[str, str]:
    """The value of every field a release controls, as observed now (``routes``: the
    observation carries what the exact router reads back, as the engine's does)."""
    out: dict[str, str] = {}
    for svc in (obs.service, *(s.service for s in siblings.movables(obs))):
        out[_key("Service", svc.name, SELECTOR)] = _fmt(svc.selector)
    for name in dict.fromkeys((st.stable_deployment, st.candidate_deployment)):
        d = obs.deployment(name)
        if d is None:
            continue
        if _hpa_free(obs, d):
            out[_key("Deployment", name, REPLICAS)] = str(d.replicas)
        out[_key("Deployment", name, TEMPLATE)] = template_hash(d.template)
    if routes and exact_weights(st.spec.router):
        out[ROUTES] = _weights(obs.route_weights)
    return out


def check(st: ReleaseStatus, obs: AppObs, *, routes: bool = True) -> tuple[Drift, ...]:
    """The fields someone else changed since kprism set (or last saw) them. Without
    ``routes`` (an observation that did not ask the router), the weights are not compared."""
    found = []
    for key, got in fields(st, obs, routes=routes).items():
        want, pending = st.applied.get(key), st.pending.get(key)
        if want is None and pending is None:
            continue  # not tracked yet: taken as it is
        if got in (want, pending) or pending == ANY:
            continue
        found.append(_describe(st, obs, key, want if want is not None else str(pending), got))
    return tuple(found)


def _describe(st: ReleaseStatus, obs: AppObs, key: str, want: str, got: str) -> Drift:
    kind, name, field = key.split("/", 2)
    by = ""
    if kind == "Deployment":
        d = obs.deployment(name)
        by = d.managers.get(field, "") if d else ""
        if field == TEMPLATE and d is not None:
            recorded = st.candidate_images if name == st.candidate_deployment else st.stable_images
            now = d.images()
            if now != dict(recorded):
                want, got = _fmt(recorded), _fmt(now)
            else:
                want, got = f"pod template {want}", f"pod template {got} (same images)"
    elif kind == "Service":
        svc = next(
            (s for s in (obs.service, *(x.service for x in obs.siblings)) if s.name == name),
            None,
        )
        by = svc.managers.get(field, "") if svc else ""
    elif key == ROUTES:
        kind, name, field = "router", st.spec.router, "weights"
    return Drift(key=key, kind=kind, name=name, field=field, want=want, got=got, by=by)


def _same(a: tuple[Drift, ...], b: tuple[Drift, ...]) -> bool:
    return [(d.key, d.got) for d in a] == [(d.key, d.got) for d in b]


def _condition(
    st: ReleaseStatus, *, status: bool, reason: str, message: str, now: str
) -> tuple[Condition, ...]:
    others = tuple(c for c in st.conditions if c.type != CONDITION)
    return (
        *others,
        Condition(
            type=CONDITION, status=status, reason=reason, message=message, last_transition=now
        ),
    )


def summary(st: ReleaseStatus, app: str) -> str:
    """One line: what drifted, and the operator's two ways on."""
    first = st.drift[0].describe()
    more = f" (and {len(st.drift) - 1} more)" if len(st.drift) > 1 else ""
    return (
        f"release {st.id} drifted: {first}{more}; `kprism promote {app} --accept-drift` takes "
        f"the cluster as it is now as the new truth, `kprism abort {app}` goes back to "
        f"{st.stable}"
    )


def record(
    st: ReleaseStatus, obs: AppObs, found: tuple[Drift, ...], now: str
) -> tuple[ReleaseStatus, tuple[tuple[str, str], ...]]:
    """Stop the release on drift: Paused, the drifted fields, a ``Drifted`` condition.
    Returns the status and the (reason, message) Warning Events to emit: one per newly
    drifted field (none when nothing new drifted since the last look)."""
    new = tuple(d for d in found if (d.key, d.got) not in {(x.key, x.got) for x in st.drift})
    out = st.evolve(paused=True, phase=Phase.PAUSED, drift=found)
    message = summary(out, obs.service.name)
    if not _same(st.drift, found):
        out = out.evolve(
            conditions=_condition(out, status=True, reason="Drifted", message=message, now=now)
        )
    out = out.evolve(message=message)
    return out, tuple(("Drifted", d.describe()) for d in new)


def resolved(st: ReleaseStatus, now: str) -> ReleaseStatus:
    """Every drifted field is back to what kprism set: clear the drift (the release stays
    paused until resumed)."""
    return st.evolve(
        drift=(),
        conditions=_condition(
            st, status=False, reason="Resolved", message="the drifted fields were put back", now=now
        ),
        message="drift undone: `kprism resume` goes on",
    )


def accept(st: ReleaseStatus, obs: AppObs, now: str, *, by: str = "") -> ReleaseStatus:
    """``promote --accept-drift``: the cluster as it is now is the new truth. What the
    release records as released is what really runs."""
    who = f" by {by}" if by else ""
    cand = obs.deployment(st.candidate_deployment)
    stable = obs.deployment(st.stable_deployment)
    return st.evolve(
        applied=fields(st, obs),
        pending={},
        drift=(),
        candidate_images=cand.images() if cand is not None else st.candidate_images,
        stable_images=stable.images() if stable is not None else st.stable_images,
        conditions=_condition(
            st,
            status=False,
            reason="Accepted",
            message=f"drift accepted{who}: "
            + "; ".join(d.describe() for d in st.drift or check(st, obs)),
            now=now,
        ),
    )


def _pending(actions: tuple[KubeAction, ...]) -> dict[str, str]:
    out: dict[str, str] = {}
    for a in actions:
        match a:
            case ScaleDeployment(name=name, replicas=n):
                out[_key("Deployment", name, REPLICAS)] = str(n)
            case CreateDeployment(name=name, body=body):
                out[_key("Deployment", name, REPLICAS)] = str(body["spec"]["replicas"])
                out[_key("Deployment", name, TEMPLATE)] = ANY
            case ReplaceTemplate(name=name):
                out[_key("Deployment", name, TEMPLATE)] = ANY
            case SetSelector(service=name, selector=selector):
                out[_key("Service", name, SELECTOR)] = _fmt(selector)
            case SetWeights(weights=weights):
                out[ROUTES] = _weights(weights)
            case RemoveRoutes():
                out[ROUTES] = _weights(None)
    return out


def settle(st: ReleaseStatus, obs: AppObs, actions: tuple[KubeAction, ...]) -> ReleaseStatus:
    """After a look that found no drift: what was observed is what kprism keeps; the
    actions about to be taken are pending (as is an earlier pending value not seen yet)."""
    now = fields(st, obs)
    pending = {k: v for k, v in st.pending.items() if v != ANY and k in now and now[k] != v}
    pending.update(_pending(actions))
    if now == st.applied and pending == st.pending:
        return st
    return st.evolve(applied=now, pending=pending)
