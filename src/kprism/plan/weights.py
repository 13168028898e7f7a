"""Canary weights on plain Services: from a traffic percentage to pod counts, and back.

Without a mesh or an ingress that splits traffic, the app's Service selects the pods of
both tracks (stable and candidate Deployments) and kube-proxy spreads connections over
the ready endpoints. So *the weight is the ratio of ready pods*, and a canary step is a
pair of replica counts. Two things make that non-trivial, and both are decided here,
purely (no clock, no client), so they can be tested exhaustively:

1. **Which pair for a weight** (:func:`replicas_for_weight`). With ``N`` stable pods (the
   capacity the app had when the release started) most weights cannot be hit exactly:
   10% of 1 pod does not exist, and 1 candidate beside 9 stable pods would cost 10 pods.
   We allow the footprint to grow by a surge budget and pick the closest share in it:

   - feasible pairs ``(c, s)``: ``N <= c + s <= N + surge`` (the footprint must serve the
     original capacity, and may exceed it by at most ``surge`` pods);
   - ``0 < w < 100`` keeps **at least one pod on each track**: a weight strictly between
     0 and 100 must never mean "no candidate" or "all candidate". (So ``N=1, w=10`` gives
     ``(1, 1)``, 50%: the honest closest thing with 2 pods at most.);
   - ``w == 0`` is ``(0, N)`` and ``w == 100`` is ``(N, 0)``, with no surge;
   - minimise ``|c/(c+s) - w/100|``; ties go to fewer pods, then to fewer candidate pods
     (when in doubt, expose less of the new version);
   - ``surge`` defaults to 25% of ``N`` rounded up, at least 1 (``maxSurge`` in the spec).

   Arithmetic is exact (integers / :class:`fractions.Fraction`), so ties are real ties.

2. **How to get there** (:func:`next_scale`). Scaling is level-triggered: the engine
   observes desired and ready counts of both Deployments, asks :func:`next_scale` for one
   move (scale one Deployment to a count, or wait), applies it and asks again. The rules:

   - grow before shrinking: the track that must grow is scaled up first, as far as the
     desired footprint ``N + surge`` allows;
   - a track is scaled down only as far as the *ready* pods that remain (the other
     track's ready pods plus the ready pods this track keeps) still cover ``N``. The
     ReplicaSet controller deletes not-ready pods first, so scaling a track from ``d`` to
     ``d'`` keeps ``min(ready, d')`` ready pods. If capacity is already below ``N`` (a pod
     crashed) only not-ready pods are removed; ready capacity never drops because of us;
   - when the target is beyond the surge budget this interleaves by itself: up by the
     budget, wait for ready, down by what became ready, up again;
   - it works in both directions: an abort (target ``(0, N)``) scales stable back up
     first, then removes candidate pods as stable ones become ready.

   Every move takes one track strictly closer to its target and never past it, so a
   transition needs at most ``|Δcandidate| + |Δstable|`` moves; whenever all pods are
   ready a move is possible unless the target is reached, so it cannot deadlock.

:func:`replicas_for_weights` is the same closest-share rule for more than two tracks
(rainbow releases), by largest remainder with a floor of one pod per live track.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from fractions import Fraction

from kprism.errors import InvalidSpecError
from kprism.model.steps import (
    DEFAULT_MAX_SURGE,
    Analysis,
    CanarySpec,
    Pause,
    SetCandidateScale,
    SetWeight,
    candidate_pods,
    format_path,
    max_surge_pods,
)

__all__ = [
    "CanaryCounts",
    "PlannedStep",
    "ReplicaPair",
    "ScaleDecision",
    "Track",
    "TrackCounts",
    "Verdict",
    "achieved_weight",
    "default_max_surge",
    "next_scale",
    "plan_steps",
    "plan_transition",
    "replicas_for_weight",
    "replicas_for_weights",
]


def default_max_surge(total: int) -> int:
    """25% of ``total`` rounded up, at least one pod."""
    return max_surge_pods(DEFAULT_MAX_SURGE, total=total)


def _surge(total: int, max_surge: int | None) -> int:
    if max_surge is None:
        return default_max_surge(total)
    if max_surge < 1:
        raise ValueError(f"max_surge must be at least 1 pod, got {max_surge}")
    return max_surge


def _weight(weight: float | Fraction) -> Fraction:
    if isinstance(weight, bool) or not math.isfinite(weight) or not 0 <= weight <= 100:
        raise ValueError(f"weight must be a number between 0 and 100, got {weight!r}")
    return Fraction(weight)


def _total(total: int) -> int:
    if total < 0:
        raise ValueError(f"total must be >= 0, got {total}")
    return total


# -- two tracks: weight → pods ---------------------------------------------------------------


def replicas_for_weight(
    *, total: int, weight: float | Fraction, max_surge: int | None = None
) -> tuple[int, int]:
    """``(candidate, stable)`` pods whose ready ratio is closest to ``weight`` percent.

    ``total`` is ``N``, the stable size at the start of the release; ``max_surge`` the
    extra pods allowed (default :func:`default_max_surge`). See the module docstring for
    the rules; with ``total == 0`` there is nothing to split and the answer is ``(0, 0)``.
    """
    share = _weight(weight) / 100
    n = _total(total)
    if n == 0:
        return (0, 0)
    if share == 0:
        return (0, n)
    if share == 1:
        return (n, 0)
    surge = _surge(n, max_surge)
    num, den = share.numerator, share.denominator
    # error of (c, t) = |c/t - num/den| = |c*den - num*t| / (den*t); compare e1/t1 vs e2/t2.
    best: tuple[int, int, int] | None = None  # (scaled error, t, c)
    for t in range(max(n, 2), n + surge + 1):
        ideal = num * t // den
        for c in sorted({min(max(ideal, 1), t - 1), min(max(ideal + 1, 1), t - 1)}):
            err = abs(c * den - num * t)
            if best is None or err * best[1] < best[0] * t:
                best = (err, t, c)
    assert best is not None  # n + surge >= 2 because n >= 1 and surge >= 1
    _, t, c = best
    return (c, t - c)


def achieved_weight(*, candidate: int, stable: int) -> float:
    """Percent of traffic the candidate gets when these pods are ready (0.0 with no pods)."""
    pods = candidate + stable
    return 100.0 * candidate / pods if pods else 0.0


# -- N tracks (rainbow) ------------------------------------------------------------------------


def replicas_for_weights(
    *, total: int, weights: Mapping[str, float], max_surge: int | None = None
) -> dict[str, int]:
    """Pods per track for a split of traffic over any number of tracks.

    Same rules as :func:`replicas_for_weight`, generalised: weights are percentages that
    sum to 100; every track with weight > 0 gets at least one pod, tracks with weight 0 get
    none; the sum of pods is in ``[N, N + surge]``; and the chosen split minimises the sum
    of ``|pods_i/T - weight_i/100|``, ties to fewer pods. Within one total this is largest
    remainder with a floor of one pod; equal remainders go to the larger weight, then to
    the track name that sorts first. (For two tracks the distance is the same as
    :func:`replicas_for_weight`'s; only exact ties may fall on the other track.)

    Raises :class:`~kprism.errors.InvalidSpecError` when there are more live tracks than
    ``N + surge`` pods.
    """
    n = _total(total)
    if not weights:
        raise ValueError("weights must name at least one track")
    fractions = {name: _weight(w) for name, w in weights.items()}
    weight_sum = sum(fractions.values(), Fraction(0))
    if abs(weight_sum - 100) > Fraction(1, 10**6):
        raise ValueError(f"weights must sum to 100, got {float(weight_sum)}")
    live = sorted(
        (name for name, w in fractions.items() if w > 0), key=lambda k: (-fractions[k], k)
    )
    result = dict.fromkeys(weights, 0)
    if n == 0:
        return result
    if len(live) == 1:
        result[live[0]] = n
        return result
    surge = _surge(n, max_surge)
    if len(live) > n + surge:
        raise InvalidSpecError(
            f"{len(live)} tracks with traffic need at least {len(live)} pods, but {n} pods "
            f"plus maxSurge {surge} allow {n + surge}: raise maxSurge"
        )
    shares = {name: fractions[name] / weight_sum for name in live}
    den = math.lcm(*(s.denominator for s in shares.values()))
    scaled = {name: s.numerator * (den // s.denominator) for name, s in shares.items()}
    best: tuple[int, int, dict[str, int]] | None = None  # (scaled L1 error, t, pods)
    for t in range(max(n, len(live)), n + surge + 1):
        pods = _largest_remainder(t=t, den=den, scaled=scaled, order=live)
        err = sum(abs(pods[k] * den - scaled[k] * t) for k in live)
        if best is None or err * best[1] < best[0] * t:
            best = (err, t, pods)
    assert best is not None
    result.update(best[2])
    return result


def _largest_remainder(
    *, t: int, den: int, scaled: Mapping[str, int], order: list[str]
) -> dict[str, int]:
    """Split ``t`` pods, quota of ``k`` = ``scaled[k] * t / den``, each at least 1.

    Minimises the sum of ``|pods - quota|`` (separable and convex, so taking the cheapest
    unit each time is optimal).
    """
    quota = {k: scaled[k] * t for k in order}  # quota * den
    pods = {k: max(1, quota[k] // den) for k in order}
    if sum(pods.values()) > t:  # floors of one pushed us over: start from the floor
        pods = dict.fromkeys(order, 1)
    for _ in range(t - sum(pods.values())):

        def cost(k: str) -> tuple[int, int]:
            here = pods[k] * den
            gain = abs(here + den - quota[k]) - abs(here - quota[k])
            return (gain, -(quota[k] - here))

        pick = min(order, key=cost)  # min() keeps the first of equals: order breaks ties
        pods[pick] += 1
    return pods


# -- getting there: one move at a time ----------------------------------------------------------


class Track(StrEnum):
    CANDIDATE = "candidate"
    STABLE = "stable"


class Verdict(StrEnum):
    SCALE = "scale"  # scale `track` to `replicas`
    WAIT = "wait"  # pods are not ready yet; observe again later
    DONE = "done"  # desired == target and every pod is ready


@dataclass(frozen=True, kw_only=True)
class ReplicaPair:
    """Desired pods of both tracks."""

    candidate: int
    stable: int

    @property
    def total(self) -> int:
        return self.candidate + self.stable

    @property
    def weight(self) -> float:
        return achieved_weight(candidate=self.candidate, stable=self.stable)


@dataclass(frozen=True, kw_only=True)
class TrackCounts:
    """One Deployment as observed: ``spec.replicas`` and ``status.readyReplicas``."""

    desired: int
    ready: int

    @property
    def effective(self) -> int:
        """Ready pods that stay: pods above ``desired`` are on their way out."""
        return min(self.ready, self.desired)


@dataclass(frozen=True, kw_only=True)
class CanaryCounts:
    candidate: TrackCounts
    stable: TrackCounts

    def of(self, track: Track) -> TrackCounts:
        return self.candidate if track is Track.CANDIDATE else self.stable

    @property
    def ready_capacity(self) -> int:
        return self.candidate.effective + self.stable.effective

    @property
    def desired(self) -> ReplicaPair:
        return ReplicaPair(candidate=self.candidate.desired, stable=self.stable.desired)


@dataclass(frozen=True, kw_only=True)
class ScaleDecision:
    verdict: Verdict
    reason: str
    track: Track | None = None
    replicas: int | None = None


def _other(track: Track) -> Track:
    return Track.STABLE if track is Track.CANDIDATE else Track.CANDIDATE


def _target_of(target: ReplicaPair, track: Track) -> int:
    return target.candidate if track is Track.CANDIDATE else target.stable


def next_scale(
    *, observed: CanaryCounts, target: ReplicaPair, capacity_floor: int, max_surge: int
) -> ScaleDecision:
    """The next single move from ``observed`` towards ``target`` (see module docstring).

    ``capacity_floor`` is ``N``: ready pods (both tracks) must never drop below it because
    of a move. ``max_surge``: desired pods (both tracks) never exceed ``N + max_surge``
    because of a move. ``target.total`` must lie in ``[N, N + max_surge]``.

    The guarantee is only as good as the observation: pass counts from a Deployment
    status whose ``observedGeneration`` has caught up with the spec, and observe again
    after every move (a stale status can hide a crashed pod behind one that is leaving).
    """
    if max_surge < 1:
        raise ValueError(f"max_surge must be at least 1 pod, got {max_surge}")
    if min(target.candidate, target.stable, capacity_floor) < 0:
        raise ValueError("replica counts must be >= 0")
    budget = capacity_floor + max_surge
    if not capacity_floor <= target.total <= budget:
        raise ValueError(
            f"target {target.candidate}+{target.stable} pods is outside "
            f"[{capacity_floor}, {budget}] (capacity floor, floor + max surge)"
        )
    current = observed.desired
    # The track gaining traffic share grows first; the one losing share shrinks first.
    gaining = (
        Track.CANDIDATE
        if target.candidate * current.total >= current.candidate * target.total
        else Track.STABLE
    )
    order = (gaining, _other(gaining))

    for track in order:
        want, have = _target_of(target, track), observed.of(track).desired
        room = budget - current.total
        if have < want and room > 0:
            to = min(want, have + room)
            return ScaleDecision(
                verdict=Verdict.SCALE,
                track=track,
                replicas=to,
                reason=f"scale {track} up {have}→{to} (target {want})",
            )

    for track in reversed(order):
        counts, others = observed.of(track), observed.of(_other(track))
        want = _target_of(target, track)
        if counts.desired <= want:
            continue
        # Keep enough ready pods on this track that, with the other track's, N are ready;
        # if that is impossible already, remove only pods that are not ready.
        floor = max(want, min(counts.effective, capacity_floor - others.effective))
        if floor < counts.desired:
            return ScaleDecision(
                verdict=Verdict.SCALE,
                track=track,
                replicas=floor,
                reason=f"scale {track} down {counts.desired}→{floor} (target {want}); "
                f"{others.effective} {_other(track)} pods ready",
            )

    status = (
        f"candidate {observed.candidate.ready}/{observed.candidate.desired} ready, "
        f"stable {observed.stable.ready}/{observed.stable.desired} ready"
    )
    if current != target:
        return ScaleDecision(
            verdict=Verdict.WAIT,
            reason=f"waiting for pods to become ready before scaling further "
            f"(ready capacity {observed.ready_capacity}, floor {capacity_floor}; {status})",
        )
    if observed.candidate.ready != target.candidate or observed.stable.ready != target.stable:
        return ScaleDecision(verdict=Verdict.WAIT, reason=f"waiting for pods: {status}")
    return ScaleDecision(verdict=Verdict.DONE, reason=status)


def plan_transition(
    *, start: ReplicaPair, target: ReplicaPair, capacity_floor: int, max_surge: int
) -> tuple[ReplicaPair, ...]:
    """The desired pairs :func:`next_scale` goes through if pods became ready at once.

    For ``kprism plan``: shows the interleaving when a step needs more than the surge.
    The result excludes ``start`` and ends with ``target`` (empty if they are equal).
    """
    moves: list[ReplicaPair] = []
    pair = start
    bound = abs(target.candidate - start.candidate) + abs(target.stable - start.stable)
    for _ in range(bound + 1):
        observed = CanaryCounts(
            candidate=TrackCounts(desired=pair.candidate, ready=pair.candidate),
            stable=TrackCounts(desired=pair.stable, ready=pair.stable),
        )
        decision = next_scale(
            observed=observed, target=target, capacity_floor=capacity_floor, max_surge=max_surge
        )
        if decision.verdict is not Verdict.SCALE:
            break
        assert decision.replicas is not None
        if decision.track is Track.CANDIDATE:
            pair = ReplicaPair(candidate=decision.replicas, stable=pair.stable)
        else:
            pair = ReplicaPair(candidate=pair.candidate, stable=decision.replicas)
        moves.append(pair)
    if pair != target:  # pragma: no cover - next_scale is live when every pod is ready
        raise AssertionError(f"no path from {start} to {target}")
    return tuple(moves)


# -- what `kprism plan` prints --------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class PlannedStep:
    """One step of a canary spec, resolved against a stable size."""

    index: int
    kind: str  # setWeight | pause | analysis | setCandidateScale
    requested_weight: int | None  # setWeight only
    candidate: int
    stable: int
    achieved_weight: float
    pause_seconds: int | None = None  # pause with a duration
    waits_for_promote: bool = False  # pause without a duration
    moves: tuple[ReplicaPair, ...] = ()  # scale moves from the previous step's pods


def plan_steps(
    spec: CanarySpec, *, total: int, max_surge: int | None = None
) -> tuple[PlannedStep, ...]:
    """Resolve every step of ``spec`` for a stable size ``total`` (``N``).

    ``max_surge`` overrides ``spec.max_surge`` (in pods). The release starts at
    ``(0 candidate, N stable)``. ``setCandidateScale`` gives the candidate exactly that many
    pods and keeps stable's pods, adding stable pods only if capacity would fall below
    ``N``; it is an :class:`~kprism.errors.InvalidSpecError` if that exceeds ``N + surge``.
    """
    n = _total(total)
    surge = spec.max_surge_pods(total=n) if max_surge is None else _surge(n, max_surge)
    pair = ReplicaPair(candidate=0, stable=n)
    planned: list[PlannedStep] = []
    for index, step in enumerate(spec.steps):
        previous = pair
        requested: int | None = None
        seconds: int | None = None
        promote = False
        if isinstance(step, SetWeight):
            requested = step.weight
            c, s = replicas_for_weight(total=n, weight=step.weight, max_surge=surge)
            pair = ReplicaPair(candidate=c, stable=s)
        elif isinstance(step, SetCandidateScale):
            c = candidate_pods(step.scale.replicas, total=n)
            pair = ReplicaPair(candidate=c, stable=max(pair.stable, n - c))
            if pair.total > n + surge:
                path = format_path(("steps", index, "setCandidateScale", "replicas"))
                raise InvalidSpecError(
                    f"{path}: {c} candidate pods beside {pair.stable} stable pods exceed "
                    f"{n} + maxSurge {surge}: raise maxSurge or use setWeight"
                )
        elif isinstance(step, Pause):
            seconds = step.duration
            promote = step.duration is None
        else:
            assert isinstance(step, Analysis)
        moves = (
            plan_transition(start=previous, target=pair, capacity_floor=n, max_surge=surge)
            if pair != previous
            else ()
        )
        planned.append(
            PlannedStep(
                index=index,
                kind=step.kind,
                requested_weight=requested,
                candidate=pair.candidate,
                stable=pair.stable,
                achieved_weight=pair.weight,
                pause_seconds=seconds,
                waits_for_promote=promote,
                moves=moves,
            )
        )
    return tuple(planned)
