"""An app adopted with ``--track-label version`` needs the flag on no later command:
the label is stored on its Service (issue 9, item 8)."""

from __future__ import annotations

import json

from lightkube import Client

from tests.integration.helpers import (
    deployment,
    kprism,
    ready_endpoints,
    selector,
    service,
    wait_for,
)

V2 = "registry.example/hello:2"


def test_the_track_label_given_at_adopt_is_remembered(
    kube: Client, namespace: str, kubeconfig_path: str
) -> None:
    kube.create(
        deployment("hello-v1", {"app": "hello", "version": "v1"}, replicas=2), namespace=namespace
    )
    kube.create(service("hello", {"app": "hello"}), namespace=namespace)
    wait_for(
        lambda: len(ready_endpoints(kube, namespace, "hello")), lambda n: n == 2, what="2 endpoints"
    )

    def run(*args: str, check: int = 0) -> str:
        return kprism(*args, "-n", namespace, kubeconfig=kubeconfig_path, check=check).stdout

    run("adopt", "hello", "--track", "v1", "--track-label", "version")
    assert selector(kube, namespace) == {"app": "hello", "version": "v1"}
    # no --track-label from here on
    run(
        "release",
        "hello",
        "--image",
        V2,
        "--track",
        "v2",
        "--auto-promote",
        "--scale-down-delay",
        "0",
    )
    assert selector(kube, namespace) == {"app": "hello", "version": "v2"}
    status = json.loads(run("-o", "json", "status", "hello"))
    assert status["trackLabel"] == "version"
    assert {t["track"]: t["serving"] for t in status["tracks"]} == {"v1": False, "v2": True}
    (app,) = [a for a in json.loads(run("-o", "json", "list", "-A")) if a["namespace"] == namespace]
    assert app["serving"] == "v2"
    run("rollback", "hello", "--scale-down-delay", "0")
    assert selector(kube, namespace) == {"app": "hello", "version": "v1"}
    history = json.loads(run("-o", "json", "history", "hello"))
    assert [h["kind"] for h in history[:2]] == ["rollback", "release"]
