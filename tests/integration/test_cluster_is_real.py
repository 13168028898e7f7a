"""The local cluster behaves like a real one where kprism depends on it.

Deployments, ReplicaSets, the scheduler, KWOK's pod lifecycle and the EndpointSlice
controller all run for real: these tests fail if any of them is missing or fake.
"""

from __future__ import annotations

import ipaddress
import threading
import time

from lightkube import Client
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.core_v1 import Node, Pod, Service
from lightkube.resources.discovery_v1 import EndpointSlice

from tests.integration.helpers import deployment, ready_endpoints, service, wait_for

APP = {"app": "hello"}


def _count(kube: Client, ns: str) -> int:
    return len(ready_endpoints(kube, ns, "hello"))


def test_three_replicas_give_three_ready_endpoints(kube: Client, namespace: str) -> None:
    kube.create(deployment("hello", APP, replicas=3), namespace=namespace)
    kube.create(service("hello", APP), namespace=namespace)
    eps = wait_for(
        lambda: ready_endpoints(kube, namespace, "hello"),
        lambda s: len(s) == 3,
        what="3 ready endpoints",
    )
    pods = {p.metadata.name for p in kube.list(Pod, namespace=namespace, labels=APP)}
    assert eps == pods
    # Pod IPs come from the simulated range that nothing dials.
    for p in kube.list(Pod, namespace=namespace, labels=APP):
        assert ipaddress.ip_address(p.status.podIP) in ipaddress.ip_network("198.18.0.0/15")


def test_pods_become_ready_after_the_annotated_delay(kube: Client, namespace: str) -> None:
    kube.create(
        deployment("slow", {"app": "slow"}, replicas=1, ready_delay="3s"), namespace=namespace
    )
    start = time.monotonic()
    pod = wait_for(
        lambda: list(kube.list(Pod, namespace=namespace, labels={"app": "slow"})),
        lambda ps: len(ps) == 1 and bool(ps[0].status and ps[0].status.podIP),
        what="pod with IP",
    )[0]
    ready = [c for c in pod.status.conditions or [] if c.type == "Ready"]
    assert ready and ready[0].status == "False", "a new pod must not be ready at once"
    wait_for(
        lambda: kube.get(Deployment, "slow", namespace=namespace).status.readyReplicas,
        lambda r: r == 1,
        what="ready replica",
    )
    assert time.monotonic() - start >= 2.5


def test_scaling_down_leaves_one_endpoint(kube: Client, namespace: str) -> None:
    kube.create(deployment("hello", APP, replicas=3), namespace=namespace)
    kube.create(service("hello", APP), namespace=namespace)
    wait_for(lambda: _count(kube, namespace), lambda n: n == 3, what="3 endpoints")
    kube.patch(Deployment, "hello", {"spec": {"replicas": 1}}, namespace=namespace)
    wait_for(lambda: _count(kube, namespace), lambda n: n == 1, what="1 endpoint")


def test_terminating_pod_is_not_ready_at_once_and_gone_after_grace(
    kube: Client, namespace: str
) -> None:
    kube.create(deployment("hello", APP, replicas=1, grace=3), namespace=namespace)
    kube.create(service("hello", APP), namespace=namespace)
    (name,) = wait_for(
        lambda: ready_endpoints(kube, namespace, "hello"), lambda s: len(s) == 1, what="1 endpoint"
    )
    kube.delete(Pod, name, namespace=namespace)
    t0 = time.monotonic()
    wait_for(
        lambda: ready_endpoints(kube, namespace, "hello"),
        lambda s: name not in s,
        timeout=2,
        what="terminating pod out of ready endpoints",
    )
    assert kube.get(Pod, name, namespace=namespace).metadata.deletionTimestamp is not None

    def gone() -> bool:
        return name not in {p.metadata.name for p in kube.list(Pod, namespace=namespace)}

    wait_for(gone, bool, timeout=15, what="pod removed after its grace period")
    assert time.monotonic() - t0 >= 2.0, "pod vanished before its grace period ended"


