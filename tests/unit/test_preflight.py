"""Pure release pre-flight on observed apps."""

from __future__ import annotations

import dataclasses

import pytest

from kprism.errors import UsageError
from kprism.model.observed import DeploymentObs, ServiceObs
from kprism.plan.preflight import candidate_track, check_single_app, stable_track
from tests.unit.bgsim import SimDeployment, blue_app, template


def test_stable_and_idle_track() -> None:
    obs = blue_app(3).observe()
    stable = stable_track(obs, None)
    assert stable.name == "hello-blue"
    assert candidate_track(obs, stable, None) == "green"
    with pytest.raises(UsageError, match="stable track"):
        candidate_track(obs, stable, "blue")


def test_no_idle_track_when_both_colors_have_replicas() -> None:
    sim = blue_app(3)
    sim.deployments["hello-green"] = SimDeployment(
        "hello-green", "green", 2, template("h:2", "green")
    )
    obs = sim.observe()
    with pytest.raises(UsageError, match="no idle track"):
        candidate_track(obs, stable_track(obs, None), None)


def test_unpinned_service_with_two_live_tracks_needs_stable() -> None:
    sim = blue_app(3)
    sim.deployments["hello-green"] = SimDeployment(
        "hello-green", "green", 2, template("h:2", "green"), ready=2
    )
    sim.selector = {"app": "hello"}
    obs = sim.observe()
    with pytest.raises(UsageError, match="--stable"):
        stable_track(obs, None)
    assert stable_track(obs, "green").name == "hello-green"


def test_service_selecting_two_apps() -> None:
    obs = blue_app(2).observe()
    other = DeploymentObs(
        name="api-blue",
        track="blue",
        replicas=1,
        selector={"app": "api", "color": "blue"},
        template={"metadata": {"labels": {"app": "api", "color": "blue"}}},
    )
    two = dataclasses.replace(
        obs,
        deployments=(*obs.deployments, other),
        service=ServiceObs(name="hello", selector={"color": "blue", "tier": "x"}),
    )
    with pytest.raises(UsageError, match="more than one app"):
        check_single_app(two)
    check_single_app(obs)  # one app: fine
