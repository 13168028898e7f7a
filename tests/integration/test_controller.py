"""``kprism controller`` against the real local cluster (issue 13).

The controller runs in this process (:class:`kprism.controller.Controller`, so the test
can read its request counts) or as ``kprism controller`` subprocesses (to SIGKILL one).
Everything asserted is an outcome or a count, never a timing.
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from lightkube import Client
from lightkube.resources.coordination_v1 import Lease
from lightkube.resources.core_v1 import Service

from kprism import ops
from kprism.controller import Config, Controller
from kprism.kube.cache import APP_KINDS
from kprism.kube.client import Kube, Target
from kprism.plan.controller import Scope, Selector
from tests.integration.helpers import (
    EndpointSampler,
    kprism,
    kprism_bg,
    make_app,
    release_status,
    replicas,
    selector,
    wait_for,
)

V2 = "registry.example/hello:2"
V3 = "registry.example/hello:3"
LEASE = 6  # seconds: short Leases, so that takeovers in these tests are quick


@pytest.fixture
def controllers(kubeconfig_path: str, namespace: str) -> Iterator[Callable[..., Controller]]:
    """Start in-process controllers (Leases in the test's namespace); stopped after."""
    started: list[tuple[Controller, Kube]] = []

    def start(scope: Scope | None = None, **config: Any) -> Controller:
        kube = Kube(Target(kubeconfig=kubeconfig_path))
        c = Controller(
            kube,
            Config(
                scope=scope or Scope(namespaces=(namespace,)),
                lease_namespace=namespace,
                lease_duration=LEASE,
                standby_retry=0.5,
                **config,
            ),
        )
        c.start()
        started.append((c, kube))
        return c

    yield start
    for c, kube in started:
        c.stop()
        kube.close()


def leading(c: Controller) -> None:
    wait_for(c.leading, bool, timeout=30, what="the controller to lead")


def app_holder(kube: Client, namespace: str, app: str = "hello") -> str:
    try:
        lease = kube.get(Lease, f"kprism-{app}", namespace=namespace)
    except Exception:
        return ""
    return (lease.spec.holderIdentity or "") if lease.spec else ""


def phase(kube: Client, namespace: str, app: str = "hello") -> str:
    return str(release_status(kube, namespace, app).get("phase", ""))


def finished(
    kube: Client, namespace: str, app: str = "hello", *, timeout: float = 120
) -> dict[str, Any]:
    wait_for(
        lambda: phase(kube, namespace, app),
        lambda p: p in ("Succeeded", "Failed", "Aborted"),
        timeout=timeout,
        what=f"release of {app} to finish",
    )
    return release_status(kube, namespace, app)


def test_a_release_the_cli_gave_up_on_is_driven_to_its_end(
    kube: Client, namespace: str, kubeconfig_path: str, controllers: Callable[..., Controller]
) -> None:
    make_app(kube, namespace)
    # a CI job that gives up (--timeout) in a timed canary pause: it gives the Lease back
    # and nobody drives the release any more
    out = kprism(
        "release", "hello", "-n", namespace, "--image", V2, "--steps", "50,100", "--pause",
        "20s", "--scale-down-delay", "0", "--timeout", "8", kubeconfig=kubeconfig_path,
    )  # fmt: skip
    assert out.returncode == 1 and "gave up waiting" in out.stderr, out.stderr
    assert phase(kube, namespace) == "Progressing"
    assert app_holder(kube, namespace) == ""
    c = controllers()
    with EndpointSampler(kubeconfig_path, namespace) as sampler:
        st = finished(kube, namespace)
    assert st["phase"] == "Succeeded", st
    assert replicas(kube, namespace, "hello-blue") == 0
    assert c.counts["adopted"] == 1 and c.counts["finished"] == 1, c.counts
    assert app_holder(kube, namespace) == ""  # given back once the release ended
    assert not sampler.violations, sampler.violations


def test_intents_from_the_cli_are_acted_on_by_the_controller(
    kube: Client, namespace: str, kubeconfig_path: str, controllers: Callable[..., Controller]
) -> None:
    make_app(kube, namespace)
    c = controllers()
    leading(c)
    # --no-wait: the CLI drives to the wait point (await-promotion) and leaves
    kprism(
        "release", "hello", "-n", namespace, "--image", V2, "--scale-down-delay", "0",
        "--no-wait", kubeconfig=kubeconfig_path, check=0,
    )  # fmt: skip
    # the controller takes the release waiting for promotion and holds it there
    wait_for(lambda: app_holder(kube, namespace), lambda h: h == c.identity, what="takeover")
    assert release_status(kube, namespace)["step"] == "await-promotion"
    out = kprism("promote", "hello", "-n", namespace, kubeconfig=kubeconfig_path, check=0)
    assert "Progressing" in out.stdout or "Succeeded" in out.stdout, out.stdout
    assert finished(kube, namespace)["phase"] == "Succeeded"
    assert selector(kube, namespace)["color"] == "green"
    # the next release into blue, aborted from the CLI while the controller holds it
    kprism(
        "release", "hello", "-n", namespace, "--image", V3, "--no-wait",
        kubeconfig=kubeconfig_path, check=0,
    )  # fmt: skip
    wait_for(lambda: app_holder(kube, namespace), lambda h: h == c.identity, what="takeover")
    out = kprism("abort", "hello", "-n", namespace, kubeconfig=kubeconfig_path)
    assert out.returncode == 0, out.stderr  # handed to the engine driving it
    assert finished(kube, namespace)["phase"] == "Aborted"
    assert selector(kube, namespace)["color"] == "green"
    assert replicas(kube, namespace, "hello-blue") == 0


def test_a_release_of_a_crashed_cli_is_resumed(
    kube: Client, namespace: str, kubeconfig_path: str, controllers: Callable[..., Controller]
) -> None:
    make_app(kube, namespace)
    c = controllers()
    leading(c)
    proc = kprism_bg(
        "release", "hello", "-n", namespace, "--image", V2, "--auto-promote",
        "--scale-down-delay", "0", kubeconfig=kubeconfig_path,
        env_extra={"KPRISM_FAILPOINT": "after-record:switch-traffic"},
    )  # fmt: skip
    proc.communicate(timeout=120)
    assert proc.returncode == -signal.SIGKILL, "the failpoint did not fire"
    st = finished(kube, namespace)
    assert st["phase"] == "Succeeded", st
    assert selector(kube, namespace) == {"app": "hello", "color": "green"}
    assert c.counts["adopted"] == 1, c.counts


def test_one_watch_per_kind_for_every_app_and_release(
    kube: Client, namespace: str, kubeconfig_path: str, controllers: Callable[..., Controller]
) -> None:
    names = ["a", "b", "c", "d"]
    for name in names:
        make_app(kube, namespace, name=name, replicas=1)
        svc = kube.get(Service, name, namespace=namespace)
        svc.metadata.labels = {**(svc.metadata.labels or {}), "kprism-test": namespace}
        kube.replace(svc)
    # every namespace, narrowed to this test's apps by a Service label selector
    c = controllers(Scope(selector=Selector.parse(f"kprism-test={namespace}")))
    leading(c)
    # four releases recorded and left at once (nobody drives them: the Leases are free)
    k = Kube(Target(kubeconfig=kubeconfig_path))
    spec = ops.SpecArgs(images=[("", V2)], steps="50,100", pause="1s", scale_down_delay=0)
    for name in names:
        _, lease = ops.start_release(k, ops.App(name=name, namespace=namespace), spec.to_spec())
        lease.release()
    k.close()
    for name in names:
        assert finished(kube, namespace, name)["phase"] == "Succeeded"
    assert c.counts["finished"] == len(names), c.counts
    for kind in ("services", "deployments", "pods", "endpointslices", "horizontalpodautoscalers"):
        assert c.kube.requests[f"WATCH {kind}"] == 1, c.kube.requests
    assert c.kube.cache.stats()["informers"] == len(APP_KINDS)
    # the engines observed from the cache: no LIST of pods per step (the informer's LIST,
    # and a fresh read after a write conflict)
    assert c.kube.requests["GET pods"] <= 1 + c.counts["conflicts"], (c.counts, c.kube.requests)
    assert c.counts["steps"] > 4 * len(names), c.counts
