"""Rainbow: three live tracks, each with its own share, by pod ratio or by exact routes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from lightkube import Client
from lightkube.resources.core_v1 import Pod

from tests.integration.helpers import (
    EndpointSampler,
    kprism,
    kprism_bg,
    make_app,
    ready_endpoints,
    replicas,
    selector,
    wait_for,
)
from tests.integration.traffic_helpers import (
    HTTPRoute,
    backend_ref,
    http_route,
    install_gateway_crds,
)


def per_track(kube: Client, ns: str) -> dict[str, int]:
    eps = ready_endpoints(kube, ns, "hello")
    return {t: sum(n.startswith(f"hello-{t}-") for n in eps) for t in ("blue", "green", "red")}


def _three_tracks(kube: Client, ns: str, kc: str, replicas: int) -> None:
    make_app(kube, ns, replicas=replicas)
    kprism(
        "clone",
        "hello",
        "-n",
        ns,
        "--track",
        "green",
        "--image",
        "registry.example/hello:2",
        "--replicas",
        "0",
        kubeconfig=kc,
        check=0,
    )
    out = kprism(
        "clone",
        "hello",
        "-n",
        ns,
        "--track",
        "red",
        "--image",
        "registry.example/hello:ab",
        "--replicas",
        "1",
        kubeconfig=kc,
        check=0,
    )
    assert "without traffic" in out.stdout
    assert per_track(kube, ns)["red"] == 0  # the Service still pins blue


def _ready_pods(kube: Client, ns: str, track: str) -> int:
    return sum(
        any(c.type == "Ready" and c.status == "True" for c in (p.status.conditions or []))
        for p in kube.list(Pod, namespace=ns, labels={"color": track})
        if p.status is not None and p.metadata is not None and not p.metadata.deletionTimestamp
    )


def test_rainbow_by_replicas_keeps_capacity(
    kube: Client, namespace: str, kubeconfig_path: str
) -> None:
    _three_tracks(kube, namespace, kubeconfig_path, replicas=10)
    # The capacity a split keeps is the pods of every live track: blue's 10 and red's 1.
    # Wait for red's pod, or the total (10 or 11) depends on how fast it got ready.
    wait_for(lambda: _ready_pods(kube, namespace, "red"), lambda n: n == 1, what="red ready")
    with EndpointSampler(kubeconfig_path, namespace) as sampler:
        out = kprism(
            "split",
            "hello",
            "-n",
            namespace,
            "blue=70",
            "green=20",
            "red=10",
            kubeconfig=kubeconfig_path,
            check=0,
        )
    assert "traffic split blue 70%, green 20%, red 10% (pods: blue 8, green 2, red 1)" in out.stdout
    assert per_track(kube, namespace) == {"blue": 8, "green": 2, "red": 1}
    assert "color" not in selector(kube, namespace)
    assert min(sampler.samples) >= 10, sampler.samples
    # back to one track: the Service is pinned again
    kprism(
        "split",
        "hello",
        "-n",
        namespace,
        "blue=100",
        "green=0",
        "red=0",
        kubeconfig=kubeconfig_path,
        check=0,
    )
    assert selector(kube, namespace)["color"] == "blue"
    assert per_track(kube, namespace) == {"blue": 11, "green": 0, "red": 0}  # the capacity kept


def test_rainbow_by_gateway_routes(kube: Client, namespace: str, kubeconfig_path: str) -> None:
    install_gateway_crds(kube)
    _three_tracks(kube, namespace, kubeconfig_path, replicas=4)
    kube.create(http_route("web", [{"backendRefs": [backend_ref("hello")]}]), namespace=namespace)
    kprism(
        "split",
        "hello",
        "-n",
        namespace,
        "blue=60",
        "green=30",
        "red=10",
        "--router",
        "gateway",
        "--httproute",
        "web",
        kubeconfig=kubeconfig_path,
        check=0,
    )
    refs = kube.get(HTTPRoute, "web", namespace=namespace)["spec"]["rules"][0]["backendRefs"]
    assert {r["name"]: r["weight"] for r in refs} == {
        "hello-blue": 60,
        "hello-green": 30,
        "hello-red": 10,
    }
    assert selector(kube, namespace)["color"] == "blue"


@pytest.mark.parametrize(
    ("weights", "needle"),
    [
        (["blue=70", "green=20"], "sum to 100"),
        (["blue=50", "purple=50"], "no track color=purple"),
        (["blue=x"], "TRACK=PERCENT"),
    ],
)
def test_split_bad_input(
    kube: Client, namespace: str, kubeconfig_path: str, weights: list[str], needle: str
) -> None:
    make_app(kube, namespace, replicas=2)
    out = kprism("split", "hello", "-n", namespace, *weights, kubeconfig=kubeconfig_path)
    assert out.returncode == 2 and needle in out.stderr, out.stderr
    assert selector(kube, namespace)["color"] == "blue"


def _stuck_split_app(kube: Client, ns: str, kc: str, tmp_path: Path) -> None:
    """The issue's app: blue 4, red 1 that never gets ready, yellow 1."""
    make_app(kube, ns, replicas=4)
    patch = tmp_path / "unready.yaml"
    patch.write_text("metadata:\n  annotations:\n    kprism.dev/simulate-unready: 'true'\n")
    for track, extra in (("red", ["--patch-file", str(patch)]), ("yellow", [])):
        kprism(
            "clone", "hello", "-n", ns, "--track", track, "--image", f"registry.example/hello:{track}",
            "--replicas", "1", *extra, kubeconfig=kc, check=0,
        )  # fmt: skip
    wait_for(lambda: _ready_pods(kube, ns, "yellow"), lambda n: n == 1, what="yellow ready")


