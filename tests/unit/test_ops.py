"""kprism.ops against the in-memory adapter (tests/unit/fakekube.py): the Lease →
record → Event sequence, intents, rollback and refusals, without a cluster."""

from __future__ import annotations

import pytest

from kprism import ops
from kprism.errors import ConflictError, LockedError, NotFoundError, UsageError
from kprism.kube.state import read_history, read_intent, read_release
from kprism.model.actions import ScaleDeployment
from kprism.model.release import Action, Change, Kind, Phase, ReleaseSpec
from kprism.plan import bluegreen
from tests.unit.bgsim import SimDeployment, blue_app, template
from tests.unit.fakekube import NS, SERVICE, FakeClock, FakeKube, FakeLock, fake

APP = ops.App(name=SERVICE, namespace=NS)
V2 = ReleaseSpec(change=Change(images={"hello": "hello:2"}), scale_down_delay=0)
AUTO = ReleaseSpec(
    change=Change(images={"hello": "hello:2"}), scale_down_delay=0, auto_promote=True
)


def test_a_missing_app_or_namespace_is_named() -> None:
    kube = fake(blue_app())
    with pytest.raises(NotFoundError, match="app 'web' not found: there is no Service web"):
        ops.observe(kube, ops.App(name="web", namespace=NS))
    with pytest.raises(NotFoundError, match="namespace 'gone' does not exist") as err:
        ops.observe(kube, ops.App(name="web", namespace="gone"))
    assert (err.value.kind, err.value.name) == ("Namespace", "gone")


def test_start_release_records_the_status_and_an_event_under_the_lease() -> None:
    kube = fake(blue_app())
    warnings: list[str] = []
    st, lease = ops.start_release(kube, APP, V2, on_warning=warnings.append)
    assert lease.identity in kube.holders.values()
    assert (st.kind, st.step, st.stable, st.candidate) == (
        Kind.RELEASE,
        bluegreen.PIN,
        "blue",
        "green",
    )
    assert read_release(kube.get_service(SERVICE, NS)) == st
    assert kube.events == [
        ("ReleaseStarted", f"release {st.id}: blue → green (hello=hello:2) by {lease.identity}")
    ]
    with pytest.raises(UsageError, match=f"release {st.id} of hello is in progress"):
        ops.start_release(kube, APP, V2)
    lease.release()


def test_a_failed_record_gives_the_lease_back() -> None:
    kube = fake(blue_app())

    def conflict(call: str) -> None:
        if call == "patch_service":
            raise ConflictError("conflict: cannot patch Service hello")

    kube.fail = conflict
    with pytest.raises(ConflictError):
        ops.start_release(kube, APP, V2)
    assert kube.holders == {}
    assert kube.events == []


def test_release_runs_to_the_end_on_the_fake_cluster() -> None:
    kube = fake(blue_app())
    final = ops.release(kube, APP, AUTO, timeout=10)
    assert final.phase == Phase.SUCCEEDED
    assert kube.sim.selector == {"app": "hello", "color": "green"}
    assert kube.sim.deployments["hello-blue"].replicas == 0
    assert kube.holders == {}  # the Lease was given back
    assert kube.sim.events[-1] == "ReleaseSucceeded"  # EmitEvent actions
    assert read_history(kube.get_service(SERVICE, NS))[-1]["phase"] == "Succeeded"


