"""Canary (灰度) as a pure, level-triggered step machine on top of the blue-green one.

With the default ``replicas`` router the Service selects both tracks and traffic
follows the ready-pod ratio, as in the seed: each ``setWeight`` step picks a
(candidate, stable) pair with :func:`kprism.plan.weights.replicas_for_weight` and walks
there one :func:`~kprism.plan.weights.next_scale` move at a time, so ready capacity never
drops below the stable size N and desired pods never exceed N + maxSurge. A step is
reached when the EndpointSlices list the planned ready pods of each track.

Which pods go when a track shrinks: kprism lowers ``spec.replicas`` and lets the
ReplicaSet controller choose, whose ranking already removes unscheduled, pending and
not-ready pods first and, among ready ones, the most recently ready (the newest) — what
a canary wants. kprism therefore sets no ``controller.kubernetes.io/pod-deletion-cost``;
a user's own deletion costs keep working.

With an exact-weight router (``gateway``, ``nginx``) the Service stays pinned to stable;
the candidate is scaled to serve its share, the router's objects carry the split, and a
step is reached when the router reads back the requested weights.

Other Services over the app's pods move with its Service (:mod:`kprism.plan.siblings`):
they select both tracks when it does, are verified on their own EndpointSlices at each
step, and end on the candidate (or, aborted, on stable) with it.

Forward::

    pin-service → create-candidate → canary-step[0..n] → finalize → done

Abort (intent or failure) reuses blue-green's way back, after removing router routes::

    remove-routes → restore-stable → switch-back → verify-switch-back → scale-down-candidate → aborted
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from kprism.model.actions import (
    DeleteHpa,
    EnsureHpa,
    KubeAction,
    RemoveRoutes,
    ScaleDeployment,
    SetWeights,
)
from kprism.model.analysis import AnalysisRef, Metric
from kprism.model.observed import AppObs
from kprism.model.release import Intent, Phase, ReleaseStatus
from kprism.model.routing import exact_weights
from kprism.model.steps import (
    Analysis,
    CanarySpec,
    Pause,
    SetCandidateScale,
    SetWeight,
    candidate_pods,
)
from kprism.plan import analysis as an
from kprism.plan import bluegreen as bg
from kprism.plan import health
from kprism.plan import siblings as sib
from kprism.plan.decision import Decision
from kprism.plan.machine import Act, Next, Result, StepFn, Wait, drive, iso, parse_iso
from kprism.plan.weights import (
    CanaryCounts,
    ReplicaPair,
    Track,
    TrackCounts,
    Verdict,
    achieved_weight,
    next_scale,
    replicas_for_weight,
)

STEP = "canary-step"
FINALIZE = "finalize"
CLEANUP = "remove-routes"
ABORT_ROUTES = "abort-routes"
BACKGROUND = "background"  # the background analysis run's name


def _ratio(st: ReleaseStatus) -> bool:
    """True when the router's split is the ready-pod ratio (the Service selects every
    track and replica counts define the split), False for an exact-weight router."""
    return not exact_weights(st.spec.router)


def canary_spec(st: ReleaseStatus) -> CanarySpec:
    if st.spec.canary is None:
        raise ValueError(f"release {st.id} has no canary steps")
    return st.spec.canary


def _surge(st: ReleaseStatus) -> int:
    return canary_spec(st).max_surge_pods(total=st.replicas)


def router_target(*, total: int, weight: float) -> ReplicaPair:
    """With an exact-weight router, pods follow capacity: the candidate gets enough pods to
    serve its share; stable keeps all its pods until the candidate takes everything."""
    if weight <= 0:
        return ReplicaPair(candidate=0, stable=total)
    cand = total if weight >= 100 else max(1, math.ceil(total * weight / 100))
    return ReplicaPair(candidate=cand, stable=total)


def step_target(st: ReleaseStatus, weight: float) -> ReplicaPair:
    if _ratio(st):
        c, s = replicas_for_weight(total=st.replicas, weight=weight, max_surge=_surge(st))
        return ReplicaPair(candidate=c, stable=s)
    return router_target(total=st.replicas, weight=weight)


def _counts(st: ReleaseStatus, obs: AppObs) -> CanaryCounts | None:
    """Per-track desired/ready, or None while a controller has not caught up."""
    cand = obs.deployment(st.candidate_deployment)
    stable = obs.deployment(st.stable_deployment)
    if cand is None or stable is None:
        return None
    if cand.observed_generation < cand.generation or stable.observed_generation < stable.generation:
        return None
    return CanaryCounts(
        candidate=TrackCounts(desired=cand.replicas, ready=len(obs.ready_pods(st.candidate))),
        stable=TrackCounts(desired=stable.replicas, ready=len(obs.ready_pods(st.stable))),
    )


def _scale_to(st: ReleaseStatus, obs: AppObs, target: ReplicaPair) -> Result | None:
    """One capacity-safe move towards ``target``; None once every pod is there and ready."""
    counts = _counts(st, obs)
    if counts is None:
        return Wait("waiting for the Deployment controller to observe the last change", 2.0)
    floor = st.replicas
    surge = _surge(st) if _ratio(st) else max(_surge(st), target.total - floor)
    decision = next_scale(observed=counts, target=target, capacity_floor=floor, max_surge=surge)
    if decision.verdict is Verdict.SCALE:
        assert decision.replicas is not None
        name = (
            st.candidate_deployment if decision.track is Track.CANDIDATE else st.stable_deployment
        )
        return Act(scale_actions(st, obs, name, decision.replicas))
    if decision.verdict is Verdict.WAIT:
        return Wait(decision.reason, 5.0)
    return None


def temp_hpa_name(st: ReleaseStatus) -> str:
    return f"{st.hpa}-kprism-{st.candidate}"


def scale_actions(
    st: ReleaseStatus, obs: AppObs, name: str, replicas: int
) -> tuple[KubeAction, ...]:
    """Scale a track. With an HPA on the app, hold the HPA at exactly that size first
    (minReplicas = maxReplicas = replicas), so the HPA controller and kprism agree instead
    of fighting; the candidate gets its own copy of the user's HPA."""
    acts: list[KubeAction] = []
    if st.hpa and replicas >= 1:
        user = next((h for h in obs.hpas if h.name == st.hpa), None)
        if name == st.stable_deployment:
            acts.append(
                EnsureHpa(name=st.hpa, target=name, min_replicas=replicas, max_replicas=replicas)
            )
        elif name == st.candidate_deployment:
            acts.append(
                EnsureHpa(
                    name=temp_hpa_name(st),
                    target=name,
                    min_replicas=replicas,
                    max_replicas=replicas,
                    spec=user.spec if user else {},
                )
            )
    acts.append(ScaleDeployment(name=name, replicas=replicas))
    return tuple(acts)


