"""Other Services over the app's pods, on the real cluster, in Online Boutique's shape:
``frontend`` and ``frontend-external`` (type LoadBalancer) select the same pods
(``app: frontend``). kprism must pin both, move both in every release, and never let
either serve an unpromoted candidate (issue 9, item 1).

The manifests are Online Boutique's own (the excerpt in
``tests/unit/fixtures/doctor/online-boutique.yaml``: source, commit and Apache-2.0 licence
there), with two changes for the simulated cluster: no ``serviceAccountName`` (its
ServiceAccount is not part of the excerpt) and two replicas.
"""

from __future__ import annotations

import copy
import functools
import json
from pathlib import Path
from typing import Any

import yaml
from lightkube import Client
from lightkube.codecs import from_dict
from lightkube.resources.core_v1 import Pod

from tests.integration.helpers import (
    kprism,
    kprism_bg,
    ready_endpoints,
    release_status,
    selector,
    wait_for,
)

FIXTURE = Path(__file__).parents[1] / "unit" / "fixtures" / "doctor" / "online-boutique.yaml"
V2 = "registry.example/frontend:v2"
BOTH = ("frontend", "frontend-external")


@functools.cache
def _manifests() -> dict[tuple[str, str], dict[str, Any]]:
    docs = [d for d in yaml.safe_load_all(FIXTURE.read_text()) if d]
    return {(d["kind"], d["metadata"]["name"]): d for d in docs}


def boutique_frontend(
    kube: Client, namespace: str, *, pod_labels: dict[str, str] | None = None
) -> None:
    """Online Boutique's frontend Deployment and its two Services, as published."""
    objs = _manifests()
    dep = copy.deepcopy(objs[("Deployment", "frontend")])
    pod_spec = dep["spec"]["template"]["spec"]
    pod_spec.pop("serviceAccountName")
    dep["spec"]["replicas"] = 2
    dep["spec"]["template"]["metadata"]["labels"].update(pod_labels or {})
    kube.create(from_dict(dep), namespace=namespace)
    for name in BOTH:
        kube.create(from_dict(copy.deepcopy(objs[("Service", name)])), namespace=namespace)
    for name in BOTH:
        wait_for(
            lambda name=name: len(ready_endpoints(kube, namespace, name)),
            lambda n: n == 2,
            what=f"2 ready endpoints of {name}",
        )


def pods_of(kube: Client, namespace: str, color: str) -> set[str]:
    return {
        p.metadata.name
        for p in kube.list(Pod, namespace=namespace, labels={"app": "frontend", "color": color})
        if p.metadata.deletionTimestamp is None
    }


def test_frontend_external_moves_with_frontend_and_never_serves_the_candidate_early(
    kube: Client, namespace: str, kubeconfig_path: str
) -> None:
    boutique_frontend(kube, namespace)
    doctor = kprism(
        "-o",
        "json",
        "doctor",
        "frontend",
        "-n",
        namespace,
        "--fail-on",
        "none",
        kubeconfig=kubeconfig_path,
        check=0,
    )
    kp017 = [f for f in json.loads(doctor.stdout)["findings"] if f["rule_id"] == "KP017"]
    assert [(f["object"]["name"], f["severity"]) for f in kp017] == [("frontend-external", "info")]
    out = kprism("adopt", "frontend", "-n", namespace, kubeconfig=kubeconfig_path, check=0)
    assert "Service frontend-external selects it too and moves with it" in out.stdout
    for name in BOTH:
        assert selector(kube, namespace, name) == {"app": "frontend", "color": "blue"}, name

    plan = kprism(
        "plan", "frontend", "-n", namespace, "--image", V2, kubeconfig=kubeconfig_path, check=0
    )
    assert "switch Services frontend, frontend-external selector color: blue → green" in plan.stdout

    kprism(
        "release",
        "frontend",
        "-n",
        namespace,
        "--image",
        V2,
        "--scale-down-delay",
        "0",
        "--no-wait",
        kubeconfig=kubeconfig_path,
        check=0,
    )
    # At the promotion gate the candidate is fully ready, and neither Service lists it.
    assert release_status(kube, namespace, "frontend")["step"] == "await-promotion"
    green, blue = pods_of(kube, namespace, "green"), pods_of(kube, namespace, "blue")
    assert len(green) == 2
    for name in BOTH:
        assert selector(kube, namespace, name)["color"] == "blue", name
        eps = ready_endpoints(kube, namespace, name)
        assert eps == blue and not eps & green, (name, eps)

    status = kprism(
        "status", "frontend", "-n", namespace, "-o", "json", kubeconfig=kubeconfig_path, check=0
    )
    (row,) = json.loads(status.stdout)["services"]
    assert (row["name"], row["track"], row["moves"], row["in_line"]) == (
        "frontend-external",
        "blue",
        True,
        True,
    )

    kprism("promote", "frontend", "-n", namespace, kubeconfig=kubeconfig_path, check=0)
    wait_for(
        lambda: release_status(kube, namespace, "frontend").get("phase"),
        lambda p: p == "Succeeded",
        timeout=90,
        what="release to succeed",
    )
    green = pods_of(kube, namespace, "green")
    for name in BOTH:
        assert selector(kube, namespace, name) == {"app": "frontend", "color": "green"}, name
        assert ready_endpoints(kube, namespace, name) == green, name


def test_a_canary_makes_frontend_external_select_both_tracks_and_abort_brings_it_back(
    kube: Client, namespace: str, kubeconfig_path: str
) -> None:
    boutique_frontend(kube, namespace)
    kprism("adopt", "frontend", "-n", namespace, kubeconfig=kubeconfig_path, check=0)
    proc = kprism_bg(
        "release",
        "frontend",
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
            lambda: release_status(kube, namespace, "frontend").get("step_index"),
            lambda i: i == 1,
            timeout=90,
            what="the pause after 50%",
        )
        green = pods_of(kube, namespace, "green")
        assert green
        for name in BOTH:
            assert selector(kube, namespace, name) == {"app": "frontend"}, name
            assert green <= ready_endpoints(kube, namespace, name), name
        kprism("abort", "frontend", "-n", namespace, kubeconfig=kubeconfig_path, check=0)
        _, err = proc.communicate(timeout=90)
    finally:
        proc.kill()
        proc.communicate()
    assert proc.returncode == 1, err
    blue = pods_of(kube, namespace, "blue")
    for name in BOTH:
        assert selector(kube, namespace, name) == {"app": "frontend", "color": "blue"}, name
        assert ready_endpoints(kube, namespace, name) == blue, name


def test_a_service_kprism_cannot_move_refuses_the_release_naming_it(
    kube: Client, namespace: str, kubeconfig_path: str
) -> None:
    boutique_frontend(kube, namespace, pod_labels={"tier": "web"})
    kprism("adopt", "frontend", "-n", namespace, kubeconfig=kubeconfig_path, check=0)
    web = copy.deepcopy(_manifests()[("Service", "frontend")])
    web["metadata"]["name"] = "web"
    web["spec"]["selector"] = {"tier": "web"}  # every web tier of the shop, this app's too
    kube.create(from_dict(web), namespace=namespace)
    out = kprism(
        "release", "frontend", "-n", namespace, "--image", V2, kubeconfig=kubeconfig_path, check=2
    )
    line = out.stderr.strip()
    assert line.count("\n") == 0, line
    assert "Service web (selector tier=web) also selects pods of frontend" in line
    assert release_status(kube, namespace, "frontend") == {}
    assert not pods_of(kube, namespace, "green")
