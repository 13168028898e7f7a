"""Pure route rewrites (kprism.plan.routes): HTTPRoute backendRefs and nginx canary Ingress."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kprism.errors import InvalidSpecError, UsageError
from kprism.plan.routes import (
    ANNOTATION_ORIGINAL_REFS,
    LEGACY_INGRESS_CLASS,
    NGINX_CANARY,
    NGINX_COOKIE,
    NGINX_HEADER,
    NGINX_HEADER_VALUE,
    NGINX_WEIGHT,
    canary_annotations,
    canary_backends,
    canary_ingress_spec,
    dump_saved,
    gateway_weights,
    ingress_routes_to,
    is_service_ref,
    load_saved,
    nginx_split,
    percentages,
    restore_rules,
    rewrite_rules,
    routed_rules,
    save_backend_refs,
    unknown_options,
    validate_weights,
)

NS = "shop"


def ref(name: str, **extra: Any) -> dict[str, Any]:
    return {"group": "", "kind": "Service", "name": name, "port": 8888, "weight": 1, **extra}


def rules_fixture() -> list[dict[str, Any]]:
    return [
        {
            "matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
            "backendRefs": [ref("hello")],
        },
        {
            "matches": [{"path": {"type": "PathPrefix", "value": "/static"}}],
            "backendRefs": [ref("cdn")],
        },
        {
            "matches": [{"path": {"type": "PathPrefix", "value": "/api"}}],
            "backendRefs": [ref("hello", weight=3), ref("legacy", weight=1)],
        },
        {"matches": [{"path": {"type": "PathPrefix", "value": "/none"}}]},
    ]


def rewrite(rules: list[dict[str, Any]], weights: dict[str, int]) -> list[dict[str, Any]]:
    saved = save_backend_refs(rules, service="hello", namespace=NS)
    return rewrite_rules(rules, saved, service="hello", namespace=NS, weights=weights, route="web")


# -- weights ----------------------------------------------------------------------------------


def test_validate_weights_accepts_a_split_that_sums_to_100() -> None:
    assert validate_weights({"blue": 90, "green": 10}, service="hello") == {"blue": 90, "green": 10}
    assert validate_weights({"a": 0, "b": 100, "c": 0}, service="hello") == {
        "a": 0,
        "b": 100,
        "c": 0,
    }


@pytest.mark.parametrize(
    ("weights", "needle"),
    [
        ({}, "at least one track"),
        ({"blue": 90, "green": 20}, "sum to 110"),
        ({"blue": 101, "green": -1}, "0..100"),
        ({"blue": 50.0, "green": 50}, "integer"),
        ({"blue": True, "green": 99}, "integer"),
        ({"Blue": 100}, "DNS label"),
        ({"x" * 60: 100}, "63 characters"),
    ],
)
def test_validate_weights_rejects_with_one_line(weights: dict[str, Any], needle: str) -> None:
    with pytest.raises(InvalidSpecError) as info:
        validate_weights(weights, service="hello")
    assert needle in str(info.value)
    assert "\n" not in str(info.value)


def test_percentages_of_relative_weights() -> None:
    assert percentages({"blue": 9, "green": 1}) == {"blue": 90, "green": 10}
    assert percentages({"blue": 0, "green": 0}) == {"blue": 0, "green": 0}


# -- HTTPRoute backendRefs ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("r", "expected"),
    [
        ({"name": "hello"}, True),
        (ref("hello"), True),
        (ref("hello", namespace=NS), True),
        (ref("hello", namespace="other"), False),
        (ref("hello", kind="ServiceImport", group="multicluster.x-k8s.io"), False),
        (ref("hellO"), False),
    ],
)
def test_is_service_ref(r: dict[str, Any], expected: bool) -> None:
    assert is_service_ref(r, service="hello", namespace=NS) is expected


def test_routed_rules_finds_every_rule_that_references_the_service() -> None:
    assert routed_rules(rules_fixture(), service="hello", namespace=NS) == [0, 2]
    assert routed_rules(rules_fixture(), service="nope", namespace=NS) == []


def test_rewrite_splits_a_lone_ref_by_percent_and_keeps_the_rest() -> None:
    rules = rules_fixture()
    before = copy.deepcopy(rules)
    out = rewrite(rules, {"blue": 90, "green": 10})
    assert rules == before  # pure: input untouched
    assert out[0]["backendRefs"] == [ref("hello-blue", weight=90), ref("hello-green", weight=10)]
    assert out[0]["matches"] == rules[0]["matches"]
    assert out[1] == rules[1]
    assert out[3] == rules[3]


def test_rewrite_keeps_ratios_exact_in_a_rule_shared_with_another_backend() -> None:
    out = rewrite(rules_fixture(), {"blue": 90, "green": 10})
    refs = {r["name"]: r["weight"] for r in out[2]["backendRefs"]}
    # hello had 3 of 4 parts: blue 3*90, green 3*10, legacy 1*100 → 270:30:100
    assert refs == {"hello-blue": 270, "hello-green": 30, "legacy": 100}


def test_rewrite_puts_a_weight_on_every_ref_zero_included_and_keeps_port_and_filters() -> None:
    rules = [
        {
            "backendRefs": [
                {
                    "name": "hello",
                    "port": 80,
                    "filters": [{"type": "RequestHeaderModifier"}],
                }
            ]
        }
    ]
    out = rewrite(rules, {"blue": 100, "green": 0})
    assert out[0]["backendRefs"] == [
        {
            "name": "hello-blue",
            "port": 80,
            "weight": 100,
            "filters": [{"type": "RequestHeaderModifier"}],
        },
        {
            "name": "hello-green",
            "port": 80,
            "weight": 0,
            "filters": [{"type": "RequestHeaderModifier"}],
        },
    ]


def test_rewrite_rainbow_three_tracks_sorted_by_name() -> None:
    out = rewrite(rules_fixture(), {"red": 20, "blue": 50, "green": 30})
    assert [(r["name"], r["weight"]) for r in out[0]["backendRefs"]] == [
        ("hello-blue", 50),
        ("hello-green", 30),
        ("hello-red", 20),
    ]


def test_rewrite_is_idempotent_from_the_saved_refs() -> None:
    rules = rules_fixture()
    saved = save_backend_refs(rules, service="hello", namespace=NS)
    once = rewrite_rules(
        rules, saved, service="hello", namespace=NS, weights={"blue": 50, "green": 50}, route="web"
    )
    twice = rewrite_rules(
        once, saved, service="hello", namespace=NS, weights={"blue": 50, "green": 50}, route="web"
    )
    assert once == twice


def test_rewrite_refuses_weights_past_the_gateway_maximum() -> None:
    rules = [{"backendRefs": [ref("hello", weight=20_000), ref("other", weight=1)]}]
    with pytest.raises(UsageError, match="exceed 1000000"):
        rewrite(rules, {"blue": 60, "green": 40})


def test_restore_puts_back_exactly_what_was_saved() -> None:
    rules = rules_fixture()
    saved = save_backend_refs(rules, service="hello", namespace=NS)
    changed = rewrite(rules, {"blue": 10, "green": 90})
    assert changed != rules
    assert restore_rules(changed, saved, route="web") == rules


def test_restore_leaves_rules_kprism_never_touched_as_they_are_now() -> None:
    rules = rules_fixture()
    saved = save_backend_refs(rules, service="hello", namespace=NS)
    changed = rewrite(rules, {"blue": 10, "green": 90})
    changed[1]["backendRefs"] = [ref("cdn2")]  # a user edit during the release
    restored = restore_rules(changed, saved, route="web")
    assert restored[1]["backendRefs"] == [ref("cdn2")]
    assert restored[0] == rules[0]
    assert restored[2] == rules[2]


def test_restore_refuses_when_the_rule_count_changed() -> None:
    rules = rules_fixture()
    saved = save_backend_refs(rules, service="hello", namespace=NS)
    with pytest.raises(UsageError, match="has 3 rules but had 4"):
        restore_rules(rules[:3], saved, route="web")


def test_saved_refs_round_trip_through_the_annotation() -> None:
    saved = save_backend_refs(rules_fixture(), service="hello", namespace=NS)
    assert saved[1] is None
    assert saved[3] is None
    assert load_saved(dump_saved(saved), route="web") == saved


@pytest.mark.parametrize("raw", ["", "[]", '{"rules": 3}', "null", '"x"'])
def test_load_saved_rejects_foreign_annotation(raw: str) -> None:
    with pytest.raises(UsageError, match=ANNOTATION_ORIGINAL_REFS):
        load_saved(raw, route="web")


def test_gateway_weights_reads_back_what_rewrite_wrote() -> None:
    rules = rules_fixture()
    saved = save_backend_refs(rules, service="hello", namespace=NS)
    for weights in (
        {"blue": 90, "green": 10},
        {"blue": 0, "green": 100},
        {"a": 33, "b": 33, "c": 34},
    ):
        out = rewrite_rules(
            rules, saved, service="hello", namespace=NS, weights=weights, route="web"
        )
        assert gateway_weights(out, saved, service="hello", namespace=NS) == weights


def test_gateway_weights_is_empty_when_rules_disagree_or_lost_their_refs() -> None:
    rules = rules_fixture()
    saved = save_backend_refs(rules, service="hello", namespace=NS)
    out = rewrite(rules, {"blue": 90, "green": 10})
    edited = copy.deepcopy(out)
    edited[0]["backendRefs"][0]["weight"] = 50
    assert gateway_weights(edited, saved, service="hello", namespace=NS) == {}
    reverted = copy.deepcopy(out)
    reverted[2]["backendRefs"] = saved[2]
    assert gateway_weights(reverted, saved, service="hello", namespace=NS) == {}
    assert gateway_weights(out[:3], saved, service="hello", namespace=NS) == {}


@given(
    w=st.integers(0, 100),
    base=st.integers(1, 5000),
    other=st.integers(0, 5000),
)
def test_gateway_split_is_exact_for_every_weight(w: int, base: int, other: int) -> None:
    rules = [{"backendRefs": [ref("hello", weight=base), ref("other", weight=other)]}]
    weights = {"blue": 100 - w, "green": w}
    saved = save_backend_refs(rules, service="hello", namespace=NS)
    out = rewrite_rules(rules, saved, service="hello", namespace=NS, weights=weights, route="web")
    got = {r["name"]: r["weight"] for r in out[0]["backendRefs"]}
    # the other backend keeps its share of the rule; hello's share splits exactly by w
    assert got["other"] * base == other * (got["hello-blue"] + got["hello-green"])
    assert got["hello-green"] * 100 == w * (got["hello-blue"] + got["hello-green"])
    assert gateway_weights(out, saved, service="hello", namespace=NS) == weights
    assert restore_rules(out, saved, route="web") == rules


def test_dump_saved_is_json() -> None:
    data = json.loads(dump_saved([None, [ref("hello")]]))
    assert data == {"version": 1, "rules": [None, [ref("hello")]]}


# -- ingress-nginx ----------------------------------------------------------------------------


def backend(name: str, port: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"service": {"name": name, "port": port or {"number": 8888}}}


def ingress_spec() -> dict[str, Any]:
    return {
        "ingressClassName": "nginx",
        "tls": [{"hosts": ["shop.example"], "secretName": "tls"}],
        "rules": [
            {
                "host": "shop.example",
                "http": {
                    "paths": [
                        {"path": "/", "pathType": "Prefix", "backend": backend("hello")},
                        {"path": "/static", "pathType": "Prefix", "backend": backend("cdn")},
                    ]
                },
            },
            {
                "host": "admin.example",
                "http": {
                    "paths": [{"path": "/", "pathType": "Prefix", "backend": backend("admin")}]
                },
            },
            {
                "http": {
                    "paths": [
                        {
                            "path": "/hello",
                            "pathType": "Exact",
                            "backend": backend("hello", {"name": "web"}),
                        }
                    ]
                }
            },
        ],
    }


def test_canary_spec_keeps_class_and_only_the_paths_to_the_service() -> None:
    spec = ingress_spec()
    before = copy.deepcopy(spec)
    out = canary_ingress_spec(spec, service="hello", target="hello-green")
    assert spec == before
    assert out == {
        "ingressClassName": "nginx",
        "rules": [
            {
                "host": "shop.example",
                "http": {
                    "paths": [
                        {"path": "/", "pathType": "Prefix", "backend": backend("hello-green")}
                    ]
                },
            },
            {
                "http": {
                    "paths": [
                        {
                            "path": "/hello",
                            "pathType": "Exact",
                            "backend": backend("hello-green", {"name": "web"}),
                        }
                    ]
                }
            },
        ],
    }
    assert canary_backends(out) == {"hello-green"}


def test_canary_spec_retargets_a_default_backend() -> None:
    out = canary_ingress_spec(
        {"defaultBackend": backend("hello")}, service="hello", target="hello-green"
    )
    assert out == {"defaultBackend": backend("hello-green")}


def test_ingress_that_does_not_route_to_the_service() -> None:
    assert not ingress_routes_to(
        {"rules": [{"http": {"paths": [{"backend": backend("x")}]}}]}, "hello"
    )
    assert not ingress_routes_to({}, "hello")
    assert ingress_routes_to(ingress_spec(), "hello")
    assert (
        canary_ingress_spec(
            {"defaultBackend": {"resource": {"kind": "Bucket"}}}, service="hello", target="t"
        )
        is None
    )


def test_canary_annotations_weight_header_cookie_and_legacy_class() -> None:
    assert canary_annotations(weight=10, options={"ingress": "web"}, user_annotations={}) == {
        NGINX_CANARY: "true",
        NGINX_WEIGHT: "10",
    }
    got = canary_annotations(
        weight=0,
        options={"ingress": "web", "header": "X-Canary", "header-value": "yes", "cookie": "canary"},
        user_annotations={LEGACY_INGRESS_CLASS: "nginx-internal", "other": "x"},
    )
    assert got == {
        NGINX_CANARY: "true",
        NGINX_WEIGHT: "0",
        NGINX_HEADER: "X-Canary",
        NGINX_HEADER_VALUE: "yes",
        NGINX_COOKIE: "canary",
        LEGACY_INGRESS_CLASS: "nginx-internal",
    }


def test_nginx_split_stable_is_the_serving_track() -> None:
    assert nginx_split({"blue": 90, "green": 10}, serving="blue", service="hello") == (
        "blue",
        "green",
        10,
    )
    assert nginx_split({"green": 100, "blue": 0}, serving="blue", service="hello") == (
        "blue",
        "green",
        100,
    )
    assert nginx_split({"blue": 100}, serving="blue", service="hello") == ("blue", None, 0)


@pytest.mark.parametrize(
    ("weights", "serving", "needle"),
    [
        ({"blue": 50, "green": 30, "red": 20}, "blue", "one canary backend"),
        ({"blue": 90, "green": 10}, None, "selects every track"),
        ({"red": 90, "green": 10}, "blue", "track blue, which has no weight"),
    ],
)
def test_nginx_split_refuses(weights: dict[str, int], serving: str | None, needle: str) -> None:
    with pytest.raises(UsageError, match=needle):
        nginx_split(weights, serving=serving, service="hello")


def test_unknown_options() -> None:
    assert unknown_options({"ingress": "web"}, ["ingress", "header"], router="nginx") is None
    msg = unknown_options({"httproute": "web"}, ["ingress"], router="nginx")
    assert msg == "router nginx does not take option(s) httproute; it takes ingress"
