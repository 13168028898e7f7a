"""Benchmark: ``kprism controller`` at scale on the local cluster (issue 13, item 6).

    KUBECONFIG=$(hack/cluster.sh kubeconfig) .venv/bin/python bench/controller.py \
        [--apps 500] [--namespaces 10] [--releases 50] [--idle 60]

(``make bench-controller`` starts a cluster of its own, runs this, and stops it.)

1. *One controller process* (``kprism controller``, a subprocess with its own
   ``/metrics``) over ``--apps`` idle apps (a Service and a one-pod Deployment each,
   spread over ``--namespaces`` namespaces): RSS and CPU while idle; then ``--releases``
   canary releases (25,50,100, 3 s pauses) requested at once, as ``kprism release``
   hands them over (annotation ``kprism.dev/release-request``): RSS (peak), CPU, API
   requests per release (from ``kprism_api_requests_total``, the idle rate taken off),
   wall time, and the time from a change to the first action — the request written →
   the release recorded by the controller, → the candidate Deployment written — p50/p90
   as seen by a watch here; and ``kprism_reaction_seconds`` (an observed condition → the
   engine's next action, the issue's goal) and ``kprism_engine_step_seconds`` p50/p90
   from the controller's histograms.
2. *Two shards, two replicas each* (four processes, ``--shards 2``) over the same apps:
   each leader's RSS; ``--releases`` more releases, split by shard; once shard 0's
   releases are mid-canary its leader is SIGKILLed: the time until its standby holds
   the shard's Lease, until it holds every in-flight app of the shard, whether every
   release converged (Succeeded), and whether any app of shard 1 was ever held by a
   replica of shard 0 (the other shard untouched).

Timings here, never in tests. Prints a Markdown table and writes
``bench/results/controller-<time>.json`` with the machine's load average.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from lightkube import Client, KubeConfig
from lightkube.codecs import from_dict
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Namespace, Service
from prometheus_client.parser import text_string_to_metric_families

from kprism import ops
from kprism.kube.cache import DEPLOYMENTS, SERVICES, Kind
from kprism.kube.client import Kube, Target
from kprism.model.release import ANNOTATION_RELEASE, ANNOTATION_RELEASE_REQUEST
from kprism.model.request import ReleaseRequest, request_to_json
from kprism.plan.controller import shard_of

ROOT = Path(__file__).resolve().parent.parent
LEASES = Kind("Lease", "/apis/coordination.k8s.io/v1", "leases")
LEASE_NS = "kprism-bench-system"
TERMINAL = ("Succeeded", "Failed", "Aborted")
IMAGE = "registry.example/hello"
HISTOGRAMS = ("kprism_reaction_seconds", "kprism_queue_wait_seconds", "kprism_engine_step_seconds")
TICK = os.sysconf("SC_CLK_TCK")


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


# -- what the cluster shows, through one watch per kind ----------------------------------------


class Observer:
    """Watches Services, Deployments and Leases of every namespace (kprism's own watch
    cache) and notes, per app, when things were first seen (monotonic seconds)."""

    def __init__(self, kube: Kube, namespaces: set[str]) -> None:
        self.namespaces = namespaces
        self.lock = threading.Lock()
        self.status: dict[tuple[str, str], dict[str, Any]] = {}  # the release annotation
        self.recorded: dict[tuple[str, str, str], float] = {}  # (ns, app, id) → seen
        self.candidate: dict[tuple[str, str, str], float] = {}  # (ns, app, image) → seen
        self.holders: dict[tuple[str, str], set[str]] = {}  # Lease → every holder seen
        self.lease_at: dict[tuple[str, str, str], float] = {}  # (ns, lease, holder) → seen
        self.unsubscribe = kube.cache.subscribe(
            (SERVICES, DEPLOYMENTS, LEASES), None, self.on_event, sync_timeout=120
        )

    def on_event(self, kind: str, event: str, obj: dict[str, Any]) -> None:
        now = time.monotonic()
        meta = obj.get("metadata") or {}
        ns, name = str(meta.get("namespace", "")), str(meta.get("name", ""))
        if event in ("DELETED", "RELISTED") or (ns not in self.namespaces and ns != LEASE_NS):
            return
        with self.lock:
            if kind == "Service":
                raw = (meta.get("annotations") or {}).get(ANNOTATION_RELEASE)
                if raw:
                    st = json.loads(raw)
                    self.status[(ns, name)] = st
                    self.recorded.setdefault((ns, name, str(st.get("id"))), now)
            elif kind == "Deployment":
                app = ((obj.get("spec") or {}).get("selector") or {}).get("matchLabels", {})
                tpl = ((obj.get("spec") or {}).get("template") or {}).get("spec") or {}
                for c in tpl.get("containers") or []:
                    key = (ns, str(app.get("app", "")), str(c.get("image", "")))
                    self.candidate.setdefault(key, now)
            elif kind == "Lease":
                holder = str((obj.get("spec") or {}).get("holderIdentity") or "")
                if holder:
                    self.holders.setdefault((ns, name), set()).add(holder)
                    self.lease_at.setdefault((ns, name, holder), now)

    def phase(self, ns: str, app: str, release: str) -> str:
        with self.lock:
            st = self.status.get((ns, app)) or {}
        return str(st.get("phase", "")) if st.get("id") == release else ""

    def release_of(self, ns: str, app: str) -> dict[str, Any]:
        with self.lock:
            return dict(self.status.get((ns, app)) or {})


def wait(what: str, check: Any, timeout: float, every: float = 0.1) -> float:
    """Poll ``check`` until true; the seconds it took. SystemExit past ``timeout``."""
    t0 = time.monotonic()
    while not check():
        if time.monotonic() - t0 > timeout:
            raise SystemExit(f"bench: {what}: not within {timeout:.0f}s")
        time.sleep(every)
    return time.monotonic() - t0


# -- a controller process ----------------------------------------------------------------------


class Proc:
    def __init__(self, kubeconfig: str, port: int, log: Path, *args: str) -> None:
        self.port = port
        env = {**os.environ, "KUBECONFIG": kubeconfig}
        kprism = str(Path(sys.executable).parent / "kprism")
        with log.open("ab") as out:
            self.popen = subprocess.Popen(
                [kprism, "controller", "--exclude-namespace", "kube-system",
                 "--lease-namespace", LEASE_NS, "--health-address", "127.0.0.1",
                 "--health-port", str(port), "--log-format", "json", *args],
                stdout=out, stderr=out, env=env,
            )  # fmt: skip

    @property
    def pid(self) -> int:
        return self.popen.pid

    def get(self, path: str) -> tuple[int, bytes]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=10) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()
        except OSError:
            return 0, b""

    def ready(self) -> bool:
        return self.get("/readyz")[0] == 200

    def stats(self) -> dict[str, Any]:
        code, body = self.get("/healthz")
        return json.loads(body) if code else {}

    def metrics(self) -> dict[str, Any]:
        return parse_metrics(self.get("/metrics")[1].decode())

    def memory_mb(self) -> tuple[float, float]:
        """(VmRSS, VmHWM) in MB."""
        fields = dict(
            line.split(":", 1) for line in Path(f"/proc/{self.pid}/status").read_text().splitlines()
        )
        return (
            round(int(fields["VmRSS"].split()[0]) / 1024, 1),
            round(int(fields["VmHWM"].split()[0]) / 1024, 1),
        )

    def cpu_s(self) -> float:
        stat = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(stat[11]) + int(stat[12])) / TICK

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(sig)
        try:
            self.popen.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()


def parse_metrics(text: str) -> dict[str, Any]:
    """Requests by verb and resource, and the reaction/step histograms' buckets."""
    out: dict[str, Any] = {"requests": Counter(), "hist": {}}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            if s.name == "kprism_api_requests_total":
                out["requests"][f"{s.labels['verb']} {s.labels['resource']}"] += s.value
            elif s.name.endswith("_bucket") and fam.name in HISTOGRAMS:
                out["hist"].setdefault(fam.name, []).append((float(s.labels["le"]), s.value))
            elif s.name.endswith("_sum") and fam.name in HISTOGRAMS:
                out[s.name] = s.value
    return out


