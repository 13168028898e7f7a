"""The engine loop on the in-memory adapter and a fake clock: conflicts re-observe,
transient errors retry within a budget, deadlines hold — no cluster, no real waiting."""

from __future__ import annotations

import pytest

from kprism import ops
from kprism.engine.loop import TRANSIENT_BUDGET, Engine
from kprism.errors import ConflictError, TimeoutError_
from kprism.kube.api import Lock
from kprism.kube.errors import TransientError
from kprism.model.release import Change, Phase, ReleaseSpec
from kprism.plan import bluegreen
from tests.unit.bgsim import blue_app
from tests.unit.fakekube import NS, SERVICE, FakeKube, fake

APP = ops.App(name=SERVICE, namespace=NS)


def started(*, auto: bool = True) -> tuple[FakeKube, Lock]:
    kube = fake(blue_app())
    spec = ReleaseSpec(
        change=Change(images={"hello": "hello:2"}), scale_down_delay=0, auto_promote=auto
    )
    _, lease = ops.start_release(kube, APP, spec)
    return kube, lease


def engine(kube: FakeKube, lease: Lock) -> Engine:
    return Engine(
        kube, namespace=NS, service=SERVICE, track_label="color", lease=lease, clock=kube.clock
    )


def test_a_conflict_on_record_re_observes_and_decides_again() -> None:
    kube, lease = started()
    seen: list[str] = []

    def conflict_once(call: str) -> None:
        seen.append(call)
        if call == "patch_service" and seen.count("patch_service") == 1:
            raise ConflictError("conflict: cannot patch Service hello")

    kube.fail = conflict_once
    final = engine(kube, lease).run(timeout=600)
    assert final.phase == Phase.SUCCEEDED
    first = seen.index("patch_service")
    # the conflicting cycle applied nothing; the next cycle observed afresh before writing
    assert seen[first + 1] == "observe"
    assert kube.fresh_observes == 1, "after a conflict the engine reads past any watch cache"
    assert kube.applied[0].describe().startswith("create Deployment hello-green")


def test_transient_errors_are_retried_with_backoff_on_the_clock() -> None:
    kube, lease = started()
    failures = iter(range(3))

    def flaky(call: str) -> None:
        if call == "observe" and next(failures, None) is not None:
            raise TransientError("cannot get Service hello: HTTP 503")

    kube.fail = flaky
    e = engine(kube, lease)
    decision, _ = e.step()
    assert decision.status.step == bluegreen.CREATE
    # 0.2 s, 0.4 s, 0.8 s (each with up to 50% jitter), slept on the fake clock
    assert 1.4 <= kube.clock.monotonic() <= 1.4 * 1.5


def test_the_transient_budget_ends_in_the_error() -> None:
    kube, lease = started()

    def down(call: str) -> None:
        if call == "observe":
            raise TransientError("cannot get Service hello: the API server is unreachable")

    kube.fail = down
    with pytest.raises(TransientError, match="unreachable"):
        engine(kube, lease).step()
    assert TRANSIENT_BUDGET < kube.clock.monotonic() < TRANSIENT_BUDGET + 10


def test_the_deadline_stops_a_release_waiting_for_promotion() -> None:
    kube, lease = started(auto=False)
    with pytest.raises(TimeoutError_, match=r"gave up waiting after 60s at step await-promotion"):
        engine(kube, lease).run(timeout=60)
    assert kube.clock.monotonic() >= 60
    # it waited on the feed, each wait bounded by MAX_WAIT and the Lease's duration
    assert kube.waits
    assert max(kube.waits) <= 15 / 3


def test_until_stops_at_a_wait_point() -> None:
    kube, lease = started(auto=False)
    st = engine(kube, lease).run(until=ops.stop_at_wait_points, timeout=600)
    assert (st.step, st.phase) == (bluegreen.AWAIT, Phase.PAUSED)
