"""Rollback to any release in the history, and the pod-template diffs the dashboard's
confirmations show (ops on the in-memory adapter; plan.diff pure)."""

from __future__ import annotations

import pytest

from kprism import ops
from kprism.errors import UsageError
from kprism.model.release import Change, Kind, Phase, ReleaseSpec
from kprism.plan.diff import template_diff
from tests.unit.bgsim import blue_app
from tests.unit.fakekube import NS, SERVICE, fake

APP = ops.App(name=SERVICE, namespace=NS)


def spec(image: str, **more: object) -> ReleaseSpec:
    return ReleaseSpec(
        change=Change(images={"hello": image}, **more),  # type: ignore[arg-type]
        scale_down_delay=0,
        auto_promote=True,
    )


def test_template_diff_names_containers_and_leaves_the_track_label_out() -> None:
    before = {
        "metadata": {"labels": {"app": "web", "color": "blue"}},
        "spec": {
            "containers": [{"name": "web", "image": "web:1", "env": [{"name": "A", "value": "1"}]}]
        },
    }
    after = {
        "metadata": {"labels": {"app": "web", "color": "green"}},
        "spec": {
            "containers": [
                {
                    "name": "web",
                    "image": "web:2",
                    "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "x"}],
                }
            ]
        },
    }
    rows = [c.to_dict() for c in template_diff(before, after, track_label="color")]
    assert rows == [
        {"path": "spec.containers[web].env[B].value", "before": None, "after": "x"},
        {"path": "spec.containers[web].image", "before": "web:1", "after": "web:2"},
    ]
    assert template_diff(before, before) == []


def test_rollback_to_an_older_release_whose_track_is_gone_releases_its_images() -> None:
    kube = fake(blue_app())
    first = ops.release(kube, APP, spec("hello:2"), timeout=10)  # blue → green
    ops.release(kube, APP, spec("hello:3"), timeout=10)  # green → blue (hello:3)
    ops.release(kube, APP, spec("hello:4"), timeout=10)  # blue → green (hello:4)
    preview = ops.preview_rollback(kube, APP, to=first.id)
    assert preview["from"] == "green" and "not its whole pod template" in preview["note"]
    assert {
        "path": "spec.containers[hello].image",
        "before": "hello:4",
        "after": "hello:2",
    } in preview["diff"]
    final = ops.rollback_to(kube, APP, first.id, scale_down_delay=0, timeout=10)
    assert (final.kind, final.phase) == (Kind.ROLLBACK, Phase.SUCCEEDED)
    serving = kube.sim.selector["color"]
    dep = next(d for d in kube.sim.deployments.values() if d.track == serving)
    assert dep.template["spec"]["containers"][0]["image"] == "hello:2"
    assert ops.history(kube, APP)[0]["kind"] == "rollback"


def test_rollback_to_a_release_whose_track_still_runs_it_goes_back_onto_that_track() -> None:
    kube = fake(blue_app())
    first = ops.release(kube, APP, spec("hello:2"), timeout=10)  # green runs hello:2
    ops.release(kube, APP, spec("hello:3"), timeout=10)  # blue runs hello:3, green kept at 0
    preview = ops.preview_rollback(kube, APP, to=first.id)
    assert (preview["from"], preview["to"]) == ("blue", "green")
    final = ops.rollback_to(kube, APP, first.id, scale_down_delay=0, timeout=10)
    assert (final.kind, final.candidate) == (Kind.ROLLBACK, "green")
    assert kube.sim.selector["color"] == "green"


def test_rollback_to_refuses_what_it_cannot_do() -> None:
    kube = fake(blue_app())
    first = ops.release(kube, APP, spec("hello:2"), timeout=10)
    with pytest.raises(UsageError, match="already runs release"):
        ops.rollback_to(kube, APP, first.id, timeout=10)
    with pytest.raises(UsageError, match="not in app hello's history: the last are"):
        ops.rollback_to(kube, APP, "nope", timeout=10)


def test_preview_release_shows_the_fields_a_release_changes() -> None:
    kube = fake(blue_app())
    change = ReleaseSpec(
        change=Change(images={"hello": "hello:9"}, env={"hello": {"MODE": "fast"}})
    )
    diff = ops.preview_release(kube, APP, change)["diff"]
    paths = {d["path"]: (d["before"], d["after"]) for d in diff}
    assert paths["spec.containers[hello].image"][1] == "hello:9"
    assert paths["spec.containers[hello].env[MODE].value"] == (None, "fast")