def quantile(buckets: list[tuple[float, float]], q: float) -> float | None:
    """A quantile of a cumulative histogram, linear within its bucket (as PromQL's
    histogram_quantile)."""
    buckets = sorted(buckets)
    total = buckets[-1][1] if buckets else 0
    if not total:
        return None
    rank, lo, below = q * total, 0.0, 0.0
    for le, count in buckets:
        if count >= rank:
            if le == float("inf"):
                return lo
            return lo + (le - lo) * (rank - below) / max(count - below, 1e-9)
        lo, below = le, count
    return lo


def hist_delta(after: dict[str, Any], before: dict[str, Any], name: str) -> dict[str, Any]:
    b = dict(before["hist"].get(name, []))
    buckets = [(le, n - b.get(le, 0.0)) for le, n in after["hist"].get(name, [])]
    count = buckets[-1][1] if buckets else 0
    total = after.get(f"{name}_sum", 0.0) - before.get(f"{name}_sum", 0.0)
    p50, p90 = quantile(buckets, 0.5), quantile(buckets, 0.9)
    return {
        "count": int(count),
        "mean_ms": round(1000 * total / count, 1) if count else None,
        "p50_ms": round(1000 * p50, 1) if p50 is not None else None,
        "p90_ms": round(1000 * p90, 1) if p90 is not None else None,
    }


