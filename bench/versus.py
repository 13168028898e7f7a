"""Benchmark: kprism side by side with its baseline on the local cluster (no asserts).

    KUBECONFIG=$(hack/cluster.sh kubeconfig) .venv/bin/python bench/versus.py \
        [--runs 5] [--bluegreen 3,30] [--canary 10] [--apps 50] [--only NAME,...]

Each figure runs kprism and its baseline *interleaved* (kprism first on even runs, the
baseline first on odd ones), so drifting load hits both alike, and reports the median
[min–max] of each and the ratio of the medians:

- ``bluegreen-N``: ``kprism release APP --image … --auto-promote --scale-down-delay 0``
  (the CLI, start-up included) vs the manual kubectl procedure of the seed post on a
  namespace of its own: ``kubectl apply`` the idle track's Deployment with the new
  image, ``kubectl rollout status`` it, ``kubectl patch`` the Service's selector onto it,
  ``kubectl scale`` the old track to 0. Both alternate tracks, N replicas each.
- ``canary-N``: ``kprism release APP --image … --steps 20,40,60,80,100`` (5 steps, no
  pauses; the candidate's replicas carry the weight) vs native RollingUpdate of one
  Deployment of N replicas (maxSurge 25 %, maxUnavailable 0): ``kubectl set image`` +
  ``kubectl rollout status``.
- ``apps-N``: the dashboard's ``GET /api/apps?namespace=NS`` at N apps (served by
  ``create_app`` as ``kprism web`` does, one keep-alive connection, after a first request
  that starts its shared watch) vs the API server's own ``GET …/services`` of that
  namespace on a keep-alive connection of its own (the bytes received, not decoded).
- ``first-request``: ``kprism status APP`` from exec to its first request reaching a
  listener on 127.0.0.1 (time to the accepted connection) vs ``kubectl get service`` to
  the same.

Prints one Markdown row per figure and writes ``bench/results/versus-<UTC>.json`` with
every sample, the load average before and after each figure and the machine's CPUs.
Only 127.0.0.1 is dialled.
"""

from __future__ import annotations

import argparse
import functools
import http.client
import json
import os
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
KUBECTL = str(ROOT / ".cache" / "bin" / "current" / "kubectl")
KPRISM = str(Path(sys.executable).parent / "kprism")
RESULTS = ROOT / "bench" / "results"
IMAGE = "registry.example/hello"


def sh(*args: str, stdin: str | None = None) -> str:
    out = subprocess.run(args, input=stdin, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"{' '.join(args)}: exit {out.returncode}: {out.stderr.strip()}")
    return out.stdout


def kubectl(ns: str, *args: str, stdin: str | None = None) -> str:
    return sh(KUBECTL, "-n", ns, *args, stdin=stdin)


def deployment(
    name: str, labels: dict[str, str], replicas: int, image: str, **strategy: Any
) -> str:
    return json.dumps(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": labels},
                "strategy": {"rollingUpdate": {"maxUnavailable": 0, **strategy}},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "terminationGracePeriodSeconds": 1,
                        "containers": [
                            {
                                "name": "hello",
                                "image": image,
                                "readinessProbe": {"httpGet": {"path": "/", "port": 8888}},
                            }
                        ],
                    },
                },
            },
        }
    )


def service(name: str, selector: dict[str, str]) -> str:
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": name},
            "spec": {"selector": selector, "ports": [{"port": 8888}]},
        }
    )


def namespace() -> str:
    ns = f"vs-{uuid.uuid4().hex[:6]}"
    sh(KUBECTL, "create", "namespace", ns)
    return ns


def track_app(ns: str, replicas: int) -> None:
    """hello-blue (N replicas) and the Service hello selecting it: a kprism app."""
    labels = {"app": "hello", "color": "blue"}
    kubectl(ns, "apply", "-f", "-", stdin=deployment("hello-blue", labels, replicas, f"{IMAGE}:1"))
    kubectl(ns, "apply", "-f", "-", stdin=service("hello", labels))
    kubectl(ns, "rollout", "status", "deploy/hello-blue", "--timeout=300s")


def timed(fn: Callable[[], object]) -> float:
    t0 = time.monotonic()
    fn()
    return time.monotonic() - t0


def summary(samples: list[float]) -> dict[str, float]:
    return {
        "median_s": round(statistics.median(samples), 4),
        "min_s": round(min(samples), 4),
        "max_s": round(max(samples), 4),
    }


