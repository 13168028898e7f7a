"""Every rule the doctor knows, found in :mod:`kprism.plan.doctor.rules`.

Modules of that package define ``RULES`` (a tuple of :class:`RuleDef`); the registry
imports each module once, checks that the ids and slugs are unique, and orders the rules
by id. Nothing else lists the rules.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Iterable, Mapping
from typing import Final

from kprism.errors import InvalidSpecError
from kprism.plan.doctor import rules as _rules
from kprism.plan.doctor.base import Rule
from kprism.plan.doctor.checks import RuleDef


def _discover() -> tuple[RuleDef, ...]:
    found: list[RuleDef] = []
    for info in sorted(pkgutil.iter_modules(_rules.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{_rules.__name__}.{info.name}")
        defs = getattr(module, "RULES", None)
        if not isinstance(defs, tuple) or not all(isinstance(d, RuleDef) for d in defs):
            raise TypeError(f"{module.__name__}.RULES must be a tuple of RuleDef")
        found.extend(defs)
    for attr in ("id", "slug"):
        names = [getattr(d.rule, attr) for d in found]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"doctor rules share a {attr}: {', '.join(dupes)}")
    return tuple(sorted(found, key=lambda d: d.rule.id))


#: Every rule's definition (metadata, check, fixer), ordered by id.
DEFINITIONS: Final[tuple[RuleDef, ...]] = _discover()
DEFINITIONS_BY_ID: Final[Mapping[str, RuleDef]] = {d.rule.id: d for d in DEFINITIONS}
RULES: Final[tuple[Rule, ...]] = tuple(d.rule for d in DEFINITIONS)
RULES_BY_ID: Final[Mapping[str, Rule]] = {r.id: r for r in RULES}
_ID_BY_NAME: Final[Mapping[str, str]] = {
    **{r.id.lower(): r.id for r in RULES},
    **{r.slug: r.id for r in RULES},
}


def resolve_rules(names: Iterable[str]) -> frozenset[str]:
    """Rule ids for ids or slugs (``"KP001"``, ``"no-readiness-probe"``; commas allowed).

    Unknown names are a usage error, so a typo in ``--ignore`` is not silently ignored.
    """
    out: set[str] = set()
    for item in names:
        for raw in re.split(r"[,\s]+", item):
            name = raw.strip().lower()
            if not name:
                continue
            if name not in _ID_BY_NAME:
                raise InvalidSpecError(
                    f"unknown doctor rule {raw!r}; known: {', '.join(r.id for r in RULES)}"
                )
            out.add(_ID_BY_NAME[name])
    return frozenset(out)


__all__ = ["DEFINITIONS", "DEFINITIONS_BY_ID", "RULES", "RULES_BY_ID", "resolve_rules"]
