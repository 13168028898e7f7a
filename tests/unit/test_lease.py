"""The app's Lease over scripted API answers: renewal survives an API server that does
not answer for a moment, and is lost only once the Lease would have expired (issue 9,
item 5: a blip used to end the release with exit 3)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx2
import pytest
from lightkube import Client, KubeConfig

from kprism.errors import LockedError
from kprism.kube.client import Kube, Target
from kprism.kube.lease import AppLease

KUBECONFIG = """
apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:6443", insecure-skip-tls-verify: true}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: x, context: {cluster: c, user: u, namespace: ns}}]
current-context: x
"""


class Api:
    """A Lease endpoint; ``down`` PUTs fail as if the API server were unreachable."""

    def __init__(self, down: int) -> None:
        self.down = down
        self.lease: dict[str, Any] | None = None
        self.rv = 1
        self.calls: list[str] = []

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.calls.append(request.method)
        if request.method == "GET":
            if self.lease is None:
                return httpx2.Response(404, json={"kind": "Status", "code": 404, "message": "nf"})
            return httpx2.Response(200, json=self.lease)
        if request.method == "PUT" and self.down > 0:
            self.down -= 1
            raise httpx2.ConnectError("connection refused", request=request)
        body = json.loads(request.content)
        self.rv += 1
        body["metadata"]["resourceVersion"] = str(self.rv)
        self.lease = body
        return httpx2.Response(200 if request.method == "PUT" else 201, json=body)


def lease(tmp_path: Path, api: Api, duration: int) -> AppLease:
    path = tmp_path / "kubeconfig"
    path.write_text(KUBECONFIG)
    kube = Kube(Target(kubeconfig=str(path)))
    kube.client = Client(KubeConfig.from_file(path), transport=httpx2.MockTransport(api))
    return AppLease(kube, namespace="ns", app="hello", duration=duration)


def test_a_renewal_during_a_blip_is_retried_and_the_lease_kept(tmp_path: Path) -> None:
    api = Api(down=2)
    lock = lease(tmp_path, api, duration=15)
    t0 = datetime.now(UTC)
    lock.acquire(t0)
    lock.renew_if_due(t0 + timedelta(seconds=6))
    assert lock.held
    assert api.calls.count("PUT") == 3, api.calls  # two refused, the third renewed
    assert api.calls.count("GET") == 1, "renewing needs no read"
    assert api.lease is not None and api.lease["spec"]["holderIdentity"] == lock.identity


def test_a_lease_that_cannot_be_renewed_before_it_expires_is_lost(tmp_path: Path) -> None:
    api = Api(down=10**6)
    lock = lease(tmp_path, api, duration=3)
    t0 = datetime.now(UTC)
    lock.acquire(t0)
    with pytest.raises(LockedError, match="could not renew it before it expired"):
        lock.renew_if_due(t0 + timedelta(seconds=1.5))
    assert not lock.held
