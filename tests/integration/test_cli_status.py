"""``kprism status`` on the real cluster: each track row counts its own endpoints, and
``status --watch`` follows a release to its end and exits with its outcome (issue 9)."""

from __future__ import annotations

import json

from lightkube import Client

from tests.integration.helpers import (
    deployment,
    kprism,
    kprism_bg,
    make_app,
    ready_endpoints,
    release_status,
    service,
    wait_for,
)

V2 = "registry.example/hello:2"


def test_global_output_before_the_command(
    kube: Client, namespace: str, kubeconfig_path: str
) -> None:
    make_app(kube, namespace, replicas=1)
    out = kprism("-o", "json", "-n", namespace, "list", kubeconfig=kubeconfig_path, check=0)
    assert [a["name"] for a in json.loads(out.stdout)] == ["hello"]  # "No such option: -o"


def test_track_rows_count_their_own_endpoints_without_a_track_label(
    kube: Client, namespace: str, kubeconfig_path: str
) -> None:
    """Two Deployments behind one Service whose selector has no track label: each row
    showed the Service's total (5); it shows the endpoints of its own pods."""
    kube.create(deployment("web", {"app": "web", "ver": "1"}, replicas=3), namespace=namespace)
    kube.create(
        deployment("web-canary", {"app": "web", "ver": "2"}, replicas=2), namespace=namespace
    )
    kube.create(service("web", {"app": "web"}), namespace=namespace)
    wait_for(lambda: len(ready_endpoints(kube, namespace, "web")), lambda n: n == 5, what="5")
    out = kprism(
        "status", "web", "-n", namespace, "-o", "json", kubeconfig=kubeconfig_path, check=0
    )
    data = json.loads(out.stdout)
    assert data["readyEndpoints"] == 5
    assert {t["deployment"]: t["endpoints"] for t in data["tracks"]} == {
        "web": 3,
        "web-canary": 2,
    }


def test_watch_follows_a_release_to_its_end_and_exits_0(
    kube: Client, namespace: str, kubeconfig_path: str
) -> None:
    make_app(kube, namespace, replicas=2)
    release = kprism_bg(
        "release",
        "hello",
        "-n",
        namespace,
        "--image",
        V2,
        "--auto-promote",
        "--scale-down-delay",
        "4",
        kubeconfig=kubeconfig_path,
    )
    try:
        wait_for(
            lambda: release_status(kube, namespace).get("phase"),
            lambda phase: phase == "Progressing",
            what="the release to be recorded",
        )
        watch = kprism("status", "hello", "-n", namespace, "-w", kubeconfig=kubeconfig_path)
    finally:
        release.communicate(timeout=120)
    assert watch.returncode == 0, watch.stderr
    assert release_status(kube, namespace)["phase"] == "Succeeded"
    lines = watch.stdout.splitlines()
    assert "Succeeded" in lines[-1] or any("Succeeded at step" in ln for ln in lines[-3:])
    assert sum(ln.startswith("TRACK") for ln in lines) == 1  # changes only, not the table again
    assert len(lines) < 40, watch.stdout


def test_watch_exits_1_when_the_release_is_aborted(
    kube: Client, namespace: str, kubeconfig_path: str
) -> None:
    make_app(kube, namespace, replicas=1)
    kprism(
        "release", "hello", "-n", namespace, "--image", V2, "--no-wait",
        kubeconfig=kubeconfig_path, check=0,
    )  # fmt: skip
    assert release_status(kube, namespace)["phase"] == "Paused"  # at the promotion gate
    watch = kprism_bg(
        "status", "hello", "-n", namespace, "-w", "-o", "json", kubeconfig=kubeconfig_path
    )
    try:
        out = kprism("abort", "hello", "-n", namespace, kubeconfig=kubeconfig_path)
        assert out.returncode in (0, 1), out.stderr
        stdout, stderr = watch.communicate(timeout=120)
    finally:
        if watch.poll() is None:
            watch.kill()
    assert watch.returncode == 1, stderr
    last = json.loads("{" + stdout.rsplit("\n{", 1)[-1].removeprefix("{"))
    assert last["release"]["phase"] == "Aborted"
