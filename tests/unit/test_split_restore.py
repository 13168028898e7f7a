"""A split is recorded with its restore point; an abort or a failure puts it back (pure)."""

from __future__ import annotations

import pytest

from kprism.errors import UsageError
from kprism.model.actions import SetWeights
from kprism.model.operation import (
    Operation,
    OpKind,
    RestorePoint,
    operation_from_json,
    operation_history_entry,
    operation_to_json,
)
from kprism.model.release import Phase
from kprism.plan.converge import ConvergeStep
from kprism.plan.rainbow import decide_restore, decide_split, parse_weights, restore_point
from kprism.plan.start import rollback_target
from tests.unit.bgsim import Sim, SimDeployment, blue_app, template


def _with_green(blue: int = 10, green: int = 0, ready_green: int = 0) -> Sim:
    sim = blue_app(blue)
    sim.deployments["hello-green"] = SimDeployment(
        "hello-green", "green", green, template("hello:2", "green"), ready=ready_green
    )
    return sim


def _capacity(sim: Sim) -> int:
    return len(sim.selected_ready())


def _run(sim: Sim, decide: object, grow: list[str], *, ticks: int = 60) -> tuple[ConvergeStep, int]:
    """Drive a one-shot plan on the simulator; (last step, lowest serving capacity seen)."""
    lowest = _capacity(sim)
    step = ConvergeStep()
    for _ in range(ticks):
        step = decide()  # type: ignore[operator]
        if step.done:
            break
        for a in step.actions:
            sim.apply(a)
            lowest = min(lowest, _capacity(sim))
        sim.tick(grow)
        lowest = min(lowest, _capacity(sim))
    return step, lowest


def test_a_finished_split_is_restored_without_dropping_capacity() -> None:
    sim = _with_green()
    before = restore_point(sim.observe())
    assert before == RestorePoint(
        replicas={"blue": 10, "green": 0}, ready={"blue": 10, "green": 0}, selected="blue"
    )
    w = parse_weights(["blue=60", "green=40"])
    step, _ = _run(
        sim,
        lambda: decide_split(sim.observe(), w, router="replicas", total=10),
        ["hello-green"] * 2,
    )
    assert step.done and "color" not in sim.selector
    assert sim.deployments["hello-blue"].replicas < 10

    step, lowest = _run(
        sim, lambda: decide_restore(sim.observe(), before, router="replicas"), ["hello-blue"] * 2
    )
    assert step.done, step
    assert step.message == "traffic restored to blue 100%"
    assert sim.selector == {"app": "hello", "color": "blue"}
    assert {d.track: d.replicas for d in sim.deployments.values()} == {"blue": 10, "green": 0}
    assert sim.endpoints == frozenset(sim.pods("blue")) and len(sim.endpoints) == 10
    # grown back before selecting, selected before shrinking: never below what served
    assert lowest >= 6, lowest


def test_a_split_stuck_on_a_track_that_never_gets_ready_is_undone() -> None:
    """The issue's case: blue 4, red 1 never ready; the split grew blue to 6 and waits for
    red forever. Restore: blue back to 4, red and the selector as they were."""
    sim = blue_app(4)
    sim.deployments["hello-red"] = SimDeployment(
        "hello-red", "red", 1, template("hello:ab", "red"), ready=0
    )
    before = restore_point(sim.observe())
    w = parse_weights(["blue=90", "red=10"])
    step, _ = _run(
        sim,
        lambda: decide_split(sim.observe(), w, router="replicas", total=5),
        ["hello-blue"] * 3,
        ticks=10,
    )
    assert not step.done and "red 0/1" in step.waiting
    assert sim.deployments["hello-blue"].replicas == 6
    # restoring waits for no more ready pods than the track had: red had none
    step, lowest = _run(sim, lambda: decide_restore(sim.observe(), before, router="replicas"), [])
    assert step.done, step
    assert {d.track: d.replicas for d in sim.deployments.values()} == {"blue": 4, "red": 1}
    assert sim.selector["color"] == "blue"
    assert lowest >= 4