def _restore_hpa(st: ReleaseStatus, obs: AppObs, *, onto: str) -> tuple[KubeAction, ...]:
    """Give the user's HPA back its bounds, pointed at ``onto``; drop kprism's copy."""
    if not st.hpa:
        return ()
    acts: list[KubeAction] = []
    if any(h.name == temp_hpa_name(st) for h in obs.hpas):
        acts.append(DeleteHpa(name=temp_hpa_name(st)))
    user = next((h for h in obs.hpas if h.name == st.hpa), None)
    if user is None or (user.target, user.min_replicas, user.max_replicas) != (
        onto,
        st.hpa_min,
        st.hpa_max,
    ):
        acts.append(
            EnsureHpa(name=st.hpa, target=onto, min_replicas=st.hpa_min, max_replicas=st.hpa_max)
        )
    return tuple(acts)


def _weights(st: ReleaseStatus, weight: float) -> dict[str, int]:
    w = round(weight)
    return {st.stable: 100 - w, st.candidate: w}


def _reach_weight(st: ReleaseStatus, obs: AppObs, weight: float, now: datetime) -> Result | None:
    """Actions or a wait until the traffic share ``weight`` is really served; None when it is."""
    target = step_target(st, weight)
    if _ratio(st) and obs.serving_track() is not None and target.candidate > 0:
        # The Service (and every other Service over the pods) must select both tracks
        # for the ratio to mean traffic.
        return Act(sib.select(obs, None))
    moved = _scale_to(st, obs, target)
    if moved is not None:
        return moved
    if _ratio(st):
        cand_eps = len(obs.endpoints & obs.ready_pods(st.candidate))
        stable_eps = len(obs.endpoints & obs.ready_pods(st.stable))
        if (cand_eps, stable_eps) != (target.candidate, target.stable) or not (
            sib.endpoints_agree(obs)
        ):
            return Wait(
                f"verifying endpoints: {cand_eps}/{target.candidate} {st.candidate}, "
                f"{stable_eps}/{target.stable} {st.stable} ready in Service {obs.service.name}"
                f"{sib.lag_note(obs)}",
                5.0,
            )
        return None
    want = _weights(st, weight)
    if obs.route_weights is None or dict(obs.route_weights) != want:
        return Act((SetWeights(router=st.spec.router, weights=want),))
    return None


