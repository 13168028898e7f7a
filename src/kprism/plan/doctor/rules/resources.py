"""KP011: a container without a memory limit."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from kprism.plan.doctor.base import Rule, Severity
from kprism.plan.doctor.checks import Hit, RuleDef, cname, container_path, containers
from kprism.plan.doctor.objects import Objects, dig

if TYPE_CHECKING:
    from kprism.plan.doctor.config import DoctorConfig


def check(objs: Objects, config: DoctorConfig) -> Iterator[Hit]:
    """Containers without ``resources.limits.memory``."""
    for d, i, c, _ in containers(objs):
        if not dig(c, "resources", "limits", "memory"):
            yield Hit(
                obj=d,
                container=cname(c),
                path=container_path(i, "resources", "limits", "memory"),
                message=f'container "{cname(c)}" has no memory limit: a leaking new version can '
                "exhaust the node and get the stable track's pods evicted",
            )


RULES = (
    RuleDef(
        rule=Rule(
            id="KP011",
            slug="no-memory-limit",
            severity=Severity.INFO,
            title="a container has no memory limit",
            protects="a leaking new version exhausting the node and evicting the stable track",
            fix="set resources.limits.memory",
            fixable=False,
        ),
        check=check,
    ),
)
