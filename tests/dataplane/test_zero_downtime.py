"""Zero dropped requests, measured: releases under load through real kube-proxy to real
processes. Figures (latency, shares, old answers after cutover) go to bench/; these
tests assert only what must hold: failures, request counts, shares within tolerance,
and that the unprotected baseline does fail (or the harness would prove nothing).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from lightkube import Client

from testkit import scenarios as sc
from testkit.load import summarize

RATE = 100  # req/s
MIN_REQUESTS = 3000
SHARE_TOLERANCE = 0.12  # absolute, per canary step of >= 3 s at 100 req/s (fresh connections)
GATEWAY_TOLERANCE = 0.05  # Traefik's weighted round robin is exact up to rounding
APP = "py-hello-service"


def _seed(ns: str, docs: list[dict[str, Any]]) -> str:
    sc.apply(ns, docs)
    sc.rollout(ns, "py-hello-blue")
    sc.kprism(ns, "adopt", APP)
    return sc.cluster_url(ns, APP)


def test_unprotected_rolling_update_drops_requests(dp_kube: Client, dp_namespace: str) -> None:
    """The harness can see failures: no preStop and an app that exits on SIGTERM."""
    ns = dp_namespace
    docs = sc.unprotected(sc.seed_docs(fixed=False))
    sc.apply(ns, docs)
    sc.rollout(ns, "py-hello-blue")
    url = sc.cluster_url(ns, APP)

    def action() -> None:
        sc.kubectl(ns, "set", "image", "deploy/py-hello-blue", "hello=localhost:5001/py-http:2")
        sc.rollout(ns, "py-hello-blue")

    hits, _, _ = sc.under_load(
        dp_kube, ns, APP, url, rate=RATE, keepalive=False, action=action, tail=3
    )
    s = summarize(hits)
    assert s.requests > 500
    assert s.failed > 0, (
        f"the unprotected baseline lost nothing: the harness proves nothing ({s.as_dict()})"
    )


def test_bluegreen_release_then_rollback_lose_nothing(dp_kube: Client, dp_namespace: str) -> None:
    ns = dp_namespace
    url = _seed(ns, sc.recommended_seed())

    def release() -> None:
        sc.kprism(
            ns,
            "release",
            APP,
            "--image",
            "hello=localhost:5001/py-http:2",
            "--auto-promote",
            "--scale-down-delay",
            "2",
        )
        sc.pods_gone(ns, "color=blue")

    hits, timeline, _ = sc.under_load(
        dp_kube, ns, APP, url, rate=RATE, keepalive=True, action=release, min_requests=MIN_REQUESTS
    )
    s = summarize(hits)
    assert s.requests >= MIN_REQUESTS
    assert s.failed == 0, s.as_dict()
    assert s.versions.get("1", 0) > 0 and s.versions.get("2", 0) > 0, s.versions
    assert timeline.first_time(lambda c: set(c) == {"py-hello-green"}) is not None
    # Keep-alive connections stay on the old pods until they shut down (that is what
    # old_after_cutover measures in bench/); once they are gone, only v2 answers.
    last = [h for h in hits if h.t > hits[-1].t - 0.7]
    assert len(last) > 30
    assert all(h.version == "2" for h in last), Counter(h.version for h in last)

    def rollback() -> None:
        sc.kprism(ns, "rollback", APP, "--scale-down-delay", "2")
        sc.pods_gone(ns, "color=green")

    hits, _, _ = sc.under_load(
        dp_kube, ns, APP, url, rate=RATE, keepalive=True, action=rollback, min_requests=MIN_REQUESTS
    )
    s = summarize(hits)
    assert s.requests >= MIN_REQUESTS
    assert s.failed == 0, s.as_dict()
    last = [h for h in hits if h.t > hits[-1].t - 0.7]
    assert all(h.version == "1" for h in last), Counter(h.version for h in last)


def test_canary_by_replicas_loses_nothing_and_follows_the_plan(
    dp_kube: Client, dp_namespace: str
) -> None:
    ns = dp_namespace
    url = _seed(ns, sc.with_replicas(sc.recommended_seed(), 4))

    def canary() -> None:
        sc.kprism(
            ns,
            "release",
            APP,
            "--image",
            "hello=localhost:5001/py-http:2",
            "--steps",
            "10,25,50,100",
            "--pause",
            "4s",
            "--scale-down-delay",
            "2",
        )
        sc.pods_gone(ns, "color=blue")

    hits, timeline, _ = sc.under_load(
        dp_kube, ns, APP, url, rate=RATE, keepalive=False, action=canary, min_requests=MIN_REQUESTS
    )
    s = summarize(hits, windows=timeline.windows("py-hello-green", "2"))
    assert s.requests >= MIN_REQUESTS
    assert s.failed == 0, s.as_dict()
    mixed = [w for w in s.shares if 0 < w["requested"] < 1 and w["requests"] >= 200]
    assert len(mixed) >= 2, s.shares  # the steps really split traffic
    for w in s.shares:
        if w["requests"] >= 200:
            assert abs(w["achieved"] - w["requested"]) <= SHARE_TOLERANCE, s.shares


def test_canary_through_the_gateway_loses_nothing_and_is_exact(
    dp_kube: Client, dp_namespace: str
) -> None:
    """Traefik implements the HTTPRoute: kprism sets exact weights, keep-alive or not."""
    ns = dp_namespace
    url = _seed(ns, sc.recommended_seed())
    headers = sc.http_route(ns, "web", APP, 8888)
    sc.wait_routed(headers)

    def canary() -> None:
        sc.kprism(
            ns,
            "release",
            APP,
            "--image",
            "hello=localhost:5001/py-http:2",
            "--steps",
            "10,25,50,100",
            "--pause",
            "6s",
            "--scale-down-delay",
            "2",
            "--router",
            "gateway",
            "--httproute",
            "web",
        )
        sc.pods_gone(ns, "color=blue")

    with sc.RouteLog(ns, "web", "-green") as routes:
        hits, _, _ = sc.under_load(
            dp_kube,
            ns,
            APP,
            sc.GATEWAY_URL + "/",
            rate=RATE,
            keepalive=True,
            action=canary,
            min_requests=MIN_REQUESTS,
            headers=headers,
        )
    assert url
    # Traefik applies a route change within its 2 s provider throttle (+ margin).
    s = summarize(hits, windows=routes.windows("2", settle=3.0, min_len=1.5))
    assert s.requests >= MIN_REQUESTS
    assert s.failed == 0, s.as_dict()
    steps = [w for w in s.shares if 0 < w["requested"] < 1 and w["requests"] >= 100]
    assert {w["requested"] for w in steps} >= {0.1, 0.25, 0.5}, s.shares
    for w in s.shares:
        if w["requests"] >= 100:
            assert abs(w["achieved"] - w["requested"]) <= GATEWAY_TOLERANCE, s.shares
