"""Durations as release specs write them: ``30s``, ``2m``, ``1h30m`` or whole seconds.

Shared by the canary step list (:mod:`kprism.model.steps`) and analysis metrics
(:mod:`kprism.model.analysis`).
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer
from pydantic_core import PydanticCustomError

_DURATION = re.compile(r"(?:(?P<h>\d+)h)?(?:(?P<m>\d+)m)?(?:(?P<s>\d+)s)?")


def parse_duration(value: str | int) -> int:
    """``"30s"``, ``"2m"``, ``"1h30m"``, ``"90"`` or ``90`` → whole seconds (> 0).

    Raises :class:`ValueError` with a message fit for the user.
    """
    bad = f"{value!r} is not a duration: use e.g. 30s, 2m, 1h30m or seconds"
    seconds: int | None = None
    if isinstance(value, str):
        text = value.strip()
        match = _DURATION.fullmatch(text)
        if text.isdigit():
            seconds = int(text)
        elif text and match is not None:
            parts = match.groupdict()
            seconds = sum(int(parts[u] or 0) * k for u, k in (("h", 3600), ("m", 60), ("s", 1)))
    elif isinstance(value, int) and not isinstance(value, bool):
        seconds = value
    if seconds is None:
        raise ValueError(bad)  # bad user input (from YAML or a flag), not a programming error
    if seconds <= 0:
        raise ValueError(f"duration {value!r} must be positive: drop the pause step instead")
    return seconds


def format_duration(seconds: int) -> str:
    """Whole seconds → the shortest ``1h30m``-style text :func:`parse_duration` reads back."""
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    text = "".join(f"{n}{unit}" for n, unit in ((hours, "h"), (minutes, "m"), (secs, "s")) if n)
    return text or "0s"


def _duration_field(value: Any) -> Any:
    if value is None:
        return None
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise PydanticCustomError("duration", str(exc)) from exc


Duration = Annotated[
    int | None,
    BeforeValidator(_duration_field),
    PlainSerializer(lambda v: None if v is None else format_duration(v), return_type=str | None),
]


def _delay_field(value: Any) -> Any:
    if value is None or value == 0 or (isinstance(value, str) and value.strip() in ("0", "0s")):
        return None if value is None else 0
    return _duration_field(value)


#: a duration that may be zero (``0``: at once), e.g. a scale-down delay
Delay = Annotated[
    int | None,
    BeforeValidator(_delay_field),
    PlainSerializer(lambda v: None if v is None else format_duration(v), return_type=str | None),
]