def pct(values: list[float]) -> dict[str, float | None]:
    if len(values) < 2:
        return {"p50_ms": None, "p90_ms": None}
    q = statistics.quantiles(values, n=10)
    return {"p50_ms": round(1000 * statistics.median(values), 1), "p90_ms": round(1000 * q[8], 1)}


# -- the cluster ---------------------------------------------------------------------------


def setup(client: Client, n: int, namespaces: int) -> list[tuple[str, str]]:
    tag = uuid.uuid4().hex[:5]
    names = [f"cbench-{tag}-{i}" for i in range(namespaces)]
    for ns in [*names, LEASE_NS]:
        try:
            client.create(Namespace(metadata=ObjectMeta(name=ns)))
        except Exception:  # the Lease namespace of an earlier run
            if ns != LEASE_NS:
                raise
    apps = [(names[i % namespaces], f"app{i}") for i in range(n)]

    def create(app: tuple[str, str]) -> None:
        for obj in app_objects(app[1], app[0]):
            client.create(obj)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(create, apps))
    return apps


def all_ready(kube: Kube, apps: list[tuple[str, str]]) -> bool:
    ready = 0
    for ns in {a[0] for a in apps}:
        for d in kube.list_objects("Deployment", ns):
            ready += int(((d.get("status") or {}).get("readyReplicas") or 0) >= 1)
    return ready >= len(apps)


def request_releases(
    client: Client, apps: list[tuple[str, str]], image: str
) -> dict[tuple[str, str], tuple[str, float]]:
    """Write a release request on each app at once; (release id, when) per app."""
    spec = ops.SpecArgs(
        images=[("", image)], steps="25,50,100", pause="3s", scale_down_delay=0
    ).to_spec()
    out: dict[tuple[str, str], tuple[str, float]] = {}

    def one(app: tuple[str, str]) -> None:
        rid = f"{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}-{uuid.uuid4().hex[:4]}"
        req = ReleaseRequest(id=rid, spec=spec, by="bench", at=time.strftime("%FT%TZ"))
        patch = {"metadata": {"annotations": {ANNOTATION_RELEASE_REQUEST: request_to_json(req)}}}
        t = time.monotonic()
        client.patch(Service, app[1], patch, namespace=app[0])
        out[app] = (rid, t)

    with ThreadPoolExecutor(10) as pool:
        list(pool.map(one, apps))
    return out


def converge(
    obs: Observer, asked: dict[tuple[str, str], tuple[str, float]], timeout: float
) -> float:
    return wait(
        "every release to end",
        lambda: all(obs.phase(ns, app, rid) in TERMINAL for (ns, app), (rid, _) in asked.items()),
        timeout,
        every=0.25,
    )