def test_restore_selects_every_track_again_when_that_is_how_it_was() -> None:
    sim = _with_green(blue=8, green=2, ready_green=2)
    sim.selector = {"app": "hello"}
    sim.endpoints = sim.selected_ready()
    before = restore_point(sim.observe())
    assert before.selected is None
    assert before.describe() == "blue 8, green 2 pods (all selected)"
    w = parse_weights(["blue=100", "green=0"])
    step, _ = _run(
        sim, lambda: decide_split(sim.observe(), w, router="replicas", total=10), ["hello-blue"] * 2
    )
    assert step.done and sim.selector["color"] == "blue"
    step, lowest = _run(
        sim, lambda: decide_restore(sim.observe(), before, router="replicas"), ["hello-green"] * 2
    )
    assert step.done and sim.selector == {"app": "hello"}
    assert {d.track: d.replicas for d in sim.deployments.values()} == {"blue": 8, "green": 2}
    assert lowest >= 10


def test_restore_with_an_exact_router_sets_the_old_weights_and_leaves_the_selector() -> None:
    sim = _with_green(blue=4, green=1, ready_green=1)
    obs = sim.observe()
    before = restore_point(obs, routes={"blue": 100, "green": 0})
    assert before.describe() == "blue 100%"
    now = obs.__class__(**{**obs.__dict__, "route_weights": {"blue": 50, "green": 50}})
    step = decide_restore(now, before, router="gateway")
    assert step.actions == (SetWeights(router="gateway", weights={"blue": 100, "green": 0}),)
    after = obs.__class__(**{**obs.__dict__, "route_weights": {"blue": 100}})
    done = decide_restore(after, before, router="gateway")
    assert done.done and not done.actions


@pytest.mark.parametrize("kind", list(OpKind))
def test_operation_round_trips_through_json(kind: OpKind) -> None:
    op = Operation(
        id=f"{kind.value}-1",
        kind=kind,
        phase=Phase.PROGRESSING,
        by="ann@laptop",
        started_at="2026-11-30T04:00:00Z",
        weights={"blue": 80, "red": 20} if kind == OpKind.SPLIT else {},
        router="gateway",
        router_options={"httproute": "web"},
        total=5,
        before=RestorePoint(replicas={"blue": 4}, ready={"blue": 4}, selected="blue", routes=None),
        abort_requested="bob@ci",
        reason="errors",
        restoring=True,
        before_text="green 3",
        after_text="green 5",
    )
    assert operation_from_json(operation_to_json(op)) == op


def test_history_entries_of_operations_say_what_changed_and_rollback_skips_them() -> None:
    split = Operation(
        id="split-1",
        kind=OpKind.SPLIT,
        phase=Phase.FAILED,
        by="ann@laptop",
        started_at="t0",
        finished_at="t1",
        message="split split-1 failed: …; traffic restored to blue 100%",
        weights={"blue": 90, "red": 10},
        before=RestorePoint(replicas={"blue": 4, "red": 1}, ready={"blue": 4}, selected="blue"),
    )
    entry = operation_history_entry(split)
    assert (entry["kind"], entry["phase"], entry["stable"], entry["candidate"], entry["by"]) == (
        "split",
        "Failed",
        "blue 100%",
        "blue 90%, red 10%",
        "ann@laptop",
    )
    clone = Operation(
        id="clone-1",
        kind=OpKind.CLONE,
        phase=Phase.SUCCEEDED,
        by="ann@laptop",
        started_at="t0",
        before_text="blue (app=hello:1)",
        after_text="green (app=hello:2, 1 replicas)",
    )
    # A clone "into" the serving track must not look like the release that made it serve.
    sim = _with_green(blue=3, green=3, ready_green=3)
    sim.selector = {"app": "hello", "color": "green"}
    history = [
        {"kind": "release", "phase": "Succeeded", "stable": "blue", "candidate": "green"},
        {**operation_history_entry(clone), "candidate": "green"},
    ]
    current, previous = rollback_target(sim.observe(), history, app="hello")
    assert (current.track, previous.track) == ("green", "blue")


def _bookinfo_reviews() -> Sim:
    """Istio Bookinfo's ``reviews`` after ``adopt --track v1``-style pinning: blue serves,
    green and red each keep one ready pod that gets no traffic."""
    sim = blue_app(2)
    for track, image in (("green", "hello:2"), ("red", "hello:3")):
        sim.deployments[f"hello-{track}"] = SimDeployment(
            f"hello-{track}", track, 1, template(image, track), ready=1
        )
    return sim


