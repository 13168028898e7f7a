"""Release options as the shells collect them, turned into a :class:`ReleaseSpec`.

:meth:`SpecArgs.to_spec` is the one spec builder: the CLI and the dashboard fill in the
fields they have and get the same spec, or the same one-line
:class:`~kprism.errors.UsageError`, for the same input. A canary comes as the step
shorthand (``steps``, ``pause``, ``max_surge``), as YAML text (``canary_yaml``, the CLI's
``-f``), or ready-made (``canary``, JSON with aliases).

``parse_image_arg`` (``[CONTAINER=]IMAGE``), ``parse_env_arg``
(``[CONTAINER:]NAME=VALUE``) and ``parse_patch`` (the ``--patch-file`` YAML) are the
parsers both shells use for their fields.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from kprism.errors import UsageError
from kprism.model.analysis import BlueGreenAnalysis
from kprism.model.release import (
    DEFAULT_FAIL_FAST_AFTER,
    DEFAULT_SCALE_DOWN_DELAY,
    Change,
    ReleaseSpec,
    Strategy,
)
from kprism.model.routing import DEFAULT_ROUTER
from kprism.model.steps import (
    BLUEGREEN_KEYS,
    DEFAULT_MAX_SURGE,
    BlueGreenFile,
    CanarySpec,
    canary_spec_from_data,
    load_bluegreen_file,
)
from kprism.notify.events import EVENTS
from kprism.notify.receivers import ReceiverError, parse_release
from kprism.plan.checks import checks_template, gate_bluegreen, gate_canary
from kprism.plan.validate import check_pod_patch, parse_env_arg, parse_image_arg

__all__ = ["SpecArgs", "check_notify", "parse_env_arg", "parse_image_arg", "parse_patch"]


def parse_patch(text: str, *, source: str) -> dict[str, Any]:
    """The pod-template patch in ``text`` (YAML; ``source`` names it in errors), checked
    for shape so a wrong type is refused here, not half-way through a release."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        detail = " ".join(str(exc).split())
        raise UsageError(f"{source}: not valid YAML ({detail})") from exc
    if not isinstance(data, dict):
        raise UsageError(f"{source}: must be a mapping merged into the pod template")
    check_pod_patch(data, source=source)
    return data