def reaction_times(
    obs: Observer, asked: dict[tuple[str, str], tuple[str, float]], image: str
) -> dict[str, Any]:
    taken, acted = [], []
    for (ns, app), (rid, t) in asked.items():
        if (ns, app, rid) in obs.recorded:
            taken.append(obs.recorded[(ns, app, rid)] - t)
        if (ns, app, image) in obs.candidate:
            acted.append(obs.candidate[(ns, app, image)] - t)
    return {"request_to_recorded": pct(taken), "request_to_candidate_written": pct(acted)}


# -- the two runs ------------------------------------------------------------------------------


def one_controller(
    kubeconfig: str, client: Client, obs: Observer, apps: list[tuple[str, str]],
    chosen: list[tuple[str, str]], idle: float, logs: Path, workers: int, image: str,
) -> dict[str, Any]:  # fmt: skip
    extra = ("--workers", str(workers)) if workers else ()
    proc = Proc(kubeconfig, 38611, logs / f"controller-w{workers}.log", *extra)
    try:
        t_ready = wait("the controller ready", proc.ready, 120, every=0.2)
        wait("the controller to lead", lambda: proc.stats().get("leading"), 60, every=0.2)
        cpu0, m0, t0 = proc.cpu_s(), proc.metrics(), time.monotonic()
        time.sleep(idle)  # the idle window being measured
        cpu1, m1, t1 = proc.cpu_s(), proc.metrics(), time.monotonic()
        rss_idle, _ = proc.memory_mb()
        idle_rate = sum((m1["requests"] - m0["requests"]).values()) / (t1 - t0)
        t_req = time.monotonic()
        asked = request_releases(client, chosen, image)
        converge(obs, asked, 900)
        wall = time.monotonic() - t_req  # from the first request written to the last end
        cpu2, m2 = proc.cpu_s(), proc.metrics()
        rss, hwm = proc.memory_mb()
        spent = m2["requests"] - m1["requests"]
        total = sum(spent.values())
        phases = Counter(obs.phase(ns, app, rid) for (ns, app), (rid, _) in asked.items())
        return {
            "apps": len(apps),
            "releases": len(chosen),
            "workers": workers or "default",
            "ready_s": round(t_ready, 1),
            "idle": {
                "seconds": round(t1 - t0, 1),
                "rss_mb": rss_idle,
                "cpu_percent": round(100 * (cpu1 - cpu0) / (t1 - t0), 1),
                "requests_per_min": round(60 * idle_rate, 1),
            },
            "releasing": {
                "wall_s": round(wall, 1),
                "cpu_s": round(cpu2 - cpu1, 1),
                "rss_mb": rss,
                "peak_rss_mb": hwm,
                "outcomes": dict(phases),
                "requests": int(total),
                "requests_per_release": round(total / len(chosen), 1),
                "requests_per_release_less_idle": round(
                    (total - idle_rate * wall) / len(chosen), 1
                ),
                "by_verb": dict(
                    Counter(
                        {
                            v: int(sum(n for k, n in spent.items() if k.startswith(v + " ")))
                            for v in ("GET", "LIST", "PATCH", "PUT", "POST", "DELETE", "WATCH")
                        }
                    )
                ),
                **reaction_times(obs, asked, image),
                "reaction": hist_delta(m2, m1, "kprism_reaction_seconds"),
                "queue_wait": hist_delta(m2, m1, "kprism_queue_wait_seconds"),
                "engine_step": hist_delta(m2, m1, "kprism_engine_step_seconds"),
            },
            "load": os.getloadavg()[0],
        }
    finally:
        proc.stop()