def _drive_watching(
    sim: Sim, decide: object, grow: list[str], banned: str
) -> tuple[ConvergeStep, list[str]]:
    """Like _run, but records every moment a ready pod of ``banned`` is selected (by the
    Service's selector at once, not only after the EndpointSlice lag)."""
    seen: list[str] = []
    step = ConvergeStep()
    for _ in range(60):
        step = decide()  # type: ignore[operator]
        if step.done:
            break
        for a in step.actions:
            sim.apply(a)
            seen += [p for p in sim.selected_ready() if p.startswith(f"hello-{banned}-")]
        sim.tick(grow)
        seen += [p for p in sim.selected_ready() if p.startswith(f"hello-{banned}-")]
    return step, seen


def test_a_split_never_selects_an_idle_track_it_does_not_list() -> None:
    """Bookinfo: ``split reviews v1=50 v2=50`` while v3 has an idle ready pod. Widening
    the selector before v3 was scaled to 0 sent v3 traffic the split gave it 0 % of."""
    sim = _bookinfo_reviews()
    before = restore_point(sim.observe())
    w = parse_weights(["blue=50", "green=50"])
    step, seen = _drive_watching(
        sim,
        lambda: decide_split(sim.observe(), w, router="replicas", total=2),
        ["hello-blue", "hello-green"] * 2,
        "red",
    )
    assert step.done, step
    assert "color" not in sim.selector
    assert sim.deployments["hello-red"].replicas == 0
    assert seen == [], f"red pods got traffic during the split: {sorted(set(seen))}"

    # and back: red gets its idle pod again only once the Service is pinned to blue
    step, seen = _drive_watching(
        sim,
        lambda: decide_restore(sim.observe(), before, router="replicas"),
        ["hello-blue", "hello-red"] * 2,
        "red",
    )
    assert step.done, step
    assert sim.selector == {"app": "hello", "color": "blue"}
    assert {d.track: d.replicas for d in sim.deployments.values()} == {
        "blue": 2,
        "green": 1,
        "red": 1,
    }
    assert seen == [], f"red pods got traffic during the restore: {sorted(set(seen))}"


def test_a_split_shrinks_a_listed_idle_track_before_selecting_it() -> None:
    """An idle track with more pods than the split gives it is brought down to its share
    before the Service selects it (it serves nothing yet, so no capacity is lost)."""
    sim = _with_green(blue=4, green=4, ready_green=4)
    w = parse_weights(["blue=75", "green=25"])
    shares: list[float] = []
    step = ConvergeStep()
    for _ in range(60):
        step = decide_split(sim.observe(), w, router="replicas", total=4)
        if step.done:
            break
        for a in step.actions:
            sim.apply(a)
            sel = sim.selected_ready()
            shares.append(sum(p.startswith("hello-green-") for p in sel) / max(1, len(sel)))
        sim.tick(["hello-blue"] * 2)
    assert step.done, step
    assert max(shares) <= 0.25 + 1e-9, shares


def test_split_weights_may_be_comma_separated_as_steps_are() -> None:
    """``kprism split reviews v1=50,v2=50`` was refused as one malformed weight."""
    assert parse_weights(["v1=50,v2=50"]) == {"v1": 50, "v2": 50}
    assert parse_weights(["blue=80,", "green=15", "red=5"]) == {"blue": 80, "green": 15, "red": 5}
    with pytest.raises(UsageError, match="given twice"):
        parse_weights(["v1=50,v1=50"])


def test_history_shows_no_images_for_an_operation_as_a_dash(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A scale or split changes no image: its IMAGES cell read ``<empty>``."""
    from typer.testing import CliRunner

    from kprism import ops
    from kprism.cli.main import app as cli_app
    from tests.unit.fakekube import NS, SERVICE, fake

    kube = fake(blue_app(3))
    monkeypatch.setattr(ops, "connect", lambda **_: kube)
    ops.scale(kube, ops.App(name=SERVICE, namespace=NS), track="blue", replicas=4)
    result = CliRunner().invoke(cli_app, ["history", SERVICE], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    (row,) = [line for line in result.stdout.splitlines() if line.startswith("scale-")]
    assert "<empty>" not in row
    assert row.split()[3:7] == ["blue", "3", "blue", "4"] and row.split()[7] == "-", row
