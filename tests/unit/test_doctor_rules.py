"""The doctor's pure rules: each fires on a positive case and stays quiet on a negative one.

Positive cases start from ``fixtures/doctor/good.yaml`` (which passes every rule) and break
exactly one thing, so each test also proves that no other rule fires by accident.
"""

from __future__ import annotations

import copy
import functools
import re
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from kprism.errors import InvalidSpecError
from kprism.plan.doctor import (
    IGNORE_ANNOTATION,
    RULES,
    RULES_BY_ID,
    DoctorConfig,
    Edit,
    Finding,
    Severity,
    apply_edits,
    audit,
    get_path,
    plan_fixes,
    pointer,
    resolve_rules,
    split_pointer,
    to_json_patch,
)
from kprism.plan.doctor.checks import RuleDef
from kprism.plan.doctor.registry import DEFINITIONS

FIXTURES = Path(__file__).parent / "fixtures" / "doctor"
DOCS = Path(__file__).parents[2] / "docs" / "doctor.md"

Obj = dict[str, Any]


@functools.cache
def _parsed(name: str) -> list[Obj]:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return [d for d in yaml.load_all((FIXTURES / name).read_text(), Loader=loader) if d]


def load(name: str) -> list[Obj]:
    """A fresh copy of a fixture's objects (parsed once: tests mutate their copy)."""
    return copy.deepcopy(_parsed(name))


def good() -> list[Obj]:
    return load("good.yaml")


def blue(objs: list[Obj]) -> Obj:
    return objs[0]


def web(objs: list[Obj]) -> Obj:
    return blue(objs)["spec"]["template"]["spec"]["containers"][0]


def ids(findings: list[Finding]) -> list[str]:
    return [f.rule_id for f in findings]


def test_good_fixture_is_clean() -> None:
    assert audit(good()) == []


# ---------------------------------------------------------------- positive cases


def _no_readiness(o: list[Obj]) -> None:
    del web(o)["readinessProbe"]


def _no_prestop(o: list[Obj]) -> None:
    del web(o)["lifecycle"]


def _short_native_sleep(o: list[Obj]) -> None:
    web(o)["lifecycle"]["preStop"] = {"sleep": {"seconds": 2}}


def _exec_sleep(o: list[Obj]) -> None:
    web(o)["lifecycle"]["preStop"] = {"exec": {"command": ["/bin/sleep", "10"]}}