def test_selector_change_moves_endpoints(kube: Client, namespace: str) -> None:
    blue = {"app": "hello", "color": "blue"}
    green = {"app": "hello", "color": "green"}
    kube.create(deployment("hello-blue", blue, replicas=2), namespace=namespace)
    kube.create(deployment("hello-green", green, replicas=3), namespace=namespace)
    kube.create(service("hello", blue), namespace=namespace)
    blue_pods = wait_for(
        lambda: ready_endpoints(kube, namespace, "hello"),
        lambda s: len(s) == 2,
        what="blue endpoints",
    )
    assert all(n.startswith("hello-blue-") for n in blue_pods)
    wait_for(
        lambda: kube.get(Deployment, "hello-green", namespace=namespace).status.readyReplicas,
        lambda r: r == 3,
        what="green ready",
    )
    kube.patch(Service, "hello", {"spec": {"selector": green}}, namespace=namespace)
    green_pods = wait_for(
        lambda: ready_endpoints(kube, namespace, "hello"),
        lambda s: len(s) == 3 and all(n.startswith("hello-green-") for n in s),
        what="green endpoints",
    )
    assert not green_pods & blue_pods


def test_rolling_update_with_max_unavailable_zero_keeps_capacity(
    kube: Client, namespace: str
) -> None:
    kube.create(
        deployment("hello", APP, replicas=3, max_unavailable=0, max_surge=1), namespace=namespace
    )
    kube.create(service("hello", APP), namespace=namespace)
    wait_for(lambda: _count(kube, namespace), lambda n: n == 3, what="3 endpoints")

    samples: list[int] = []
    stop = threading.Event()

    def sample() -> None:
        for _ in kube.watch(
            EndpointSlice, namespace=namespace, labels={"kubernetes.io/service-name": "hello"}
        ):
            samples.append(_count(kube, namespace))
            if stop.is_set():
                return

    t = threading.Thread(target=sample, daemon=True)
    t.start()
    kube.patch(
        Deployment,
        "hello",
        {
            "spec": {
                "template": {
                    "spec": {"containers": [{"name": "hello", "image": "registry.example/hello:2"}]}
                }
            }
        },
        namespace=namespace,
    )

    def rolled() -> bool:
        d = kube.get(Deployment, "hello", namespace=namespace)
        s = d.status
        return bool(
            s
            and s.updatedReplicas == 3
            and s.readyReplicas == 3
            and (s.replicas or 0) == 3
            and s.observedGeneration == d.metadata.generation
        )

    wait_for(rolled, bool, timeout=90, what="rollout complete")
    wait_for(lambda: _count(kube, namespace), lambda n: n == 3, what="3 endpoints after rollout")
    stop.set()
    images = {
        p.spec.containers[0].image
        for p in kube.list(Pod, namespace=namespace, labels=APP)
        if p.metadata.deletionTimestamp is None
    }
    assert images == {"registry.example/hello:2"}
    assert len(samples) >= 4, f"the watch saw too few EndpointSlice changes: {samples}"
    assert min(samples) >= 3, f"ready endpoints dropped below 3 during the rollout: {samples}"


def test_node_and_service_ips_are_loopback(kube: Client, namespace: str) -> None:
    nodes = list(kube.list(Node))
    assert nodes
    for node in nodes:
        for addr in node.status.addresses or []:
            if addr.type in ("InternalIP", "ExternalIP"):
                assert ipaddress.ip_address(addr.address).is_loopback, addr
    kube.create(service("hello", APP), namespace=namespace)
    svc = kube.get(Service, "hello", namespace=namespace)
    for ip in svc.spec.clusterIPs or [svc.spec.clusterIP]:
        assert ipaddress.ip_address(ip).is_loopback, ip
    k8s = kube.get(Service, "kubernetes", namespace="default")
    assert ipaddress.ip_address(k8s.spec.clusterIP).is_loopback
