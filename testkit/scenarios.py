"""Zero-downtime scenarios on the data plane, shared by ``tests/dataplane`` and
``bench/zero_downtime.py``.

A scenario deploys an app whose pods are real processes (the seed's manifests, as
written or after ``kprism doctor --fix``, or the sample app), starts vegeta against its
ClusterIP (kube-proxy) or the Gateway, runs one action (a native rolling update, a kprism
release, rollback or abort), stops the load once the old pods are gone, and reports
every response: failures, latency, versions, old-version answers after the verified
cutover, and per canary step the achieved share of the new version against what the
EndpointSlices (and so the plan) said.

Runs only inside ``hack/dataplane.sh exec`` (kubectl, kprism and vegeta on PATH).
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from testkit.load import Attack, EndpointLog, Summary

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "examples" / "seed"
SAMPLE = "kprism.dev/sample-app"


def run(*argv: str, input: str | None = None, check: bool = True, timeout: float = 300) -> str:
    r = subprocess.run(
        list(argv), input=input, capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and r.returncode != 0:
        raise RuntimeError(
            f"{' '.join(argv)} failed ({r.returncode}): {r.stderr.strip() or r.stdout.strip()}"
        )
    return r.stdout


def kubectl(ns: str, *args: str, input: str | None = None, check: bool = True) -> str:
    return run("kubectl", "-n", ns, *args, input=input, check=check)


def kprism(
    ns: str, *args: str, check: bool = True, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    r = subprocess.run(
        ["kprism", "-n", ns, *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and r.returncode != 0:
        raise RuntimeError(f"kprism {' '.join(args)} failed ({r.returncode}): {r.stderr.strip()}")
    return r


# ---- manifests --------------------------------------------------------------------------
def seed_docs(*, fixed: bool) -> list[dict[str, Any]]:
    """The seed's Deployment and Service as written, or after ``kprism doctor --fix``."""
    with tempfile.TemporaryDirectory() as tmp:
        for f in SEED.glob("*.yaml"):
            shutil.copy(f, tmp)
        if fixed:
            subprocess.run(
                ["kprism", "doctor", "-f", tmp, "--fix"], capture_output=True, check=False
            )
        docs: list[dict[str, Any]] = []
        for f in sorted(Path(tmp).glob("*.yaml")):
            docs += [d for d in yaml.safe_load_all(f.read_text()) if d]
    return docs


def recommended_seed() -> list[dict[str, Any]]:
    """The seed after ``kprism doctor --fix`` plus the readinessProbe KP001 asks for
    (doctor cannot guess a health path, so it does not write one itself)."""
    docs = seed_docs(fixed=True)
    for c in deployment(docs)["spec"]["template"]["spec"]["containers"]:
        c.setdefault(
            "readinessProbe",
            {
                "httpGet": {"path": "/healthz", "port": c["ports"][0]["containerPort"]},
                "periodSeconds": 2,
            },
        )
    return docs


