"""A release's timeline, the audit trail built from the history, the weight plot (pure)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from kprism.errors import ReleaseFailed
from kprism.model.observed import ServiceObs
from kprism.model.release import (
    ANNOTATION_HISTORY,
    Action,
    Intent,
    Phase,
    history_entry,
    status_from_json,
    status_to_json,
)
from kprism.plan import bluegreen, timeline
from tests.unit.bgsim import Sim, blue_app, new_release
from tests.unit.test_bluegreen_plan import run

ALICE = "alice@example.com (web on box)"
BOB = "bob (cli on laptop)"


def to_await(sim: Sim):  # type: ignore[no-untyped-def]
    status = new_release(sim, auto=False)
    for _ in range(20):
        d = bluegreen.decide(status, sim.observe(), sim.now)
        status = d.status
        for a in d.actions:
            sim.apply(a)
        sim.tick(list(sim.deployments))
    assert status.step == bluegreen.AWAIT
    return status


def test_steps_events_and_intents_are_on_the_timeline_with_who_and_outcome() -> None:
    sim = blue_app()
    status = to_await(sim)
    steps = [m.what for m in status.timeline if m.kind == "step"]
    assert steps[:2] == [bluegreen.CREATE, bluegreen.WAIT_READY] and steps[-1] == bluegreen.AWAIT
    assert "CandidateReady" in [m.what for m in status.timeline if m.kind == "event"]
    (wait,) = [m for m in status.timeline if m.kind == "wait"]  # the promotion gate
    assert wait.what == "paused" and "promot" in wait.text
    final = run(
        sim,
        status,
        intents={0: Intent(action=Action.PROMOTE, release="r1", by=ALICE, reason="looks good")},
    )
    assert final.phase == Phase.SUCCEEDED
    (promote,) = [m for m in final.timeline if m.kind == "intent"]
    assert (promote.what, promote.by, promote.reason, promote.outcome) == (
        "promote",
        ALICE,
        "looks good",
        "applied",
    )
    events = [m.what for m in final.timeline if m.kind == "event"]
    assert (
        events.index("Promoted")
        < events.index("TrafficSwitched")
        < events.index("ReleaseSucceeded")
    )
    # it survives the JSON round trip of the status annotation
    assert (
        status_from_json(json.loads(json.dumps(status_to_json(final)))).timeline == final.timeline
    )


def test_a_release_that_waits_writes_nothing_new() -> None:
    sim = blue_app()
    status = to_await(sim)
    for _ in range(5):
        sim.tick(list(sim.deployments))
        d = bluegreen.decide(status, sim.observe(), sim.now)
        assert d.status == status and not d.actions  # no write while nothing happens


def test_an_intent_with_nothing_to_do_is_recorded_as_ignored_with_why() -> None:
    sim = blue_app()
    status = to_await(sim)
    d = bluegreen.decide(
        status,
        sim.observe(),
        sim.now,
        Intent(action=Action.ABORT, release="r1", by=BOB, reason="bad"),
    )
    again = bluegreen.decide(
        d.status, sim.observe(), sim.now, Intent(action=Action.ABORT, release="r1", by=ALICE)
    )
    marks = [m for m in again.status.timeline if m.kind == "intent"]
    assert [(m.by, m.outcome) for m in marks] == [(BOB, "applied"), (ALICE, "ignored")]
    assert marks[0].reason == "bad"
    assert "already being aborted" in marks[1].text
    other = bluegreen.decide(
        status, sim.observe(), sim.now, Intent(action=Action.PAUSE, release="old", by=BOB)
    )
    (mark,) = [m for m in other.status.timeline if m.kind == "intent"][-1:]
    assert mark.outcome == "ignored" and "release old" in mark.text


def _history(sim: Sim):  # type: ignore[no-untyped-def]
    status = to_await(sim)
    status = bluegreen.decide(
        status,
        sim.observe(),
        sim.now,
        Intent(action=Action.ABORT, release="r1", by=ALICE, reason="error rate"),
    ).status
    final = run(sim, status)
    assert final.phase == Phase.ABORTED
    scale = {
        "id": "op-1",
        "kind": "scale",
        "phase": "Succeeded",
        "stable": "green 0",
        "candidate": "green 2",
        "started_at": "2099-01-01T00:00:00Z",
        "by": BOB,
    }
    return [history_entry(final), scale]


def test_audit_rows_name_actor_source_reason_and_outcome() -> None:
    rows = timeline.audit(_history(blue_app()))
    assert rows[0].kind == "scale" and rows[0].source == "cli"  # newest first
    kinds = [r.kind for r in rows]
    assert "release" in kinds and "abort" in kinds
    (abort,) = [r for r in rows if r.kind == "abort"]
    assert (abort.by, abort.source, abort.reason, abort.outcome) == (
        ALICE,
        "web",
        "error rate",
        "applied",
    )
    (release,) = [r for r in rows if r.kind == "release"]
    assert release.outcome == "Aborted" and release.release == "r1"


def test_audit_filters_by_actor_kind_and_outcome() -> None:
    rows = timeline.audit(_history(blue_app()))
    assert {r.kind for r in timeline.select(rows, actor="ALICE")} == {"abort"}
    assert {r.kind for r in timeline.select(rows, kind="scale, abort")} == {"scale", "abort"}
    assert {r.kind for r in timeline.select(rows, outcome="abort")} == {"release"}
    assert timeline.select(rows, actor="bob", kind="abort") == []
    assert len(timeline.select(rows)) == len(rows)


def test_source_of_an_actor() -> None:
    assert (
        timeline.source_of("system:serviceaccount:kprism:ctl (controller on pod-1)") == "controller"
    )
    assert timeline.source_of("alice") == ""


def test_history_keeps_timelines_within_the_annotation_budget() -> None:
    from kprism.kube import state

    sim = blue_app()
    final = run(sim, new_release(sim))
    big = {
        **history_entry(final),
        "timeline": [{"at": "t", "kind": "event", "what": "x" * 5000}] * 30,
    }
    entries = [dict(big, id=f"r{i}") for i in range(20)]
    svc = ServiceObs(
        name="hello",
        namespace="default",
        selector={},
        annotations={ANNOTATION_HISTORY: json.dumps(entries)},
        resource_version="1",
    )
    patch = state.status_patch(svc, final.evolve(id="new"))
    text = patch["metadata"]["annotations"][ANNOTATION_HISTORY]
    kept = json.loads(text)
    assert len(text) <= state.HISTORY_BYTES
    assert len(kept) == 20 and kept[-1]["id"] == "new" and "timeline" in kept[-1]
    assert "timeline" not in kept[0]  # the oldest lose theirs first


def test_weight_plot_blue_green_switch_and_canary_marks() -> None:
    sim = blue_app()
    final = run(sim, new_release(sim))
    entry = history_entry(final)
    points = timeline.weights(
        "bluegreen",
        entry["timeline"],
        started_at=final.started_at,
        finished_at=final.finished_at,
        phase="Succeeded",
    )
    assert [p.weight for p in points] == [0.0, 100.0, 100.0]
    canary = [
        {"at": "t1", "kind": "weight", "what": "weight", "weight": 25.0, "requested": 25.0},
        {"at": "t2", "kind": "weight", "what": "weight", "weight": 50.0, "requested": 50.0},
    ]
    points = timeline.weights("canary", canary, started_at="t0", finished_at="t3", phase="Aborted")
    assert [(p.at, p.weight) for p in points] == [
        ("t0", 0.0),
        ("t1", 25.0),
        ("t2", 50.0),
        ("t3", 0.0),
    ]


def test_kprism_history_lists_the_audit_trail_filtered(monkeypatch: pytest.MonkeyPatch) -> None:
    from kprism import ops
    from kprism.cli.main import app as cli_app
    from tests.unit.fakekube import NS, SERVICE, fake

    kube = fake(blue_app())
    monkeypatch.setattr(ops, "connect", lambda **_: kube)
    ref = ops.App(name=SERVICE, namespace=NS)
    kube.user = "alice"
    _, lease = ops.start_release(kube, ref, new_release(blue_app(), auto=False).spec)
    ops.drive(kube, ref, lease=lease, until=ops.stop_at_wait_points, timeout=10)
    kube.user = "bob"
    with pytest.raises(ReleaseFailed):
        ops.check_outcome(ops.send_intent(kube, ref, Action.ABORT, reason="too slow", timeout=10))
    result = CliRunner().invoke(cli_app, ["-o", "json", "history", SERVICE, "--actor", "bob"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [(r["kind"], r["reason"], r["outcome"]) for r in rows] == [
        ("abort", "too slow", "applied")
    ]
    assert rows[0]["by"].startswith("bob (")
    result = CliRunner().invoke(cli_app, ["history", SERVICE, "--kind", "release"])
    assert "Aborted" in result.stdout and "alice" in result.stdout
