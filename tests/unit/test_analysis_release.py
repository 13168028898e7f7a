"""Analysis in releases, end to end on the in-memory adapter and a fake clock: canary
gates, background analysis, blue-green pre/post-promotion, pause on inconclusive,
abort/rollback on failure, a crashed engine resuming without losing measurements."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import pytest

from kprism import ops
from kprism.analysis import PROVIDERS
from kprism.analysis.base import MeasureContext
from kprism.engine.loop import Engine, Tick
from kprism.errors import InvalidSpecError, ReleaseFailed
from kprism.kube.api import Lock
from kprism.kube.state import read_release
from kprism.model.actions import EmitEvent
from kprism.model.analysis import Measurement, RunPhase
from kprism.model.release import (
    ANNOTATION_HISTORY,
    Action,
    Change,
    Intent,
    Phase,
    ReleaseSpec,
    ReleaseStatus,
    Strategy,
)
from kprism.model.steps import CanarySpec
from kprism.ops.intents import write_intent
from kprism.ops.running import check_outcome
from kprism.plan import analysis as an
from kprism.plan import bluegreen
from tests.unit.bgsim import blue_app
from tests.unit.fakekube import NS, SERVICE, FakeKube, fake

APP = ops.App(name=SERVICE, namespace=NS)
OK, BAD, UNSURE = 0.0, 10.0, 3.0  # what the scripted provider returns → S, F, I


class Scripted:
    """A provider that returns the next scripted value of its metric (OK by default)."""

    name = "scripted"

    def __init__(self) -> None:
        self.script: dict[str, list[float]] = {}
        self.calls: list[tuple[str, str, datetime]] = []

    def check(self, config: Mapping[str, Any], *, where: str) -> None:
        if "bad" in config:
            raise InvalidSpecError(f"{where}.bad: not allowed")

    def measure(self, ctx: MeasureContext) -> Measurement:
        self.calls.append((ctx.run, ctx.metric.name, ctx.now))
        values = self.script.get(ctx.metric.name) or [OK]
        value = values.pop(0) if len(values) > 1 else values[0]
        return ctx.assess(value)

    def stop(self, ctx: MeasureContext) -> None:
        return None


@pytest.fixture
def scripted(monkeypatch: pytest.MonkeyPatch) -> Scripted:
    provider = Scripted()
    monkeypatch.setitem(PROVIDERS, "scripted", provider)
    return provider


def template(name: str = "errors", *, count: int = 3, interval: str = "10s") -> dict[str, Any]:
    return {
        "name": name,
        "args": [{"name": "max", "value": "1"}],
        "metrics": [
            {
                "name": name,
                "interval": interval,
                "count": count,
                "successCondition": "result < {{args.max}}",
                "failureCondition": "result > 5",
                "provider": {"scripted": {"query": "rate{app='{{app}}',track='{{track}}'}"}},
            }
        ],
    }


def canary(*steps: dict[str, Any], **extra: Any) -> ReleaseSpec:
    data: dict[str, Any] = {
        "steps": list(steps),
        "analysisTemplates": [template()],
        "maxSurge": 1,
        **extra,
    }
    return ReleaseSpec(
        strategy=Strategy.CANARY,
        change=Change(images={"hello": "hello:2"}),
        canary=CanarySpec.model_validate(data),
    )


GATE = {"analysis": {"templates": [{"templateName": "errors"}]}}


def start(spec: ReleaseSpec) -> tuple[FakeKube, Lock]:
    kube = fake(blue_app())
    _, lease = ops.start_release(kube, APP, spec)
    return kube, lease


def engine(kube: FakeKube, lease: Lock) -> Engine:
    return Engine(
        kube, namespace=NS, service=SERVICE, track_label="color", lease=lease, clock=kube.clock
    )


def release(
    kube: FakeKube, spec: ReleaseSpec, *, on_tick: Callable[[Tick], None] | None = None
) -> ReleaseStatus:
    """ops.release on the fake clock: start, drive, and raise ReleaseFailed as it does."""
    _, lease = ops.start_release(kube, APP, spec)
    e = engine(kube, lease)
    e.on_tick = on_tick
    return check_outcome(e.run(timeout=3600))


def status(kube: FakeKube) -> ReleaseStatus:
    st = read_release(kube.get_service(SERVICE, NS))
    assert st is not None
    return st


def events(kube: FakeKube) -> list[tuple[str, str]]:
    emitted = [(a.reason, a.message) for a in kube.applied if isinstance(a, EmitEvent)]
    return kube.events + emitted


def reasons(kube: FakeKube) -> list[str]:
    return [r for r, _ in events(kube)]


def test_a_canary_gate_that_passes(scripted: Scripted) -> None:
    kube, lease = start(canary({"setWeight": 50}, GATE, {"setWeight": 100}))
    final = engine(kube, lease).run(timeout=3600)
    assert final.phase is Phase.SUCCEEDED
    run = an.find_run(final, "step-2")
    assert run is not None
    assert run.phase is RunPhase.SUCCESSFUL
    errors = run.result("errors")
    assert (errors.count, errors.successful) == (3, 3)
    assert run.result("pods").phase is RunPhase.TERMINATED  # the guard ran beside it
    assert run.result("pods").count >= 1
    # measured 10s apart on the (fake) clock, at 50% — arguments and variables filled in
    times = [t for r, m, t in scripted.calls if m == "errors"]
    assert [(b - a).total_seconds() for a, b in itertools.pairwise(times)] == [10, 10]
    assert run.spec("errors").provider_config["query"] == "rate{app='hello',track='green'}"
    assert run.spec("errors").success_condition == "result < 1"
    assert "AnalysisStarted" in reasons(kube)
    assert "AnalysisSuccessful" in reasons(kube)
    history = json.loads(kube.annotations[ANNOTATION_HISTORY])
    assert history[-1]["analysis"][0]["phase"] == "Successful"


def test_a_failing_gate_aborts_the_canary_with_exit_code_1(scripted: Scripted) -> None:
    scripted.script["errors"] = [OK, BAD]
    kube = fake(blue_app())
    with pytest.raises(ReleaseFailed) as info:
        release(kube, canary({"setWeight": 50}, GATE, {"setWeight": 100}))
    assert info.value.exit_code == 1
    assert "analysis failed: errors: failed, 1 of 2 measurements failed" in str(info.value)
    final = status(kube)
    assert final.phase is Phase.FAILED
    assert "step 2/3 (50% on green): analysis failed" in final.last_error
    assert "`result < 1` is false for 10.0" not in final.last_error  # failure condition wins
    assert "failureCondition `result > 5` met for 10.0" in final.last_error
    # traffic is back on stable, the candidate scaled to 0
    assert kube.sim.selector == {"app": "hello", "color": "blue"}
    assert kube.sim.deployments["hello-green"].replicas == 0
    warnings = [m for r, m in events(kube) if r == "ReleaseFailed"]
    assert warnings and "analysis failed" in warnings[0]
    run = an.find_run(final, "step-2")
    assert run is not None and run.phase is RunPhase.FAILED
    # no measurement after the failure
    assert len([c for c in scripted.calls if c[1] == "errors"]) == 2


def test_an_inconclusive_gate_pauses_and_resume_measures_again(scripted: Scripted) -> None:
    scripted.script["errors"] = [OK, UNSURE, OK]
    kube, lease = start(canary({"setWeight": 50}, GATE, {"setWeight": 100}))
    e = engine(kube, lease)
    paused = e.run(until=lambda st: st.phase is Phase.PAUSED)
    assert paused.paused
    assert "analysis inconclusive" in paused.message
    assert "`kprism resume` measures again" in paused.message
    assert "AnalysisInconclusive" in reasons(kube)
    calls = len(scripted.calls)
    # nothing is measured while paused
    e.step()
    kube.clock.advance(60)
    e.step()
    assert len(scripted.calls) == calls
    write_intent(kube, APP, Intent(action=Action.RESUME, release=paused.id))
    final = e.run(timeout=3600)
    assert final.phase is Phase.SUCCEEDED
    run = an.find_run(final, "step-2")
    assert run is not None and run.phase is RunPhase.SUCCESSFUL
    assert run.result("errors").count == 3  # a fresh run after the resume


def test_promote_skips_an_inconclusive_gate(scripted: Scripted) -> None:
    scripted.script["errors"] = [UNSURE]
    kube, lease = start(canary({"setWeight": 50}, GATE, {"setWeight": 100}))
    e = engine(kube, lease)
    paused = e.run(until=lambda st: st.phase is Phase.PAUSED)
    write_intent(kube, APP, Intent(action=Action.PROMOTE, release=paused.id))
    final = e.run(timeout=3600)
    assert final.phase is Phase.SUCCEEDED
    run = an.find_run(final, "step-2")
    assert run is not None
    assert run.phase is RunPhase.TERMINATED
    assert run.message == "skipped by promote"
    assert "AnalysisSkipped" in reasons(kube)


def test_errors_past_the_limit_abort_or_pause(scripted: Scripted) -> None:
    spec = canary(
        {"setWeight": 50},
        GATE,
        {"setWeight": 100},
    )
    assert spec.canary is not None
    tmpl = template()
    tmpl["metrics"][0]["successCondition"] = "result[0] < 1"  # a number cannot be indexed
    tmpl["metrics"][0]["consecutiveErrorLimit"] = 2
    data = spec.canary.model_dump(mode="json", by_alias=True)
    data["analysisTemplates"] = [tmpl]
    kube = fake(blue_app())
    bad = ReleaseSpec(
        strategy=Strategy.CANARY, change=spec.change, canary=CanarySpec.model_validate(data)
    )
    with pytest.raises(ReleaseFailed, match="3 errors in a row"):
        release(kube, bad)
    assert len([c for c in scripted.calls if c[1] == "errors"]) == 3
    # onError: pause → the release pauses instead
    tmpl["metrics"][0]["onError"] = "pause"
    data["analysisTemplates"] = [tmpl]
    kube, lease = start(
        ReleaseSpec(
            strategy=Strategy.CANARY, change=spec.change, canary=CanarySpec.model_validate(data)
        )
    )
    paused = engine(kube, lease).run(until=lambda st: st.phase is Phase.PAUSED)
    assert "errors: error, 3 errors in a row" in paused.message


def test_background_analysis_aborts_during_a_pause(scripted: Scripted) -> None:
    scripted.script["watch"] = [OK, OK, BAD]
    spec = canary(
        {"setWeight": 25},
        {"pause": {"duration": "10m"}},
        {"setWeight": 100},
        analysis={"templates": [{"templateName": "watch"}], "startingStep": 2},
        analysisTemplates=[template(), {**template("watch"), "metrics": [_unlimited("watch")]}],
    )
    kube = fake(blue_app())
    with pytest.raises(ReleaseFailed, match="background analysis: analysis failed: watch"):
        release(kube, spec)
    final = status(kube)
    run = an.find_run(final, "background")
    assert run is not None and run.phase is RunPhase.FAILED
    assert run.result("watch").count == 3
    watch = [t for r, m, t in scripted.calls if m == "watch"]
    assert (watch[-1] - watch[0]).total_seconds() == 20  # failed well inside the 10m pause
    assert kube.sim.selector == {"app": "hello", "color": "blue"}


def _unlimited(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "interval": "10s",
        "successCondition": "result < 1",
        "provider": {"scripted": {}},
    }


def test_background_analysis_ends_with_the_canary(scripted: Scripted) -> None:
    spec = canary(
        {"setWeight": 50},
        {"pause": {"duration": "30s"}},
        {"setWeight": 100},
        analysis={"templates": [{"templateName": "watch"}]},
        analysisTemplates=[{"name": "watch", "metrics": [_unlimited("watch")]}],
    )
    kube = fake(blue_app())
    final = release(kube, spec)
    assert final.phase is Phase.SUCCEEDED
    run = an.find_run(final, "background")
    assert run is not None
    assert run.phase is RunPhase.TERMINATED
    assert run.message == "the canary steps are over"
    assert run.result("watch").count >= 3


def test_a_crashed_engine_resumes_without_losing_measurements(scripted: Scripted) -> None:
    kube, lease = start(canary({"setWeight": 50}, GATE, {"setWeight": 100}))

    def two_measured(st: ReleaseStatus) -> bool:
        run = an.find_run(st, "step-2")
        return run is not None and run.result("errors").count == 2

    first = engine(kube, lease).run(until=two_measured)
    assert two_measured(first)
    # the process dies here; a new engine (a `kprism resume` elsewhere) picks the run up
    resumed = engine(kube, lease).run(timeout=3600)
    assert resumed.phase is Phase.SUCCEEDED
    run = an.find_run(resumed, "step-2")
    assert run is not None
    assert run.result("errors").count == 3
    assert len([c for c in scripted.calls if c[1] == "errors"]) == 3  # none twice, none lost
    recorded = [m.finished_at for m in run.result("errors").measurements]
    assert len(set(recorded)) == 3


def bluegreen_spec(**analysis: Any) -> ReleaseSpec:
    return ReleaseSpec(
        change=Change(images={"hello": "hello:2"}),
        auto_promote=True,
        scale_down_delay=30,
        analysis={"templates": [template(count=2)], **analysis},  # type: ignore[arg-type]
    )


REF = {"templates": [{"templateName": "errors"}]}


def test_blue_green_post_promotion_failure_flips_back(scripted: Scripted) -> None:
    scripted.script["errors"] = [OK, BAD]
    kube = fake(blue_app())
    seen: list[tuple[str, dict[str, str]]] = []
    with pytest.raises(ReleaseFailed, match="post-promotion analysis of green: analysis failed"):
        release(
            kube,
            bluegreen_spec(postPromotion=REF),
            on_tick=lambda t: seen.append((t.status.step, dict(kube.sim.selector))),
        )
    # traffic was on green during the analysis, then back on blue
    assert ("scale-down-delay", {"app": "hello", "color": "green"}) in seen
    assert kube.sim.selector == {"app": "hello", "color": "blue"}
    assert kube.sim.deployments["hello-blue"].replicas == 3  # never scaled down
    assert status(kube).phase is Phase.FAILED


def test_blue_green_post_promotion_holds_the_scale_down(scripted: Scripted) -> None:
    kube = fake(blue_app())
    final = release(
        kube,
        ReleaseSpec(
            change=Change(images={"hello": "hello:2"}),
            auto_promote=True,
            scale_down_delay=5,  # shorter than the analysis (2 × 10s)
            analysis={"templates": [template(count=3)], "postPromotion": REF},  # type: ignore[arg-type]
        ),
    )
    assert final.phase is Phase.SUCCEEDED
    run = an.find_run(final, "post-promotion")
    assert run is not None and run.phase is RunPhase.SUCCESSFUL
    finished = an.parse_iso(run.finished_at)
    verified = an.parse_iso(final.verified_at)
    assert finished is not None and verified is not None
    assert (finished - verified).total_seconds() >= 20


def test_blue_green_pre_promotion_gates_the_switch(scripted: Scripted) -> None:
    scripted.script["errors"] = [BAD]
    kube = fake(blue_app())
    with pytest.raises(ReleaseFailed, match="pre-promotion analysis of green: analysis failed"):
        release(kube, bluegreen_spec(prePromotion=REF))
    assert kube.sim.selector == {"app": "hello", "color": "blue"}
    assert not any(
        a.describe().startswith("set Service hello selector to app=hello,color=green")
        for a in kube.applied
    )


def test_blue_green_pre_promotion_passes_then_promotes(scripted: Scripted) -> None:
    kube = fake(blue_app())
    final = release(kube, bluegreen_spec(prePromotion=REF))
    assert final.phase is Phase.SUCCEEDED
    assert an.find_run(final, "pre-promotion").phase is RunPhase.SUCCESSFUL  # type: ignore[union-attr]
    assert bluegreen.PRE_ANALYSIS in bluegreen.BEFORE_SWITCH


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        (
            canary(
                {"setWeight": 50},
                {"analysis": {"templates": [{"templateName": "nope"}]}},
                {"setWeight": 100},
            ),
            "steps[1].analysis.templates[0]: unknown analysis template 'nope' (known: errors)",
        ),
        (
            canary(
                {"setWeight": 50},
                {
                    "analysis": {
                        "templates": [{"templateName": "errors"}],
                        "args": [{"name": "x", "value": "1"}],
                    }
                },
                {"setWeight": 100},
            ),
            "steps[1].analysis.args: no template takes argument 'x'",
        ),
        (
            canary(
                {"setWeight": 50},
                GATE,
                {"setWeight": 100},
                analysisTemplates=[
                    {
                        "name": "errors",
                        "metrics": [{"name": "e", "provider": {"scripted": {"bad": 1}}}],
                    }
                ],
            ),
            "steps[1].analysis metric e.provider.scripted.bad: not allowed",
        ),
        (
            canary(
                {"setWeight": 50},
                GATE,
                {"setWeight": 100},
                analysisTemplates=[{"name": "errors", "metrics": [_unlimited("e")]}],
            ),
            "has an interval but no count, so it never ends",
        ),
        (
            canary(
                {"setWeight": 50},
                GATE,
                {"setWeight": 100},
                analysisTemplates=[
                    {"name": "errors", "metrics": [{"name": "e", "provider": {"nope": {}}}]}
                ],
            ),
            "unknown analysis provider 'nope'",
        ),
    ],
)
def test_bad_analysis_is_refused_before_anything_changes(
    scripted: Scripted, spec: ReleaseSpec, fragment: str
) -> None:
    kube = fake(blue_app())
    with pytest.raises(InvalidSpecError) as info:
        ops.start_release(kube, APP, spec)
    assert info.value.exit_code == 2
    assert fragment in str(info.value)
    assert kube.patches == [] and kube.applied == []


def test_plan_shows_every_gate_with_its_arguments_filled_in(scripted: Scripted) -> None:
    spec = canary(
        {"setWeight": 50},
        {
            "analysis": {
                "templates": [{"templateName": "errors"}],
                "args": [{"name": "max", "value": "0.05"}],
            }
        },
        {"setWeight": 100},
        analysis={"templates": [{"templateName": "watch"}], "startingStep": 2},
        analysisTemplates=[template(), {"name": "watch", "metrics": [_unlimited("watch")]}],
    )
    plan = ops.plan_release(fake(blue_app()), APP, spec)
    text = "\n".join(plan.steps)
    assert (
        "step 2: analysis gate at 2 green pods (passes → next step, fails → abort, "
        "inconclusive → pause): errors: scripted query=\"rate{app='hello',track='green'}\" "
        "3× every 10s, pass when `result < 0.05`, "
        "fail when `result > 5` (failureLimit 0); pods: pods every 10s until the end "
        "(failureLimit 0, guard)"
    ) in text
    assert "from step 2 on, background analysis" in text
    assert "watch: scripted every 10s until the end, pass when `result < 1`" in text


def test_plan_shows_blue_green_analysis(scripted: Scripted) -> None:
    plan = ops.plan_release(
        fake(blue_app()), APP, bluegreen_spec(prePromotion=REF, postPromotion=REF)
    )
    text = "\n".join(plan.steps)
    assert (
        "pre-promotion analysis (must pass before the switch; inconclusive pauses): errors:" in text
    )
    assert (
        "post-promotion analysis during the scale-down delay (fails → switch back to blue)" in text
    )


def test_blue_green_analysis_on_a_canary_is_refused(scripted: Scripted) -> None:
    spec = canary({"setWeight": 100})
    bad = ReleaseSpec(
        strategy=Strategy.CANARY,
        change=spec.change,
        canary=spec.canary,
        analysis={"templates": [template()], "postPromotion": REF},  # type: ignore[arg-type]
    )
    with pytest.raises(
        InvalidSpecError, match="prePromotion/postPromotion analysis is for blue-green"
    ):
        ops.start_release(fake(blue_app()), APP, bad)


def test_status_shows_the_measurements_and_why(scripted: Scripted) -> None:
    import io

    from rich.console import Console

    from kprism.cli.analysis import rows
    from kprism.cli.inspect import status_view

    scripted.script["errors"] = [OK, BAD]
    kube = fake(blue_app())
    with pytest.raises(ReleaseFailed):
        release(kube, canary({"setWeight": 50}, GATE, {"setWeight": 100}))
    st = status(kube)
    table = rows(st)
    assert table[0] == [
        "step-2",
        "errors",
        "Failed",
        "✔✖ 2/3",
        "10.0",
        "pass: result < 1; fail: result > 5",
    ]
    assert table[1][:3] == ["step-2", "pods", "Terminated"]
    assert table[1][5] == "guard"
    buf = io.StringIO()
    view = ops.app_status(kube, APP)
    Console(file=buf, width=200, color_system=None).print(status_view(view))
    text = buf.getvalue()
    assert "analysis:" in text
    assert "RUN" in text and "MEASURED" in text and "✔✖ 2/3" in text
    assert "step-2: Failed — errors: failed, 1 of 2 measurements failed (failureLimit 0)" in text


def test_the_engine_renews_its_lease_before_each_measurement(scripted: Scripted) -> None:
    from kprism.analysis.runner import measure_due

    kube, lease = start(canary({"setWeight": 50}, GATE, {"setWeight": 100}))
    st = engine(kube, lease).run(until=lambda s: an.find_run(s, "step-2") is not None)
    calls: list[int] = []
    measured = measure_due(
        kube,
        st,
        kube.observe(namespace=NS, service=SERVICE, track_label="color"),
        kube.clock.now(),
        before_each=lambda: calls.append(len(scripted.calls)),
    )
    run = an.find_run(measured, "step-2")
    assert run is not None
    assert sum(r.count + r.error for r in run.results) == 2  # errors and pods, both due
    assert calls == [0, 1]  # before each one, not after


def test_an_inconclusive_pre_promotion_analysis_can_be_promoted_past(scripted: Scripted) -> None:
    scripted.script["errors"] = [UNSURE]
    kube, lease = start(bluegreen_spec(prePromotion=REF))  # auto-promote
    e = engine(kube, lease)
    paused = e.run(until=lambda st: st.phase is Phase.PAUSED)
    assert "`kprism promote` goes on without it" in paused.message
    assert bluegreen.promote_refusal(paused) is None  # even with auto-promote
    write_intent(kube, APP, Intent(action=Action.PROMOTE, release=paused.id))
    final = e.run()
    assert final.phase is Phase.SUCCEEDED
    run = an.find_run(final, "pre-promotion")
    assert run is not None and run.message == "skipped by promote"


def test_an_inconclusive_post_promotion_analysis_waits_for_resume_or_abort(
    scripted: Scripted,
) -> None:
    scripted.script["errors"] = [UNSURE]
    kube, lease = start(bluegreen_spec(postPromotion=REF))
    e = engine(kube, lease)
    paused = e.run(until=lambda st: st.phase is Phase.PAUSED)
    assert paused.step == bluegreen.DELAY
    assert "promote" not in paused.message  # nothing to promote after the switch
    assert bluegreen.promote_refusal(paused) is not None
    write_intent(kube, APP, Intent(action=Action.ABORT, release=paused.id))
    final = e.run()
    assert final.phase is Phase.ABORTED
    assert kube.sim.selector == {"app": "hello", "color": "blue"}


def test_history_keeps_each_runs_verdict(
    scripted: Scripted, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from kprism.cli.analysis import history_summary
    from kprism.cli.main import app

    scripted.script["errors"] = [OK, BAD]
    kube = fake(blue_app())
    with pytest.raises(ReleaseFailed):
        release(kube, canary({"setWeight": 50}, GATE, {"setWeight": 100}))
    entry = json.loads(kube.annotations[ANNOTATION_HISTORY])[-1]
    assert entry["analysis"] == [
        {
            "name": "step-2",
            "phase": "Failed",
            "message": entry["analysis"][0]["message"],
            "metrics": {"errors": "Failed", "pods": "Terminated"},
        }
    ]
    assert history_summary(entry) == "step-2 ✖"
    monkeypatch.setattr(ops, "connect", lambda **target: kube)
    result = CliRunner().invoke(app, ["history", SERVICE], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.stderr
    assert "ANALYSIS" in result.stdout and "step-2 ✖" in result.stdout


# -- shared templates: ConfigMaps in the namespace ---------------------------------------------


def shared(kube: FakeKube, *configmaps: dict[str, Any]) -> list[tuple[str, Any]]:
    asked: list[tuple[str, Any]] = []
    inner = kube.list_objects

    def list_objects(kind: str, namespace: str | None, labels: Any = None) -> list[dict[str, Any]]:
        if kind != "ConfigMap":
            return inner(kind, namespace, labels)
        if labels == {"kprism.dev/notifications": "true"}:
            return []  # kprism.notify's receivers: none here
        asked.append((kind, labels))
        return list(configmaps)

    kube.list_objects = list_objects  # type: ignore[method-assign]
    return asked


def configmap(name: str, text: str) -> dict[str, Any]:
    return {
        "metadata": {
            "name": name,
            "namespace": NS,
            "labels": {"kprism.dev/analysis-template": "true"},
        },
        "data": {"template.yaml": text},
    }


SHARED = """
args: [{name: max, value: "1"}]
metrics:
- name: errors
  interval: 10s
  count: 2
  successCondition: result < {{args.max}}
  provider: {scripted: {}}
