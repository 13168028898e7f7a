"""Drift on the real cluster (issue 9, item 2): changes made with kubectl to what a
release set stop it, are named (object, field, value, the kubectl command's field
manager) in the status, an Event and the refusal of ``promote``, until the operator
accepts them (``promote --accept-drift``) or aborts."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from lightkube import Client
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.core_v1 import Event

from tests.integration.helpers import (
    kprism,
    kprism_bg,
    make_app,
    release_status,
    replicas,
    selector,
    wait_for,
)
from tests.integration.test_canary import green_blue_endpoints

ROOT = Path(__file__).parents[2]
KUBECTL = ROOT / ".cache" / "bin" / "current" / "kubectl"
V2 = "registry.example/hello:2"
V3 = "registry.example/hello:3"


def kubectl(kubeconfig: str, namespace: str, *args: str) -> None:
    """The operator's own hands: the real kubectl, with its own field managers."""
    assert KUBECTL.exists(), "the local cluster's kubectl is missing"
    subprocess.run(
        [str(KUBECTL), "-n", namespace, *args],
        env={**os.environ, "KUBECONFIG": kubeconfig},
        check=True,
        capture_output=True,
        timeout=60,
    )


def warnings(kube: Client, namespace: str, reason: str) -> list[str]:
    """The Warning Events of ``reason`` on the app, once there is one: the engine emits
    them as actions right after it recorded the status, so a reader may be first."""

    def now() -> list[str]:
        return [
            e.message or ""
            for e in kube.list(Event, namespace=namespace)
            if e.reason == reason and e.type == "Warning" and e.involvedObject.name == "hello"
        ]

    return wait_for(now, bool, timeout=30, what=f"a {reason} Warning Event")


def test_an_image_set_by_hand_at_the_promotion_gate_is_not_promoted_unasked(
    kube: Client, namespace: str, kubeconfig_path: str
) -> None:
    make_app(kube, namespace, replicas=2)

    def run(*args: str, check: int = 0) -> str:
        out = kprism(*args, "-n", namespace, kubeconfig=kubeconfig_path, check=check)
        return out.stdout + out.stderr

    run("release", "hello", "--image", V2, "--scale-down-delay", "0", "--no-wait")
    assert release_status(kube, namespace)["step"] == "await-promotion"
    kubectl(kubeconfig_path, namespace, "set", "image", "deployment/hello-green", f"hello={V3}")

    out = kprism("promote", "hello", "-n", namespace, kubeconfig=kubeconfig_path, check=2)
    refused = out.stderr.strip().splitlines()[-1]  # after the engine's progress lines
    assert refused.startswith("kprism: error: release "), out.stderr
    assert (
        "drifted: Deployment hello-green spec.template changed outside kprism by kubectl-set: "
        f"hello={V3}, kprism set hello={V2}"
    ) in refused
    assert "--accept-drift" in refused
    st = release_status(kube, namespace)
    assert (st["phase"], st["step"], st["promoted"]) == ("Paused", "await-promotion", False)
    ((field, by),) = [(d["field"], d["by"]) for d in st["drift"]]
    assert (field, by) == ("spec.template", "kubectl-set")
    assert any(c["type"] == "Drifted" and c["status"] for c in st["conditions"])
    (event,) = warnings(kube, namespace, "Drifted")
    assert "Deployment hello-green spec.template" in event and "kubectl-set" in event
    assert selector(kube, namespace)["color"] == "blue"  # nothing was switched
    status = json.loads(run("-o", "json", "status", "hello"))
    assert [d["by"] for d in status["drift"]] == ["kubectl-set"]

    run("promote", "hello", "--accept-drift")
    wait_for(
        lambda: release_status(kube, namespace).get("phase"),
        lambda p: p == "Succeeded",
        timeout=90,
        what="the release to succeed",
    )
    assert selector(kube, namespace)["color"] == "green"
    (last, *_) = json.loads(run("-o", "json", "history", "hello"))
    assert last["candidate_images"] == {"hello": V3}  # what really runs, not what was asked
    green = kube.get(Deployment, "hello-green", namespace=namespace)
    assert green.spec.template.spec.containers[0].image == V3


