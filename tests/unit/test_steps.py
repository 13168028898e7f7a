"""Canary step-list validation: every error names the field and, from YAML, the line."""

from __future__ import annotations

import textwrap

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kprism.errors import InvalidSpecError, UsageError
from kprism.model.steps import (
    Analysis,
    CanarySpec,
    Pause,
    SetCandidateScale,
    SetWeight,
    canary_spec_from_data,
    format_duration,
    load_canary_spec,
    max_surge_pods,
    parse_duration,
)


def load(text: str, *, at: tuple[str | int, ...] = ()) -> CanarySpec:
    return load_canary_spec(textwrap.dedent(text).lstrip("\n"), source="release.yaml", at=at)


def error_of(text: str, *, at: tuple[str | int, ...] = ()) -> str:
    with pytest.raises(InvalidSpecError) as info:
        load(text, at=at)
    assert info.value.exit_code == 2
    assert isinstance(info.value, UsageError)
    assert "\n" not in str(info.value)
    return str(info.value)


GOOD = """
    maxSurge: 2
    steps:
      - setWeight: 10
      - pause: {duration: 2m}
      - analysis:
          templates: [{templateName: success-rate}]
          args: [{name: service, value: web}]
      - setCandidateScale: {replicas: 20%}
      - setWeight: 50
      - pause: {}
      - setWeight: 100
    """


def test_a_full_spec_loads() -> None:
    spec = load(GOOD)
    assert spec.max_surge == 2
    assert spec.weights == (10, 50, 100)
    assert [type(s) for s in spec.steps] == [
        SetWeight,
        Pause,
        Analysis,
        SetCandidateScale,
        SetWeight,
        Pause,
        SetWeight,
    ]
    pause = spec.steps[1]
    assert isinstance(pause, Pause)
    assert pause.duration == 120
    last_pause = spec.steps[5]
    assert isinstance(last_pause, Pause)
    assert last_pause.duration is None
    analysis = spec.steps[2]
    assert isinstance(analysis, Analysis)
    assert analysis.analysis.templates[0].template_name == "success-rate"
    scale = spec.steps[3]
    assert isinstance(scale, SetCandidateScale)
    assert scale.scale.replicas == "20%"
    assert not spec.auto_promote
    assert not spec.allow_decreasing_weights


def test_round_trip_through_json() -> None:
    spec = load(GOOD)
    data = spec.model_dump(mode="json", by_alias=True)
    assert data["steps"][1] == {"pause": {"duration": "2m"}}
    assert data["steps"][5] == {"pause": {"duration": None}}
    assert canary_spec_from_data(data) == spec


def test_defaults() -> None:
    spec = load("steps: [{setWeight: 100}]")
    assert spec.max_surge == "25%"
    assert spec.max_surge_pods(total=10) == 3
    assert spec.max_surge_pods(total=1) == 1


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            """
            steps:
              - setWeight: 10
              - pause: {duration: 1m}
              - setWeight: 150
              - setWeight: 100
            """,
            "release.yaml:4: steps[2].setWeight: must be between 0 and 100",
        ),
        (
            """
            steps:
              - setWeight: 10
              - setWeight: -5
              - setWeight: 100
            """,
            "release.yaml:3: steps[1].setWeight: must be between 0 and 100",
        ),
        (
            """
            steps:
              - setWeight: 10
              - setWieght: 20
              - setWeight: 100
            """,
            "release.yaml:3: steps[1]: a step needs exactly one of setWeight, pause, analysis, "
            "setCandidateScale",
        ),
        (
            """
            steps:
              - setWeight: 10
                pause: {}
              - setWeight: 100
            """,
            "release.yaml:2: steps[0]: a step needs exactly one of",
        ),
        (
            """
            steps:
              - setWeight: 10
                why: because
              - setWeight: 100
            """,
            "release.yaml:3: steps[0].why: unknown field",
        ),
        (
            """
            steps:
              - setWeight: "10"
              - setWeight: 100
            """,
            "release.yaml:2: steps[0].setWeight: must be a whole number",
        ),
        (
            """
            steps:
              - setWeight: 12.5
              - setWeight: 100
            """,
            "release.yaml:2: steps[0].setWeight: must be a whole number",
        ),
        (
            """
            steps:
              - setWeight: 10
              - pause:
                  duration: 2 minutes
              - setWeight: 100
            """,
            "release.yaml:4: steps[1].pause.duration: '2 minutes' is not a duration",
        ),
        (
            """
            steps:
              - analysis:
                  templates: []
              - setWeight: 100
            """,
            "release.yaml:3: steps[0].analysis.templates: must not be empty",
        ),
        (
            """
            steps:
              - analysis:
                  args: []
              - setWeight: 100
            """,
            "release.yaml:2: steps[0].analysis.templates: required",
        ),
        (
            """
            steps:
              - setCandidateScale: {replicas: lots}
              - setWeight: 100
            """,
            "release.yaml:2: steps[0].setCandidateScale.replicas: must be a pod count or a "
            "percentage like 25%",
        ),
        ("steps: []\n", "release.yaml:1: steps: must not be empty"),
        ("maxSurge: 1\n", "release.yaml:1: steps: required"),
        (
            """
            autoPromote: "yes"
            steps: [{setWeight: 100}]
            """,
            "release.yaml:1: autoPromote: must be true or false",
        ),
        (
            """
            steps: [{setWeight: 100}]
            strategy: canary
            """,
            "release.yaml:2: strategy: unknown field",
        ),
    ],
)
def test_structural_errors_name_line_and_field(text: str, expected: str) -> None:
    assert error_of(text).startswith(expected)


