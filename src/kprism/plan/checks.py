"""The analysis shorthand (``--check-prom QUERY --max 0.01``, ``--check-http URL``) as
a template and gates, pure.

Each ``--check-prom`` query becomes a ``prometheus`` metric whose first sample must stay
at most ``max`` (and/or at least ``min``); each ``--check-http`` URL an ``http`` metric
that must answer 2xx. Every metric is measured ``count`` times, ``interval`` apart, after
an initial delay of one interval (so a rate window has data). In a canary, the template
``checks`` gates every step but the last (after its pause, if any); in a blue-green
release it is the post-promotion analysis (real traffic, stable still up to go back to).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from kprism.errors import InvalidSpecError
from kprism.model.analysis import AnalysisTemplate, BlueGreenAnalysis
from kprism.model.steps import CanarySpec, Pause, SetWeight, canary_spec_from_data

TEMPLATE = "checks"


def _bound(name: str, value: float | None) -> float | None:
    if value is not None and not math.isfinite(value):
        raise InvalidSpecError(f"--{name} {value}: must be a finite number")
    return value


def checks_template(
    *,
    prom: Sequence[str] = (),
    http: Sequence[str] = (),
    max_value: float | None = None,
    min_value: float | None = None,
    interval: str = "10s",
    count: int = 3,
    prometheus_url: str | None = None,
) -> AnalysisTemplate | None:
    """The ``checks`` template, or None when no check is asked for."""
    if not prom and not http:
        if max_value is not None or min_value is not None:
            raise InvalidSpecError("--max/--min go with --check-prom QUERY")
        return None
    _bound("max", max_value)
    _bound("min", min_value)
    if prom and max_value is None and min_value is None:
        raise InvalidSpecError(
            "--check-prom needs a bound: --max 0.01 (the query's first value must stay at "
            "most this) and/or --min"
        )
    conditions = []
    if max_value is not None:
        conditions.append(f"result[0] <= {max_value!r}")
    if min_value is not None:
        conditions.append(f"result[0] >= {min_value!r}")
    metrics: list[dict[str, Any]] = []
    for i, query in enumerate(prom):
        settings: dict[str, Any] = {"query": query}
        if prometheus_url:
            settings["address"] = prometheus_url
        metrics.append(
            {
                "name": f"prom-{i + 1}" if len(prom) > 1 else "prom",
                "interval": interval,
                "initialDelay": interval,
                "count": count,
                "successCondition": " and ".join(conditions),
                "provider": {"prometheus": settings},
            }
        )
    for i, url in enumerate(http):
        metrics.append(
            {
                "name": f"http-{i + 1}" if len(http) > 1 else "http",
                "interval": interval,
                "count": count,
                "provider": {"http": {"url": url}},
            }
        )
    try:
        return AnalysisTemplate.model_validate({"name": TEMPLATE, "metrics": metrics})
    except ValueError as exc:
        detail = "; ".join(str(exc).splitlines()[1:3]) or str(exc)
        raise InvalidSpecError(f"the --check options: {detail}") from None


def gate_canary(spec: CanarySpec, template: AnalysisTemplate) -> CanarySpec:
    """``spec`` with a ``checks`` gate after every step but the last (after its pause)."""
    if any(t.name == TEMPLATE for t in spec.analysis_templates):
        raise InvalidSpecError(
            f"the release spec defines a template {TEMPLATE!r} already: drop --check-* or rename it"
        )
    data: dict[str, Any] = spec.model_dump(mode="json", by_alias=True)
    gate = {"analysis": {"templates": [{"templateName": TEMPLATE}]}}
    last = max(i for i, s in enumerate(spec.steps) if isinstance(s, SetWeight))
    steps: list[dict[str, Any]] = []
    for i, (step, raw) in enumerate(zip(spec.steps, data["steps"], strict=True)):
        steps.append(raw)
        if i >= last:
            continue
        nxt = spec.steps[i + 1] if i + 1 < len(spec.steps) else None
        if (isinstance(step, SetWeight) and not isinstance(nxt, Pause)) or isinstance(step, Pause):
            steps.append(gate)
    data["steps"] = steps
    data["analysisTemplates"] = [*data.get("analysisTemplates", []), _dump(template)]
    return canary_spec_from_data(data, source="the --check options")


def gate_bluegreen(template: AnalysisTemplate) -> BlueGreenAnalysis:
    """The blue-green analysis: the checks after the switch, during the scale-down delay."""
    return BlueGreenAnalysis.model_validate(
        {
            "templates": [_dump(template)],
            "postPromotion": {"templates": [{"templateName": TEMPLATE}]},
        }
    )


def _dump(template: AnalysisTemplate) -> dict[str, Any]:
    data: dict[str, Any] = template.model_dump(mode="json", by_alias=True, exclude_defaults=True)
    return data
