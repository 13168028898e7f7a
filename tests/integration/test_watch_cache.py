"""The shared watch cache (kprism.kube.cache) against the real API server: one watch per
kind and namespace for any number of apps, observations from the cache equal to fresh
reads, the process's own writes visible at once, and a release waiting for promotion
that costs nothing but Lease renewals. These tests assert request *counts*, which are
not noisy; the timings are in bench/."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pytest
from lightkube import Client

from kprism import ops
from kprism.engine import loop
from kprism.engine.loop import Engine
from kprism.errors import TimeoutError_
from kprism.kube.cache import APP_KINDS
from kprism.kube.client import Kube, Target
from kprism.model.actions import ScaleDeployment
from kprism.model.release import Change, Phase, ReleaseSpec, Strategy
from kprism.model.steps import canary_spec_from_shorthand
from tests.integration.helpers import make_app, wait_for

V2 = "registry.example/hello:2"


@pytest.fixture
def k(kubeconfig_path: str, namespace: str) -> Iterator[Kube]:
    kube = Kube(Target(kubeconfig=kubeconfig_path, namespace=namespace))
    yield kube
    kube.close()


def non_lease(counts: Counter[str]) -> Counter[str]:
    return Counter({k: v for k, v in counts.items() if not k.endswith(" leases")})


def test_apps_in_one_namespace_share_one_watch_per_kind(
    kube: Client, namespace: str, k: Kube
) -> None:
    for name in ("a", "b", "c"):
        make_app(kube, namespace, name=name, replicas=1)
    feeds = [
        k.feed(namespace=namespace, service=name, app_selector={"app": name})
        for name in ("a", "b", "c")
    ]
    for f in feeds:
        f.start()
    try:
        assert k.cache.stats()["informers"] == len(APP_KINDS)
        kinds = ("pods", "services", "deployments", "endpointslices")
        # an informer is synced after its LIST; its WATCH request follows a moment later
        wait_for(
            lambda: [k.requests[f"WATCH {kind}"] for kind in kinds],
            lambda counts: min(counts) >= 1,
            what="every informer's watch open",
        )
        for kind in kinds:
            assert k.requests[f"WATCH {kind}"] == 1, k.requests
        # an event of one app wakes that app's feed only
        for f in feeds:
            f.wait(0)
        k.apply(ScaleDeployment(name="b-blue", replicas=2), namespace=namespace, service="b")
        assert feeds[1].wait(10.0)
        assert not feeds[0].wait(0.5) and not feeds[2].wait(0)
    finally:
        for f in feeds:
            f.stop()


def test_a_cached_observation_equals_a_fresh_read_and_shows_own_writes_at_once(
    kube: Client, namespace: str, k: Kube
) -> None:
    make_app(kube, namespace, replicas=2)
    with k.feed(namespace=namespace, service="hello", app_selector={"app": "hello"}):
        before = Counter(k.requests)
        cached = k.observe(namespace=namespace, service="hello", track_label="color")
        assert k.requests == before, "observing from the cache makes no request"
        assert cached == k.observe(
            namespace=namespace, service="hello", track_label="color", fresh=True
        )
        k.apply(
            ScaleDeployment(name="hello-blue", replicas=5), namespace=namespace, service="hello"
        )
        seen = k.observe(namespace=namespace, service="hello", track_label="color")
        assert seen.deployment("hello-blue") is not None
        assert seen.deployment("hello-blue").replicas == 5  # type: ignore[union-attr]


def test_a_release_waiting_for_promotion_only_renews_its_lease(
    kube: Client, namespace: str, k: Kube
) -> None:
    make_app(kube, namespace)
    app = ops.App(name="hello", namespace=namespace)
    _, lease = ops.start_release(k, app, ReleaseSpec(change=Change(images={"": V2})))
    engine = Engine(k, namespace=namespace, service="hello", track_label="color", lease=lease)
    try:
        st = engine.run(until=lambda s: s.phase == Phase.PAUSED, timeout=120)
        assert st.step == "await-promotion", st
        with k.feed(namespace=namespace, service="hello", app_selector={"app": "hello"}):
            before = Counter(k.requests)
            with pytest.raises(TimeoutError_):
                engine.run(timeout=20)
            spent = Counter(k.requests)
            spent.subtract(before)
        # One fresh observation when the engine starts (before its feed subscribes) and
        # nothing else: no polling, no watch reconnects, no 404 reads of a preview.
        assert sum(non_lease(spent).values()) <= 7, spent
        assert not any(key.startswith("WATCH") for key in +spent), spent
        # a renewal every third of the 15 s Lease, one request each
        assert spent["PUT leases"] <= 6 and spent["GET leases"] == 0, spent
    finally:
        lease.release()


def test_a_canary_s_writes_of_its_service_grow_with_steps_not_with_waits(
    kube: Client, namespace: str, k: Kube, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 11: a 5-step canary of 10 replicas recorded every new wait message and every
    settled pending entry (43-45 PATCHes of its Service). Now an action's record, a step
    reached and the release's start and end are written; what only a wait changes is
    written once the wait lasts (MESSAGE_LAG, made long here so that the count does not
    depend on how fast this machine is)."""
    monkeypatch.setattr(loop, "MESSAGE_LAG", 600.0)
    make_app(kube, namespace, replicas=10)
    app = ops.App(name="hello", namespace=namespace)
    spec = ReleaseSpec(
        change=Change(images={"": V2}),
        strategy=Strategy.CANARY,
        canary=canary_spec_from_shorthand(steps="20,40,60,80,100"),
    )
    before = Counter(k.requests)
    st = ops.release(k, app, spec, timeout=300)
    spent = Counter(k.requests)
    spent.subtract(before)
    assert st.phase == Phase.SUCCEEDED, st.message
    # per step: the candidate's scale-up, at most two scale-downs of stable (its pods
    # become ready one by one or together), the step reached; start and end: 8
    assert spent["PATCH services"] <= 4 * 5 + 8, spent


