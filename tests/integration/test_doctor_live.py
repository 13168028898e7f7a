"""``kprism doctor APP`` / ``-A`` / ``--fix`` on live apps, and the release pre-flight."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from lightkube import Client
from lightkube.codecs import from_dict, load_all_yaml
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.core_v1 import Pod, Service
from lightkube.types import PatchType

from kprism.errors import UsageError
from kprism.kube.client import Kube, Target
from kprism.ops import App
from kprism.ops import doctor as live
from tests.integration.helpers import (
    deployment,
    kprism,
    make_app,
    ready_endpoints,
    release_status,
    selector,
    service,
    wait_for,
)

ROOT = Path(__file__).resolve().parents[2]
SEED = "py-hello-service"
LABELS = {"app": "hello", "color": "blue"}


def apply_seed(kube: Client, namespace: str) -> None:
    """The seed's own manifests (examples/seed): sh -c, preStop exec sleep 5, no probe."""
    for path in sorted((ROOT / "examples" / "seed").glob("*.yaml")):
        for obj in load_all_yaml(path.read_text()):
            kube.create(obj, namespace=namespace)
    wait_for(
        lambda: len(ready_endpoints(kube, namespace, SEED)),
        lambda n: n == 3,
        what="3 ready endpoints of the seed",
    )


def good_app(kube: Client, namespace: str, name: str = "hello") -> None:
    """An app that passes every rule: probes, preStop sleep, grace, surge-only, PDB, limits."""
    labels = {"app": name, "color": "blue"}
    container = {
        "name": "hello",
        "image": "registry.example/hello:1.4.2",
        "ports": [{"containerPort": 8888}],
        "readinessProbe": {"httpGet": {"path": "/ready", "port": 8888}},
        "livenessProbe": {"httpGet": {"path": "/live", "port": 8888}, "failureThreshold": 6},
        "lifecycle": {"preStop": {"sleep": {"seconds": 10}}},
        "resources": {"limits": {"memory": "128Mi"}},
    }
    kube.create(
        from_dict(
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": f"{name}-blue", "labels": labels},
                "spec": {
                    "replicas": 2,
                    "selector": {"matchLabels": labels},
                    "strategy": {"rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
                    "template": {
                        "metadata": {"labels": labels},
                        "spec": {"terminationGracePeriodSeconds": 30, "containers": [container]},
                    },
                },
            }
        ),
        namespace=namespace,
    )
    kube.create(
        from_dict(
            {
                "apiVersion": "policy/v1",
                "kind": "PodDisruptionBudget",
                "metadata": {"name": name},
                "spec": {"maxUnavailable": 1, "selector": {"matchLabels": {"app": name}}},
            }
        ),
        namespace=namespace,
    )
    kube.create(service(name, labels), namespace=namespace)


def doctor_json(kubeconfig: str, *args: str, check: int = 0) -> dict[str, Any]:
    out = kprism("doctor", *args, "-o", "json", kubeconfig=kubeconfig, check=check)
    data: dict[str, Any] = json.loads(out.stdout)
    return data


def rules_of(report: dict[str, Any], kind: str, namespace: str, name: str) -> list[str]:
    target = {"kind": kind, "namespace": namespace, "name": name}
    return [f["rule_id"] for f in report["findings"] if f["object"] == target]


def one_line_error(out: Any, *needles: str, code: int = 2) -> str:
    assert out.returncode == code, (out.returncode, out.stdout, out.stderr)
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, out.stderr
    assert "Traceback" not in out.stderr
    for n in needles:
        assert n in lines[0], (n, lines[0])
    return lines[0]


def deployment_state(kube: Client, namespace: str, name: str) -> tuple[Any, ...]:
    d = kube.get(Deployment, name, namespace=namespace)
    return d.metadata.generation, json.dumps(d.spec.to_dict(), sort_keys=True)


# -- audit --------------------------------------------------------------------------------


