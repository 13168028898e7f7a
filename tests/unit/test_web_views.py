"""What the dashboard shows for a release, derived from the status JSON (pure)."""

from __future__ import annotations

from typing import Any

from kprism.model.steps import STEP_KINDS
from kprism.web.views import canary_rows, detail, in_flight, weights

STEPS = [{"setWeight": 25}, {"pause": {}}, {"setWeight": 50}, {"pause": {"duration": 30}}]
STEPS += [{"setWeight": 100}]


def canary(**status: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": "r1",
        "phase": "Progressing",
        "step": "canary-step",
        "stable": "blue",
        "candidate": "green",
        "step_index": 0,
        "requested_weight": 0.0,
        "achieved_weight": 0.0,
        "aborting": False,
        "spec": {"strategy": "canary", "router": "replicas", "canary": {"steps": STEPS}},
    }
    return {**base, **status}


def column(rows: list[dict[str, Any]] | None, key: str) -> list[Any]:
    assert rows is not None
    return [r[key] for r in rows]


def test_bluegreen_has_no_step_list() -> None:
    bg = {"phase": "Paused", "spec": {"strategy": "bluegreen", "canary": None}}
    assert canary_rows(bg) is None
    assert weights(bg) is None
    assert canary_rows(None) is None


def test_step_texts() -> None:
    rows = canary_rows(canary())
    assert column(rows, "what") == [
        "setWeight 25%",
        "pause until promote",
        "setWeight 50%",
        "pause 30s",
        "setWeight 100%",
    ]
    assert column(rows, "number") == [1, 2, 3, 4, 5]
    assert column(rows, "requested") == [25, None, 50, None, 100]
    steps = [{"setWeight": 100}, {"pause": {"duration": "2m"}}, {"pause": {"duration": 90}}]
    rows = canary_rows(canary(spec={"strategy": "canary", "canary": {"steps": steps}}))
    assert column(rows, "what") == ["setWeight 100%", "pause 2m", "pause 1m30s"]


def test_every_step_kind_is_shown_by_its_type() -> None:
    """The rows come from the model's step types: the kinds the planner knows, no others."""
    steps = [
        {"setCandidateScale": {"replicas": "20%"}},
        {"analysis": {"templates": [{"templateName": "error-rate"}]}},
        {"setWeight": 100},
    ]
    rows = canary_rows(
        canary(step_index=1, spec={"strategy": "canary", "canary": {"steps": steps}})
    )
    assert column(rows, "kind") == ["setCandidateScale", "analysis", "setWeight"]
    assert column(rows, "what") == [
        "setCandidateScale 20%",
        "analysis error-rate",
        "setWeight 100%",
    ]
    assert column(rows, "requested") == [None, None, 100]
    assert column(rows, "state") == ["done", "current", "pending"]
    # with test_step_texts' pauses this covers every kind there is: a new one needs a row
    assert set(column(rows, "kind")) | {"pause"} == set(STEP_KINDS)


def test_moving_towards_a_weight_shows_what_is_achieved_so_far() -> None:
    rows = canary_rows(canary(step_index=2, requested_weight=50.0, achieved_weight=33.3))
    assert column(rows, "state") == ["done", "done", "current", "pending", "pending"]
    assert column(rows, "achieved") == [None, None, 33.3, None, None]


def test_at_a_pause_the_weight_in_effect_is_the_last_set_one() -> None:
    rows = canary_rows(
        canary(step_index=1, phase="Paused", requested_weight=25.0, achieved_weight=33.3)
    )
    assert column(rows, "state") == ["done", "current", "pending", "pending", "pending"]
    assert column(rows, "achieved") == [33.3, None, None, None, None]


def test_aborted_marks_the_step_it_stopped_at() -> None:
    rows = canary_rows(canary(step_index=3, phase="Aborted", achieved_weight=50.0))
    assert column(rows, "state") == ["done", "done", "done", "stopped", "pending"]
    aborting = canary_rows(canary(step_index=3, aborting=True))
    assert column(aborting, "state")[3] == "stopped"


