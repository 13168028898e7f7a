"""Drift (issue 9 item 2): kprism remembers what it set, compares on every observation,
and on a change made by someone else stops (Paused, a Drifted condition, a Warning Event
naming the object, the field and who changed it) until the operator accepts it
(``promote --accept-drift``) or aborts."""

from __future__ import annotations

import copy

import pytest

from kprism.errors import UsageError
from kprism.model.actions import EmitEvent, ScaleDeployment, SetSelector
from kprism.model.release import Action, Intent, Phase, ReleaseStatus
from kprism.plan import bluegreen, canary
from kprism.plan.decision import Decision
from kprism.plan.intents import check_intent
from tests.unit.bgsim import Sim, blue_app, new_release
from tests.unit.test_canary_plan import canary_release

V3 = "hello:3"


def step(
    sim: Sim, status: ReleaseStatus, intent: Intent | None = None, *, planner=bluegreen.decide
) -> Decision:  # type: ignore[no-untyped-def]
    d: Decision = planner(status, sim.observe(), sim.now, intent)
    for a in d.actions:
        sim.apply(a)
    sim.tick(list(sim.deployments))
    return d


def until(
    sim: Sim, status: ReleaseStatus, done, *, planner=bluegreen.decide, ticks: int = 60
) -> ReleaseStatus:  # type: ignore[no-untyped-def]
    for _ in range(ticks):
        if done(status):
            return status
        status = step(sim, status, planner=planner).status
    raise AssertionError(f"stuck at {status.step}: {status.message}")


def events(d: Decision) -> list[tuple[str, str, bool]]:
    return [(a.reason, a.message, a.warning) for a in d.actions if isinstance(a, EmitEvent)]


def set_image_by_hand(sim: Sim, name: str, image: str, manager: str = "kubectl-set") -> None:
    d = sim.deployments[name]
    d.template = copy.deepcopy(d.template)
    d.template["spec"]["containers"][0]["image"] = image
    d.managers["spec.template"] = manager


def at_the_gate(sim: Sim) -> ReleaseStatus:
    return until(sim, new_release(sim, auto=False), lambda s: s.step == bluegreen.AWAIT)


def test_an_image_set_by_hand_at_the_promotion_gate_stops_the_release() -> None:
    sim = blue_app(3)
    status = at_the_gate(sim)
    set_image_by_hand(sim, "hello-green", V3)
    d = step(sim, status)
    st = d.status
    assert st.phase == Phase.PAUSED and st.paused and st.step == bluegreen.AWAIT
    (drift,) = st.drift
    assert (drift.kind, drift.name, drift.field, drift.by) == (
        "Deployment",
        "hello-green",
        "spec.template",
        "kubectl-set",
    )
    assert drift.got == "hello=hello:3" and drift.want == "hello=hello:2"
    cond = next(c for c in st.conditions if c.type == "Drifted")
    assert cond.status and cond.reason == "Drifted"
    ((reason, message, warning),) = events(d)
    assert reason == "Drifted" and warning
    assert message == (
        "Deployment hello-green spec.template changed outside kprism by kubectl-set: "
        "hello=hello:3, kprism set hello=hello:2"
    )
    assert not [a for a in d.actions if not isinstance(a, EmitEvent)]
    # the next look changes nothing and says nothing again
    again = step(sim, st)
    assert again.status == st and not again.actions


