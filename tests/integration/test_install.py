"""``kprism install`` and the Helm chart on the real local cluster (issue 13 items 4, 5).

- ``helm template`` (a real helm, built from the Go module proxy by
  ``hack/build-bins.sh helm``) renders the same objects as ``kprism install`` for the
  same values;
- the manifests, applied with the real ``kubectl apply``, are enough RBAC for the
  controller: it runs as a local process with a kubeconfig made from its
  ServiceAccount's token (TokenRequest) and drives a release handed over by the CLI to
  its end — once with ``kprism install -n NS`` (Roles), once with the chart's defaults
  (the ClusterRole);
- that controller's ``/metrics`` counts the release, and its JSON log lines name the
  app, the release and the step.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from lightkube import Client
from lightkube.models.authentication_v1 import TokenRequestSpec
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Namespace, ServiceAccountToken
from lightkube.resources.rbac_authorization_v1 import ClusterRole, ClusterRoleBinding
from prometheus_client.parser import text_string_to_metric_families

from kprism.plan.install import InstallOptions, manifests
from tests.integration.helpers import kprism, make_app, release_status, selector, wait_for

ROOT = Path(__file__).resolve().parents[2]
BIN = ROOT / ".cache" / "bin" / "current"
CHART = ROOT / "deploy" / "helm" / "kprism"
V2 = "registry.example/hello:2"


def helm() -> str:
    path = os.environ.get("KPRISM_HELM") or str(BIN / "helm")
    if not os.access(path, os.X_OK):
        pytest.fail("helm is missing: build it with `hack/build-bins.sh helm` (make bins does)")
    return path


def helm_template(namespace: str, *sets: str) -> list[dict[str, Any]]:
    args = [helm(), "template", "kprism", str(CHART), "--namespace", namespace]
    for s in sets:
        args += ["--set", s]
    out = subprocess.run(args, capture_output=True, text=True, check=False, timeout=120)
    assert out.returncode == 0, out.stderr
    return [d for d in yaml.safe_load_all(out.stdout) if d]


def key(obj: dict[str, Any]) -> tuple[str, str, str]:
    meta = obj["metadata"]
    return (obj["kind"], meta.get("namespace", ""), meta["name"])


def by_key(objs: list[dict[str, Any]]) -> dict[tuple[str, str, str], dict[str, Any]]:
    found = {key(o): o for o in objs}
    assert len(found) == len(objs), "two objects of the same kind, namespace and name"
    return found


@pytest.mark.parametrize(
    ("sets", "options"),
    [
        (("createNamespace=true",), InstallOptions()),
        (
            (
                "createNamespace=true",
                "image=example.org/kprism:dev",
                "replicas=3",
                "shards=3",
                "namespaces={shop,web,shop}",
            ),
            InstallOptions(
                image="example.org/kprism:dev",
                replicas=3,
                shards=3,
                namespaces=("shop", "web", "shop"),
            ),
        ),
        (
            ("createNamespace=true", "namespaces={kprism-system}", "shards=2"),
            InstallOptions(namespaces=("kprism-system",), shards=2),
        ),
        (
            ("createNamespace=true", "dashboard.enabled=true", "image=example.org/kprism:dev"),
            InstallOptions(dashboard=True, image="example.org/kprism:dev"),
        ),
    ],
)
def test_helm_template_renders_the_objects_of_kprism_install(
    sets: tuple[str, ...], options: InstallOptions
) -> None:
    rendered = by_key(helm_template(options.namespace, *sets))
    wanted = by_key(manifests(options))
    assert sorted(rendered) == sorted(wanted)
    for k, obj in wanted.items():
        assert rendered[k] == obj, k


def test_the_charts_defaults_leave_the_namespace_to_helm() -> None:
    rendered = helm_template("kprism-system")
    assert by_key(rendered) == {k: o for k, o in by_key(manifests()).items() if k[0] != "Namespace"}


def test_the_chart_lints_and_refuses_what_kprism_install_refuses() -> None:
    out = subprocess.run(
        [helm(), "lint", "--strict", str(CHART)], capture_output=True, text=True, check=False
    )
    assert out.returncode == 0, out.stdout + out.stderr
    for value, why in [
        ("replicas=0", "/replicas"),
        ("shards=0", "/shards"),
        ("namespaces={Shop}", "/namespaces/0"),
        ("replica=3", "additional properties 'replica'"),
        ("dashboard.enabled=3", "/dashboard/enabled"),
        ("dashboard.replicas=2", "additional properties 'replicas'"),
    ]:
        out = subprocess.run(
            [helm(), "template", "kprism", str(CHART), "--set", value],
            capture_output=True,
            text=True,
            check=False,
        )
        assert out.returncode != 0 and why in out.stderr, (value, out.stderr)


# -- the manifests applied: RBAC exactly as shipped ------------------------------------------


def kubectl_apply(kubeconfig: str, text: str) -> None:
    out = subprocess.run(
        [str(BIN / "kubectl"), "--kubeconfig", kubeconfig, "apply", "-f", "-"],
        input=text,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr


def token_kubeconfig(kube: Client, base: str, namespace: str, sa: str, path: Path) -> str:
    """A kubeconfig with a TokenRequest token of ServiceAccount ``namespace/sa``."""
    tr = kube.create(
        ServiceAccountToken(
            metadata=ObjectMeta(name=sa),
            spec=TokenRequestSpec(audiences=[], expirationSeconds=3600),
        ),
        sa,
        namespace=namespace,
    )
    cfg = yaml.safe_load(Path(base).read_text())
    cluster = cfg["clusters"][0]["cluster"]
    ca = cluster.get("certificate-authority-data")
    if ca is None and cluster.get("certificate-authority"):
        ca = base64.b64encode(Path(cluster["certificate-authority"]).read_bytes()).decode()
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "sa",
                "clusters": [
                    {"name": "c", "cluster": {"server": cluster["server"],
                                              "certificate-authority-data": ca}}
                ],
                "users": [{"name": sa, "user": {"token": tr.status.token}}],
                "contexts": [{"name": "sa", "context": {"cluster": "c", "user": sa}}],
            }
        )
    )  # fmt: skip
    return str(path)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except OSError:
        return 0, ""


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """``/metrics`` as {(sample name, labels): value}."""
    code, text = get(port, "/metrics")
    assert code == 200, text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples: dict[Any, float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def total(samples: dict[Any, float], name: str) -> float:
    return sum(v for (n, _), v in samples.items() if n == name)


@pytest.fixture
def cleanup(kube: Client) -> Iterator[list[tuple[type, str]]]:
    """Cluster-scoped objects and namespaces a test made, deleted after it."""
    made: list[tuple[type, str]] = []
    yield made
    for kind, name in reversed(made):
        try:
            kube.delete(kind, name)
        except Exception as exc:
            if "not found" not in str(exc).lower():
                raise


@pytest.mark.parametrize("how", ["install-roles", "helm-cluster-role"])
def test_the_shipped_rbac_runs_the_controller_and_its_metrics_count_the_release(
    how: str,
    kube: Client,
    namespace: str,
    kubeconfig_path: str,
    tmp_path: Path,
    cleanup: list[tuple[type, str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if how == "install-roles":  # a Role per watched namespace, the controller elsewhere
        system = f"{namespace}-sys"[:63].rstrip("-")
        out = kprism(
            "install", "-n", namespace, "--controller-namespace", system,
            kubeconfig=kubeconfig_path, check=0,
        )  # fmt: skip
        text = out.stdout
        cleanup.append((Namespace, system))
    else:  # the chart's defaults: the ClusterRole, in kprism-system
        system = "kprism-system"
        kube.create(Namespace(metadata=ObjectMeta(name=system)))
        cleanup += [(Namespace, system), (ClusterRole, "kprism-controller"),
                    (ClusterRoleBinding, "kprism-controller")]  # fmt: skip
        args = [helm(), "template", "kprism", str(CHART), "--namespace", system]
        text = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    kubectl_apply(kubeconfig_path, text)
    kc = token_kubeconfig(kube, kubeconfig_path, system, "kprism-controller", tmp_path / "sa")
    make_app(kube, namespace)

    port = free_port()
    log = tmp_path / "controller.log"
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "kprism.cli.main", "controller", "-n", namespace,
             "--lease-namespace", system, "--health-port", str(port), "--log-format", "json"],
            stdout=sink, stderr=sink, env={**os.environ, "KUBECONFIG": kc},
        )  # fmt: skip
    try:
        wait_for(lambda: get(port, "/readyz")[0], lambda c: c == 200, what="/readyz 200")
        before = wait_for(
            lambda: scrape(port), lambda m: value(m, "kprism_leader") == 1, what="leading"
        )
        assert value(before, "kprism_releases", phase="Succeeded", strategy="bluegreen") == 0
        assert value(before, "kprism_releases_started_total", strategy="bluegreen",
                     how="request") == 0  # fmt: skip
        assert total(before, "kprism_api_requests_total") > 0

        # the CLI finds the controller's Lease and hands the release over
        monkeypatch.setenv("KPRISM_CONTROLLER_NAMESPACE", system)
        out = kprism(
            "release", "hello", "-n", namespace, "--image", V2, "--auto-promote",
            "--scale-down-delay", "0", kubeconfig=kubeconfig_path, check=0,
        )  # fmt: skip
        assert "handed over to the controller" in out.stderr, out.stderr
        st = release_status(kube, namespace)
        assert st["phase"] == "Succeeded", st
        assert selector(kube, namespace) == {"app": "hello", "color": "green"}

        after = wait_for(
            lambda: scrape(port),
            lambda m: (
                value(m, "kprism_releases_finished_total", phase="Succeeded", strategy="bluegreen")
                == 1
            ),
            what="the finished release counted",
        )
        assert value(after, "kprism_releases_started_total", strategy="bluegreen",
                     how="request") == 1  # fmt: skip
        assert value(after, "kprism_releases", phase="Succeeded", strategy="bluegreen") == 1
        assert value(after, "kprism_releases", phase="Progressing", strategy="bluegreen") == 0
        steps = {
            dict(labels)["step"]
            for (name, labels), v in after.items()
            if name == "kprism_release_step_duration_seconds_count" and v > 0
        }
        assert "wait-ready" in steps and len(steps) >= 2, steps
        assert value(after, "kprism_engine_step_seconds_count") > 0
        # the candidate's pods becoming ready (watch events) woke the app, which acted
        assert value(after, "kprism_reaction_seconds_count") > 0
        assert value(after, "kprism_queue_wait_seconds_count") >= value(
            after, "kprism_reaction_seconds_count"
        )
        assert total(after, "kprism_api_requests_total") > total(
            before, "kprism_api_requests_total"
        )
        assert value(after, "kprism_workqueue_adds_total") > value(
            before, "kprism_workqueue_adds_total"
        )
        assert value(after, "kprism_controller_errors_total") == 0
        assert ("kprism_workqueue_depth", ()) in after
        # every kind's watch restarts are reported, zeros included
        restarts = {
            (dict(labels)["kind"], dict(labels)["reason"]): v
            for (n, labels), v in after.items()
            if n == "kprism_watch_restarts_total"
        }
        assert {kind for kind, _ in restarts} >= {"Service", "Deployment", "Pod"}, restarts
        # no watch failed (a 403 would be an error and a restart): the RBAC allows them all
        assert not any(v for (_, why), v in restarts.items() if why == "error"), restarts
        forbidden = sum(
            v for (n, labels), v in after.items()
            if n == "kprism_api_errors_total" and dict(labels)["code"] == "403"
        )  # fmt: skip
        assert forbidden == 0, [k for k in after if k[0] == "kprism_api_errors_total"]
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
    lines = [ln for ln in log.read_text().splitlines() if ln.strip()]
    records = [json.loads(ln) for ln in lines]  # every line is one JSON object
    ours = [r for r in records if r.get("app") == "hello" and r.get("release") == st["id"]]
    # the traffic switch, with its step, and the end of the release
    assert any(r.get("step") == "switch-traffic" and "selector" in r["msg"] for r in ours), ours
    assert any(r.get("phase") == "Succeeded" and r.get("step") for r in ours), ours
    assert not [r for r in records if r.get("level") == "error"], lines[-20:]
