"""Bad input: one line naming the object and the fix, exit 2 (3 for RBAC), cluster unchanged."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from lightkube import Client
from lightkube.codecs import from_dict
from lightkube.models.authentication_v1 import TokenRequestSpec
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.coordination_v1 import Lease
from lightkube.resources.core_v1 import Service, ServiceAccount, ServiceAccountToken

from tests.integration.helpers import (
    deployment,
    kprism,
    make_app,
    release_status,
    selector,
    service,
)

V2 = "registry.example/hello:2"
ROOT = Path(__file__).resolve().parents[2]


def snapshot(kube: Client, ns: str) -> Any:
    deps = sorted(
        (d.metadata.name, d.spec.replicas, d.spec.template.spec.containers[0].image)
        for d in kube.list(Deployment, namespace=ns)
    )
    svcs = sorted(
        (
            s.metadata.name,
            json.dumps(s.spec.selector, sort_keys=True),
            json.dumps(s.metadata.annotations or {}, sort_keys=True),
        )
        for s in kube.list(Service, namespace=ns)
    )
    return deps, svcs


def one_line_error(out: Any, code: int, *needles: str) -> None:
    assert out.returncode == code, (out.returncode, out.stdout, out.stderr)
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, out.stderr
    assert lines[0].startswith("kprism: error: ")
    assert "Traceback" not in out.stderr
    for n in needles:
        assert n in lines[0], (n, lines[0])


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (["release", "nope", "--image", V2], ["app 'nope' not found", "Service nope"]),
        (["release", "hello", "--image", "Not A Ref"], ["not a valid image reference"]),
        (
            ["release", "hello", "--image", "sidecar=" + V2],
            ["container 'sidecar' does not exist", "hello"],
        ),
        (["release", "hello", "--image", V2, "--track", "Green_1"], ["not a valid track"]),
        (["release", "hello", "--image", V2, "--track", "blue"], ["stable track"]),
        (["release", "hello"], ["nothing to release"]),
        (["promote", "hello"], ["nothing to promote"]),
        (["promote", "hello", "--full"], ["nothing to promote"]),
        (["abort", "hello"], ["nothing to abort"]),
        (["scale", "hello", "--track", "blue", "--replicas", "0"], ["would drop every request"]),
        (["scale", "hello", "--track", "purple", "--replicas", "1"], ["no track color=purple"]),
    ],
)
def test_bad_input_exits_2_and_changes_nothing(
    kube: Client, namespace: str, kubeconfig_path: str, args: list[str], needles: list[str]
) -> None:
    make_app(kube, namespace, replicas=2)
    before = snapshot(kube, namespace)
    out = kprism(*args, "-n", namespace, kubeconfig=kubeconfig_path)
    one_line_error(out, 2, *needles)
    assert snapshot(kube, namespace) == before
    assert not list(kube.list(Lease, namespace=namespace)) or all(
        not (lease.spec and lease.spec.holderIdentity)
        for lease in kube.list(Lease, namespace=namespace)
    )


def test_unknown_namespace_and_context(kubeconfig_path: str) -> None:
    out = kprism("release", "hello", "-n", "no-such-ns", "--image", V2, kubeconfig=kubeconfig_path)
    one_line_error(out, 2, "namespace 'no-such-ns' does not exist")
    out = kprism("status", "hello", "--context", "nope", kubeconfig=kubeconfig_path)
    one_line_error(out, 2, "unknown kubeconfig context 'nope'")
    out = kprism("status", "hello", kubeconfig="/nonexistent/kubeconfig")
    one_line_error(out, 2, "/nonexistent/kubeconfig")


def test_service_selecting_two_apps_is_refused(
    kube: Client, namespace: str, kubeconfig_path: str
) -> None:
    kube.create(
        deployment("web-blue", {"tier": "web", "app": "a", "color": "blue"}, replicas=1),
        namespace=namespace,
    )
    kube.create(
        deployment("api-blue", {"tier": "web", "app": "b", "color": "blue"}, replicas=1),
        namespace=namespace,
    )
    kube.create(service("web", {"tier": "web", "color": "blue"}), namespace=namespace)
    before = snapshot(kube, namespace)
    out = kprism("release", "web", "-n", namespace, "--image", V2, kubeconfig=kubeconfig_path)
    one_line_error(out, 2, "selects pods of more than one app", "web-blue", "api-blue")
    assert snapshot(kube, namespace) == before


def test_service_pinning_a_track_without_deployment(
    kube: Client, namespace: str, kubeconfig_path: str
) -> None:
    kube.create(
        deployment("hello-blue", {"app": "hello", "color": "blue"}, replicas=1), namespace=namespace
    )
    kube.create(service("hello", {"app": "hello", "color": "red"}), namespace=namespace)
    out = kprism("release", "hello", "-n", namespace, "--image", V2, kubeconfig=kubeconfig_path)
    one_line_error(out, 2, "color=red", "no Deployment")


def test_hpa_on_the_track_is_explained(kube: Client, namespace: str, kubeconfig_path: str) -> None:
    make_app(kube, namespace, replicas=2)
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
                    "maxReplicas": 5,
                },
            }
        ),
        namespace=namespace,
    )
    before = snapshot(kube, namespace)
    out = kprism("release", "hello", "-n", namespace, "--image", V2, kubeconfig=kubeconfig_path)
    one_line_error(out, 2, "HorizontalPodAutoscaler hello", "--force")
    assert snapshot(kube, namespace) == before


def _kubeconfig_for(kube: Client, namespace: str, sa: str, base: str, tmp: Path) -> str:
    kube.create(ServiceAccount(metadata=ObjectMeta(name=sa)), namespace=namespace)
    tr = kube.create(
        ServiceAccountToken(
            metadata=ObjectMeta(name=sa),
            spec=TokenRequestSpec(audiences=[], expirationSeconds=3600),
        ),
        sa,
        namespace=namespace,
    )
    cfg = yaml.safe_load(Path(base).read_text())
    cluster = cfg["clusters"][0]
    ca = cluster["cluster"].get("certificate-authority-data")
    if ca is None and cluster["cluster"].get("certificate-authority"):
        ca = base64.b64encode(
            Path(cluster["cluster"]["certificate-authority"]).read_bytes()
        ).decode()
    kc = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": "sa",
        "clusters": [
            {
                "name": "c",
                "cluster": {
                    "server": cluster["cluster"]["server"],
                    "certificate-authority-data": ca,
                },
            }
        ],
        "users": [{"name": sa, "user": {"token": tr.status.token}}],
        "contexts": [
            {"name": "sa", "context": {"cluster": "c", "user": sa, "namespace": namespace}}
        ],
    }
    path = tmp / f"{sa}.kubeconfig"
    path.write_text(yaml.safe_dump(kc))
    return str(path)


def _role(kube: Client, namespace: str, name: str, rules: list[dict[str, Any]], sa: str) -> None:
    kube.create(
        from_dict(
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "Role",
                "metadata": {"name": name},
                "rules": rules,
            }
        ),
        namespace=namespace,
    )
    kube.create(
        from_dict(
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "RoleBinding",
                "metadata": {"name": name},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
                "subjects": [{"kind": "ServiceAccount", "name": sa, "namespace": namespace}],
            }
        ),
        namespace=namespace,
    )


def test_documented_role_is_enough_for_a_release(
    kube: Client, namespace: str, kubeconfig_path: str, tmp_path: Path
) -> None:
    make_app(kube, namespace, replicas=2)
    role = yaml.safe_load((ROOT / "docs" / "rbac-role.yaml").read_text())
    _role(kube, namespace, "kprism", role["rules"], "releaser")
    kc = _kubeconfig_for(kube, namespace, "releaser", kubeconfig_path, tmp_path)
    out = kprism(
        "release",
        "hello",
        "--image",
        V2,
        "--auto-promote",
        "--scale-down-delay",
        "0",
        kubeconfig=kc,
    )
    assert out.returncode == 0, out.stderr
    assert selector(kube, namespace)["color"] == "green"


def test_rbac_forbidden_exits_3_naming_verb_and_resource(
    kube: Client, namespace: str, kubeconfig_path: str, tmp_path: Path
) -> None:
    make_app(kube, namespace, replicas=2)
    role = yaml.safe_load((ROOT / "docs" / "rbac-role.yaml").read_text())
    rules = [r for r in role["rules"] if r["resources"] != ["services"]]
    rules.append({"apiGroups": [""], "resources": ["services"], "verbs": ["get", "list", "watch"]})
    _role(kube, namespace, "readonly-services", rules, "limited")
    kc = _kubeconfig_for(kube, namespace, "limited", kubeconfig_path, tmp_path)
    before = snapshot(kube, namespace)
    out = kprism("release", "hello", "--image", V2, "--auto-promote", kubeconfig=kc)
    one_line_error(out, 3, "forbidden", "patch Service hello")
    assert snapshot(kube, namespace) == before
    assert release_status(kube, namespace) == {}


def no_lease(kube: Client, namespace: str) -> bool:
    """Not even a released Lease: the refusal came before the lock."""
    return not list(kube.list(Lease, namespace=namespace))


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (["scale", "hello", "--track", "blue", "--replicas", "2147483648"], ["2147483647"]),
        (["scale", "hello", "--track", "blue", "--replicas", "abc"], ["--replicas"]),
        (["clone", "hello", "--track", "red", "-i", V2, "--replicas", "-1"], ["--replicas"]),
        (
            ["release", "hello", "-i", V2, "--scale-down-delay", "nan"],
            ["--scale-down-delay", "nan"],
        ),
        (["release", "hello", "-i", V2, "--ready-timeout", "inf"], ["--ready-timeout", "inf"]),
        (["release", "hello", "-i", V2, "--ready-timeout", "-5"], ["--ready-timeout"]),
        (["release", "hello", "-i", V2, "--timeout", "nan"], ["--timeout"]),
        (["rollback", "hello", "--scale-down-delay", "inf"], ["--scale-down-delay"]),
        (["-o", "xml", "status", "hello"], ["'xml' is not one of"]),
        (["status", "hello", "-o", "xml"], ["'xml' is not one of"]),
        (["no-such-command", "hello"], ["No such command 'no-such-command'", "kprism --help"]),
        (["web", "--port", "99999"], ["--port", "65535"]),
        (["release", "hello", "-f", "/nonexistent/release.yaml"], ["-f /nonexistent/release.yaml"]),
    ],
)
def test_bad_options_are_one_line_before_anything_is_read_or_written(
    kube: Client, namespace: str, kubeconfig_path: str, args: list[str], needles: list[str]
) -> None:
    """Issue 9's bad inputs: one line, exit 2, the cluster untouched (not even a Lease)."""
    make_app(kube, namespace, replicas=2)
    before = snapshot(kube, namespace)
    out = kprism(*args, "-n", namespace, kubeconfig=kubeconfig_path)
    one_line_error(out, 2, *needles)
    assert out.stdout == ""
    assert snapshot(kube, namespace) == before
    assert no_lease(kube, namespace)


