"""Weight → replicas, the scale-move planner and `kprism plan`'s step table.

The two-track rule is checked exhaustively (N = 1..100, every integer weight) against a
brute-force reference that enumerates every feasible pair; the move planner is checked
by simulating the engine loop with pods that become ready (or crash) in arbitrary order.
"""

from __future__ import annotations

import bisect
import itertools
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kprism.errors import InvalidSpecError
from kprism.model.steps import CanarySpec
from kprism.plan.weights import (
    CanaryCounts,
    ReplicaPair,
    ScaleDecision,
    Track,
    TrackCounts,
    Verdict,
    achieved_weight,
    default_max_surge,
    next_scale,
    plan_steps,
    plan_transition,
    replicas_for_weight,
    replicas_for_weights,
)

# -- replicas_for_weight: exhaustive against brute force ------------------------------------------


def _reference(n: int, surge: int) -> tuple[list[Fraction], dict[Fraction, tuple[int, int]]]:
    """Every feasible (c, s) with c, s >= 1: distinct shares, sorted, and for each share the
    cheapest (total, candidate) that gives it."""
    best: dict[Fraction, tuple[int, int]] = {}
    for t in range(max(n, 2), n + surge + 1):
        for c in range(1, t):
            share = Fraction(c, t)
            if share not in best or (t, c) < best[share]:
                best[share] = (t, c)
    return sorted(best), best


def _expected(
    shares: list[Fraction], best: dict[Fraction, tuple[int, int]], w: int
) -> tuple[int, int]:
    goal = Fraction(w, 100)
    i = bisect.bisect_left(shares, goal)
    near = [shares[j] for j in (i - 1, i) if 0 <= j < len(shares)]
    dist = min(abs(s - goal) for s in near)
    t, c = min(best[s] for s in near if abs(s - goal) == dist)
    return (c, t - c)


