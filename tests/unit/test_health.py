"""Why pods are not ready (kprism.plan.health), and failing a release early on a stuck pod."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from kprism.errors import InvalidSpecError
from kprism.model.actions import SetSelector
from kprism.model.observed import AppObs, ContainerObs, PodObs
from kprism.model.release import Phase, ReleaseStatus, fail_fast_seconds, spec_from_json
from kprism.plan import bluegreen, health
from kprism.plan.machine import iso, parse_iso
from tests.unit.bgsim import Sim, blue_app, new_release


def pod(name: str = "hello-green-abc", track: str = "green", **kw: object) -> PodObs:
    return PodObs(name=name, track=track, ready=False, terminating=False, **kw)  # type: ignore[arg-type]


PULL = ContainerObs(
    name="hello",
    state="waiting",
    reason="ImagePullBackOff",
    message='Back-off pulling image "hello:does-not-exist"',
)
CRASH = ContainerObs(
    name="hello",
    state="waiting",
    reason="CrashLoopBackOff",
    message="back-off 20s restarting failed container",
    restarts=3,
    last_reason="Error",
    last_exit_code=1,
)


def test_explain_names_waiting_reasons_exit_codes_and_restarts() -> None:
    (issue,) = health.explain(pod(containers=(CRASH,)))
    assert (issue.reason, issue.exit_code, issue.restarts, issue.stuck) == (
        "CrashLoopBackOff",
        1,
        3,
        True,
    )
    assert issue.describe() == (
        "pod hello-green-abc container hello: CrashLoopBackOff (exit code 1, 3 restarts)"
        " — back-off 20s restarting failed container"
    )
    (pull,) = health.explain(pod(containers=(PULL,)))
    assert pull.stuck and "hello:does-not-exist" in pull.describe()


def test_explain_running_after_a_crash_is_stuck_a_probe_is_not() -> None:
    again = ContainerObs(
        name="hello", state="running", restarts=2, last_reason="Error", last_exit_code=137
    )
    (issue,) = health.explain(pod(containers=(again,)))
    assert (issue.reason, issue.exit_code, issue.stuck) == ("Error", 137, True)
    probe = ContainerObs(name="hello", state="running")
    (issue,) = health.explain(
        pod(
            containers=(probe,),
            not_ready="ContainersNotReady: containers with unready status: [hello]",
        )
    )
    assert (issue.reason, issue.stuck) == ("NotReady", False)
    assert issue.message == "containers with unready status: [hello]"


def test_explain_unschedulable_and_ready_pods() -> None:
    (issue,) = health.explain(
        pod(
            phase="Pending",
            unschedulable="Unschedulable: 0/1 nodes are available: 1 node(s) didn't match "
            "Pod's node affinity/selector.",
        )
    )
    assert issue.reason == "Unschedulable" and "0/1 nodes are available" in issue.message
    assert not issue.stuck
    assert health.explain(dataclasses.replace(pod(containers=(PULL,)), ready=True)) == ()
    done_init = ContainerObs(name="init", init=True, state="terminated", exit_code=0)
    issues = health.explain(pod(containers=(done_init, PULL)))
    assert [i.container for i in issues] == ["hello"]


def test_pod_events_newest_warnings_of_the_pods_asked_for() -> None:
    def ev(name: str, reason: str, at: str, kind: str = "Pod", type_: str = "Warning") -> dict:
        return {
            "involvedObject": {"kind": kind, "name": name},
            "reason": reason,
            "message": f"{reason} of {name}",
            "type": type_,
            "lastTimestamp": at,
            "count": 2,
        }

    events = [
        ev("a", "Unhealthy", "2026-01-01T00:00:01Z"),
        ev("a", "FailedScheduling", "2026-01-01T00:00:03Z"),
        ev("a", "Started", "2026-01-01T00:00:04Z", type_="Normal"),
        ev("b", "Unhealthy", "2026-01-01T00:00:05Z"),
        ev("a", "Unhealthy", "2026-01-01T00:00:09Z", kind="Service"),
    ]
    found = health.pod_events(events, {"a"}, per_pod=1)
    assert [(e.pod, e.reason, e.count) for e in found] == [("a", "FailedScheduling", 2)]
    assert len(health.pod_events(events, {"a"})) == 2


def test_fail_fast_seconds() -> None:
    assert fail_fast_seconds("30s") == 30
    assert fail_fast_seconds("2m") == 120
    assert fail_fast_seconds("never") == 0
    assert fail_fast_seconds("0") == 0
    assert fail_fast_seconds(45) == 45
    with pytest.raises(InvalidSpecError, match="fail-fast-after 'soon'"):
        fail_fast_seconds("soon")
    assert spec_from_json({}).fail_fast_after == health_default()


def health_default() -> float:
    from kprism.model.release import DEFAULT_FAIL_FAST_AFTER

    return DEFAULT_FAIL_FAST_AFTER


# -- the blue-green planner fails fast ----------------------------------------------------


def _stuck(obs: AppObs, status: ReleaseStatus, container: ContainerObs | None) -> AppObs:
    """The candidate's pods as created but stuck (none ready)."""
    if container is None or status.candidate_deployment not in {d.name for d in obs.deployments}:
        return obs
    return dataclasses.replace(
        obs,
        pods=obs.pods
        + tuple(pod(f"hello-green-{i}", containers=(container,)) for i in range(status.replicas)),
    )


