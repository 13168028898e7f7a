"""Gateway API CRDs in the test cluster, and small builders for routing objects (test code).

The CRD YAML comes from the ``sigs.k8s.io/gateway-api`` Go module: ``hack/test.sh`` runs
``hack/gateway-api-crds.sh`` before entering the loopback-only network namespace and
exports the path as ``KPRISM_GATEWAY_CRDS``. Tests that need the CRDs call
:func:`install_gateway_crds` from a session fixture; without the variable they fail.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest
from lightkube import Client
from lightkube.codecs import from_dict, load_all_yaml
from lightkube.core.exceptions import ApiError
from lightkube.generic_resource import create_namespaced_resource
from lightkube.resources.apiextensions_v1 import CustomResourceDefinition

HTTPRoute = create_namespaced_resource("gateway.networking.k8s.io", "v1", "HTTPRoute", "httproutes")


def install_gateway_crds(kube: Client, *, timeout: float = 60.0) -> list[str]:
    """Server-side apply the standard-channel CRDs; wait until served. Returns CRD names."""
    path = os.environ.get("KPRISM_GATEWAY_CRDS")
    if not path or not Path(path).is_file():
        pytest.fail(
            "the gateway router tests need the Gateway API CRDs: run them with `make test`, or "
            "set KPRISM_GATEWAY_CRDS=$(hack/gateway-api-crds.sh)"
        )
    crds = [
        o
        for o in load_all_yaml(Path(path).read_text(encoding="utf-8"))
        if isinstance(o, CustomResourceDefinition)
    ]
    if not any(c.metadata.name == "httproutes.gateway.networking.k8s.io" for c in crds):
        pytest.fail(f"{path} has no CRD httproutes.gateway.networking.k8s.io")
    for crd in crds:
        kube.apply(crd, field_manager="kprism-tests", force=True)
    names = [c.metadata.name for c in crds]
    deadline = time.monotonic() + timeout
    for name in names:
        while not _established(kube, name):
            if time.monotonic() > deadline:
                pytest.fail(f"CRD {name} not Established after {timeout}s")
            time.sleep(0.2)
    while True:  # discovery catches up a moment after Established
        try:
            list(kube.list(HTTPRoute, namespace="default"))
            break
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    return names


def _established(kube: Client, name: str) -> bool:
    try:
        crd = kube.get(CustomResourceDefinition, name)
    except ApiError:
        return False
    return any(
        c.type == "Established" and c.status == "True"
        for c in (crd.status.conditions if crd.status else None) or []
    )


def http_route(name: str, rules: list[dict[str, Any]]) -> Any:
    return from_dict(
        {
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "HTTPRoute",
            "metadata": {"name": name, "annotations": {"team": "shop"}},
            "spec": {
                "parentRefs": [{"name": "public-gw"}],
                "hostnames": ["shop.example"],
                "rules": rules,
            },
        }
    )


def backend_ref(name: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "port": 8888, **extra}


def ingress(name: str, spec: dict[str, Any], annotations: dict[str, str] | None = None) -> Any:
    return from_dict(
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "Ingress",
            "metadata": {"name": name, "annotations": annotations or {}},
            "spec": spec,
        }
    )


def ingress_backend(service: str, port: int = 8888) -> dict[str, Any]:
    return {"service": {"name": service, "port": {"number": port}}}
