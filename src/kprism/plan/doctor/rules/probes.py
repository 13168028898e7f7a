"""KP009: a liveness probe identical to the readiness probe."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, Final

from kprism.plan.doctor.base import Rule, Severity
from kprism.plan.doctor.checks import Hit, RuleDef, cname, container_path, containers
from kprism.plan.doctor.objects import Objects

if TYPE_CHECKING:
    from kprism.plan.doctor.config import DoctorConfig

_PROBE_DEFAULTS: Final = {
    "timeoutSeconds": 1,
    "periodSeconds": 10,
    "successThreshold": 1,
    "failureThreshold": 3,
    "initialDelaySeconds": 0,
}


def normal_probe(probe: Mapping[str, Any]) -> dict[str, Any]:
    """The probe with Kubernetes' defaults filled in, so a manifest compares like the live
    object."""
    out = {**_PROBE_DEFAULTS, **probe}
    if isinstance(out.get("httpGet"), Mapping):
        out["httpGet"] = {"path": "/", "scheme": "HTTP", **out["httpGet"]}
    return out


def check(objs: Objects, config: DoctorConfig) -> Iterator[Hit]:
    """Containers whose liveness and readiness probes are the same check."""
    for d, i, c, _ in containers(objs):
        ready, live = c.get("readinessProbe"), c.get("livenessProbe")
        if (
            isinstance(ready, Mapping)
            and isinstance(live, Mapping)
            and normal_probe(ready) == normal_probe(live)
        ):
            yield Hit(
                obj=d,
                container=cname(c),
                path=container_path(i, "livenessProbe"),
                message=f'container "{cname(c)}" uses the same check for liveness and '
                "readiness: a busy pod is restarted instead of rested, and restarts cascade",
            )


RULES = (
    RuleDef(
        rule=Rule(
            id="KP009",
            slug="identical-probes",
            severity=Severity.WARNING,
            title="the liveness probe is identical to the readiness probe",
            protects="busy pods being restarted instead of rested, restarts cascading under load",
            fix="give liveness its own cheap check or a higher failureThreshold",
            fixable=False,
        ),
        check=check,
    ),
)
