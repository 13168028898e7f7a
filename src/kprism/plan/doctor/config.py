"""Thresholds and rule selection for an audit."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

from kprism.errors import InvalidSpecError
from kprism.plan.doctor.registry import resolve_rules


@dataclass(frozen=True, kw_only=True)
class DoctorConfig:
    """Thresholds and rule selection for :func:`audit` and :func:`plan_fixes`."""

    #: How long endpoint removal takes to reach every kube-proxy / ingress / client.
    propagation_seconds: float = 5
    #: How long the app needs after SIGTERM to finish in-flight requests.
    drain_seconds: float = 5
    #: preStop sleep that fixes write; default ``max(10, propagation + 5)``.
    prestop_fix_seconds: int | None = None
    #: Grace period that fixes write = preStop + drain + this.
    grace_margin_seconds: int = 5
    #: A Deployment with at most this many replicas cannot spare one during a rollout.
    few_replicas: int = 3
    #: The label that tells tracks of one app apart (kprism's ``color: blue``/``green``).
    track_label: str = "color"
    #: Pod labels naming the app, first match wins.
    app_labels: tuple[str, ...] = ("app.kubernetes.io/name", "app")
    #: KP007: True = always check, False = never, None = only in namespaces where a PDB
    #: was given (a lone Deployment file says nothing about PDBs that live elsewhere).
    expect_pdb: bool | None = None
    #: Whether the cluster has the native preStop sleep action (Kubernetes >= 1.30).
    native_sleep: bool = True
    #: Only these rules (ids or slugs); empty means all.
    select: frozenset[str] = frozenset()
    #: Never these rules (ids or slugs).
    ignore: frozenset[str] = frozenset()
    #: Namespace of objects without ``metadata.namespace`` (manifests usually omit it).
    default_namespace: str = "default"

    def __post_init__(self) -> None:
        if self.propagation_seconds < 0 or self.drain_seconds < 0:
            raise InvalidSpecError("doctor: propagation and drain seconds must be >= 0")
        if self.prestop_fix_seconds is not None and self.prestop_fix_seconds < 1:
            raise InvalidSpecError("doctor: the preStop fix must sleep at least 1 second")
        object.__setattr__(self, "select", resolve_rules(self.select))
        object.__setattr__(self, "ignore", resolve_rules(self.ignore))

    @property
    def prestop_target(self) -> int:
        """Seconds of preStop sleep that fixes write."""
        if self.prestop_fix_seconds is not None:
            return self.prestop_fix_seconds
        return max(10, math.ceil(self.propagation_seconds) + 5)

    def enabled(self, rule_id: str) -> bool:
        """Whether ``select``/``ignore`` let ``rule_id`` run."""
        if rule_id in self.ignore:
            return False
        return not self.select or rule_id in self.select


DEFAULT_CONFIG: Final = DoctorConfig()

__all__ = ["DEFAULT_CONFIG", "DoctorConfig"]
