"""Run the rules (:func:`audit`) and plan the fixes of what they found (:func:`plan_fixes`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from kprism.plan.doctor.base import Edit, Finding, ObjectFix
from kprism.plan.doctor.config import DEFAULT_CONFIG, DoctorConfig
from kprism.plan.doctor.objects import classify
from kprism.plan.doctor.pointers import apply_edits
from kprism.plan.doctor.registry import DEFINITIONS, DEFINITIONS_BY_ID


def audit(
    objects: Sequence[Mapping[str, Any]], *, config: DoctorConfig = DEFAULT_CONFIG
) -> list[Finding]:
    """Check Kubernetes objects (plain dicts) and return what is wrong, worst objects first.

    ``objects`` may mix Deployments, Services, PodDisruptionBudgets,
    HorizontalPodAutoscalers and Pods (anything else is ignored); cross-object rules
    (Service selectors, PDB coverage, HPA targets) compare objects of one namespace, with
    ``config.default_namespace`` standing in for an unset one. Findings are ordered by
    object position, then rule id; ``Finding.index`` is the object's position.
    """
    objs = classify(objects, config)
    findings: list[Finding] = []
    for d in DEFINITIONS:
        rule = d.rule
        if not config.enabled(rule.id):
            continue
        for hit in d.check(objs, config):
            if hit.obj.ignores(rule):
                continue
            findings.append(
                Finding(
                    rule_id=rule.id,
                    slug=rule.slug,
                    severity=hit.severity or rule.severity,
                    object_ref=hit.obj.ref,
                    container=hit.container,
                    message=hit.message,
                    fix=hit.fix or rule.fix,
                    path=hit.path,
                    fixable=rule.fixable if hit.fixable is None else hit.fixable,
                    index=hit.obj.index,
                )
            )
    findings.sort(key=lambda f: (f.index, f.rule_id, f.container or "", f.path))
    return findings


def _todo(findings: list[Finding], config: DoctorConfig) -> list[Finding]:
    """One object's findings in fix order, then the re-checks their rules ask for.

    A re-check (KP005 after a preStop fix) runs even under ``--select``, so that a fix
    never creates a new problem, but not when the re-checked rule is ignored.
    """
    todo = sorted(findings, key=lambda f: (DEFINITIONS_BY_ID[f.rule_id].fix_order, f.path))
    wanted = {r for f in todo for r in DEFINITIONS_BY_ID[f.rule_id].recheck}
    again = sorted(
        (r for r in wanted if r not in config.ignore and DEFINITIONS_BY_ID[r].fix is not None),
        key=lambda r: DEFINITIONS_BY_ID[r].fix_order,
    )
    return todo + [replace(todo[0], rule_id=r) for r in again]


def plan_fixes(
    objects: Sequence[Mapping[str, Any]],
    findings: Iterable[Finding],
    *,
    config: DoctorConfig = DEFAULT_CONFIG,
) -> list[ObjectFix]:
    """Edits that repair the fixable ``findings`` (from :func:`audit` on ``objects``).

    Each object's fixes are planned on a working copy in the rules' fix order, so that
    later fixes see earlier ones: after a preStop fix the grace period is re-checked and
    raised if needed (unless KP005 is in ``config.ignore``), even when KP005 had not
    fired. The objects themselves are not modified.
    """
    by_index: dict[int, list[Finding]] = {}
    for f in findings:
        d = DEFINITIONS_BY_ID.get(f.rule_id)
        if f.fixable and d is not None and d.fix is not None:
            by_index.setdefault(f.index, []).append(f)
    plans: list[ObjectFix] = []
    for index, found in sorted(by_index.items()):
        work: Mapping[str, Any] = objects[index]
        edits: list[Edit] = []
        rules: list[str] = []
        for f in _todo(found, config):
            fixer = DEFINITIONS_BY_ID[f.rule_id].fix
            new = fixer(work, f, config) if fixer is not None else []
            if new:
                work = apply_edits(work, new)
                edits.extend(new)
                if f.rule_id not in rules:
                    rules.append(f.rule_id)
        if edits:
            plans.append(
                ObjectFix(
                    index=index,
                    object_ref=found[0].object_ref,
                    rule_ids=tuple(rules),
                    edits=tuple(edits),
                )
            )
    return plans


__all__ = ["audit", "plan_fixes"]