def _operation(kube: Client, ns: str) -> dict[str, Any]:
    from lightkube.resources.core_v1 import Service as Svc

    raw = (kube.get(Svc, "hello", namespace=ns).metadata.annotations or {}).get(
        "kprism.dev/operation"
    )
    return json.loads(raw) if raw else {}


def _as_before(kube: Client, ns: str) -> None:
    assert selector(kube, ns) == {"app": "hello", "color": "blue"}
    assert {t: replicas(kube, ns, f"hello-{t}") for t in ("blue", "red", "yellow")} == {
        "blue": 4,
        "red": 1,
        "yellow": 1,
    }
    wait_for(lambda: per_track(kube, ns), lambda p: p["blue"] == 4 and p["red"] == 0, what="4 blue")


def test_a_split_that_cannot_finish_puts_the_traffic_back_and_is_in_history(
    kube: Client, namespace: str, kubeconfig_path: str, tmp_path: Path
) -> None:
    _stuck_split_app(kube, namespace, kubeconfig_path, tmp_path)
    with EndpointSampler(kubeconfig_path, namespace) as sampler:
        out = kprism(
            "split", "hello", "-n", namespace, "blue=90", "red=10", "--timeout", "4",
            kubeconfig=kubeconfig_path, check=1,
        )  # fmt: skip
    assert "failed" in out.stderr and "traffic restored to blue 100%" in out.stderr, out.stderr
    assert "red 0/1" in out.stderr, out.stderr  # why it could not finish
    _as_before(kube, namespace)
    assert min(sampler.samples) >= 4, sampler.samples
    op = _operation(kube, namespace)
    assert op["phase"] == "Failed" and op["before"]["replicas"]["blue"] == 4
    history = json.loads(
        kprism("-o", "json", "history", "hello", "-n", namespace, kubeconfig=kubeconfig_path,
               check=0).stdout
    )  # fmt: skip
    assert [(h["kind"], h["phase"]) for h in history] == [
        ("split", "Failed"),
        ("clone", "Succeeded"),
        ("clone", "Succeeded"),
    ]
    assert history[0]["stable"] == "blue 100%" and history[0]["candidate"] == "blue 90%, red 10%"
    # the app is not locked: scale is recorded too
    kprism(
        "scale", "hello", "-n", namespace, "--track", "yellow", "--replicas", "2",
        kubeconfig=kubeconfig_path, check=0,
    )  # fmt: skip
    history = json.loads(
        kprism("-o", "json", "history", "hello", "-n", namespace, kubeconfig=kubeconfig_path,
               check=0).stdout
    )  # fmt: skip
    assert (history[0]["kind"], history[0]["stable"], history[0]["candidate"]) == (
        "scale",
        "yellow 1",
        "yellow 2",
    )


def test_a_split_is_aborted_from_another_process_or_after_its_process_died(
    kube: Client, namespace: str, kubeconfig_path: str, tmp_path: Path
) -> None:
    _stuck_split_app(kube, namespace, kubeconfig_path, tmp_path)
    split = ["split", "hello", "-n", namespace, "blue=90", "red=10", "--timeout", "120"]
    # 1. a live split: `abort` elsewhere hands it the request; it restores and exits 1
    proc = kprism_bg(*split, kubeconfig=kubeconfig_path)
    try:
        wait_for(
            lambda: (_operation(kube, namespace), replicas(kube, namespace, "hello-blue")),
            lambda s: s[0].get("phase") == "Progressing" and s[1] == 6,
            what="the split in flight, blue grown",
        )
        out = kprism(
            "abort", "hello", "-n", namespace, "--reason", "red is broken",
            kubeconfig=kubeconfig_path, check=0,
        )  # fmt: skip
        assert "aborted by" in out.stdout and "red is broken" in out.stdout, out
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 1 and "traffic restored to blue 100%" in err, err
    _as_before(kube, namespace)
    assert _operation(kube, namespace)["phase"] == "Aborted"

    # 2. the process driving it dies: nothing else may fight it, `abort` restores here
    proc = kprism_bg(*split, kubeconfig=kubeconfig_path)
    try:
        wait_for(
            lambda: replicas(kube, namespace, "hello-blue"), lambda n: n == 6, what="blue grown"
        )
    finally:
        proc.kill()
        proc.communicate(timeout=30)
    refused = kprism(
        "release", "hello", "-n", namespace, "--image", "registry.example/hello:3",
        kubeconfig=kubeconfig_path, check=2,
    )  # fmt: skip
    assert "is not finished" in refused.stderr and "kprism abort hello" in refused.stderr
    # the dead process's Lease must expire before anyone may restore: abort waits for it
    out = kprism("abort", "hello", "-n", namespace, kubeconfig=kubeconfig_path, timeout=120)
    assert out.returncode in (0, 1), out
    wait_for(
        lambda: _operation(kube, namespace).get("phase"),
        lambda p: p == "Aborted",
        timeout=90,
        what="the restore",
    )
    _as_before(kube, namespace)
