"""Request bodies of the dashboard's API and their translation into :mod:`kprism.ops` calls.

Pure: nothing here talks to the cluster, so every refusal happens before anything
changes and is unit-tested without one. A release spec is built by the one builder the
CLI uses too (:class:`kprism.ops.SpecArgs`), weights are parsed by ``ops.parse_weights``:
bad input raises :class:`kprism.errors.UsageError` with the same one-line messages the
CLI prints. Numbers must be finite and in range (the bounds ``ops`` and the release spec
enforce), refused with the JSON field's name. :func:`http_status` maps the error tree
onto HTTP status codes.
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
from kprism.model.release import (
    DEFAULT_FAIL_FAST_AFTER,
    MAX_SECONDS,
    Action,
    Strategy,
    fail_fast_seconds,
)
from kprism.model.routing import DEFAULT_ROUTER

#: Words that mean "pause until someone promotes" in the release form's pause field.
MANUAL_PAUSE = frozenset({"manual", "promote", "until promote", "indefinite", "∞"})


class Form(BaseModel):
    """A JSON request body: camelCase keys, unknown keys refused."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True
    )


def seconds(default: float) -> Any:
    """A delay in seconds: finite, from 0 to the longest a release may ask for."""
    return Field(default=default, ge=0, le=MAX_SECONDS, allow_inf_nan=False)


def replicas(default: int | None = None) -> Any:
    """A replica count: 0 to what a Deployment takes (an int32)."""
    if default is None:
        return Field(ge=0, le=ops.MAX_REPLICAS)
    return Field(default=default, ge=0, le=ops.MAX_REPLICAS)


class ReleaseForm(Form):
    image: str = ""  # one or more [CONTAINER=]IMAGE, separated by spaces or commas
    strategy: Strategy = Strategy.BLUEGREEN
    steps: str = ""  # canary weights, e.g. "10,25,50,100"
    pause: str = ""  # canary pause after each weight: "", a duration ("30s"), or "manual"
    auto_promote: bool = False
    preview: bool = False
    scale_down_delay: float = seconds(30.0)
    #: a new pod stuck this long (ImagePullBackOff ...) fails the release: "30s", "2m",
    #: "0"/"never" (off); "" for the default
    fail_fast_after: str = ""
    track: str = ""
    force: bool = False
    #: pod-template changes besides images: [CONTAINER:]NAME=VALUE per line, a YAML patch
    env: str = ""
    patch: str = ""
    #: canary traffic router (replicas, gateway, nginx) and the HTTPRoute/Ingress it uses
    router: str = ""
    route: str = ""
    max_surge: str = ""  # canary: pods or a percentage of stable ("1", "25%")
    notify: str = ""  # the release's own webhook receivers: URLs, spaces or lines apart


class IntentForm(Form):
    reason: str = ""


class RollbackForm(Form):
    scale_down_delay: float = seconds(30.0)
    to: str = ""  # an earlier release of the history (default: the previous track)


class ScaleForm(Form):
    track: str
    replicas: int = replicas()


class CloneForm(Form):
    track: str
    image: str
    replicas: int = replicas(1)


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


def release_args(form: ReleaseForm) -> ops.SpecArgs:
    """What the Release button asks for, as the options the one spec builder takes."""
    env = [ops.parse_env_arg(line.strip()) for line in form.env.splitlines() if line.strip()]
    patch = ops.parse_patch(form.patch, source="patch") if form.patch.strip() else {}
    images = parse_images(form.image) if form.image.strip() or not (env or patch) else []
    router = form.router.strip()
    route_key = {"gateway": "httproute", "nginx": "ingress"}.get(router, "")
    if form.route.strip() and not route_key:
        raise UsageError("route: names the HTTPRoute (router gateway) or Ingress (router nginx)")
    surge = form.max_surge.strip()
    if surge and form.strategy != Strategy.CANARY:
        raise UsageError("maxSurge is for canary releases: choose the canary strategy")
    steps, pause = form.steps.strip(), form.pause.strip()
    if form.strategy == Strategy.CANARY:
        if not steps:
            raise UsageError("a canary needs steps, e.g. 10,25,50,100")
    elif steps or pause:
        raise UsageError("steps and pause are for canary releases: choose the canary strategy")
    manual = pause.lower() in MANUAL_PAUSE
    return ops.SpecArgs(
        images=images,
        strategy=form.strategy,
        preview=form.preview,
        auto_promote=form.auto_promote,
        scale_down_delay=form.scale_down_delay,
        fail_fast_after=(
            fail_fast_seconds(form.fail_fast_after.strip(), name="failFastAfter")
            if form.fail_fast_after.strip()
            else DEFAULT_FAIL_FAST_AFTER
        ),
        track=form.track.strip() or None,
        steps=steps or None,
        pause=None if manual or not pause else pause,
        pause_until_promote=manual,
        env=env,
        patch=patch,
        max_surge=(int(surge) if surge.isdigit() else surge) if surge else None,
        notify=split_words(form.notify),
        router=router or DEFAULT_ROUTER,
        router_options={route_key: form.route.strip()} if form.route.strip() else {},
    )


def parse_weights(text: str) -> dict[str, int]:
    """``"blue=80 green=20"`` (spaces or commas) → ``{"blue": 80, "green": 20}``, checked
    by the parser the CLI uses (TRACK=PERCENT, 0..100, each track once, sum 100)."""
    words = split_words(text)
    if not words:
        raise UsageError("give weights, e.g. blue=80 green=20")
    return ops.parse_weights(words)


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
