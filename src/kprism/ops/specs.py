"""Release options as the shells collect them, turned into a :class:`ReleaseSpec`.

``parse_image_arg`` (``[CONTAINER=]IMAGE``) and ``parse_env_arg``
(``[CONTAINER:]NAME=VALUE``) are the parsers both shells use for their fields.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kprism.model.release import Change, ReleaseSpec, Strategy
from kprism.model.routing import DEFAULT_ROUTER
from kprism.model.steps import CanarySpec, canary_spec_from_data
from kprism.plan.validate import parse_env_arg, parse_image_arg

__all__ = ["SpecArgs", "parse_env_arg", "parse_image_arg"]


@dataclass(frozen=True, kw_only=True)
class SpecArgs:
    """Release options as the shells collect them."""

    images: Sequence[tuple[str, str]] = ()
    env: Sequence[tuple[str, str, str]] = ()
    patch: dict[str, Any] = field(default_factory=dict)
    strategy: Strategy = Strategy.BLUEGREEN
    preview: bool = False
    auto_promote: bool = False
    scale_down_delay: float = 30.0
    ready_timeout: float = 600.0
    track: str | None = None
    canary: CanarySpec | Mapping[str, Any] | None = None  # typed, or its JSON form
    router: str = DEFAULT_ROUTER
    router_options: dict[str, str] = field(default_factory=dict)

    def to_spec(self) -> ReleaseSpec:
        env: dict[str, dict[str, str]] = {}
        for container, name, value in self.env:
            env.setdefault(container, {})[name] = value
        return ReleaseSpec(
            strategy=self.strategy,
            change=Change(images=dict(self.images), env=env, patch=self.patch),
            preview=self.preview,
            auto_promote=self.auto_promote,
            scale_down_delay=self.scale_down_delay,
            ready_timeout=self.ready_timeout,
            track=self.track,
            canary=(
                canary_spec_from_data(dict(self.canary))
                if isinstance(self.canary, Mapping)
                else self.canary
            ),
            router=self.router,
            router_options=self.router_options,
        )