def unprotected(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The seed without its preStop hook, with an app that exits at once on SIGTERM."""
    out = copy.deepcopy(docs)
    for d in out:
        if d.get("kind") != "Deployment":
            continue
        for c in d["spec"]["template"]["spec"]["containers"]:
            c.get("lifecycle", {}).pop("preStop", None)
            c["env"] = [*(c.get("env") or []), {"name": "SHUTDOWN", "value": "abrupt"}]
            # exec so that SIGTERM reaches the app (the abrupt exit is the point here)
            if c.get("command") == ["sh", "-c"] and c.get("args"):
                c["args"] = [f"exec {c['args'][0].strip()}"]
    return out


def with_replicas(docs: list[dict[str, Any]], n: int) -> list[dict[str, Any]]:
    out = copy.deepcopy(docs)
    for d in out:
        if d.get("kind") == "Deployment":
            d["spec"]["replicas"] = n
    return out


def deployment(docs: list[dict[str, Any]]) -> dict[str, Any]:
    return next(d for d in docs if d.get("kind") == "Deployment")


def service(docs: list[dict[str, Any]]) -> dict[str, Any]:
    return next(d for d in docs if d.get("kind") == "Service")


# ---- cluster helpers -------------------------------------------------------------------
def new_namespace(prefix: str) -> str:
    ns = f"{prefix}-{os.urandom(3).hex()}"
    run("kubectl", "create", "namespace", ns)
    return ns


def delete_namespace(ns: str) -> None:
    run("kubectl", "delete", "namespace", ns, "--wait=false", check=False)


def apply(ns: str, docs: list[dict[str, Any]]) -> None:
    kubectl(ns, "apply", "-f", "-", input=yaml.safe_dump_all(docs))


def rollout(ns: str, name: str, timeout: str = "120s") -> None:
    kubectl(ns, "rollout", "status", f"deploy/{name}", f"--timeout={timeout}")


def pods_gone(ns: str, selector: str, timeout: float = 120) -> None:
    """Wait until no pod matching ``selector`` exists any more (processes stopped)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = kubectl(ns, "get", "pods", "-l", selector, "-o", "name")
        if not out.strip():
            return
        time.sleep(0.5)
    raise TimeoutError(f"pods {selector} still exist after {timeout}s")


def cluster_url(ns: str, svc: str, path: str = "/") -> str:
    spec = json.loads(kubectl(ns, "get", "service", svc, "-o", "json"))["spec"]
    return f"http://{spec['clusterIP']}:{spec['ports'][0]['port']}{path}"


GATEWAY_URL = "http://127.0.0.1:8000"


def http_route(ns: str, name: str, service: str, port: int) -> dict[str, str]:
    """An HTTPRoute on the data plane's Gateway (Traefik) to ``service``; returns the
    headers that reach it (its own host name)."""
    host = f"{name}.{ns}.example"
    route = {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": name},
        "spec": {
            "parentRefs": [{"name": "kprism", "namespace": "kprism-gateway"}],
            "hostnames": [host],
            "rules": [{"backendRefs": [{"name": service, "port": port}]}],
        },
    }
    apply(ns, [route])
    return {"Host": host}


def wait_routed(headers: dict[str, str], timeout: float = 30) -> None:
    """Wait until the Gateway answers 200 for the route these headers reach."""
    import http.client

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        conn = http.client.HTTPConnection("127.0.0.1", 8000, timeout=2)
        try:
            conn.request("GET", "/", headers=headers)
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        finally:
            conn.close()
        time.sleep(0.3)
    raise TimeoutError("the Gateway never routed the HTTPRoute")


class RouteLog:
    """Poll an HTTPRoute's backend weights: (time, share of backends whose name ends
    with ``suffix``) at every change."""

    def __init__(self, ns: str, name: str, suffix: str) -> None:
        self.ns, self.name, self.suffix = ns, name, suffix
        self.events: list[tuple[float, float | None]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> RouteLog:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        last: float | None = -1.0
        while not self._stop.is_set():
            out = kubectl(self.ns, "get", "httproute", self.name, "-o", "json", check=False)
            try:
                refs = json.loads(out)["spec"]["rules"][0]["backendRefs"]
            except (ValueError, KeyError, IndexError):
                refs = []
            total = sum(int(r.get("weight", 1)) for r in refs)
            mine = sum(int(r.get("weight", 1)) for r in refs if r["name"].endswith(self.suffix))
            managed = any(r["name"].endswith(self.suffix) for r in refs)
            # None: the route points at the app's Service again (no weights to compare)
            share = mine / total if total and managed else None
            if share != last:
                self.events.append((time.time(), share))
                last = share
            time.sleep(0.2)

    def windows(
        self, version: str, *, settle: float, min_len: float = 2.0
    ) -> list[tuple[float, float, str, float]]:
        out = []
        for i, (when, share) in enumerate(self.events):
            end = self.events[i + 1][0] if i + 1 < len(self.events) else time.time()
            if share is not None and end - when - settle >= min_len:
                out.append((when + settle, end, version, round(share, 4)))
        return out


# ---- the load around an action ---------------------------------------------------------
@dataclass
class Result:
    name: str
    path: str
    keepalive: bool
    summary: Summary
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "scenario": self.name,
            "path": self.path,
            "keepalive": self.keepalive,
            **self.summary.as_dict(),
            **self.extra,
        }


@dataclass
class Timeline:
    """Ready endpoints over time, by the name of the Deployment the pod belongs to."""

    log: EndpointLog

    def tracks_at(self, t: float) -> dict[str, int]:
        counts: dict[str, int] = {}
        for pod in self.log.ready_at(t):
            counts[pod.rsplit("-", 2)[0]] = counts.get(pod.rsplit("-", 2)[0], 0) + 1
        return counts

    def first_time(self, pred: Callable[[dict[str, int]], bool], after: float = 0) -> float | None:
        for when, ready in self.log.events:
            if when < after:
                continue
            counts: dict[str, int] = {}
            for pod in ready:
                counts[pod.rsplit("-", 2)[0]] = counts.get(pod.rsplit("-", 2)[0], 0) + 1
            if pred(counts):
                return when
        return None

    def windows(
        self, new: str, version: str, *, settle: float = 1.5, min_len: float = 2.0
    ) -> list[tuple[float, float, str, float]]:
        """Intervals of constant composition: (start+settle, end, new, expected share)."""
        out = []
        events = self.log.events
        for i, (when, ready) in enumerate(events):
            end = events[i + 1][0] if i + 1 < len(events) else time.time()
            counts: dict[str, int] = {}
            for pod in ready:
                counts[pod.rsplit("-", 2)[0]] = counts.get(pod.rsplit("-", 2)[0], 0) + 1
            total = sum(counts.values())
            if total and end - when - settle >= min_len:
                out.append((when + settle, end, version, round(counts.get(new, 0) / total, 4)))
        return out


def under_load(
    client: Any,
    ns: str,
    svc: str,
    url: str,
    *,
    rate: int,
    keepalive: bool,
    action: Callable[[], dict[str, Any] | None],
    lead: float = 2.0,
    tail: float = 1.0,
    min_requests: int = 0,
    headers: dict[str, str] | None = None,
) -> tuple[list[Any], Timeline, dict[str, Any]]:
    """Run ``action`` while vegeta sends ``rate`` req/s to ``url``; return every hit,
    the EndpointSlice timeline and what the action returned. The load runs ``lead``
    seconds before and ``tail`` after, and at least until ``min_requests`` were sent."""
    with EndpointLog(client, svc, ns) as log:
        attack = Attack(url, rate=rate, keepalive=keepalive, headers=headers)
        attack.start()
        try:
            time.sleep(lead)
            extra = action() or {}
            time.sleep(tail)
            while (time.time() - attack.started - 0.5) * rate < min_requests:  # vegeta starts late
                time.sleep(0.2)
        finally:
            attack.stop()
        hits = attack.hits()
        attack.cleanup()
    return hits, Timeline(log), extra


class Background:
    """Run a callable in a thread (e.g. a blocking ``kprism release``) and join it."""

    def __init__(self, fn: Callable[[], Any]) -> None:
        self.result: Any = None
        self.error: BaseException | None = None

        def target() -> None:
            try:
                self.result = fn()
            except BaseException as exc:
                self.error = exc

        self.thread = threading.Thread(target=target, daemon=True)
        self.thread.start()

    def join(self, timeout: float = 300) -> Any:
        self.thread.join(timeout)
        if self.thread.is_alive():
            raise TimeoutError("background action still running")
        if self.error is not None:
            raise self.error
        return self.result


def iter_docs(path: Path) -> Iterator[dict[str, Any]]:
    yield from (d for d in yaml.safe_load_all(path.read_text()) if d)