def _achieved(st: ReleaseStatus, obs: AppObs, weight: float) -> float:
    if not _ratio(st):
        return float(round(weight))
    return round(
        achieved_weight(
            candidate=len(obs.endpoints & obs.ready_pods(st.candidate)),
            stable=len(obs.endpoints & obs.ready_pods(st.stable)),
        ),
        1,
    )


def _create(st: ReleaseStatus, obs: AppObs, now: datetime) -> Result:
    """Create (or update) the candidate with 0 pods: steps decide its size."""
    st0 = st.evolve(replicas=0)
    fix = bg.ensure_candidate(st0, obs)
    if fix is not None and isinstance(fix, Act):
        # Creating: size 0. Never scale an existing candidate here.
        acts = tuple(a for a in fix.actions if not isinstance(a, ScaleDeployment))
        if acts:
            return Act(acts)
    elif fix is not None:
        return fix
    return Next(STEP, status=st.evolve(step_index=0))


def _step(st: ReleaseStatus, obs: AppObs, now: datetime) -> Result:
    spec = canary_spec(st)
    steps = spec.steps
    beside = _background(st, obs, now)
    if beside is not None:
        return beside
    if st.full or st.step_index >= len(steps):
        result = _reach_weight(st, obs, 100, now)
        if result is not None:
            return result
        return Next(
            FINALIZE,
            status=st.evolve(requested_weight=100, achieved_weight=_achieved(st, obs, 100)),
            event=None
            if st.requested_weight >= 100
            else ("StepReached", f"100% on {st.candidate}"),
        )
    match steps[st.step_index]:
        case SetWeight(weight=weight):
            return _set_weight(st, obs, now, float(weight), n=len(steps))
        case Pause(pause=pause):
            return _pause(st, obs, now, pause.duration, n=len(steps))
        case SetCandidateScale(scale=scale):
            return _set_candidate_scale(st, obs, candidate_pods(scale.replicas, total=st.replicas))
        case Analysis(analysis=ref):
            return _analysis(st, obs, now, ref, n=len(steps))
    raise AssertionError(f"unknown canary step {steps[st.step_index]!r}")  # pragma: no cover


def _resolver(
    st: ReleaseStatus, obs: AppObs, ref: AnalysisRef, *, where: str, gate: bool
) -> Callable[[], tuple[Metric, ...]]:
    return lambda: an.resolve(
        ref,
        canary_spec(st).analysis_templates,
        where=where,
        values=an.variables(st, app=obs.service.name, namespace=obs.namespace),
        gate=gate,
    )


def _analysis(st: ReleaseStatus, obs: AppObs, now: datetime, ref: AnalysisRef, *, n: int) -> Result:
    """A blocking gate: go on when the run succeeds; ``promote`` goes on without it."""
    i = st.step_index
    name = f"step-{i + 1}"
    what = f"step {i + 1}/{n} ({st.requested_weight:g}% on {st.candidate})"
    if st.promoted:
        return Next(
            STEP,
            status=an.skip(st, name, now, why="skipped by promote").evolve(
                step_index=i + 1, promoted=False, phase=Phase.PROGRESSING
            ),
            event=("AnalysisSkipped", f"{what}: analysis skipped by promote"),
        )
    gate = _resolver(st, obs, ref, where=f"steps[{i}].analysis", gate=True)
    result = an.gate(st, now, name=name, metrics=gate, what=what)
    if result is not None:
        return result
    run = an.find_run(st, name)
    return Next(
        STEP,
        status=st.evolve(step_index=i + 1),
        event=("AnalysisSuccessful", f"{what}: {run.message if run else 'passed'}"),
    )


