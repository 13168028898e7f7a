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


def _bookinfo(*versions: str) -> object:
    """Bookinfo's shape seen with the default track label ``color``: Deployments
    ``reviews-v1``… select ``app: reviews, version: vN`` and the Service ``app: reviews``."""
    obs = blue_app(1).observe()
    base = obs.deployments[0]
    deps = tuple(
        dataclasses.replace(
            base,
            name=f"reviews-{v}",
            track=None,
            selector={"app": "reviews", "version": v},
            template={"metadata": {"labels": {"app": "reviews", "version": v}}},
        )
        for v in versions
    )
    return dataclasses.replace(
        obs, service=ServiceObs(name="reviews", selector={"app": "reviews"}), deployments=deps
    )


def test_versions_of_one_app_are_not_several_apps_the_error_names_the_track_label() -> None:
    """Istio Bookinfo: reviews-v1/v2/v3 differ only by ``version``. Saying they are
    "more than one app" sent users to narrow the Service; they need --track-label."""
    with pytest.raises(UsageError) as err:
        check_single_app(_bookinfo("v1", "v2", "v3"))  # type: ignore[arg-type]
    msg = str(err.value)
    assert "more than one app" not in msg
    assert "reviews-v1, reviews-v2, reviews-v3" in msg
    assert "--track-label version" in msg


def test_an_untracked_deployment_with_a_version_label_suggests_it_as_the_track_label() -> None:
    """Bookinfo's productpage-v1 (``app: productpage, version: v1``) before adopt."""
    with pytest.raises(UsageError, match=r"run `kprism adopt reviews` .*--track-label version"):
        stable_track(_bookinfo("v1"), None)  # type: ignore[arg-type]


def _versions(stable: str, **others: int) -> tuple[object, DeploymentObs]:
    """An app whose tracks are versions (track label ``version``): ``stable`` serves,
    ``others`` maps each other version to its replicas."""
    obs = blue_app(2).observe()
    base = obs.deployments[0]
    deps = tuple(
        dataclasses.replace(base, name=f"reviews-{t}", track=t, replicas=n)
        for t, n in {stable: 2, **others}.items()
    )
    obs = dataclasses.replace(obs, deployments=deps, track_label="version")
    return obs, deps[0]


def test_the_next_track_of_a_versioned_app_is_the_next_version() -> None:
    """Bookinfo's productpage-v1 released without --track became track ``blue``
    (``version=blue``, Deployment productpage-blue); reviews-v1 beside the idle variants
    v2 and v3 must not overwrite either of them."""
    obs, stable = _versions("v1")
    assert candidate_track(obs, stable, None) == "v2"  # type: ignore[arg-type]
    obs, stable = _versions("v1", v2=0, v3=0)
    assert candidate_track(obs, stable, None) == "v4"  # type: ignore[arg-type]
    obs, stable = _versions("v9", v10=0)
    assert candidate_track(obs, stable, None) == "v11"  # type: ignore[arg-type]
    obs, stable = _versions("stable")  # not numbered: blue/green as before
    assert candidate_track(obs, stable, None) == "blue"  # type: ignore[arg-type]
