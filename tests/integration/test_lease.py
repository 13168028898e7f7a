"""The app Lease: a live holder on another machine blocks, a stale one is taken over."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from lightkube import Client
from lightkube.models.coordination_v1 import LeaseSpec
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.coordination_v1 import Lease

from tests.integration.helpers import kprism, make_app, release_status, selector

V2 = "registry.example/hello:2"


def _foreign_lease(kube: Client, ns: str, renewed: datetime) -> None:
    kube.create(
        Lease(
            metadata=ObjectMeta(name="kprism-hello"),
            spec=LeaseSpec(
                holderIdentity="bob@build-7.example:4242:ab12",
                leaseDurationSeconds=15,
                acquireTime=renewed,
                renewTime=renewed,
            ),
        ),
        namespace=ns,
    )


def test_live_foreign_holder_blocks_with_its_name(
    kube: Client, namespace: str, kubeconfig_path: str
) -> None:
    make_app(kube, namespace, replicas=1)
    _foreign_lease(kube, namespace, datetime.now(UTC))
    out = kprism(
        "release",
        "hello",
        "-n",
        namespace,
        "--image",
        V2,
        "--auto-promote",
        kubeconfig=kubeconfig_path,
    )
    assert out.returncode == 2, out.stderr
    assert "bob@build-7.example:4242:ab12" in out.stderr
    assert release_status(kube, namespace) == {}


def test_stale_foreign_holder_is_taken_over(
    kube: Client, namespace: str, kubeconfig_path: str
) -> None:
    make_app(kube, namespace, replicas=1)
    _foreign_lease(kube, namespace, datetime.now(UTC) - timedelta(seconds=60))
    kprism(
        "release",
        "hello",
        "-n",
        namespace,
        "--image",
        V2,
        "--auto-promote",
        "--scale-down-delay",
        "0",
        kubeconfig=kubeconfig_path,
        check=0,
    )
    assert selector(kube, namespace)["color"] == "green"
    lease = kube.get(Lease, "kprism-hello", namespace=namespace)
    assert (lease.spec.leaseTransitions or 0) >= 1
    assert not lease.spec.holderIdentity  # released after the release
