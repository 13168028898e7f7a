"""The engine loop on the in-memory adapter and a fake clock: conflicts re-observe,
transient errors retry within a budget, deadlines hold — no cluster, no real waiting."""

from __future__ import annotations

from typing import Any

import pytest

from kprism import ops
from kprism.engine import loop
from kprism.engine.loop import MESSAGE_LAG, TRANSIENT_BUDGET, Engine
from kprism.errors import ConflictError, TimeoutError_
from kprism.kube.api import Lock
from kprism.kube.errors import TransientError
from kprism.kube.state import read_release
from kprism.model.release import Change, Phase, ReleaseSpec
from kprism.plan import bluegreen
from kprism.plan.decision import Decision
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


def _waiting_with_new_messages(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The planner waits, with a new message each time it is asked (as a canary step's
    "waiting for the Deployment controller…"/"waiting for pods…" do)."""
    said: list[str] = []

    def planner(status: Any, obs: Any, now: Any, intent: Any) -> Decision:
        said.append(f"waiting ({len(said)})")
        return Decision(status=status.evolve(message=said[-1]), requeue_after=5.0)

    monkeypatch.setattr(loop, "planner_for", lambda strategy: planner)
    return said


def test_a_wait_that_changes_only_its_message_is_recorded_once_it_lasts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Issue 11: each message of a wait was a PATCH of the Service (about 20 per 5-step
    canary). With ``defer_message`` a message alone is written once the wait has lasted
    MESSAGE_LAG, then the next one after as long again; anything else at once."""
    kube, lease = started()
    e = engine(kube, lease)
    e.step()  # the release's first move: recorded
    patches = len(kube.patches)
    said = _waiting_with_new_messages(monkeypatch)
    e.step(defer_message=True)
    e.step(defer_message=True)
    assert len(kube.patches) == patches, "a message alone is not written at once"
    assert e.record_due_in() == MESSAGE_LAG
    kube.clock.advance(MESSAGE_LAG / 2)
    e.step(defer_message=True)
    assert len(kube.patches) == patches
    assert e.record_due_in() == MESSAGE_LAG / 2
    kube.clock.advance(MESSAGE_LAG / 2)
    e.step(defer_message=True)
    assert len(kube.patches) == patches + 1, "the wait lasted: its message is recorded"
    assert read_release(kube.get_service(SERVICE, NS)).message == said[-1]  # type: ignore[union-attr]
    assert e.record_due_in() is None
    e.step()  # without defer_message: every change is written, as before
    assert len(kube.patches) == patches + 2


def test_run_records_a_lasting_wait_s_message_within_the_lag(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``run`` wakes up for a message left unrecorded: a wait of 5 s is re-checked after
    MESSAGE_LAG at the latest, and its message is then on the Service."""
    kube, lease = started()
    e = engine(kube, lease)
    e.step()
    patches = len(kube.patches)
    said = _waiting_with_new_messages(monkeypatch)
    with pytest.raises(TimeoutError_):
        e.run(timeout=3 * MESSAGE_LAG)
    assert kube.waits[0] == MESSAGE_LAG
    assert len(kube.patches) > patches
    assert read_release(kube.get_service(SERVICE, NS)).message in said  # type: ignore[union-attr]


def test_a_release_records_fewer_statuses_with_deferred_messages() -> None:
    """A whole release on the fake cluster: ``run`` (deferring) writes fewer statuses
    than the same release stepped without deferring, and ends in the same state."""
    counts = []
    for defer in (False, True):
        kube, lease = started()
        e = engine(kube, lease)
        if defer:
            final = e.run(timeout=600)
        else:
            while True:
                decision, _ = e.step()
                if decision.done:
                    final = decision.status
                    break
                kube.feed(namespace=NS, service=SERVICE, app_selector={}).wait(
                    min(decision.requeue_after or 1.0, 1.0)
                )
        assert final.phase == Phase.SUCCEEDED
        counts.append(len(kube.patches))
    assert counts[1] < counts[0], counts


def test_settled_pending_entries_wait_with_the_message_but_new_ones_do_not(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """drift.settle drops the ``pending`` entries whose actions were observed: that can
    wait for the next write. A status that adds a pending entry (or changes anything
    else) is written at once."""
    kube, lease = started()
    e = engine(kube, lease)
    e.step()  # create the candidate: recorded with what it sets as pending
    recorded = read_release(kube.get_service(SERVICE, NS))
    assert recorded is not None and recorded.pending, "the first move records its pending"
    patches = len(kube.patches)
    pending: dict[str, str] = {}

    def planner(status: Any, obs: Any, now: Any, intent: Any) -> Decision:
        return Decision(status=status.evolve(message="settled", pending=pending), requeue_after=5)

    monkeypatch.setattr(loop, "planner_for", lambda strategy: planner)
    e.step(defer_message=True)
    assert len(kube.patches) == patches, "dropping observed pending entries can wait"
    pending.update({"Deployment/other/spec.replicas": "3"})
    e.step(defer_message=True)
    assert len(kube.patches) == patches + 1, "a new pending entry is written at once"
