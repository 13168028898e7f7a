"""The blue-green planner: tables of cases and Hypothesis properties over a simulated cluster."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from kprism.model.actions import CreateDeployment, ScaleDeployment, SetSelector
from kprism.model.release import Action, Intent, Phase, ReleaseStatus
from kprism.plan import bluegreen
from tests.unit.bgsim import Sim, blue_app, new_release

#: selectors a second Service over the app's pods may start with (Online Boutique's
#: frontend-external: the app's own selector; or already pinned to the live track)
SIBLING_SELECTORS = ({"app": "hello"}, {"app": "hello", "color": "blue"})


def assert_candidate_hidden(sim: Sim, status: ReleaseStatus) -> None:
    """The invariant over every Service that selects the app's pods: before the switch,
    none lists a candidate pod, and once the candidate exists each selects stable only."""
    if status.step not in bluegreen.BEFORE_SWITCH or status.aborting:
        return
    cand = frozenset(sim.pods(status.candidate))
    for name, (selector, endpoints) in sim.services().items():
        assert not endpoints & cand, (
            f"Service {name} lists {status.candidate} pods before promotion"
        )
        if status.candidate_deployment in sim.deployments:
            assert selector.get("color") == status.stable, (
                f"Service {name} selects {selector} while {status.candidate} exists, before promotion"
            )


def run(sim: Sim, status, *, grow_order=None, intents=None, max_ticks: int = 200):  # type: ignore[no-untyped-def]
    """Drive decide() against the simulator; check safety after every action."""
    intents = dict(intents or {})
    for tick in range(max_ticks):
        obs = sim.observe()
        intent = intents.pop(tick, None)
        decision = bluegreen.decide(status, obs, sim.now, intent)
        status = decision.status
        for action in decision.actions:
            if isinstance(action, SetSelector) and "color" in action.selector:
                target = action.selector["color"]
                ready = len(sim.pods(target))
                dep = next(d for d in sim.deployments.values() if d.track == target)
                assert ready >= 1, f"flipped onto {target} with no ready pod"
                assert ready >= dep.replicas, (
                    f"flipped onto {target} with {ready}/{dep.replicas} ready"
                )
            if (
                isinstance(action, ScaleDeployment)
                and action.name == status.stable_deployment
                and action.replicas == 0
            ):
                assert status.verified_at, "stable scaled down before the cutover was verified"
                assert sim.endpoints == frozenset(sim.pods(status.candidate))
            sim.apply(action)
        assert_candidate_hidden(sim, status)
        if decision.done:
            return status
        order = grow_order[tick % len(grow_order)] if grow_order else list(sim.deployments)
        sim.tick(order)
        assert_candidate_hidden(sim, status)
        # the invariant: while stable has ready pods the Service never has zero ready endpoints
        if sim.pods(status.stable):
            assert sim.endpoints or sim.endpoint_lag > 0 or not sim.history, "no ready endpoints"
    raise AssertionError(f"did not finish: {status.step} {status.message}")


def test_happy_path_auto_promote() -> None:
    sim = blue_app()
    final = run(sim, new_release(sim))
    assert final.phase == Phase.SUCCEEDED
    assert sim.selector["color"] == "green"
    assert sim.deployments["hello-blue"].replicas == 0
    assert sim.deployments["hello-green"].template["spec"]["containers"][0]["image"] == "hello:2"
    assert sim.deployments["hello-green"].template["metadata"]["labels"]["color"] == "green"
    assert (
        sim.events.index("TrafficSwitched")
        < sim.events.index("CutoverVerified")
        < sim.events.index("StableScaledDown")
    )


def test_first_decision_creates_candidate_with_stable_size() -> None:
    sim = blue_app(replicas=4)
    d = bluegreen.decide(new_release(sim), sim.observe(), sim.now)
    (create,) = [a for a in d.actions if isinstance(a, CreateDeployment)]
    assert create.body["spec"]["replicas"] == 4
    assert create.body["spec"]["selector"]["matchLabels"] == {"app": "hello", "color": "green"}
    assert d.status.step == bluegreen.CREATE


def test_manual_promotion_waits_paused_until_promote_intent() -> None:
    sim = blue_app()
    status = new_release(sim, auto=False)
    for _ in range(20):
        d = bluegreen.decide(status, sim.observe(), sim.now)
        status = d.status
        for a in d.actions:
            sim.apply(a)
        sim.tick(list(sim.deployments))
    assert status.step == bluegreen.AWAIT and status.phase == Phase.PAUSED
    assert sim.selector["color"] == "blue"
    final = run(sim, status, intents={0: Intent(action=Action.PROMOTE, release="r1")})
    assert final.phase == Phase.SUCCEEDED and final.promoted


def test_intent_for_another_release_is_consumed_but_ignored() -> None:
    sim = blue_app()
    status = new_release(sim, auto=False)
    d = bluegreen.decide(status, sim.observe(), sim.now, Intent(action=Action.ABORT, release="old"))
    assert d.consume_intent
    assert not d.status.aborting


def test_readiness_timeout_fails_and_rolls_back() -> None:
    sim = blue_app()
    status = new_release(sim)
    final = run(sim, status, grow_order=[["hello-blue"]])  # green never gets a ready pod
    assert final.phase == Phase.FAILED
    assert "not ready after 60s" in final.last_error
    assert sim.selector["color"] == "blue"
    assert sim.deployments["hello-green"].replicas == 0


def test_verify_requires_exact_endpoints() -> None:
    sim = blue_app()
    status = new_release(sim).evolve(step=bluegreen.VERIFY, step_started_at=bluegreen.iso(sim.now))
    sim.apply(
        CreateDeployment(
            name="hello-green",
            body={
                "metadata": {},
                "spec": {
                    "replicas": 3,
                    "selector": {"matchLabels": {"color": "green"}},
                    "template": {},
                },
            },
        )
    )
    sim.deployments["hello-green"].ready = 3
    sim.selector = {"app": "hello", "color": "green"}
    sim.endpoints = frozenset(sim.pods("green")) | {"hello-blue-0"}  # an old pod still listed
    d = bluegreen.decide(status, sim.observe(), sim.now + timedelta(seconds=1))
    assert d.status.step == bluegreen.VERIFY and not d.status.verified_at
    sim.endpoints = frozenset(sim.pods("green"))
    d = bluegreen.decide(status, sim.observe(), sim.now + timedelta(seconds=2))
    assert d.status.step == bluegreen.DELAY and d.status.verified_at


def test_unpinned_service_is_pinned_before_candidate_exists() -> None:
    sim = blue_app()
    sim.selector = {"app": "hello"}
    d = bluegreen.decide(new_release(sim), sim.observe(), sim.now)
    assert d.actions and isinstance(d.actions[0], SetSelector)
    assert d.actions[0].selector == {"app": "hello", "color": "blue"}
    assert not any(isinstance(a, CreateDeployment) for a in d.actions)


def test_abort_after_switch_flips_back_only_when_stable_ready() -> None:
    sim = blue_app()
    status = new_release(sim, delay=100)
    for _ in range(30):  # run until the scale-down delay
        d = bluegreen.decide(status, sim.observe(), sim.now)
        status = d.status
        for a in d.actions:
            sim.apply(a)
        if status.step == bluegreen.DELAY:
            break
        sim.tick(list(sim.deployments))
    assert status.step == bluegreen.DELAY and sim.selector["color"] == "green"
    final = run(sim, status, intents={0: Intent(action=Action.ABORT, release="r1", reason="bad")})
    assert final.phase == Phase.ABORTED
    assert sim.selector["color"] == "blue"
    assert sim.deployments["hello-green"].replicas == 0
    assert sim.deployments["hello-blue"].replicas == 3


@settings(max_examples=60, deadline=None)
@given(
    replicas=st.integers(min_value=1, max_value=6),
    grow=st.lists(
        st.lists(st.sampled_from(["hello-blue", "hello-green"]), max_size=2), min_size=1, max_size=8
    ),
    preview=st.booleans(),
    crash_every=st.integers(min_value=0, max_value=5),
    siblings=st.lists(st.sampled_from(SIBLING_SELECTORS), max_size=2),
)
def test_property_release_converges_safely(
    replicas: int,
    grow: list[list[str]],
    preview: bool,
    crash_every: int,
    siblings: list[dict[str, str]],
) -> None:
    """Any readiness order, any restart cadence, other Services over the same pods: the
    release ends Succeeded, safely, and every one of those Services ends on green.

    A "crash" throws away nothing but the process: the status recorded so far is what
    the next decide() starts from, exactly as a resumed engine would.
    """
    sim = blue_app(replicas)
    for i, selector in enumerate(siblings):
        sim.add_sibling(f"hello-other-{i}", selector)
    if not any("hello-green" in g for g in grow):
        grow = [*grow, ["hello-green"]]
    status = new_release(sim, preview=preview)
    recorded = status
    for tick in range(300):
        if crash_every and tick % crash_every == 0:
            status = recorded  # resume from what was recorded
        d = bluegreen.decide(status, sim.observe(), sim.now)
        recorded = status = d.status
        for a in d.actions:
            if isinstance(a, SetSelector) and "color" in a.selector:
                target = a.selector["color"]
                dep = next(x for x in sim.deployments.values() if x.track == target)
                assert len(sim.pods(target)) >= dep.replicas
            sim.apply(a)
        assert_candidate_hidden(sim, status)
        if d.done:
            break
        sim.tick(grow[tick % len(grow)])
        assert_candidate_hidden(sim, status)
    assert status.phase == Phase.SUCCEEDED, (status.step, status.message)
    for name, (selector, endpoints) in sim.services().items():
        assert selector["color"] == "green", name
        assert endpoints == frozenset(sim.pods("green")), name
    assert len(sim.pods("green")) == replicas


@settings(max_examples=60, deadline=None)
@given(
    abort_at=st.integers(min_value=0, max_value=25),
    replicas=st.integers(min_value=1, max_value=5),
    siblings=st.lists(st.sampled_from(SIBLING_SELECTORS), max_size=2),
)
def test_property_abort_at_any_tick_restores_stable(
    abort_at: int, replicas: int, siblings: list[dict[str, str]]
) -> None:
    sim = blue_app(replicas)
    for i, selector in enumerate(siblings):
        sim.add_sibling(f"hello-other-{i}", selector)
    final = run(
        sim,
        new_release(sim, delay=30),
        intents={abort_at: Intent(action=Action.ABORT, release="r1")},
    )
    if final.phase == Phase.SUCCEEDED:
        return  # the abort came after the release finished: nothing to abort
    assert final.phase == Phase.ABORTED
    for name, (selector, endpoints) in sim.services().items():
        assert selector["color"] == "blue", name
        assert endpoints == frozenset(sim.pods("blue")), name
    green = sim.deployments.get("hello-green")
    assert green is None or green.replicas == 0


def test_frontend_external_moves_with_frontend_and_never_serves_the_candidate_early() -> None:
    """Online Boutique: frontend and frontend-external select the same pods (app=...).
    The release pins both before the candidate exists, waits at the promotion gate with
    both on blue, flips both in the switch step and verifies both EndpointSlices."""
    sim = blue_app(3)
    sim.add_sibling("hello-external", {"app": "hello"})
    status = new_release(sim, auto=False)
    d = bluegreen.decide(status, sim.observe(), sim.now)
    pins = [a for a in d.actions if isinstance(a, SetSelector)]
    assert [(a.service, a.selector) for a in pins] == [
        ("hello-external", {"app": "hello", "color": "blue"})
    ]
    assert not any(isinstance(a, CreateDeployment) for a in d.actions)
    for _ in range(30):
        d = bluegreen.decide(status, sim.observe(), sim.now)
        status = d.status
        for a in d.actions:
            sim.apply(a)
        assert_candidate_hidden(sim, status)
        sim.tick(list(sim.deployments))
        assert_candidate_hidden(sim, status)
    assert status.step == bluegreen.AWAIT
    assert sim.sibling_endpoints["hello-external"] == frozenset(sim.pods("blue"))
    switch = bluegreen.decide(
        status, sim.observe(), sim.now, Intent(action=Action.PROMOTE, release="r1")
    )
    flips = [(a.service, a.selector["color"]) for a in switch.actions if isinstance(a, SetSelector)]
    assert flips == [("hello", "green"), ("hello-external", "green")]
    final = run(sim, switch.status)
    assert final.phase == Phase.SUCCEEDED
    assert sim.siblings["hello-external"] == {"app": "hello", "color": "green"}


def test_cutover_is_verified_on_every_services_endpointslices() -> None:
    sim = blue_app(2)
    sim.add_sibling("hello-external", {"app": "hello"})
    status = new_release(sim)
    for _ in range(40):
        d = bluegreen.decide(status, sim.observe(), sim.now)
        status = d.status
        for a in d.actions:
            sim.apply(a)
        if status.step == bluegreen.VERIFY:
            break
        sim.tick(list(sim.deployments))
    assert status.step == bluegreen.VERIFY
    sim.endpoints = frozenset(sim.pods("green"))  # the app's Service caught up ...
    sim.sibling_endpoints["hello-external"] = frozenset(sim.pods("blue"))  # ... the other not
    d = bluegreen.decide(status, sim.observe(), sim.now)
    assert d.status.step == bluegreen.VERIFY and "hello-external" in d.status.message
    sim.sibling_endpoints["hello-external"] = frozenset(sim.pods("green"))
    d = bluegreen.decide(status, sim.observe(), sim.now)
    assert d.status.step == bluegreen.DELAY


def test_a_sibling_left_behind_by_a_crash_between_two_patches_is_brought_in_line() -> None:
    sim = blue_app(2)
    sim.add_sibling("hello-external", {"app": "hello", "color": "blue"})
    status = new_release(sim)
    for _ in range(40):
        d = bluegreen.decide(status, sim.observe(), sim.now)
        status = d.status
        flips = [a for a in d.actions if isinstance(a, SetSelector)]
        if status.step == bluegreen.SWITCH and flips:
            sim.apply(flips[0])  # the app's Service flipped, then the process died
            break
        for a in d.actions:
            sim.apply(a)
        sim.tick(list(sim.deployments))
    assert sim.selector["color"] == "green" and sim.siblings["hello-external"]["color"] == "blue"
    d = bluegreen.decide(status, sim.observe(), sim.now)
    assert [(a.service, a.selector) for a in d.actions if isinstance(a, SetSelector)] == [
        ("hello-external", {"app": "hello", "color": "green"})
    ]