"""


def test_a_template_shared_as_a_configmap_is_copied_into_the_release(scripted: Scripted) -> None:
    kube = fake(blue_app())
    asked = shared(kube, configmap("team-errors", SHARED), configmap("other", "not: [valid"))
    spec = ReleaseSpec(
        strategy=Strategy.CANARY,
        change=Change(images={"hello": "hello:2"}),
        canary=CanarySpec.model_validate(
            {
                "steps": [
                    {"setWeight": 50},
                    {"analysis": {"templates": [{"templateName": "team-errors"}]}},
                    {"setWeight": 100},
                ]
            }
        ),
    )
    final = release(kube, spec)
    assert final.phase is Phase.SUCCEEDED
    assert asked == [("ConfigMap", {"kprism.dev/analysis-template": "true"})]
    assert final.spec.canary is not None
    assert [t.name for t in final.spec.canary.analysis_templates] == ["team-errors"]
    run = an.find_run(final, "step-2")
    assert run is not None and run.result("errors").count == 2


def test_no_request_when_the_spec_defines_its_templates(scripted: Scripted) -> None:
    kube = fake(blue_app())
    asked = shared(kube)
    ops.plan_release(kube, APP, canary({"setWeight": 50}, GATE, {"setWeight": 100}))
    assert asked == []


@pytest.mark.parametrize(
    ("cm", "fragment"),
    [
        (configmap("t", "not: [valid"), "ConfigMap ns/t: template.yaml is not valid YAML"),
        (configmap("t", "- a list"), "ConfigMap ns/t: template.yaml must be a mapping"),
        (
            configmap("t", "name: other\nmetrics: [{name: m, provider: {pods: {}}}]"),
            "names the template 'other': a shared template is named by its ConfigMap",
        ),
        (
            configmap(
                "t", "metrics: [{name: m, successCondition: 'result <', provider: {pods: {}}}]"
            ),
            "ConfigMap ns/t: template.yaml: metrics[0].successCondition:",
        ),
        (
            {"metadata": {"name": "t", "namespace": NS}, "data": {}},
            "ConfigMap ns/t: no template.yaml key",
        ),
    ],
)
def test_a_broken_shared_template_is_refused_naming_its_configmap(
    scripted: Scripted, cm: dict[str, Any], fragment: str
) -> None:
    kube = fake(blue_app())
    shared(kube, cm)
    spec = canary(
        {"setWeight": 50}, {"analysis": {"templates": [{"templateName": "t"}]}}, {"setWeight": 100}
    )
    with pytest.raises(InvalidSpecError) as info:
        ops.start_release(kube, APP, spec)
    assert fragment in str(info.value)
    assert kube.patches == []


def test_a_template_found_nowhere_says_where_to_put_it(scripted: Scripted) -> None:
    kube = fake(blue_app())
    shared(kube)
    spec = canary(
        {"setWeight": 50}, {"analysis": {"templates": [{"templateName": "t"}]}}, {"setWeight": 100}
    )
    with pytest.raises(
        InvalidSpecError,
        match=r"share it as a ConfigMap t labelled kprism\.dev/analysis-template=true",
    ):
        ops.plan_release(kube, APP, spec)


def test_blue_green_uses_shared_templates_too(scripted: Scripted) -> None:
    kube = fake(blue_app())
    shared(kube, configmap("team-errors", SHARED))
    spec = ReleaseSpec(
        change=Change(images={"hello": "hello:2"}),
        auto_promote=True,
        scale_down_delay=5,
        analysis={"postPromotion": {"templates": [{"templateName": "team-errors"}]}},  # type: ignore[arg-type]
    )
    final = release(kube, spec)
    assert final.phase is Phase.SUCCEEDED
    assert an.find_run(final, "post-promotion").phase is RunPhase.SUCCESSFUL  # type: ignore[union-attr]
