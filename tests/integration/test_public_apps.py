"""kprism as a new user runs it on apps it was not written for, on the real cluster:
Istio's Bookinfo (``reviews-v1/v2/v3`` behind one Service ``reviews``, told apart by a
``version`` label: a rainbow app in the wild) and podinfo (a Deployment scaled by an
HPA). The manifests are stored unchanged in ``tests/integration/fixtures`` (source,
commit and Apache-2.0 licence in their headers); KWOK runs their pods.
"""

from __future__ import annotations

import contextlib
import functools
import json
import threading
from pathlib import Path
from typing import Any

import pytest
import yaml
from lightkube import Client
from lightkube.codecs import from_dict
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.autoscaling_v2 import HorizontalPodAutoscaler
from lightkube.resources.discovery_v1 import EndpointSlice

from tests.integration.helpers import kprism, ready_endpoints, selector, wait_for

FIXTURES = Path(__file__).parent / "fixtures"


@functools.cache
def _docs(name: str) -> tuple[dict[str, Any], ...]:
    return tuple(d for d in yaml.safe_load_all((FIXTURES / name).read_text()) if d)


def apply_fixture(kube: Client, namespace: str, name: str) -> None:
    for doc in _docs(name):
        kube.create(from_dict(doc), namespace=namespace)


def one_line_error(out: Any, code: int, *parts: str) -> str:
    assert out.returncode == code, (out.returncode, out.stdout, out.stderr)
    line = out.stderr.strip()
    assert "\n" not in line and line.startswith("kprism: error: "), out.stderr
    assert "Traceback" not in out.stderr
    for part in parts:
        assert part in line, (part, line)
    return line


def test_bookinfo_reviews_adopt_by_version_and_split_without_the_idle_version(
    kube: Client, namespace: str, kubeconfig_path: str, request: pytest.FixtureRequest
) -> None:
    apply_fixture(kube, namespace, "bookinfo.yaml")
    wait_for(
        lambda: len(ready_endpoints(kube, namespace, "reviews")),
        lambda n: n == 3,
        what="reviews-v1/v2/v3 ready behind Service reviews",
    )

    def cli(*args: str, check: int | None = 0) -> Any:
        return kprism(*args, "-n", namespace, kubeconfig=kubeconfig_path, check=check)

    # The default track label is color: the three versions are one app, not three.
    line = one_line_error(cli("adopt", "reviews", check=None), 2, "--track-label version")
    assert "more than one app" not in line and "reviews-v1, reviews-v2, reviews-v3" in line

    out = cli("adopt", "reviews", "--track-label", "version", "--track", "v1")
    assert "version=v1 serves" in out.stdout
    assert selector(kube, namespace, "reviews") == {"app": "reviews", "version": "v1"}
    wait_for(
        lambda: ready_endpoints(kube, namespace, "reviews"),
        lambda eps: len(eps) == 1 and all(p.startswith("reviews-v1-") for p in eps),
        what="reviews pinned to v1",
    )

    # Every ready endpoint Service reviews lists while the split runs: reviews-v3 keeps
    # one idle ready pod, and the split gives it 0 % — it must never be listed.
    seen: set[str] = set()
    started, stop = threading.Event(), threading.Event()

    def record() -> None:
        # ends at the first event after the test (its namespace's slices are deleted), and
        # quietly if the watch breaks: it must not outlive the test and fail another one
        with contextlib.suppress(Exception):
            for _, es in kube.watch(
                EndpointSlice,
                namespace=namespace,
                labels={"kubernetes.io/service-name": "reviews"},
            ):
                if stop.is_set():
                    return
                started.set()
                for ep in es.endpoints or []:
                    if ep.conditions and ep.conditions.ready and ep.targetRef:
                        seen.add(ep.targetRef.name or "")

    threading.Thread(target=record, daemon=True).start()
    request.addfinalizer(stop.set)
    assert started.wait(10), "no EndpointSlice event for Service reviews"
    out = cli("split", "reviews", "v1=50", "v2=50")
    assert "traffic split v1 50%, v2 50%" in out.stdout
    wait_for(
        lambda: {p.split("-")[1] for p in ready_endpoints(kube, namespace, "reviews")},
        lambda versions: versions == {"v1", "v2"},
        what="reviews endpoints on v1 and v2",
    )
    v3 = sorted(p for p in seen if p.startswith("reviews-v3-"))
    assert v3 == [], f"Service reviews listed idle v3 pods as ready during the split: {v3}"
    assert {p.split("-")[1] for p in seen} == {"v1", "v2"}

    status = json.loads(cli("status", "reviews", "-o", "json").stdout)
    assert status["trackLabel"] == "version"
    assert {t["track"]: t["serving"] for t in status["tracks"]} == {
        "v1": True,
        "v2": True,
        "v3": False,
    }
    assert kube.get(Deployment, "reviews-v3", namespace=namespace).spec.replicas == 0
    history = json.loads(cli("history", "reviews", "-o", "json").stdout)
    assert [(h["kind"], h["phase"]) for h in history][:1] == [("split", "Succeeded")]


