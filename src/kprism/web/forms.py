"""Request bodies of the dashboard's API and their translation into :mod:`kprism.ops` calls.

Pure: nothing here talks to the cluster, so every refusal happens before anything
changes and is unit-tested without one. Bad input raises
:class:`kprism.errors.UsageError` with the same one-line messages the CLI prints;
:func:`http_status` maps the error tree onto HTTP status codes.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from kprism import ops
from kprism.errors import (
    ClusterError,
    ConflictError,
    ForbiddenError,
    KprismError,
    ReleaseFailed,
    UsageError,
)
from kprism.model.release import Action, Strategy
from kprism.model.steps import CanarySpec, canary_spec_from_data

#: Words that mean "pause until someone promotes" in the release form's pause field.
MANUAL_PAUSE = frozenset({"manual", "promote", "until promote", "indefinite", "∞"})


class Form(BaseModel):
    """A JSON request body: camelCase keys, unknown keys refused."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True
    )


class ReleaseForm(Form):
    image: str = ""  # one or more [CONTAINER=]IMAGE, separated by spaces or commas
    strategy: Strategy = Strategy.BLUEGREEN
    steps: str = ""  # canary weights, e.g. "10,25,50,100"
    pause: str = ""  # canary pause after each weight: "", a duration ("30s"), or "manual"
    auto_promote: bool = False
    preview: bool = False
    scale_down_delay: float = Field(default=30.0, ge=0)
    track: str = ""
    force: bool = False


class IntentForm(Form):
    reason: str = ""


class RollbackForm(Form):
    scale_down_delay: float = Field(default=30.0, ge=0)


class ScaleForm(Form):
    track: str
    replicas: int = Field(ge=0)


class CloneForm(Form):
    track: str
    image: str
    replicas: int = Field(default=1, ge=0)


class SplitForm(Form):
    weights: str  # "blue=80 green=20" (spaces or commas)


def split_words(text: str) -> list[str]:
    """``"a=1, b=2  c"`` → ``["a=1", "b=2", "c"]``: fields are separated by spaces or commas."""
    return [w for w in re.split(r"[\s,]+", text.strip()) if w]


def parse_images(text: str) -> list[tuple[str, str]]:
    images = [ops.parse_image_arg(word) for word in split_words(text)]
    if not images:
        raise UsageError("give an image: [CONTAINER=]IMAGE, e.g. registry.example/web:2.4.1")
    return images


def canary_steps(*, steps: str, pause: str = "", auto_promote: bool = False) -> dict[str, Any]:
    """The canary spec (JSON, aliases) for ``steps`` with ``pause`` after each weight but
    the last: no pause, a duration (``30s``, ``2m``) or ``manual`` (until promoted)."""
    if not steps.strip():
        raise UsageError("a canary needs steps, e.g. 10,25,50,100")
    how = pause.strip().lower()
    manual = how in MANUAL_PAUSE
    spec = CanarySpec.from_shorthand(
        steps=steps,
        pause=None if manual or not how else pause.strip(),
        auto_promote=auto_promote,
    )
    data: dict[str, Any] = spec.model_dump(mode="json", by_alias=True)
    if manual:
        weights = data["steps"]
        with_pauses: list[dict[str, Any]] = []
        for i, step in enumerate(weights):
            with_pauses.append(step)
            if i < len(weights) - 1:
                with_pauses.append({"pause": {}})
        data["steps"] = with_pauses
        data = canary_spec_from_data(data, source="canary steps").model_dump(
            mode="json", by_alias=True
        )
    return data


def release_args(form: ReleaseForm) -> ops.SpecArgs:
    """What the Release button asks for, as the arguments ``ops`` takes."""
    images = parse_images(form.image)
    canary = None
    if form.strategy == Strategy.CANARY:
        canary = canary_steps(steps=form.steps, pause=form.pause, auto_promote=form.auto_promote)
    elif form.steps.strip() or form.pause.strip():
        raise UsageError("steps and pause are for canary releases: choose the canary strategy")
    return ops.SpecArgs(
        images=images,
        strategy=form.strategy,
        preview=form.preview,
        auto_promote=form.auto_promote,
        scale_down_delay=form.scale_down_delay,
        track=form.track.strip() or None,
        canary=canary,
    )


def parse_weights(text: str) -> dict[str, int]:
    """``"blue=80 green=20"`` → ``{"blue": 80, "green": 20}`` (ops.split checks the rest)."""
    weights: dict[str, int] = {}
    for word in split_words(text):
        track, sep, value = word.partition("=")
        if not sep or not track or not value.strip().removesuffix("%").isdigit():
            raise UsageError(f"weight {word!r}: use TRACK=PERCENT, e.g. blue=80 green=20")
        if track in weights:
            raise UsageError(f"weight for track {track} given twice")
        weights[track] = int(value.strip().removesuffix("%"))
    if not weights:
        raise UsageError("give weights, e.g. blue=80 green=20")
    return weights


def parse_action(name: str) -> Action:
    try:
        return Action(name)
    except ValueError:
        known = ", ".join(a.value for a in Action)
        raise UsageError(f"unknown action {name!r}: use one of {known}") from None


def http_status(exc: KprismError) -> int:
    """The HTTP status for an error of the tree: bad input 400, forbidden 403, cluster
    unreachable 502, a conflict or a release that ended failed/aborted 409, else 500."""
    if isinstance(exc, UsageError):
        return 400
    if isinstance(exc, ForbiddenError):
        return 403
    if isinstance(exc, ClusterError):
        return 502
    if isinstance(exc, ConflictError | ReleaseFailed):
        return 409
    return 500


def validation_message(errors: list[Any]) -> str:
    """FastAPI's validation errors as one line: ``replicas: must be >= 0; track: required``."""
    parts = []
    for err in errors:
        loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path")]
        msg = str(err.get("msg", "invalid"))
        if err.get("type") == "json_invalid":
            msg = "the request body is not valid JSON"
        parts.append(f"{'.'.join(loc)}: {msg}" if loc else msg)
    return "; ".join(parts) or "invalid request"
