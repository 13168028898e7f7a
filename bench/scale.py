"""Benchmark: kprism at scale on the local cluster (not a test; no asserts).

    KUBECONFIG=$(hack/cluster.sh kubeconfig) .venv/bin/python bench/scale.py \
        [--apps 50,200] [--runs 1] [--wait 60] [--cli-runs 5]

1. *N concurrent releases in one process* (threads, one shared connection — what the
   controller does), all apps in one namespace vs one namespace per app: wall time, CPU
   time, peak threads, peak RSS, API requests, releases done.
2. *A release waiting for promotion*: API requests per minute, by verb and resource.
3. *Start-up*: ``kprism --help`` and ``kprism --version`` vs ``kubectl version --client``,
   interleaved.

Prints a Markdown table and writes ``bench/results/scale-<time>.json``. The machine's
load average is recorded with every figure: other work on the machine shows up in it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

from lightkube import Client, KubeConfig
from lightkube.codecs import from_dict
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.core_v1 import Namespace

from kprism import ops
from kprism.engine.loop import Engine
from kprism.errors import TimeoutError_
from kprism.kube.client import Kube, Target
from kprism.model.release import Change, Phase, ReleaseSpec

ROOT = Path(__file__).resolve().parent.parent
KUBECTL = ROOT / ".cache" / "bin" / "current" / "kubectl"
SPEC = ReleaseSpec(
    change=Change(images={"": "registry.example/hello:2"}), auto_promote=True, scale_down_delay=0
)


def app_objects(name: str, ns: str) -> list[Any]:
    labels = {"app": name, "color": "blue"}
    return [
        from_dict(
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": f"{name}-blue", "namespace": ns},
                "spec": {
                    "replicas": 1,
                    "selector": {"matchLabels": labels},
                    "strategy": {"rollingUpdate": {"maxUnavailable": 0}},
                    "template": {
                        "metadata": {"labels": labels},
                        "spec": {
                            "terminationGracePeriodSeconds": 1,
                            "containers": [
                                {
                                    "name": "hello",
                                    "image": "registry.example/hello:1",
                                    "readinessProbe": {"httpGet": {"path": "/", "port": 8888}},
                                }
                            ],
                        },
                    },
                },
            }
        ),
        from_dict(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": name, "namespace": ns},
                "spec": {"selector": labels, "ports": [{"port": 8888}]},
            }
        ),
    ]


def setup(client: Client, n: int, shared: bool) -> list[ops.App]:
    tag = uuid.uuid4().hex[:5]
    apps = []
    namespaces = [f"bench-{tag}"] if shared else [f"bench-{tag}-{i}" for i in range(n)]
    for ns in namespaces:
        client.create(Namespace(metadata=ObjectMeta(name=ns)))
    for i in range(n):
        ns = namespaces[0] if shared else namespaces[i]
        name = f"app{i}"
        for obj in app_objects(name, ns):
            client.create(obj)
        apps.append(ops.App(name=name, namespace=ns))
    deadline = time.monotonic() + 300
    for a in apps:
        while True:
            dep = client.get(Deployment, f"{a.name}-blue", namespace=a.namespace)
            if dep.status and dep.status.readyReplicas == 1:
                break
            if time.monotonic() > deadline:
                raise SystemExit(f"{a.namespace}/{a.name} not ready in 300s")
            time.sleep(0.2)
    return apps


def teardown(client: Client, apps: list[ops.App]) -> None:
    for ns in {a.namespace for a in apps}:
        client.delete(Namespace, ns)


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def concurrent(client: Client, kubeconfig: str, n: int, shared: bool) -> dict[str, Any]:
    apps = setup(client, n, shared)
    kube = Kube(Target(kubeconfig=kubeconfig))
    done: list[str] = []
    errors: list[str] = []
    peak_threads = threading.active_count()
    stop = threading.Event()

    def one(a: ops.App) -> None:
        try:
            st = ops.release(kube, a, SPEC, timeout=900)
            if st.phase == Phase.SUCCEEDED:
                done.append(a.name)
        except Exception as exc:  # a benchmark reports failures, it does not stop on them
            errors.append(f"{a.namespace}/{a.name}: {exc}")

    def watch_threads() -> None:
        nonlocal peak_threads
        while not stop.wait(0.2):
            peak_threads = max(peak_threads, threading.active_count())

    monitor = threading.Thread(target=watch_threads, daemon=True)
    monitor.start()
    before = Counter(kube.requests)
    cpu0, t0 = cpu(), time.monotonic()
    workers = [threading.Thread(target=one, args=(a,)) for a in apps]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    wall, cpu_s = time.monotonic() - t0, cpu() - cpu0
    stop.set()
    spent = Counter(kube.requests)
    spent.subtract(before)
    ops.disconnect(kube, notify_wait=120)  # the notifier reads receivers through it
    teardown(client, apps)
    return {
        "apps": n,
        "layout": "one namespace" if shared else "namespace per app",
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu_s, 2),
        "done": len(done),
        "errors": errors[:5],
        "peak_threads": peak_threads,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "requests": sum(spent.values()),
        "watches": sum(v for k, v in spent.items() if k.startswith("WATCH")),
        "load": os.getloadavg()[0],
    }


def waiting(client: Client, kubeconfig: str, seconds: float) -> dict[str, Any]:
    [app] = setup(client, 1, True)
    kube = Kube(Target(kubeconfig=kubeconfig))
    spec = ReleaseSpec(change=SPEC.change)  # waits for `kprism promote`
    _, lease = ops.start_release(kube, app, spec)
    engine = Engine(
        kube, namespace=app.namespace, service=app.name, track_label="color", lease=lease
    )
    engine.run(until=lambda s: s.phase == Phase.PAUSED, timeout=120)
    with kube.feed(namespace=app.namespace, service=app.name, app_selector={"app": app.name}):
        before = Counter(kube.requests)
        with contextlib.suppress(TimeoutError_):
            engine.run(timeout=seconds)
        spent = Counter(kube.requests)
        spent.subtract(before)
    lease.release()
    kube.close()
    teardown(client, [app])
    per_min = {k: round(v * 60 / seconds, 1) for k, v in sorted((+spent).items())}
    return {
        "seconds": seconds,
        "per_minute": per_min,
        "total_per_minute": round(sum(per_min.values()), 1),
        "load": os.getloadavg()[0],
    }


def startup(runs: int) -> dict[str, Any]:
    kprism = str(Path(sys.executable).parent / "kprism")
    cmds = {
        "kprism --help": [kprism, "--help"],
        "kprism --version": [kprism, "--version"],
        "kubectl version --client": [str(KUBECTL), "version", "--client"],
    }
    times: dict[str, list[float]] = {k: [] for k in cmds}
    for _ in range(runs):  # interleaved: drifting load hits every command alike
        for name, cmd in cmds.items():
            t0 = time.monotonic()
            subprocess.run(cmd, capture_output=True, check=True)
            times[name].append(time.monotonic() - t0)
    return {
        name: {
            "median_s": round(statistics.median(t), 3),
            "min_s": round(min(t), 3),
            "max_s": round(max(t), 3),
        }
        for name, t in times.items()
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--apps", default="50,200", help="comma-separated app counts")
    p.add_argument("--wait", type=float, default=60.0, help="seconds of waiting to count")
    p.add_argument("--cli-runs", type=int, default=5)
    args = p.parse_args()
    kubeconfig = os.environ.get("KUBECONFIG", "")
    if not kubeconfig:
        raise SystemExit("set KUBECONFIG to the local cluster's: hack/cluster.sh kubeconfig")
    client = Client(KubeConfig.from_file(kubeconfig), field_manager="kprism-bench")
    result: dict[str, Any] = {"machine": {"cpus": os.cpu_count()}, "concurrent": []}
    result["startup"] = startup(args.cli_runs)
    print(json.dumps(result["startup"]), flush=True)
    result["waiting"] = waiting(client, kubeconfig, args.wait)
    print(json.dumps(result["waiting"]), flush=True)
    for n in (int(x) for x in args.apps.split(",") if x):
        for shared in (False, True):  # interleaved per size
            row = concurrent(client, kubeconfig, n, shared)
            result["concurrent"].append(row)
            print(json.dumps(row), flush=True)
    out = (
        ROOT / "bench" / "results" / f"scale-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.json"
    )
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwritten: {out.relative_to(ROOT)}")
    print("\n| apps | layout | wall | CPU | done | peak threads | requests | watches |")
    print("|---:|---|---:|---:|---:|---:|---:|---:|")
    for r in result["concurrent"]:
        print(
            f"| {r['apps']} | {r['layout']} | {r['wall_s']} s | {r['cpu_s']} s | "
            f"{r['done']}/{r['apps']} | {r['peak_threads']} | {r['requests']} | {r['watches']} |"
        )


if __name__ == "__main__":
    main()
