"""adopt: an existing Deployment + Service brought into track form without downtime."""

from __future__ import annotations

from lightkube import Client
from lightkube.resources.apps_v1 import Deployment

from tests.integration.helpers import (
    EndpointSampler,
    deployment,
    kprism,
    ready_endpoints,
    selector,
    service,
    wait_for,
)


def test_adopt_deployment_without_track_label_clones_then_switches(
    kube: Client, namespace: str, kubeconfig_path: str
) -> None:
    # The seed's starting point: selector app=hello only, on both Deployment and Service.
    kube.create(deployment("hello", {"app": "hello"}, replicas=3), namespace=namespace)
    kube.create(service("hello", {"app": "hello"}), namespace=namespace)
    wait_for(
        lambda: len(ready_endpoints(kube, namespace, "hello")), lambda n: n == 3, what="3 endpoints"
    )
    with EndpointSampler(kubeconfig_path, namespace, stable="") as sampler:
        out = kprism("adopt", "hello", "-n", namespace, kubeconfig=kubeconfig_path, check=0)
        for _ in range(3):
            sampler.sample()
    assert "color=blue serves" in out.stdout
    assert selector(kube, namespace) == {"app": "hello", "color": "blue"}
    names = {d.metadata.name for d in kube.list(Deployment, namespace=namespace)}
    assert names == {"hello-blue"}
    blue = kube.get(Deployment, "hello-blue", namespace=namespace)
    assert blue.spec.selector.matchLabels == {"app": "hello", "color": "blue"}
    eps = ready_endpoints(kube, namespace, "hello")
    assert len(eps) == 3 and all(n.startswith("hello-blue-") for n in eps)
    assert min(sampler.samples) >= 3, f"capacity dropped during adopt: {sampler.samples}"
    # adopt is idempotent
    again = kprism("adopt", "hello", "-n", namespace, kubeconfig=kubeconfig_path, check=0)
    assert "color=blue serves" in again.stdout
    # and the adopted app releases
    kprism(
        "release",
        "hello",
        "-n",
        namespace,
        "--image",
        "registry.example/hello:2",
        "--auto-promote",
        "--scale-down-delay",
        "0",
        kubeconfig=kubeconfig_path,
        check=0,
    )
    assert selector(kube, namespace)["color"] == "green"


def test_adopt_pins_service_to_the_only_live_track(
    kube: Client, namespace: str, kubeconfig_path: str
) -> None:
    kube.create(
        deployment("hello-blue", {"app": "hello", "color": "blue"}, replicas=2), namespace=namespace
    )
    kube.create(service("hello", {"app": "hello"}), namespace=namespace)
    wait_for(
        lambda: len(ready_endpoints(kube, namespace, "hello")), lambda n: n == 2, what="2 endpoints"
    )
    out = kprism("adopt", "hello", "-n", namespace, kubeconfig=kubeconfig_path, check=0)
    assert "color=blue serves" in out.stdout
    assert selector(kube, namespace) == {"app": "hello", "color": "blue"}
    assert {d.metadata.name for d in kube.list(Deployment, namespace=namespace)} == {"hello-blue"}


def test_release_pins_an_unpinned_service_before_the_new_track_gets_pods(
    kube: Client, namespace: str, kubeconfig_path: str
) -> None:
    kube.create(
        deployment("hello-blue", {"app": "hello", "color": "blue"}, replicas=2), namespace=namespace
    )
    kube.create(service("hello", {"app": "hello"}), namespace=namespace)
    wait_for(
        lambda: len(ready_endpoints(kube, namespace, "hello")), lambda n: n == 2, what="2 endpoints"
    )
    out = kprism(
        "release",
        "hello",
        "-n",
        namespace,
        "--image",
        "registry.example/hello:2",
        "--scale-down-delay",
        "0",
        "--no-wait",
        kubeconfig=kubeconfig_path,
        check=0,
    )
    lines = out.stderr.splitlines()
    pin = next(i for i, line in enumerate(lines) if "selector to app=hello,color=blue" in line)
    create = next(i for i, line in enumerate(lines) if "create Deployment hello-green" in line)
    assert pin < create, out.stderr
    # while green is ready but not promoted, the Service serves blue pods only
    eps = ready_endpoints(kube, namespace, "hello")
    assert eps and all(n.startswith("hello-blue-") for n in eps)
