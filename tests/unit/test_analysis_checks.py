"""The analysis shorthand (--check-prom/--check-http/--max/--min) through ops.SpecArgs."""

from __future__ import annotations

from typing import Any

import pytest

from kprism import ops
from kprism.errors import InvalidSpecError, ReleaseFailed, UsageError
from kprism.model.analysis import AnalysisRef
from kprism.model.release import Strategy
from kprism.model.steps import Analysis, Pause, SetWeight
from kprism.ops.specs import SpecArgs
from kprism.plan import analysis as an
from kprism.plan.checks import TEMPLATE

QUERY = 'sum(rate(errors{track="{{track}}"}[1m])) / sum(rate(requests{track="{{track}}"}[1m]))'


def spec(**kw: Any) -> Any:
    return SpecArgs(images=[("hello", "hello:2")], **kw).to_spec()


def kinds(steps: Any) -> list[str]:
    return [type(s).__name__ for s in steps]


def test_check_prom_gates_every_step_but_the_last() -> None:
    s = spec(steps="25,50,100", check_prom=[QUERY], check_max=0.05)
    assert s.strategy is Strategy.CANARY
    assert s.canary is not None
    assert kinds(s.canary.steps) == ["SetWeight", "Analysis", "SetWeight", "Analysis", "SetWeight"]
    (tmpl,) = s.canary.analysis_templates
    assert tmpl.name == TEMPLATE
    (m,) = tmpl.metrics
    assert m.name == "prom"
    assert m.success_condition == "result[0] <= 0.05"
    assert (m.interval, m.count, m.initial_delay) == (10, 3, 10)
    assert m.provider == {"prometheus": {"query": QUERY}}
    gate = s.canary.steps[1]
    assert isinstance(gate, Analysis)
    assert gate.analysis == AnalysisRef.model_validate({"templates": [{"templateName": "checks"}]})
    # and it resolves: the variables are filled in when the run starts
    assert an.resolve(gate.analysis, s.canary.analysis_templates, where="w", gate=True)


def test_the_gate_comes_after_the_pause() -> None:
    s = spec(steps="10,100", pause="1m", check_http=["http://web/healthz"])
    assert s.canary is not None
    assert kinds(s.canary.steps) == ["SetWeight", "Pause", "Analysis", "SetWeight"]
    (m,) = s.canary.analysis_templates[0].metrics
    assert m.provider == {"http": {"url": "http://web/healthz"}}
    assert m.success_condition == ""


def test_several_checks_min_and_max_interval_count_and_address() -> None:
    s = spec(
        steps="50,100",
        check_prom=["a", "b"],
        check_http=["http://x/"],
        check_min=0.9,
        check_max=1.0,
        check_interval="30s",
        check_count=5,
        prometheus_url="http://127.0.0.1:9090",
    )
    assert s.canary is not None
    names = [m.name for m in s.canary.analysis_templates[0].metrics]
    assert names == ["prom-1", "prom-2", "http"]
    first = s.canary.analysis_templates[0].metrics[0]
    assert first.success_condition == "result[0] <= 1.0 and result[0] >= 0.9"
    assert first.provider["prometheus"]["address"] == "http://127.0.0.1:9090"
    assert (first.interval, first.count) == (30, 5)


def test_blue_green_checks_after_the_switch() -> None:
    s = spec(check_prom=[QUERY], check_max=0.01)
    assert s.strategy is Strategy.BLUEGREEN
    assert s.analysis is not None
    assert s.analysis.pre_promotion is None
    assert s.analysis.post_promotion is not None
    assert s.analysis.templates[0].name == TEMPLATE


@pytest.mark.parametrize(
    ("kw", "fragment"),
    [
        ({"check_prom": ["q"]}, "--check-prom needs a bound: --max 0.01"),
        ({"check_max": 0.1}, "--max/--min go with --check-prom QUERY"),
        ({"check_prom": ["q"], "check_max": float("nan")}, "--max nan: must be a finite number"),
        ({"check_http": ["u"], "check_interval": "soon"}, "the --check options:"),
        ({"check_http": ["u"], "check_count": 0}, "the --check options:"),
    ],
)
def test_bad_shorthand_is_refused(kw: dict[str, Any], fragment: str) -> None:
    with pytest.raises(UsageError) as info:
        spec(steps="50,100", **kw)
    assert fragment in str(info.value)
    assert "\n" not in str(info.value)


def test_a_spec_file_with_its_own_checks_template_is_refused() -> None:
    yaml_text = (
        "analysisTemplates:\n- name: checks\n  metrics:\n  - name: m\n    provider: {pods: {}}\n"
        "steps:\n- setWeight: 100\n"
    )
    with pytest.raises(InvalidSpecError, match="defines a template 'checks' already"):
        spec(canary_yaml=yaml_text, check_http=["http://x/"])


def test_the_http_url_is_checked_before_a_release() -> None:
    from tests.unit.bgsim import blue_app
    from tests.unit.fakekube import NS, SERVICE, fake

    with pytest.raises(InvalidSpecError, match="is not an http:// or https:// URL"):
        ops.plan_release(
            fake(blue_app()),
            ops.App(name=SERVICE, namespace=NS),
            spec(steps="50,100", check_http=["web/healthz"]),
        )
    assert ReleaseFailed.exit_code == 1


def test_weights_and_pauses_are_kept() -> None:
    s = spec(steps="10,50,100", pause="30s", check_http=["http://x/"])
    assert s.canary is not None
    weights = [st.weight for st in s.canary.steps if isinstance(st, SetWeight)]
    pauses = [st.duration for st in s.canary.steps if isinstance(st, Pause)]
    assert (weights, pauses) == ([10, 50, 100], [30, 30])