def side_by_side(
    name: str, runs: int, kprism: Callable[[int], None], baseline: Callable[[int], None]
) -> dict[str, Any]:
    load0 = os.getloadavg()[0]
    times: dict[str, list[float]] = {"kprism": [], "baseline": []}
    for i in range(runs):
        pair = [("kprism", kprism), ("baseline", baseline)]
        for who, fn in pair if i % 2 == 0 else reversed(pair):
            times[who].append(timed(functools.partial(fn, i)))
    row = {
        "figure": name,
        "runs": runs,
        "kprism": summary(times["kprism"]),
        "baseline": summary(times["baseline"]),
        "ratio": round(
            statistics.median(times["kprism"]) / statistics.median(times["baseline"]), 2
        ),
        "samples": {k: [round(t, 4) for t in v] for k, v in times.items()},
        "load": [round(load0, 2), round(os.getloadavg()[0], 2)],
    }
    print(json.dumps({k: v for k, v in row.items() if k != "samples"}), flush=True)
    return row


# -- figures ----------------------------------------------------------------------------


def bluegreen(replicas: int, runs: int) -> dict[str, Any]:
    ns_k, ns_m = namespace(), namespace()
    for ns in (ns_k, ns_m):
        track_app(ns, replicas)

    def with_kprism(i: int) -> None:
        sh(KPRISM, "-n", ns_k, "release", "hello", "--image", f"{IMAGE}:{i + 2}",
           "--auto-promote", "--scale-down-delay", "0", "-o", "json")  # fmt: skip

    def by_hand(i: int) -> None:
        new, old = ("green", "blue") if i % 2 == 0 else ("blue", "green")
        labels = {"app": "hello", "color": new}
        kubectl(ns_m, "apply", "-f", "-",
                stdin=deployment(f"hello-{new}", labels, replicas, f"{IMAGE}:{i + 2}"))  # fmt: skip
        kubectl(ns_m, "rollout", "status", f"deploy/hello-{new}", "--timeout=300s")
        kubectl(ns_m, "patch", "service", "hello", "-p",
                json.dumps({"spec": {"selector": labels}}))  # fmt: skip
        kubectl(ns_m, "scale", f"deploy/hello-{old}", "--replicas=0")

    try:
        return side_by_side(f"bluegreen-{replicas}", runs, with_kprism, by_hand)
    finally:
        for ns in (ns_k, ns_m):
            sh(KUBECTL, "delete", "namespace", ns, "--wait=false")


def canary(replicas: int, runs: int) -> dict[str, Any]:
    ns_k, ns_m = namespace(), namespace()
    track_app(ns_k, replicas)
    labels = {"app": "hello"}
    kubectl(ns_m, "apply", "-f", "-",
            stdin=deployment("hello", labels, replicas, f"{IMAGE}:1", maxSurge="25%"))  # fmt: skip
    kubectl(ns_m, "rollout", "status", "deploy/hello", "--timeout=300s")

    def with_kprism(i: int) -> None:
        sh(KPRISM, "-n", ns_k, "release", "hello", "--image", f"{IMAGE}:{i + 2}",
           "--steps", "20,40,60,80,100", "-o", "json")  # fmt: skip

    def native(i: int) -> None:
        kubectl(ns_m, "set", "image", "deploy/hello", f"hello={IMAGE}:{i + 2}")
        kubectl(ns_m, "rollout", "status", "deploy/hello", "--timeout=300s")

    try:
        return side_by_side(f"canary-{replicas}", runs, with_kprism, native)
    finally:
        for ns in (ns_k, ns_m):
            sh(KUBECTL, "delete", "namespace", ns, "--wait=false")


class Keepalive:
    """One HTTP(S) connection reused for every GET; returns the body's length."""

    def __init__(self, conn: http.client.HTTPConnection) -> None:
        self.conn = conn

    def get(self, path: str) -> int:
        self.conn.request("GET", path)
        resp = self.conn.getresponse()
        body = resp.read()
        if resp.status != 200:
            raise SystemExit(f"GET {path}: {resp.status} {body[:200]!r}")
        return len(body)


def api_server(kubeconfig: str) -> Keepalive:
    cfg = yaml.safe_load(Path(kubeconfig).read_text())
    ctx = next(c for c in cfg["contexts"] if c["name"] == cfg["current-context"])["context"]
    cluster = next(c for c in cfg["clusters"] if c["name"] == ctx["cluster"])["cluster"]
    user = next(u for u in cfg["users"] if u["name"] == ctx["user"])["user"]
    host, port = cluster["server"].removeprefix("https://").rsplit(":", 1)
    if host != "127.0.0.1":
        raise SystemExit(f"the bench only dials 127.0.0.1, not {host}")
    tls = ssl.create_default_context(cafile=cluster["certificate-authority"])
    tls.load_cert_chain(user["client-certificate"], user["client-key"])
    return Keepalive(http.client.HTTPSConnection(host, int(port), context=tls, timeout=30))