def _short_grace(o: list[Obj]) -> None:
    blue(o)["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] = 15


def _max_unavailable(o: list[Obj]) -> None:
    blue(o)["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] = 1


def _no_pdb(o: list[Obj]) -> None:
    o[3]["spec"]["selector"] = {"matchLabels": {"app.kubernetes.io/name": "other"}}


def _pdb_zero(o: list[Obj]) -> None:
    o[3]["spec"] = {"maxUnavailable": 0, "selector": o[3]["spec"]["selector"]}


def _same_probes(o: list[Obj]) -> None:
    web(o)["livenessProbe"] = {"httpGet": {"path": "/ready", "port": 8080}, "periodSeconds": 10}


def _latest(o: list[Obj]) -> None:
    web(o)["image"] = "registry.example/shop"
    del web(o)["imagePullPolicy"]


def _no_memory_limit(o: list[Obj]) -> None:
    del web(o)["resources"]


def _other_app(o: list[Obj]) -> None:
    other = copy.deepcopy(blue(o))
    other["metadata"]["name"] = "cart"
    other["spec"]["replicas"] = 1
    other["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/name"] = "cart"
    o[2]["spec"]["selector"] = {"color": "blue"}
    o.append(other)


def _mixed_tracks(o: list[Obj]) -> None:
    o[2]["spec"]["selector"] = {"app.kubernetes.io/name": "shop"}
    o[1]["spec"]["replicas"] = 1


def _sh_c(o: list[Obj]) -> None:
    web(o)["command"] = ["sh", "-c"]
    web(o)["args"] = ["python -m shop --port 8080\n"]


def _hpa(o: list[Obj]) -> None:
    o[4]["spec"]["scaleTargetRef"] = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "x"}


def _second_service(o: list[Obj]) -> None:
    """Online Boutique's frontend-external: a second Service over the app's pods."""
    other = copy.deepcopy(o[2])
    other["metadata"]["name"] = "shop-external"
    other["spec"]["type"] = "LoadBalancer"
    o.append(other)


def _recreate(o: list[Obj]) -> None:
    blue(o)["spec"]["strategy"] = {"type": "Recreate"}


POSITIVE: dict[str, tuple[Callable[[list[Obj]], None], int, str | None]] = {
    # rule: (break it, index of the object it is reported on, container)
    "KP001": (_no_readiness, 0, "web"),
    "KP002": (_no_prestop, 0, "web"),
    "KP003": (_short_native_sleep, 0, "web"),
    "KP004": (_exec_sleep, 0, "web"),
    "KP005": (_short_grace, 0, None),
    "KP006": (_max_unavailable, 0, None),
    "KP007": (_no_pdb, 0, None),
    "KP008": (_pdb_zero, 3, None),
    "KP009": (_same_probes, 0, "web"),
    "KP010": (_latest, 0, "web"),
    "KP011": (_no_memory_limit, 0, "web"),
    "KP012": (_other_app, 2, None),
    "KP013": (_mixed_tracks, 2, None),
    "KP014": (_sh_c, 0, "web"),
    "KP015": (_hpa, 4, None),
    "KP016": (_recreate, 0, None),
    "KP017": (_second_service, 5, None),
}


def test_every_rule_has_a_positive_case() -> None:
    assert set(POSITIVE) == set(RULES_BY_ID)


@pytest.mark.parametrize("rule_id", sorted(POSITIVE))
def test_rule_fires_alone(rule_id: str) -> None:
    objs = good()
    breaker, index, container = POSITIVE[rule_id]
    breaker(objs)
    findings = audit(objs)
    assert ids(findings) == [rule_id]
    (f,) = findings
    rule = RULES_BY_ID[rule_id]
    assert (f.slug, f.index, f.container) == (rule.slug, index, container)
    assert f.object_ref.namespace == "shop"
    assert f.object_ref.kind == objs[index]["kind"]
    assert f.path.startswith("/")
    assert "\n" not in f.message
    assert "\n" not in f.fix


@pytest.mark.parametrize("rule_id", sorted(POSITIVE))
def test_rule_can_be_ignored_by_id_and_by_slug(rule_id: str) -> None:
    objs = good()
    POSITIVE[rule_id][0](objs)
    assert audit(objs, config=DoctorConfig(ignore=frozenset({rule_id}))) == []
    slug = RULES_BY_ID[rule_id].slug
    assert audit(objs, config=DoctorConfig(ignore=frozenset({slug}))) == []


# ---------------------------------------------------------------- negative cases


def _set(path: str, value: Any, index: int = 0) -> Callable[[list[Obj]], None]:
    def mutate(o: list[Obj]) -> None:
        node: Any = o[index]
        segs = split_pointer(path)
        for seg in segs[:-1]:
            node = node[int(seg)] if isinstance(node, list) else node.setdefault(seg, {})
        node[segs[-1]] = value

    return mutate


C0 = "/spec/template/spec/containers/0"

NEGATIVE: list[tuple[str, Callable[[list[Obj]], None]]] = [
    # a sidecar without ports needs neither probe nor preStop while a port-serving one exists
    ("KP001", _set(C0 + "/ports", [{"containerPort": 8080}])),
    # exactly the propagation allowance is enough
    ("KP003", _set(C0 + "/lifecycle/preStop", {"sleep": {"seconds": 5}})),
    # a preStop whose duration cannot be told is not called short
    ("KP003", _set(C0 + "/lifecycle/preStop", {"httpGet": {"path": "/drain", "port": 8080}})),
    # a script that does more than sleep is not "just a sleep binary"
    ("KP004", _set(C0 + "/lifecycle/preStop", {"exec": {"command": ["sh", "-c", "x; sleep 9"]}})),
    # grace 21 > preStop 10 + drain 5
    ("KP005", _set("/spec/template/spec/terminationGracePeriodSeconds", 21)),
    # unset grace is 30
    ("KP005", _set("/spec/template/spec/terminationGracePeriodSeconds", None)),
    # default 25% rounds down to 0 for 3 replicas
    ("KP006", _set("/spec/strategy", {})),
    # idle track with maxUnavailable 1 has no pods to lose
    ("KP006", _set("/spec/strategy/rollingUpdate/maxUnavailable", 1, index=1)),
    # one replica needs no PDB
    ("KP007", lambda o: (_no_pdb(o), _set("/spec/replicas", 1)(o))),
    # minAvailable 2 of 3 leaves room for one eviction
    ("KP008", _set("/spec", {"minAvailable": 2, "selector": {}}, index=3)),
    # same handler, different threshold: liveness is more tolerant
    (
        "KP009",
        _set(
            C0 + "/livenessProbe",
            {"httpGet": {"path": "/ready", "port": 8080}, "periodSeconds": 30},
        ),
    ),
    # :latest pulled IfNotPresent (kind/minikube dev images) is left alone
    ("KP010", lambda o: web(o).update(image="shop:latest", imagePullPolicy="IfNotPresent")),
    # a digest pins the code even with Always
    ("KP010", lambda o: web(o).update(image="shop@sha256:" + "0" * 64, imagePullPolicy="Always")),
    # a selector without the track label over tracks with identical pods is no version mix
    (
        "KP013",
        lambda o: (
            _mixed_tracks(o),
            o[1]["spec"]["template"].__setitem__(
                "spec", copy.deepcopy(o[0]["spec"]["template"]["spec"])
            ),
        ),
    ),
    # the seed's "both tracks" Service while the other track is scaled to zero
    ("KP013", lambda o: o[2]["spec"].__setitem__("selector", {"app.kubernetes.io/name": "shop"})),
    # "sh -c" that execs, with trap, or under dumb-init is fine
    ("KP014", lambda o: web(o).update(command=["bash", "-ec"], args=["cd /app\nexec ./run\n"])),
    ("KP014", lambda o: web(o).update(command=["sh", "-c", "trap 'kill $P' TERM; ./run & wait"])),
    ("KP014", lambda o: web(o).update(command=["dumb-init", "sh", "-c", "./run"])),
    ("KP014", lambda o: web(o).update(command=["sh", "-c", "exec nginx -g 'daemon off;'"])),
    ("KP014", lambda o: web(o).update(command=["sh", "-c", 'exec run --msg "a;b && c"'])),
    # args alone, with an init that forwards signals to the group
    (
        "KP014",
        lambda o: (web(o).pop("command"), web(o).update(args=["tini", "-g", "sh", "-c", "./run"])),
    ),
    ("KP016", _set("/spec/strategy/type", "RollingUpdate")),
]


@pytest.mark.parametrize(("rule_id", "mutate"), NEGATIVE)
def test_rule_stays_quiet(rule_id: str, mutate: Callable[[list[Obj]], None]) -> None:
    objs = good()
    mutate(objs)
    assert rule_id not in ids(audit(objs))


def test_every_rule_has_a_negative_case() -> None:
    covered = {rule_id for rule_id, _ in NEGATIVE}
    # the rest are covered by good.yaml itself and by the focused tests below
    assert covered >= {"KP003", "KP005", "KP006", "KP008", "KP010", "KP013", "KP014"}


def test_audit_does_not_modify_its_input() -> None:
    objs = load("seed.yaml")
    before = copy.deepcopy(objs)
    audit(objs)
    plan_fixes(objs, audit(objs))
    assert objs == before


# ----------------------------------------------------------------------- the seed


def test_seed_deployment_yields_exactly_the_expected_findings() -> None:
    findings = audit(load("seed.yaml")[:1])
    got = [(f.rule_id, f.severity, f.container, f.path, f.fixable) for f in findings]
    assert got == [
        ("KP001", Severity.WARNING, "hello", C0 + "/readinessProbe", True),
        ("KP004", Severity.INFO, "hello", C0 + "/lifecycle/preStop/exec", True),
        ("KP014", Severity.WARNING, "hello", C0 + "/args/0", True),
    ]
    assert '"sh -c"' in findings[2].message
    assert "exec python app.py" in findings[2].fix
    assert "sleep.seconds: 5" in findings[1].fix


def test_seed_service_selecting_both_tracks_is_flagged() -> None:
    findings = [f for f in audit(load("seed.yaml")) if f.index == 2]
    assert ids(findings) == ["KP013"]
    assert findings[0].severity is Severity.WARNING
    assert "py-http:1" in findings[0].message
    assert "py-http:2" in findings[0].message


def test_seed_fixes_leave_only_the_unfixable_selector_finding() -> None:
    objs = load("seed.yaml")
    fixes = plan_fixes(objs, audit(objs))
    assert [f.index for f in fixes] == [0, 1]
    fixed = [
        apply_edits(o, next((f.edits for f in fixes if f.index == i), ()))
        for i, o in enumerate(objs)
    ]
    assert [(f.index, f.rule_id) for f in audit(fixed)] == [(2, "KP013")]
    c = fixed[0]["spec"]["template"]["spec"]["containers"][0]
    assert c["lifecycle"]["preStop"] == {"sleep": {"seconds": 5}}
    # a TCP connect to the container's port: Ready once the app listens
    assert c["readinessProbe"] == {
        "tcpSocket": {"port": c["ports"][0].get("name") or c["ports"][0]["containerPort"]},
        "periodSeconds": 2,
        "failureThreshold": 3,
    }
    assert c["args"] == ["exec python app.py\n"]
    assert c["command"] == ["sh", "-c"]


# ------------------------------------------------------------- preStop and grace


@pytest.mark.parametrize(
    ("hook", "seconds", "fixable"),
    [
        ({"sleep": {"seconds": 3}}, 3, True),
        ({"exec": {"command": ["sleep", "3"]}}, 3, True),
        ({"exec": {"command": ["/bin/sleep", "3s"]}}, 3, True),
        ({"exec": {"command": ["/bin/sh", "-c", "sleep 3"]}}, 3, True),
        ({"exec": {"command": ["sh", "-c", "sleep 1 && nginx -s quit; sleep 2"]}}, 3, False),
        ({"exec": {"command": ["sleep", "0.5"]}}, 0.5, True),
    ],
)
def test_short_prestop_forms(hook: Obj, seconds: float, fixable: bool) -> None:
    objs = good()
    web(objs)["lifecycle"]["preStop"] = hook
    (f,) = [f for f in audit(objs) if f.rule_id == "KP003"]
    assert f"sleeps {seconds:g}s" in f.message
    assert f.fixable is fixable


def test_propagation_allowance_is_configurable() -> None:
    objs = good()  # preStop sleeps 10s
    assert "KP003" not in ids(audit(objs))
    assert "KP003" in ids(audit(objs, config=DoctorConfig(propagation_seconds=12)))


def test_grace_period_counts_the_longest_prestop_and_the_default() -> None:
    objs = good()
    spec = blue(objs)["spec"]["template"]["spec"]
    del spec["terminationGracePeriodSeconds"]  # default 30
    web(objs)["lifecycle"]["preStop"] = {"sleep": {"seconds": 25}}
    (f,) = [f for f in audit(objs) if f.rule_id == "KP005"]
    assert "30 (default)" in f.message
    assert f.fix == "set terminationGracePeriodSeconds: 35"


def test_fixes_order_prestop_before_grace() -> None:
    objs = good()
    spec = blue(objs)["spec"]["template"]["spec"]
    spec["terminationGracePeriodSeconds"] = 10
    del web(objs)["lifecycle"]
    findings = audit(objs)
    assert ids(findings) == ["KP002"]  # 10s grace is plenty until preStop sleeps 10s
    (fix,) = plan_fixes(objs, findings)
    assert fix.rule_ids == ("KP002", "KP005")
    fixed = apply_edits(objs[0], fix.edits)
    assert web([fixed])["lifecycle"] == {"preStop": {"sleep": {"seconds": 10}}}
    # 10s preStop + 5s drain + 5s margin: the grace period covers the new sleep
    assert fixed["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] == 20
    assert audit([fixed, *objs[1:]]) == []


def test_prestop_fix_raises_grace_even_under_select_but_not_when_ignored() -> None:
    objs = good()
    blue(objs)["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] = 10
    del web(objs)["lifecycle"]
    select = DoctorConfig(select=frozenset({"KP002"}))
    (fix,) = plan_fixes(objs, audit(objs, config=select), config=select)
    assert fix.rule_ids == ("KP002", "KP005")
    ignore = DoctorConfig(ignore=frozenset({"KP005"}))
    (fix,) = plan_fixes(objs, audit(objs, config=ignore), config=ignore)
    assert fix.rule_ids == ("KP002",)


def test_without_native_sleep_fixes_use_exec_and_kp004_is_off() -> None:
    config = DoctorConfig(native_sleep=False)
    objs = good()
    web(objs)["lifecycle"]["preStop"] = {"exec": {"command": ["sleep", "2"]}}
    findings = audit(objs, config=config)
    assert ids(findings) == ["KP003"]
    (fix,) = plan_fixes(objs, findings, config=config)
    assert fix.edits == (
        Edit(path=C0 + "/lifecycle/preStop", value={"exec": {"command": ["sleep", "10"]}}),
    )


def test_exec_sleep_short_and_binary_fixed_together() -> None:
    objs = good()
    web(objs)["lifecycle"]["preStop"] = {"exec": {"command": ["sleep", "2"]}}
    findings = audit(objs)
    assert ids(findings) == ["KP003", "KP004"]
    (fix,) = plan_fixes(objs, findings)
    assert audit([apply_edits(objs[0], fix.edits), *objs[1:]]) == []


# ----------------------------------------------------------------- rolling update


@pytest.mark.parametrize(
    ("replicas", "rolling", "expected"),
    [
        (1, {}, None),  # 25% of 1 rounds down to 0
        (3, {}, None),
        (4, {}, Severity.INFO),  # 1 of 4
        (2, {"maxUnavailable": 1}, Severity.WARNING),
        (1, {"maxUnavailable": 1}, Severity.WARNING),
        (10, {"maxUnavailable": "50%"}, Severity.INFO),
        (5, {"maxUnavailable": 5, "maxSurge": 0}, Severity.WARNING),  # all at once
        (2, {"maxUnavailable": "0%", "maxSurge": "0%"}, Severity.WARNING),  # controller uses 1
        (3, {"maxUnavailable": 0, "maxSurge": 1}, None),
    ],
)
def test_max_unavailable(replicas: int, rolling: Obj, expected: Severity | None) -> None:
    objs = good()
    blue(objs)["spec"]["replicas"] = replicas
    blue(objs)["spec"]["strategy"] = {"rollingUpdate": rolling} if rolling else {}
    found = [f for f in audit(objs) if f.rule_id == "KP006"]
    assert [f.severity for f in found] == ([] if expected is None else [expected])
    if found:
        (fix,) = plan_fixes(objs, found)
        fixed = apply_edits(objs[0], fix.edits)
        assert fixed["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
        assert "KP006" not in ids(audit([fixed]))


def test_max_surge_zero_is_raised_with_max_unavailable() -> None:
    objs = good()
    blue(objs)["spec"]["strategy"] = {"rollingUpdate": {"maxUnavailable": 1, "maxSurge": "0%"}}
    (fix,) = plan_fixes(objs, audit(objs))
    assert Edit(path="/spec/strategy/rollingUpdate/maxSurge", value=1) in fix.edits


def test_explicit_max_surge_is_kept() -> None:
    objs = good()
    blue(objs)["spec"]["strategy"] = {"rollingUpdate": {"maxUnavailable": 1, "maxSurge": 2}}
    (fix,) = plan_fixes(objs, audit(objs))
    assert fix.edits == (Edit(path="/spec/strategy/rollingUpdate/maxUnavailable", value=0),)


# -------------------------------------------------------------------- PDB and HPA


@pytest.mark.parametrize(
    ("pdb_spec", "replicas", "blocks"),
    [
        ({"maxUnavailable": 0}, 3, True),
        ({"maxUnavailable": "0%"}, 3, True),
        ({"minAvailable": "100%"}, 3, True),
        ({"minAvailable": 3}, 3, True),
        ({"minAvailable": 1}, 1, True),
        ({"minAvailable": "50%"}, 1, True),  # rounds up to the one pod
        ({"minAvailable": "50%"}, 3, False),
        ({"minAvailable": 1}, 3, False),
        ({"maxUnavailable": "10%"}, 3, False),  # rounds up to 1
    ],
)
def test_pdb_blocking_all_evictions(pdb_spec: Obj, replicas: int, blocks: bool) -> None:
    objs = good()
    blue(objs)["spec"]["replicas"] = replicas
    objs[3]["spec"] = {**pdb_spec, "selector": objs[3]["spec"]["selector"]}
    found = [f for f in audit(objs) if f.rule_id == "KP008"]
    assert bool(found) is blocks
    if found:
        assert found[0].index == 3
        assert found[0].path in ("/spec/maxUnavailable", "/spec/minAvailable")


def test_missing_pdb_only_checked_when_pdbs_are_known() -> None:
    objs = [o for o in good() if o["kind"] != "PodDisruptionBudget"]
    assert "KP007" not in ids(audit(objs))
    assert "KP007" in ids(audit(objs, config=DoctorConfig(expect_pdb=True)))
    assert "KP007" not in ids(
        audit(good(), config=DoctorConfig(expect_pdb=False, select=frozenset({"KP007"})))
    )


def test_pdb_match_expressions_and_namespaces() -> None:
    objs = good()
    objs[3]["spec"]["selector"] = {
        "matchExpressions": [
            {"key": "app.kubernetes.io/name", "operator": "In", "values": ["shop"]}
        ]
    }
    assert "KP007" not in ids(audit(objs))
    # a PDB of this namespace that selects other pods leaves the Deployment uncovered
    other = copy.deepcopy(objs[3])
    other["metadata"]["name"] = "other"
    other["spec"]["selector"] = {"matchLabels": {"app.kubernetes.io/name": "other"}}
    objs[3]["metadata"]["namespace"] = "elsewhere"
    assert "KP007" in ids(audit([*objs, other]))


def test_pdbs_of_another_namespace_do_not_switch_kp007_on() -> None:
    # issue 9, item 13: a PDB anywhere in the run used to make every Deployment need one
    objs = good()
    objs[3]["metadata"]["namespace"] = "elsewhere"
    assert "KP007" not in ids(audit(objs))
    assert "KP007" in ids(audit(objs, config=DoctorConfig(expect_pdb=True)))


def test_hpa_min_replicas_makes_an_app_multi_replica() -> None:
    objs = good()
    blue(objs)["spec"]["replicas"] = 1
    _no_pdb(objs)
    assert "KP007" not in ids(audit(objs))
    objs[4]["spec"]["scaleTargetRef"] = {"kind": "Deployment", "name": "shop-blue"}
    found = ids(audit(objs))
    assert "KP007" in found
    assert "KP015" in found


# ----------------------------------------------------------------------- Services


def test_service_matching_pods_of_another_app_is_an_error() -> None:
    objs = good()
    _other_app(objs)
    (f,) = audit(objs)
    assert f.severity is Severity.ERROR
    assert "cart, shop" in f.message


def test_service_matching_bare_pods_of_another_app() -> None:
    objs = good()
    objs[2]["spec"]["selector"] = {"color": "blue"}
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "debug",
            "namespace": "shop",
            "labels": {"app": "debug", "color": "blue"},
        },
    }
    assert ids(audit([*objs, pod])) == ["KP012"]
    pod["metadata"]["namespace"] = "other"
    assert audit([*objs, pod]) == []


def test_track_label_is_configurable() -> None:
    objs = good()
    _mixed_tracks(objs)
    assert ids(audit(objs)) == ["KP013"]
    for d in objs[:2]:
        labels = d["spec"]["template"]["metadata"]["labels"]
        labels["track"] = labels.pop("color")
    assert ids(audit(objs, config=DoctorConfig(track_label="track"))) == ["KP013"]
    objs[2]["spec"]["selector"]["track"] = "blue"
    assert audit(objs, config=DoctorConfig(track_label="track")) == []


# ------------------------------------------------------------------ shell wrappers


@pytest.mark.parametrize(
    ("command", "args", "path", "rewritten"),
    [
        (["sh", "-c"], ["python app.py\n"], "/args/0", "exec python app.py\n"),
        (
            ["sh", "-c", "  python app.py --port $PORT"],
            None,
            "/command/2",
            "  exec python app.py --port $PORT",
        ),
        (
            ["/bin/bash", "-ec"],
            ["# start\n./server > /tmp/log\n"],
            "/args/0",
            "# start\nexec ./server > /tmp/log\n",
        ),
        (["tini", "--", "bash", "-c", "python app.py"], None, "/command/4", "exec python app.py"),
        (["sh", "-c"], ["cd /app && python app.py"], "/args/0", None),
        (["sh", "-c"], ["PORT=8080 python app.py"], "/args/0", None),
        (["sh", "-c"], ["python a.py | tee log"], "/args/0", None),
    ],
)
def test_shell_wrapper_rewrite(
    command: list[str], args: list[str] | None, path: str, rewritten: str | None
) -> None:
    objs = good()
    web(objs)["command"] = command
    if args is None:
        web(objs).pop("args")
    else:
        web(objs)["args"] = args
    (f,) = audit(objs)
    assert (f.rule_id, f.path, f.fixable) == ("KP014", C0 + path, rewritten is not None)
    fixes = plan_fixes(objs, [f])
    if rewritten is None:
        assert fixes == []
    else:
        (fix,) = fixes
        assert fix.edits == (Edit(path=C0 + path, value=rewritten),)
        assert audit([apply_edits(objs[0], fix.edits), *objs[1:]]) == []


def test_tini_with_process_group_forwards_signals() -> None:
    objs = good()
    web(objs)["command"] = ["tini", "-g", "--", "sh", "-c"]
    web(objs)["args"] = ["python app.py"]
    assert audit(objs) == []


# -------------------------------------------------------------- config, selection


def test_select_and_ignore_accept_ids_slugs_and_commas() -> None:
    assert resolve_rules(["KP001,no-prestop-hook", " kp003 "]) == {"KP001", "KP002", "KP003"}
    objs = load("seed.yaml")
    only = audit(objs, config=DoctorConfig(select=frozenset({"shell-without-exec"})))
    assert ids(only) == ["KP014", "KP014"]
    rest = audit(objs, config=DoctorConfig(ignore=frozenset({"KP014,KP001"})))
    assert set(ids(rest)) == {"KP004", "KP013"}


def test_unknown_rule_is_a_usage_error() -> None:
    with pytest.raises(InvalidSpecError, match="unknown doctor rule 'KP999'"):
        DoctorConfig(select=frozenset({"KP999"}))


def test_negative_allowances_are_rejected() -> None:
    with pytest.raises(InvalidSpecError):
        DoctorConfig(propagation_seconds=-1)


@pytest.mark.parametrize("where", ["metadata", "template"])
def test_suppression_annotation(where: str) -> None:
    objs = load("seed.yaml")
    d = objs[0]
    meta = d["metadata"] if where == "metadata" else d["spec"]["template"]["metadata"]
    meta.setdefault("annotations", {})[IGNORE_ANNOTATION] = "KP001, shell-without-exec"
    assert [f.rule_id for f in audit(objs) if f.index == 0] == ["KP004"]
    meta["annotations"][IGNORE_ANNOTATION] = "all"
    assert [f for f in audit(objs) if f.index == 0] == []
    # the other track is not affected
    assert [f.rule_id for f in audit(objs) if f.index == 1] == ["KP001", "KP004", "KP014"]


def test_severity_order_and_parse() -> None:
    assert Severity.ERROR.at_least(Severity.WARNING)
    assert Severity.WARNING.at_least(Severity.WARNING)
    assert not Severity.INFO.at_least(Severity.WARNING)
    assert Severity.parse("Warning") is Severity.WARNING
    with pytest.raises(InvalidSpecError):
        Severity.parse("fatal")


def test_unset_namespace_uses_the_default() -> None:
    (f, *_rest) = audit(load("seed.yaml"))
    assert str(f.object_ref) == "Deployment default/py-hello-blue"
    (g, *_rest) = audit(load("seed.yaml"), config=DoctorConfig(default_namespace="prod"))
    assert g.object_ref.namespace == "prod"


def test_garbage_does_not_crash() -> None:
    weird: list[Obj] = [
        {"kind": "Deployment"},
        {"kind": "Deployment", "spec": {"template": {"spec": {"containers": None}}}},
        {
            "kind": "Deployment",
            "spec": {"replicas": "three", "template": {"spec": {"containers": ["x"]}}},
        },
        {"kind": "Service", "spec": {"selector": None}},
        {"kind": "PodDisruptionBudget", "spec": {"minAvailable": "lots"}},
        {"kind": "HorizontalPodAutoscaler", "spec": {}},
        {"kind": "ConfigMap", "data": {"a": "b"}},
    ]
    assert {f.rule_id for f in audit(weird)} <= {"KP005", "KP007", "KP008"}


# ---------------------------------------------------------- edits and JSON patch


def _json_patch(doc: Obj, ops: list[Obj]) -> Obj:
    """A minimal RFC 6902 applier (add, replace, test) to check to_json_patch."""
    doc = copy.deepcopy(doc)
    for op in ops:
        segs = split_pointer(op["path"])
        parent: Any = doc
        for seg in segs[:-1]:
            parent = parent[int(seg)] if isinstance(parent, list) else parent[seg]
        key: Any = int(segs[-1]) if isinstance(parent, list) else segs[-1]
        if op["op"] == "test":
            assert parent[key] == op["value"]
        elif op["op"] == "replace":
            assert key in parent if isinstance(parent, dict) else key < len(parent)
            parent[key] = op["value"]
        else:
            assert op["op"] == "add"
            assert isinstance(parent, dict)
            parent[key] = op["value"]
    return doc


def test_json_patch_matches_apply_edits() -> None:
    objs = good()
    del web(objs)["lifecycle"]
    _sh_c(objs)
    _max_unavailable(objs)
    blue(objs)["spec"].pop("strategy")
    blue(objs)["spec"]["replicas"] = 1
    blue(objs)["spec"]["strategy"] = {"rollingUpdate": {"maxUnavailable": 1}}
    (fix,) = plan_fixes(objs, audit(objs))
    patch = to_json_patch(objs[0], fix.edits)
    assert patch[0] == {"op": "test", "path": C0 + "/name", "value": "web"}
    assert {
        "op": "add",
        "path": C0 + "/lifecycle",
        "value": {"preStop": {"sleep": {"seconds": 10}}},
    } in patch
    assert _json_patch(objs[0], patch) == apply_edits(objs[0], fix.edits)


def test_pointer_round_trip() -> None:
    path = pointer("metadata", "annotations", "kprism.dev/x~y", 0)
    assert path == "/metadata/annotations/kprism.dev~1x~0y/0"
    assert split_pointer(path) == ["metadata", "annotations", "kprism.dev/x~y", "0"]
    assert get_path({"a": [{"b": 1}]}, "/a/0/b") == (True, 1)
    assert get_path({"a": []}, "/a/0") == (False, None)


# -------------------------------------------------------------------------- docs


def test_docs_table_lists_every_rule() -> None:
    text = DOCS.read_text()
    for rule in RULES:
        row = re.search(
            rf"^\| {rule.id} \| `{rule.slug}` \| (\w+) \|.*\| (yes|no)[^|]* \|$", text, re.M
        )
        assert row, f"docs/doctor.md has no table row for {rule.id}"
        assert row.group(1) == rule.severity.value
        assert row.group(2) == ("yes" if rule.fixable else "no")


# ---------------------------------------------------------------------- registry


def test_each_rule_keeps_its_check_and_fix_in_one_rules_module() -> None:
    assert [d.rule for d in DEFINITIONS] == list(RULES)
    for d in DEFINITIONS:
        module = d.check.__module__
        assert module.startswith("kprism.plan.doctor.rules."), d.rule.id
        assert d.rule.fixable == (d.fix is not None)
        if d.fix is not None:
            assert d.fix.__module__ == module, d.rule.id


def test_a_rule_def_must_say_whether_it_fixes() -> None:
    rule = RULES_BY_ID["KP013"]
    with pytest.raises(ValueError, match="fixable"):
        RuleDef(rule=rule, check=DEFINITIONS[0].check, fix=lambda obj, f, config: [])


# ------------------------------------------------------- real manifests (issue 9, item 15)


def _loadgenerator(ports: bool = False) -> Obj:
    """A client that serves nothing (Online Boutique's loadgenerator): no ports, no Service."""
    container: Obj = {
        "name": "main",
        "image": "registry.example/loadgenerator:1.0",
        "resources": {"limits": {"memory": "512Mi"}},
    }
    if ports:
        container["ports"] = [{"containerPort": 8089}]
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "loadgenerator", "namespace": "shop"},
        "spec": {
            "replicas": 1,
            "template": {
                "metadata": {"labels": {"app": "loadgenerator"}},
                "spec": {"terminationGracePeriodSeconds": 5, "containers": [container]},
            },
        },
    }


