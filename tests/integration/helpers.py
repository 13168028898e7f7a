"""Small builders and waits shared by integration tests (test code only)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from lightkube import Client
from lightkube.codecs import from_dict
from lightkube.resources.discovery_v1 import EndpointSlice

T = TypeVar("T")


def deployment(
    name: str,
    labels: dict[str, str],
    *,
    replicas: int = 3,
    image: str = "registry.example/hello:1",
    ready_delay: str = "1s",
    max_unavailable: int | str = 0,
    max_surge: int | str = 1,
    grace: int = 1,
    extra_pod_annotations: dict[str, str] | None = None,
) -> Any:
    annotations = {"pod-ready.stage.kwok.x-k8s.io/delay": ready_delay}
    annotations.update(extra_pod_annotations or {})
    return from_dict(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name, "labels": labels},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": labels},
                "strategy": {
                    "type": "RollingUpdate",
                    "rollingUpdate": {"maxUnavailable": max_unavailable, "maxSurge": max_surge},
                },
                "template": {
                    "metadata": {"labels": labels, "annotations": annotations},
                    "spec": {
                        "terminationGracePeriodSeconds": grace,
                        "containers": [
                            {
                                "name": "hello",
                                "image": image,
                                "ports": [{"containerPort": 8888}],
                                "readinessProbe": {"httpGet": {"path": "/", "port": 8888}},
                            }
                        ],
                    },
                },
            },
        }
    )


def service(name: str, selector: dict[str, str]) -> Any:
    return from_dict(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": name},
            "spec": {
                "selector": selector,
                "ports": [{"name": "web", "port": 8888, "targetPort": 8888, "protocol": "TCP"}],
            },
        }
    )


def ready_endpoints(kube: Client, namespace: str, service_name: str) -> set[str]:
    """Names of the pods the Service's EndpointSlices list as ready."""
    names: set[str] = set()
    for es in kube.list(
        EndpointSlice,
        namespace=namespace,
        labels={"kubernetes.io/service-name": service_name},
    ):
        for ep in es.endpoints or []:
            if ep.conditions and ep.conditions.ready and ep.targetRef and ep.targetRef.name:
                names.add(ep.targetRef.name)
    return names


def wait_for(
    fn: Callable[[], T], pred: Callable[[T], bool], *, timeout: float = 60.0, what: str = ""
) -> T:
    deadline = time.monotonic() + timeout
    value = fn()
    while not pred(value):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}: last {value!r}")
        time.sleep(0.1)
        value = fn()
    return value


def kprism(
    *args: str, kubeconfig: str, timeout: float = 180, check: int | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the real CLI in its own process (as an operator or CI would)."""
    env = {**os.environ, "KUBECONFIG": kubeconfig, "COLUMNS": "200"}
    out = subprocess.run(
        [sys.executable, "-m", "kprism.cli.main", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        check=False,
    )
    if check is not None:
        assert out.returncode == check, (
            f"kprism {' '.join(args)} exited {out.returncode}, wanted {check}\n"
            f"stdout: {out.stdout}\nstderr: {out.stderr}"
        )
    return out


def kprism_bg(
    *args: str, kubeconfig: str, env_extra: dict[str, str] | None = None
) -> subprocess.Popen[str]:
    env = {**os.environ, "KUBECONFIG": kubeconfig, "COLUMNS": "200", **(env_extra or {})}
    return subprocess.Popen(
        [sys.executable, "-m", "kprism.cli.main", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def make_app(
    kube: Client,
    namespace: str,
    *,
    name: str = "hello",
    replicas: int = 3,
    ready_delay: str = "1s",
    track: str | None = "blue",
    service_track: bool = True,
) -> None:
    """A blue track Deployment and a Service pinned to it (the state after adopt)."""
    labels = {"app": name, **({"color": track} if track else {})}
    dep_name = f"{name}-{track}" if track else name
    kube.create(
        deployment(dep_name, labels, replicas=replicas, ready_delay=ready_delay),
        namespace=namespace,
    )
    sel = labels if service_track else {"app": name}
    kube.create(service(name, sel), namespace=namespace)
    wait_for(
        lambda: len(ready_endpoints(kube, namespace, name)),
        lambda n: n == replicas,
        what=f"{replicas} ready endpoints of {name}",
    )


def release_status(kube: Client, namespace: str, app: str = "hello") -> dict[str, Any]:
    from lightkube.resources.core_v1 import Service as Svc

    svc = kube.get(Svc, app, namespace=namespace)
    raw = (svc.metadata.annotations or {}).get("kprism.dev/release")
    return json.loads(raw) if raw else {}


def selector(kube: Client, namespace: str, app: str = "hello") -> dict[str, str]:
    from lightkube.resources.core_v1 import Service as Svc

    return dict(kube.get(Svc, app, namespace=namespace).spec.selector or {})


def replicas(kube: Client, namespace: str, name: str) -> int:
    from lightkube.resources.apps_v1 import Deployment as Dep

    return int(kube.get(Dep, name, namespace=namespace).spec.replicas or 0)


class EndpointSampler:
    """Samples the Service's ready endpoints on every change (kprism's own watch feed).

    ``violations`` lists moments when the Service had no ready endpoint while the
    stable track had ready pods: the invariant kprism must never break.
    """

    def __init__(
        self, kubeconfig: str, namespace: str, app: str = "hello", stable: str = "blue"
    ) -> None:
        from kprism.kube.client import Kube, Target

        self.kube = Kube(Target(kubeconfig=kubeconfig, namespace=namespace))
        self.ns, self.app, self.stable = namespace, app, stable
        self.samples: list[int] = []
        self.violations: list[str] = []
        self._stop = threading.Event()
        self._feed = self.kube.feed(namespace=namespace, service=app, app_selector={"app": app})
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> EndpointSampler:
        self._feed.start()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._feed.poke()
        self._thread.join(timeout=10)
        self._feed.stop(join=True)
        self.kube.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._feed.wait(1.0)

    def sample(self) -> None:
        eps = self.kube.ready_endpoints(self.app, self.ns)
        pods = self.kube.list_pods(self.ns, {"app": self.app})
        stable_ready = [
            p
            for p in pods
            if (p["metadata"].get("labels") or {}).get("color") == self.stable
            and not p["metadata"].get("deletionTimestamp")
            and any(
                c.get("type") == "Ready" and c.get("status") == "True"
                for c in (p.get("status") or {}).get("conditions") or []
            )
        ]
        self.samples.append(len(eps))
        if not eps and stable_ready:
            self.violations.append(
                f"0 ready endpoints while {len(stable_ready)} {self.stable} pods were ready"
            )
