"""Other Services over the app's pods (Online Boutique's frontend + frontend-external):
found by the adapter, pinned by adopt, moved by releases, refused by the pre-flight
when they cannot be moved."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from kprism.errors import UsageError
from kprism.kube.client import _app_obs, service_obs
from kprism.model.actions import DeleteDeployment, SetSelector
from kprism.model.observed import ServiceObs, SiblingObs
from kprism.plan import siblings as sib
from kprism.plan.adopt import decide_adopt
from kprism.plan.preflight import check_siblings, describe_canary, describe_steps
from tests.unit.bgsim import SimDeployment, blue_app, new_release, template


def svc(name: str, selector: dict[str, str], **labels: str) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": "shop", "labels": labels},
        "spec": {"selector": selector, "ports": [{"port": 80}]},
    }


def pod(name: str, labels: dict[str, str]) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "labels": labels},
        "status": {"conditions": [{"type": "Ready", "status": "True"}]},
    }


def dep(name: str, labels: dict[str, str], replicas: int = 1) -> dict[str, Any]:
    return {
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {"containers": []}},
        },
    }


def slice_of(service: str, *pods: str) -> dict[str, Any]:
    return {
        "metadata": {"labels": {"kubernetes.io/service-name": service}},
        "endpoints": [{"targetRef": {"name": p}, "conditions": {"ready": True}} for p in pods],
    }


def boutique(**extra: dict[str, str]) -> Any:
    """frontend (pinned to blue), frontend-external over the same pods, and others."""
    services = [
        svc("frontend", {"app": "frontend", "color": "blue"}),
        svc("frontend-external", {"app": "frontend"}),
        svc("frontend-preview", {"app": "frontend", "color": "green"}),
        svc(
            "frontend-green",
            {"app": "frontend", "color": "green"},
            **{"app.kubernetes.io/managed-by": "kprism"},
        ),
        svc("cartservice", {"app": "cartservice"}),
        svc("external-name", {}),
        *(svc(name, sel) for name, sel in extra.items()),
    ]
    blue = {"app": "frontend", "color": "blue", "tier": "web"}
    pods = [pod("frontend-blue-1", blue), pod("frontend-blue-2", blue)]
    slices = [
        slice_of("frontend", "frontend-blue-1", "frontend-blue-2"),
        slice_of("frontend-external", "frontend-blue-1"),
    ]
    return _app_obs(
        namespace="shop",
        svc=service_obs(services[0]),
        track_label="color",
        deployments=[
            dep("frontend-blue", blue, 2),
            dep("frontend-green", {"app": "frontend", "color": "green", "tier": "web"}, 0),
        ],
        pods=pods,
        preview=None,
        slices=lambda name: [
            s for s in slices if s["metadata"]["labels"]["kubernetes.io/service-name"] == name
        ],
        hpas=[],
        services=services,
    )


def test_the_adapter_finds_every_other_service_over_the_apps_pods() -> None:
    obs = boutique(**{"frontend-web": {"app": "frontend", "tier": "web"}, "web": {"tier": "web"}})
    found = {s.name: s for s in obs.siblings}
    # not the app's own Service, its preview, kprism's track Services, other apps' or
    # selector-less Services
    assert sorted(found) == ["frontend-external", "frontend-web", "web"]
    ext = found["frontend-external"]
    assert ext.endpoints == frozenset({"frontend-blue-1"})
    assert ext.selectable == frozenset({"frontend-blue-1", "frontend-blue-2"})
    assert [s.name for s in sib.movables(obs)] == ["frontend-external", "frontend-web"]
    assert [s.name for s in sib.unmovable(obs)] == ["web"]


def test_a_service_pinned_to_an_idle_track_is_a_sibling_by_the_pod_template() -> None:
    obs = boutique(**{"frontend-canary": {"app": "frontend", "color": "green"}})
    assert "frontend-canary" in {s.name for s in obs.siblings}


def with_sibling(selector: dict[str, str], name: str = "hello-external") -> Any:
    sim = blue_app(2)
    sim.add_sibling(name, selector)
    return sim


def test_select_moves_the_service_first_then_every_movable_sibling() -> None:
    obs = with_sibling({"app": "hello"}).observe()
    assert [(a.service, a.selector) for a in sib.select(obs, "green")] == [
        ("hello", {"app": "hello", "color": "green"}),
        ("hello-external", {"app": "hello", "color": "green"}),
    ]
    assert [a.selector for a in sib.select(obs, None)] == [{"app": "hello"}]
    assert [a.service for a in sib.follow(obs)] == ["hello-external"]


def test_the_preflight_refuses_a_sibling_it_cannot_move_naming_it() -> None:
    obs = with_sibling({"tier": "web"}, name="web").observe()
    obs = dataclasses.replace(
        obs,
        siblings=(SiblingObs(service=ServiceObs(name="web", selector={"tier": "web"})),),
    )
    with pytest.raises(UsageError) as err:
        check_siblings(obs, force=False)
    line = str(err.value)
    assert "\n" not in line
    assert line.startswith("Service web (selector tier=web) also selects pods of hello")
    assert "add app=hello to its selector" in line and "--force" in line
    check_siblings(obs, force=True)
    check_siblings(with_sibling({"app": "hello"}).observe(), force=False)  # movable: fine


def test_the_plan_names_every_service_it_moves() -> None:
    sim = with_sibling({"app": "hello"})
    steps = describe_steps(new_release(sim), sim.observe())
    assert steps[0] == (
        "pin Service hello-external to color=blue too (it selects the pods of hello by app=hello)"
    )
    assert any(
        s.startswith("switch Services hello, hello-external selector color: blue → green")
        for s in steps
    )
    assert any(s.startswith("verify the EndpointSlices of hello, hello-external") for s in steps)


def test_adopt_pins_every_movable_sibling_and_says_so() -> None:
    sim = blue_app(2)
    sim.selector = {"app": "hello"}
    sim.add_sibling("hello-external", {"app": "hello"})
    first = decide_adopt(sim.observe(), track="blue")
    assert [(a.service, a.selector) for a in first.actions if isinstance(a, SetSelector)] == [
        ("hello", {"app": "hello", "color": "blue"}),
        ("hello-external", {"app": "hello", "color": "blue"}),
    ]
    for a in first.actions:
        sim.apply(a)
    for _ in range(3):
        sim.tick([])
    done = decide_adopt(sim.observe(), track="blue")
    assert done.done
    assert done.message == (
        "app hello is in track form: color=blue serves; Service hello-external selects it too "
        "and moves with it"
    )


def test_adopt_of_a_pinned_app_pins_a_sibling_left_selecting_every_track() -> None:
    """An app adopted before kprism knew about siblings: adopt again pins the rest."""
    obs = with_sibling({"app": "hello"}).observe()
    step = decide_adopt(obs, track="blue")
    assert [(a.service, a.selector) for a in step.actions if isinstance(a, SetSelector)] == [
        ("hello-external", {"app": "hello", "color": "blue"})
    ]


def test_adopt_by_cloning_pins_siblings_before_deleting_the_original() -> None:
    sim = blue_app(1)
    sim.deployments = {
        "hello": SimDeployment("hello", "", 1, template("hello:1", ""), ready=1),
    }
    sim.selector = {"app": "hello"}
    sim.add_sibling("hello-external", {"app": "hello"})
    obs = sim.observe()
    untracked = tuple(dataclasses.replace(d, track=None) for d in obs.deployments)
    clone = dataclasses.replace(
        untracked[0], name="hello-blue", track="blue", observed_generation=1
    )
    ready = frozenset({"hello-blue-0"})
    obs = dataclasses.replace(
        obs,
        deployments=(*untracked, clone),
        pods=(
            *tuple(dataclasses.replace(p, track=None) for p in obs.pods),
            dataclasses.replace(obs.pods[0], name="hello-blue-0", track="blue"),
        ),
        service=dataclasses.replace(obs.service, selector={"app": "hello", "color": "blue"}),
        endpoints=ready,
    )
    step = decide_adopt(obs, track="blue")
    assert [a.service for a in step.actions if isinstance(a, SetSelector)] == ["hello-external"]
    pinned = dataclasses.replace(
        obs,
        siblings=(
            SiblingObs(
                service=ServiceObs(
                    name="hello-external", selector={"app": "hello", "color": "blue"}
                ),
                endpoints=ready,
                selectable=ready | {"hello-0"},
            ),
        ),
    )
    step = decide_adopt(pinned, track="blue")
    assert step.actions == (DeleteDeployment(name="hello"),)


def test_canary_plan_lets_every_service_select_both_tracks() -> None:
    from tests.unit.test_canary_plan import canary_release

    sim = with_sibling({"app": "hello", "color": "blue"})
    steps = describe_canary(canary_release(sim, "50,100"), sim.observe())
    assert any(s.startswith("let Services hello, hello-external select both tracks") for s in steps)
    assert steps[-1].startswith("pin Services hello, hello-external to color=green")


def test_status_lists_the_other_services_and_whether_they_move_with_the_app() -> None:
    from kprism import ops
    from kprism.cli.inspect import _text_lines
    from tests.unit.fakekube import NS, SERVICE, fake

    sim = with_sibling({"app": "hello"})
    sim.add_sibling("web", {"tier": "web"})
    sim.sibling_endpoints["web"] = frozenset()
    kube = fake(sim)
    view = ops.app_status(kube, ops.App(name=SERVICE, namespace=NS))
    rows = {s.name: s for s in view.services}
    assert rows["hello-external"].moves and not rows["hello-external"].in_line
    assert rows["hello-external"].endpoints == 2 and rows["hello-external"].track is None
    assert not rows["web"].moves and rows["web"].problem.startswith(
        "Service web (selector tier=web)"
    )
    data = view.to_dict()["services"]
    assert [s["name"] for s in data] == ["hello-external", "web"]
    assert data[0]["selector"] == {"app": "hello"} and data[0]["moves"] is True
    text = "\n".join(_text_lines(view, 300))
    assert (
        "also selected by Service hello-external (app=hello, 2 ready endpoints): selects other "
        "pods than hello: the next release or adopt pins it"
    ) in text
    assert (
        "also selected by Service web (tier=web, 0 ready endpoints): kprism cannot move it" in text
    )
    sim.siblings["hello-external"] = {"app": "hello", "color": "blue"}
    text = "\n".join(_text_lines(ops.app_status(kube, ops.App(name=SERVICE, namespace=NS)), 300))
    assert "(app=hello,color=blue, 2 ready endpoints): moves with hello" in text


def test_a_change_to_another_service_over_the_pods_wakes_the_apps_engine() -> None:
    from kprism.kube.watch import concerns

    def svc_event(name: str, selector: dict[str, str]) -> bool:
        obj = {"metadata": {"name": name, "namespace": "shop"}, "spec": {"selector": selector}}
        return concerns(
            "Service", obj, namespace="shop", service="frontend", selector={"app": "frontend"}
        )

    assert svc_event("shop-web", {"app": "frontend", "color": "blue"})
    assert svc_event("frontend-external", {"app": "frontend"})
    assert not svc_event("cartservice", {"app": "cartservice"})


def test_pin_moves_the_other_services_with_the_app() -> None:
    from kprism import ops
    from tests.unit.fakekube import NS, SERVICE, fake

    sim = with_sibling({"app": "hello"})
    kube = fake(sim)
    ops.pin(kube, ops.App(name=SERVICE, namespace=NS), "blue")
    assert sim.siblings["hello-external"] == {"app": "hello", "color": "blue"}