def test_promote_is_refused_until_the_drift_is_accepted() -> None:
    sim = blue_app(3)
    status = at_the_gate(sim)
    set_image_by_hand(sim, "hello-green", V3)
    drifted = step(sim, status).status
    with pytest.raises(UsageError) as err:
        check_intent(drifted, Action.PROMOTE, app="hello")
    assert str(err.value) == (
        f"release {drifted.id} drifted: Deployment hello-green spec.template changed outside "
        "kprism by kubectl-set: hello=hello:3, kprism set hello=hello:2; `kprism promote hello "
        "--accept-drift` takes the cluster as it is now as the new truth, `kprism abort hello` "
        "goes back to blue"
    )
    check_intent(drifted, Action.PROMOTE, app="hello", accept_drift=True)
    check_intent(drifted, Action.ABORT, app="hello")
    # a promote that reached the engine anyway (written before the drift was seen) is refused
    refused = step(sim, drifted, Intent(action=Action.PROMOTE, release="r1", by="ann"))
    assert refused.consume_intent and not refused.status.promoted
    assert refused.status.step == bluegreen.AWAIT and refused.status.drift
    assert [e[0] for e in events(refused)] == ["PromoteRefused"]
    # promote --accept-drift: the hand-set image is the new truth and is what is recorded
    accepted = step(
        sim, drifted, Intent(action=Action.PROMOTE, release="r1", by="ann", accept_drift=True)
    )
    st = accepted.status
    assert not st.drift and st.promoted and st.candidate_images == {"hello": V3}
    assert next(c for c in st.conditions if c.type == "Drifted").reason == "Accepted"
    assert [e[0] for e in events(accepted)][:2] == ["DriftAccepted", "Promoted"]
    final = until(sim, st, lambda s: s.phase.terminal, ticks=100)
    assert final.phase == Phase.SUCCEEDED and final.candidate_images == {"hello": V3}
    assert sim.deployments["hello-green"].template["spec"]["containers"][0]["image"] == V3


def test_abort_is_not_stopped_by_drift() -> None:
    sim = blue_app(3)
    drifted = step(sim, at_the_gate(sim)).status
    set_image_by_hand(sim, "hello-green", V3)
    drifted = step(sim, drifted).status
    assert drifted.drift
    final = until(
        sim,
        step(sim, drifted, Intent(action=Action.ABORT, release="r1")).status,
        lambda s: s.phase.terminal,
    )
    assert final.phase == Phase.ABORTED and sim.selector["color"] == "blue"


def test_undoing_the_change_clears_the_drift_and_resume_goes_on() -> None:
    sim = blue_app(3)
    status = at_the_gate(sim)
    before = copy.deepcopy(sim.deployments["hello-green"].template)
    set_image_by_hand(sim, "hello-green", V3)
    drifted = step(sim, status).status
    sim.deployments["hello-green"].template = before  # put back as kprism set it
    cleared = step(sim, drifted)
    assert not cleared.status.drift and cleared.status.paused
    assert [e[0] for e in events(cleared)] == ["DriftResolved"]
    check_intent(cleared.status, Action.PROMOTE, app="hello")  # allowed again
    resumed = step(sim, cleared.status, Intent(action=Action.RESUME, release="r1"))
    assert not resumed.status.paused and resumed.status.step == bluegreen.AWAIT


def paused_canary(sim: Sim) -> ReleaseStatus:
    from kprism.model.steps import CanarySpec

    status = canary_release(sim, "25,100")
    spec = CanarySpec.from_yaml("steps:\n- setWeight: 25\n- pause: {}\n- setWeight: 100\n")
    status = status.evolve(
        spec=status.spec.__class__(
            strategy=status.spec.strategy,
            change=status.spec.change,
            canary=spec.model_dump(mode="json", by_alias=True),
        )
    )
    return until(
        sim, status, lambda s: s.phase == Phase.PAUSED and s.step_index == 1, planner=canary.decide
    )


def test_replicas_scaled_by_hand_during_a_paused_canary_stop_it() -> None:
    sim = blue_app(4)
    status = paused_canary(sim)
    assert status.achieved_weight == 25
    green = sim.deployments["hello-green"]
    green.replicas, green.managers["spec.replicas"] = 4, "kubectl-scale"
    d = step(sim, status, planner=canary.decide)
    (drift,) = d.status.drift
    assert (drift.name, drift.field, drift.got, drift.want, drift.by) == (
        "hello-green",
        "spec.replicas",
        "4",
        "1",
        "kubectl-scale",
    )
    assert events(d)[0][1] == (
        "Deployment hello-green spec.replicas changed outside kprism by kubectl-scale: 4, "
        "kprism set 1"
    )
    with pytest.raises(UsageError, match="drifted"):
        check_intent(d.status, Action.PROMOTE_FULL, app="hello")
    assert not any(isinstance(a, ScaleDeployment) for a in d.actions)  # nothing overwritten