@dataclass(frozen=True, kw_only=True)
class SpecArgs:
    """Release options as the shells collect them (add fields, never rename them)."""

    images: Sequence[tuple[str, str]] = ()
    env: Sequence[tuple[str, str, str]] = ()
    patch: dict[str, Any] = field(default_factory=dict)
    strategy: Strategy = Strategy.BLUEGREEN
    preview: bool = False
    auto_promote: bool = False
    scale_down_delay: float | None = None  # None: the release file's, else 30 s
    ready_timeout: float = 600.0
    #: seconds a new pod may be stuck (ImagePullBackOff ...) before the release fails; 0: never
    fail_fast_after: float = DEFAULT_FAIL_FAST_AFTER
    track: str | None = None
    canary: Mapping[str, Any] | CanarySpec | None = None  # a ready-made step list
    router: str = DEFAULT_ROUTER
    router_options: dict[str, str] = field(default_factory=dict)
    steps: str | None = None  # canary shorthand: weights, e.g. "10,25,50,100"
    pause: str | None = None  # with steps: a pause after each weight but the last, e.g. "2m"
    max_surge: int | str | None = None  # with steps: pods or percent of stable
    canary_yaml: str | None = None  # a canary spec as YAML text (top level or under canary:)
    canary_source: str = "<canary spec>"  # names canary_yaml in errors (file:line)
    # with steps: after each weight but the last, pause until promoted (instead of pause)
    pause_until_promote: bool = False
    # analysis shorthand (kprism.plan.checks): a canary's steps are gated on these checks,
    # a blue-green release checks them after the switch (post-promotion)
    check_prom: Sequence[str] = ()  # PromQL queries whose first value is bounded by max/min
    check_http: Sequence[str] = ()  # URLs that must answer 2xx
    check_max: float | None = None
    check_min: float | None = None
    check_interval: str = "10s"
    check_count: int = 3
    prometheus_url: str | None = None  # default: $PROMETHEUS_URL where the engine runs
    # the release's own notification receivers: URLs (--notify: JSON, every event) and
    # receivers in the ConfigMap format (the release file's notify:, the Python API)
    notify: Sequence[str] = ()
    receivers: Sequence[Mapping[str, Any]] = ()

    def canary_spec(self) -> CanarySpec | None:
        """The canary step list these options ask for, or None (no canary)."""
        given = [
            name
            for name, value in (
                ("steps", self.steps),
                ("yaml", self.canary_yaml),
                ("canary", self.canary),
            )
            if value is not None
        ]
        if len(given) > 1:
            raise UsageError("give either --steps or -f, not both")
        if self.pause is not None and self.steps is None:
            raise UsageError(
                "--pause goes with --steps (e.g. --steps 10,50,100 --pause 2m); "
                "in -f put pause steps in the file"
            )
        if self.max_surge is not None and self.steps is None and self.canary_yaml is not None:
            raise UsageError(
                f"--max-surge is ignored with -f: set maxSurge in {self.canary_source}"
            )
        if self.steps is not None:
            surge = DEFAULT_MAX_SURGE if self.max_surge is None else self.max_surge
            if isinstance(surge, str) and surge.strip().isdigit():
                surge = int(surge)
            if self.pause_until_promote and self.pause is not None:
                raise UsageError("pause for a duration or until promoted, not both")
            shorthand = CanarySpec.from_shorthand(
                steps=self.steps, pause=self.pause, max_surge=surge, auto_promote=self.auto_promote
            )
            return _paused_until_promote(shorthand) if self.pause_until_promote else shorthand
        if self.canary_yaml is not None and _is_bluegreen_file(self.canary_yaml):
            return None  # a blue-green release file: bluegreen_file()
        if self.canary_yaml is not None:
            spec = _canary_from_yaml(self.canary_yaml, source=self.canary_source)
        elif isinstance(self.canary, CanarySpec):
            spec = self.canary
        elif self.canary is not None:
            return canary_spec_from_data(dict(self.canary))
        else:
            return None
        if self.auto_promote and not spec.auto_promote:
            spec = spec.model_copy(update={"auto_promote": True})
        return spec

    def bluegreen_file(self) -> BlueGreenFile | None:
        """The blue-green release file ``-f`` gave (``prePromotion``/``postPromotion``,
        no ``steps``), or None."""
        if self.canary_yaml is None or not _is_bluegreen_file(self.canary_yaml):
            return None
        return load_bluegreen_file(self.canary_yaml, source=self.canary_source)

    def to_spec(self) -> ReleaseSpec:
        """The release spec; :class:`UsageError` (nothing changed) for bad input."""
        canary = self.canary_spec()
        bg_file = self.bluegreen_file()
        if bg_file is not None and self.strategy == Strategy.CANARY:
            raise UsageError(
                f"{self.canary_source} is a blue-green release file (prePromotion/"
                "postPromotion): drop --strategy canary, or give canary steps"
            )
        canary, analysis = self._gates(canary, bg_file)
        strategy = Strategy.CANARY if canary is not None else self.strategy
        if strategy == Strategy.CANARY and canary is None:
            raise UsageError(
                "--strategy canary needs --steps (e.g. 10,25,50,100) or -f release.yaml"
            )
        canary, notify = self._receivers(canary, bg_file)
        if self.patch:
            check_pod_patch(self.patch, source="the pod-template patch")
        env: dict[str, dict[str, str]] = {}
        for container, name, value in self.env:
            env.setdefault(container, {})[name] = value
        return ReleaseSpec(
            strategy=strategy,
            change=Change(images=dict(self.images), env=env, patch=self.patch),
            preview=self.preview or bool(bg_file and bg_file.preview),
            auto_promote=self.auto_promote or bool(bg_file and bg_file.auto_promote),
            scale_down_delay=_first(
                self.scale_down_delay,
                bg_file.scale_down_delay if bg_file else None,
                DEFAULT_SCALE_DOWN_DELAY,
            ),
            ready_timeout=self.ready_timeout,
            fail_fast_after=self.fail_fast_after,
            track=self.track,
            canary=canary,
            router=self.router,
            router_options=self.router_options,
            analysis=analysis,
            notify=tuple(notify),
        )

    def _gates(
        self, canary: CanarySpec | None, bg_file: BlueGreenFile | None
    ) -> tuple[CanarySpec | None, BlueGreenAnalysis | None]:
        """The ``--check-*`` shorthand and the release file's gates, where they belong."""
        checks = checks_template(
            prom=self.check_prom,
            http=self.check_http,
            max_value=self.check_max,
            min_value=self.check_min,
            interval=self.check_interval,
            count=self.check_count,
            prometheus_url=self.prometheus_url,
        )
        analysis: BlueGreenAnalysis | None = None
        if checks is not None and canary is not None:
            canary = gate_canary(canary, checks)
        elif checks is not None and bg_file is not None:
            raise UsageError(
                f"--check-* and {self.canary_source}'s prePromotion/postPromotion: put the "
                "checks in the file (or drop -f)"
            )
        elif checks is not None:
            analysis = gate_bluegreen(checks)
        elif bg_file is not None:
            analysis = BlueGreenAnalysis.model_construct(
                templates=bg_file.analysis_templates,
                pre_promotion=bg_file.pre_promotion,
                post_promotion=bg_file.post_promotion,
            )  # validated as the file's fields already
        return canary, analysis

    def _receivers(
        self, canary: CanarySpec | None, bg_file: BlueGreenFile | None
    ) -> tuple[CanarySpec | None, list[Mapping[str, Any]]]:
        """Notification receivers from the release file, ``--notify`` and the API, checked."""
        from_file: list[Mapping[str, Any]] = list(bg_file.notify) if bg_file else []
        if canary is not None and canary.notify:  # the release file's notify:
            from_file = list(canary.notify)
            canary = canary.model_copy(update={"notify": ()})
        from_flags: list[Mapping[str, Any]] = [{"url": url} for url in self.notify]
        check_notify(from_file, source=f"{self.canary_source}: notify")
        check_notify(from_flags, source="--notify")
        check_notify(self.receivers)
        notify = [*from_file, *from_flags, *(dict(r) for r in self.receivers)]
        return canary, notify


