"""Canary releases through the exact-weight routers (Gateway API HTTPRoute, ingress-nginx
canary Ingress), driven by the real CLI; the routing objects are checked at every step."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from lightkube import Client
from lightkube.resources.core_v1 import Service
from lightkube.resources.networking_v1 import Ingress

from tests.integration.helpers import (
    EndpointSampler,
    kprism,
    kprism_bg,
    make_app,
    release_status,
    replicas,
    selector,
    wait_for,
)
from tests.integration.traffic_helpers import (
    HTTPRoute,
    backend_ref,
    http_route,
    ingress,
    ingress_backend,
    install_gateway_crds,
)

V2 = "registry.example/hello:2"
MANUAL = "steps:\n- setWeight: 20\n- pause: {}\n- setWeight: 50\n- pause: {}\n- setWeight: 100\n"


@pytest.fixture(scope="session")
def gateway_crds(kube: Client) -> list[str]:
    return install_gateway_crds(kube)


def _spec_file(tmp_path: Path) -> str:
    path = tmp_path / "canary.yaml"
    path.write_text(MANUAL)
    return str(path)


def _route_split(kube: Client, ns: str) -> dict[str, int]:
    route = kube.get(HTTPRoute, "web", namespace=ns)
    refs = route["spec"]["rules"][0]["backendRefs"]
    return {r["name"]: r.get("weight", 1) for r in refs}


def _wait_paused_at(kube: Client, ns: str, index: int) -> dict[str, Any]:
    return wait_for(
        lambda: release_status(kube, ns),
        lambda s: s.get("phase") == "Paused" and s.get("step_index") == index,
        timeout=90,
        what=f"pause at step index {index}",
    )


def test_gateway_canary_sets_exact_weights_and_restores_the_route(
    kube: Client, namespace: str, kubeconfig_path: str, gateway_crds: list[str], tmp_path: Path
) -> None:
    make_app(kube, namespace, replicas=4)
    kube.create(http_route("web", [{"backendRefs": [backend_ref("hello")]}]), namespace=namespace)
    original = kube.get(HTTPRoute, "web", namespace=namespace)["spec"]
    proc = kprism_bg(
        "release",
        "hello",
        "-n",
        namespace,
        "--image",
        V2,
        "-f",
        _spec_file(tmp_path),
        "--router",
        "gateway",
        "--httproute",
        "web",
        kubeconfig=kubeconfig_path,
    )
    try:
        with EndpointSampler(kubeconfig_path, namespace) as sampler:
            st = _wait_paused_at(kube, namespace, 1)
            assert _route_split(kube, namespace) == {"hello-blue": 80, "hello-green": 20}
            assert st["achieved_weight"] == 20
            # the Service stays on stable; the candidate serves its share with 1 pod of 4
            assert selector(kube, namespace)["color"] == "blue"
            assert replicas(kube, namespace, "hello-green") == 1
            assert replicas(kube, namespace, "hello-blue") == 4
            kprism("promote", "hello", "-n", namespace, kubeconfig=kubeconfig_path, check=0)
            _wait_paused_at(kube, namespace, 3)
            assert _route_split(kube, namespace) == {"hello-blue": 50, "hello-green": 50}
            assert replicas(kube, namespace, "hello-green") == 2
            kprism("promote", "hello", "-n", namespace, kubeconfig=kubeconfig_path, check=0)
            _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
        proc.communicate()
    assert proc.returncode == 0, err
    assert selector(kube, namespace)["color"] == "green"
    route = kube.get(HTTPRoute, "web", namespace=namespace)
    assert route["spec"] == original, "the user's HTTPRoute was not restored"
    assert "kprism.dev/original-backend-refs" not in (route.metadata.annotations or {})
    names = {s.metadata.name for s in kube.list(Service, namespace=namespace)}
    assert names == {"hello"}, f"per-track Services left behind: {names}"
    assert replicas(kube, namespace, "hello-blue") == 0
    assert min(sampler.samples) >= 4


def test_gateway_canary_abort_restores_route_and_scales_candidate_down(
    kube: Client, namespace: str, kubeconfig_path: str, gateway_crds: list[str], tmp_path: Path
) -> None:
    make_app(kube, namespace, replicas=2)
    kube.create(http_route("web", [{"backendRefs": [backend_ref("hello")]}]), namespace=namespace)
    original = kube.get(HTTPRoute, "web", namespace=namespace)["spec"]
    proc = kprism_bg(
        "release",
        "hello",
        "-n",
        namespace,
        "--image",
        V2,
        "-f",
        _spec_file(tmp_path),
        "--router",
        "gateway",
        "--httproute",
        "web",
        kubeconfig=kubeconfig_path,
    )
    try:
        _wait_paused_at(kube, namespace, 1)
        kprism("abort", "hello", "-n", namespace, kubeconfig=kubeconfig_path, check=0)
        proc.communicate(timeout=90)
    finally:
        proc.kill()
        proc.communicate()
    assert proc.returncode == 1
    assert release_status(kube, namespace)["phase"] == "Aborted"
    assert kube.get(HTTPRoute, "web", namespace=namespace)["spec"] == original
    assert {s.metadata.name for s in kube.list(Service, namespace=namespace)} == {"hello"}
    assert replicas(kube, namespace, "hello-green") == 0
    assert selector(kube, namespace)["color"] == "blue"


def test_nginx_canary_ingress_weights_then_cleanup(
    kube: Client, namespace: str, kubeconfig_path: str, tmp_path: Path
) -> None:
    make_app(kube, namespace, replicas=4)
    spec = {
        "ingressClassName": "nginx",
        "rules": [
            {
                "host": "shop.example",
                "http": {
                    "paths": [
                        {"path": "/", "pathType": "Prefix", "backend": ingress_backend("hello")}
                    ]
                },
            }
        ],
    }
    kube.create(ingress("web", spec), namespace=namespace)
    user = kube.get(Ingress, "web", namespace=namespace).to_dict()["spec"]
    proc = kprism_bg(
        "release",
        "hello",
        "-n",
        namespace,
        "--image",
        V2,
        "-f",
        _spec_file(tmp_path),
        "--router",
        "nginx",
        "--ingress",
        "web",
        "--canary-header",
        "X-Canary",
        kubeconfig=kubeconfig_path,
    )
    try:
        _wait_paused_at(kube, namespace, 1)
        canary = kube.get(Ingress, "web-kprism-canary", namespace=namespace)
        ann = canary.metadata.annotations or {}
        assert ann["nginx.ingress.kubernetes.io/canary"] == "true"
        assert ann["nginx.ingress.kubernetes.io/canary-weight"] == "20"
        assert ann.get("nginx.ingress.kubernetes.io/canary-by-header") == "X-Canary"
        backend = canary.spec.rules[0].http.paths[0].backend.service.name
        assert backend == "hello-green"
        kprism("promote", "hello", "-n", namespace, kubeconfig=kubeconfig_path, check=0)
        _wait_paused_at(kube, namespace, 3)
        ann = kube.get(Ingress, "web-kprism-canary", namespace=namespace).metadata.annotations or {}
        assert ann["nginx.ingress.kubernetes.io/canary-weight"] == "50"
        kprism("promote", "hello", "-n", namespace, kubeconfig=kubeconfig_path, check=0)
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
        proc.communicate()
    assert proc.returncode == 0, err
    assert {i.metadata.name for i in kube.list(Ingress, namespace=namespace)} == {"web"}
    assert kube.get(Ingress, "web", namespace=namespace).to_dict()["spec"] == user
    assert selector(kube, namespace)["color"] == "green"
    assert {s.metadata.name for s in kube.list(Service, namespace=namespace)} == {"hello"}


def test_nginx_canary_abort_deletes_canary_ingress(
    kube: Client, namespace: str, kubeconfig_path: str, tmp_path: Path
) -> None:
    make_app(kube, namespace, replicas=2)
    spec = {
        "rules": [
            {
                "http": {
                    "paths": [
                        {"path": "/", "pathType": "Prefix", "backend": ingress_backend("hello")}
                    ]
                }
            }
        ]
    }
    kube.create(ingress("web", spec), namespace=namespace)
    proc = kprism_bg(
        "release",
        "hello",
        "-n",
        namespace,
        "--image",
        V2,
        "-f",
        _spec_file(tmp_path),
        "--router",
        "nginx",
        "--ingress",
        "web",
        kubeconfig=kubeconfig_path,
    )
    try:
        _wait_paused_at(kube, namespace, 1)
        assert "web-kprism-canary" in {
            i.metadata.name for i in kube.list(Ingress, namespace=namespace)
        }
        kprism("abort", "hello", "-n", namespace, kubeconfig=kubeconfig_path, check=0)
        proc.communicate(timeout=90)
    finally:
        proc.kill()
        proc.communicate()
    assert release_status(kube, namespace)["phase"] == "Aborted"
    assert {i.metadata.name for i in kube.list(Ingress, namespace=namespace)} == {"web"}
    assert {s.metadata.name for s in kube.list(Service, namespace=namespace)} == {"hello"}
    assert replicas(kube, namespace, "hello-green") == 0
    assert selector(kube, namespace)["color"] == "blue"


def test_router_bad_input_is_refused_before_anything_changes(
    kube: Client, namespace: str, kubeconfig_path: str, gateway_crds: list[str]
) -> None:
    make_app(kube, namespace, replicas=2)
    kube.create(
        http_route("other", [{"backendRefs": [backend_ref("not-hello")]}]), namespace=namespace
    )
    out = kprism(
        "release",
        "hello",
        "-n",
        namespace,
        "--image",
        V2,
        "--steps",
        "50,100",
        "--router",
        "gateway",
        "--httproute",
        "other",
        kubeconfig=kubeconfig_path,
    )
    assert out.returncode == 2, out.stderr
    assert "does not reference Service hello" in out.stderr
    out = kprism(
        "release",
        "hello",
        "-n",
        namespace,
        "--image",
        V2,
        "--steps",
        "50,100",
        "--router",
        "nginx",
        "--ingress",
        "nope",
        kubeconfig=kubeconfig_path,
    )
    assert out.returncode == 2, out.stderr
    assert "nope" in out.stderr
    assert release_status(kube, namespace) == {}
    _ = json
