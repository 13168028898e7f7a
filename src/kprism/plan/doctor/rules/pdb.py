"""KP007 and KP008: PodDisruptionBudgets missing, or allowing no eviction at all."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from kprism.plan.doctor.base import Rule, Severity
from kprism.plan.doctor.checks import Hit, RuleDef
from kprism.plan.doctor.objects import Objects, as_map, hpa_min, scaled

if TYPE_CHECKING:
    from kprism.plan.doctor.config import DoctorConfig


def check_missing(objs: Objects, config: DoctorConfig) -> Iterator[Hit]:
    """KP007: multi-replica Deployments no PDB selects.

    With ``expect_pdb`` None (manifest files), only in namespaces where the run has a PDB
    at all: a lone Deployment file says nothing about PDBs kept elsewhere, and a PDB of
    another namespace says nothing about this one.
    """
    if config.expect_pdb is False:
        return
    known = {p.ref.namespace for p in objs.pdbs}
    for d in objs.deployments:
        if config.expect_pdb is None and d.ref.namespace not in known:
            continue
        minimum = max([d.replicas] + [hpa_min(h) for h in objs.hpas_of(d)])
        if minimum < 2:
            continue
        if not objs.has_pdb(d):
            yield Hit(
                obj=d,
                path="/spec/template/metadata/labels",
                message=f"no PodDisruptionBudget selects these {minimum} replicas: a node drain "
                "may evict all of them at once",
                fix="add a PodDisruptionBudget with this selector and maxUnavailable: 1",
            )


def check_blocking(objs: Objects, config: DoctorConfig) -> Iterator[Hit]:
    """KP008: PDBs that allow no voluntary eviction."""
    for p in objs.pdbs:
        spec = as_map(p.body.get("spec"))
        total = sum(d.replicas for d in objs.covered_by(p))
        why, path = None, ""
        if "maxUnavailable" in spec:
            raw = spec["maxUnavailable"]
            if scaled(raw, 100, round_up=True) == 0:  # 0 or "0%": nothing may go
                why, path = f"maxUnavailable {raw}", "/spec/maxUnavailable"
        elif "minAvailable" in spec:
            raw = spec["minAvailable"]
            path = "/spec/minAvailable"
            if str(raw).strip().endswith("%") and scaled(raw, 100, round_up=True) == 100:
                why = f"minAvailable {raw}"
            elif total > 0 and (scaled(raw, total, round_up=True) or 0) >= total:
                why = f"minAvailable {raw} of {total} pods"
        if why is not None:
            yield Hit(
                obj=p,
                path=path,
                message=f"PodDisruptionBudget allows no voluntary eviction ({why}): node drains "
                "and cluster upgrades hang on these pods",
            )


RULES = (
    RuleDef(
        rule=Rule(
            id="KP007",
            slug="no-pdb",
            severity=Severity.WARNING,
            title="a multi-replica Deployment has no PodDisruptionBudget",
            protects="a node drain evicting every replica at once",
            fix="add a PodDisruptionBudget selecting the pods, e.g. maxUnavailable: 1",
            fixable=False,
        ),
        check=check_missing,
    ),
    RuleDef(
        rule=Rule(
            id="KP008",
            slug="pdb-blocks-eviction",
            severity=Severity.WARNING,
            title="a PodDisruptionBudget allows no voluntary eviction at all",
            protects="node drains and cluster upgrades that hang forever on these pods",
            fix="use maxUnavailable: 1 (and run at least two replicas)",
            fixable=False,
        ),
        check=check_blocking,
    ),
)
