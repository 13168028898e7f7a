"""A release's analysis before it starts: shared templates, and checks (nothing in the
cluster changes).

Templates a release names but does not define come from the namespace: a ConfigMap
labelled ``kprism.dev/analysis-template: "true"`` whose name is the template's and whose
``template.yaml`` is the template (``args``, ``metrics``), so a team shares them without
CRDs. They are copied into the release spec when it is planned, so the release is
measured by the templates it started with (:func:`with_shared_templates`).

Every run the release can start — each canary ``analysis`` step, the canary's
background ``analysis``, a blue-green release's ``prePromotion`` and ``postPromotion`` —
is resolved against the release's templates (unknown template, missing or unknown
argument, unknown placeholder, a gate whose metric never ends) and every metric's
settings are checked by its provider (an unknown provider, a Job template that is not a
Job, a bad URL or regex …). All problems come in one
:class:`~kprism.errors.InvalidSpecError` (exit 2), each naming where it is.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import yaml
from pydantic import ValidationError

from kprism.analysis import check_metrics
from kprism.errors import InvalidSpecError
from kprism.kube.api import KubeApi
from kprism.model.analysis import AnalysisRef, AnalysisTemplate, BlueGreenAnalysis
from kprism.model.release import ReleaseSpec, Strategy
from kprism.model.steps import Analysis, format_path
from kprism.plan.analysis import resolve

__all__ = [
    "LABEL_TEMPLATE",
    "TEMPLATE_KEY",
    "analysis_runs",
    "check_analysis",
    "template_from_configmap",
    "with_shared_templates",
]

LABEL_TEMPLATE = "kprism.dev/analysis-template"
TEMPLATE_KEY = "template.yaml"


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


def _defined(spec: ReleaseSpec) -> tuple[AnalysisTemplate, ...]:
    if spec.canary is not None:
        return spec.canary.analysis_templates
    return spec.analysis.templates if spec.analysis is not None else ()


def template_from_configmap(cm: dict[str, Any]) -> AnalysisTemplate:
    """The template a shared ConfigMap holds; InvalidSpecError naming the ConfigMap."""
    meta = cm.get("metadata") or {}
    where = f"ConfigMap {meta.get('namespace', '')}/{meta.get('name', '')}".replace(" /", " ")
    text = (cm.get("data") or {}).get(TEMPLATE_KEY)
    if not text:
        raise InvalidSpecError(f"{where}: no {TEMPLATE_KEY} key (the template's YAML)")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InvalidSpecError(
            f"{where}: {TEMPLATE_KEY} is not valid YAML ({' '.join(str(exc).split())})"
        ) from exc
    if not isinstance(data, dict):
        raise InvalidSpecError(f"{where}: {TEMPLATE_KEY} must be a mapping (args, metrics)")
    name = meta.get("name", "")
    if data.setdefault("name", name) != name:
        raise InvalidSpecError(
            f"{where}: {TEMPLATE_KEY} names the template {data['name']!r}: a shared template "
            "is named by its ConfigMap (drop name: or rename the ConfigMap)"
        )
    try:
        return AnalysisTemplate.model_validate(data)
    except ValidationError as exc:
        problems = [
            f"{format_path(tuple(e['loc'])) or 'template'}: {e['msg']}" for e in exc.errors()
        ]
        raise InvalidSpecError(f"{where}: {TEMPLATE_KEY}: {'; '.join(problems)}") from None


def with_shared_templates(kube: KubeApi, namespace: str, spec: ReleaseSpec) -> ReleaseSpec:
    """``spec`` with the shared templates it names but does not define copied in.

    One request (the labelled ConfigMaps) when a template is missing, none otherwise;
    a name found nowhere is left for :func:`check_analysis` to refuse.
    """
    defined = {t.name for t in _defined(spec)}
    wanted = {
        ref.template_name
        for _, run, _, _ in analysis_runs(spec)
        for ref in run.templates
        if ref.template_name not in defined
    }
    if not wanted:
        return spec
    shared = [
        template_from_configmap(cm)
        for cm in kube.list_objects("ConfigMap", namespace, {LABEL_TEMPLATE: "true"})
        if (cm.get("metadata") or {}).get("name") in wanted
    ]
    if not shared:
        return spec
    if spec.canary is not None:
        canary = spec.canary.model_copy(
            update={"analysis_templates": (*spec.canary.analysis_templates, *shared)}
        )
        return dataclasses.replace(spec, canary=canary)
    bga = spec.analysis or BlueGreenAnalysis()
    return dataclasses.replace(
        spec, analysis=bga.model_copy(update={"templates": (*bga.templates, *shared)})
    )
