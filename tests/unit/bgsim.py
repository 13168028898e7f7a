"""A tiny in-memory model of the parts of a cluster blue-green depends on.

Deployments become ready one pod per tick (in an order Hypothesis chooses), the
EndpointSlice controller catches up with a selector change after a lag, and actions
from the planner are applied the way the adapter would apply them. Test code only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from kprism.model.actions import (
    CreateDeployment,
    DeleteDeployment,
    DeleteService,
    EmitEvent,
    EnsureService,
    KubeAction,
    ReplaceTemplate,
    ScaleDeployment,
    SetSelector,
)
from kprism.model.observed import AppObs, DeploymentObs, PodObs, ServiceObs, SiblingObs
from kprism.model.release import (
    ANNOTATION_TEMPLATE_HASH,
    Change,
    Kind,
    Phase,
    ReleaseSpec,
    ReleaseStatus,
)
from kprism.plan import bluegreen
from kprism.plan.machine import iso

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def template(image: str, track: str) -> dict[str, Any]:
    return {
        "metadata": {"labels": {"app": "hello", "color": track}},
        "spec": {"containers": [{"name": "hello", "image": image}]},
    }


@dataclass
class SimDeployment:
    name: str
    track: str
    replicas: int
    template: dict[str, Any]
    annotations: dict[str, str] = field(default_factory=dict)
    ready: int = 0
    generation: int = 1
    observed: int = 1
    #: field path → the manager that last set it (from managedFields), e.g. kubectl-scale
    managers: dict[str, str] = field(default_factory=dict)


@dataclass
class Sim:
    deployments: dict[str, SimDeployment]
    selector: dict[str, str]
    endpoints: frozenset[str] = frozenset()
    endpoint_lag: int = 0
    preview: dict[str, str] | None = None
    now: datetime = T0
    events: list[str] = field(default_factory=list)
    history: list[tuple[str, dict[str, str], frozenset[str]]] = field(default_factory=list)
    #: other Services over the app's pods (Online Boutique's frontend-external): name →
    #: selector, their ready endpoints and how many ticks those lag behind a selector change
    siblings: dict[str, dict[str, str]] = field(default_factory=dict)
    sibling_endpoints: dict[str, frozenset[str]] = field(default_factory=dict)
    sibling_lag: dict[str, int] = field(default_factory=dict)
    #: the app Service's field managers (field path → manager)
    service_managers: dict[str, str] = field(default_factory=dict)

    def pods(self, track: str) -> list[str]:
        d = next((d for d in self.deployments.values() if d.track == track), None)
        return [f"{d.name}-{i}" for i in range(d.ready)] if d else []

    def selected_ready(self, selector: dict[str, str] | None = None) -> frozenset[str]:
        selector = self.selector if selector is None else selector
        if selector.get("app", "hello") != "hello":
            return frozenset()
        track = selector.get("color")
        if track is None:
            return frozenset(p for d in self.deployments.values() for p in self.pods(d.track))
        return frozenset(self.pods(track))

    def add_sibling(self, name: str, selector: dict[str, str]) -> None:
        self.siblings[name] = dict(selector)
        self.sibling_endpoints[name] = self.selected_ready(selector)
        self.sibling_lag[name] = 0

    def services(self) -> dict[str, tuple[dict[str, str], frozenset[str]]]:
        """Every Service over the app's pods: name → (selector, ready endpoints)."""
        out = {"hello": (dict(self.selector), self.endpoints)}
        for name, sel in self.siblings.items():
            out[name] = (dict(sel), self.sibling_endpoints[name])
        return out

    def observe(self) -> AppObs:
        pods = [
            PodObs(name=p, track=d.track, ready=True, terminating=False)
            for d in self.deployments.values()
            for p in self.pods(d.track)
        ]
        deps = tuple(
            DeploymentObs(
                name=d.name,
                track=d.track,
                replicas=d.replicas,
                ready=d.ready,
                updated=d.replicas,
                available=d.ready,
                total=max(d.replicas, d.ready),
                generation=d.generation,
                observed_generation=d.observed,
                selector={"app": "hello", "color": d.track},
                labels={"app": "hello"},
                annotations=dict(d.annotations),
                template=d.template,
                managers=dict(d.managers),
            )
            for d in self.deployments.values()
        )
        preview = (
            ServiceObs(name="hello-preview", selector=self.preview)
            if self.preview is not None
            else None
        )
        return AppObs(
            namespace="ns",
            service=ServiceObs(
                name="hello",
                selector=dict(self.selector),
                ports=({"port": 80},),
                managers=dict(self.service_managers),
            ),
            track_label="color",
            deployments=deps,
            pods=tuple(pods),
            endpoints=self.endpoints,
            preview=preview,
            preview_endpoints=frozenset(self.pods(self.preview["color"]))
            if self.preview
            else frozenset(),
            siblings=tuple(
                SiblingObs(
                    service=ServiceObs(name=name, selector=dict(sel), ports=({"port": 80},)),
                    endpoints=self.sibling_endpoints[name],
                    selectable=frozenset(p.name for p in pods),
                )
                for name, sel in sorted(self.siblings.items())
            ),
        )

    def apply(self, action: KubeAction) -> None:
        match action:
            case CreateDeployment(name=name, body=body):
                spec = body["spec"]
                self.deployments[name] = SimDeployment(
                    name=name,
                    track=spec["selector"]["matchLabels"]["color"],
                    replicas=spec["replicas"],
                    template=spec["template"],
                    annotations=dict(body["metadata"].get("annotations", {})),
                )
            case ReplaceTemplate(name=name, template=tpl, annotations=ann):
                d = self.deployments[name]
                d.template = dict(tpl)
                d.annotations.update(ann)
                d.ready = 0
                d.managers["spec.template"] = "kprism"
            case ScaleDeployment(name=name, replicas=n):
                d = self.deployments[name]
                d.replicas = n
                d.ready = min(d.ready, n)
                d.managers["spec.replicas"] = "kprism"
            case DeleteDeployment(name=name):
                self.deployments.pop(name, None)
            case SetSelector(service=name, selector=sel) if name in self.siblings:
                self.siblings[name] = dict(sel)
                self.sibling_lag[name] = 2
            case SetSelector(selector=sel):
                self.selector = dict(sel)
                self.endpoint_lag = 2
                self.service_managers["spec.selector"] = "kprism"
            case EnsureService(selector=sel):
                self.preview = dict(sel)
            case DeleteService():
                self.preview = None
            case EmitEvent(reason=reason):
                self.events.append(reason)

    def tick(self, grow: list[str], seconds: float = 1.0) -> None:
        """Time passes: chosen Deployments get one more ready pod, endpoints catch up."""
        self.now += timedelta(seconds=seconds)
        for name in grow:
            d = self.deployments.get(name)
            if d and d.ready < d.replicas:
                d.ready += 1
        if self.endpoint_lag > 0:
            self.endpoint_lag -= 1
        else:
            self.endpoints = self.selected_ready()
        for name, sel in self.siblings.items():
            if self.sibling_lag[name] > 0:
                self.sibling_lag[name] -= 1
            else:
                self.sibling_endpoints[name] = self.selected_ready(sel)
        self.history.append((self.now.isoformat(), dict(self.selector), self.endpoints))


