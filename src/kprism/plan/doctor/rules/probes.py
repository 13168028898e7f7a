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


#: What does not change the check itself: when it starts, and what it sends along.
_NOT_THE_CHECK: Final = ("initialDelaySeconds", "terminationGracePeriodSeconds")


def normal_probe(probe: Mapping[str, Any]) -> dict[str, Any]:
    """The check a probe makes and how tolerant it is: Kubernetes' defaults filled in (a
    manifest compares like the live object), without the initial delay and the HTTP
    headers (a probe that waits longer to start, or sends another cookie, still fails
    exactly when the other one does)."""
    out = {k: v for k, v in {**_PROBE_DEFAULTS, **probe}.items() if k not in _NOT_THE_CHECK}
    if isinstance(out.get("httpGet"), Mapping):
        http = {k: v for k, v in out["httpGet"].items() if k != "httpHeaders"}
        out["httpGet"] = {"path": "/", "scheme": "HTTP", **http}
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
                f"readiness{'' if ready == live else ' (they differ only in initial delay or headers)'}"
                ": a busy pod is restarted instead of rested, and restarts cascade",
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
