"""What the adapter observed of one app at one moment.

These are snapshots, not live objects: the planner reads them and never writes them.
Raw pod templates stay plain JSON dicts because kprism copies them verbatim into
the candidate track and must not drop fields it does not know.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, kw_only=True)
class ContainerObs:
    """What the kubelet reports of one container of a pod (``status.containerStatuses``,
    init containers included): enough to say why it is not ready."""

    name: str
    ready: bool = False
    init: bool = False  # an init container
    restarts: int = 0
    state: str = ""  # waiting | running | terminated
    reason: str = ""  # the waiting or terminated reason (ImagePullBackOff, Error, ...)
    message: str = ""
    exit_code: int | None = None  # of the current termination
    #: the last termination (``lastState.terminated``): why the container last stopped
    last_reason: str = ""
    last_exit_code: int | None = None


@dataclass(frozen=True, kw_only=True)
class PodObs:
    """One pod of the app."""

    name: str
    track: str | None
    ready: bool
    terminating: bool
    owner: str | None = None  # name of the owning ReplicaSet
    created: str = ""
    phase: str = ""
    containers: tuple[ContainerObs, ...] = ()
    #: ``PodScheduled=False``: "reason: message" (Unschedulable: 0/1 nodes are available ...)
    unschedulable: str = ""
    #: ``Ready=False``: "reason: message" of the condition (a failing readiness probe's
    #: ContainersNotReady, or a readiness gate)
    not_ready: str = ""


@dataclass(frozen=True, kw_only=True)
class DeploymentObs:
    """One Deployment that belongs to the app (a track, or a pre-track original)."""

    name: str
    track: str | None  # value of the track label in spec.selector.matchLabels
    replicas: int
    ready: int = 0
    updated: int = 0
    available: int = 0
    total: int = 0
    generation: int = 1
    observed_generation: int = 0
    selector: Mapping[str, str] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    template: Mapping[str, Any] = field(default_factory=dict)
    strategy: Mapping[str, Any] = field(default_factory=dict)
    #: who last set each field kprism watches for drift (``spec.replicas``,
    #: ``spec.template``): the manager name from ``metadata.managedFields``
    managers: Mapping[str, str] = field(default_factory=dict)

    @property
    def rolled_out(self) -> bool:
        """The controller has seen the newest spec and every replica is updated and ready."""
        return (
            self.observed_generation >= self.generation
            and self.updated == self.replicas
            and self.ready == self.replicas
            and self.total == self.replicas
        )

    def images(self) -> dict[str, str]:
        """Container name → image of the pod template."""
        spec = self.template.get("spec", {})
        return {c["name"]: c.get("image", "") for c in spec.get("containers", [])}


@dataclass(frozen=True, kw_only=True)
class ServiceObs:
    """The app's Service (or a preview Service kprism manages)."""

    name: str
    selector: Mapping[str, str]
    namespace: str = ""
    annotations: Mapping[str, str] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)
    ports: tuple[Mapping[str, Any], ...] = ()
    resource_version: str = ""
    #: who last set ``spec.selector`` (``metadata.managedFields``), for drift reports
    managers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class SiblingObs:
    """Another Service in the app's namespace whose selector, without the track label,
    selects pods of the app (Online Boutique's ``frontend-external`` beside ``frontend``).
    Releases move it with the app's Service (:mod:`kprism.plan.siblings`)."""

    service: ServiceObs
    endpoints: frozenset[str] = frozenset()  # pods its EndpointSlices list as ready
    #: the app's pods its selector matches when the track label is left out
    selectable: frozenset[str] = frozenset()

    @property
    def name(self) -> str:
        return self.service.name


@dataclass(frozen=True, kw_only=True)
class HpaObs:
    """A HorizontalPodAutoscaler and the Deployment it scales."""

    name: str
    target: str
    min_replicas: int
    max_replicas: int
    desired: int = 0
    spec: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class AppObs:
    """Everything the planner needs to know about one app, observed together."""

    namespace: str
    service: ServiceObs
    track_label: str
    deployments: tuple[DeploymentObs, ...] = ()
    pods: tuple[PodObs, ...] = ()
    endpoints: frozenset[str] = frozenset()  # pods the Service's EndpointSlices list as ready
    preview: ServiceObs | None = None
    preview_endpoints: frozenset[str] = frozenset()
    hpas: tuple[HpaObs, ...] = ()
    route_weights: Mapping[str, int] | None = None  # what the traffic router's objects say
    #: other Services over the app's pods (not kprism's own preview or track Services)
    siblings: tuple[SiblingObs, ...] = ()

    def deployment(self, name: str | None) -> DeploymentObs | None:
        if name is None:
            return None
        return next((d for d in self.deployments if d.name == name), None)

    def track(self, track: str) -> DeploymentObs | None:
        return next((d for d in self.deployments if d.track == track), None)

    def ready_pods(self, track: str) -> frozenset[str]:
        """Ready, non-terminating pods of a track."""
        return frozenset(
            p.name for p in self.pods if p.track == track and p.ready and not p.terminating
        )

    def serving_track(self) -> str | None:
        """The track the Service pins, or None when its selector has no track label."""
        return self.service.selector.get(self.track_label)

    @property
    def app_selector(self) -> dict[str, str]:
        """The Service selector without the track label: what every track shares."""
        return {k: v for k, v in self.service.selector.items() if k != self.track_label}
