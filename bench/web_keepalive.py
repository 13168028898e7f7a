"""Benchmark: the dashboard's latency per request on a keep-alive connection (no asserts).

    .venv/bin/python bench/web_keepalive.py [--runs 5] [--requests 200]

The page polls the API every second over one kept-alive connection. This serves the real
dashboard app (``create_app`` + ``make_server``, as ``kprism web`` does, with a
kubeconfig whose server nothing answers: ``GET /api/config`` needs no cluster) twice, on
loopback, side by side and interleaved:

- ``nodelay``: on a socket from ``kprism.web.app.bind`` (IPPROTO_TCP, so asyncio sets
  TCP_NODELAY on every accepted connection) — what ``kprism web`` does now;
- ``nagle``: on a socket made without IPPROTO_TCP (proto 0), as before the fix: asyncio
  leaves Nagle's algorithm on, and a response written in two pieces (headers, body)
  waits for the client's delayed ACK.

For each run and server it sends ``--requests`` sequential ``GET /api/config`` on one
connection and records each request's time after the first. It prints the median
[min–max] over runs of the per-run p50 and p99, and writes
``bench/results/web-keepalive-<UTC>.json``. Only 127.0.0.1 is dialled.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from kprism.web.app import bind, create_app, make_server

RESULTS = Path(__file__).resolve().parent / "results"
KUBECONFIG = """\
apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:9"}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: x, context: {cluster: c, user: u, namespace: bench}}]
current-context: x
"""


def nagle_socket() -> socket.socket:
    """A listening socket as ``bind`` made it before the fix: protocol 0."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    return sock


@contextmanager
def served(make_socket: Callable[[], socket.socket], kubeconfig: str) -> Iterator[int]:
    sock = make_socket()
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


def one_run(port: int, requests: int) -> list[float]:
    """Milliseconds per request on one connection, the first (connection set-up) left out."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    times = []
    try:
        for i in range(requests):
            t0 = time.perf_counter()
            conn.request("GET", "/api/config")
            response = conn.getresponse()
            response.read()
            if response.status != 200:
                raise SystemExit(f"GET /api/config answered {response.status}")
            if i:
                times.append((time.perf_counter() - t0) * 1000)
    finally:
        conn.close()
    return times


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def summary(values: list[float]) -> str:
    return f"{statistics.median(values):7.2f} [{min(values):.2f}–{max(values):.2f}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    servers = {"nodelay": lambda: bind("127.0.0.1", 0), "nagle": nagle_socket}
    per_run: dict[str, list[dict[str, float]]] = {name: [] for name in servers}
    with tempfile.TemporaryDirectory() as tmp:
        kubeconfig = os.path.join(tmp, "kubeconfig")
        Path(kubeconfig).write_text(KUBECONFIG)
        with (
            served(servers["nodelay"], kubeconfig) as fast,
            served(servers["nagle"], kubeconfig) as slow,
        ):
            ports = {"nodelay": fast, "nagle": slow}
            one_run(fast, 20)  # warm up both (imports, first responses)
            one_run(slow, 20)
            for run in range(args.runs):
                order = list(servers) if run % 2 == 0 else list(reversed(servers))
                for name in order:
                    times = one_run(ports[name], args.requests)
                    per_run[name].append(
                        {
                            "p50_ms": round(percentile(times, 0.5), 3),
                            "p99_ms": round(percentile(times, 0.99), 3),
                            "mean_ms": round(statistics.fmean(times), 3),
                        }
                    )
    load = os.getloadavg()
    print(
        f"GET /api/config on one keep-alive connection: {args.runs} runs × "
        f"{args.requests} requests, interleaved; load {load[0]:.2f} on {os.cpu_count()} cores"
    )
    print(f"{'server':10} {'p50 ms, median [min–max]':>28} {'p99 ms':>24} {'mean ms':>24}")
    for name, runs in per_run.items():
        cols = [summary([r[k] for r in runs]) for k in ("p50_ms", "p99_ms", "mean_ms")]
        print(f"{name:10} {cols[0]:>28} {cols[1]:>24} {cols[2]:>24}")
    when = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"web-keepalive-{when}.json"
    out.write_text(
        json.dumps(
            {
                "when": when,
                "runs": args.runs,
                "requests": args.requests,
                "load": [round(x, 2) for x in load],
                "cores": os.cpu_count(),
                "servers": per_run,
            },
            indent=1,
        )
        + "\n"
    )
    print(f"wrote {out.relative_to(Path.cwd()) if out.is_relative_to(Path.cwd()) else out}")


if __name__ == "__main__":
    main()
