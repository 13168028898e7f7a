"""kprism.ops.doctor without a cluster: which objects make an app, KP013 during a release,
the JSON patch and diff of a live fix, the pre-flight split (a fake adapter stands in)."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from kprism.errors import ConflictError, ForbiddenError, NotFoundError, UsageError
from kprism.ops import App
from kprism.ops import doctor as live
from kprism.plan.doctor import DoctorConfig, Edit, apply_edits, audit

NS = "shop"


def dep(name: str, labels: dict[str, str], **spec: Any) -> dict[str, Any]:
    container = {
        "name": "web",
        "image": "registry.example/web:1",
        "ports": [{"containerPort": 8080}],
        "readinessProbe": {"httpGet": {"path": "/ready", "port": 8080}},
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": NS, "generation": 4},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {"containers": [container]}},
            **spec,
        },
    }


def svc(name: str, selector: dict[str, str], **meta: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": NS, **meta},
        "spec": {"selector": selector},
    }


def pdb(name: str, match: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": name, "namespace": NS},
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": match}},
    }


def hpa(name: str, target: str) -> dict[str, Any]:
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": name, "namespace": NS},
        "spec": {"scaleTargetRef": {"kind": "Deployment", "name": target}, "maxReplicas": 5},
    }


def pod(name: str, labels: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": NS, "labels": labels},
    }


def names(objects: list[dict[str, Any]]) -> list[str]:
    return [f"{o['kind']}/{o['metadata']['name']}" for o in objects]


BLUE = {"app": "web", "color": "blue"}
GREEN = {"app": "web", "color": "green"}


def test_app_objects_are_the_service_its_tracks_and_what_concerns_them() -> None:
    objects = live.app_objects(
        svc("web", BLUE),
        deployments=[
            dep("web-blue", BLUE),
            dep("web-green", GREEN),  # idle track: selected without the track label
            dep("api", {"app": "api"}),
        ],
        pdbs=[pdb("web", {"app": "web"}), pdb("api", {"app": "api"})],
        hpas=[hpa("web", "web-green"), hpa("api", "api")],
        pods=[pod("web-blue-1", BLUE), pod("web-green-1", GREEN), pod("api-1", {"app": "api"})],
    )
    assert names(objects) == [
        "Service/web",
        "Deployment/web-blue",
        "Deployment/web-green",
        "PodDisruptionBudget/web",
        "HorizontalPodAutoscaler/web",
        "Pod/web-blue-1",  # only the pods the Service itself selects
    ]


def test_app_objects_stay_in_the_service_namespace() -> None:
    other = dep("web-blue", BLUE)
    other["metadata"]["namespace"] = "elsewhere"
    assert names(
        live.app_objects(svc("web", BLUE), deployments=[other], pdbs=[], hpas=[], pods=[])
    ) == ["Service/web"]


@pytest.mark.parametrize(
    ("annotation", "expected"),
    [
        (None, False),
        (json.dumps({"phase": "Progressing"}), True),
        (json.dumps({"phase": "Paused"}), True),
        (json.dumps({"phase": "Succeeded"}), False),
        (json.dumps({"phase": "Aborted"}), False),
        ("not json", False),
        (json.dumps(["phase"]), False),
    ],
)
def test_release_in_progress(annotation: str | None, expected: bool) -> None:
    meta = {"annotations": {"kprism.dev/release": annotation}} if annotation else {}
    assert live.release_in_progress(svc("web", BLUE, **meta)) is expected


def test_live_config_knows_every_pdb_and_skips_kp013_during_a_release() -> None:
    app = App(name="web", namespace=NS, track_label="track")
    base = DoctorConfig(ignore=frozenset({"KP011"}))
    idle = live.live_config(base, app=app, service=svc("web", BLUE))
    assert (idle.expect_pdb, idle.track_label, idle.default_namespace) == (True, "track", NS)
    assert idle.ignore == {"KP011"}
    busy = svc("web", BLUE, annotations={"kprism.dev/release": '{"phase": "Progressing"}'})
    assert live.live_config(base, app=app, service=busy).ignore == {"KP011", "KP013"}


class FakeKube:
    """The adapter calls ops.doctor makes, over a dict of objects; records patches."""

    def __init__(
        self, objects: list[dict[str, Any]], *, reject: bool = False, forbid: str = ""
    ) -> None:
        self.objects = objects
        self.patches: list[tuple[str, list[dict[str, Any]]]] = []
        self.reject = reject
        self.forbid = forbid  # a kind this user may not list

    def raw_service(self, name: str, namespace: str) -> dict[str, Any]:
        for o in self.objects:
            meta = o["metadata"]
            if o["kind"] == "Service" and (meta["name"], meta["namespace"]) == (name, namespace):
                return copy.deepcopy(o)
        raise NotFoundError(f"cannot get Service {name} in namespace {namespace}: not found")

    def check_namespace(self, namespace: str) -> None:
        if namespace != NS:
            raise NotFoundError("no namespace")

    def list_objects(
        self, kind: str, namespace: str | None, labels: dict[str, str] | None = None
    ) -> list[dict[str, Any]]:
        if kind == self.forbid:
            raise ForbiddenError(
                f"forbidden: cannot list {kind}s in namespace {namespace}: no", kind=kind
            )
        out = [o for o in self.objects if o["kind"] == kind]
        if labels:
            out = [
                o
                for o in out
                if all(o["metadata"].get("labels", {}).get(k) == v for k, v in labels.items())
            ]
        return copy.deepcopy(out)

    def json_patch_deployment(
        self, name: str, namespace: str, ops: list[dict[str, Any]]
    ) -> dict[str, Any]:
        if self.reject:
            raise UsageError("the API server rejected: patch Deployment: test failed")
        self.patches.append((name, ops))
        return {}


def risky() -> list[dict[str, Any]]:
    d = dep(
        "web-blue",
        BLUE,
        strategy={"rollingUpdate": {"maxUnavailable": 1, "maxSurge": 1}},
        replicas=3,
    )
    d["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] = 1
    return [svc("web", BLUE), d, pdb("web", {"app": "web"})]


APP = App(name="web", namespace=NS)


def test_audit_app_counts_objects_without_pods() -> None:
    kube = FakeKube([*risky(), pod("web-blue-1", BLUE)])
    result = live.audit_app(kube, APP)  # type: ignore[arg-type]
    assert result.apps == (f"{NS}/web",)
    assert result.checked == 3
    assert [f.rule_id for f in result.findings] == ["KP002", "KP005", "KP006", "KP011"]


def test_unknown_app_and_namespace_are_clear() -> None:
    with pytest.raises(NotFoundError, match="app 'nope' not found: there is no Service nope"):
        live.doctor_app(FakeKube(risky()), App(name="nope", namespace=NS))  # type: ignore[arg-type]
    with pytest.raises(NotFoundError, match="namespace 'gone' does not exist"):
        live.doctor_app(FakeKube(risky()), App(name="web", namespace="gone"))  # type: ignore[arg-type]


def test_a_service_without_selector_is_not_an_app() -> None:
    kube = FakeKube([svc("web", {})])
    with pytest.raises(UsageError, match="selects no pods"):
        live.doctor_app(kube, APP)  # type: ignore[arg-type]


def test_fix_dry_run_plans_one_guarded_patch_and_sends_nothing() -> None:
    kube = FakeKube(risky())
    (p,) = live.fix_app(kube, APP, dry_run=True)  # type: ignore[arg-type]
    assert kube.patches == []
    assert str(p.object_ref) == f"Deployment {NS}/web-blue"
    assert p.rule_ids == ("KP002", "KP006", "KP005")
    assert p.patch[0] == {"op": "test", "path": "/metadata/generation", "value": 4}
    assert p.patch[1] == {
        "op": "test",
        "path": "/spec/template/spec/containers/0/name",
        "value": "web",
    }
    ops = {(o["op"], o["path"]): o.get("value") for o in p.patch[2:]}
    assert ops == {
        ("add", "/spec/template/spec/containers/0/lifecycle"): {
            "preStop": {"sleep": {"seconds": 10}}
        },
        ("replace", "/spec/strategy/rollingUpdate/maxUnavailable"): 0,
        ("replace", "/spec/template/spec/terminationGracePeriodSeconds"): 20,
    }
    assert p.diff.startswith(
        f"--- Deployment {NS}/web-blue (live)\n+++ Deployment {NS}/web-blue (fixed)\n"
    )
    assert "-      maxUnavailable: 1\n+      maxUnavailable: 0\n" in p.diff


def test_fix_sends_the_planned_patch() -> None:
    kube = FakeKube(risky())
    (p,) = live.fix_app(kube, APP)  # type: ignore[arg-type]
    assert kube.patches == [("web-blue", list(p.patch))]


def test_a_rejected_patch_is_a_conflict_naming_the_object() -> None:
    kube = FakeKube(risky(), reject=True)
    with pytest.raises(
        ConflictError, match=rf"Deployment {NS}/web-blue was not patched.*--fix` again"
    ):
        live.fix_app(kube, APP)  # type: ignore[arg-type]


def test_fix_is_refused_during_a_release_but_dry_run_shows_it() -> None:
    objects = risky()
    objects[0]["metadata"]["annotations"] = {"kprism.dev/release": '{"phase": "Paused"}'}
    kube = FakeKube(objects)
    with pytest.raises(UsageError, match="release of web is in progress"):
        live.fix_app(kube, APP)  # type: ignore[arg-type]
    assert len(live.fix_app(kube, APP, dry_run=True)) == 1  # type: ignore[arg-type]
    assert kube.patches == []


def test_yaml_diff_shows_scripts_as_blocks() -> None:
    before = dep("web-blue", BLUE)
    before["spec"]["template"]["spec"]["containers"][0]["args"] = ["python app.py\n"]
    after = copy.deepcopy(before)
    after["spec"]["template"]["spec"]["containers"][0]["args"] = ["exec python app.py\n"]
    diff = live.yaml_diff(before, after, label="D")
    assert "         - |\n-          python app.py\n+          exec python app.py\n" in diff
    assert live.yaml_diff(before, before, label="D") == ""


def test_the_fixed_object_passes_the_fixed_rules() -> None:
    kube = FakeKube(risky())
    (p,) = live.fix_app(kube, APP, dry_run=True)  # type: ignore[arg-type]
    objects = risky()
    # "add" of a missing member and "replace" both set the value at the path
    edits = [Edit(path=o["path"], value=o["value"]) for o in p.patch if o["op"] != "test"]
    fixed = apply_edits(objects[1], edits)
    assert [
        f.rule_id
        for f in audit([objects[0], fixed, objects[2]], config=DoctorConfig(expect_pdb=True))
    ] == ["KP011"]


def test_preflight_splits_errors_and_warnings_and_drops_info() -> None:
    other = dep("api-blue", {"app": "api", "color": "blue", "tier": "web"})
    mine = dep("web-blue", {"app": "web", "color": "blue", "tier": "web"})
    service = svc("web", {"tier": "web", "color": "blue"})
    errors, warnings = live.preflight([service, mine, other], config=DoctorConfig())
    assert [f.rule_id for f in errors] == ["KP012"]
    assert {f.rule_id for f in warnings} == {"KP002"}
    assert all(f.severity.value == "warning" for f in warnings)


def test_check_release_raises_one_line_unless_forced() -> None:
    objects = [
        svc("web", {"tier": "web", "color": "blue"}),
        dep("web-blue", {"app": "web", "color": "blue", "tier": "web"}),
        pod("stray", {"app": "other", "color": "blue", "tier": "web"}),
    ]
    with pytest.raises(UsageError) as err:
        live.check_release(FakeKube(objects), APP)  # type: ignore[arg-type]
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith(f"pre-flight: KP012 service-selects-other-apps on Service {NS}/web: ")
    assert "--force" in message
    lines = live.check_release(FakeKube(objects), APP, force=True)  # type: ignore[arg-type]
    assert lines[0].startswith(f"KP012 Service {NS}/web: ") and "--force" in lines[0]
    assert lines[1].startswith(f'KP002 Deployment {NS}/web-blue: container "web" has no preStop')


def test_a_role_without_pdb_access_skips_the_pdb_rules_in_the_preflight_only() -> None:
    objects = [svc("web", BLUE), dep("web-blue", BLUE, replicas=3)]
    kube = FakeKube(objects, forbid="PodDisruptionBudget")
    lines = live.check_release(kube, APP)  # type: ignore[arg-type]
    assert [ln.split(" ", 1)[0] for ln in lines] == ["KP002", "PodDisruptionBudgets"]
    assert "KP007, KP008" in lines[-1] and "docs/rbac.md" in lines[-1]
    with pytest.raises(ForbiddenError, match="PodDisruptionBudget"):
        live.doctor_app(kube, APP)  # type: ignore[arg-type]
    # any other refusal is not softened
    with pytest.raises(ForbiddenError, match="Pods"):
        live.check_release(FakeKube(objects, forbid="Pod"), APP)  # type: ignore[arg-type]
