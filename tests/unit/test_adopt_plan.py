"""Adopt on public apps' shapes (pure): podinfo's Deployment ``podinfo`` selects
``app: podinfo`` only and is scaled by an HPA of the same name."""

from __future__ import annotations

import dataclasses

from kprism.model.actions import DeleteDeployment, EnsureHpa
from kprism.model.observed import AppObs, HpaObs
from kprism.plan.adopt import decide_adopt
from tests.unit.bgsim import SimDeployment, blue_app, template


def _cloned(hpa_target: str) -> AppObs:
    """The original ``hello`` (no track label, 2 replicas) beside its ready clone
    ``hello-blue``, the Service pinned to blue and its endpoints verified; the HPA
    ``hello`` (2..4) scales ``hpa_target``."""
    sim = blue_app(2)
    sim.deployments = {"hello": SimDeployment("hello", "", 2, template("hello:1", ""), ready=2)}
    obs = sim.observe()
    orig = dataclasses.replace(obs.deployments[0], track=None)
    clone = dataclasses.replace(orig, name="hello-blue", track="blue")
    ready = frozenset({"hello-blue-0", "hello-blue-1"})
    return dataclasses.replace(
        obs,
        deployments=(orig, clone),
        pods=(
            *(dataclasses.replace(p, track=None) for p in obs.pods),
            *(dataclasses.replace(obs.pods[0], name=n, track="blue") for n in sorted(ready)),
        ),
        service=dataclasses.replace(obs.service, selector={"app": "hello", "color": "blue"}),
        endpoints=ready,
        hpas=(HpaObs(name="hello", target=hpa_target, min_replicas=2, max_replicas=4),),
    )


def test_adopt_moves_the_hpa_to_the_clone_before_deleting_the_original() -> None:
    """Deleting the original under its HPA would leave the HPA scaling nothing (and the
    clone's replicas unmanaged): it is pointed at the clone, bounds kept, first."""
    step = decide_adopt(_cloned("hello"), track="blue")
    assert step.actions == (
        EnsureHpa(name="hello", target="hello-blue", min_replicas=2, max_replicas=4),
    )
    step = decide_adopt(_cloned("hello-blue"), track="blue")
    assert step.actions == (DeleteDeployment(name="hello"),)