def test_succeeded_marks_every_step_done() -> None:
    rows = canary_rows(canary(step_index=4, phase="Succeeded", achieved_weight=100.0))
    assert set(column(rows, "state")) == {"done"}
    assert column(rows, "achieved") == [None] * 5


def test_weights_now() -> None:
    w = weights(canary(requested_weight=50.0, achieved_weight=40.0))
    assert w == {
        "candidate": "green",
        "stable": "blue",
        "requested": 50.0,
        "achieved": 40.0,
        "now": 40.0,
        "final": False,
        "router": "replicas",
    }
    aborted = weights(canary(phase="Aborted", requested_weight=50.0, achieved_weight=50.0))
    assert aborted is not None and (aborted["now"], aborted["final"]) == (0.0, True)
    done = weights(canary(phase="Succeeded", achieved_weight=100.0))
    assert done is not None and done["now"] == 100.0


def test_detail() -> None:
    status = {
        "tracks": [
            {"track": "green", "serving": True},
            {"track": "blue", "serving": True},
            {"track": "red", "serving": False},
        ],
        "release": canary(phase="Paused"),
    }
    d = detail(status, [{"id": 1}])
    assert d["serving"] == ["blue", "green"]
    assert d["inFlight"] is True
    assert d["canary"] is not None and d["weights"] is not None
    assert d["jobs"] == [{"id": 1}]
    assert in_flight(canary(phase="Aborted")) is False
    assert in_flight(None) is False


def test_analysis_shows_each_metric_s_measurements_against_its_condition() -> None:
    from kprism.model.analysis import (
        AnalysisRun,
        Measurement,
        MeasurementPhase,
        Metric,
        MetricRun,
        RunPhase,
    )
    from kprism.model.release import status_to_json
    from kprism.web.views import analysis
    from tests.unit.test_engine import started

    kube, _lease = started(auto=False)
    from kprism.kube.state import read_release

    st = read_release(kube.get_service("hello", "ns"))
    assert st is not None
    assert analysis(status_to_json(st)) is None
    metric = Metric.model_validate(
        {
            "name": "errors",
            "interval": 10,
            "count": 3,
            "successCondition": "result < 0.05",
            "provider": {"prometheus": {"query": "q"}},
        }
    )
    ok, bad = MeasurementPhase.SUCCESSFUL, MeasurementPhase.FAILED
    run = AnalysisRun(
        name="step-2",
        phase=RunPhase.FAILED,
        message="errors: failed 1 of 2 (failureLimit 0): result < 0.05 was false for [0.2]",
        metrics=(metric,),
        results=(
            MetricRun(
                name="errors",
                phase=RunPhase.FAILED,
                count=2,
                measurements=(
                    Measurement(phase=ok, value="0.01"),
                    Measurement(phase=bad, value="[0.2]", message="result < 0.05 was false"),
                ),
            ),
        ),
    )
    (shown,) = analysis(status_to_json(st.evolve(analysis=(run,)))) or []
    assert shown["name"] == "step-2" and shown["phase"] == "Failed"
    assert shown["verdict"].startswith("errors: failed 1 of 2")
    (m,) = shown["metrics"]
    assert m["condition"] == "pass: result < 0.05"
    assert (m["count"], m["limit"], m["pending"]) == (2, 3, False)
    assert [(p["phase"], p["value"], p["text"]) for p in m["points"]] == [
        ("Successful", 0.01, "0.01"),
        ("Failed", 0.2, "[0.2]"),
    ]
    assert m["points"][1]["message"] == "result < 0.05 was false"
    running = st.evolve(analysis=(AnalysisRun(name="background", metrics=(metric,)),))
    (bg,) = analysis(status_to_json(running)) or []
    assert bg["verdict"] == "" and bg["metrics"] == []