# -- the CLI flags ------------------------------------------------------------------------


def test_cli_plan_shows_the_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from kprism.cli.main import app
    from tests.unit.bgsim import blue_app
    from tests.unit.fakekube import SERVICE, fake

    k = fake(blue_app())
    monkeypatch.setattr(ops, "connect", lambda **target: k)
    result = CliRunner().invoke(
        app,
        [
            "plan",
            SERVICE,
            "-i",
            "hello=hello:2",
            "--steps",
            "25,100",
            "--check-prom",
            'sum(rate(errors{track="{{track}}"}[1m]))',
            "--max",
            "0.05",
            "--prometheus",
            "http://127.0.0.1:9090",
        ],
    )
    assert result.exit_code == 0, result.stderr
    assert (
        "step 2: analysis gate at 1 green pods (passes → next step, fails → abort, "
        "inconclusive → pause): prom: prometheus query='sum(rate(errors{track=\"green\"}[1m]))' "
        "3× every 10s after 10s, pass when `result[0] <= 0.05`"
    ) in result.stdout
    assert k.patches == []  # a plan changes nothing


def test_cli_check_prom_without_a_bound_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from kprism.cli.main import app

    result = CliRunner().invoke(app, ["release", "web", "-i", "web=web:2", "--check-prom", "q"])
    assert result.exit_code == 2
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert lines == [
        "kprism: error: --check-prom needs a bound: --max 0.01 (the query's first value must "
        "stay at most this) and/or --min"
    ]


# -- a blue-green release file (-f with prePromotion/postPromotion, no steps) -----------------

BLUEGREEN_FILE = """\
analysisTemplates:
- name: smoke
  args: [{name: path}]
  metrics:
  - name: smoke
    provider: {http: {url: "http://127.0.0.1:9/{{service}}{{args.path}}"}}
prePromotion:
  templates: [{templateName: smoke}]
  args: [{name: path, value: /healthz}]
postPromotion:
  templates: [{templateName: smoke}]
  args: [{name: path, value: /}]
notify: [{url: "http://127.0.0.1:9/hook", events: [failed]}]
"""


def test_a_blue_green_release_file_gives_pre_and_post_promotion_analysis() -> None:
    s = spec(canary_yaml=BLUEGREEN_FILE, canary_source="bg.yaml", preview=True)
    assert s.strategy is Strategy.BLUEGREEN and s.canary is None
    assert s.analysis is not None
    assert [t.name for t in s.analysis.templates] == ["smoke"]
    assert s.analysis.pre_promotion is not None and s.analysis.post_promotion is not None
    assert [a.value for a in s.analysis.pre_promotion.args] == ["/healthz"]
    assert s.notify == ({"url": "http://127.0.0.1:9/hook", "events": ["failed"]},)
    from kprism.model.release import spec_from_json, spec_to_json

    assert spec_from_json(spec_to_json(s)).analysis == s.analysis  # kept in the status


def test_a_blue_green_release_file_sets_preview_auto_promote_and_the_scale_down_delay() -> None:
    text = "preview: true\nautoPromote: true\nscaleDownDelay: 2m\n" + BLUEGREEN_FILE
    s = spec(canary_yaml=text, canary_source="bg.yaml")
    assert (s.preview, s.auto_promote, s.scale_down_delay) == (True, True, 120.0)
    # a flag given on the command line wins over the file; 0 means at once
    assert spec(canary_yaml=text, scale_down_delay=5.0).scale_down_delay == 5.0
    assert spec(canary_yaml="scaleDownDelay: 0\n").scale_down_delay == 0.0
    # without the file's setting, the default
    bare = spec(canary_yaml=BLUEGREEN_FILE)
    assert (bare.preview, bare.auto_promote, bare.scale_down_delay) == (False, False, 30.0)


def test_a_blue_green_release_files_settings_are_checked_with_their_line() -> None:
    with pytest.raises(InvalidSpecError) as info:
        spec(canary_yaml="scaleDownDelay: soon\npreview: yes please\n", canary_source="bg.yaml")
    assert "bg.yaml:1: scaleDownDelay: 'soon' is not a duration" in str(info.value)
    assert "bg.yaml:2: preview:" in str(info.value)


@pytest.mark.parametrize(
    ("kw", "error"),
    [
        (
            {"canary_yaml": "prePromotion: {templates: []}\nsteps_: 1\n"},
            "bg.yaml:1: prePromotion.templates: must not be empty; bg.yaml:2: steps_: unknown field",
        ),
        (
            {"canary_yaml": BLUEGREEN_FILE, "check_http": ["http://127.0.0.1:9/"]},
            "--check-* and bg.yaml's prePromotion/postPromotion: put the checks in the file",
        ),
        (
            {"canary_yaml": BLUEGREEN_FILE, "strategy": Strategy.CANARY},
            "bg.yaml is a blue-green release file (prePromotion/postPromotion): drop --strategy",
        ),
    ],
)
def test_a_bad_blue_green_release_file_is_refused_naming_it(kw: dict[str, Any], error: str) -> None:
    with pytest.raises((UsageError, InvalidSpecError)) as info:
        spec(canary_source="bg.yaml", **kw)
    assert error in str(info.value)
    assert info.value.exit_code == 2


def test_a_blue_green_release_files_condition_is_refused_with_its_line() -> None:
    text = BLUEGREEN_FILE.replace(
        "    provider:", "    successCondition: 'result <'\n    provider:"
    )
    with pytest.raises(InvalidSpecError) as info:
        spec(canary_yaml=text, canary_source="bg.yaml")
    assert str(info.value) == (
        "bg.yaml:6: analysisTemplates[0].metrics[0].successCondition: 'result <' does not "
        "parse: at column 9: expected a value, found the end"
    )