def test_a_workload_that_serves_nothing_needs_no_readiness_prestop_or_grace() -> None:
    objs = [*good(), _loadgenerator()]
    assert audit(objs) == []
    # with a port it may serve: the rules apply
    objs[-1] = _loadgenerator(ports=True)
    assert ids(audit(objs)) == ["KP001", "KP002", "KP005"]
    # ... and so they do when a Service selects it
    objs[-1] = _loadgenerator()
    service = copy.deepcopy(objs[2])
    service["metadata"]["name"] = "loadgenerator"
    service["spec"]["selector"] = {"app": "loadgenerator"}
    assert ids(audit([*objs, service])) == ["KP001", "KP002", "KP005"]


def test_without_any_service_a_workload_without_ports_may_still_serve() -> None:
    # a lone Deployment file says nothing about the Services that select it
    assert ids(audit([_loadgenerator()])) == ["KP001", "KP002", "KP005"]


def test_the_idle_track_serves_although_the_service_selects_the_live_one() -> None:
    objs = good()
    green = objs[1]["spec"]["template"]["spec"]["containers"][0]
    green.pop("ports", None)
    green.pop("readinessProbe", None)
    assert "KP001" in ids(audit(objs))


@pytest.mark.parametrize(
    ("command", "args", "path"),
    [
        (None, ["sh", "-c", "python app.py"], "/args/2"),
        (None, ["/bin/bash", "-ec", "python app.py"], "/args/2"),
    ],
)
def test_a_shell_in_args_without_command_is_caught(
    command: list[str] | None, args: list[str], path: str
) -> None:
    objs = good()
    web(objs).pop("command")
    web(objs)["args"] = args
    (f,) = audit(objs)
    assert (f.rule_id, f.path, f.fixable) == ("KP014", C0 + path, True)
    assert "entrypoint" in f.message
    (fix,) = plan_fixes(objs, [f])
    assert fix.edits == (Edit(path=C0 + path, value="exec python app.py"),)


