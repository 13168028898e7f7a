"""Actions the planner asks the adapter to take. Each is idempotent by construction:
it states a desired end (``replicas=3``), never a delta (``+1``), so replaying an
action after a crash is harmless.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, kw_only=True)
class CreateDeployment:
    name: str
    body: Mapping[str, Any]  # a full apps/v1 Deployment manifest

    def describe(self) -> str:
        return f"create Deployment {self.name}"


@dataclass(frozen=True, kw_only=True)
class ReplaceTemplate:
    """Replace the Deployment's pod template exactly (JSON patch ``replace``)."""

    name: str
    template: Mapping[str, Any]
    annotations: Mapping[str, str] = field(default_factory=dict)

    def describe(self) -> str:
        return f"update the pod template of Deployment {self.name}"


@dataclass(frozen=True, kw_only=True)
class ScaleDeployment:
    name: str
    replicas: int

    def describe(self) -> str:
        return f"scale Deployment {self.name} to {self.replicas}"


@dataclass(frozen=True, kw_only=True)
class DeleteDeployment:
    name: str

    def describe(self) -> str:
        return f"delete Deployment {self.name}"


@dataclass(frozen=True, kw_only=True)
class SetSelector:
    """Set the Service selector to exactly ``selector`` in one PATCH."""

    service: str
    selector: Mapping[str, str]
    previous: Mapping[str, str] = field(default_factory=dict)

    def describe(self) -> str:
        return f"set Service {self.service} selector to {_labels(self.selector)}"


@dataclass(frozen=True, kw_only=True)
class EnsureService:
    """Create or update a Service kprism owns (e.g. the preview Service)."""

    name: str
    selector: Mapping[str, str]
    ports: tuple[Mapping[str, Any], ...]
    labels: Mapping[str, str] = field(default_factory=dict)

    def describe(self) -> str:
        return f"expose Service {self.name} selecting {_labels(self.selector)}"


@dataclass(frozen=True, kw_only=True)
class DeleteService:
    name: str

    def describe(self) -> str:
        return f"delete Service {self.name}"


@dataclass(frozen=True, kw_only=True)
class EmitEvent:
    reason: str
    message: str
    warning: bool = False

    def describe(self) -> str:
        return f"event {self.reason}: {self.message}"


@dataclass(frozen=True, kw_only=True)
class EnsureHpa:
    """Create or update an HPA so it targets ``target`` within [min, max] replicas."""

    name: str
    target: str
    min_replicas: int
    max_replicas: int
    spec: Mapping[str, Any] = field(default_factory=dict)  # template for a new HPA (metrics)

    def describe(self) -> str:
        return (
            f"set HorizontalPodAutoscaler {self.name} on {self.target} to "
            f"{self.min_replicas}..{self.max_replicas} replicas"
        )


@dataclass(frozen=True, kw_only=True)
class DeleteHpa:
    name: str

    def describe(self) -> str:
        return f"delete HorizontalPodAutoscaler {self.name}"


@dataclass(frozen=True, kw_only=True)
class SetWeights:
    """Ask the traffic router plug-in for exact per-track weights (percent)."""

    router: str
    weights: Mapping[str, int]

    def describe(self) -> str:
        split = ", ".join(f"{t} {w}%" for t, w in self.weights.items())
        return f"set {self.router} weights: {split}"


@dataclass(frozen=True, kw_only=True)
class RemoveRoutes:
    """Restore the user's routing objects and delete what the router created."""

    router: str

    def describe(self) -> str:
        return f"remove {self.router} routes managed by kprism"


RouterAction = SetWeights | RemoveRoutes

KubeAction = (
    CreateDeployment
    | ReplaceTemplate
    | ScaleDeployment
    | DeleteDeployment
    | SetSelector
    | EnsureService
    | DeleteService
    | EmitEvent
    | SetWeights
    | RemoveRoutes
    | EnsureHpa
    | DeleteHpa
)


def _labels(sel: Mapping[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(sel.items()))
