"""KP001: a serving container without a readiness probe."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from kprism.plan.doctor.base import Edit, Finding, Rule, Severity
from kprism.plan.doctor.checks import (
    Hit,
    RuleDef,
    cname,
    container_base,
    container_path,
    containers,
)
from kprism.plan.doctor.objects import Objects, as_list, as_map
from kprism.plan.doctor.pointers import get_path

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
                fix=_fix_text(c),
                fixable=_port(c) is not None,
            )


def _port(container: Mapping[str, Any]) -> int | str | None:
    """The container's first declared port (its name if it has one), or None."""
    for port in as_list(container.get("ports")):
        p = as_map(port)
        if p.get("containerPort") is not None and p.get("protocol", "TCP") == "TCP":
            return str(p["name"]) if p.get("name") else int(p["containerPort"])
    return None


def probe(container: Mapping[str, Any]) -> dict[str, Any] | None:
    """The probe ``--fix`` adds: a TCP connect to the container's first port — it passes
    once the app listens, whatever it speaks — every 2 s; None without a port."""
    port = _port(container)
    if port is None:
        return None
    return {"tcpSocket": {"port": port}, "periodSeconds": 2, "failureThreshold": 3}


def _fix_text(container: Mapping[str, Any]) -> str | None:
    port = _port(container)
    if port is None:
        return None  # the rule's own advice: no port to check
    return f"add readinessProbe: tcpSocket on port {port} (or httpGet on a health path)"


def fix(work: Mapping[str, Any], f: Finding, config: DoctorConfig) -> list[Edit]:
    """A TCP readiness probe on the container's first port, if it has none and a port."""
    base = container_base(f.path)
    found, container = get_path(work, base)
    if not found or not isinstance(container, Mapping) or container.get("readinessProbe"):
        return []
    value = probe(container)
    return [] if value is None else [Edit(path=base + "/readinessProbe", value=value)]


RULES = (
    RuleDef(
        rule=Rule(
            id="KP001",
            slug="no-readiness-probe",
            severity=Severity.WARNING,
            title="a serving container has no readiness probe",
            protects="traffic reaching a pod before the app listens, or while it is overloaded",
            fix="add a readinessProbe (httpGet on a health path, or tcpSocket on the port)",
            fixable=True,
        ),
        check=check,
        fix=fix,
    ),
)