def check_notify(receivers: Sequence[Any], *, source: str = "notify") -> None:
    """:class:`UsageError` naming the first of a release's own receivers that does not
    parse (``source`` names where they came from); nothing is sent."""
    try:
        parse_release(receivers, where=source)
    except ReceiverError as exc:
        raise UsageError(f"{exc}") from None


def describe_notify(receivers: Sequence[Mapping[str, Any]]) -> str | None:
    """``kprism plan``'s line for the release's own receivers (None without any)."""
    if not receivers:
        return None
    try:
        parsed = parse_release(receivers)
    except ReceiverError as exc:
        return f"notify: {exc}"
    parts = []
    for r in parsed:
        where = r.url if isinstance(r.url, str) else f"Secret {r.url.secret} key {r.url.key}"
        events = (
            "every event"
            if len(r.events) == len(EVENTS)
            else ", ".join(e for e in EVENTS if e in r.events)
        )
        parts.append(f"{r.name} → {where} ({r.format}: {events})")
    return "all along: notify the release's own receivers " + "; ".join(parts)


def _paused_until_promote(spec: CanarySpec) -> CanarySpec:
    """``spec`` with a pause until promoted after each step but the last (validated again:
    such a pause and autoPromote exclude each other)."""
    data: dict[str, Any] = spec.model_dump(mode="json", by_alias=True)
    steps: list[dict[str, Any]] = []
    for i, step in enumerate(data["steps"]):
        steps.append(step)
        if i < len(data["steps"]) - 1:
            steps.append({"pause": {}})
    return canary_spec_from_data({**data, "steps": steps}, source="canary steps")


def _first(*values: float | None) -> float:
    """The first value given (0 included)."""
    return next(float(v) for v in values if v is not None)


def _is_bluegreen_file(text: str) -> bool:
    """A release file with prePromotion/postPromotion and no canary steps."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        return False  # the canary loader reports it, with its line
    return (
        isinstance(data, dict)
        and "steps" not in data
        and "canary" not in data
        and any(k in data for k in BLUEGREEN_KEYS)
    )


def _canary_from_yaml(text: str, *, source: str) -> CanarySpec:
    """A canary spec file: the spec at the top level, or under ``canary:``."""
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError:
        data = {}  # the line-aware loader reports it as file:line
    at: tuple[str, ...] = ("canary",) if isinstance(data, dict) and "canary" in data else ()
    return CanarySpec.from_yaml(text, source=source, at=at)
