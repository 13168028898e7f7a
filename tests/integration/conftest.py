"""Integration tier: a real local cluster (etcd, kube-apiserver, controller-manager,
scheduler, KWOK) started by ``hack/test.sh``; one namespace per test, deleted after.

Running this tier without the cluster is an error, never a skip.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from lightkube import Client, KubeConfig
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Namespace

pytestmark = pytest.mark.integration


@pytest.fixture(scope="session")
def kubeconfig_path() -> str:
    path = os.environ.get("KPRISM_TEST_KUBECONFIG")
    if not path or not os.path.exists(path):
        pytest.fail(
            "integration tests need the local cluster: run them with `make test` "
            "(or set KPRISM_TEST_KUBECONFIG to the path `make cluster` prints)"
        )
    return path


@pytest.fixture(scope="session")
def kube(kubeconfig_path: str) -> Iterator[Client]:
    client = Client(KubeConfig.from_file(kubeconfig_path), field_manager="kprism-tests")
    yield client
    client.close()


@pytest.fixture
def namespace(kube: Client, request: pytest.FixtureRequest) -> Iterator[str]:
    base = request.node.name.lower().replace("_", "-")
    name = f"t-{''.join(c for c in base if c.isalnum() or c == '-')[:40]}-{uuid.uuid4().hex[:5]}"
    kube.create(Namespace(metadata=ObjectMeta(name=name)))
    yield name
    kube.delete(Namespace, name, grace_period=0)