def shards(
    kubeconfig: str, client: Client, obs: Observer, apps: list[tuple[str, str]],
    chosen: list[tuple[str, str]], idle: float, logs: Path, workers: int, image: str,
) -> dict[str, Any]:  # fmt: skip
    extra = ("--workers", str(workers)) if workers else ()
    procs = {
        (shard, replica): Proc(
            kubeconfig, 38621 + 2 * shard + replica, logs / f"shard{shard}-{replica}.log",
            "--shards", "2", "--shard-index", str(shard), *extra,
        )
        for shard in (0, 1)
        for replica in (0, 1)
    }  # fmt: skip
    try:
        for p in procs.values():
            wait("every replica ready", p.ready, 180, every=0.2)
        leaders: dict[int, Proc] = {}
        for shard in (0, 1):
            wait(
                f"a leader of shard {shard}",
                lambda shard=shard: any(procs[(shard, r)].stats().get("leading") for r in (0, 1)),
                60,
                every=0.2,
            )
            leaders[shard] = next(
                procs[(shard, r)] for r in (0, 1) if procs[(shard, r)].stats().get("leading")
            )
        time.sleep(idle)  # idle: what each leader holds at rest
        idle_rss = {s: leaders[s].memory_mb()[0] for s in (0, 1)}
        standby_rss = {
            s: next(
                p for (sh, _), p in procs.items() if sh == s and p is not leaders[s]
            ).memory_mb()[0]
            for s in (0, 1)
        }
        per_shard = Counter(shard_of(ns, app, 2) for ns, app in apps)
        asked = request_releases(client, chosen, image)
        t_asked = time.monotonic()
        mine = [a for a in chosen if shard_of(a[0], a[1], 2) == 0]

        def mid_canary() -> bool:  # shard 0's releases are past their first weight
            moving = 0
            for ns, app in mine:
                st = obs.release_of(ns, app)
                if st.get("id") == asked[(ns, app)][0] and st.get("phase") not in TERMINAL:
                    moving += int(float(st.get("achieved_weight") or 0) > 0)
            return moving >= max(1, len(mine) // 3)

        wait("shard 0's releases mid-canary", mid_canary, 300, every=0.1)
        in_flight = [a for a in mine if obs.phase(a[0], a[1], asked[a][0]) not in TERMINAL]
        victim = leaders[0]
        standby = next(p for (sh, _), p in procs.items() if sh == 0 and p is not victim)
        t_kill = time.monotonic()
        victim.stop(signal.SIGKILL)
        lease_s = time.monotonic() - t_kill
        lease_s += wait(
            "the standby to lead shard 0", lambda: standby.stats().get("leading"), 120, every=0.05
        )
        mark = f":{standby.pid}:"  # identities are kprism-controller@HOST:PID:RAND

        def apps_taken() -> bool:  # every in-flight app held by the standby, or ended
            for ns, app in in_flight:
                if obs.phase(ns, app, asked[(ns, app)][0]) in TERMINAL:
                    continue
                with obs.lock:
                    held = obs.holders.get((ns, f"kprism-{app}"), set())
                if not any(mark in h for h in held):
                    return False
            return True

        apps_s = time.monotonic() - t_kill
        apps_s += wait("the standby to hold shard 0's apps", apps_taken, 300, every=0.05)
        with obs.lock:
            took = sum(
                1
                for ns, app in in_flight
                if any(mark in h for h in obs.holders.get((ns, f"kprism-{app}"), set()))
            )
        converge(obs, asked, 900)
        wall = time.monotonic() - t_asked
        phases = Counter(obs.phase(ns, app, rid) for (ns, app), (rid, _) in asked.items())
        # which replicas ever held an app of shard 1
        shard0_ids = {
            h
            for (ns, lease), hs in obs.holders.items()
            if ns == LEASE_NS and lease == "kprism-controller-0"
            for h in hs
        }
        crossed = sorted(
            f"{ns}/{app}"
            for ns, app in chosen
            if shard_of(ns, app, 2) == 1
            and obs.holders.get((ns, f"kprism-{app}"), set()) & shard0_ids
        )
        return {
            "workers": workers or "default",
            "apps_per_shard": {str(s): per_shard[s] for s in (0, 1)},
            "releases": len(chosen),
            "releases_shard0": len(mine),
            "idle_rss_mb_leader": {str(s): idle_rss[s] for s in (0, 1)},
            "idle_rss_mb_standby": {str(s): standby_rss[s] for s in (0, 1)},
            "killed_in_flight": len(in_flight),
            "kill_to_standby_leading_s": round(lease_s, 2),
            "kill_to_apps_held_s": round(apps_s, 2),
            "taken_over_by_standby": took,
            "wall_s": round(wall, 1),
            "outcomes": dict(phases),
            "shard1_apps_held_by_shard0": crossed,
            "kill_at_s_after_requests": round(t_kill - t_asked, 1),
            "load": os.getloadavg()[0],
        }
    finally:
        for p in procs.values():
            p.stop()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--apps", type=int, default=500)
    p.add_argument("--namespaces", type=int, default=10)
    p.add_argument("--releases", type=int, default=50)
    p.add_argument("--idle", type=float, default=60.0, help="seconds of idle to measure")
    p.add_argument("--no-shards", action="store_true", help="only the one-process run")
    p.add_argument(
        "--workers",
        default="0",
        help="comma-separated --workers of the one-process runs, each on the same apps "
        "(0: the controller's default); the shards run with the last",
    )
    args = p.parse_args()
    kubeconfig = os.environ.get("KUBECONFIG", "")
    if not kubeconfig:
        raise SystemExit("set KUBECONFIG to the local cluster's: hack/cluster.sh kubeconfig")
    client = Client(KubeConfig.from_file(kubeconfig), field_manager="kprism-bench")
    kube = Kube(Target(kubeconfig=kubeconfig))
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    logs = ROOT / ".cache" / "bench" / f"controller-{stamp}"
    logs.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    apps = setup(client, args.apps, args.namespaces)
    wait("every app's pod ready", lambda: all_ready(kube, apps), 900, every=2)
    print(f"bench: {len(apps)} apps ready in {time.monotonic() - t0:.0f}s", flush=True)
    obs = Observer(kube, {a[0] for a in apps})
    by_shard = {s: [a for a in apps if shard_of(a[0], a[1], 2) == s] for s in (0, 1)}
    half = args.releases // 2
    chosen = by_shard[0][:half] + by_shard[1][: args.releases - half]
    result: dict[str, Any] = {"machine": {"cpus": os.cpu_count()}, "logs": str(logs)}
    workers = [int(w) for w in args.workers.split(",") if w]
    result["one_controller"] = []
    try:
        for n, w in enumerate(workers):  # a new image each run: its first sighting is its own
            row = one_controller(
                kubeconfig, client, obs, apps, chosen, args.idle, logs, w, f"{IMAGE}:r{n}"
            )
            result["one_controller"].append(row)
            print(json.dumps(row), flush=True)
        if not args.no_shards:
            result["two_shards"] = shards(
                kubeconfig, client, obs, apps, chosen, min(args.idle, 20.0), logs,
                workers[-1], f"{IMAGE}:shards",
            )  # fmt: skip
            print(json.dumps(result["two_shards"]), flush=True)
    finally:
        obs.unsubscribe()
        for ns in {a[0] for a in apps}:
            client.delete(Namespace, ns)
        kube.close()
    out = ROOT / "bench" / "results" / f"controller-{stamp}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwritten: {out.relative_to(ROOT)}")
    for one in result["one_controller"]:
        table(one)


