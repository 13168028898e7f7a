"""Analysis providers: who measures a metric (see :mod:`.base`), found by name here.

A provider is one module with one class implementing :class:`~.base.Provider`
(``check``, ``measure``, ``stop``) and one entry in :data:`PROVIDERS`. The evaluator that
says what the measurements mean is pure (:mod:`kprism.plan.analysis`); the engine runs
due measurements through :func:`kprism.analysis.runner.measure_due`.
"""

from __future__ import annotations

from collections.abc import Iterable

from kprism.analysis.base import MeasureContext, Provider
from kprism.analysis.job import JobProvider
from kprism.analysis.pods import PodsProvider
from kprism.analysis.prometheus import PrometheusProvider
from kprism.analysis.web import HttpProvider
from kprism.analysis.webhook import WebhookProvider
from kprism.errors import InvalidSpecError
from kprism.model.analysis import Metric

#: every provider by name: a new provider is one module plus one entry here
PROVIDERS: dict[str, Provider] = {
    p.name: p
    for p in (
        PodsProvider(),
        PrometheusProvider(),
        HttpProvider(),
        WebhookProvider(),
        JobProvider(),
    )
}


def provider_for(name: str) -> Provider:
    """The provider called ``name``; InvalidSpecError naming the known ones otherwise."""
    try:
        return PROVIDERS[name]
    except KeyError:
        raise InvalidSpecError(
            f"unknown analysis provider {name!r}: use one of {', '.join(sorted(PROVIDERS))}"
        ) from None


def check_metrics(metrics: Iterable[tuple[str, Metric]]) -> None:
    """Every metric's provider exists and accepts its settings; ``(where, metric)`` pairs.
    One InvalidSpecError naming every problem."""
    problems: list[str] = []
    for where, metric in metrics:
        provider = PROVIDERS.get(metric.provider_name)
        if provider is None:
            problems.append(
                f"{where}: unknown analysis provider {metric.provider_name!r}: use one of "
                f"{', '.join(sorted(PROVIDERS))}"
            )
            continue
        try:
            provider.check(metric.provider_config, where=f"{where}.provider.{metric.provider_name}")
        except InvalidSpecError as exc:
            problems.append(str(exc))
    if problems:
        raise InvalidSpecError("; ".join(problems))


__all__ = ["PROVIDERS", "MeasureContext", "Provider", "check_metrics", "provider_for"]