def test_doctor_reports_the_seed_problems_on_a_live_app(
    kube: Client, namespace: str, kubeconfig_path: str
) -> None:
    apply_seed(kube, namespace)
    report = doctor_json(kubeconfig_path, SEED, "-n", namespace)
    assert rules_of(report, "Deployment", namespace, "py-hello-blue") == [
        "KP001",  # no readiness probe
        "KP004",  # preStop runs the sleep binary
        "KP007",  # 3 replicas, no PDB: every PDB of the namespace was read
        "KP014",  # sh -c without exec
    ]
    assert report["apps"] == [f"{namespace}/{SEED}"]
    assert report["summary"]["objects"] == 2  # the Service and the Deployment; pods not counted
    kp014 = next(f for f in report["findings"] if f["rule_id"] == "KP014")
    assert kp014["fixable"] and kp014["container"] == "hello"
    assert kp014["path"] == "/spec/template/spec/containers/0/args/0"

    table = kprism("doctor", SEED, "-n", namespace, kubeconfig=kubeconfig_path, check=0)
    lines = table.stdout.splitlines()
    assert lines[0].split() == ["SEVERITY", "ID", "OBJECT", "MESSAGE", "FIX"]
    assert any(
        ln.split()[:4] == ["warning", "KP014", "Deployment", f"{namespace}/py-hello-blue"]
        for ln in lines
    ), table.stdout
    assert lines[-1] == "3 warnings, 1 info in 2 objects (3 fixable with --fix)"
    # warnings gate CI with --fail-on warning; SARIF names the live object
    kprism(
        "doctor", SEED, "-n", namespace, "--fail-on", "warning", kubeconfig=kubeconfig_path, check=1
    )
    sarif = json.loads(
        kprism(
            "doctor", SEED, "-n", namespace, "-o", "sarif", kubeconfig=kubeconfig_path, check=0
        ).stdout
    )
    results = sarif["runs"][0]["results"]
    assert {r["ruleId"] for r in results} == {"KP001", "KP004", "KP007", "KP014"}
    assert all("physicalLocation" not in r["locations"][0] for r in results)


def test_doctor_finds_nothing_on_a_good_app(
    kube: Client, namespace: str, kubeconfig_path: str
) -> None:
    good_app(kube, namespace)
    out = kprism(
        "doctor", "hello", "-n", namespace, "--fail-on", "info", kubeconfig=kubeconfig_path, check=0
    )
    assert out.stdout == "no problems found in 3 objects\n"  # Service, Deployment, PDB


def test_doctor_all_namespaces_checks_every_app(
    kube: Client, namespace: str, kubeconfig_path: str
) -> None:
    apply_seed(kube, namespace)  # app=hello
    good_app(kube, namespace, "shop")
    # not apps: a Service that selects no Deployment, and one without a selector
    kube.create(service("stray", {"app": "nobody"}), namespace=namespace)
    kube.create(
        from_dict(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": "external"},
                "spec": {"type": "ExternalName", "externalName": "db.example"},
            }
        ),
        namespace=namespace,
    )
    report = doctor_json(kubeconfig_path, "-A")
    mine = sorted(a for a in report["apps"] if a.startswith(f"{namespace}/"))
    assert mine == [f"{namespace}/{SEED}", f"{namespace}/shop"]
    assert rules_of(report, "Deployment", namespace, "py-hello-blue") == [
        "KP001",
        "KP004",
        "KP007",
        "KP014",
    ]
    assert rules_of(report, "Deployment", namespace, "shop-blue") == []
    assert not [f for f in report["findings"] if f["object"]["name"] in ("stray", "external")]
    table = kprism("doctor", "-A", kubeconfig=kubeconfig_path, check=0)
    assert f"Deployment {namespace}/py-hello-blue" in table.stdout
    assert table.stdout.splitlines()[-1].endswith(f" of {len(report['apps'])} apps")


def test_doctor_unknown_app_is_one_line_exit_2(namespace: str, kubeconfig_path: str) -> None:
    out = kprism("doctor", "nope", "-n", namespace, kubeconfig=kubeconfig_path)
    one_line_error(out, "app 'nope' not found", f"namespace {namespace}")


def test_kp013_is_ignored_while_a_release_is_in_progress(
    kube: Client, namespace: str, kubeconfig_path: str
) -> None:
    # two live tracks with different images behind a Service without the track label
    kube.create(deployment("hello-blue", LABELS, replicas=1), namespace=namespace)
    kube.create(
        deployment(
            "hello-green", {"app": "hello", "color": "green"}, replicas=1, image="r.example/h:2"
        ),
        namespace=namespace,
    )
    kube.create(service("hello", {"app": "hello"}), namespace=namespace)
    report = doctor_json(kubeconfig_path, "hello", "-n", namespace)
    assert "KP013" in rules_of(report, "Service", namespace, "hello")

    in_progress = {"kprism.dev/release": json.dumps({"id": "r1", "phase": "Progressing"})}
    kube.patch(Service, "hello", {"metadata": {"annotations": in_progress}}, namespace=namespace)
    report = doctor_json(kubeconfig_path, "hello", "-n", namespace)
    assert "KP013" not in rules_of(report, "Service", namespace, "hello")
    assert "KP002" in rules_of(report, "Deployment", namespace, "hello-blue")  # the rest still runs
    # and --fix keeps its hands off the tracks of a release in flight
    before = deployment_state(kube, namespace, "hello-blue")
    out = kprism("doctor", "hello", "-n", namespace, "--fix", kubeconfig=kubeconfig_path)
    one_line_error(out, "a release of hello is in progress")
    assert deployment_state(kube, namespace, "hello-blue") == before

    done = {"kprism.dev/release": json.dumps({"id": "r1", "phase": "Succeeded"})}
    kube.patch(Service, "hello", {"metadata": {"annotations": done}}, namespace=namespace)
    report = doctor_json(kubeconfig_path, "hello", "-n", namespace)
    assert "KP013" in rules_of(report, "Service", namespace, "hello")


