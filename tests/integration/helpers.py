"""Small builders and waits shared by integration tests (test code only)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

from lightkube import Client
from lightkube.codecs import from_dict
from lightkube.resources.discovery_v1 import EndpointSlice

T = TypeVar("T")


def deployment(
    name: str,
    labels: dict[str, str],
    *,
    replicas: int = 3,
    image: str = "registry.example/hello:1",
    ready_delay: str = "1s",
    max_unavailable: int | str = 0,
    max_surge: int | str = 1,
    grace: int = 1,
    extra_pod_annotations: dict[str, str] | None = None,
) -> Any:
    annotations = {"pod-ready.stage.kwok.x-k8s.io/delay": ready_delay}
    annotations.update(extra_pod_annotations or {})
    return from_dict(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name, "labels": labels},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": labels},
                "strategy": {
                    "type": "RollingUpdate",
                    "rollingUpdate": {"maxUnavailable": max_unavailable, "maxSurge": max_surge},
                },
                "template": {
                    "metadata": {"labels": labels, "annotations": annotations},
                    "spec": {
                        "terminationGracePeriodSeconds": grace,
                        "containers": [
                            {
                                "name": "hello",
                                "image": image,
                                "ports": [{"containerPort": 8888}],
                                "readinessProbe": {"httpGet": {"path": "/", "port": 8888}},
                            }
                        ],
                    },
                },
            },
        }
    )


def service(name: str, selector: dict[str, str]) -> Any:
    return from_dict(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": name},
            "spec": {
                "selector": selector,
                "ports": [{"name": "web", "port": 8888, "targetPort": 8888, "protocol": "TCP"}],
            },
        }
    )


def ready_endpoints(kube: Client, namespace: str, service_name: str) -> set[str]:
    """Names of the pods the Service's EndpointSlices list as ready."""
    names: set[str] = set()
    for es in kube.list(
        EndpointSlice,
        namespace=namespace,
        labels={"kubernetes.io/service-name": service_name},
    ):
        for ep in es.endpoints or []:
            if ep.conditions and ep.conditions.ready and ep.targetRef and ep.targetRef.name:
                names.add(ep.targetRef.name)
    return names


def wait_for(
    fn: Callable[[], T], pred: Callable[[T], bool], *, timeout: float = 60.0, what: str = ""
) -> T:
    deadline = time.monotonic() + timeout
    value = fn()
    while not pred(value):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}: last {value!r}")
        time.sleep(0.1)
        value = fn()
    return value
