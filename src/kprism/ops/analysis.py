"""Checking a release's analysis before it starts (nothing in the cluster changes).

Every run the release can start — each canary ``analysis`` step, the canary's
background ``analysis``, a blue-green release's ``prePromotion`` and ``postPromotion`` —
is resolved against the release's templates (unknown template, missing or unknown
argument, unknown placeholder, a gate whose metric never ends) and every metric's
settings are checked by its provider (an unknown provider, a Job template that is not a
Job, a bad URL or regex …). All problems come in one
:class:`~kprism.errors.InvalidSpecError` (exit 2), each naming where it is.
"""

from __future__ import annotations

from kprism.analysis import check_metrics
from kprism.errors import InvalidSpecError
from kprism.model.analysis import AnalysisRef, AnalysisTemplate
from kprism.model.release import ReleaseSpec, Strategy
from kprism.model.steps import Analysis
from kprism.plan.analysis import resolve

__all__ = ["analysis_runs", "check_analysis"]


def analysis_runs(
    spec: ReleaseSpec,
) -> list[tuple[str, AnalysisRef, tuple[AnalysisTemplate, ...], bool]]:
    """``(where, ref, templates, blocking)`` for every run the release may start."""
    runs: list[tuple[str, AnalysisRef, tuple[AnalysisTemplate, ...], bool]] = []
    if spec.canary is not None:
        templates = spec.canary.analysis_templates
        for i, step in enumerate(spec.canary.steps):
            if isinstance(step, Analysis):
                runs.append((f"steps[{i}].analysis", step.analysis, templates, True))
        if spec.canary.analysis is not None:
            runs.append(("analysis", spec.canary.analysis, templates, False))
    if spec.analysis is not None:
        bg = spec.analysis
        for where, ref in (
            ("prePromotion", bg.pre_promotion),
            ("postPromotion", bg.post_promotion),
        ):
            if ref is not None:
                runs.append((where, ref, bg.templates, True))
    return runs


def check_analysis(spec: ReleaseSpec) -> None:
    """InvalidSpecError naming every problem of the release's analysis; None if fine."""
    problems: list[str] = []
    if spec.analysis is not None and spec.strategy == Strategy.CANARY:
        problems.append(
            "prePromotion/postPromotion analysis is for blue-green releases: a canary has "
            "analysis steps and a background analysis in its steps file"
        )
    for where, ref, templates, blocking in analysis_runs(spec):
        try:
            metrics = resolve(ref, templates, where=where, gate=blocking)
            check_metrics((f"{where} metric {m.name}", m) for m in metrics)
        except InvalidSpecError as exc:
            problems.append(str(exc))
    if problems:
        raise InvalidSpecError("; ".join(problems))