# -- fix ----------------------------------------------------------------------------------


def risky_app(kube: Client, namespace: str) -> None:
    """hello-blue without preStop, grace 1s, maxUnavailable 1 of 3, behind a pinned Service."""
    kube.create(deployment("hello-blue", LABELS, max_unavailable=1, grace=1), namespace=namespace)
    kube.create(service("hello", LABELS), namespace=namespace)


FIXED_RULES = "KP002,KP005,KP006"


def test_fix_dry_run_prints_a_diff_and_changes_nothing(
    kube: Client, namespace: str, kubeconfig_path: str
) -> None:
    risky_app(kube, namespace)
    before = deployment_state(kube, namespace, "hello-blue")
    out = kprism(
        "doctor",
        "hello",
        "-n",
        namespace,
        "--fix",
        "--dry-run",
        kubeconfig=kubeconfig_path,
        check=0,
    )
    diff = out.stdout
    assert f"--- Deployment {namespace}/hello-blue (live)\n" in diff
    assert f"+++ Deployment {namespace}/hello-blue (fixed)\n" in diff
    assert "-      maxUnavailable: 1\n+      maxUnavailable: 0\n" in diff
    assert (
        "+        lifecycle:\n+          preStop:\n+            sleep:\n+              seconds: 10\n"
        in diff
    )
    assert (
        "-      terminationGracePeriodSeconds: 1\n+      terminationGracePeriodSeconds: 20\n"
        in diff
    )
    assert "dry run: would patch 1 Deployment; nothing changed" in out.stderr
    # the report below the diff is the cluster as it is: still unfixed
    assert "KP002" in diff.split("(fixed)", 1)[1]
    assert deployment_state(kube, namespace, "hello-blue") == before

    report = doctor_json(kubeconfig_path, "hello", "-n", namespace, "--fix", "--dry-run")
    assert report["dry_run"] is True
    (patch,) = report["patches"]
    assert patch["object"] == {"kind": "Deployment", "namespace": namespace, "name": "hello-blue"}
    assert patch["rules"] == ["KP002", "KP006", "KP005"]
    assert patch["patch"][0] == {"op": "test", "path": "/metadata/generation", "value": before[0]}
    assert {"op": "test", "path": "/spec/template/spec/containers/0/name", "value": "hello"} in (
        patch["patch"]
    )
    assert deployment_state(kube, namespace, "hello-blue") == before


def test_fix_patches_the_live_deployment_and_reaudits_clean(
    kube: Client, namespace: str, kubeconfig_path: str
) -> None:
    risky_app(kube, namespace)
    assert rules_of(
        doctor_json(kubeconfig_path, "hello", "-n", namespace, "--select", FIXED_RULES),
        "Deployment",
        namespace,
        "hello-blue",
    ) == ["KP002", "KP005", "KP006"]
    generation = kube.get(Deployment, "hello-blue", namespace=namespace).metadata.generation
    out = kprism("doctor", "hello", "-n", namespace, "--fix", kubeconfig=kubeconfig_path, check=0)
    assert f"patched Deployment {namespace}/hello-blue: KP002, KP006, KP005" in out.stderr
    for rule in ("KP002 no-prestop-hook", "KP005 grace-period-too-short", "KP006 max-unavailable"):
        assert f"fixed Deployment {namespace}/hello-blue: {rule}" in out.stderr
    d = kube.get(Deployment, "hello-blue", namespace=namespace)
    assert d.metadata.generation == generation + 1  # one PATCH
    c = d.spec.template.spec.containers[0]
    assert c.lifecycle.preStop.sleep.seconds == 10
    assert d.spec.template.spec.terminationGracePeriodSeconds == 20  # preStop 10 + drain 5 + 5
    assert d.spec.strategy.rollingUpdate.maxUnavailable == 0
    assert d.spec.strategy.rollingUpdate.maxSurge == 1
    assert c.readinessProbe is not None and c.image == "registry.example/hello:1"  # untouched
    report = doctor_json(kubeconfig_path, "hello", "-n", namespace, "--select", FIXED_RULES)
    assert report["findings"] == []
    # nothing left to fix: a second --fix patches nothing
    again = kprism("doctor", "hello", "-n", namespace, "--fix", kubeconfig=kubeconfig_path, check=0)
    assert "patched" not in again.stderr
    assert kube.get(Deployment, "hello-blue", namespace=namespace).metadata.generation == (
        generation + 1
    )


