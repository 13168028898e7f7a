"""Rainbow: three live tracks, each with its own share, by pod ratio or by exact routes."""

from __future__ import annotations

import pytest
from lightkube import Client
from lightkube.resources.core_v1 import Pod

from tests.integration.helpers import (
    EndpointSampler,
    kprism,
    make_app,
    ready_endpoints,
    selector,
    wait_for,
)
from tests.integration.traffic_helpers import (
    HTTPRoute,
    backend_ref,
    http_route,
    install_gateway_crds,
)


def per_track(kube: Client, ns: str) -> dict[str, int]:
    eps = ready_endpoints(kube, ns, "hello")
    return {t: sum(n.startswith(f"hello-{t}-") for n in eps) for t in ("blue", "green", "red")}


def _three_tracks(kube: Client, ns: str, kc: str, replicas: int) -> None:
    make_app(kube, ns, replicas=replicas)
    kprism(
        "clone",
        "hello",
        "-n",
        ns,
        "--track",
        "green",
        "--image",
        "registry.example/hello:2",
        "--replicas",
        "0",
        kubeconfig=kc,
        check=0,
    )
    out = kprism(
        "clone",
        "hello",
        "-n",
        ns,
        "--track",
        "red",
        "--image",
        "registry.example/hello:ab",
        "--replicas",
        "1",
        kubeconfig=kc,
        check=0,
    )
    assert "without traffic" in out.stdout
    assert per_track(kube, ns)["red"] == 0  # the Service still pins blue


def _ready_pods(kube: Client, ns: str, track: str) -> int:
    return sum(
        any(c.type == "Ready" and c.status == "True" for c in (p.status.conditions or []))
        for p in kube.list(Pod, namespace=ns, labels={"color": track})
        if p.status is not None and p.metadata is not None and not p.metadata.deletionTimestamp
    )


def test_rainbow_by_replicas_keeps_capacity(
    kube: Client, namespace: str, kubeconfig_path: str
) -> None:
    _three_tracks(kube, namespace, kubeconfig_path, replicas=10)
    # The capacity a split keeps is the pods of every live track: blue's 10 and red's 1.
    # Wait for red's pod, or the total (10 or 11) depends on how fast it got ready.
    wait_for(lambda: _ready_pods(kube, namespace, "red"), lambda n: n == 1, what="red ready")
    with EndpointSampler(kubeconfig_path, namespace) as sampler:
        out = kprism(
            "split",
            "hello",
            "-n",
            namespace,
            "blue=70",
            "green=20",
            "red=10",
            kubeconfig=kubeconfig_path,
            check=0,
        )
    assert "traffic split blue 70%, green 20%, red 10% (pods: blue 8, green 2, red 1)" in out.stdout
    assert per_track(kube, namespace) == {"blue": 8, "green": 2, "red": 1}
    assert "color" not in selector(kube, namespace)
    assert min(sampler.samples) >= 10, sampler.samples
    # back to one track: the Service is pinned again
    kprism(
        "split",
        "hello",
        "-n",
        namespace,
        "blue=100",
        "green=0",
        "red=0",
        kubeconfig=kubeconfig_path,
        check=0,
    )
    assert selector(kube, namespace)["color"] == "blue"
    assert per_track(kube, namespace) == {"blue": 11, "green": 0, "red": 0}  # the capacity kept


def test_rainbow_by_gateway_routes(kube: Client, namespace: str, kubeconfig_path: str) -> None:
    install_gateway_crds(kube)
    _three_tracks(kube, namespace, kubeconfig_path, replicas=4)
    kube.create(http_route("web", [{"backendRefs": [backend_ref("hello")]}]), namespace=namespace)
    kprism(
        "split",
        "hello",
        "-n",
        namespace,
        "blue=60",
        "green=30",
        "red=10",
        "--router",
        "gateway",
        "--httproute",
        "web",
        kubeconfig=kubeconfig_path,
        check=0,
    )
    refs = kube.get(HTTPRoute, "web", namespace=namespace)["spec"]["rules"][0]["backendRefs"]
    assert {r["name"]: r["weight"] for r in refs} == {
        "hello-blue": 60,
        "hello-green": 30,
        "hello-red": 10,
    }
    assert selector(kube, namespace)["color"] == "blue"


@pytest.mark.parametrize(
    ("weights", "needle"),
    [
        (["blue=70", "green=20"], "sum to 100"),
        (["blue=50", "purple=50"], "no track color=purple"),
        (["blue=x"], "TRACK=PERCENT"),
    ],
)
def test_split_bad_input(
    kube: Client, namespace: str, kubeconfig_path: str, weights: list[str], needle: str
) -> None:
    make_app(kube, namespace, replicas=2)
    out = kprism("split", "hello", "-n", namespace, *weights, kubeconfig=kubeconfig_path)
    assert out.returncode == 2 and needle in out.stderr, out.stderr
    assert selector(kube, namespace)["color"] == "blue"
