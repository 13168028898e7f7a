"""The canary planner over the simulated cluster: capacity, step verification, abort."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from kprism.model.actions import ScaleDeployment, SetSelector
from kprism.model.release import Action, Intent, Phase, ReleaseStatus, Strategy
from kprism.model.steps import CanarySpec
from kprism.plan import canary
from kprism.plan.rainbow import decide_split, parse_weights
from tests.unit.bgsim import Sim, blue_app, new_release


def canary_release(sim: Sim, steps: str, pause: str | None = None) -> ReleaseStatus:
    spec = CanarySpec.from_shorthand(steps=steps, pause=pause)
    base = new_release(sim)
    return base.evolve(
        spec=base.spec.__class__(
            strategy=Strategy.CANARY,
            change=base.spec.change,
            canary=spec.model_dump(mode="json", by_alias=True),
            ready_timeout=600,
        )
    )


def drive(
    sim: Sim, status: ReleaseStatus, grow: list[list[str]], *, intents=None, ticks: int = 400
):  # type: ignore[no-untyped-def]
    intents = dict(intents or {})
    n = status.replicas
    weights_seen = []
    for tick in range(ticks):
        d = canary.decide(status, sim.observe(), sim.now, intents.pop(tick, None))
        if d.status.achieved_weight != status.achieved_weight:
            weights_seen.append(d.status.achieved_weight)
        status = d.status
        for a in d.actions:
            if isinstance(a, ScaleDeployment):
                total = (
                    sum(x.replicas for x in sim.deployments.values() if x.name != a.name)
                    + a.replicas
                )
                assert total <= n + max(1, -(-n // 4)) or status.aborting, (
                    f"surge exceeded: {total}"
                )
            sim.apply(a)
        if d.done:
            return status, weights_seen
        sim.tick(grow[tick % len(grow)])
        # capacity: ready endpoints never below N once settled (lag aside)
        if not status.aborting and sim.endpoint_lag == 0:
            assert len(sim.endpoints) >= n, (len(sim.endpoints), n, status.step, status.message)
    raise AssertionError(f"not done: {status.step} {status.message}")


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(min_value=1, max_value=8),
    grow=st.lists(
        st.lists(st.sampled_from(["hello-blue", "hello-green"]), max_size=2), min_size=1, max_size=6
    ),
)
def test_property_canary_keeps_capacity_and_finishes(n: int, grow: list[list[str]]) -> None:
    if not any("hello-green" in g for g in grow):
        grow = [*grow, ["hello-green"]]
    if not any("hello-blue" in g for g in grow):
        grow = [*grow, ["hello-blue"]]
    sim = blue_app(n)
    final, weights = drive(sim, canary_release(sim, "10,25,50,100"), grow)
    assert final.phase == Phase.SUCCEEDED
    assert sim.selector["color"] == "green"
    assert sim.deployments["hello-blue"].replicas == 0
    assert weights == sorted(weights), f"achieved weights not monotone: {weights}"


def test_manual_pause_waits_for_promote() -> None:
    sim = blue_app(4)
    status = canary_release(sim, "25,100").evolve()
    spec = CanarySpec.from_yaml("steps:\n- setWeight: 25\n- pause: {}\n- setWeight: 100\n")
    status = status.evolve(
        spec=status.spec.__class__(
            strategy=Strategy.CANARY,
            change=status.spec.change,
            canary=spec.model_dump(mode="json", by_alias=True),
        )
    )
    for _ in range(40):
        d = canary.decide(status, sim.observe(), sim.now)
        status = d.status
        for a in d.actions:
            sim.apply(a)
        sim.tick(list(sim.deployments))
    assert status.phase == Phase.PAUSED and status.step_index == 1
    assert status.achieved_weight == 25
    final, _ = drive(
        sim,
        status,
        [list(sim.deployments)],
        intents={0: Intent(action=Action.PROMOTE, release="r1")},
    )
    assert final.phase == Phase.SUCCEEDED


def test_unpins_service_only_when_candidate_gets_pods() -> None:
    sim = blue_app(4)
    status = canary_release(sim, "0,50,100")
    seen_unpin_with_candidate_pods = False
    for _ in range(10):
        d = canary.decide(status, sim.observe(), sim.now)
        status = d.status
        for a in d.actions:
            if isinstance(a, SetSelector) and "color" not in a.selector:
                seen_unpin_with_candidate_pods = sim.deployments.get("hello-green") is not None
            sim.apply(a)
        sim.tick(list(sim.deployments))
    assert seen_unpin_with_candidate_pods


def test_other_services_over_the_pods_follow_the_service_through_the_steps() -> None:
    """frontend-external beside frontend: it selects both tracks exactly when the app's
    Service does (in the same step), is verified on its own EndpointSlices at each
    weight, and ends pinned to the candidate."""
    sim = blue_app(4)
    sim.add_sibling("hello-external", {"app": "hello"})
    status = canary_release(sim, "25,50,100")
    reached = 0
    for _ in range(200):
        d = canary.decide(status, sim.observe(), sim.now)
        status = d.status
        for a in d.actions:
            sim.apply(a)
        mirror = {
            "app": "hello",
            **({"color": sim.selector["color"]} if "color" in sim.selector else {}),
        }
        assert sim.siblings["hello-external"] == mirror, (status.step, sim.selector)
        if any(getattr(a, "reason", "") == "StepReached" for a in d.actions):
            reached += 1
            assert sim.sibling_endpoints["hello-external"] == sim.endpoints
        if d.done:
            break
        sim.tick(list(sim.deployments))
    assert status.phase == Phase.SUCCEEDED and reached >= 3
    assert sim.siblings["hello-external"] == {"app": "hello", "color": "green"}


def test_a_weight_step_waits_for_the_other_services_endpoints() -> None:
    sim = blue_app(4)
    sim.add_sibling("hello-external", {"app": "hello", "color": "blue"})
    status = canary_release(sim, "50,100")
    for _ in range(100):
        before = status.step_index
        d = canary.decide(status, sim.observe(), sim.now)
        if d.status.step_index > before:
            break
        status = d.status
        for a in d.actions:
            sim.apply(a)
            if isinstance(a, SetSelector) and a.service == "hello-external":
                sim.sibling_lag["hello-external"] = 8  # its EndpointSlices lag far behind
        sim.tick(list(sim.deployments))
    else:
        raise AssertionError("never reached the step")
    assert sim.sibling_endpoints["hello-external"] == sim.endpoints, (
        "a step was reached while another Service over the pods still listed other endpoints"
    )


@settings(max_examples=30, deadline=None)
@given(abort_at=st.integers(min_value=0, max_value=30), sibling=st.booleans())
def test_property_abort_restores_stable(abort_at: int, sibling: bool) -> None:
    sim = blue_app(4)
    if sibling:
        sim.add_sibling("hello-external", {"app": "hello"})
    final, _ = drive(
        sim,
        canary_release(sim, "10,50,100", pause="60s"),
        [list(sim.deployments)],
        intents={abort_at: Intent(action=Action.ABORT, release="r1")},
    )
    if final.phase == Phase.SUCCEEDED:
        return
    assert final.phase == Phase.ABORTED
    assert sim.selector == {"app": "hello", "color": "blue"}
    if sibling:
        assert sim.siblings["hello-external"] == {"app": "hello", "color": "blue"}
        assert sim.sibling_endpoints["hello-external"] == frozenset(sim.pods("blue"))
    assert sim.deployments["hello-blue"].replicas == 4
    green = sim.deployments.get("hello-green")
    assert green is None or green.replicas == 0


def test_split_plan_grows_before_unpinning_and_shrinking() -> None:
    sim = blue_app(10)
    from tests.unit.bgsim import SimDeployment, template

    sim.deployments["hello-green"] = SimDeployment(
        "hello-green", "green", 0, template("hello:2", "green")
    )
    w = parse_weights(["blue=80", "green=20"])
    step = decide_split(sim.observe(), w, router="replicas", total=10)
    assert [type(a).__name__ for a in step.actions] == ["ScaleDeployment"]
    assert step.actions[0].name == "hello-green"  # type: ignore[union-attr]
    sim.apply(step.actions[0])
    assert decide_split(sim.observe(), w, router="replicas", total=10).waiting
    sim.tick(["hello-green", "hello-green"])
    step = decide_split(sim.observe(), w, router="replicas", total=10)
    assert isinstance(step.actions[0], SetSelector) and "color" not in step.actions[0].selector


def test_split_is_done_only_when_the_endpointslices_show_exactly_the_planned_pods() -> None:
    """Under load the EndpointSlices lag behind the pods: a blue pod already gone (or
    terminating) from the pod list can still be a ready endpoint. The split must wait
    for exactly the planned endpoints, not count only the endpoints of pods it knows."""
    from tests.unit.bgsim import SimDeployment, template

    sim = blue_app(10)
    sim.deployments["hello-green"] = SimDeployment(
        "hello-green", "green", 0, template("hello:2", "green")
    )
    w = parse_weights(["blue=80", "green=20"])
    for _ in range(20):
        step = decide_split(sim.observe(), w, router="replicas", total=10)
        if step.done:
            break
        shrink = [
            a for a in step.actions if isinstance(a, ScaleDeployment) and a.name == "hello-blue"
        ]
        blue_before = sim.pods("blue")
        for a in step.actions:
            sim.apply(a)
        if shrink:
            # The EndpointSlice still lists the removed blue pods as ready; everything
            # else is up to date.
            sim.endpoints = sim.selected_ready() | frozenset(blue_before)
            lagging = decide_split(sim.observe(), w, router="replicas", total=10)
            assert not lagging.done, "split called done while a removed pod was still an endpoint"
            assert lagging.waiting
        sim.tick(["hello-green", "hello-green"])
    assert step.done
    assert sum(p.startswith("hello-blue") for p in sim.endpoints) == 8


def test_split_scales_an_unlisted_track_that_would_get_traffic_to_zero() -> None:
    from tests.unit.bgsim import SimDeployment, template

    sim = blue_app(4)
    for track, n in (("red", 1), ("yellow", 1)):
        sim.deployments[f"hello-{track}"] = SimDeployment(
            f"hello-{track}", track, n, template("hello:2", track), ready=n
        )
    w = parse_weights(["blue=80", "red=20"])
    scaled: dict[str, int] = {}
    for _ in range(30):
        step = decide_split(sim.observe(), w, router="replicas", total=5)
        if step.done:
            break
        for a in step.actions:
            if isinstance(a, ScaleDeployment):
                scaled[a.name] = a.replicas
            sim.apply(a)
        sim.tick(["hello-blue", "hello-red"])
    assert step.done
    assert scaled.get("hello-yellow") == 0
    assert not any(p.startswith("hello-yellow") for p in sim.endpoints)


def _paused_at_first_step(replicas: int, weight: int) -> tuple[ReleaseStatus, str]:
    sim = blue_app(replicas)
    status = canary_release(sim, f"{weight},100")
    spec = CanarySpec.from_yaml(f"steps:\n- setWeight: {weight}\n- pause: {{}}\n- setWeight: 100\n")
    status = status.evolve(
        spec=status.spec.__class__(strategy=Strategy.CANARY, change=status.spec.change, canary=spec)
    )
    message = ""
    for _ in range(40):
        d = canary.decide(status, sim.observe(), sim.now)
        status, message = d.status, d.status.message
        for a in d.actions:
            sim.apply(a)
        sim.tick(list(sim.deployments))
    return status, message


def test_a_pause_says_the_live_share_when_pods_cannot_give_the_requested_one() -> None:
    status, message = _paused_at_first_step(replicas=1, weight=25)
    assert status.phase == Phase.PAUSED
    assert status.achieved_weight != 25
    assert f"25% requested, {status.achieved_weight:.3g}% live on green" in message, message
    _, exact = _paused_at_first_step(replicas=4, weight=25)
    assert "(25% on green)" in exact, exact


def test_a_release_warns_before_it_starts_when_pods_cannot_give_a_weight() -> None:
    from kprism.plan.preflight import weight_warnings

    one = canary_release(blue_app(1), "25,100")
    [warning] = weight_warnings(one)
    assert warning.startswith("step 1: 25% requested but 50% achievable with 1 replica(s)")
    assert "--router gateway" in warning
    assert weight_warnings(canary_release(blue_app(4), "25,50,100")) == ()
    exact = one.evolve(spec=one.spec.__class__(**{**one.spec.__dict__, "router": "gateway"}))
    assert weight_warnings(exact) == (), "an exact router gives every weight"
