"""KP001: a serving container without a readiness probe."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from kprism.plan.doctor.base import Rule, Severity
from kprism.plan.doctor.checks import Hit, RuleDef, cname, container_path, containers
from kprism.plan.doctor.objects import Objects

if TYPE_CHECKING:
    from kprism.plan.doctor.config import DoctorConfig


def check(objs: Objects, config: DoctorConfig) -> Iterator[Hit]:
    """Serving containers without ``readinessProbe``."""
    for d, i, c, serving in containers(objs):
        if serving and not c.get("readinessProbe"):
            yield Hit(
                obj=d,
                container=cname(c),
                path=container_path(i, "readinessProbe"),
                message=f'container "{cname(c)}" has no readinessProbe: it gets traffic as '
                "soon as it starts, before the app listens, and while it is overloaded",
            )


RULES = (
    RuleDef(
        rule=Rule(
            id="KP001",
            slug="no-readiness-probe",
            severity=Severity.WARNING,
            title="a serving container has no readiness probe",
            protects="traffic reaching a pod before the app listens, or while it is overloaded",
            fix="add a readinessProbe (httpGet on a health path, or tcpSocket on the port)",
            fixable=False,
        ),
        check=check,
    ),
)