@pytest.mark.parametrize(
    "change",
    [
        {"initialDelaySeconds": 300},  # Sock Shop's front-end: only the delay differs
        {"httpGet": {"path": "/ready", "port": 8080, "httpHeaders": [{"name": "X", "value": "l"}]}},
    ],
)
def test_probes_that_differ_only_in_delay_or_headers_are_the_same_check(change: Obj) -> None:
    objs = good()
    web(objs)["readinessProbe"]["initialDelaySeconds"] = 10
    web(objs)["readinessProbe"]["httpGet"]["httpHeaders"] = [{"name": "X", "value": "r"}]
    web(objs)["livenessProbe"] = {
        **copy.deepcopy(web(objs)["readinessProbe"]),
        **copy.deepcopy(change),
    }
    assert ids(audit(objs)) == ["KP009"]


def _anti_affinity(o: list[Obj], key: str = "kubernetes.io/hostname") -> None:
    blue(o)["spec"]["template"]["spec"]["affinity"] = {
        "podAntiAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [
                {
                    "labelSelector": {"matchLabels": {"app.kubernetes.io/name": "shop"}},
                    "topologyKey": key,
                }
            ]
        }
    }


def test_max_unavailable_fix_is_not_offered_under_required_anti_affinity_on_hostname() -> None:
    objs = good()
    _max_unavailable(objs)
    _anti_affinity(objs)
    (f,) = audit(objs)
    assert f.rule_id == "KP006"
    assert not f.fixable
    assert "anti-affinity" in f.message
    assert "preferred" in f.fix
    assert plan_fixes(objs, [replace(f, fixable=True)]) == []
    # a zone spreads pods over several nodes: the surge pod fits, the fix is safe
    _anti_affinity(objs, key="topology.kubernetes.io/zone")
    (f,) = audit(objs)
    assert f.fixable


