"""The dashboard's request parsing, without a cluster: what each form turns into, and the
one-line refusals (the same messages the CLI prints) for bad input."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

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
from kprism.model.release import Action, Strategy
from kprism.model.steps import Pause, SetWeight, canary_spec_from_data
from kprism.plan.validate import parse_image_arg
from kprism.web.forms import (
    ReleaseForm,
    ScaleForm,
    canary_steps,
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


def plan(data: dict[str, Any]) -> list[tuple[str, int | None]]:
    """A canary spec as (kind, value) pairs: weight in percent, pause in seconds (None:
    until promoted), read back through the model the engine uses."""
    out: list[tuple[str, int | None]] = []
    for step in canary_spec_from_data(data).steps:
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
    assert spec.canary is not None
    assert plan(spec.canary.model_dump(mode="json", by_alias=True)) == [
        ("weight", 50),
        ("pause", None),
        ("weight", 100),
    ]
    assert spec.canary.auto_promote is False


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
    assert plan(canary_steps(steps="10,100", pause=pause)) == steps


def test_canary_manual_pause_with_auto_promote_is_refused() -> None:
    with pytest.raises(InvalidSpecError) as err:
        canary_steps(steps="50,100", pause="manual", auto_promote=True)
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
        release_args(form)


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
    ]:
        with pytest.raises(UsageError, match=message):
            parse_weights(bad)


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