@pytest.mark.parametrize(
    ("surge", "message"),
    [
        ("0", "must be at least 1"),
        ('"0%"', "must be between 1% and 100%"),
        ('"150%"', "must be between 1% and 100%"),
        ("a lot", "must be a pod count or a percentage"),
        ("true", "must be a pod count or a percentage"),
    ],
)
def test_max_surge_errors(surge: str, message: str) -> None:
    text = f"steps: [{{setWeight: 100}}]\nmaxSurge: {surge}\n"
    assert error_of(text).startswith(f"release.yaml:2: maxSurge: {message}")


def test_decreasing_weights_need_the_flag() -> None:
    text = """
        steps:
          - setWeight: 50
          - setWeight: 25
          - setWeight: 100
        """
    message = error_of(text)
    assert message.startswith(
        "release.yaml:3: steps[1].setWeight: must be greater than the previous"
    )
    assert "allowDecreasingWeights" in message
    assert error_of(text.replace("25", "50")).startswith("release.yaml:3: steps[1].setWeight")
    spec = load("allowDecreasingWeights: true\n" + textwrap.dedent(text).lstrip("\n"))
    assert spec.weights == (50, 25, 100)


def test_steps_must_reach_100() -> None:
    message = error_of(
        """
        steps:
          - setWeight: 10
          - pause: {duration: 30s}
          - setWeight: 50
          - pause: {}
        """
    )
    assert message == (
        "release.yaml:4: steps[2].setWeight: the last setWeight is 50, not 100: "
        "end the steps with setWeight: 100"
    )
    message = error_of("steps:\n  - pause: {duration: 1m}\n")
    assert (
        message
        == "release.yaml:1: steps: no setWeight step: the steps must end with setWeight: 100"
    )


def test_only_pause_and_analysis_follow_the_final_weight() -> None:
    load(
        "steps:\n- setWeight: 100\n- pause: {duration: 5m}\n"
        "- analysis: {templates: [{templateName: t}]}\n"
    )
    message = error_of("steps:\n- setWeight: 100\n- setCandidateScale: {replicas: 1}\n")
    assert message.startswith("release.yaml:3: steps[1].setCandidateScale: comes after the final")


def test_indefinite_pause_is_an_error_with_auto_promote() -> None:
    text = """
        autoPromote: true
        steps:
          - setWeight: 10
          - pause: {duration: 1m}
          - setWeight: 50
          - pause: {}
          - setWeight: 100
        """
    message = error_of(text)
    assert message.startswith("release.yaml:6: steps[3].pause.duration: a pause without duration")
    assert "autoPromote" in message
    assert load(text.replace("autoPromote: true", "autoPromote: false")).weights == (10, 50, 100)


def test_every_problem_is_reported_on_one_line() -> None:
    message = error_of(
        """
        steps:
          - setWeight: 101
          - setWeight: 10
            extra: 1
          - bogus: {}
        """
    )
    assert message.split("; ") == [
        "release.yaml:2: steps[0].setWeight: must be between 0 and 100",
        "release.yaml:4: steps[1].extra: unknown field",
        "release.yaml:5: steps[2]: a step needs exactly one of setWeight, pause, analysis, "
        "setCandidateScale",
    ]


def test_nested_spec_reports_the_full_path() -> None:
    text = """
        app: web
        spec:
          canary:
            maxSurge: 1
            steps:
              - setWeight: 10
              - setWeight: 200
        """
    message = error_of(text, at=("spec", "canary"))
    assert message.startswith("release.yaml:7: spec.canary.steps[1].setWeight: must be between")
    assert error_of(text, at=("spec", "bluegreen")) == "release.yaml:2: spec.bluegreen: required"
    assert (
        error_of("app: web\nspec: 3\n", at=("spec",)) == "release.yaml:2: spec: must be a mapping"
    )