def drive_stuck(
    sim: Sim, status: ReleaseStatus, stuck_at: set[int] | None = None, ticks: int = 80
) -> tuple[ReleaseStatus, int]:
    """Run the planner with the candidate never getting ready; its pods show ImagePullBackOff
    on the ticks in ``stuck_at`` (all when None). Returns the last status and the tick
    the release left the forward path."""
    for tick in range(ticks):
        bad = PULL if stuck_at is None or tick in stuck_at else None
        decision = bluegreen.decide(status, _stuck(sim.observe(), status, bad), sim.now)
        status = decision.status
        for action in decision.actions:
            assert not (
                isinstance(action, SetSelector) and action.selector.get("color") == "green"
            ), "traffic flipped onto a stuck candidate"
            sim.apply(action)
        if status.aborting or status.phase.terminal:
            return status, tick
        sim.tick([])
    return status, ticks


def test_bluegreen_fails_within_the_grace_period_not_the_ready_timeout() -> None:
    sim = blue_app()
    start = dataclasses.replace(
        new_release(sim), spec=dataclasses.replace(new_release(sim).spec, fail_fast_after=10)
    )
    status, tick = drive_stuck(sim, start)
    assert status.aborting, status.message
    assert 10 <= tick <= 13, tick  # the ready timeout is 60 s
    assert "ImagePullBackOff" in status.last_error
    assert "hello:does-not-exist" in status.last_error
    assert "fail-fast after 10s" in status.last_error
    assert "2 more pods stuck" in status.last_error
    while not status.phase.terminal:
        decision = bluegreen.decide(status, sim.observe(), sim.now)
        status = decision.status
        for action in decision.actions:
            sim.apply(action)
        sim.tick(list(sim.deployments))
    assert status.phase == Phase.FAILED
    assert "ImagePullBackOff" in status.message
    assert sim.selector["color"] == "blue"
    assert "ReleaseFailed" in sim.events


def test_bluegreen_wait_names_the_stuck_pod_and_the_time_left() -> None:
    sim = blue_app()
    start = dataclasses.replace(
        new_release(sim), spec=dataclasses.replace(new_release(sim).spec, fail_fast_after=30)
    )
    status, _ = drive_stuck(sim, start, ticks=6)
    assert not status.aborting
    assert status.failing_since
    since = parse_iso(status.failing_since)
    assert since is not None
    deadline = iso((since + timedelta(seconds=30)).replace(microsecond=0))
    assert "ImagePullBackOff" in status.message
    assert f"the release fails at {deadline} if it stays so" in status.message
    # a deadline, not a countdown: the status does not change while nothing does
    later, _ = drive_stuck(sim, status, ticks=3)
    assert later.message == status.message and later.failing_since == status.failing_since


def test_a_pod_that_gets_over_it_resets_the_clock() -> None:
    sim = blue_app()
    start = dataclasses.replace(
        new_release(sim), spec=dataclasses.replace(new_release(sim).spec, fail_fast_after=10)
    )
    stuck_at = set(range(0, 9)) | set(range(10, 19)) | set(range(20, 29))
    status, tick = drive_stuck(sim, start, stuck_at, ticks=30)
    assert not status.aborting, status.last_error
    assert tick == 30


def test_fail_fast_off_waits_for_the_ready_timeout() -> None:
    sim = blue_app()
    start = dataclasses.replace(
        new_release(sim), spec=dataclasses.replace(new_release(sim).spec, fail_fast_after=0)
    )
    status, tick = drive_stuck(sim, start)
    assert status.aborting
    assert tick >= 60
    assert "not ready after 60s" in status.last_error


def test_canary_aborts_on_a_stuck_candidate_and_restores_stable() -> None:
    from kprism.model.release import Strategy
    from kprism.model.steps import CanarySpec
    from kprism.plan import canary

    sim = blue_app()
    base = new_release(sim)
    status = base.evolve(
        spec=dataclasses.replace(
            base.spec,
            strategy=Strategy.CANARY,
            canary=CanarySpec.from_shorthand(steps="50,100").model_dump(mode="json", by_alias=True),
            ready_timeout=600,
            fail_fast_after=5,
        )
    )
    failed_at = None
    for tick in range(200):
        obs = sim.observe()
        cand = sim.deployments.get("hello-green")
        if cand is not None and cand.replicas:
            obs = dataclasses.replace(
                obs,
                pods=obs.pods
                + tuple(pod(f"hello-green-{i}", containers=(CRASH,)) for i in range(cand.replicas)),
            )
        decision = canary.decide(status, obs, sim.now)
        status = decision.status
        for action in decision.actions:
            sim.apply(action)
        if status.aborting and failed_at is None:
            failed_at = tick
        if decision.done:
            break
        sim.tick(["hello-blue"])  # the candidate never gets a ready pod
    assert failed_at is not None and failed_at < 20, failed_at
    assert status.phase == Phase.FAILED
    assert "CrashLoopBackOff (exit code 1, 3 restarts)" in status.last_error
    assert sim.deployments["hello-green"].replicas == 0
    assert sim.deployments["hello-blue"].replicas == 3
    assert sim.selector.get("color") == "blue"