@pytest.mark.parametrize(
    ("image", "policy", "flagged"),
    [
        ("registry.example/shop:main", None, True),  # default IfNotPresent: nodes diverge
        ("registry.example/shop:master", "Always", True),
        ("registry.example/shop:latest", None, True),
        ("registry.example/shop", None, True),
        ("registry.example:5000/shop:develop", None, True),
        ("registry.example/shop:main", "IfNotPresent", False),  # chosen for a local image
        ("registry.example/shop:1.4.2", None, False),
        ("registry.example/shop:main@sha256:" + "0" * 64, None, False),
    ],
)
def test_moving_image_tags(image: str, policy: str | None, flagged: bool) -> None:
    objs = good()
    web(objs)["image"] = image
    web(objs).pop("imagePullPolicy")
    if policy:
        web(objs)["imagePullPolicy"] = policy
    assert ids(audit(objs)) == (["KP010"] if flagged else [])


# ------------------------------------------------------------- KP017, other Services


def test_a_service_over_the_pods_by_another_selector_is_a_warning() -> None:
    objs = good()
    other = copy.deepcopy(objs[2])
    other["metadata"]["name"] = "web-tier"
    other["spec"]["selector"] = {"tier": "web"}
    for d in objs[:2]:
        d["spec"]["template"]["metadata"]["labels"]["tier"] = "web"
    objs.append(other)
    (f,) = [f for f in audit(objs) if f.rule_id == "KP017"]
    assert f.severity is Severity.WARNING and f.index == 5
    assert f.message.startswith(
        "selects the pods of Deployments shop-blue, shop-green (Service shop) but not by "
        "shop's selector app.kubernetes.io/name=shop: kprism cannot move it with shop"
    )


def test_online_boutique_frontend_external_is_named_once() -> None:
    objs = load("online-boutique.yaml")
    found = [f for f in audit(objs) if f.rule_id == "KP017"]
    assert [(f.object_ref.name, f.severity) for f in found] == [
        ("frontend-external", Severity.INFO)
    ]
    assert "like Service frontend: a kprism release of frontend moves it too" in found[0].message
