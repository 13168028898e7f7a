"""The pure analysis evaluator: measurements, counters, verdicts, due times, gates."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kprism.errors import InvalidSpecError
from kprism.model.analysis import (
    KEEP_MEASUREMENTS,
    AnalysisRef,
    AnalysisRun,
    AnalysisTemplate,
    BlueGreenAnalysis,
    Measurement,
    MeasurementPhase,
    Metric,
    RunPhase,
    run_from_json,
)
from kprism.model.release import (
    Kind,
    Phase,
    ReleaseSpec,
    ReleaseStatus,
    status_from_json,
    status_to_json,
)
from kprism.plan import analysis as an
from kprism.plan.machine import Fail, Wait, iso

T0 = datetime(2026, 1, 1, tzinfo=UTC)
S = MeasurementPhase.SUCCESSFUL
F = MeasurementPhase.FAILED
I = MeasurementPhase.INCONCLUSIVE  # noqa: E741
E = MeasurementPhase.ERROR
R = MeasurementPhase.RUNNING


def metric(**kw: Any) -> Metric:
    data: dict[str, Any] = {"name": "m", "provider": {"prometheus": {"query": "q"}}}
    data.update(kw)
    return Metric.model_validate(data)


def run_of(*metrics: Metric, now: datetime = T0) -> AnalysisRun:
    return an.new_run("step-1", metrics, now)


def feed(run: AnalysisRun, phases: list[MeasurementPhase], *, name: str = "m") -> AnalysisRun:
    for i, phase in enumerate(phases):
        run = an.record(run, name, Measurement(phase=phase), T0 + timedelta(seconds=i))
        run = an.settle(run, T0 + timedelta(seconds=i))
    return run


# -- assess: conditions → measurement phase ------------------------------------------------


@pytest.mark.parametrize(
    ("success", "failure", "value", "want"),
    [
        ("result < 1", "", 0.5, S),
        ("result < 1", "", 2, F),
        ("", "result > 5", 2, S),
        ("", "result > 5", 6, F),
        ("result < 1", "result > 5", 0.5, S),
        ("result < 1", "result > 5", 6, F),
        ("result < 1", "result > 5", 3, I),
        ("result < 10", "result > 5", 6, F),  # both true: failure wins
        ("", "", 3, S),
        ("result < 1", "", math.nan, F),  # NaN never passes
        ("result < 1", "", "text", E),
        ("result[0] < 1", "", [], E),
        ("", "result > 1", None, E),
    ],
)
def test_assess(success: str, failure: str, value: Any, want: MeasurementPhase) -> None:
    m = an.assess(
        metric(successCondition=success, failureCondition=failure), value, now=T0, message="ctx"
    )
    assert m.phase is want
    assert m.finished_at == iso(T0)
    assert m.message.startswith("ctx: ")
    assert m.value == an.show_value(value)


def test_assess_says_why() -> None:
    m = an.assess(metric(successCondition="result[0] < 0.05"), [0.21], now=T0)
    assert m.message == "`result[0] < 0.05` is false for [0.21]"
    m = an.assess(metric(successCondition="result[0] < 0.05"), [0.01], now=T0)
    assert m.message == "`result[0] < 0.05` for [0.01]"
    m = an.assess(metric(successCondition="result[0] < 0.05"), [], now=T0)
    assert "cannot evaluate the condition on []: index 0 is out of range" in m.message


def test_show_value_is_json_with_nan_spelled_out() -> None:
    assert an.show_value([0.5, math.nan, math.inf, -math.inf]) == '[0.5,"NaN","+Inf","-Inf"]'
    assert an.show_value({"b": 1, "a": [True]}) == '{"a":[true],"b":1}'
    assert an.show_value(object()).startswith("<object")
    assert an.show_value([0.34965034965034963]) == "[0.34965]"  # for people, not for math


def test_measurement_text_is_clipped() -> None:
    m = an.assess(metric(), "x" * 10_000, now=T0)
    assert len(m.value) <= 160
    assert len(m.message) <= 300


# -- counters and verdicts (Argo's tables) ----------------------------------------------------


@pytest.mark.parametrize(
    ("kw", "phases", "want"),
    [
        # count 1 (no interval): one measurement decides
        ({}, [S], RunPhase.SUCCESSFUL),
        ({}, [F], RunPhase.FAILED),
        ({}, [I], RunPhase.INCONCLUSIVE),
        ({}, [E], RunPhase.RUNNING),  # errors do not count towards count
        ({}, [E, E, E, E], RunPhase.RUNNING),
        ({}, [E, E, E, E, E], RunPhase.ERROR),  # consecutiveErrorLimit 4: the 5th errs it
        ({}, [E, E, E, E, S], RunPhase.SUCCESSFUL),
        ({"consecutiveErrorLimit": 0}, [E], RunPhase.ERROR),
        ({"consecutiveErrorLimit": 1}, [E, S], RunPhase.SUCCESSFUL),
        # count 3 every 10s
        ({"interval": "10s", "count": 3}, [S, S], RunPhase.RUNNING),
        ({"interval": "10s", "count": 3}, [S, S, S], RunPhase.SUCCESSFUL),
        ({"interval": "10s", "count": 3}, [S, F], RunPhase.FAILED),
        ({"interval": "10s", "count": 3, "failureLimit": 1}, [S, F, S], RunPhase.SUCCESSFUL),
        ({"interval": "10s", "count": 3, "failureLimit": 1}, [F, S, F], RunPhase.FAILED),
        ({"interval": "10s", "count": 3, "inconclusiveLimit": 1}, [I, S, S], RunPhase.SUCCESSFUL),
        ({"interval": "10s", "count": 3, "inconclusiveLimit": 1}, [I, I], RunPhase.INCONCLUSIVE),
        ({"interval": "10s", "count": 3}, [S, E, E, S, S], RunPhase.SUCCESSFUL),
        ({"interval": "10s", "count": 3, "consecutiveErrorLimit": 1}, [E, E], RunPhase.ERROR),
        ({"interval": "10s", "count": 3, "consecutiveErrorLimit": 1}, [E, S, E], RunPhase.RUNNING),
        # consecutiveSuccessLimit: end early, or inconclusive when count runs out
        (
            {"interval": "10s", "count": 5, "consecutiveSuccessLimit": 2, "failureLimit": 3},
            [S, F, S, S],
            RunPhase.SUCCESSFUL,
        ),
        (
            {"interval": "10s", "count": 4, "consecutiveSuccessLimit": 3, "failureLimit": 3},
            [S, F, S, F],
            RunPhase.INCONCLUSIVE,
        ),
        # unlimited (background): only failure ends it
        ({"interval": "10s"}, [S] * 30, RunPhase.RUNNING),
        ({"interval": "10s"}, [S] * 30 + [F], RunPhase.FAILED),
        ({"interval": "10s", "failureLimit": 2}, [F, S, F, S, F], RunPhase.FAILED),
    ],
)
def test_metric_verdicts(
    kw: dict[str, Any], phases: list[MeasurementPhase], want: RunPhase
) -> None:
    run = feed(run_of(metric(**kw)), phases)
    assert run.result("m").phase is want
    if want is RunPhase.RUNNING:
        assert run.phase is RunPhase.RUNNING
    elif want is RunPhase.ERROR:
        assert run.phase is RunPhase.FAILED  # onError: abort (the default)
    else:
        assert run.phase is want


def test_error_policy_pause_makes_the_run_inconclusive() -> None:
    run = feed(run_of(metric(onError="pause", consecutiveErrorLimit=0)), [E])
    assert run.result("m").phase is RunPhase.ERROR
    assert run.phase is RunPhase.INCONCLUSIVE
    assert "m: error, 1 errors in a row (consecutiveErrorLimit 0)" in run.message


def test_counters() -> None:
    m = metric(interval="10s", count=10, failureLimit=9, inconclusiveLimit=9)
    run = feed(run_of(m), [S, E, F, I, E, E, S])
    r = run.result("m")
    assert (r.count, r.successful, r.failed, r.inconclusive, r.error) == (4, 2, 1, 1, 3)
    assert r.consecutive_error == 0
    assert r.consecutive_success == 1


def test_only_the_last_measurements_are_kept_but_all_are_counted() -> None:
    run = feed(run_of(metric(interval="10s")), [S] * (KEEP_MEASUREMENTS + 5))
    r = run.result("m")
    assert len(r.measurements) == KEEP_MEASUREMENTS
    assert r.count == r.successful == KEEP_MEASUREMENTS + 5
    assert r.measurements[-1].finished_at == iso(T0 + timedelta(seconds=KEEP_MEASUREMENTS + 4))


def test_a_run_fails_as_soon_as_one_metric_fails_and_terminates_the_others() -> None:
    a = metric(name="a", interval="10s", count=5)
    b = metric(name="b", interval="10s", count=5)
    run = feed(run_of(a, b), [S], name="a")
    run = feed(run, [F], name="b")
    assert run.phase is RunPhase.FAILED
    assert run.result("a").phase is RunPhase.TERMINATED
    assert run.result("b").phase is RunPhase.FAILED
    assert run.message.startswith("b: failed, 1 of 1 measurements failed (failureLimit 0)")
    assert run.finished_at
    # a settled run does not change any more
    again = an.settle(an.record(run, "a", Measurement(phase=S), T0), T0)
    assert again.phase is RunPhase.FAILED


def test_a_run_succeeds_when_every_deciding_metric_did() -> None:
    a = metric(name="a")
    b = metric(name="b", interval="10s", count=2)
    run = feed(run_of(a, b), [S], name="a")
    assert run.phase is RunPhase.RUNNING
    run = feed(run, [S, S], name="b")
    assert run.phase is RunPhase.SUCCESSFUL
    assert "a: 1 of 1 measurements successful" in run.message


def test_dry_run_metrics_never_decide() -> None:
    dry = metric(name="dry", dryRun=True)
    real = metric(name="real")
    run = feed(run_of(dry, real), [F], name="dry")
    assert run.phase is RunPhase.RUNNING
    assert run.result("dry").phase is RunPhase.FAILED
    run = feed(run, [S], name="real")
    assert run.phase is RunPhase.SUCCESSFUL
    assert "dry" not in run.message


def test_a_run_of_dry_run_metrics_only_ends_when_they_do() -> None:
    run = feed(run_of(metric(name="d", dryRun=True, interval="10s", count=2)), [F])
    assert run.phase is RunPhase.RUNNING
    run = feed(run, [F], name="d")
    assert run.phase is RunPhase.SUCCESSFUL


def test_a_guard_never_ends_a_run_but_fails_it() -> None:
    guard = metric(name="pods", interval="10s", guard=True, provider={"pods": {}})
    gate = metric(name="m")
    run = feed(run_of(gate, guard), [S] * 3, name="pods")
    assert run.phase is RunPhase.RUNNING
    run = feed(run, [S])
    assert run.phase is RunPhase.SUCCESSFUL
    assert run.result("pods").phase is RunPhase.TERMINATED
    failing = feed(run_of(gate, guard), [F], name="pods")
    assert failing.phase is RunPhase.FAILED


def test_a_running_measurement_is_pending_and_not_counted() -> None:
    run = run_of(metric())
    run = an.record(run, "m", Measurement(phase=R, message="job started", state={"job": "j1"}), T0)
    r = run.result("m")
    assert r.count == 0
    assert r.pending is not None
    assert r.pending.state == {"job": "j1"}
    assert r.pending.started_at == iso(T0)
    later = T0 + timedelta(seconds=30)
    run = an.record(run, "m", Measurement(phase=R, state={"job": "j1"}), later)
    assert run.result("m").pending is not None
    assert run.result("m").pending.started_at == iso(T0)  # type: ignore[union-attr]
    run = an.settle(an.record(run, "m", Measurement(phase=S), later), later)
    r = run.result("m")
    assert r.pending is None
    assert r.count == 1
    assert r.measurements[-1].started_at == iso(T0)
    assert r.measurements[-1].state == {}
    assert run.phase is RunPhase.SUCCESSFUL


def test_terminate_and_summary() -> None:
    run = feed(run_of(metric(interval="10s")), [S, F, I, E][:1])
    assert an.summary(run) == "m ✔"
    stopped = an.terminate(run, T0, "the release aborted")
    assert stopped.phase is RunPhase.TERMINATED
    assert stopped.result("m").phase is RunPhase.TERMINATED
    assert stopped.message == "the release aborted"
    assert an.terminate(stopped, T0, "again") == stopped


# -- due times ----------------------------------------------------------------------------


def test_due_times() -> None:
    m = metric(interval="30s", count=3, initialDelay="1m")
    run = run_of(m)
    assert an.due_at(run, "m") == T0 + timedelta(seconds=60)
    done = T0 + timedelta(seconds=61)
    run = an.settle(an.record(run, "m", Measurement(phase=S, finished_at=iso(done)), done), done)
    assert an.due_at(run, "m") == done + timedelta(seconds=30)
    run = an.record(run, "m", Measurement(phase=R, finished_at=iso(done)), done)
    assert an.due_at(run, "m") == done + timedelta(seconds=an.POLL)
    once = run_of(metric())
    assert an.due_at(once, "m") == T0
    errored = an.settle(an.record(once, "m", Measurement(phase=E), T0), T0)
    assert an.due_at(errored, "m") == T0 + timedelta(seconds=an.POLL)
    ok = an.settle(an.record(once, "m", Measurement(phase=S), T0), T0)
    assert an.due_at(ok, "m") is None


def status(**kw: Any) -> ReleaseStatus:
    base: dict[str, Any] = {
        "id": "r1",
        "kind": Kind.RELEASE,
        "spec": ReleaseSpec(),
        "phase": Phase.PROGRESSING,
        "step": "canary-step",
        "stable": "blue",
        "candidate": "green",
        "stable_deployment": "web-blue",
        "candidate_deployment": "web-green",
        "replicas": 3,
    }
    base.update(kw)
    return ReleaseStatus(**base)


def test_due_and_next_due_in_over_every_run() -> None:
    a = an.new_run("step-1", [metric(name="a", interval="20s", count=2)], T0)
    b = an.new_run("background", [metric(name="b", interval="5s", initialDelay="7s")], T0)
    st_ = status(analysis=(a, b))
    assert an.due(st_, T0) == [("step-1", "a")]
    assert an.next_due_in(st_, T0 + timedelta(seconds=1)) == 0.0
    a = an.settle(an.record(a, "a", Measurement(phase=S), T0), T0)
    st_ = status(analysis=(a, b))
    assert an.due(st_, T0) == []
    assert an.next_due_in(st_, T0) == 7.0
    assert an.due(st_, T0 + timedelta(seconds=20)) == [("step-1", "a"), ("background", "b")]
    assert an.next_due_in(status(), T0) is None


def test_runs_to_stop_are_those_that_ended_with_a_pending_measurement() -> None:
    run = an.record(run_of(metric()), "m", Measurement(phase=R, state={"job": "x"}), T0)
    st_ = status(analysis=(run,))
    assert an.to_stop(st_) == []
    st_ = an.stop_runs(st_, T0, why="aborted")
    assert an.to_stop(st_) == [("step-1", "m")]
    st_ = an.stopped(st_, "step-1", "m")
    assert an.to_stop(st_) == []
    assert an.find_run(st_, "step-1").phase is RunPhase.TERMINATED  # type: ignore[union-attr]


# -- the status round-trips through JSON (a crash loses nothing) --------------------------------


def test_runs_round_trip_through_the_release_annotation() -> None:
    run = feed(run_of(metric(interval="10s", count=3, successCondition="result < 1")), [S, E])
    run = an.record(run, "m", Measurement(phase=R, state={"job": "j"}), T0)
    st_ = status(analysis=(run,))
    text = json.dumps(status_to_json(st_))
    back = status_from_json(json.loads(text))
    assert back == st_
    assert run_from_json(json.loads(json.dumps(status_to_json(st_)["analysis"][0]))) == run


def test_blue_green_analysis_round_trips_in_the_spec() -> None:
    spec = ReleaseSpec(
        analysis={  # type: ignore[arg-type]
            "templates": [{"name": "t", "metrics": [{"name": "m", "provider": {"pods": {}}}]}],
            "postPromotion": {"templates": [{"templateName": "t"}]},
        }
    )
    assert isinstance(spec.analysis, BlueGreenAnalysis)
    back = status_from_json(json.loads(json.dumps(status_to_json(status(spec=spec)))))
    assert back.spec == spec


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from([S, F, I, E, R]), max_size=25))
def test_record_then_settle_is_consistent(phases: list[MeasurementPhase]) -> None:
    m = metric(interval="10s", count=5, failureLimit=2, inconclusiveLimit=2)
    run = run_of(m)
    for i, phase in enumerate(phases):
        now = T0 + timedelta(seconds=i)
        run = an.settle(an.record(run, "m", Measurement(phase=phase), now), now)
        r = run.result("m")
        assert r.count == r.successful + r.failed + r.inconclusive
        assert r.count <= 5 or run.phase.done
        if run.phase is RunPhase.SUCCESSFUL:
            assert r.failed <= 2 and r.inconclusive <= 2 and r.count >= 5
        if r.failed > 2:
            assert run.phase is RunPhase.FAILED
    assert status_from_json(json.loads(json.dumps(status_to_json(status(analysis=(run,)))))) == (
        status(analysis=(run,))
    )


# -- resolving templates -----------------------------------------------------------------------

TEMPLATE = AnalysisTemplate.model_validate(
    {
        "name": "error-rate",
        "args": [{"name": "max"}, {"name": "window", "value": "1m"}],
        "metrics": [
            {
                "name": "errors",
                "interval": "10s",
                "count": 3,
                "successCondition": "result[0] < {{args.max}}",
                "provider": {
                    "prometheus": {
                        "address": "http://127.0.0.1:9090",
                        "query": 'sum(rate(http_requests_total{app="{{app}}",track="{{track}}",'
                        'namespace="{{ namespace }}",code=~"5.."}[{{args.window}}]))'
                        " / {{args.max}} # {{release}} {{stable}} {{service}}",
                    }
                },
            }
        ],
    }
)
VALUES = an.Variables(
    app="web", namespace="shop", release="r1", track="green", stable="blue", service="web"
)


def ref(**kw: Any) -> AnalysisRef:
    data: dict[str, Any] = {"templates": [{"templateName": "error-rate"}]}
    data.update(kw)
    return AnalysisRef.model_validate(data)


def test_resolve_fills_arguments_and_variables_and_adds_the_pods_guard() -> None:
    metrics = an.resolve(
        ref(args=[{"name": "max", "value": "0.05"}]),
        [TEMPLATE],
        where="steps[1].analysis",
        values=VALUES,
        gate=True,
    )
    assert [m.name for m in metrics] == ["errors", "pods"]
    query = metrics[0].provider_config["query"]
    assert query == (
        'sum(rate(http_requests_total{app="web",track="green",namespace="shop",code=~"5.."}[1m]))'
        " / 0.05 # r1 blue web"
    )
    assert metrics[0].success_condition == "result[0] < 0.05"
    pods = metrics[1]
    assert pods.guard
    assert pods.provider == {"pods": {}}
    assert pods.interval == an.PODS_GUARD_INTERVAL


def test_resolve_without_values_keeps_the_variables() -> None:
    metrics = an.resolve(
        ref(args=[{"name": "max", "value": "1"}]), [TEMPLATE], where="w", gate=True
    )
    assert "{{app}}" in metrics[0].provider_config["query"]


@pytest.mark.parametrize(
    ("the_ref", "fragment"),
    [
        (
            {"templates": [{"templateName": "nope"}]},
            "w.templates[0]: unknown analysis template 'nope' (known: error-rate)",
        ),
        ({}, "w: template 'error-rate' needs argument 'max': add args: [{name: max, value: ...}]"),
        (
            {"args": [{"name": "max", "value": "1"}, {"name": "typo", "value": "2"}]},
            "w.args: no template takes argument 'typo'",
        ),
        (
            {
                "templates": [{"templateName": "error-rate"}, {"templateName": "error-rate"}],
                "args": [{"name": "max", "value": "1"}],
            },
            "two templates define metric 'errors'",
        ),
    ],
)
def test_resolve_refuses(the_ref: dict[str, Any], fragment: str) -> None:
    with pytest.raises(InvalidSpecError) as info:
        an.resolve(ref(**the_ref), [TEMPLATE], where="w", values=VALUES, gate=True)
    assert fragment in str(info.value)


def test_an_argument_that_breaks_a_condition_is_refused() -> None:
    with pytest.raises(InvalidSpecError) as info:
        an.resolve(ref(args=[{"name": "max", "value": "0.05)"}]), [TEMPLATE], where="w", gate=True)
    assert "condition 'result[0] < 0.05)' does not parse: at column 17" in str(info.value)


def test_resolve_refuses_an_unknown_placeholder_and_an_endless_gate() -> None:
    tmpl = AnalysisTemplate.model_validate(
        {
            "name": "t",
            "metrics": [
                {
                    "name": "m",
                    "interval": "10s",
                    "provider": {"http": {"url": "http://{{host}}/"}},
                }
            ],
        }
    )
    r = AnalysisRef.model_validate({"templates": [{"templateName": "t"}]})
    with pytest.raises(InvalidSpecError) as info:
        an.resolve(r, [tmpl], where="w", values=VALUES, gate=True)
    assert "unknown placeholder {{host}}" in str(info.value)
    assert "never ends" in str(info.value)
    with pytest.raises(InvalidSpecError, match="unknown placeholder"):
        an.resolve(r, [tmpl], where="w", values=VALUES, gate=False)


def test_a_user_metric_named_pods_keeps_its_name() -> None:
    tmpl = AnalysisTemplate.model_validate(
        {"name": "t", "metrics": [{"name": "pods", "provider": {"http": {"url": "u"}}}]}
    )
    r = AnalysisRef.model_validate({"templates": [{"templateName": "t"}]})
    names = [m.name for m in an.resolve(r, [tmpl], where="w", gate=True)]
    assert names == ["pods", "kprism-pods"]
    own = AnalysisTemplate.model_validate(
        {"name": "t", "metrics": [{"name": "crash", "provider": {"pods": {"maxRestarts": 1}}}]}
    )
    assert [m.name for m in an.resolve(r, [own], where="w", gate=True)] == ["crash"]


def test_describe_metric() -> None:
    text = an.describe_metric(
        Metric.model_validate(
            {
                "name": "errors",
                "interval": "30s",
                "count": 4,
                "initialDelay": "1m",
                "successCondition": "result[0] < 0.05",
                "failureLimit": 1,
                "provider": {"prometheus": {"query": "up"}},
            }
        )
    )
    assert text == (
        "errors: prometheus query='up' 4× every 30s after 1m, pass when `result[0] < 0.05` "
        "(failureLimit 1)"
    )
    assert "once" in an.describe_metric(metric())
    assert "every 10s until the end" in an.describe_metric(metric(interval="10s"))


# -- metric spec validation -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("kw", "fragment"),
    [
        ({"successCondition": "result <"}, "does not parse: at column 9: expected a value"),
        ({"failureCondition": "x > 1"}, "unknown name 'x'"),
        ({"provider": {}}, "needs exactly one provider"),
        ({"provider": {"a": {}, "b": {}}}, "needs exactly one provider"),
        ({"count": 3}, "count > 1 needs an interval"),
        ({"count": 0}, "greater than or equal to 1"),
        ({"failureLimit": -1}, "greater than or equal to 0"),
        ({"interval": "0s"}, "must be positive"),
        ({"onError": "ignore"}, "'abort' or 'pause'"),
        ({"name": "Bad_Name"}, "should match pattern"),
        ({"bogus": 1}, "Extra inputs are not permitted"),
    ],
)
def test_metric_spec_is_validated(kw: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ValueError, match=None) as info:
        metric(**kw)
    assert fragment in str(info.value)


def test_duplicate_metric_names_in_a_template_are_refused() -> None:
    with pytest.raises(ValueError, match="metric names must be unique: m"):
        AnalysisTemplate.model_validate(
            {
                "name": "t",
                "metrics": [
                    {"name": "m", "provider": {"pods": {}}},
                    {"name": "m", "provider": {"pods": {}}},
                ],
            }
        )


def test_metric_limits() -> None:
    assert metric().limit == 1
    assert metric(interval="10s").limit is None
    assert metric(interval="10s", count=4).limit == 4


# -- gates -----------------------------------------------------------------------------------


def resolved() -> tuple[Metric, ...]:
    return (metric(name="m", interval="10s", count=2),)


def test_gate_starts_then_waits_then_passes() -> None:
    st0 = status()
    started = an.gate(st0, T0, name="step-1", metrics=resolved, what="step 1")
    assert isinstance(started, Wait)
    assert started.requeue_after == 0.0
    assert started.status is not None
    assert started.event is not None and started.event[0] == "AnalysisStarted"
    st1 = started.status
    run = an.find_run(st1, "step-1")
    assert run is not None and run.phase is RunPhase.RUNNING
    waiting = an.gate(st1, T0, name="step-1", metrics=resolved, what="step 1")
    assert isinstance(waiting, Wait)
    assert waiting.status is None
    assert "analysis running: m -" in waiting.message
    run = feed(run, [S, S])
    assert an.gate(an.with_run(st1, run), T0, name="step-1", metrics=resolved, what="s") is None


def test_gate_fails_with_the_reason() -> None:
    st1 = an.with_run(status(), feed(an.new_run("step-1", resolved(), T0), [F]))
    result = an.gate(st1, T0, name="step-1", metrics=resolved, what="step 1")
    assert isinstance(result, Fail)
    assert result.error.startswith("step 1: analysis failed: m: failed, 1 of 1 measurements")


def test_gate_with_an_unresolvable_ref_fails() -> None:
    def bad() -> tuple[Metric, ...]:
        raise InvalidSpecError("unknown analysis template 'x'")

    result = an.gate(status(), T0, name="step-1", metrics=bad, what="step 1")
    assert isinstance(result, Fail)
    assert "unknown analysis template" in result.error


def test_inconclusive_gate_pauses_and_resume_measures_again() -> None:
    st1 = an.with_run(status(), feed(an.new_run("step-1", resolved(), T0), [I]))
    paused = an.gate(st1, T0, name="step-1", metrics=resolved, what="step 1")
    assert isinstance(paused, Wait)
    assert paused.requeue_after is None
    assert paused.event is not None and paused.event[2]  # a Warning
    assert paused.status is not None
    assert paused.status.paused and paused.status.phase is Phase.PAUSED
    assert an.held(paused.status, "step-1")
    # still paused: nothing new
    again = an.gate(paused.status, T0, name="step-1", metrics=resolved, what="step 1")
    assert isinstance(again, Wait) and again.status is None
    # resumed (the intent cleared `paused`): a fresh run
    resumed = paused.status.evolve(paused=False, phase=Phase.PROGRESSING)
    fresh = an.gate(resumed, T0, name="step-1", metrics=resolved, what="step 1")
    assert isinstance(fresh, Wait) and fresh.status is not None
    run = an.find_run(fresh.status, "step-1")
    assert run is not None and run.phase is RunPhase.RUNNING and run.results[0].count == 0


def test_skip_terminates_a_held_run() -> None:
    st1 = an.with_run(status(), replace_held(feed(an.new_run("step-1", resolved(), T0), [I])))
    skipped = an.skip(st1, "step-1", T0, why="skipped by promote")
    run = an.find_run(skipped, "step-1")
    assert run is not None
    assert run.phase is RunPhase.TERMINATED
    assert run.message == "skipped by promote"
    assert not an.held(skipped, "step-1")
    assert an.skip(status(), "nope", T0, why="x") == status()


def replace_held(run: AnalysisRun) -> AnalysisRun:
    from dataclasses import replace

    return replace(run, held=True)


def test_background_never_blocks_while_running() -> None:
    st0 = status()
    started = an.background(st0, T0, name="background", metrics=resolved, what="background")
    assert isinstance(started, Wait) and started.status is not None
    assert an.background(started.status, T0, name="background", metrics=resolved, what="b") is None
    run = an.find_run(started.status, "background")
    assert run is not None
    failed = an.with_run(started.status, feed(run, [F]))
    result = an.background(failed, T0, name="background", metrics=resolved, what="background")
    assert isinstance(result, Fail)


def test_stop_runs_only_touches_running_runs() -> None:
    ok = feed(an.new_run("step-1", resolved(), T0), [S, S])
    going = an.new_run("background", resolved(), T0)
    st_ = an.stop_runs(status(analysis=(ok, going)), T0, why="release done")
    assert [r.phase for r in st_.analysis] == [RunPhase.SUCCESSFUL, RunPhase.TERMINATED]
    assert an.stop_runs(st_, T0, why="x") is st_


def test_with_run_keeps_the_order() -> None:
    a = an.new_run("a", resolved(), T0)
    b = an.new_run("b", resolved(), T0)
    st_ = an.with_run(an.with_run(status(), a), b)
    st_ = an.with_run(st_, feed(a, [S]))
    assert [r.name for r in st_.analysis] == ["a", "b"]