@pytest.mark.parametrize(
    ("patch", "needle"),
    [
        ("spec:\n  containers: 5\n", "spec.containers must be a list of containers, not 5"),
        ("containers: 5\n", "unknown key 'containers'"),
        ("spec:\n  containers:\n    - image: x\n", "spec.containers[0] needs a name"),
        ("- not a mapping\n", "must be a mapping"),
    ],
)
def test_a_patch_file_of_the_wrong_shape_changes_nothing(
    kube: Client, namespace: str, kubeconfig_path: str, tmp_path: Path, patch: str, needle: str
) -> None:
    make_app(kube, namespace, replicas=2)
    before = snapshot(kube, namespace)
    path = tmp_path / "patch.yaml"
    path.write_text(patch)
    for command in (["release", "hello"], ["clone", "hello", "--track", "red"]):
        out = kprism(
            *command, "--patch-file", str(path), "-n", namespace, kubeconfig=kubeconfig_path
        )
        one_line_error(out, 2, f"--patch-file {path}", needle)
    assert snapshot(kube, namespace) == before
    assert no_lease(kube, namespace)


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("", "is empty"),
        ("garbage: [unclosed\n", "is not valid YAML"),
        ("just a string\n", "is not a kubeconfig"),
    ],
)
def test_an_empty_or_garbage_kubeconfig_is_one_line(tmp_path: Path, text: str, needle: str) -> None:
    path = tmp_path / "kubeconfig"
    path.write_text(text)
    out = kprism("status", "hello", kubeconfig=str(path))
    one_line_error(out, 2, f"kubeconfig {str(path)!r}", needle)
    out = kprism("--kubeconfig", str(path), "list", kubeconfig="/nonexistent/kubeconfig")
    one_line_error(out, 2, f"kubeconfig {str(path)!r}", needle)
