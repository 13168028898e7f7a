"""KP005: a grace period that does not cover the preStop hook plus draining."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, Final

from kprism.plan.doctor.base import Edit, Finding, Rule, Severity
from kprism.plan.doctor.checks import Hit, RuleDef
from kprism.plan.doctor.objects import Objects, as_map, dig, fmt_seconds
from kprism.plan.doctor.pods import grace, longest_prestop

if TYPE_CHECKING:
    from kprism.plan.doctor.config import DoctorConfig

GRACE_PATH: Final = "/spec/template/spec/terminationGracePeriodSeconds"


def check(objs: Objects, config: DoctorConfig) -> Iterator[Hit]:
    """Deployments whose grace period ends before preStop and drain are over (and that
    serve traffic: a load generator may stop at once)."""
    for d in objs.deployments:
        if not objs.serves(d):
            continue
        seconds, explicit = grace(d.pod_spec)
        wait = longest_prestop(d.pod_spec)
        need = wait + config.drain_seconds
        if seconds <= need:
            target = math.ceil(need) + config.grace_margin_seconds
            yield Hit(
                obj=d,
                path=GRACE_PATH,
                message=f"terminationGracePeriodSeconds {seconds}"
                f"{'' if explicit else ' (default)'} does not exceed preStop "
                f"{fmt_seconds(wait)} + drain {fmt_seconds(config.drain_seconds)}: "
                "requests still in flight are cut off by SIGKILL",
                fix=f"set terminationGracePeriodSeconds: {target}",
            )


def fix(work: Mapping[str, Any], f: Finding, config: DoctorConfig) -> list[Edit]:
    """preStop + drain + the margin, if the grace period does not exceed preStop + drain."""
    pod_spec = as_map(dig(work, "spec", "template", "spec"))
    seconds, _explicit = grace(pod_spec)
    need = longest_prestop(pod_spec) + config.drain_seconds
    if seconds > need:
        return []
    target = math.ceil(need) + config.grace_margin_seconds
    return [Edit(path=GRACE_PATH, value=target)]


RULES = (
    RuleDef(
        rule=Rule(
            id="KP005",
            slug="grace-period-too-short",
            severity=Severity.WARNING,
            title="terminationGracePeriodSeconds does not exceed preStop plus drain time",
            protects="in-flight requests cut off by SIGKILL when the grace period ends",
            fix="raise terminationGracePeriodSeconds above preStop + drain (default drain 5s)",
            fixable=True,
        ),
        check=check,
        fix=fix,
        fix_order=90,  # last: after every fix that may lengthen a preStop sleep
    ),
)