def _background(st: ReleaseStatus, obs: AppObs, now: datetime) -> Result | None:
    """The canary's background analysis, from its starting step on: never blocks a
    step; fails the release or pauses it like a gate."""
    ref = canary_spec(st).analysis
    if ref is None or st.step_index + 1 < ref.starting_step:
        return None
    if st.promoted and an.held(st, BACKGROUND):
        return Wait(
            "background analysis skipped by promote",
            0.0,
            status=an.skip(st, BACKGROUND, now, why="skipped by promote").evolve(
                promoted=False, phase=Phase.PROGRESSING
            ),
            event=("AnalysisSkipped", "background analysis skipped by promote", False),
        )
    metrics = _resolver(st, obs, ref, where="analysis", gate=False)
    return an.background(st, now, name=BACKGROUND, metrics=metrics, what="background analysis")


def _set_weight(st: ReleaseStatus, obs: AppObs, now: datetime, weight: float, *, n: int) -> Result:
    result = _reach_weight(st, obs, weight, now)
    if result is not None:
        return result
    i = st.step_index
    achieved = _achieved(st, obs, weight)
    target = step_target(st, weight)
    return Next(
        STEP,
        status=st.evolve(
            step_index=i + 1, requested_weight=weight, achieved_weight=achieved, pause_until=""
        ),
        event=(
            "StepReached",
            f"step {i + 1}/{n}: weight {weight:g}% requested, {achieved:g}% achieved "
            f"({target.candidate} {st.candidate} / {target.stable} {st.stable} pods)",
        ),
    )


def _share(st: ReleaseStatus) -> str:
    """The candidate's share as asked and as live: "25% on green" or, where the pods or
    routes give another share, "25% requested, 33.3% live on green"."""
    if abs(st.achieved_weight - st.requested_weight) < 0.05:
        return f"{st.requested_weight:g}% on {st.candidate}"
    return f"{st.requested_weight:g}% requested, {st.achieved_weight:.3g}% live on {st.candidate}"


def _pause(
    st: ReleaseStatus, obs: AppObs, now: datetime, duration: int | None, *, n: int
) -> Result:
    i = st.step_index
    if st.promoted:
        return Next(STEP, status=st.evolve(step_index=i + 1, promoted=False, pause_until=""))
    if duration is None:
        return Wait(
            f"paused at step {i + 1}/{n} ({_share(st)}): "
            f"`kprism promote {obs.service.name}` to continue",
            None,
            status=st.evolve(phase=Phase.PAUSED),
        )
    until = parse_iso(st.pause_until) or (now + timedelta(seconds=duration))
    left = (until - now).total_seconds()
    if left <= 0:
        return Next(
            STEP, status=st.evolve(step_index=i + 1, pause_until="", phase=Phase.PROGRESSING)
        )
    return Wait(
        f"pause at step {i + 1}/{n} until {iso(until)} ({_share(st)})",
        left,
        status=st.evolve(pause_until=iso(until)),
    )


def _set_candidate_scale(st: ReleaseStatus, obs: AppObs, pods: int) -> Result:
    cand = obs.deployment(st.candidate_deployment)
    if cand is not None and cand.replicas != pods:
        return Act(scale_actions(st, obs, cand.name, pods))
    if len(obs.ready_pods(st.candidate)) < pods:
        return Wait(f"waiting for {pods} {st.candidate} pods", 5.0)
    return Next(STEP, status=st.evolve(step_index=st.step_index + 1))


