"""Canary with a HorizontalPodAutoscaler on the stable track: kprism drives replicas
through the HPAs' bounds instead of fighting them, and hands the user's HPA to the new
stable track at the end (or back to the old one on abort)."""

from __future__ import annotations

from pathlib import Path

from lightkube import Client
from lightkube.codecs import from_dict
from lightkube.resources.autoscaling_v2 import HorizontalPodAutoscaler as HPA

from tests.integration.helpers import (
    kprism,
    kprism_bg,
    make_app,
    release_status,
    replicas,
    wait_for,
)

V2 = "registry.example/hello:2"


def _hpa(kube: Client, ns: str) -> None:
    kube.create(
        from_dict(
            {
                "apiVersion": "autoscaling/v2",
                "kind": "HorizontalPodAutoscaler",
                "metadata": {"name": "hello"},
                "spec": {
                    "scaleTargetRef": {
                        "apiVersion": "apps/v1",
                        "kind": "Deployment",
                        "name": "hello-blue",
                    },
                    "minReplicas": 2,
                    "maxReplicas": 8,
                    "metrics": [
                        {
                            "type": "Resource",
                            "resource": {
                                "name": "cpu",
                                "target": {"type": "Utilization", "averageUtilization": 70},
                            },
                        }
                    ],
                },
            }
        ),
        namespace=ns,
    )


def _bounds(kube: Client, ns: str, name: str) -> tuple[str, int, int]:
    h = kube.get(HPA, name, namespace=ns)
    return h.spec.scaleTargetRef.name, h.spec.minReplicas, h.spec.maxReplicas


def test_canary_with_hpa_drives_bounds_and_hands_hpa_over(
    kube: Client, namespace: str, kubeconfig_path: str, tmp_path: Path
) -> None:
    make_app(kube, namespace, replicas=4)
    _hpa(kube, namespace)
    spec = tmp_path / "c.yaml"
    spec.write_text("steps:\n- setWeight: 50\n- pause: {}\n- setWeight: 100\n")
    proc = kprism_bg(
        "release",
        "hello",
        "-n",
        namespace,
        "--image",
        V2,
        "-f",
        str(spec),
        kubeconfig=kubeconfig_path,
    )
    try:
        wait_for(
            lambda: release_status(kube, namespace).get("phase"),
            lambda p: p == "Paused",
            timeout=90,
            what="pause at 50%",
        )
        assert release_status(kube, namespace)["hpa"] == "hello"
        # both tracks held exactly at the planned 2 + 2 by their HPAs
        assert _bounds(kube, namespace, "hello") == ("hello-blue", 2, 2)
        assert _bounds(kube, namespace, "hello-kprism-green") == ("hello-green", 2, 2)
        copy = kube.get(HPA, "hello-kprism-green", namespace=namespace)
        assert copy.spec.metrics[0].resource.name == "cpu"
        assert (
            replicas(kube, namespace, "hello-blue"),
            replicas(kube, namespace, "hello-green"),
        ) == (2, 2)
        kprism("promote", "hello", "-n", namespace, kubeconfig=kubeconfig_path, check=0)
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
        proc.communicate()
    assert proc.returncode == 0, err
    # the user's HPA now scales the new stable track, with its own bounds back
    assert _bounds(kube, namespace, "hello") == ("hello-green", 2, 8)
    assert {h.metadata.name for h in kube.list(HPA, namespace=namespace)} == {"hello"}
    assert replicas(kube, namespace, "hello-blue") == 0


def test_canary_with_hpa_abort_gives_hpa_back_to_stable(
    kube: Client, namespace: str, kubeconfig_path: str
) -> None:
    make_app(kube, namespace, replicas=4)
    _hpa(kube, namespace)
    proc = kprism_bg(
        "release",
        "hello",
        "-n",
        namespace,
        "--image",
        V2,
        "--steps",
        "50,100",
        "--pause",
        "300s",
        kubeconfig=kubeconfig_path,
    )
    try:
        wait_for(
            lambda: release_status(kube, namespace).get("step_index"),
            lambda i: i == 1,
            timeout=90,
            what="50% reached",
        )
        kprism("abort", "hello", "-n", namespace, kubeconfig=kubeconfig_path, check=0)
        proc.communicate(timeout=90)
    finally:
        proc.kill()
        proc.communicate()
    assert release_status(kube, namespace)["phase"] == "Aborted"
    assert _bounds(kube, namespace, "hello") == ("hello-blue", 2, 8)
    assert {h.metadata.name for h in kube.list(HPA, namespace=namespace)} == {"hello"}
    assert replicas(kube, namespace, "hello-blue") == 4
    assert replicas(kube, namespace, "hello-green") == 0