def test_a_selector_edited_by_hand_during_a_paused_canary_stops_it() -> None:
    sim = blue_app(4)
    status = paused_canary(sim)
    sim.selector = {"app": "hello", "color": "blue"}  # the real split is now 0%
    sim.service_managers["spec.selector"] = "kubectl-edit"
    d = step(sim, status, planner=canary.decide)
    (drift,) = d.status.drift
    assert (drift.kind, drift.name, drift.field, drift.by) == (
        "Service",
        "hello",
        "spec.selector",
        "kubectl-edit",
    )
    assert (drift.got, drift.want) == ("app=hello,color=blue", "app=hello")
    assert not any(isinstance(a, SetSelector) for a in d.actions)
    # accepted: the canary goes on from the cluster as it is (and moves it again itself)
    accepted = step(
        sim,
        d.status,
        Intent(action=Action.PROMOTE, release="r1", accept_drift=True),
        planner=canary.decide,
    ).status
    final = until(sim, accepted, lambda s: s.phase.terminal, planner=canary.decide, ticks=200)
    assert final.phase == Phase.SUCCEEDED and sim.selector["color"] == "green"


def test_a_crash_between_recording_and_acting_is_not_drift() -> None:
    """The status is written before the actions: a process that dies in between leaves a
    status that expects the new replicas while the cluster still has the old ones."""
    sim = blue_app(4)
    status = canary_release(sim, "25,50,100")
    for _ in range(80):
        d = canary.decide(status, sim.observe(), sim.now)
        status = d.status  # recorded
        assert not status.drift, status.drift
        if any(isinstance(a, ScaleDeployment | SetSelector) for a in d.actions):
            # crash: the actions are never taken; the next engine decides again
            d = canary.decide(status, sim.observe(), sim.now)
            assert not d.status.drift, d.status.drift
            status = d.status
        for a in d.actions:
            sim.apply(a)
        if d.done:
            break
        sim.tick(list(sim.deployments))
    assert status.phase == Phase.SUCCEEDED


def test_ops_refuse_promote_and_resume_on_drift_until_it_is_accepted() -> None:
    from kprism import ops
    from kprism.cli.inspect import _text_lines
    from kprism.kube.state import read_history, read_release
    from kprism.model.release import Change, ReleaseSpec
    from tests.unit.fakekube import NS, SERVICE, fake

    kube = fake(blue_app(3))
    app = ops.App(name=SERVICE, namespace=NS)
    spec = ReleaseSpec(change=Change(images={"hello": "hello:2"}), scale_down_delay=0)
    gate = ops.release(kube, app, spec, wait=False, timeout=120)
    assert gate.step == bluegreen.AWAIT
    set_image_by_hand(kube.sim, "hello-green", V3)
    # status shows the drift before any engine has seen it
    view = ops.app_status(kube, app)
    assert [(d.name, d.field, d.by) for d in view.drift] == [
        ("hello-green", "spec.template", "kubectl-set")
    ]
    assert view.to_dict()["drift"][0]["got"] == "hello=hello:3"
    text = "\n".join(_text_lines(view, 300))
    assert (
        "drifted: Deployment hello-green spec.template changed outside kprism by kubectl-set"
        in text
    )
    with pytest.raises(UsageError, match=f"release {gate.id} drifted: Deployment hello-green"):
        ops.send_intent(kube, app, Action.PROMOTE, timeout=60)
    recorded = read_release(kube.get_service(SERVICE, NS))
    assert recorded is not None and recorded.drift and recorded.phase == Phase.PAUSED
    assert recorded.step == bluegreen.AWAIT and not recorded.promoted
    assert "Drifted" in kube.sim.events and "PromoteRefused" in kube.sim.events
    with pytest.raises(UsageError, match="drifted"):
        ops.send_intent(kube, app, Action.PROMOTE)  # refused at once now: it is recorded
    with pytest.raises(UsageError, match="drifted"):
        ops.resume(kube, app, timeout=60)
    final = ops.send_intent(kube, app, Action.PROMOTE, accept_drift=True, timeout=120)
    assert final.phase == Phase.SUCCEEDED and final.candidate_images == {"hello": V3}
    assert read_history(kube.get_service(SERVICE, NS))[-1]["candidate_images"] == {"hello": V3}
    assert kube.sim.selector["color"] == "green"


