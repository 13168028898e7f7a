"""The dashboard's request parsing, without a cluster: what each form turns into, and the
one-line refusals (the same messages the CLI prints) for bad input."""

from __future__ import annotations

import math
from typing import Any

import pytest
from pydantic import ValidationError

from kprism import ops
from kprism.errors import (
    ClusterError,
    ConflictError,
    ForbiddenError,
    InvalidSpecError,
    KprismError,
    LockedError,
    NotFoundError,
    ReleaseFailed,
    TimeoutError_,
    UsageError,
)
from kprism.model.release import MAX_SECONDS, Action, Strategy
from kprism.model.steps import CanarySpec, Pause, SetWeight
from kprism.plan.validate import parse_image_arg
from kprism.web.forms import (
    CloneForm,
    ReleaseForm,
    RollbackForm,
    ScaleForm,
    http_status,
    parse_action,
    parse_images,
    parse_weights,
    release_args,
    split_words,
    validation_message,
)


def test_bluegreen_form_becomes_the_cli_spec() -> None:
    form = ReleaseForm.model_validate(
        {
            "image": "registry.example/hello:2",
            "autoPromote": True,
            "preview": True,
            "scaleDownDelay": 5,
            "track": " red ",
        }
    )
    spec = release_args(form).to_spec()
    assert spec.strategy == Strategy.BLUEGREEN
    assert dict(spec.change.images) == {"": "registry.example/hello:2"}
    assert (spec.auto_promote, spec.preview, spec.scale_down_delay) == (True, True, 5.0)
    assert spec.track == "red"
    assert spec.canary is None


def test_several_images_by_container() -> None:
    assert parse_images(" web=registry.example/web:2,  sidecar=registry.example/proxy:1 ") == [
        ("web", "registry.example/web:2"),
        ("sidecar", "registry.example/proxy:1"),
    ]
    assert split_words("a, b  c,,") == ["a", "b", "c"]


def test_bad_image_is_refused_with_the_cli_message() -> None:
    bad = "registry.example/Hello:2"
    with pytest.raises(UsageError) as cli:
        parse_image_arg(bad)
    with pytest.raises(UsageError) as web:
        release_args(ReleaseForm(image=bad))
    assert str(web.value) == str(cli.value)
    assert "\n" not in str(web.value)


def test_no_image_is_refused() -> None:
    with pytest.raises(UsageError, match="give an image"):
        release_args(ReleaseForm(image="  "))


def plan(spec: CanarySpec | None) -> list[tuple[str, int | None]]:
    """A canary spec as (kind, value) pairs: weight in percent, pause in seconds (None:
    until promoted), as the engine reads it."""
    assert spec is not None
    out: list[tuple[str, int | None]] = []
    for step in spec.steps:
        if isinstance(step, SetWeight):
            out.append(("weight", step.weight))
        elif isinstance(step, Pause):
            out.append(("pause", step.duration))
    return out


def test_canary_with_manual_pause_between_weights() -> None:
    spec = release_args(
        ReleaseForm(image="app:2", strategy=Strategy.CANARY, steps="50, 100", pause="manual")
    ).to_spec()
    assert spec.strategy == Strategy.CANARY
    assert plan(spec.canary) == [("weight", 50), ("pause", None), ("weight", 100)]
    assert spec.canary is not None and spec.canary.auto_promote is False


@pytest.mark.parametrize(
    ("pause", "steps"),
    [
        ("", [("weight", 10), ("weight", 100)]),
        ("30s", [("weight", 10), ("pause", 30), ("weight", 100)]),
        ("2m", [("weight", 10), ("pause", 120), ("weight", 100)]),
        ("Until Promote", [("weight", 10), ("pause", None), ("weight", 100)]),
    ],
)
def test_canary_pause_forms(pause: str, steps: list[tuple[str, int | None]]) -> None:
    form = ReleaseForm(image="app:2", strategy=Strategy.CANARY, steps="10,100", pause=pause)
    assert plan(release_args(form).to_spec().canary) == steps


def test_the_canary_is_the_one_the_cli_gets_for_the_same_input() -> None:
    """One builder: the form's options give the spec ``ops.SpecArgs`` gives the CLI."""
    form = ReleaseForm(
        image="app:2", strategy=Strategy.CANARY, steps="10,50,100", pause="2m", autoPromote=True
    )
    cli = ops.SpecArgs(
        images=[("", "app:2")], steps="10,50,100", pause="2m", auto_promote=True
    ).to_spec()
    assert release_args(form).to_spec() == cli


def test_a_pause_is_for_a_duration_or_until_promoted() -> None:
    with pytest.raises(UsageError, match="pause for a duration or until promoted, not both"):
        ops.SpecArgs(steps="10,100", pause="30s", pause_until_promote=True).to_spec()


def test_canary_manual_pause_with_auto_promote_is_refused() -> None:
    form = ReleaseForm(
        image="app:2", strategy=Strategy.CANARY, steps="50,100", pause="manual", autoPromote=True
    )
    with pytest.raises(InvalidSpecError, match="never comes with autoPromote") as err:
        release_args(form).to_spec()
    assert "\n" not in str(err.value).strip()


