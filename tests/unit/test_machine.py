"""The shared step machine (plan.machine) and typed plug-in lookups, without a cluster."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from kprism.errors import UsageError
from kprism.model.actions import EmitEvent, ScaleDeployment
from kprism.model.observed import AppObs
from kprism.model.release import Action, Intent, Phase, ReleaseStatus, Strategy
from kprism.model.routing import GATEWAY, NGINX, REPLICAS, ROUTER_KINDS, exact_weights, router_kind
from kprism.model.steps import CanarySpec
from kprism.plan import canary
from kprism.plan.machine import Act, Fail, Next, Result, StepFn, Wait, drive, iso
from kprism.traffic import ROUTERS, router_for
from tests.unit.bgsim import T0, Sim, blue_app, new_release


def table(**steps: StepFn) -> dict[str, StepFn]:
    return steps


def run(st: ReleaseStatus, steps: dict[str, StepFn], intent: Intent | None = None):  # type: ignore[no-untyped-def]
    return drive(
        st, blue_app().observe(), T0, intent, table=steps, abort_step="back", done_step="end"
    )


def test_next_runs_on_at_once_until_a_step_acts() -> None:
    calls: list[str] = []

    def first(st: ReleaseStatus, obs: AppObs, now: datetime) -> Result:
        calls.append("a")
        return Next("b", event=("Reached", "a done"))

    def second(st: ReleaseStatus, obs: AppObs, now: datetime) -> Result:
        calls.append("b")
        return Act((ScaleDeployment(name="x", replicas=2),))

    d = run(new_release(blue_app()).evolve(step="a"), table(a=first, b=second))
    assert calls == ["a", "b"]
    assert d.status.step == "b"
    assert d.status.step_started_at == iso(T0)
    assert d.status.message == "scale Deployment x to 2"
    assert d.actions == (
        EmitEvent(reason="Reached", message="a done"),
        ScaleDeployment(name="x", replicas=2),
    )
    assert d.requeue_after == 5.0


def test_wait_records_its_message_and_event() -> None:
    def waiting(st: ReleaseStatus, obs: AppObs, now: datetime) -> Result:
        return Wait("hold on", 7.0, event=("Waiting", "held", True))

    d = run(new_release(blue_app()).evolve(step="a"), table(a=waiting))
    assert (d.status.message, d.requeue_after) == ("hold on", 7.0)
    assert d.actions == (EmitEvent(reason="Waiting", message="held", warning=True),)


def test_fail_enters_the_abort_path_once() -> None:
    def failing(st: ReleaseStatus, obs: AppObs, now: datetime) -> Result:
        return Fail("broken")

    def back(st: ReleaseStatus, obs: AppObs, now: datetime) -> Result:
        return Fail("still broken")

    d = run(new_release(blue_app()).evolve(step="a"), table(a=failing, back=back))
    # the forward step failed: go back; the way back fails too: record it and retry later
    assert d.status.aborting
    assert d.status.step == "back"
    assert d.status.last_error == "still broken"
    assert d.requeue_after == 10.0
    assert d.actions == (EmitEvent(reason="ReleaseFailed", message="broken", warning=True),)


def test_intents_fold_in_and_are_consumed() -> None:
    st = new_release(blue_app()).evolve(step="a")
    hold = table(a=lambda st, obs, now: Wait("waiting"))
    abort = Intent(action=Action.ABORT, release="r1", by="me", reason="why")
    d = run(st, table(a=hold["a"], back=lambda st, obs, now: Wait("going back")), abort)
    assert d.consume_intent
    assert (d.status.step, d.status.aborting) == ("back", True)
    assert d.actions[0] == EmitEvent(
        reason="AbortRequested", message="abort requested by me: why", warning=True
    )
    # an intent for another release is consumed and ignored
    other = Intent(action=Action.ABORT, release="r0")
    d = run(st, hold, other)
    assert d.consume_intent
    assert not d.status.aborting
    # no abort once done
    d = run(st.evolve(step="end"), table(end=lambda st, obs, now: Wait("done")), abort)
    assert not d.status.aborting
    # paused: nothing runs
    d = run(st, hold, Intent(action=Action.PAUSE, release="r1"))
    assert d.status.phase == Phase.PAUSED
    assert d.actions == (EmitEvent(reason="Paused", message="release paused"),)


def test_router_kinds_and_traffic_routers_agree() -> None:
    assert list(ROUTER_KINDS) == ["replicas", "gateway", "nginx"]
    assert {name: r.kind for name, r in ROUTERS.items()} == ROUTER_KINDS
    for name, r in ROUTERS.items():
        assert (r.name, r.exact, r.max_tracks) == (
            name,
            ROUTER_KINDS[name].exact_weights,
            ROUTER_KINDS[name].max_tracks,
        )
    assert router_for("nginx").kind is NGINX
    assert (REPLICAS.exact_weights, GATEWAY.exact_weights) == (False, True)
    assert not exact_weights("replicas")
    assert exact_weights("gateway")
    assert exact_weights("istio")  # unknown: looked up (and refused) by the engine
    with pytest.raises(
        UsageError, match="--router 'istio' is unknown: use replicas, gateway or nginx"
    ):
        router_kind("istio")


def canary_status(sim: Sim, spec: CanarySpec) -> ReleaseStatus:
    base = new_release(sim)
    return base.evolve(
        step=canary.STEP,
        spec=base.spec.__class__(
            strategy=Strategy.CANARY,
            change=base.spec.change,
            canary=spec.model_dump(mode="json", by_alias=True),
        ),
    )


def test_canary_steps_are_matched_by_type() -> None:
    sim = blue_app(4)
    spec = CanarySpec.from_yaml(
        "steps:\n- setCandidateScale: {replicas: 2}\n- pause: {duration: 30}\n"
        "- analysis: {templates: [{templateName: t}]}\n- setWeight: 100\n",
        source="spec.yaml",
    )
    sim.deployments["hello-green"] = sim.deployments["hello-blue"].__class__(
        "hello-green", "green", 0, sim.deployments["hello-blue"].template
    )
    st = canary_status(sim, spec)
    d = canary.decide(st, sim.observe(), sim.now)
    assert ScaleDeployment(name="hello-green", replicas=2) in d.actions
    paused = canary.decide(st.evolve(step_index=1), sim.observe(), sim.now)
    assert paused.status.pause_until == iso(sim.now + timedelta(seconds=30))
    failed = canary.decide(st.evolve(step_index=2), sim.observe(), sim.now)
    assert failed.status.aborting
    assert (
        "steps[2].analysis.templates[0]: unknown analysis template 't'" in failed.status.last_error
    )
