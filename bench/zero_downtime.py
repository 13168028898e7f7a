"""Zero-downtime benchmark: every strategy under load on the data plane.

Run inside the data plane (``make bench-zero-downtime`` does all of it):

    hack/dataplane.sh up
    hack/dataplane.sh exec -- python bench/zero_downtime.py [--only NAME...] [--rate 100]

For each scenario × manifest (the seed as written, and after ``kprism doctor --fix``
with the readinessProbe it asks for) × path (ClusterIP through kube-proxy, and the
Gateway when one runs) × connections (keep-alive, fresh), vegeta sends a fixed rate
while the action runs, and every response is recorded. Writes
``bench/results/zero-downtime-<UTC time>.json`` and prints a Markdown table (the one in
``docs/zero-downtime.md``). Prints numbers; asserts nothing.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lightkube import Client, KubeConfig  # noqa: E402

from testkit import scenarios as sc  # noqa: E402
from testkit.load import in_dataplane_netns, summarize  # noqa: E402

APP = "py-hello-service"
V2 = "hello=localhost:5001/py-http:2"
GATEWAY = sc.GATEWAY_URL


def _adopt(ns: str, docs: list[dict[str, Any]]) -> None:
    sc.apply(ns, docs)
    sc.rollout(ns, "py-hello-blue")
    sc.kprism(ns, "adopt", APP)


# A scenario: setup(ns, docs) -> None, action(ns) -> None; the name says what happens.
def rolling(ns: str) -> None:
    sc.kubectl(ns, "set", "image", "deploy/py-hello-blue", V2)
    sc.rollout(ns, "py-hello-blue", "300s")
    time.sleep(1)


def bg_release(ns: str) -> None:
    sc.kprism(ns, "release", APP, "--image", V2, "--auto-promote", "--scale-down-delay", "2")
    sc.pods_gone(ns, "color=blue")


def bg_rollback(ns: str) -> None:
    sc.kprism(ns, "rollback", APP, "--scale-down-delay", "2")
    sc.pods_gone(ns, "color=green")


def bg_abort(ns: str) -> None:
    sc.kprism(ns, "release", APP, "--image", V2, "--preview", "--no-wait")
    sc.rollout(ns, "py-hello-green")
    _abort(ns)
    sc.pods_gone(ns, "color=green")


def canary(ns: str) -> None:
    sc.kprism(
        ns,
        "release",
        APP,
        "--image",
        V2,
        "--steps",
        "10,25,50,100",
        "--pause",
        "4s",
        "--scale-down-delay",
        "2",
    )
    sc.pods_gone(ns, "color=blue")


def canary_gateway(ns: str) -> None:
    sc.kprism(
        ns,
        "release",
        APP,
        "--image",
        V2,
        "--steps",
        "10,25,50,100",
        "--pause",
        "6s",
        "--scale-down-delay",
        "2",
        "--router",
        "gateway",
        "--httproute",
        APP,
    )
    sc.pods_gone(ns, "color=blue")


def canary_abort(ns: str) -> None:
    # The CLI drives the canary (timed pauses need no operator): run it alongside.
    release = sc.Background(
        lambda: sc.kprism(
            ns,
            "release",
            APP,
            "--image",
            V2,
            "--steps",
            "10,25,50,100",
            "--pause",
            "10s",
            check=False,
        )
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        st = json.loads(sc.kprism(ns, "status", APP, "-o", "json").stdout or "{}")
        if float((st.get("release") or {}).get("requested_weight") or 0) >= 50:
            break
        time.sleep(0.5)
    _abort(ns)
    release.join()
    sc.pods_gone(ns, "color=green")


def _abort(ns: str) -> None:
    """``kprism abort``: 0 when it wrote the intent for a running engine, 1 when it
    aborted the release itself (its documented answer for an aborted release)."""
    r = sc.kprism(ns, "abort", APP, check=False)
    if r.returncode not in (0, 1):
        raise RuntimeError(f"kprism abort failed ({r.returncode}): {r.stderr.strip()[-300:]}")


def bg_prepared(ns: str, docs: list[dict[str, Any]]) -> None:
    _adopt(ns, docs)
    bg_release(ns)


SCENARIOS: dict[
    str, tuple[str, Callable[[str, list[dict[str, Any]]], None] | None, Callable[[str], None]]
] = {
    # name: (what, extra setup after apply, action)
    "rolling-update": ("native RollingUpdate (kubectl set image)", None, rolling),
    "bluegreen": ("kprism blue-green release, auto-promote", _adopt, bg_release),
    "rollback": ("kprism rollback after a blue-green release", bg_prepared, bg_rollback),
    "bluegreen-abort": (
        "kprism blue-green release, aborted at the promotion gate",
        _adopt,
        bg_abort,
    ),
    "canary": ("kprism canary by replicas 10,25,50,100", _adopt, canary),
    "canary-abort": ("kprism canary by replicas, aborted at 50%", _adopt, canary_abort),
    "canary-gateway": (
        "kprism canary on the Gateway's HTTPRoute (exact weights)",
        _adopt,
        canary_gateway,
    ),
}

MANIFESTS: dict[str, Callable[[], list[dict[str, Any]]]] = {
    "seed": lambda: sc.seed_docs(fixed=False),
    "recommended": sc.recommended_seed,
    "unprotected": lambda: sc.unprotected(sc.seed_docs(fixed=False)),
}


def run_one(
    client: Client, name: str, manifest: str, path: str, keepalive: bool, rate: int, replicas: int
) -> dict[str, Any]:
    what, setup, action = SCENARIOS[name]
    ns = sc.new_namespace(f"zd-{name}")
    try:
        docs = sc.with_replicas(MANIFESTS[manifest](), replicas)
        if setup is None:
            sc.apply(ns, docs)
            sc.rollout(ns, "py-hello-blue")
        else:
            setup(ns, docs)
        headers = None
        if path == "gateway":
            headers = sc.http_route(ns, APP, APP, 8888)
            url = f"{GATEWAY}/"
            sc.wait_routed(headers)
        else:
            url = sc.cluster_url(ns, APP)
        if name == "canary-gateway" and path != "gateway":
            raise ValueError("canary-gateway runs on the gateway path only")
        started = time.time()
        with sc.RouteLog(ns, APP, "-green") as routes:
            hits, timeline, _ = sc.under_load(
                client,
                ns,
                APP,
                url,
                rate=rate,
                keepalive=keepalive,
                action=lambda: action(ns),
                min_requests=3000,
                headers=headers,
            )
        # the track that takes the traffic: blue again for a rollback
        new = {"rolling-update": "", "rollback": "py-hello-blue"}.get(name, "py-hello-green")
        cut = timeline.first_time(lambda c: bool(c) and set(c) == {new}) if new else None
        windows = timeline.windows(new, "2") if name.startswith("canary") else None
        if name == "canary-gateway":
            windows = routes.windows("2", settle=3.0, min_len=1.5)
        s = summarize(hits, old="1" if name != "rollback" else "2", cutover=cut, windows=windows)
        return {
            "scenario": name,
            "what": what,
            "manifest": manifest,
            "path": path,
            "keepalive": keepalive,
            "rate": rate,
            "replicas": replicas,
            "seconds": round(time.time() - started, 1),
            **s.as_dict(),
        }
    finally:
        sc.delete_namespace(ns)


def programming_buckets() -> dict[float, int]:
    """kube-proxy's own histogram: seconds from an endpoint change to its rules."""
    import urllib.request

    text = urllib.request.urlopen("http://127.0.0.1:10249/metrics", timeout=5).read().decode()
    out: dict[float, int] = {}
    for line in text.splitlines():
        if line.startswith("kubeproxy_network_programming_duration_seconds_bucket"):
            le = line.split('le="')[1].split('"')[0]
            out[float(le)] = int(float(line.rsplit(" ", 1)[1]))
    return out


