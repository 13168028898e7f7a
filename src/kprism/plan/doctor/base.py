"""The doctor's vocabulary: severities, rules, findings and the edits that fix them."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, Final

from kprism.errors import InvalidSpecError

#: Per-object suppression: ``kprism.dev/doctor-ignore: "KP001,prestop-exec-sleep"`` on the
#: object (or on a Deployment's pod template); ``all`` suppresses every rule.
IGNORE_ANNOTATION: Final = "kprism.dev/doctor-ignore"


class Severity(enum.Enum):
    """How bad a finding is: ``error`` > ``warning`` > ``info``."""

    ERROR = "error"
    WARNING = "warning"
    INFO = "info"

    @property
    def rank(self) -> int:
        """3 for error, 2 for warning, 1 for info: higher is worse."""
        return {"error": 3, "warning": 2, "info": 1}[self.value]

    def at_least(self, other: Severity) -> bool:
        """True when this severity is ``other`` or worse."""
        return self.rank >= other.rank

    @classmethod
    def parse(cls, text: str) -> Severity:
        """``"warning"`` → :attr:`WARNING`; anything unknown is a usage error."""
        try:
            return cls(text.strip().lower())
        except ValueError:
            known = ", ".join(s.value for s in cls)
            raise InvalidSpecError(f"unknown severity {text!r}; use one of {known}") from None


@dataclass(frozen=True, kw_only=True)
class ObjectRef:
    """Which object a finding is about."""

    kind: str
    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}"


@dataclass(frozen=True, kw_only=True)
class Rule:
    """A check's identity and documentation (rendered into docs/doctor.md and SARIF)."""

    id: str
    slug: str
    severity: Severity  # the usual severity; a finding may be milder (see KP006)
    title: str  # one line: what is wrong
    protects: str  # what goes wrong in a release without it
    fix: str  # one line: how to fix it
    fixable: bool  # whether ``--fix`` can repair it (in the simple cases)


@dataclass(frozen=True, kw_only=True)
class Finding:
    """One problem on one object (and container)."""

    rule_id: str
    slug: str
    severity: Severity
    object_ref: ObjectRef
    container: str | None
    message: str  # one line: why it is a problem here
    fix: str  # one line: what to change
    path: str  # JSON pointer into the object; may name a field that is missing
    fixable: bool  # whether plan_fixes() produces edits for it
    index: int  # position of the object in the sequence given to audit()


@dataclass(frozen=True, kw_only=True)
class Edit:
    """Set ``value`` at JSON pointer ``path``, creating missing parent mappings."""

    path: str
    value: Any


@dataclass(frozen=True, kw_only=True)
class ObjectFix:
    """The edits that repair the fixable findings of one object."""

    index: int  # position in the objects given to audit()/plan_fixes()
    object_ref: ObjectRef
    rule_ids: tuple[str, ...]  # rules whose fixes produced edits (KP005 may follow a preStop fix)
    edits: tuple[Edit, ...]


__all__ = ["IGNORE_ANNOTATION", "Edit", "Finding", "ObjectFix", "ObjectRef", "Rule", "Severity"]