def test_the_audit_trail_names_the_api_servers_user_and_the_shell_not_the_os_user(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import os

    monkeypatch.setattr("kprism.ops.running._source", ["web"])
    kube = fake(blue_app())
    kube.user = "system:serviceaccount:ci:deployer"
    final = ops.release(kube, APP, AUTO, timeout=10)
    who = f"system:serviceaccount:ci:deployer (web on {os.uname().nodename})"
    assert final.started_by == who
    assert read_history(kube.get_service(SERVICE, NS))[-1]["by"] == who
    kube.user = "bob@example.com"
    rolled = ops.rollback(kube, APP, scale_down_delay=0, timeout=10)
    assert rolled.started_by.startswith("bob@example.com (web on ")
    assert ops.history(kube, APP)[0]["by"] == rolled.started_by


def test_promote_while_an_engine_holds_the_lease_only_writes_the_intent() -> None:
    kube = fake(blue_app())
    st, lease = ops.start_release(kube, APP, V2)
    out = ops.send_intent(kube, APP, Action.PROMOTE)
    assert out.id == st.id
    intent = read_intent(kube.get_service(SERVICE, NS))
    assert intent is not None
    assert (intent.action, intent.release) == (Action.PROMOTE, st.id)
    assert kube.applied == []  # nothing driven: the holder acts
    lease.release()


def test_an_intent_to_a_controller_holding_the_app_is_followed_to_its_end(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The dashboard's hand-over of an intent: a controller holds the Lease, so the
    caller drives nothing; it follows what the controller records until it is over."""
    from kprism.engine.loop import Engine
    from tests.unit.fakekube import FakeFeed

    kube = fake(blue_app())
    _, lease = ops.start_release(kube, APP, V2)
    controller = "kprism-controller@host:1:ab12"
    kube.holders[SERVICE] = controller  # the controller's engine holds the app
    engine = Engine(kube, namespace=NS, service=SERVICE, track_label="color", lease=lease)
    engine.run(until=lambda st: st.phase == Phase.PAUSED, timeout=30)  # at the promotion gate
    wait = FakeFeed.wait

    def controller_steps(feed: FakeFeed, timeout: float) -> bool:  # a tick, then its step
        woke = wait(feed, timeout)
        engine.step()
        return woke

    monkeypatch.setattr(FakeFeed, "wait", controller_steps)
    handed: list[ops.HandedOver] = []
    seen: list[str] = []
    final = ops.send_intent(
        kube,
        APP,
        Action.PROMOTE,
        on_handover=handed.append,
        on_tick=lambda t: seen.append(t.status.step),
        timeout=30,
    )
    assert [h.controller for h in handed] == [controller]
    assert final.phase == Phase.SUCCEEDED  # followed past the promotion, to the end
    assert seen[0] == "await-promotion" and len(set(seen)) > 2, seen
    assert kube.holders[SERVICE] == controller  # the caller never took the Lease
    # without on_handover (the CLI) it only writes the intent, as before
    kube2 = fake(blue_app())
    st, _ = ops.start_release(kube2, APP, V2)
    kube2.holders[SERVICE] = controller
    assert ops.send_intent(kube2, APP, Action.PROMOTE).id == st.id
    assert kube2.applied == []


def test_an_unattended_promote_drives_the_release() -> None:
    kube = fake(blue_app())
    _, lease = ops.start_release(kube, APP, V2)
    lease.release()  # the starter went away before promotion
    final = ops.send_intent(kube, APP, Action.PROMOTE, timeout=10)
    assert final.phase == Phase.SUCCEEDED
    assert read_intent(kube.get_service(SERVICE, NS)) is None  # consumed


def test_intents_without_a_release_are_refused() -> None:
    kube = fake(blue_app())
    with pytest.raises(UsageError, match="nothing to abort: app hello has no release"):
        ops.send_intent(kube, APP, Action.ABORT)
    with pytest.raises(UsageError, match="nothing to resume"):
        ops.resume(kube, APP)


def test_write_intent_retries_a_conflict_on_a_fresh_read() -> None:
    kube = fake(blue_app())
    _, lease = ops.start_release(kube, APP, V2)
    calls: list[str] = []

    def once(call: str) -> None:
        calls.append(call)
        if call == "patch_service" and calls.count("patch_service") == 1:
            kube.rv += 1  # someone wrote meanwhile
            raise ConflictError("conflict")

    kube.fail = once
    ops.send_intent(kube, APP, Action.PAUSE)
    assert read_intent(kube.get_service(SERVICE, NS)) is not None
    assert calls.count("patch_service") == 2
    lease.release()


def test_resume_waits_for_the_lease_on_the_clock_then_names_the_holder() -> None:
    kube = fake(blue_app())
    _, lease = ops.start_release(kube, APP, V2)
    clock = FakeClock()
    with pytest.raises(LockedError, match="is being driven by test:1") as err:
        ops.resume(kube, APP, wait_for_lease=2.0, clock=clock)
    assert err.value.holder == lease.identity
    assert clock.monotonic() == 2.0  # four polls of 0.5 s, no real sleeping
    lease.release()


def two_tracks() -> FakeKube:
    sim = blue_app(3)
    sim.deployments["hello-green"] = SimDeployment(
        "hello-green", "green", 0, template("hello:0", "green")
    )
    return fake(sim)


def test_rollback_records_a_rollback_and_reverse_flips() -> None:
    kube = two_tracks()
    final = ops.rollback(kube, APP, scale_down_delay=0, timeout=10)
    assert (final.kind, final.phase) == (Kind.ROLLBACK, Phase.SUCCEEDED)
    assert kube.sim.selector["color"] == "green"
    reasons = [e for e, _ in kube.events]
    assert reasons[0] == "RollbackStarted"
    assert kube.holders == {}


def test_scale_refuses_to_empty_the_serving_track() -> None:
    kube = two_tracks()
    with pytest.raises(UsageError, match="serves all traffic"):
        ops.scale(kube, APP, track="blue", replicas=0)
    with pytest.raises(UsageError, match="has no track color=red"):
        ops.scale(kube, APP, track="red", replicas=1)
    ops.scale(kube, APP, track="green", replicas=2)
    assert kube.applied == [ScaleDeployment(name="hello-green", replicas=2)]
    assert kube.events == [("Scaled", "hello-green scaled from 0 to 2")]
    assert kube.holders == {}
    entry = ops.history(kube, APP)[0]  # recorded: who scaled what from what to what
    assert (entry["kind"], entry["stable"], entry["candidate"]) == ("scale", "green 0", "green 2")


class _RaceLock(FakeLock):
    """B's Lease: while B waits for it, engine A runs a whole release to its end."""

    def __init__(self, kube: FakeKube, race: object) -> None:
        super().__init__(kube.holders, SERVICE, "engine-b")
        self.race = race

    def acquire(self, now: object = None) -> None:
        if callable(self.race):
            race, self.race = self.race, None
            race()
        super().acquire()


def test_a_plan_made_before_another_release_finished_is_not_recorded() -> None:
    kube = fake(blue_app())
    lock_b = _RaceLock(kube, lambda: ops.release(kube, APP, AUTO, timeout=10))
    with pytest.raises(LockedError, match="changed while this release was being planned"):
        ops.start_release(kube, APP, V2, lease=lock_b)
    # A's release stands: green serves at full size, nothing of B's plan was recorded
    assert kube.sim.selector == {"app": "hello", "color": "green"}
    assert kube.sim.deployments["hello-green"].replicas == 3
    assert read_release(kube.get_service(SERVICE, NS)).phase == Phase.SUCCEEDED  # type: ignore[union-attr]
    assert kube.holders == {}


def test_a_rollback_planned_before_another_release_finished_is_not_recorded() -> None:
    kube = fake(blue_app())
    ops.release(kube, APP, AUTO, timeout=10)  # blue → green
    real = kube.lease

    def lease_with_race(*, namespace: str, app: str) -> FakeLock:
        # while the rollback waits for the Lease, someone releases v3: green → blue
        kube.lease = real  # type: ignore[method-assign]
        v3 = ReleaseSpec(
            change=Change(images={"hello": "hello:3"}), scale_down_delay=0, auto_promote=True
        )
        return _RaceLock(kube, lambda: ops.release(kube, APP, v3, timeout=10))

    kube.lease = lease_with_race  # type: ignore[method-assign]
    with pytest.raises(LockedError, match="changed while this rollback was being planned"):
        ops.rollback(kube, APP, scale_down_delay=0, timeout=10)
    kube.lease = real  # type: ignore[method-assign]
    assert kube.sim.selector == {"app": "hello", "color": "blue"}