def test_bookinfo_productpage_blue_green_by_version_and_back(
    kube: Client, namespace: str, kubeconfig_path: str
) -> None:
    apply_fixture(kube, namespace, "bookinfo.yaml")
    wait_for(
        lambda: len(ready_endpoints(kube, namespace, "productpage")),
        lambda n: n == 1,
        what="productpage-v1 ready",
    )

    def cli(*args: str, check: int | None = 0) -> Any:
        return kprism(*args, "-n", namespace, kubeconfig=kubeconfig_path, check=check)

    v2 = "registry.istio.io/release/examples-bookinfo-productpage-v1:1.20.4"
    one_line_error(
        cli("release", "productpage", "--image", v2, check=None),
        2,
        "`kprism adopt productpage --track-label version`",
    )
    cli("adopt", "productpage", "--track-label", "version", "--track", "v1")
    cli(
        "release",
        "productpage",
        "--image",
        v2,
        "--auto-promote",
        "--scale-down-delay",
        "0",
    )
    # the next version, not version=blue
    assert selector(kube, namespace, "productpage") == {"app": "productpage", "version": "v2"}
    assert kube.get(Deployment, "productpage-v2", namespace=namespace).spec.replicas == 1
    cli("rollback", "productpage", "--scale-down-delay", "0")
    assert selector(kube, namespace, "productpage") == {"app": "productpage", "version": "v1"}
    history = json.loads(cli("history", "productpage", "-o", "json").stdout)
    assert [(h["kind"], h["phase"], h["serving"]) for h in history] == [
        ("rollback", "Succeeded", "v1"),
        ("release", "Succeeded", "v2"),
    ]


def _hpa_target(kube: Client, namespace: str) -> tuple[str, int, int]:
    hpa = kube.get(HorizontalPodAutoscaler, "podinfo", namespace=namespace)
    return (hpa.spec.scaleTargetRef.name, hpa.spec.minReplicas or 1, hpa.spec.maxReplicas)


def test_podinfo_adopt_moves_its_hpa_and_a_canary_hands_it_to_the_new_track(
    kube: Client, namespace: str, kubeconfig_path: str
) -> None:
    apply_fixture(kube, namespace, "podinfo.yaml")
    # no replicas in the manifest: the HPA's minReplicas (2) sets them
    wait_for(
        lambda: len(ready_endpoints(kube, namespace, "podinfo")),
        lambda n: n == 2,
        timeout=90,
        what="podinfo scaled to 2 by its HPA and ready",
    )

    def cli(*args: str, check: int | None = 0) -> Any:
        return kprism(*args, "-n", namespace, kubeconfig=kubeconfig_path, check=check)

    out = cli("adopt", "podinfo")
    assert "color=blue serves" in out.stdout
    assert "set HorizontalPodAutoscaler podinfo on podinfo-blue to 2..4 replicas" in out.stderr
    assert _hpa_target(kube, namespace) == ("podinfo-blue", 2, 4)
    assert [d.metadata.name for d in kube.list(Deployment, namespace=namespace)] == ["podinfo-blue"]

    # blue-green refuses while the HPA scales the stable track (docs/bluegreen.md)
    v2 = "ghcr.io/stefanprodan/podinfo:6.14.2"
    one_line_error(
        cli("release", "podinfo", "--image", v2, check=None),
        2,
        "HorizontalPodAutoscaler podinfo",
        "--force",
    )
    # a canary drives the HPA through its bounds and leaves it on the new track
    cli("release", "podinfo", "--image", v2, "--steps", "50,100")
    assert selector(kube, namespace, "podinfo") == {"app": "podinfo", "color": "green"}
    assert _hpa_target(kube, namespace) == ("podinfo-green", 2, 4)
    assert [h.metadata.name for h in kube.list(HorizontalPodAutoscaler, namespace=namespace)] == [
        "podinfo"
    ]