def paused_canary(
    kube: Client, namespace: str, kubeconfig: str
) -> tuple[subprocess.Popen[str], str]:
    make_app(kube, namespace, replicas=4)
    spec = Path(f"/tmp/{namespace}.yaml")
    spec.write_text("steps:\n- setWeight: 25\n- pause: {}\n- setWeight: 100\n")
    proc = kprism_bg(
        "release", "hello", "-n", namespace, "--image", V2, "-f", str(spec), kubeconfig=kubeconfig
    )
    wait_for(
        lambda: release_status(kube, namespace),
        lambda s: s.get("phase") == "Paused" and s.get("step_index") == 1,
        timeout=90,
        what="the pause at 25%",
    )
    assert green_blue_endpoints(kube, namespace) == (1, 3)
    return proc, release_status(kube, namespace)["id"]


def test_replicas_scaled_by_hand_during_a_paused_canary_stop_it(
    kube: Client, namespace: str, kubeconfig_path: str
) -> None:
    proc, rid = paused_canary(kube, namespace, kubeconfig_path)
    try:
        kubectl(kubeconfig_path, namespace, "scale", "deployment/hello-green", "--replicas=3")
        st = wait_for(
            lambda: release_status(kube, namespace),
            lambda s: bool(s.get("drift")),
            timeout=30,
            what="the engine to see the drift",
        )
        (d,) = st["drift"]
        assert (d["name"], d["field"], d["got"], d["want"]) == (
            "hello-green",
            "spec.replicas",
            "3",
            "1",
        )
        assert d["by"].startswith("kubectl"), d
        assert st["requested_weight"] == 25 and st["phase"] == "Paused"
        out = kprism("promote", "hello", "-n", namespace, kubeconfig=kubeconfig_path, check=2)
        assert f"release {rid} drifted: Deployment hello-green spec.replicas" in out.stderr
        table = kprism("status", "hello", "-n", namespace, kubeconfig=kubeconfig_path, check=0)
        assert (
            "drifted: Deployment hello-green spec.replicas changed outside kprism" in table.stdout
        )
        assert replicas(kube, namespace, "hello-green") == 3  # kprism did not overwrite it
        kprism("abort", "hello", "-n", namespace, kubeconfig=kubeconfig_path, check=0)
        _, err = proc.communicate(timeout=90)
    finally:
        proc.kill()
        proc.communicate()
    assert proc.returncode == 1, err
    assert selector(kube, namespace) == {"app": "hello", "color": "blue"}
    assert replicas(kube, namespace, "hello-green") == 0
    assert replicas(kube, namespace, "hello-blue") == 4


def test_a_selector_edited_by_hand_during_a_paused_canary_stops_it_until_accepted(
    kube: Client, namespace: str, kubeconfig_path: str
) -> None:
    proc, _ = paused_canary(kube, namespace, kubeconfig_path)
    try:
        # pinned back to blue by hand: the real split is 0% while the status says 25%
        kubectl(
            kubeconfig_path,
            namespace,
            "patch",
            "service",
            "hello",
            "-p",
            '{"spec":{"selector":{"color":"blue"}}}',
        )
        st = wait_for(
            lambda: release_status(kube, namespace),
            lambda s: bool(s.get("drift")),
            timeout=30,
            what="the engine to see the drift",
        )
        (d,) = st["drift"]
        assert (d["kind"], d["name"], d["field"]) == ("Service", "hello", "spec.selector")
        assert (d["got"], d["want"]) == ("app=hello,color=blue", "app=hello")
        assert d["by"] == "kubectl-patch"
        (event,) = warnings(kube, namespace, "Drifted")
        assert "Service hello spec.selector changed outside kprism by kubectl-patch" in event
        kprism(
            "promote",
            "hello",
            "-n",
            namespace,
            "--accept-drift",
            kubeconfig=kubeconfig_path,
            check=0,
        )
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
        proc.communicate()
    assert proc.returncode == 0, err
    assert selector(kube, namespace) == {"app": "hello", "color": "green"}
    assert release_status(kube, namespace)["phase"] == "Succeeded"
