"""How releases and rollbacks start, and which intents mean anything (pure)."""

from __future__ import annotations

import dataclasses

import pytest

from kprism.errors import UsageError
from kprism.model.observed import HpaObs
from kprism.model.release import Action, Kind, Phase, ReleaseSpec, Strategy
from kprism.plan import bluegreen, canary
from kprism.plan.intents import check_intent, drives_to_end, writes_intent
from kprism.plan.preflight import stable_track
from kprism.plan.start import initial_status, rollback_status, rollback_target
from tests.unit.bgsim import T0, Sim, SimDeployment, blue_app, new_release, template


def test_initial_status_starts_at_pin_with_stable_images() -> None:
    obs = blue_app(3).observe()
    stable = stable_track(obs, None)
    st = initial_status(
        release_id="r1",
        spec=ReleaseSpec(),
        stable=stable,
        candidate="green",
        candidate_deployment="hello-green",
        candidate_images={"hello": "hello:2"},
        now=T0,
    )
    assert (st.kind, st.phase, st.step) == (Kind.RELEASE, Phase.PROGRESSING, bluegreen.PIN)
    assert (st.stable, st.candidate, st.replicas) == ("blue", "green", 3)
    assert st.stable_images == stable.images()
    assert st.started_at == st.step_started_at == "2026-01-01T00:00:00Z"
    assert st.hpa == ""
    hpa = HpaObs(name="web", target="hello-blue", min_replicas=2, max_replicas=9, desired=3)
    with_hpa = initial_status(
        release_id="r1",
        spec=ReleaseSpec(),
        stable=stable,
        candidate="green",
        candidate_deployment="hello-green",
        candidate_images={},
        now=T0,
        hpa=hpa,
    )
    assert (with_hpa.hpa, with_hpa.hpa_min, with_hpa.hpa_max) == ("web", 2, 9)


def two_tracks() -> Sim:
    sim = blue_app(3)
    sim.deployments["hello-green"] = SimDeployment(
        "hello-green", "green", 0, template("hello:0", "green")
    )
    return sim


def test_rollback_target_is_the_only_other_track_without_history() -> None:
    obs = two_tracks().observe()
    current, previous = rollback_target(obs, [], app="hello")
    assert (current.name, previous.name) == ("hello-blue", "hello-green")
    st = rollback_status(
        release_id="r2", current=current, previous=previous, scale_down_delay=7, now=T0
    )
    assert (st.kind, st.step, st.stable, st.candidate) == (
        Kind.ROLLBACK,
        bluegreen.CREATE,
        "blue",
        "green",
    )
    assert st.spec.auto_promote
    assert st.spec.scale_down_delay == 7
    assert st.replicas == 3


def test_rollback_target_follows_history() -> None:
    sim = two_tracks()
    sim.deployments["hello-red"] = SimDeployment("hello-red", "red", 0, template("hello:r", "red"))
    obs = sim.observe()
    with pytest.raises(UsageError, match="no previous track"):
        rollback_target(obs, [], app="hello")  # two other tracks: which one?
    history = [
        {"phase": "Succeeded", "stable": "green", "candidate": "blue"},
        {"phase": "Failed", "stable": "red", "candidate": "blue"},
    ]
    assert rollback_target(obs, history, app="hello")[1].name == "hello-green"


def test_rollback_needs_a_pinned_service() -> None:
    sim = two_tracks()
    sim.selector = {"app": "hello"}
    with pytest.raises(UsageError, match="does not pin a track"):
        rollback_target(sim.observe(), [], app="hello")


def test_intent_without_a_release_in_progress() -> None:
    with pytest.raises(UsageError, match="nothing to promote: app hello has no release"):
        check_intent(None, Action.PROMOTE_FULL, app="hello")
    done = new_release(blue_app()).evolve(phase=Phase.SUCCEEDED)
    with pytest.raises(UsageError, match=r"\(last release r1 succeeded\); to go back"):
        check_intent(done, Action.ABORT, app="hello")


def test_bluegreen_promotion_only_before_the_switch() -> None:
    st = new_release(blue_app(), auto=False)
    assert check_intent(st, Action.PROMOTE, app="hello") is st
    assert bluegreen.promote_refusal(st.evolve(step=bluegreen.AWAIT)) is None
    assert "past promotion" in (bluegreen.promote_refusal(st.evolve(step=bluegreen.VERIFY)) or "")
    assert "already promoted" in (bluegreen.promote_refusal(st.evolve(promoted=True)) or "")
    assert "being aborted" in (bluegreen.promote_refusal(st.evolve(aborting=True)) or "")
    auto = new_release(blue_app(), auto=True)
    with pytest.raises(UsageError, match="already promoted"):
        check_intent(auto, Action.PROMOTE, app="hello")


def test_canary_promotion_until_its_steps_are_over() -> None:
    st = new_release(blue_app())
    st = st.evolve(spec=dataclasses.replace(st.spec, strategy=Strategy.CANARY))
    for step in (bluegreen.PIN, bluegreen.CREATE, canary.STEP):
        assert canary.promote_refusal(st.evolve(step=step)) is None
    assert "past its steps" in (canary.promote_refusal(st.evolve(step=canary.FINALIZE)) or "")
    assert "past its steps" in (canary.promote_refusal(st.evolve(full=True)) or "")
    with pytest.raises(UsageError, match="past its steps"):
        check_intent(st.evolve(step=canary.FINALIZE), Action.PROMOTE_FULL, app="hello")


def test_pause_resume_and_how_far_an_unattended_release_is_driven() -> None:
    st = new_release(blue_app())
    with pytest.raises(UsageError, match="already paused"):
        check_intent(st.evolve(paused=True), Action.PAUSE, app="hello")
    assert not writes_intent(st, Action.RESUME)
    assert writes_intent(st.evolve(paused=True), Action.RESUME)
    assert writes_intent(st, Action.PAUSE)
    assert drives_to_end(st, Action.PROMOTE)
    assert not drives_to_end(st, Action.PAUSE)
    can = st.evolve(spec=dataclasses.replace(st.spec, strategy=Strategy.CANARY))
    assert drives_to_end(can, Action.ABORT)
    assert drives_to_end(can, Action.PROMOTE_FULL)
    assert not drives_to_end(can, Action.PROMOTE)
    assert not drives_to_end(can, Action.RESUME)