def test_the_adapter_names_who_last_wrote_each_field_from_managed_fields() -> None:
    from kprism.kube.client import deployment_obs, service_obs

    def entry(
        manager: str, time: str, fields: dict[str, object], **extra: str
    ) -> dict[str, object]:
        return {
            "manager": manager,
            "operation": "Update",
            "time": time,
            "fieldsV1": fields,
            **extra,
        }

    dep = {
        "metadata": {
            "name": "hello-green",
            "managedFields": [
                entry(
                    "kprism",
                    "2026-01-01T00:00:01Z",
                    {"f:spec": {"f:replicas": {}, "f:template": {"f:spec": {}}}},
                ),
                entry(
                    "kube-controller-manager",
                    "2026-01-01T00:00:09Z",
                    {"f:status": {"f:replicas": {}}},
                    subresource="status",
                ),
                entry(
                    "kubectl-set",
                    "2026-01-01T00:00:05Z",
                    {"f:spec": {"f:template": {"f:spec": {"f:containers": {}}}}},
                ),
                entry(
                    "kubectl-scale",
                    "2026-01-01T00:00:05Z",
                    {"f:spec": {"f:replicas": {}}},
                    subresource="scale",
                ),
            ],
        },
        "spec": {"replicas": 3, "selector": {"matchLabels": {"color": "green"}}},
    }
    assert deployment_obs(dep, "color").managers == {
        "spec.replicas": "kubectl-scale",
        "spec.template": "kubectl-set",
    }
    svc = {
        "metadata": {
            "name": "hello",
            "managedFields": [
                entry(
                    "kprism", "2026-01-01T00:00:07Z", {"f:spec": {"f:selector": {"f:color": {}}}}
                ),
                entry(
                    "kubectl-edit",
                    "2026-01-01T00:00:07Z",
                    {"f:spec": {"f:selector": {"f:app": {}}}},
                ),
            ],
        },
        "spec": {"selector": {"app": "hello"}},
    }
    assert service_obs(svc).managers == {"spec.selector": "kubectl-edit"}  # a tie: not kprism


def test_an_exact_router_canary_tracks_its_weights_and_a_hand_edit_of_them_is_drift() -> None:
    import dataclasses

    from kprism.model.actions import RemoveRoutes, SetWeights

    sim = blue_app(4)
    base = canary_release(sim, "25,50,100")
    status = base.evolve(
        spec=dataclasses.replace(base.spec, router="gateway", router_options={"httproute": "web"})
    )
    weights: dict[str, int] | None = None
    seen_drift = False
    for _ in range(200):
        obs = dataclasses.replace(sim.observe(), route_weights=weights)
        d = canary.decide(status, obs, sim.now)
        status = d.status
        if status.drift:
            seen_drift = True
            assert status.drift[0].kind == "router" and status.drift[0].got == "blue=40,green=60"
            status = canary.decide(
                status,
                obs,
                sim.now,
                Intent(action=Action.PROMOTE, release="r1", accept_drift=True),
            ).status
            continue
        for a in d.actions:
            match a:
                case SetWeights(weights=w):
                    weights = dict(w)
                case RemoveRoutes():
                    weights = None
                case _:
                    sim.apply(a)
        if d.done:
            break
        if (
            status.requested_weight == 50
            and not seen_drift
            and weights == {"blue": 50, "green": 50}
        ):
            weights = {"blue": 40, "green": 60}  # someone edited the HTTPRoute
        sim.tick(list(sim.deployments))
    assert seen_drift
    assert status.phase == Phase.SUCCEEDED, (status.step, status.message)
    # status (which does not ask the router) compares no weights
    from kprism.plan import drift as plan_drift

    mid = base.evolve(
        spec=dataclasses.replace(base.spec, router="gateway"),
        applied={plan_drift.ROUTES: "blue=75,green=25"},
    )
    assert plan_drift.check(mid, sim.observe(), routes=False) == ()
    assert plan_drift.check(mid, sim.observe())[0].got == "none"


def test_a_router_reading_back_a_zero_weight_track_differently_is_not_drift() -> None:
    """ingress-nginx reads back {green: 100} once the Service is pinned to green, where
    kprism wrote {blue: 0, green: 100}."""
    import dataclasses

    from kprism.model.actions import SetWeights
    from kprism.plan import drift as plan_drift

    sim = blue_app(2)
    base = canary_release(sim, "100")
    st = base.evolve(spec=dataclasses.replace(base.spec, router="nginx"))
    st = plan_drift.settle(
        st, sim.observe(), (SetWeights(router="nginx", weights={"blue": 0, "green": 100}),)
    )
    obs = dataclasses.replace(sim.observe(), route_weights={"green": 100})
    assert plan_drift.check(st, obs) == ()
