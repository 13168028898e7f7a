"""``kprism install``: the shipped manifest is its output, the doctor finds nothing to fix
in it, and the RBAC and Deployments follow the options."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from kprism.errors import UsageError
from kprism.plan.controller import controller_lease_name
from kprism.plan.install import InstallOptions, install, manifests

ROOT = Path(__file__).resolve().parents[2]
KPRISM = [sys.executable, "-m", "kprism.cli.main"]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*KPRISM, *args], capture_output=True, text=True, check=False)


def by_kind(objs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objs if o["kind"] == kind]


def test_the_committed_manifest_is_kprism_install_with_its_defaults() -> None:
    out = run("install")
    assert out.returncode == 0, out.stderr
    assert out.stdout == (ROOT / "deploy" / "kprism-controller.yaml").read_text(), (
        "deploy/kprism-controller.yaml differs from `kprism install`: regenerate it with "
        "`kprism install > deploy/kprism-controller.yaml`"
    )


@pytest.mark.parametrize(
    "args",
    [(), ("-n", "shop", "-n", "web"), ("--shards", "3", "--replicas", "1"), ("--dashboard",)],
)
def test_the_doctor_finds_nothing_to_fix_in_the_install_manifests(args: tuple[str, ...]) -> None:
    # as a user types it: a process substitution, no file
    kprism = " ".join(shlex.quote(a) for a in KPRISM)
    line = f"{kprism} doctor -o json -f <({kprism} install {shlex.join(args)})"
    out = subprocess.run(
        ["bash", "-c", line], capture_output=True, text=True, check=False, cwd=ROOT
    )
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["findings"] == [] and report["fixed"] == [], report
    assert report["summary"]["objects"] >= 8, report


def test_every_replica_runs_locked_down_with_probes_and_resources() -> None:
    for options in (InstallOptions(), InstallOptions(shards=2, namespaces=("a",))):
        deployments = by_kind(manifests(options), "Deployment")
        assert len(deployments) == options.shards
        for dep in deployments:
            pod = dep["spec"]["template"]["spec"]
            assert pod["securityContext"]["runAsNonRoot"] is True
            assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
            assert pod["serviceAccountName"] == "kprism-controller"
            (c,) = pod["containers"]
            assert c["securityContext"] == {
                "allowPrivilegeEscalation": False,
                "readOnlyRootFilesystem": True,
                "capabilities": {"drop": ["ALL"]},
            }
            assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
            assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
            assert c["resources"]["requests"] and c["resources"]["limits"]["memory"]
            assert "--health-port=8081" in c["args"]
            assert dep["spec"]["replicas"] == options.replicas
    (pdb,) = by_kind(manifests(), "PodDisruptionBudget")
    assert pdb["spec"] == {
        "maxUnavailable": 1,
        "selector": {"matchLabels": {"app.kubernetes.io/name": "kprism-controller"}},
    }


def test_all_namespaces_is_a_cluster_role_and_listed_ones_a_role_in_each() -> None:
    everywhere = manifests()
    (role,) = by_kind(everywhere, "ClusterRole")
    assert len(by_kind(everywhere, "ClusterRoleBinding")) == 1
    assert {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get"]} in role["rules"]
    (dep,) = by_kind(everywhere, "Deployment")
    assert (
        "--exclude-namespace=kube-system"
        in dep["spec"]["template"]["spec"]["containers"][0]["args"]
    )

    listed = manifests(InstallOptions(namespace="ops", namespaces=("shop", "web", "shop")))
    assert not by_kind(listed, "ClusterRole") and not by_kind(listed, "ClusterRoleBinding")
    roles = {(r["metadata"]["namespace"], r["metadata"]["name"]) for r in by_kind(listed, "Role")}
    assert roles == {
        ("shop", "kprism-controller"),
        ("web", "kprism-controller"),
        ("ops", "kprism-controller-election"),
        ("ops", "kprism-controller-lease-reader"),
    }
    for b in by_kind(listed, "RoleBinding"):
        if b["metadata"]["name"] != "kprism-controller-lease-reader":
            assert b["subjects"] == [
                {"kind": "ServiceAccount", "name": "kprism-controller", "namespace": "ops"}
            ]
    (dep,) = by_kind(listed, "Deployment")
    args = dep["spec"]["template"]["spec"]["containers"][0]["args"]
    assert [a for a in args if a.startswith("--namespace")] == [
        "--namespace=shop",
        "--namespace=web",
    ]
    assert dep["metadata"]["namespace"] == "ops"


def test_shards_are_one_deployment_each_and_their_leases_are_readable() -> None:
    objs = manifests(InstallOptions(shards=3))
    deps = by_kind(objs, "Deployment")
    assert [d["metadata"]["name"] for d in deps] == [f"kprism-controller-{i}" for i in range(3)]
    for i, d in enumerate(deps):
        args = d["spec"]["template"]["spec"]["containers"][0]["args"]
        assert "--shards=3" in args and f"--shard-index={i}" in args
        assert d["spec"]["selector"]["matchLabels"]["kprism.dev/shard"] == str(i)
    reader = next(r for r in by_kind(objs, "Role") if r["metadata"]["name"].endswith("reader"))
    assert reader["rules"][0]["resourceNames"] == [controller_lease_name(i, 3) for i in range(3)]


def test_the_dashboard_signs_users_in_and_may_only_review_tokens_and_impersonate() -> None:
    assert not [o for o in manifests() if "dashboard" in o["metadata"]["name"]]
    objs = [
        o
        for o in manifests(InstallOptions(namespace="ops", dashboard=True))
        if o["metadata"]["name"] == "kprism-dashboard"
    ]
    assert [o["kind"] for o in objs] == [
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "Deployment",
        "Service",
    ]
    sa, role, binding, dep, svc = objs
    assert role["rules"] == [
        {
            "apiGroups": ["authentication.k8s.io"],
            "resources": ["tokenreviews"],
            "verbs": ["create"],
        },
        {
            "apiGroups": [""],
            "resources": ["users", "groups", "serviceaccounts"],
            "verbs": ["impersonate"],
        },
    ]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "kprism-dashboard", "namespace": "ops"}
    ]
    pod = dep["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "kprism-dashboard"
    (c,) = pod["containers"]
    assert c["args"] == ["web", "--host=0.0.0.0", "--port=8080", "--auth=token"]
    assert c["readinessProbe"]["httpGet"]["path"] == "/healthz"
    assert c["securityContext"]["readOnlyRootFilesystem"] is True
    assert svc["spec"]["selector"] == dep["spec"]["selector"]["matchLabels"]
    assert svc["metadata"]["namespace"] == sa["metadata"]["namespace"] == "ops"
    assert InstallOptions(dashboard=True).args() == " --dashboard"


def test_json_is_one_list_kubectl_applies() -> None:
    out = run("install", "-o", "json", "--image", "example.org/kprism:dev")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert (doc["apiVersion"], doc["kind"]) == ("v1", "List")
    assert doc["items"] == manifests(InstallOptions(image="example.org/kprism:dev"))
    assert list(yaml.safe_load_all(install())) == manifests()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--replicas", "0"), "--replicas 0: at least 1"),
        (("--shards", "0"), "--shards 0: at least 1"),
        (("-n", "Shop"), "--namespace 'Shop': not a namespace name"),
        (("-o", "table"), "-o table: use yaml or json"),
        (("--image", "a b"), "--image 'a b': not an image reference"),
    ],
)
def test_bad_options_are_one_line_and_exit_2(args: tuple[str, ...], message: str) -> None:
    out = run("install", *args)
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.count("\n") == 1 and message in out.stderr, out.stderr
    with pytest.raises(UsageError):
        install(InstallOptions(replicas=0))
