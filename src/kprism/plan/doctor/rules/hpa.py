"""KP015: an HPA that scales a Deployment directly."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from kprism.plan.doctor.base import Rule, Severity
from kprism.plan.doctor.checks import Hit, RuleDef
from kprism.plan.doctor.objects import Objects, hpa_target

if TYPE_CHECKING:
    from kprism.plan.doctor.config import DoctorConfig


def check(objs: Objects, config: DoctorConfig) -> Iterator[Hit]:
    """HPAs whose scale target is a Deployment."""
    for hpa in objs.hpas:
        target = hpa_target(hpa)
        if target is not None:
            yield Hit(
                obj=hpa,
                path="/spec/scaleTargetRef",
                message=f"HorizontalPodAutoscaler owns spec.replicas of Deployment {target}: it "
                "overrides the replica counts a release sets, and applying a manifest that sets "
                "spec.replicas fights it",
            )


RULES = (
    RuleDef(
        rule=Rule(
            id="KP015",
            slug="hpa-targets-deployment",
            severity=Severity.INFO,
            title="a HorizontalPodAutoscaler scales a Deployment directly",
            protects="the HPA overriding replica counts that a release sets",
            fix="autoscale only the live track, and omit spec.replicas from the manifest",
            fixable=False,
        ),
        check=check,
    ),
)