def table(one: dict[str, Any]) -> None:
    rel = one["releasing"]
    print(f"\n--workers {one['workers']}\n\n| figure | value | goal |\n|---|---:|---:|")
    for name, value, goal in (
        (f"RSS, {one['apps']} idle apps", f"{one['idle']['rss_mb']} MB", "< 300 MB"),
        (f"peak RSS, {one['releases']} releases", f"{rel['peak_rss_mb']} MB", "< 300 MB"),
        ("CPU idle", f"{one['idle']['cpu_percent']} %", ""),
        ("CPU for the releases", f"{rel['cpu_s']} s in {rel['wall_s']} s", ""),
        ("API requests per release", f"{rel['requests_per_release_less_idle']}", ""),
        ("request → recorded p50/p90", _pair(rel["request_to_recorded"]), ""),
        ("request → candidate written p50/p90", _pair(rel["request_to_candidate_written"]), ""),
        ("condition → next action p50/p90", _pair(rel["reaction"]), "< 100 ms p50"),
        ("  of which: waiting for a worker", _pair(rel["queue_wait"]), ""),
        ("  an engine step (observe → act)", _pair(rel["engine_step"]), ""),
    ):
        print(f"| {name} | {value} | {goal} |")


def _pair(d: dict[str, Any]) -> str:
    return f"{d.get('p50_ms')} / {d.get('p90_ms')} ms"


if __name__ == "__main__":
    main()
