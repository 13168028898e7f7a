"""What a rule module provides: a :class:`RuleDef` (metadata, check, optional fix).

A check reads the classified objects and yields a :class:`Hit` per problem; ``audit``
turns hits into findings (filling in the rule's id, slug, severity and fix text unless
the hit overrides them). A fixer gets the object as the earlier fixes left it and one
finding, and returns the edits that repair it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kprism.plan.doctor.base import Edit, Finding, Rule, Severity
from kprism.plan.doctor.objects import CONTAINERS, Deployment, Obj, Objects, as_list
from kprism.plan.doctor.pointers import pointer, split_pointer

if TYPE_CHECKING:
    from kprism.plan.doctor.config import DoctorConfig


@dataclass(frozen=True, kw_only=True)
class Hit:
    """One problem a check found; ``None`` fields take the rule's defaults."""

    obj: Obj
    message: str
    path: str
    container: str | None = None
    fix: str | None = None
    fixable: bool | None = None
    severity: Severity | None = None


Check = Callable[[Objects, "DoctorConfig"], Iterator[Hit]]
Fixer = Callable[[Mapping[str, Any], Finding, "DoctorConfig"], list[Edit]]


@dataclass(frozen=True, kw_only=True)
class RuleDef:
    """A rule: its metadata, its check, and (if it can fix) its fixer.

    ``fix_order``: the fixes of one object run in this order, each on the object as the
    earlier ones left it. ``recheck``: rules whose fixer runs again after this rule's fix,
    even if they had not fired (a longer preStop sleep may need a longer grace period).
    """

    rule: Rule
    check: Check
    fix: Fixer | None = None
    fix_order: int = 50
    recheck: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.rule.fixable != (self.fix is not None):
            raise ValueError(f"{self.rule.id}: Rule.fixable must say whether a fixer is given")


def cname(container: Mapping[str, Any]) -> str:
    """A container's name, ``?`` if it has none."""
    return str(container.get("name") or "?")


def container_path(index: int, *rest: str | int) -> str:
    """Pointer to container ``index`` of a Deployment's pod template (and below)."""
    return pointer(*split_pointer(CONTAINERS), index, *rest)


def container_base(path: str) -> str:
    """The container a pointer below ``CONTAINERS`` points into."""
    return pointer(*split_pointer(path)[:5])


def serving(
    containers: list[tuple[int, Mapping[str, Any]]],
) -> list[tuple[int, Mapping[str, Any]]]:
    """Containers that get Service traffic: those declaring ports, or all if none do."""
    with_ports = [(i, c) for i, c in containers if as_list(c.get("ports"))]
    return with_ports or containers


def containers(
    objs: Objects,
) -> Iterator[tuple[Deployment, int, Mapping[str, Any], bool]]:
    """(Deployment, index, container, serves traffic) for every container of every
    Deployment. No container of a Deployment that serves nothing (no port, no Service
    selects it: a load generator, a debug client) serves traffic."""
    for d in objs.deployments:
        serves = {i for i, _ in serving(d.containers)} if objs.serves(d) else set()
        for i, c in d.containers:
            yield d, i, c, i in serves


__all__ = [
    "Check",
    "Fixer",
    "Hit",
    "RuleDef",
    "cname",
    "container_base",
    "container_path",
    "containers",
    "serving",
]