def test_fix_is_refused_when_the_deployment_changed_after_it_was_read(
    kube: Client, namespace: str, kubeconfig_path: str
) -> None:
    risky_app(kube, namespace)
    k = Kube(Target(kubeconfig=kubeconfig_path, namespace=namespace))
    try:
        app = App(name="hello", namespace=namespace)
        (planned,) = live.fix_app(k, app, dry_run=True)
        # someone edits the pod template in between: generation moves on
        kube.patch(
            Deployment,
            "hello-blue",
            [{"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": "r/h:9"}],
            namespace=namespace,
            patch_type=PatchType.JSON,
        )
        before = deployment_state(kube, namespace, "hello-blue")
        with pytest.raises(UsageError, match="rejected"):
            k.json_patch_deployment("hello-blue", namespace, list(planned.patch))
        assert deployment_state(kube, namespace, "hello-blue") == before
    finally:
        k.close()


# -- release pre-flight -------------------------------------------------------------------


def stray_pod_app(kube: Client, namespace: str) -> None:
    """Service web selects {tier: web, color: blue}: Deployment web-blue (app a) and a bare
    Pod of app b. check_single_app only compares Deployments; the doctor's KP012 sees the pod."""
    labels = {"tier": "web", "app": "a", "color": "blue"}
    kube.create(deployment("web-blue", labels, replicas=2), namespace=namespace)
    kube.create(service("web", {"tier": "web", "color": "blue"}), namespace=namespace)
    kube.create(
        from_dict(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {
                    "name": "stray",
                    "labels": {"tier": "web", "app": "b", "color": "blue"},
                },
                "spec": {"containers": [{"name": "x", "image": "registry.example/other:1"}]},
            }
        ),
        namespace=namespace,
    )
    wait_for(
        lambda: len(ready_endpoints(kube, namespace, "web")),
        lambda n: n == 3,
        what="3 ready endpoints of web (2 of app a, the stray pod of app b)",
    )


def test_release_preflight_refuses_an_error_finding_and_force_overrides_it(
    kube: Client, namespace: str, kubeconfig_path: str
) -> None:
    stray_pod_app(kube, namespace)
    before = (
        sorted(d.metadata.name for d in kube.list(Deployment, namespace=namespace)),
        selector(kube, namespace, "web"),
        release_status(kube, namespace, "web"),
    )
    args = ("release", "web", "-n", namespace, "--image", "registry.example/web:2")
    out = kprism(*args, "--auto-promote", "--scale-down-delay", "0", kubeconfig=kubeconfig_path)
    line = one_line_error(
        out, "pre-flight: KP012", f"Service {namespace}/web", "matches pods of 2 apps (a, b)"
    )
    assert line.startswith("kprism: error: ") and "--force" in line
    after = (
        sorted(d.metadata.name for d in kube.list(Deployment, namespace=namespace)),
        selector(kube, namespace, "web"),
        release_status(kube, namespace, "web"),
    )
    assert after == before == (["web-blue"], {"tier": "web", "color": "blue"}, {})
    # the dry run refuses the same way
    one_line_error(kprism(*args, "--dry-run", kubeconfig=kubeconfig_path), "pre-flight: KP012")

    out = kprism(
        *args,
        "--force",
        "--auto-promote",
        "--scale-down-delay",
        "0",
        kubeconfig=kubeconfig_path,
        check=0,
    )
    assert any(
        ln.startswith(f"warning: KP012 Service {namespace}/web: ") and "--force" in ln
        for ln in out.stderr.splitlines()
    ), out.stderr
    assert selector(kube, namespace, "web") == {"tier": "web", "color": "green"}
    assert release_status(kube, namespace, "web")["phase"] == "Succeeded"
    assert kube.get(Pod, "stray", namespace=namespace).metadata.name == "stray"