@pytest.mark.parametrize(
    ("form", "message"),
    [
        (ReleaseForm(image="app:2", strategy=Strategy.CANARY), "a canary needs steps"),
        (ReleaseForm(image="app:2", strategy=Strategy.CANARY, steps="10,x"), "'x' is not a whole"),
        (ReleaseForm(image="app:2", strategy=Strategy.CANARY, steps="120"), "between 0 and 100"),
        (ReleaseForm(image="app:2", steps="10,100"), "steps and pause are for canary"),
        (
            ReleaseForm(image="app:2", strategy=Strategy.CANARY, steps="10,100", pause="soon"),
            "--pause",
        ),
    ],
)
def test_bad_canary_input(form: ReleaseForm, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        release_args(form).to_spec()


@pytest.mark.parametrize(
    ("form", "body", "message"),
    [
        (ReleaseForm, {"scaleDownDelay": math.nan}, "finite number"),
        (ReleaseForm, {"scaleDownDelay": math.inf}, "finite number"),
        (ReleaseForm, {"scaleDownDelay": -math.inf}, "finite number"),
        (ReleaseForm, {"scaleDownDelay": MAX_SECONDS + 1}, f"less than or equal to {MAX_SECONDS}"),
        (RollbackForm, {"scaleDownDelay": math.nan}, "finite number"),
        (RollbackForm, {"scaleDownDelay": 1e300}, f"less than or equal to {MAX_SECONDS}"),
        (ScaleForm, {"track": "b", "replicas": 2**31}, f"less than or equal to {2**31 - 1}"),
        (ScaleForm, {"track": "b", "replicas": math.inf}, "finite number"),
        (CloneForm, {"track": "r", "image": "a:1", "replicas": 2**40}, "less than or equal"),
    ],
)
def test_non_finite_and_out_of_range_numbers_are_refused(
    form: type[ReleaseForm | RollbackForm | ScaleForm | CloneForm],
    body: dict[str, Any],
    message: str,
) -> None:
    with pytest.raises(ValidationError, match=message):
        form.model_validate({"image": "app:2", **body} if form is ReleaseForm else body)


def test_the_edges_of_the_ranges_are_taken() -> None:
    assert ReleaseForm.model_validate({"scaleDownDelay": MAX_SECONDS}).scale_down_delay == (
        MAX_SECONDS
    )
    assert RollbackForm.model_validate({"scaleDownDelay": 0}).scale_down_delay == 0
    assert ScaleForm.model_validate({"track": "b", "replicas": 2**31 - 1}).replicas == 2**31 - 1


def test_unknown_fields_and_negative_numbers_are_refused() -> None:
    with pytest.raises(ValidationError):
        ReleaseForm.model_validate({"image": "app:2", "imgae": "typo"})
    with pytest.raises(ValidationError):
        ReleaseForm.model_validate({"image": "app:2", "scaleDownDelay": -1})
    with pytest.raises(ValidationError):
        ScaleForm.model_validate({"track": "blue", "replicas": -1})


def test_weights() -> None:
    assert parse_weights("blue=80 green=15%, red=5") == {"blue": 80, "green": 15, "red": 5}
    for bad, message in [
        ("", "give weights"),
        ("blue", "use TRACK=PERCENT"),
        ("blue=x", "use TRACK=PERCENT"),
        ("=5", "use TRACK=PERCENT"),
        ("blue=50 blue=50", "given twice"),
        ("blue=-5 green=105", "use TRACK=PERCENT"),
        ("blue=101", "must be between 0 and 100"),
        ("blue=80 green=10", "must sum to 100"),
    ]:
        with pytest.raises(UsageError, match=message) as web:
            parse_weights(bad)
        if bad:  # the CLI's parser gives the same answer for the same words
            with pytest.raises(UsageError) as cli:
                ops.parse_weights(bad.replace(",", " ").split())
            assert str(web.value) == str(cli.value)


def test_actions() -> None:
    assert parse_action("promote-full") == Action.PROMOTE_FULL
    with pytest.raises(UsageError, match="unknown action 'bogus': use one of promote, "):
        parse_action("bogus")


@pytest.mark.parametrize(
    ("exc", "status"),
    [
        (UsageError("x"), 400),
        (NotFoundError("x"), 400),
        (LockedError("x"), 400),
        (InvalidSpecError("x"), 400),
        (ForbiddenError("x"), 403),
        (ClusterError("x"), 502),
        (ConflictError("x"), 409),
        (ReleaseFailed("x"), 409),
        (TimeoutError_("x"), 500),
        (KprismError("x"), 500),
    ],
)
def test_http_status_follows_the_error_tree(exc: KprismError, status: int) -> None:
    assert http_status(exc) == status


def test_validation_message_is_one_line() -> None:
    errors = [
        {"loc": ("body", "replicas"), "msg": "Input should be greater than or equal to 0"},
        {"loc": ("body", "track"), "msg": "Field required"},
        {"loc": ("body",), "msg": "JSON decode error", "type": "json_invalid"},
    ]
    assert validation_message(errors) == (
        "replicas: Input should be greater than or equal to 0; track: Field required; "
        "the request body is not valid JSON"
    )
    assert validation_message([]) == "invalid request"