# -- status and the CLI --------------------------------------------------------------------


def test_status_explains_each_tracks_not_ready_pods_text_and_json() -> None:
    import json

    from kprism import ops
    from kprism.cli.inspect import not_ready_lines
    from kprism.model.observed import DeploymentObs, ServiceObs
    from kprism.ops.apps import track_views

    obs = AppObs(
        namespace="ns",
        service=ServiceObs(name="hello", selector={"app": "hello", "color": "blue"}),
        track_label="color",
        deployments=(
            DeploymentObs(name="hello-blue", track="blue", replicas=1, ready=1),
            DeploymentObs(name="hello-green", track="green", replicas=2),
        ),
        pods=(
            PodObs(name="hello-blue-1-a", track="blue", ready=True, terminating=False),
            pod("hello-green-1-a", owner="hello-green-1", containers=(PULL,)),
            pod("hello-green-1-b", owner="hello-green-1", containers=(CRASH,)),
        ),
    )
    tracks = track_views(obs)
    blue, green = tracks
    assert blue.not_ready == ()
    assert [(i.pod, i.reason) for i in green.not_ready] == [
        ("hello-green-1-a", "ImagePullBackOff"),
        ("hello-green-1-b", "CrashLoopBackOff"),
    ]
    view = ops.AppStatus(
        app=ops.App(name="hello", namespace="ns"),
        selector={"app": "hello", "color": "blue"},
        tracks=tracks,
        release=None,
        intent=None,
        lease=None,
        endpoints=1,
        pod_events=(
            health.PodEvent(pod="hello-green-1-a", reason="Failed", message="manifest unknown"),
        ),
    )
    data = json.loads(json.dumps(view.to_dict()))
    assert data["tracks"][1]["not_ready"][1] == {
        "pod": "hello-green-1-b",
        "container": "hello",
        "reason": "CrashLoopBackOff",
        "message": "back-off 20s restarting failed container",
        "restarts": 3,
        "exitCode": 1,
        "stuck": True,
    }
    assert data["podEvents"][0]["reason"] == "Failed"
    assert not_ready_lines(view) == [
        "green: 2 pods not ready",
        '  pod hello-green-1-a container hello: ImagePullBackOff — Back-off pulling image "hello:does-not-exist"',
        "  pod hello-green-1-b container hello: CrashLoopBackOff (exit code 1, 3 restarts) — back-off 20s restarting failed container",
        "  event pod hello-green-1-a: Failed — manifest unknown",
    ]


def test_fail_fast_after_is_checked_before_connecting() -> None:
    from tests.unit.test_cli import one_line_error, run

    code, out, err = run("release", "hello", "-i", "a:2", "--fail-fast-after", "soon")
    one_line_error(code, err, 2, "--fail-fast-after", "'soon'", "0/never")
    assert out == ""


def test_the_plan_says_when_a_stuck_pod_fails_the_release() -> None:
    from kprism.plan.preflight import describe_steps

    sim = blue_app()
    st = new_release(sim)
    wait = next(line for line in describe_steps(st, sim.observe()) if line.startswith("wait until"))
    assert wait.endswith(
        "(timeout 60s; fail if a pod is stuck (ImagePullBackOff, CrashLoopBackOff, ...) for 30s)"
    )
    off = st.evolve(spec=dataclasses.replace(st.spec, fail_fast_after=0))
    wait = next(
        line for line in describe_steps(off, sim.observe()) if line.startswith("wait until")
    )
    assert wait.endswith("(timeout 60s)")


def test_a_gitops_release_spec_takes_fail_fast_after() -> None:
    from kprism.errors import UsageError
    from kprism.ops.sources import release_spec_from_text

    assert release_spec_from_text("failFastAfter: 2m", source="here").fail_fast_after == 120
    assert release_spec_from_text("failFastAfter: never", source="here").fail_fast_after == 0
    assert release_spec_from_text("", source="here").fail_fast_after == health_default()
    with pytest.raises(UsageError, match="here: failFastAfter 'soon': use a duration"):
        release_spec_from_text("failFastAfter: soon", source="here")


def test_the_dashboards_release_form_takes_fail_fast_after() -> None:
    from kprism.errors import UsageError
    from kprism.web.forms import ReleaseForm, release_args

    def spec(text: str) -> float:
        form = ReleaseForm.model_validate({"image": "hello:2", "failFastAfter": text})
        return release_args(form).to_spec().fail_fast_after

    assert spec("") == health_default()
    assert spec("2m") == 120
    assert spec("never") == 0
    with pytest.raises(UsageError, match="failFastAfter 'soon'"):
        spec("soon")