def test_the_dashboard_lists_apps_from_one_watch(
    kube: Client, namespace: str, kubeconfig_path: str
) -> None:
    from kprism.web.app import Dashboard

    make_app(kube, namespace, replicas=1)
    board = Dashboard(kubeconfig=kubeconfig_path, context=None, namespace=namespace)
    try:
        assert [a["name"] for a in board.apps(namespace)] == ["hello"]
        before = Counter(board.kube.requests)
        for _ in range(5):  # five browser polls
            assert [a["name"] for a in board.apps(namespace)] == ["hello"]
        assert namespace in board.namespaces()
        spent = Counter(board.kube.requests)
        spent.subtract(before)
        assert not +spent, f"polls made requests: {+spent}"
        assert board.kube.requests["WATCH services"] == 1
    finally:
        board.close()


def test_pre_flights_of_many_apps_in_one_namespace_share_one_list_and_watch_per_kind(
    kube: Client, namespace: str, k: Kube
) -> None:
    """200 releases in one namespace used to make 5 whole-namespace LISTs each before
    they started (the pre-flight): now the Deployments, Pods, Services and HPAs come from
    one shared informer per kind, whoever asks first."""
    names = ("a", "b", "c", "d")
    for name in names:
        make_app(kube, namespace, name=name, replicas=1)
    before = Counter(k.requests)
    for name in names:
        ops.doctor.check_release(k, ops.App(name=name, namespace=namespace))
    kinds = ("deployments", "pods", "services", "horizontalpodautoscalers")
    # an informer answers after its LIST; its WATCH request follows a moment later
    wait_for(
        lambda: [k.requests[f"WATCH {kind}"] - before[f"WATCH {kind}"] for kind in kinds],
        lambda counts: min(counts) >= 1,
        what="every informer's watch open",
    )
    spent = Counter(k.requests)
    spent.subtract(before)
    for kind in kinds:
        # the informer's LIST (and, for Services, one GET of each app's own Service)
        lists = 1 + (len(names) if kind == "services" else 0)
        assert spent[f"GET {kind}"] == lists and spent[f"WATCH {kind}"] == 1, spent
    assert spent["GET poddisruptionbudgets"] == len(names), spent  # listed directly
    # the app's objects as the doctor sees them, from the informers
    audit = ops.doctor.audit_app(k, ops.App(name="c", namespace=namespace))
    assert [o["metadata"]["name"] for o in audit.objects if o["kind"] == "Deployment"] == ["c-blue"]


def test_observations_before_a_feed_join_the_informers_instead_of_listing(
    kube: Client, namespace: str, k: Kube
) -> None:
    """Planning a release, recording its first status, a one-shot `status`: observations
    made before the app's feed subscribed. 200 of them at once in one namespace used to
    be 5 whole-namespace LISTs each (decoded into typed objects: the memory and CPU of
    200 releases in one namespace); now they join the shared informers."""
    names = ("a", "b", "c")
    for name in names:
        make_app(kube, namespace, name=name, replicas=1)
    before = Counter(k.requests)
    seen = [k.observe(namespace=namespace, service=n, track_label="color") for n in names]
    spent = Counter(k.requests)
    spent.subtract(before)
    for kind in ("services", "deployments", "pods", "endpointslices"):
        assert spent[f"GET {kind}"] == 1, spent  # the informer's LIST, once for all three
    for name, obs in zip(names, seen, strict=True):
        assert obs == k.observe(namespace=namespace, service=name, track_label="color", fresh=True)