def test_yaml_syntax_and_shape_errors() -> None:
    assert error_of("steps:\n  - setWeight: [10\n").startswith("release.yaml:3: not valid YAML")
    assert error_of("steps: [{setWeight: 100}]\nsteps: []\n").startswith(
        "release.yaml:2: not valid YAML"
    )
    assert error_of("- setWeight: 10\n") == "release.yaml:1: must be a mapping"
    assert error_of("") == "release.yaml:1: must be a mapping"


def test_data_without_lines() -> None:
    with pytest.raises(InvalidSpecError) as info:
        canary_spec_from_data({"steps": [{"setWeight": 10}, {"setWeight": 5}]}, source="annotation")
    assert str(info.value).startswith("annotation: steps[1].setWeight: must be greater")


# -- shorthand ---------------------------------------------------------------------------------


def test_shorthand_inserts_a_pause_after_each_non_final_weight() -> None:
    spec = CanarySpec.from_shorthand(steps="10,25,50,100", pause="2m")
    kinds = [(s.kind, getattr(s, "weight", None), getattr(s, "duration", None)) for s in spec.steps]
    assert kinds == [
        ("setWeight", 10, None),
        ("pause", None, 120),
        ("setWeight", 25, None),
        ("pause", None, 120),
        ("setWeight", 50, None),
        ("pause", None, 120),
        ("setWeight", 100, None),
    ]
    assert spec == load(
        """
        steps:
          - setWeight: 10
          - pause: {duration: 120}
          - setWeight: 25
          - pause: {duration: 2m}
          - setWeight: 50
          - pause: {duration: 120s}
          - setWeight: 100
        """
    )


def test_shorthand_without_pause_and_with_options() -> None:
    spec = CanarySpec.from_shorthand(steps=" 10%, 50 ,100", max_surge="50%", auto_promote=True)
    assert [type(s) for s in spec.steps] == [SetWeight, SetWeight, SetWeight]
    assert spec.weights == (10, 50, 100)
    assert spec.max_surge == "50%"
    assert spec.auto_promote


@pytest.mark.parametrize(
    ("steps", "pause", "surge", "expected"),
    [
        ("10,25,50", None, "25%", "--steps 10,25,50: 50: the last setWeight is 50, not 100"),
        ("10,,100", None, "25%", "--steps 10,,100: '' is not a whole number 0..100"),
        ("10,x,100", None, "25%", "--steps 10,x,100: 'x' is not a whole number 0..100"),
        ("10,-5,100", None, "25%", "--steps 10,-5,100: '-5' is not a whole number 0..100"),
        ("10,150,100", None, "25%", "--steps 10,150,100: 150: must be between 0 and 100"),
        ("50,25,100", None, "25%", "--steps 50,25,100: 25: must be greater than the previous"),
        ("10,100", "soon", "25%", "--pause: 'soon' is not a duration"),
        ("10,100", "0s", "25%", "--pause: duration '0s' must be positive"),
        ("10,100", None, "0%", "--max-surge 0%: must be between 1% and 100%"),
    ],
)
def test_shorthand_errors(steps: str, pause: str | None, surge: str, expected: str) -> None:
    with pytest.raises(InvalidSpecError) as info:
        CanarySpec.from_shorthand(steps=steps, pause=pause, max_surge=surge)
    assert str(info.value).startswith(expected)


# -- durations and surge ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30),
        ("2m", 120),
        ("1h30m", 5400),
        ("1h", 3600),
        ("1m30s", 90),
        ("1h0m5s", 3605),
        ("90", 90),
        (" 45s ", 45),
        (15, 15),
    ],
)
def test_parse_duration(text: str | int, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    "text", ["", "s", "1.5m", "30m1h", "2 m", "-5", "1d", "0", "0m", 0, -3, True]
)
def test_parse_duration_rejects(text: str | int) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


@given(st.integers(1, 10 * 24 * 3600))
def test_format_duration_round_trips(seconds: int) -> None:
    text = format_duration(seconds)
    assert parse_duration(text) == seconds
    assert text[-1] in "hms"


@pytest.mark.parametrize(
    ("value", "total", "pods"),
    [
        ("25%", 10, 3),
        ("25%", 4, 1),
        ("25%", 1, 1),
        ("25%", 0, 1),
        ("100%", 7, 7),
        (2, 10, 2),
        ("1%", 1000, 10),
    ],
)
def test_max_surge_pods(value: int | str, total: int, pods: int) -> None:
    assert max_surge_pods(value, total=total) == pods
