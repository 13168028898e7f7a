"""Data-plane tier: real kube-proxy, pods that are real processes, vegeta load.

``hack/test.sh`` runs this tier inside the data plane's own network namespace
(``hack/dataplane.sh exec -- pytest tests/dataplane``). Running it anywhere else is an
error, never a skip: the addresses it dials exist only in that namespace.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from lightkube import Client, KubeConfig

from testkit import scenarios
from testkit.load import in_dataplane_netns

pytestmark = pytest.mark.dataplane


@pytest.fixture(scope="session")
def dp_kube() -> Iterator[Client]:
    if not in_dataplane_netns():
        pytest.fail(
            "the data-plane tier runs inside the data plane's network namespace: "
            "`make test`, or `hack/dataplane.sh up && hack/dataplane.sh exec -- pytest tests/dataplane`"
        )
    client = Client(
        KubeConfig.from_file(os.environ["KPRISM_DATAPLANE_KUBECONFIG"]),
        field_manager="kprism-tests",
    )
    yield client
    client.close()


@pytest.fixture
def dp_namespace(dp_kube: Client, request: pytest.FixtureRequest) -> Iterator[str]:
    base = "".join(
        c for c in request.node.name.lower().replace("_", "-") if c.isalnum() or c == "-"
    )
    ns = scenarios.new_namespace(f"dp-{base[:30].strip('-')}")
    yield ns
    scenarios.delete_namespace(ns)