def _finalize(st: ReleaseStatus, obs: AppObs, now: datetime) -> Result:
    """All traffic is on the candidate: pin the Service to it and verify the endpoints."""
    if obs.serving_track() != st.candidate:
        if len(obs.ready_pods(st.candidate)) < st.replicas:
            return Next(STEP)
        return Act(sib.select(obs, st.candidate))
    ready = obs.ready_pods(st.candidate)
    if not (ready and obs.endpoints == ready and sib.endpoints_agree(obs)):
        return Wait(
            f"verifying Service {obs.service.name} endpoints are the {len(ready)} pods of {st.candidate}"
            f"{sib.lag_note(obs)}",
            5.0,
        )
    if not _ratio(st) and obs.route_weights is not None:
        return Act((RemoveRoutes(router=st.spec.router),))
    hpa = _restore_hpa(st, obs, onto=st.candidate_deployment)
    if hpa:
        return Act(hpa)
    stable = obs.deployment(st.stable_deployment)
    if stable is not None and stable.replicas != 0:
        return Act((ScaleDeployment(name=stable.name, replicas=0),))
    return Next(
        bg.DONE,
        status=st.evolve(
            verified_at=st.verified_at or iso(now), switched_at=st.switched_at or iso(now)
        ),
    )


def _abort_routes(st: ReleaseStatus, obs: AppObs, now: datetime) -> Result:
    hpa = _restore_hpa(st, obs, onto=st.stable_deployment)
    if hpa:
        return Act(hpa)
    if _ratio(st):
        return Next(bg.RESTORE)
    if obs.route_weights is None:
        return Next(bg.RESTORE)
    stable_only = {st.stable: 100, st.candidate: 0}
    if dict(obs.route_weights) != stable_only:
        return Act((SetWeights(router=st.spec.router, weights=stable_only),))
    return Act((RemoveRoutes(router=st.spec.router),))


STEPS: dict[str, StepFn] = {
    bg.PIN: bg.step_pin,
    bg.CREATE: _create,
    STEP: _step,
    FINALIZE: _finalize,
    bg.DONE: bg.step_done,
    ABORT_ROUTES: _abort_routes,
    bg.RESTORE: bg.step_restore,
    bg.SWITCH_BACK: bg.step_switch_back,
    bg.VERIFY_BACK: bg.step_verify_back,
    bg.SCALE_DOWN_CANDIDATE: bg.step_scale_down_candidate,
    bg.ABORTED: bg.step_aborted,
}


#: every step first brings other Services over the app's pods in line with its Service
_GUARDED = health.guard(sib.guard(STEPS), checked=(bg.CREATE, STEP))


def promote_refusal(st: ReleaseStatus) -> str | None:
    """Why ``kprism promote`` has nothing to do for this canary, or None if it may: a
    promotion is taken until the steps are over (``--full`` skips the rest of them)."""
    if st.aborting:
        return f"nothing to promote: release {st.id} is being aborted"
    if st.step not in (bg.PIN, bg.CREATE, STEP) or st.full:
        return f"nothing to promote: release {st.id} is past its steps (step {st.step})"
    return None


def decide(st: ReleaseStatus, obs: AppObs, now: datetime, intent: Intent | None = None) -> Decision:
    """Next status and actions for a canary release (pure). Analysis runs end when the
    release leaves its steps (done, or on the way back)."""
    decision = drive(
        st, obs, now, intent, table=_GUARDED, abort_step=ABORT_ROUTES, done_step=bg.DONE
    )
    out = decision.status
    if out.aborting or out.phase.terminal or out.step not in (bg.PIN, bg.CREATE, STEP):
        why = "the release is aborting" if out.aborting else "the canary steps are over"
        stopped = an.stop_runs(out, now, why=why)
        if stopped is not out:
            return dataclasses.replace(decision, status=stopped)
    return decision


def describe(st: ReleaseStatus) -> list[dict[str, Any]]:
    """The step list with replica counts and achievable weights (for plan/status)."""
    from kprism.plan.weights import plan_steps

    spec = canary_spec(st)
    out = []
    for p in plan_steps(spec, total=st.replicas):
        target = step_target(st, p.requested_weight) if p.requested_weight is not None else None
        out.append(
            {
                "index": p.index,
                "kind": p.kind,
                "weight": p.requested_weight,
                "candidate": target.candidate if target else p.candidate,
                "stable": target.stable if target else p.stable,
                "achieved": (
                    float(p.requested_weight)
                    if target and p.requested_weight is not None and not _ratio(st)
                    else p.achieved_weight
                ),
                "pause": p.pause_seconds,
                "untilPromote": p.waits_for_promote,
            }
        )
    return out