def test_the_seed_manifest_releases_with_warnings(
    kube: Client, namespace: str, kubeconfig_path: str
) -> None:
    apply_seed(kube, namespace)
    image = ("--image", "hello=localhost:5001/py-http:2")
    plan = json.loads(
        kprism(
            "release",
            SEED,
            "-n",
            namespace,
            *image,
            "--dry-run",
            "-o",
            "json",
            kubeconfig=kubeconfig_path,
            check=0,
        ).stdout
    )
    assert [w.split(" ", 1)[0] for w in plan["warnings"]] == ["KP001", "KP007", "KP014"]
    out = kprism(
        "release",
        SEED,
        "-n",
        namespace,
        *image,
        "--auto-promote",
        "--scale-down-delay",
        "0",
        kubeconfig=kubeconfig_path,
        check=0,
    )
    assert "Succeeded" in out.stdout
    lines = out.stderr.splitlines()
    warnings = [ln for ln in lines if ln.startswith("warning: ")]
    dep = f"Deployment {namespace}/py-hello-blue"
    assert [w.split(": ", 2)[1] for w in warnings] == [
        f"KP001 {dep}",
        f"KP007 {dep}",
        f"KP014 {dep}",
    ]
    assert 'container "hello" runs its app under "sh -c" without exec' in warnings[2]
    # printed before the release started changing anything
    first_action = next(i for i, ln in enumerate(lines) if "→" in ln)
    assert lines.index(warnings[-1]) < first_action
    assert selector(kube, namespace, SEED) == {"app": "hello", "color": "green"}
    green = kube.get(Deployment, "py-hello-green", namespace=namespace)
    assert green.spec.template.spec.containers[0].image == "localhost:5001/py-http:2"


def test_a_clean_app_releases_without_warnings(
    kube: Client, namespace: str, kubeconfig_path: str
) -> None:
    good_app(kube, namespace)
    wait_for(
        lambda: len(ready_endpoints(kube, namespace, "hello")),
        lambda n: n == 2,
        what="2 ready endpoints of hello",
    )
    out = kprism(
        "release",
        "hello",
        "-n",
        namespace,
        "--image",
        "registry.example/hello:1.4.3",
        "--auto-promote",
        "--scale-down-delay",
        "0",
        kubeconfig=kubeconfig_path,
        check=0,
    )
    assert "warning:" not in out.stderr
    assert selector(kube, namespace) == {"app": "hello", "color": "green"}


def test_make_app_is_not_refused(kube: Client, namespace: str, kubeconfig_path: str) -> None:
    # the apps every other integration test releases: warnings only, never a refusal
    make_app(kube, namespace, replicas=2)
    k = Kube(Target(kubeconfig=kubeconfig_path, namespace=namespace))
    try:
        lines = live.check_release(k, App(name="hello", namespace=namespace))
    finally:
        k.close()
    assert [ln.split(" ", 1)[0] for ln in lines] == ["KP002", "KP005", "KP007"]


def test_a_role_that_may_not_read_pdbs_still_releases_and_says_so(
    kube: Client, namespace: str, kubeconfig_path: str, tmp_path: Path
) -> None:
    from tests.integration.test_bad_input import ROOT as _ROOT
    from tests.integration.test_bad_input import _kubeconfig_for, _role

    make_app(kube, namespace, replicas=2)
    role = yaml.safe_load((_ROOT / "docs" / "rbac-role.yaml").read_text())
    rules = [r for r in role["rules"] if r["resources"] != ["poddisruptionbudgets"]]
    assert len(rules) == len(role["rules"]) - 1  # the documented Role grants them
    _role(kube, namespace, "no-pdbs", rules, "no-pdbs")
    kc = _kubeconfig_for(kube, namespace, "no-pdbs", kubeconfig_path, tmp_path)
    out = kprism("doctor", "hello", kubeconfig=kc)
    one_line_error(out, "forbidden", "list PodDisruptionBudgets", code=3)
    out = kprism(
        "release",
        "hello",
        "--image",
        "registry.example/hello:2",
        "--auto-promote",
        "--scale-down-delay",
        "0",
        kubeconfig=kc,
        check=0,
    )
    warnings = [ln for ln in out.stderr.splitlines() if ln.startswith("warning: ")]
    assert [w.split()[1] for w in warnings] == ["KP002", "KP005", "PodDisruptionBudgets"]
    assert selector(kube, namespace)["color"] == "green"
