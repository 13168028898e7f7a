"""Rainbow: traffic split over any number of live tracks (blue stable, green canary, red
an A/B variant …), as a level-triggered plan like adopt's.

With the ``replicas`` router the split is the ready-pod ratio (the seed's way, for N
tracks): pods per track come from :func:`kprism.plan.weights.replicas_for_weights`.
Growing tracks are scaled up and must be ready before the Service selects every track
and before any track shrinks, so ready capacity never drops. With an exact-weight
router, each live track gets enough pods to serve its share and the router carries the
exact weights; the Service stays pinned to the track it serves. Other Services over the
app's pods select what the app's Service selects (:mod:`kprism.plan.siblings`).

A split is recorded with its :class:`~kprism.model.operation.RestorePoint` (taken by
:func:`restore_point` before it changes anything); when it is aborted or fails,
:func:`decide_restore` puts that state back the same careful way: grow first, wait for
the pods that served before, select as before, then shrink.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from kprism.errors import UsageError
from kprism.model.actions import ScaleDeployment, SetWeights
from kprism.model.observed import AppObs
from kprism.model.operation import RestorePoint
from kprism.model.routing import exact_weights
from kprism.plan import siblings as sib
from kprism.plan.converge import ConvergeStep
from kprism.plan.weights import default_max_surge, replicas_for_weights

SplitStep = ConvergeStep


def parse_weights(args: list[str]) -> dict[str, int]:
    """``["blue=80", "green=15", "red=5"]`` → weights; they must sum to 100. An argument
    may hold several, comma-separated (``v1=50,v2=50``, as ``--steps`` takes its weights
    and the dashboard's form its split)."""
    out: dict[str, int] = {}
    for arg in (part.strip() for a in args for part in a.split(",") if part.strip()):
        track, sep, value = arg.partition("=")
        if not sep or not track or not value.rstrip("%").isdigit():
            raise UsageError(f"weight {arg!r}: use TRACK=PERCENT, e.g. green=20")
        w = int(value.rstrip("%"))
        if not 0 <= w <= 100:
            raise UsageError(f"weight {arg!r}: must be between 0 and 100")
        if track in out:
            raise UsageError(f"track {track!r} is given twice")
        out[track] = w
    if sum(out.values()) != 100:
        raise UsageError(f"weights must sum to 100, got {sum(out.values())} ({', '.join(args)})")
    return out


def pod_targets(
    obs: AppObs, weights: Mapping[str, int], *, router: str, total: int
) -> dict[str, int]:
    if not exact_weights(router):
        return replicas_for_weights(
            total=total, weights=weights, max_surge=default_max_surge(total)
        )
    return {
        t: (0 if w == 0 else total if w == 100 else max(1, math.ceil(total * w / 100)))
        for t, w in weights.items()
    }


def decide_split(obs: AppObs, weights: Mapping[str, int], *, router: str, total: int) -> SplitStep:
    """The next move towards ``weights`` (track → percent) over ``total`` pods of capacity."""
    for track in weights:
        if obs.track(track) is None:
            have = ", ".join(sorted(d.track for d in obs.deployments if d.track)) or "none"
            raise UsageError(
                f"app {obs.service.name} has no track {obs.track_label}={track} (tracks: {have}): "
                f"create it with `kprism release {obs.service.name} --track {track} --no-wait ...`"
            )
    follow = sib.follow(obs)
    if follow:
        return SplitStep(actions=follow)
    targets = pod_targets(obs, weights, router=router, total=total)
    deps = {t: obs.track(t) for t in targets}
    grow = [
        ScaleDeployment(name=d.name, replicas=targets[t])
        for t, d in deps.items()
        if d is not None and d.replicas < targets[t]
    ]
    if grow:
        return SplitStep(actions=tuple(grow))
    live = [t for t, w in weights.items() if w > 0]
    quiet = _quiet_idle_tracks(obs, targets, widen=not exact_weights(router) and len(live) > 1)
    if quiet is not None:
        return quiet
    unready = [
        f"{t} {len(obs.ready_pods(t))}/{n}"
        for t, n in targets.items()
        if n > 0 and len(obs.ready_pods(t)) < n
    ]
    if unready:
        return SplitStep(waiting=f"waiting for pods: {', '.join(unready)}")
    if not exact_weights(router):
        pins = sib.select(obs, live[0] if len(live) == 1 else None)
        if pins:
            return SplitStep(actions=pins)
    elif obs.route_weights is None or {
        t: w for t, w in obs.route_weights.items() if w or t in weights
    } != dict(weights):
        return SplitStep(actions=(SetWeights(router=router, weights=dict(weights)),))
    shrink = [
        ScaleDeployment(name=d.name, replicas=targets[t])
        for t, d in deps.items()
        if d is not None and d.replicas > targets[t]
    ]
    if not exact_weights(router) and len(live) > 1:
        # The Service selects every track now: a track the split does not list would
        # get traffic by its pod count. It gets 0 pods (the split says so), not silence.
        shrink += [
            ScaleDeployment(name=d.name, replicas=0)
            for d in obs.deployments
            if d.track and d.track not in targets and d.replicas > 0
        ]
    if shrink:
        return SplitStep(actions=tuple(shrink))
    if not exact_weights(router):
        # Exactly the planned endpoints: every ready endpoint must be a ready pod of a
        # listed track, in the planned numbers. An endpoint of a pod that is already
        # terminating or gone from the pod list (the EndpointSlice lags behind under load)
        # still gets traffic: wait for it to go.
        got = {t: len(obs.endpoints & obs.ready_pods(t)) for t in targets}
        planned = frozenset().union(*(obs.ready_pods(t) for t in targets))
        stray = sorted(obs.endpoints - planned)
        if got != targets or stray or not sib.endpoints_agree(obs):
            extra = f", {len(stray)} other endpoint(s) still listed" if stray else ""
            return SplitStep(
                waiting=f"verifying endpoints: "
                f"{', '.join(f'{t} {got[t]}/{n}' for t, n in targets.items())} ready"
                f"{extra}{sib.lag_note(obs)}"
            )
    split = ", ".join(f"{t} {w}%" for t, w in weights.items())
    pods = ", ".join(f"{t} {n}" for t, n in targets.items())
    return SplitStep(done=True, message=f"traffic split {split} (pods: {pods})")


def _quiet_idle_tracks(obs: AppObs, targets: Mapping[str, int], *, widen: bool) -> SplitStep | None:
    """Before the Service stops pinning one track and selects every track, each track it
    does not select yet is brought down to its share (0 when the split does not list it):
    an idle track's ready pods would otherwise get traffic the moment the selector widens
    (Bookinfo's ``reviews-v3`` beside ``split reviews v1=50 v2=50``). Shrinking a track
    that serves nothing costs no capacity. None when there is nothing to wait for."""
    serving = obs.serving_track()
    if not widen or serving is None:
        return None
    idle = [d for d in obs.deployments if d.track and d.track != serving]
    shrink = [
        ScaleDeployment(name=d.name, replicas=targets.get(d.track or "", 0))
        for d in idle
        if d.replicas > targets.get(d.track or "", 0)
    ]
    if shrink:
        return SplitStep(actions=tuple(shrink))
    loud = [
        f"{d.track} {len(obs.ready_pods(d.track or ''))}/{targets.get(d.track or '', 0)}"
        for d in idle
        if len(obs.ready_pods(d.track or "")) > targets.get(d.track or "", 0)
    ]
    if loud:
        return SplitStep(
            waiting=f"waiting for idle pods to stop before Service {obs.service.name} selects "
            f"every track: {', '.join(loud)}"
        )
    return None


def restore_point(obs: AppObs, *, routes: Mapping[str, int] | None = None) -> RestorePoint:
    """The app's traffic now: what a split that is aborted or fails goes back to."""
    tracks = [d for d in obs.deployments if d.track]
    return RestorePoint(
        replicas={d.track: d.replicas for d in tracks if d.track},
        ready={d.track: len(obs.ready_pods(d.track)) for d in tracks if d.track},
        selected=obs.serving_track(),
        routes=dict(routes) if routes is not None else None,
    )


def _live_routes(weights: Mapping[str, int] | None) -> dict[str, int]:
    return {t: w for t, w in (weights or {}).items() if w}


def decide_restore(obs: AppObs, before: RestorePoint, *, router: str) -> SplitStep:
    """The next move back to ``before``; capacity never drops on the way (grow, wait for
    as many ready pods as each track had, select as before, shrink, verify)."""
    follow = sib.follow(obs)
    if follow:
        return SplitStep(actions=follow)
    deps = {t: obs.track(t) for t in before.replicas}
    # A track that was idle (the Service pinned another) grows back only once the Service
    # is pinned again: while it still selects every track, the pods would get traffic.
    later = (
        set()
        if exact_weights(router)
        or before.selected is None
        or obs.serving_track() == before.selected
        else {t for t in before.replicas if t != before.selected}
    )
    grow = [
        ScaleDeployment(name=d.name, replicas=before.replicas[t])
        for t, d in deps.items()
        if d is not None and d.replicas < before.replicas[t] and t not in later
    ]
    if grow:
        return SplitStep(actions=tuple(grow))
    want_ready = {
        t: min(before.ready.get(t, 0), n) for t, n in before.replicas.items() if t not in later
    }
    unready = [
        f"{t} {len(obs.ready_pods(t))}/{n}"
        for t, n in want_ready.items()
        if deps.get(t) is not None and len(obs.ready_pods(t)) < n
    ]
    if unready:
        return SplitStep(waiting=f"restoring: waiting for pods: {', '.join(unready)}")
    if exact_weights(router):
        if before.routes is not None and _live_routes(obs.route_weights) != _live_routes(
            before.routes
        ):
            return SplitStep(actions=(SetWeights(router=router, weights=dict(before.routes)),))
    else:
        pins = sib.select(obs, before.selected)
        if pins:
            return SplitStep(actions=pins)
    shrink = [
        ScaleDeployment(name=d.name, replicas=before.replicas[t])
        for t, d in deps.items()
        if d is not None and d.replicas > before.replicas[t]
    ]
    if shrink:
        return SplitStep(actions=tuple(shrink))
    if not exact_weights(router):
        selected = [before.selected] if before.selected is not None else list(deps)
        planned = frozenset().union(*(obs.ready_pods(t) for t in selected))
        stray = sorted(obs.endpoints - planned)
        if stray or not sib.endpoints_agree(obs):
            extra = f", {len(stray)} other endpoint(s) still listed" if stray else ""
            return SplitStep(waiting=f"restoring: verifying endpoints{extra}{sib.lag_note(obs)}")
    return SplitStep(done=True, message=f"traffic restored to {before.describe()}")