@contextmanager
def dashboard(kubeconfig: str) -> Iterator[int]:
    from kprism.web.app import bind, create_app, make_server

    sock = bind("127.0.0.1", 0)
    server = make_server(create_app(kubeconfig=kubeconfig))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    try:
        yield sock.getsockname()[1]
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def apps(n: int, runs: int, kubeconfig: str) -> dict[str, Any]:
    ns = namespace()
    objs = []
    for i in range(n):
        labels = {"app": f"app{i}", "color": "blue"}
        objs += [deployment(f"app{i}-blue", labels, 1, f"{IMAGE}:1"), service(f"app{i}", labels)]
    kubectl(ns, "apply", "-f", "-", stdin="\n".join(objs))
    apisrv = api_server(kubeconfig)
    try:
        with dashboard(kubeconfig) as port:
            web = Keepalive(http.client.HTTPConnection("127.0.0.1", port, timeout=30))
            path = f"/api/apps?namespace={ns}"
            deadline = time.monotonic() + 60
            while web.get(path) < 10 * n and time.monotonic() < deadline:  # the watch's LIST
                time.sleep(0.05)
            per = 20  # requests per sample: one sample is their mean

            def from_dashboard(_: int) -> None:
                for _ in range(per):
                    web.get(path)

            def from_api_server(_: int) -> None:
                for _ in range(per):
                    apisrv.get(f"/api/v1/namespaces/{ns}/services")

            row = side_by_side(f"apps-{n}", runs, from_dashboard, from_api_server)
            row["requests_per_sample"] = per
            return row
    finally:
        sh(KUBECTL, "delete", "namespace", ns, "--wait=false")


def first_request(runs: int) -> dict[str, Any]:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    port = listener.getsockname()[1]
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": f"http://127.0.0.1:{port}"}}],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "x",
            },
            f,
        )

    def until_connect(cmd: list[str]) -> None:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        conn, _ = listener.accept()
        conn.close()
        proc.kill()
        proc.wait()

    try:
        return side_by_side(
            "first-request",
            runs,
            lambda _: until_connect([KPRISM, "--kubeconfig", f.name, "status", "hello"]),
            lambda _: until_connect([KUBECTL, "--kubeconfig", f.name, "get", "service", "hello"]),
        )
    finally:
        listener.close()
        os.unlink(f.name)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--bluegreen", default="3,30", help="replica counts")
    p.add_argument("--canary", default="10", help="replica counts")
    p.add_argument("--apps", default="50", help="app counts for GET /api/apps")
    p.add_argument("--only", default="", help="figures to run: first-request,bluegreen,canary,apps")
    args = p.parse_args()
    kubeconfig = os.environ.get("KUBECONFIG", "")
    if not kubeconfig:
        raise SystemExit("set KUBECONFIG to the local cluster's: hack/cluster.sh kubeconfig")
    only = set(filter(None, args.only.split(","))) or {
        "first-request",
        "bluegreen",
        "canary",
        "apps",
    }
    sizes = {
        k: [int(x) for x in getattr(args, k).split(",") if x]
        for k in ("bluegreen", "canary", "apps")
    }
    rows = []
    if "first-request" in only:
        rows.append(first_request(args.runs))
    for n in sizes["bluegreen"] if "bluegreen" in only else ():
        rows.append(bluegreen(n, args.runs))
    for n in sizes["canary"] if "canary" in only else ():
        rows.append(canary(n, args.runs))
    for n in sizes["apps"] if "apps" in only else ():
        rows.append(apps(n, args.runs, kubeconfig))
    out = RESULTS / f"versus-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.json"
    out.write_text(
        json.dumps({"machine": {"cpus": os.cpu_count()}, "figures": rows}, indent=2) + "\n"
    )
    print(f"\nwritten: {out.relative_to(ROOT)}\n")
    print("| figure | kprism | baseline | ratio | load |")
    print("|---|---:|---:|---:|---:|")
    for r in rows:
        k, b = r["kprism"], r["baseline"]
        print(
            f"| {r['figure']} | {k['median_s']:.3f} s [{k['min_s']:.3f}–{k['max_s']:.3f}] "
            f"| {b['median_s']:.3f} s [{b['min_s']:.3f}–{b['max_s']:.3f}] | {r['ratio']}× "
            f"| {r['load'][0]}–{r['load'][1]} |"
        )


if __name__ == "__main__":
    main()