def test_exhaustive_n_1_to_100_every_integer_weight() -> None:
    for n in range(1, 101):
        surge = default_max_surge(n)
        assert surge == max(1, -(-n // 4))
        shares, best = _reference(n, surge)
        achieved = []
        for w in range(101):
            c, s = replicas_for_weight(total=n, weight=w)
            achieved.append(Fraction(c, c + s))
            if w == 0:
                assert (c, s) == (0, n)
            elif w == 100:
                assert (c, s) == (n, 0)
            else:
                assert c >= 1
                assert s >= 1, (n, w)
                assert n <= c + s <= n + surge, (n, w, c, s)
                assert (c, s) == _expected(shares, best, w), (n, w)
        # a higher weight never gets a lower share
        assert achieved == sorted(achieved), n


@pytest.mark.parametrize(
    ("n", "w", "expected"),
    [
        (1, 10, (1, 1)),  # 1 pod cannot carry 10%; both tracks keep a pod: 50%
        (1, 99, (1, 1)),
        (4, 10, (1, 4)),  # 20% with 5 pods beats 25% with 4
        (10, 10, (1, 9)),
        (10, 25, (3, 9)),  # exactly 25% with 12 pods beats 20% or 30% with 10
        (10, 50, (5, 5)),
        (100, 37, (37, 63)),
        (2, 50, (1, 1)),
    ],
)
def test_known_pairs(n: int, w: int, expected: tuple[int, int]) -> None:
    assert replicas_for_weight(total=n, weight=w) == expected


def test_ties_prefer_fewer_pods_then_fewer_candidate_pods() -> None:
    # N=2, surge 1: 50% is exact with 2 pods (1,1); 2 of 4 would also be exact but costs more.
    assert replicas_for_weight(total=2, weight=50, max_surge=2) == (1, 1)
    # N=2, surge 0+1, w=50 is exact; w=41.5 sits between 1/3 (33.3) and 1/2 (50): 1/3 wins.
    assert replicas_for_weight(total=2, weight=41.5) == (1, 2)
    # Exact tie between 1/3 (3 pods) and 2/4 (4 pods) at 41 2/3 %: fewer pods wins.
    assert replicas_for_weight(total=3, weight=Fraction(125, 3), max_surge=1) == (1, 2)


def test_float_weights_and_custom_surge() -> None:
    assert replicas_for_weight(total=8, weight=12.5) == (1, 7)
    assert replicas_for_weight(total=3, weight=33.3) == (1, 2)
    # A bigger surge buys a closer share: 10% of 1 needs 10 pods.
    assert replicas_for_weight(total=1, weight=10, max_surge=9) == (1, 9)
    c, s = replicas_for_weight(total=10, weight=33, max_surge=1)
    assert 10 <= c + s <= 11


def test_zero_total_and_bad_input() -> None:
    assert replicas_for_weight(total=0, weight=50) == (0, 0)
    for bad in (-1, 101, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="between 0 and 100"):
            replicas_for_weight(total=3, weight=bad)
    with pytest.raises(ValueError, match="total"):
        replicas_for_weight(total=-1, weight=10)
    with pytest.raises(ValueError, match="max_surge"):
        replicas_for_weight(total=5, weight=10, max_surge=0)


def test_achieved_weight() -> None:
    assert achieved_weight(candidate=1, stable=3) == 25.0
    assert achieved_weight(candidate=0, stable=0) == 0.0
    assert achieved_weight(candidate=2, stable=0) == 100.0


@settings(max_examples=200, deadline=None)
@given(
    n=st.integers(1, 300),
    surge=st.integers(1, 40),
    weights=st.lists(st.integers(0, 100), min_size=2, max_size=8, unique=True),
)
def test_increasing_weights_give_nondecreasing_shares(
    n: int, surge: int, weights: list[int]
) -> None:
    shares = [
        Fraction(c, c + s)
        for c, s in (
            replicas_for_weight(total=n, weight=w, max_surge=surge) for w in sorted(weights)
        )
    ]
    assert shares == sorted(shares)


# -- replicas_for_weights (rainbow) -------------------------------------------------------------


def _l1(pods: dict[str, int], weights: dict[str, int]) -> Fraction:
    t = sum(pods.values())
    return sum(
        (abs(Fraction(pods[k], t) - Fraction(weights[k], 100)) for k in weights), Fraction(0)
    )


def _brute_rainbow(n: int, surge: int, weights: dict[str, int]) -> Fraction:
    names = list(weights)
    lows = [1 if weights[k] > 0 else 0 for k in names]
    best: Fraction | None = None
    for t in range(max(n, sum(lows)), n + surge + 1):
        ranges = [range(lo, t + 1) if lo else range(1) for lo in lows]
        for combo in itertools.product(*ranges):
            if sum(combo) == t:
                err = _l1(dict(zip(names, combo, strict=True)), weights)
                best = err if best is None else min(best, err)
    assert best is not None
    return best


def test_rainbow_matches_brute_force_on_a_grid() -> None:
    grid = [(a, b, 100 - a - b) for a in range(0, 101, 10) for b in range(0, 101 - a, 10)]
    for n in range(1, 11):
        surge = default_max_surge(n)
        for a, b, c in grid:
            weights = {"blue": a, "green": b, "red": c}
            if sum(w > 0 for w in weights.values()) > n + surge:
                continue
            pods = replicas_for_weights(total=n, weights=weights)
            assert list(pods) == list(weights)
            live = [k for k, w in weights.items() if w > 0]
            if len(live) == 1:
                assert pods[live[0]] == n
                assert sum(pods.values()) == n
                continue
            assert n <= sum(pods.values()) <= n + surge
            assert all((pods[k] >= 1) == (weights[k] > 0) for k in weights)
            assert _l1(pods, weights) == _brute_rainbow(n, surge, weights), (n, weights, pods)


def test_rainbow_two_tracks_is_as_close_as_the_two_track_rule() -> None:
    for n in range(1, 41):
        for w in range(1, 100):
            pods = replicas_for_weights(total=n, weights={"candidate": w, "stable": 100 - w})
            c, s = replicas_for_weight(total=n, weight=w)
            assert abs(Fraction(pods["candidate"], sum(pods.values())) - Fraction(w, 100)) == abs(
                Fraction(c, c + s) - Fraction(w, 100)
            )


def test_rainbow_examples_and_errors() -> None:
    assert replicas_for_weights(total=10, weights={"a": 50, "b": 30, "c": 20}) == {
        "a": 5,
        "b": 3,
        "c": 2,
    }
    assert replicas_for_weights(total=4, weights={"a": 100, "b": 0}) == {"a": 4, "b": 0}
    assert replicas_for_weights(total=0, weights={"a": 60, "b": 40}) == {"a": 0, "b": 0}
    assert (
        sum(replicas_for_weights(total=2, weights={"a": 33.3, "b": 33.3, "c": 33.4}).values()) == 3
    )
    with pytest.raises(InvalidSpecError, match="raise maxSurge"):
        replicas_for_weights(total=1, weights={"a": 40, "b": 30, "c": 30})
    with pytest.raises(ValueError, match="sum to 100"):
        replicas_for_weights(total=3, weights={"a": 40, "b": 40})
    with pytest.raises(ValueError, match="at least one"):
        replicas_for_weights(total=3, weights={})


# -- next_scale ---------------------------------------------------------------------------------


def _counts(cd: int, cr: int, sd: int, sr: int) -> CanaryCounts:
    return CanaryCounts(
        candidate=TrackCounts(desired=cd, ready=cr), stable=TrackCounts(desired=sd, ready=sr)
    )


def test_candidate_first_then_stable_once_candidate_is_ready() -> None:
    target = ReplicaPair(candidate=1, stable=9)

    def decide(observed: CanaryCounts) -> ScaleDecision:
        return next_scale(observed=observed, target=target, capacity_floor=10, max_surge=3)

    d = decide(_counts(0, 0, 10, 10))
    assert (d.verdict, d.track, d.replicas) == (Verdict.SCALE, Track.CANDIDATE, 1)
    d = decide(_counts(1, 0, 10, 10))
    assert d.verdict is Verdict.WAIT
    assert "ready" in d.reason
    d = decide(_counts(1, 1, 10, 10))
    assert (d.verdict, d.track, d.replicas) == (Verdict.SCALE, Track.STABLE, 9)
    d = decide(_counts(1, 1, 9, 10))  # the extra pod is terminating
    assert d.verdict is Verdict.WAIT
    assert decide(_counts(1, 1, 9, 9)).verdict is Verdict.DONE


def test_stable_shrinks_only_by_what_candidate_covers() -> None:
    # 10 → 50% with surge 3: candidate went 0→3, two of them ready: stable may lose two.
    d = next_scale(
        observed=_counts(3, 2, 10, 10),
        target=ReplicaPair(candidate=5, stable=5),
        capacity_floor=10,
        max_surge=3,
    )
    assert (d.track, d.replicas) == (Track.STABLE, 8)


def test_abort_grows_stable_before_removing_candidate() -> None:
    target = ReplicaPair(candidate=0, stable=4)
    d = next_scale(observed=_counts(4, 4, 0, 0), target=target, capacity_floor=4, max_surge=1)
    assert (d.track, d.replicas) == (Track.STABLE, 1)
    d = next_scale(observed=_counts(4, 4, 1, 0), target=target, capacity_floor=4, max_surge=1)
    assert d.verdict is Verdict.WAIT
    d = next_scale(observed=_counts(4, 4, 1, 1), target=target, capacity_floor=4, max_surge=1)
    assert (d.track, d.replicas) == (Track.CANDIDATE, 3)


def test_abort_of_a_broken_candidate_removes_its_unready_pods_at_once() -> None:
    # Candidate pods never became ready: removing them costs no capacity.
    d = next_scale(
        observed=_counts(3, 0, 10, 10),
        target=ReplicaPair(candidate=0, stable=10),
        capacity_floor=10,
        max_surge=3,
    )
    assert (d.track, d.replicas) == (Track.CANDIDATE, 0)


def test_below_floor_only_unready_pods_are_removed() -> None:
    # A stable pod crashed (ready 9 of 10); the candidate has 2 ready pods of 3.
    d = next_scale(
        observed=_counts(3, 2, 10, 9),
        target=ReplicaPair(candidate=3, stable=9),
        capacity_floor=10,
        max_surge=3,
    )
    assert (d.track, d.replicas) == (Track.STABLE, 9)  # drops the crashed pod only
    d = next_scale(
        observed=_counts(3, 0, 10, 8),
        target=ReplicaPair(candidate=3, stable=9),
        capacity_floor=10,
        max_surge=3,
    )
    assert (d.track, d.replicas) == (Track.STABLE, 9)
    d = next_scale(
        observed=_counts(3, 0, 9, 8),
        target=ReplicaPair(candidate=3, stable=7),
        capacity_floor=10,
        max_surge=3,
    )
    assert (d.track, d.replicas) == (Track.STABLE, 8)  # not 7: that would cost a ready pod


def test_pods_on_their_way_out_do_not_count() -> None:
    # Someone scaled the candidate down to 2; the status still says 5 ready. Only 2 stay.
    d = next_scale(
        observed=_counts(2, 5, 11, 11),
        target=ReplicaPair(candidate=5, stable=5),
        capacity_floor=10,
        max_surge=3,
    )
    assert (d.track, d.replicas) == (Track.STABLE, 8)


def test_the_track_gaining_share_moves_first() -> None:

    def decide(observed: CanaryCounts, c: int, s: int) -> ScaleDecision:
        target = ReplicaPair(candidate=c, stable=s)
        return next_scale(observed=observed, target=target, capacity_floor=10, max_surge=6)

    both_grow = _counts(2, 2, 8, 8)  # 20%
    d = decide(both_grow, 3, 10)
    assert (d.track, d.replicas) == (Track.CANDIDATE, 3)  # → 23%
    d = decide(both_grow, 3, 13)
    assert (d.track, d.replicas) == (Track.STABLE, 13)  # → 18.75%
    both_shrink = _counts(5, 5, 10, 10)  # 33%
    d = decide(both_shrink, 4, 7)
    assert (d.track, d.replicas) == (Track.STABLE, 7)  # → 36%: stable loses share first
    d = decide(both_shrink, 3, 9)
    assert (d.track, d.replicas) == (Track.CANDIDATE, 3)  # → 25%


def test_next_scale_rejects_impossible_targets() -> None:
    obs = _counts(0, 0, 10, 10)
    with pytest.raises(ValueError, match="outside"):
        next_scale(
            observed=obs, target=ReplicaPair(candidate=5, stable=9), capacity_floor=10, max_surge=3
        )
    with pytest.raises(ValueError, match="outside"):
        next_scale(
            observed=obs, target=ReplicaPair(candidate=1, stable=8), capacity_floor=10, max_surge=3
        )
    with pytest.raises(ValueError, match="max_surge"):
        next_scale(
            observed=obs, target=ReplicaPair(candidate=0, stable=10), capacity_floor=10, max_surge=0
        )


def test_plan_transition_interleaves_beyond_the_surge() -> None:
    moves = plan_transition(
        start=ReplicaPair(candidate=0, stable=4),
        target=ReplicaPair(candidate=4, stable=0),
        capacity_floor=4,
        max_surge=1,
    )
    assert [(m.candidate, m.stable) for m in moves] == [
        (1, 4), (1, 3), (2, 3), (2, 2), (3, 2), (3, 1), (4, 1), (4, 0),
    ]  # fmt: skip
    assert (
        plan_transition(
            start=ReplicaPair(candidate=1, stable=1),
            target=ReplicaPair(candidate=1, stable=1),
            capacity_floor=1,
            max_surge=1,
        )
        == ()
    )


@st.composite
def _scenario(draw: st.DrawFn) -> tuple[int, int, ReplicaPair, ReplicaPair]:
    n = draw(st.integers(1, 30))
    surge = draw(st.integers(1, n + 2))
    if draw(st.booleans()):  # a real canary: from one weight's pods to another's (or abort)
        w0 = draw(st.integers(0, 100))
        c0, s0 = replicas_for_weight(total=n, weight=w0, max_surge=surge)
        w1 = draw(st.integers(0, 100))
        c1, s1 = replicas_for_weight(total=n, weight=w1, max_surge=surge)
    else:  # any pair of footprints within the bounds
        t0 = draw(st.integers(n, n + surge))
        c0 = draw(st.integers(0, t0))
        s0 = t0 - c0
        t1 = draw(st.integers(n, n + surge))
        c1 = draw(st.integers(0, t1))
        s1 = t1 - c1
    return n, surge, ReplicaPair(candidate=c0, stable=s0), ReplicaPair(candidate=c1, stable=s1)


def _simulate(
    data: st.DataObject,
    *,
    n: int,
    surge: int,
    start: ReplicaPair,
    target: ReplicaPair,
    crashes: bool,
) -> None:
    """Play the engine loop: each round a pod becomes ready, a pod crashes (if ``crashes``),
    a removed pod finally disappears from a stale status, or the engine takes one decision.

    ``ready`` is what serves (a removed pod leaves the endpoints at once); the status the
    engine observes may still count removed pods as ready for a while (``lingering``).
    """
    desired = {Track.CANDIDATE: start.candidate, Track.STABLE: start.stable}
    ready = dict(desired)
    lingering = dict.fromkeys(Track, 0)
    # A status that hides a crash behind pods on their way out cannot be made safe, so
    # stale counts are played only without crashes.
    stale = not crashes and data.draw(st.booleans(), label="stale status")
    moves = 0
    bound = abs(target.candidate - start.candidate) + abs(target.stable - start.stable)

    def observed() -> CanaryCounts:
        c, s = Track.CANDIDATE, Track.STABLE
        return CanaryCounts(
            candidate=TrackCounts(desired=desired[c], ready=ready[c] + lingering[c]),
            stable=TrackCounts(desired=desired[s], ready=ready[s] + lingering[s]),
        )

    def capacity() -> int:
        return sum(ready.values())

    events = ["tick", "ready", "gone"] + (["crash"] * crashes)
    crashed = 0
    for _ in range(10_000):
        pending = [t for t in Track if ready[t] < desired[t]]
        event = data.draw(st.sampled_from(events))
        if event == "crash" and crashed < 3 and capacity() > 0:
            ready[data.draw(st.sampled_from([t for t in Track if ready[t] > 0]))] -= 1
            crashed += 1
            continue
        if event == "ready" and pending:
            ready[data.draw(st.sampled_from(pending))] += 1
            continue
        if event == "gone" and any(lingering.values()):
            lingering[data.draw(st.sampled_from([t for t in Track if lingering[t]]))] -= 1
            continue
        before = capacity()
        decision = next_scale(observed=observed(), target=target, capacity_floor=n, max_surge=surge)
        if decision.verdict is Verdict.DONE:
            if not any(lingering.values()):
                break
            lingering = dict.fromkeys(Track, 0)  # the engine trusts only a caught-up status
            continue
        if decision.verdict is Verdict.WAIT:
            assert pending or any(lingering.values()), (
                f"deadlock: waiting with every pod ready: {observed()} → {target}"
            )
            if pending:
                ready[data.draw(st.sampled_from(pending))] += 1
            else:
                lingering = dict.fromkeys(Track, 0)
            continue
        assert decision.track is not None
        assert decision.replicas is not None
        moves += 1
        track, to = decision.track, decision.replicas
        goal = target.candidate if track is Track.CANDIDATE else target.stable
        assert to != desired[track]
        assert min(desired[track], goal) <= to <= max(desired[track], goal), "overshoot"
        if to > desired[track]:
            assert sum(desired.values()) - desired[track] + to <= n + surge, "over budget"
        else:  # the controller deletes not-ready pods first
            kept = min(ready[track], to)
            if stale:
                lingering[track] += ready[track] - kept
            ready[track] = kept
        desired[track] = to
        assert capacity() >= min(n, before), "a move cost ready capacity"
        if not crashes:
            assert capacity() >= n
    else:  # pragma: no cover
        pytest.fail("did not finish")
    assert moves <= bound
    assert desired == ready == {Track.CANDIDATE: target.candidate, Track.STABLE: target.stable}


@settings(max_examples=200, deadline=None)
@given(scenario=_scenario(), data=st.data())
def test_next_scale_keeps_capacity_and_budget_and_terminates(
    scenario: tuple[int, int, ReplicaPair, ReplicaPair], data: st.DataObject
) -> None:
    n, surge, start, target = scenario
    _simulate(data, n=n, surge=surge, start=start, target=target, crashes=False)


@settings(max_examples=100, deadline=None)
@given(scenario=_scenario(), data=st.data())
def test_next_scale_never_makes_a_crash_worse(
    scenario: tuple[int, int, ReplicaPair, ReplicaPair], data: st.DataObject
) -> None:
    n, surge, start, target = scenario
    _simulate(data, n=n, surge=surge, start=start, target=target, crashes=True)


@settings(max_examples=100, deadline=None)
@given(
    n=st.integers(1, 60),
    surge=st.integers(1, 20),
    weights=st.lists(st.integers(1, 99), min_size=1, max_size=6, unique=True),
)
def test_a_whole_step_list_stays_within_bounds(n: int, surge: int, weights: list[int]) -> None:
    steps = [*sorted(weights), 100]
    spec = CanarySpec.from_shorthand(steps=",".join(map(str, steps)))
    planned = plan_steps(spec, total=n, max_surge=surge)
    shares = [p.achieved_weight for p in planned]
    assert shares == sorted(shares)
    assert (planned[-1].candidate, planned[-1].stable) == (n, 0)
    previous = ReplicaPair(candidate=0, stable=n)
    for p in planned:
        for m in p.moves:
            assert n <= m.total <= n + surge
            # one track changes per move
            assert (m.candidate == previous.candidate) != (m.stable == previous.stable)
            previous = m
        assert (previous.candidate, previous.stable) == (p.candidate, p.stable)


# -- plan_steps -------------------------------------------------------------------------------


def test_plan_steps_table() -> None:
    spec = CanarySpec.from_shorthand(steps="10,25,50,100", pause="2m")
    planned = plan_steps(spec, total=10)
    assert [p.kind for p in planned] == ["setWeight", "pause"] * 3 + ["setWeight"]
    weights = [p for p in planned if p.kind == "setWeight"]
    assert [(p.requested_weight, p.candidate, p.stable) for p in weights] == [
        (10, 1, 9),
        (25, 3, 9),
        (50, 5, 5),
        (100, 10, 0),
    ]
    assert [p.achieved_weight for p in weights] == [10.0, 25.0, 50.0, 100.0]
    assert planned[1].pause_seconds == 120
    assert not planned[1].waits_for_promote
    assert (planned[1].candidate, planned[1].stable) == (1, 9)
    assert planned[1].moves == ()
    assert [(m.candidate, m.stable) for m in planned[0].moves] == [(1, 10), (1, 9)]


def test_plan_steps_for_one_pod_and_candidate_scale() -> None:
    spec = CanarySpec.from_yaml(
        "maxSurge: 1\n"
        "steps:\n"
        "- setCandidateScale: {replicas: 1}\n"
        "- analysis: {templates: [{templateName: smoke}]}\n"
        "- setWeight: 10\n"
        "- pause: {}\n"
        "- setWeight: 100\n"
    )
    planned = plan_steps(spec, total=1)
    assert [(p.candidate, p.stable) for p in planned] == [(1, 1), (1, 1), (1, 1), (1, 1), (1, 0)]
    assert planned[2].achieved_weight == 50.0  # 10% of one pod: the closest is one each
    assert planned[3].waits_for_promote
    assert planned[3].pause_seconds is None


def test_plan_steps_candidate_scale_beyond_surge_is_invalid() -> None:
    spec = CanarySpec.from_yaml("steps:\n- setCandidateScale: {replicas: 50%}\n- setWeight: 100\n")
    assert plan_steps(spec, total=10, max_surge=5)[0].candidate == 5
    with pytest.raises(
        InvalidSpecError, match=r"steps\[0\]\.setCandidateScale\.replicas: 5 candidate"
    ):
        plan_steps(spec, total=10)  # default surge: 3 pods