def blue_app(replicas: int = 3) -> Sim:
    blue = SimDeployment(
        "hello-blue", "blue", replicas, template("hello:1", "blue"), ready=replicas
    )
    sim = Sim(deployments={"hello-blue": blue}, selector={"app": "hello", "color": "blue"})
    sim.endpoints = sim.selected_ready()
    return sim


def new_release(
    sim: Sim, *, auto: bool = True, preview: bool = False, delay: float = 5.0
) -> ReleaseStatus:
    stable = sim.deployments["hello-blue"]
    return ReleaseStatus(
        id="r1",
        kind=Kind.RELEASE,
        spec=ReleaseSpec(
            change=Change(images={"": "hello:2"}),
            auto_promote=auto,
            preview=preview,
            scale_down_delay=delay,
            ready_timeout=60,
            verify_timeout=30,
        ),
        phase=Phase.PROGRESSING,
        step=bluegreen.PIN,
        stable="blue",
        candidate="green",
        stable_deployment="hello-blue",
        candidate_deployment="hello-green",
        replicas=stable.replicas,
        stable_images={"hello": "hello:1"},
        candidate_images={"hello": "hello:2"},
        started_at=iso(sim.now),
        step_started_at=iso(sim.now),
    )


_ = ANNOTATION_TEMPLATE_HASH
