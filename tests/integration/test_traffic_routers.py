"""Exact-weight traffic routers against the real local cluster.

Each router is driven directly (as the engine does): pre-flight errors change nothing;
weights move 10 → 50 → 100 with the objects asserted at every step, both through the
router's own read-back and the raw fields; cleanup leaves the user's HTTPRoute/Ingress
as found and deletes what kprism created. No ingress-nginx controller or Gateway runs
here: the objects themselves are what we assert. The per-track Services are real, and
their EndpointSlices must list exactly their track's pods.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from lightkube import Client
from lightkube.core.exceptions import ApiError
from lightkube.resources.core_v1 import Pod, Service
from lightkube.resources.networking_v1 import Ingress
from lightkube.types import PatchType

from kprism.errors import InvalidSpecError, NotFoundError, UsageError
from kprism.kube.client import Kube, Target
from kprism.plan.routes import ANNOTATION_ORIGINAL_REFS, ANNOTATION_TRACK_SERVICE_OF
from kprism.traffic import (
    ROUTERS,
    GatewayRouter,
    RouteContext,
    context_for_service,
    gateway_api,
    router_for,
)
from tests.integration.helpers import (
    deployment,
    make_app,
    ready_endpoints,
    service,
    wait_for,
)
from tests.integration.traffic_helpers import (
    HTTPRoute,
    backend_ref,
    http_route,
    ingress,
    ingress_backend,
    install_gateway_crds,
)

pytestmark = pytest.mark.integration

GATEWAY = ROUTERS["gateway"]
NGINX = ROUTERS["nginx"]
STEPS = [{"blue": 90, "green": 10}, {"blue": 50, "green": 50}, {"blue": 0, "green": 100}]
NGINX_ = "nginx.ingress.kubernetes.io/"


@pytest.fixture(scope="session")
def gateway_crds(kube: Client) -> list[str]:
    return install_gateway_crds(kube)


@pytest.fixture
def kp(kubeconfig_path: str, namespace: str) -> Iterator[Kube]:
    k = Kube(Target(kubeconfig=kubeconfig_path, namespace=namespace))
    yield k
    k.close()


def add_track(kube: Client, ns: str, track: str, replicas: int = 2) -> set[str]:
    """A Deployment hello-<track>; returns its pod names once all are ready."""
    kube.create(
        deployment(f"hello-{track}", {"app": "hello", "color": track}, replicas=replicas),
        namespace=ns,
    )
    return wait_for(
        lambda: ready_pods(kube, ns, track),
        lambda pods: len(pods) == replicas,
        what=f"{replicas} ready {track} pods",
    )


def ready_pods(kube: Client, ns: str, track: str) -> set[str]:
    return {
        p.metadata.name
        for p in kube.list(Pod, namespace=ns, labels={"app": "hello", "color": track})
        if p.metadata.deletionTimestamp is None
        and any(c.type == "Ready" and c.status == "True" for c in (p.status.conditions or []))
    }


def ctx_for(
    kp: Kube, ns: str, options: dict[str, str], tracks: tuple[str, ...] = ()
) -> RouteContext:
    return context_for_service(
        kp.get_service("hello", ns), track_label="color", options=options, tracks=tracks
    )


def user_view(obj: Any) -> dict[str, Any]:
    """What the user wrote: spec, labels, annotations (not resourceVersion & co)."""
    d = obj.to_dict() if hasattr(obj, "to_dict") else dict(obj)
    meta = d["metadata"]
    return {
        "spec": d["spec"],
        "labels": meta.get("labels") or {},
        "annotations": meta.get("annotations") or {},
    }


def track_service_names(kube: Client, ns: str) -> set[str]:
    return {
        s.metadata.name
        for s in kube.list(Service, namespace=ns)
        if (s.metadata.annotations or {}).get(ANNOTATION_TRACK_SERVICE_OF) == "hello"
    }


def assert_track_service(kube: Client, ns: str, track: str, pods: set[str]) -> None:
    svc = kube.get(Service, f"hello-{track}", namespace=ns)
    assert svc.spec.selector == {"app": "hello", "color": track}
    assert [(p.name, p.port, p.targetPort) for p in svc.spec.ports] == [("web", 8888, 8888)]
    assert svc.metadata.labels == {"app.kubernetes.io/managed-by": "kprism"}
    wait_for(
        lambda: ready_endpoints(kube, ns, f"hello-{track}"),
        lambda eps: eps == pods,
        what=f"Service hello-{track} endpoints = the {track} pods",
    )


def refs(route: Any, rule: int) -> list[tuple[str, int, int]]:
    return [
        (r["name"], r["port"], r["weight"]) for r in route["spec"]["rules"][rule]["backendRefs"]
    ]


# -- registry and the default router ------------------------------------------------------


def test_router_registry_names_every_router() -> None:
    assert sorted(ROUTERS) == ["gateway", "nginx", "replicas"]
    assert router_for("gateway") is GATEWAY
    assert [ROUTERS[n].exact for n in ("replicas", "gateway", "nginx")] == [False, True, True]
    assert (GATEWAY.max_tracks, NGINX.max_tracks) == (None, 2)
    with pytest.raises(UsageError, match="unknown traffic router 'istio': pick one of gateway"):
        router_for("istio")


def test_replicas_router_writes_and_reads_nothing(kube: Client, namespace: str, kp: Kube) -> None:
    make_app(kube, namespace, replicas=1)
    router = router_for("replicas")
    ctx = ctx_for(kp, namespace, {})
    before = {
        s.metadata.name: s.metadata.resourceVersion for s in kube.list(Service, namespace=namespace)
    }
    router.check(kp, ctx)
    router.set_weights(kp, ctx, {"blue": 50, "green": 50})
    assert router.observed_weights(kp, ctx) is None
    router.remove_managed_routes(kp, ctx)
    after = {
        s.metadata.name: s.metadata.resourceVersion for s in kube.list(Service, namespace=namespace)
    }
    assert after == before == {s: before[s] for s in ("hello",)}
    with pytest.raises(UsageError, match="router replicas does not take option"):
        router.check(kp, ctx_for(kp, namespace, {"httproute": "web"}))


# -- Gateway API ----------------------------------------------------------------------------


def gw_set(kp: Kube, ctx: Any, weights: dict[str, int], timeout: float = 15) -> None:
    """What the engine does: set the weights until the route reads them back. The first
    call of a release only creates the track Services: a route never names a Service
    before its EndpointSlice exists."""
    deadline = time.monotonic() + timeout
    while True:
        GATEWAY.set_weights(kp, ctx, weights)
        if GATEWAY.observed_weights(kp, ctx) == weights:
            return
        assert time.monotonic() < deadline, "the route never took the weights"
        time.sleep(0.1)


def gw_remove(kp: Kube, ctx: Any, kube: Client, namespace: str) -> None:
    """Restore the route, then (as after the settle time) delete the track Services."""
    GATEWAY.remove_managed_routes(kp, ctx)
    route = kube.get(HTTPRoute, ctx.options["httproute"], namespace=namespace)
    mark = route["metadata"].get("annotations", {}).get(gateway_api.ANNOTATION_RESTORED)
    if mark is not None:
        past = json.dumps({**json.loads(mark), "at": 0})
        kube.patch(
            HTTPRoute,
            route["metadata"]["name"],
            namespace=namespace,
            obj={"metadata": {"annotations": {gateway_api.ANNOTATION_RESTORED: past}}},
            patch_type=PatchType.MERGE,
        )
    GATEWAY.remove_managed_routes(kp, ctx)


ROUTE_RULES = [
    {
        "matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
        "backendRefs": [backend_ref("hello")],
    },
    {
        "matches": [{"path": {"type": "PathPrefix", "value": "/api"}}],
        "backendRefs": [backend_ref("hello", weight=3), backend_ref("legacy", weight=1)],
    },
    {
        "matches": [{"path": {"type": "PathPrefix", "value": "/static"}}],
        "backendRefs": [backend_ref("cdn")],
    },
]


def test_gateway_check_refuses_and_changes_nothing(
    kube: Client, namespace: str, kp: Kube, gateway_crds: list[str]
) -> None:
    assert "httproutes.gateway.networking.k8s.io" in gateway_crds
    make_app(kube, namespace, replicas=1)
    ctx = ctx_for(kp, namespace, {"httproute": "web"}, tracks=("blue", "green"))

    # a CRD the cluster does not serve: an unknown group, and a version the real CRD lacks
    with pytest.raises(UsageError) as info:
        GatewayRouter(group="gateway.kprism-missing.example").check(kp, ctx)
    assert str(info.value).startswith(
        "Gateway API CRD httproutes.gateway.kprism-missing.example "
        "(gateway.kprism-missing.example/v1) is not installed in the cluster"
    )
    with pytest.raises(
        UsageError,
        match=r"httproutes.gateway.networking.k8s.io \(gateway.networking.k8s.io/v9\) is not installed",
    ):
        GatewayRouter(version="v9").check(kp, ctx)

    with pytest.raises(UsageError, match="router gateway needs option httproute=NAME"):
        GATEWAY.check(kp, ctx_for(kp, namespace, {}))
    with pytest.raises(UsageError, match=r"does not take option.*ingress"):
        GATEWAY.check(kp, ctx_for(kp, namespace, {"httproute": "web", "ingress": "web"}))
    with pytest.raises(NotFoundError, match="cannot get HTTPRoute web in namespace"):
        GATEWAY.check(kp, ctx)

    kube.create(http_route("web", [{"backendRefs": [backend_ref("other")]}]), namespace=namespace)
    before = user_view(kube.get(HTTPRoute, "web", namespace=namespace))
    with pytest.raises(UsageError) as info:
        GATEWAY.check(kp, ctx)
    assert str(info.value).startswith("HTTPRoute web does not reference Service hello")
    with pytest.raises(UsageError, match="HTTPRoute web does not reference Service hello"):
        GATEWAY.set_weights(kp, ctx, STEPS[0])
    with pytest.raises(InvalidSpecError, match="sum to 110"):
        GATEWAY.set_weights(kp, ctx, {"blue": 100, "green": 10})
    assert user_view(kube.get(HTTPRoute, "web", namespace=namespace)) == before

    # a Service kprism would need for a track exists and belongs to the user
    kube.patch(
        HTTPRoute,
        "web",
        {"spec": {"rules": ROUTE_RULES}},
        namespace=namespace,
        patch_type=PatchType.MERGE,
    )
    kube.create(service("hello-green", {"app": "hello", "color": "green"}), namespace=namespace)
    before = user_view(kube.get(HTTPRoute, "web", namespace=namespace))
    with pytest.raises(
        UsageError, match="Service hello-green exists and is not kprism's Service for track green"
    ):
        GATEWAY.check(kp, ctx)
    with pytest.raises(UsageError, match="Service hello-green exists"):
        GATEWAY.set_weights(kp, ctx, STEPS[0])
    assert user_view(kube.get(HTTPRoute, "web", namespace=namespace)) == before
    assert track_service_names(kube, namespace) == set()  # not even hello-blue was created
    GATEWAY.check(kp, ctx_for(kp, namespace, {"httproute": "web"}, tracks=("blue", "red")))


def test_gateway_weights_at_every_step_then_route_restored(
    kube: Client, namespace: str, kp: Kube, gateway_crds: list[str]
) -> None:
    make_app(kube, namespace, replicas=2)
    blue = ready_pods(kube, namespace, "blue")
    green = add_track(kube, namespace, "green", replicas=2)
    kube.create(http_route("web", ROUTE_RULES), namespace=namespace)
    original = user_view(kube.get(HTTPRoute, "web", namespace=namespace))
    app_service = kube.get(Service, "hello", namespace=namespace).to_dict()
    ctx = ctx_for(kp, namespace, {"httproute": "web"}, tracks=("blue", "green"))

    GATEWAY.check(kp, ctx)
    assert GATEWAY.observed_weights(kp, ctx) is None
    for weights in STEPS:
        gw_set(kp, ctx, weights)
        route = kube.get(HTTPRoute, "web", namespace=namespace)
        b, g = weights["blue"], weights["green"]
        assert refs(route, 0) == [("hello-blue", 8888, b), ("hello-green", 8888, g)]
        assert refs(route, 1) == [
            ("hello-blue", 8888, 3 * b),
            ("hello-green", 8888, 3 * g),
            ("legacy", 8888, 100),
        ]
        assert route["spec"]["rules"][2] == original["spec"]["rules"][2]
        assert [r["matches"] for r in route["spec"]["rules"]] == [
            r["matches"] for r in original["spec"]["rules"]
        ]
        saved = json.loads(route["metadata"]["annotations"][ANNOTATION_ORIGINAL_REFS])
        assert saved["rules"] == [
            original["spec"]["rules"][0]["backendRefs"],
            original["spec"]["rules"][1]["backendRefs"],
            None,
        ]
        assert route["metadata"]["annotations"]["team"] == "shop"
        # idempotent: the same weights again write nothing
        version = route["metadata"]["resourceVersion"]
        GATEWAY.set_weights(kp, ctx, weights)
        assert (
            kube.get(HTTPRoute, "web", namespace=namespace)["metadata"]["resourceVersion"]
            == version
        )

    assert_track_service(kube, namespace, "blue", blue)
    assert_track_service(kube, namespace, "green", green)
    assert kube.get(Service, "hello", namespace=namespace).to_dict()["spec"] == app_service["spec"]

    GATEWAY.remove_managed_routes(kp, ctx)
    assert user_view(kube.get(HTTPRoute, "web", namespace=namespace))["spec"] == original["spec"]
    # The gateway may still route to the track Services for a moment: they stay, and
    # the read-back keeps the last weights so the planner asks again.
    assert track_service_names(kube, namespace) == {"hello-blue", "hello-green"}
    assert GATEWAY.observed_weights(kp, ctx) == STEPS[-1]
    GATEWAY.remove_managed_routes(kp, ctx)  # within the settle time: nothing deleted
    assert track_service_names(kube, namespace) == {"hello-blue", "hello-green"}
    gw_remove(kp, ctx, kube, namespace)
    assert user_view(kube.get(HTTPRoute, "web", namespace=namespace)) == original
    assert track_service_names(kube, namespace) == set()
    assert GATEWAY.observed_weights(kp, ctx) is None
    GATEWAY.remove_managed_routes(kp, ctx)  # idempotent
    assert user_view(kube.get(HTTPRoute, "web", namespace=namespace)) == original


def test_gateway_rainbow_three_tracks(
    kube: Client, namespace: str, kp: Kube, gateway_crds: list[str]
) -> None:
    make_app(kube, namespace, replicas=1)
    pods = {"blue": ready_pods(kube, namespace, "blue")}
    pods["green"] = add_track(kube, namespace, "green", replicas=1)
    pods["red"] = add_track(kube, namespace, "red", replicas=1)
    kube.create(http_route("web", ROUTE_RULES[:1]), namespace=namespace)
    original = user_view(kube.get(HTTPRoute, "web", namespace=namespace))
    ctx = ctx_for(kp, namespace, {"httproute": "web"}, tracks=("blue", "green", "red"))
    GATEWAY.check(kp, ctx)
    for weights in (
        {"blue": 60, "green": 30, "red": 10},
        {"blue": 20, "green": 30, "red": 50},
        {"blue": 0, "green": 0, "red": 100},
    ):
        gw_set(kp, ctx, weights)
        route = kube.get(HTTPRoute, "web", namespace=namespace)
        assert refs(route, 0) == [
            (f"hello-{t}", 8888, weights[t]) for t in ("blue", "green", "red")
        ]
    for track, names in pods.items():
        assert_track_service(kube, namespace, track, names)
    gw_remove(kp, ctx, kube, namespace)
    assert user_view(kube.get(HTTPRoute, "web", namespace=namespace)) == original
    assert track_service_names(kube, namespace) == set()


def test_gateway_read_back_catches_an_edited_route(
    kube: Client, namespace: str, kp: Kube, gateway_crds: list[str]
) -> None:
    make_app(kube, namespace, replicas=1)
    kube.create(http_route("web", ROUTE_RULES[:2]), namespace=namespace)
    ctx = ctx_for(kp, namespace, {"httproute": "web"})
    gw_set(kp, ctx, STEPS[0])
    route = kube.get(HTTPRoute, "web", namespace=namespace)
    rules = route["spec"]["rules"]
    rules[1]["backendRefs"][0]["weight"] = 0  # someone edits one rule behind kprism's back
    kube.patch(
        HTTPRoute,
        "web",
        {"spec": {"rules": rules}},
        namespace=namespace,
        patch_type=PatchType.MERGE,
    )
    assert GATEWAY.observed_weights(kp, ctx) == {}
    GATEWAY.set_weights(kp, ctx, STEPS[0])  # the next set repairs it
    assert GATEWAY.observed_weights(kp, ctx) == STEPS[0]


# -- ingress-nginx --------------------------------------------------------------------------


USER_INGRESS_SPEC = {
    "ingressClassName": "nginx",
    "rules": [
        {
            "host": "shop.example",
            "http": {
                "paths": [
                    {"path": "/", "pathType": "Prefix", "backend": ingress_backend("hello")},
                    {"path": "/static", "pathType": "Prefix", "backend": ingress_backend("cdn")},
                ]
            },
        },
        {
            "host": "admin.example",
            "http": {
                "paths": [{"path": "/", "pathType": "Prefix", "backend": ingress_backend("admin")}]
            },
        },
        {
            "host": "api.example",
            "http": {
                "paths": [{"path": "/v1", "pathType": "Exact", "backend": ingress_backend("hello")}]
            },
        },
    ],
}
CANARY_SPEC = {
    "ingressClassName": "nginx",
    "rules": [
        {
            "host": "shop.example",
            "http": {
                "paths": [
                    {"path": "/", "pathType": "Prefix", "backend": ingress_backend("hello-green")}
                ]
            },
        },
        {
            "host": "api.example",
            "http": {
                "paths": [
                    {"path": "/v1", "pathType": "Exact", "backend": ingress_backend("hello-green")}
                ]
            },
        },
    ],
}


def test_nginx_check_refuses_and_changes_nothing(kube: Client, namespace: str, kp: Kube) -> None:
    make_app(kube, namespace, replicas=1)
    opts = {"ingress": "web"}
    ctx = ctx_for(kp, namespace, opts, tracks=("blue", "green"))

    with pytest.raises(UsageError, match="router nginx needs option ingress=NAME"):
        NGINX.check(kp, ctx_for(kp, namespace, {}))
    with pytest.raises(UsageError, match=r"router nginx does not take option.*httproute"):
        NGINX.check(kp, ctx_for(kp, namespace, {"ingress": "web", "httproute": "web"}))
    with pytest.raises(UsageError, match="option header-value needs option header"):
        NGINX.check(kp, ctx_for(kp, namespace, {"ingress": "web", "header-value": "x"}))
    with pytest.raises(NotFoundError, match="cannot get Ingress web in namespace"):
        NGINX.check(kp, ctx)

    kube.create(ingress("web", {"defaultBackend": ingress_backend("other")}), namespace=namespace)
    with pytest.raises(UsageError) as info:
        NGINX.check(kp, ctx)
    assert str(info.value).startswith("Ingress web does not reference Service hello")
    with pytest.raises(UsageError, match="Ingress web does not reference Service hello"):
        NGINX.set_weights(kp, ctx, STEPS[0])

    kube.create(ingress("main", USER_INGRESS_SPEC), namespace=namespace)
    kube.create(
        ingress("other-canary", USER_INGRESS_SPEC, {NGINX_ + "canary": "true"}), namespace=namespace
    )
    with pytest.raises(UsageError, match="Ingress other-canary is itself an ingress-nginx canary"):
        NGINX.check(kp, ctx_for(kp, namespace, {"ingress": "other-canary"}))
    main = {"ingress": "main"}
    with pytest.raises(UsageError, match="ingress-nginx supports one canary backend, not 3 tracks"):
        NGINX.check(kp, ctx_for(kp, namespace, main, tracks=("blue", "green", "red")))
    with pytest.raises(UsageError, match="one canary backend: weights for 3 tracks"):
        NGINX.set_weights(kp, ctx_for(kp, namespace, main), {"blue": 50, "green": 25, "red": 25})

    # the app's Service must pin the stable track: the user's Ingress sends the rest there
    kube.patch(
        Service,
        "hello",
        {"spec": {"selector": {"color": None}}},
        namespace=namespace,
        patch_type=PatchType.MERGE,
    )
    with pytest.raises(
        UsageError, match="Service hello selects every track: the nginx router needs it pinned"
    ):
        NGINX.check(kp, ctx_for(kp, namespace, main))
    with pytest.raises(UsageError, match="Service hello selects every track"):
        NGINX.set_weights(kp, ctx_for(kp, namespace, main), STEPS[0])
    kube.patch(
        Service,
        "hello",
        {"spec": {"selector": {"color": "blue"}}},
        namespace=namespace,
        patch_type=PatchType.MERGE,
    )

    kube.create(ingress("main-kprism-canary", USER_INGRESS_SPEC), namespace=namespace)
    with pytest.raises(
        UsageError,
        match="Ingress main-kprism-canary exists and is not kprism's canary of Ingress main",
    ):
        NGINX.check(kp, ctx_for(kp, namespace, main))
    with pytest.raises(UsageError, match="main-kprism-canary exists"):
        NGINX.set_weights(kp, ctx_for(kp, namespace, main), STEPS[0])
    with pytest.raises(UsageError, match="main-kprism-canary exists"):
        NGINX.remove_managed_routes(kp, ctx_for(kp, namespace, main))
    assert (
        kube.get(Ingress, "main-kprism-canary", namespace=namespace)
        .spec.rules[0]
        .http.paths[0]
        .backend.service.name
        == "hello"
    )
    assert track_service_names(kube, namespace) == set()
    assert {i.metadata.name for i in kube.list(Ingress, namespace=namespace)} == {
        "web",
        "main",
        "other-canary",
        "main-kprism-canary",
    }


def test_nginx_canary_ingress_at_every_step_user_ingress_untouched(
    kube: Client, namespace: str, kp: Kube
) -> None:
    make_app(kube, namespace, replicas=2)
    green = add_track(kube, namespace, "green", replicas=2)
    kube.create(
        ingress("web", USER_INGRESS_SPEC, {"kubernetes.io/ingress.class": "nginx"}),
        namespace=namespace,
    )
    user = kube.get(Ingress, "web", namespace=namespace)
    user_version = user.metadata.resourceVersion
    options = {"ingress": "web", "header": "X-Canary", "header-value": "yes", "cookie": "canary"}
    ctx = ctx_for(kp, namespace, options, tracks=("blue", "green"))
    NGINX.check(kp, ctx)
    assert NGINX.observed_weights(kp, ctx) is None

    for weights in STEPS:
        NGINX.set_weights(kp, ctx, weights)
        assert NGINX.observed_weights(kp, ctx) == weights
        canary = kube.get(Ingress, "web-kprism-canary", namespace=namespace).to_dict()
        assert canary["metadata"]["annotations"] == {
            NGINX_ + "canary": "true",
            NGINX_ + "canary-weight": str(weights["green"]),
            NGINX_ + "canary-by-header": "X-Canary",
            NGINX_ + "canary-by-header-value": "yes",
            NGINX_ + "canary-by-cookie": "canary",
            "kubernetes.io/ingress.class": "nginx",
            "kprism.dev/canary-of": "web",
            "kprism.dev/canary-track": "green",
        }
        assert canary["metadata"]["labels"] == {"app.kubernetes.io/managed-by": "kprism"}
        assert canary["spec"] == CANARY_SPEC
        version = canary["metadata"]["resourceVersion"]
        NGINX.set_weights(kp, ctx, weights)  # idempotent: nothing written
        assert (
            kube.get(Ingress, "web-kprism-canary", namespace=namespace).metadata.resourceVersion
            == version
        )
        assert (
            kube.get(Ingress, "web", namespace=namespace).metadata.resourceVersion == user_version
        )

    assert_track_service(kube, namespace, "green", green)
    assert track_service_names(kube, namespace) == {"hello-green"}  # stable goes through hello

    # A/B options dropped: their annotations go too
    plain = ctx_for(kp, namespace, {"ingress": "web"})
    NGINX.set_weights(kp, plain, STEPS[-1])
    annotations = kube.get(Ingress, "web-kprism-canary", namespace=namespace).metadata.annotations
    assert not [k for k in annotations if k.startswith(NGINX_ + "canary-by")]
    assert annotations[NGINX_ + "canary-weight"] == "100"

    # rainbow is refused and changes nothing
    version = kube.get(Ingress, "web-kprism-canary", namespace=namespace).metadata.resourceVersion
    with pytest.raises(UsageError, match="ingress-nginx supports one canary backend"):
        NGINX.set_weights(kp, plain, {"blue": 50, "green": 25, "red": 25})
    assert (
        kube.get(Ingress, "web-kprism-canary", namespace=namespace).metadata.resourceVersion
        == version
    )

    # the engine flips the Service to the candidate: all traffic is green either way
    kube.patch(
        Service,
        "hello",
        {"spec": {"selector": {"color": "green"}}},
        namespace=namespace,
        patch_type=PatchType.MERGE,
    )
    assert NGINX.observed_weights(kp, ctx_for(kp, namespace, options)) == {"green": 100}

    NGINX.remove_managed_routes(kp, ctx)
    with pytest.raises(ApiError) as gone:
        kube.get(Ingress, "web-kprism-canary", namespace=namespace)
    assert gone.value.status.code == 404
    assert track_service_names(kube, namespace) == set()
    assert NGINX.observed_weights(kp, ctx) is None
    after = kube.get(Ingress, "web", namespace=namespace)
    assert after.metadata.resourceVersion == user_version
    assert user_view(after) == user_view(user)
    NGINX.remove_managed_routes(kp, ctx)  # idempotent


def test_nginx_abort_to_stable_only(kube: Client, namespace: str, kp: Kube) -> None:
    """The planner's abort sets stable=100, candidate=0 before removing routes."""
    make_app(kube, namespace, replicas=1)
    kube.create(ingress("web", USER_INGRESS_SPEC), namespace=namespace)
    ctx = ctx_for(kp, namespace, {"ingress": "web"})
    NGINX.set_weights(kp, ctx, STEPS[1])
    NGINX.set_weights(kp, ctx, {"blue": 100, "green": 0})
    assert NGINX.observed_weights(kp, ctx) == {"blue": 100, "green": 0}
    assert (
        kube.get(Ingress, "web-kprism-canary", namespace=namespace).metadata.annotations[
            NGINX_ + "canary-weight"
        ]
        == "0"
    )
    NGINX.set_weights(kp, ctx, {"blue": 100})  # only stable: no canary Ingress at all
    assert NGINX.observed_weights(kp, ctx) is None
    NGINX.remove_managed_routes(kp, ctx)
    assert track_service_names(kube, namespace) == set()