def programming_summary(before: dict[float, int], after: dict[float, int]) -> dict[str, Any]:
    diff = {le: after.get(le, 0) - before.get(le, 0) for le in after}
    total = diff.get(float("inf"), 0)

    def upto(q: float) -> float | None:
        for le in sorted(diff):
            if total and diff[le] >= q * total:
                return le
        return None

    return {
        "changes": total,
        "p50_le_s": upto(0.5),
        "p90_le_s": upto(0.9),
        "p99_le_s": upto(0.99),
        "within_1s": round(diff.get(1.0, 0) / total, 3) if total else None,
    }


def table(rows: list[dict[str, Any]]) -> str:
    out = [
        "| scenario | manifest | path | conns | requests | failed | p50 ms | p99 ms | old after cutover | canary shares (requested→achieved) |",
        "|---|---|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        shares = ", ".join(
            f"{w['requested']:.0%}→{w['achieved']:.0%}"
            for w in r.get("shares", [])
            if w["achieved"] is not None and w["requests"] >= 100
        )
        old = "" if r.get("old_after_cutover") is None else str(r["old_after_cutover"])
        out.append(
            f"| {r['scenario']} | {r['manifest']} | {r['path']} | {'keep-alive' if r['keepalive'] else 'fresh'} "
            f"| {r['requests']} | **{r['failed']}** | {r['p50_ms']} | {r['p99_ms']} | {old} | {shares} |"
        )
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(
        description="kprism zero-downtime benchmark (run in the data plane)"
    )
    ap.add_argument("--only", nargs="*", default=list(SCENARIOS), choices=list(SCENARIOS))
    ap.add_argument(
        "--manifests", nargs="*", default=["seed", "recommended"], choices=list(MANIFESTS)
    )
    ap.add_argument("--paths", nargs="*", default=["clusterip"], choices=["clusterip", "gateway"])
    ap.add_argument(
        "--conns", nargs="*", default=["keep-alive", "fresh"], choices=["keep-alive", "fresh"]
    )
    ap.add_argument("--rate", type=int, default=100)
    ap.add_argument("--replicas", type=int, default=4)
    args = ap.parse_args()
    if not in_dataplane_netns():
        sys.exit(
            "bench/zero_downtime.py: run it inside the data plane: hack/dataplane.sh exec -- python bench/zero_downtime.py"
        )
    client = Client(
        KubeConfig.from_file(os.environ["KPRISM_DATAPLANE_KUBECONFIG"]),
        field_manager="kprism-bench",
    )
    rows = []
    proxy_before = programming_buckets()
    for name in args.only:
        for manifest in args.manifests:
            for path in args.paths:
                for conns in args.conns:
                    print(
                        f"zero-downtime: {name} / {manifest} / {path} / {conns} ...",
                        file=sys.stderr,
                        flush=True,
                    )
                    try:
                        row = run_one(
                            client,
                            name,
                            manifest,
                            path,
                            conns == "keep-alive",
                            args.rate,
                            args.replicas,
                        )
                    except Exception as exc:
                        row = {
                            "scenario": name,
                            "manifest": manifest,
                            "path": path,
                            "keepalive": conns == "keep-alive",
                            "error": str(exc)[:300],
                            "requests": 0,
                            "failed": -1,
                            "p50_ms": "",
                            "p99_ms": "",
                        }
                    rows.append(row)
                    print(
                        f"  -> {row['requests']} requests, {row['failed']} failed {row.get('errors', row.get('error', ''))}",
                        file=sys.stderr,
                        flush=True,
                    )
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    proxy = programming_summary(proxy_before, programming_buckets())
    (out / f"zero-downtime-{stamp}.json").write_text(
        json.dumps(
            {
                "when": stamp,
                "rate": args.rate,
                "replicas": args.replicas,
                "rows": rows,
                "kube_proxy_network_programming": proxy,
            },
            indent=1,
        )
    )
    print(table(rows))
    print(f"\nkube-proxy network programming (endpoint change -> rules): {proxy}")


if __name__ == "__main__":
    main()