def test_gateway_names_a_track_service_only_once_it_has_an_endpointslice(
    kube: Client, namespace: str, kp: Kube, gateway_crds: list[str]
) -> None:
    """A gateway cannot load a backend whose EndpointSlice does not exist yet (Traefik
    answered 500 for the whole route on the data plane): the first set only creates the
    track Services; the route changes once their slices exist."""
    make_app(kube, namespace, replicas=1)
    kube.create(http_route("web", ROUTE_RULES[:1]), namespace=namespace)
    original = user_view(kube.get(HTTPRoute, "web", namespace=namespace))
    ctx = ctx_for(kp, namespace, {"httproute": "web"})
    GATEWAY.set_weights(kp, ctx, STEPS[0])
    assert track_service_names(kube, namespace) == {"hello-blue", "hello-green"}
    slices = kp.list_objects(
        "EndpointSlice", namespace, {"kubernetes.io/service-name": "hello-green"}
    )
    if not slices:  # the usual case: the controller has not made them yet
        assert user_view(kube.get(HTTPRoute, "web", namespace=namespace)) == original
        assert GATEWAY.observed_weights(kp, ctx) is None
    gw_set(kp, ctx, STEPS[0])
    for name in ("hello-blue", "hello-green"):
        assert kp.list_objects("EndpointSlice", namespace, {"kubernetes.io/service-name": name})
