"""Load and measurement for the data plane: vegeta at a fixed rate, every response kept.

``Attack`` runs ``vegeta attack`` in the background against one URL (a ClusterIP through
kube-proxy, or the Gateway) with keep-alive or fresh connections, and decodes every
result: time, status code, transport error, version (the sample app's ``X-Version``
header) and latency. ``summarize`` turns them into the figures the zero-downtime
scenarios report. ``EndpointLog`` records, from a watch on the Service's
EndpointSlices, which versions the ready endpoints were at every moment, so achieved
traffic shares can be compared with what the EndpointSlices (and the plan) said.

Only ever used inside the data plane's network namespace (``hack/dataplane.sh exec``):
the addresses it dials (198.18.0.0/15) exist nowhere else.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Hit:
    t: float  # epoch seconds when the request was sent
    code: int
    error: str
    version: str
    latency: float  # seconds

    @property
    def failed(self) -> bool:
        return bool(self.error) or not 200 <= self.code < 300


def _epoch(stamp: str) -> float:
    # vegeta: RFC 3339 with nanoseconds and a zone offset
    head, _, rest = stamp.partition(".")
    frac, zone = rest, ""
    for sep in ("Z", "+", "-"):
        if sep in rest:
            i = rest.index(sep)
            frac, zone = rest[:i], rest[i:]
            break
    base = dt.datetime.fromisoformat(head + (zone if zone != "Z" else "+00:00"))
    return base.timestamp() + (float("0." + frac) if frac else 0.0)


def decode(line: str) -> Hit:
    r = json.loads(line)
    headers = r.get("headers") or {}
    version = ""
    for key, values in headers.items():
        if key.lower() == "x-version" and values:
            version = values[0]
    if not version and r.get("body") and r.get("code") == 200:
        with contextlib.suppress(ValueError):
            version = base64.b64decode(r["body"]).decode().strip()
    return Hit(
        t=_epoch(r["timestamp"]),
        code=int(r.get("code") or 0),
        error=r.get("error") or "",
        version=version,
        latency=int(r.get("latency") or 0) / 1e9,
    )


class Attack:
    """``vegeta attack`` at ``rate`` req/s until ``stop()``; results kept on disk."""

    def __init__(
        self,
        url: str,
        *,
        rate: int = 100,
        keepalive: bool = True,
        timeout: str = "5s",
        headers: dict[str, str] | None = None,
    ) -> None:
        self.url = url
        self.headers = headers or {}
        self.rate = rate
        self.keepalive = keepalive
        self.timeout = timeout
        self.dir = Path(tempfile.mkdtemp(prefix="kprism-load-"))
        self.proc: subprocess.Popen[bytes] | None = None
        self.started = 0.0
        self.stopped = 0.0

    def __enter__(self) -> Attack:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        vegeta = shutil.which("vegeta")
        if vegeta is None:
            raise RuntimeError("vegeta is not on PATH: run inside `hack/dataplane.sh exec`")
        head = "".join(f"{k}: {v}\n" for k, v in self.headers.items())
        (self.dir / "targets").write_text(f"GET {self.url}\n{head}")
        self.started = time.time()
        with open(self.dir / "stderr", "wb") as err:
            self._popen(vegeta, err)

    def _popen(self, vegeta: str, err: Any) -> None:
        self.proc = subprocess.Popen(
            [
                vegeta,
                "attack",
                f"-rate={self.rate}/s",
                "-duration=0",
                f"-keepalive={'true' if self.keepalive else 'false'}",
                f"-timeout={self.timeout}",
                "-http2=false",
                "-max-body=256",
                f"-targets={self.dir / 'targets'}",
                f"-output={self.dir / 'results.bin'}",
            ],
            stdin=subprocess.DEVNULL,
            stderr=err,
        )

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.stopped = time.time()
        self.proc.send_signal(signal.SIGINT)  # vegeta finishes in-flight requests and flushes
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def hits(self) -> list[Hit]:
        vegeta = shutil.which("vegeta") or "vegeta"
        out = subprocess.run(
            [vegeta, "encode", "-to", "json", str(self.dir / "results.bin")],
            capture_output=True,
            check=True,
        ).stdout.decode()
        hits = [decode(line) for line in out.splitlines() if line.strip()]
        hits.sort(key=lambda h: h.t)
        return hits

    def cleanup(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    k = min(len(s) - 1, max(0, round(q / 100 * (len(s) - 1))))
    return s[k]


@dataclass
class Summary:
    requests: int
    failed: int
    errors: dict[str, int]
    p50_ms: float
    p99_ms: float
    versions: dict[str, int]
    old_after_cutover: int | None = None
    shares: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "failed": self.failed,
            "errors": self.errors,
            "p50_ms": round(self.p50_ms, 2),
            "p99_ms": round(self.p99_ms, 2),
            "versions": self.versions,
            "old_after_cutover": self.old_after_cutover,
            "shares": self.shares,
        }


def summarize(
    hits: list[Hit],
    *,
    old: str | None = None,
    cutover: float | None = None,
    windows: list[tuple[float, float, str, float]] | None = None,
) -> Summary:
    """Figures of one scenario.

    ``cutover``: when the switch was verified; old-version answers sent after it are
    counted. ``windows``: (start, end, label, requested share of the new version) per
    canary step; the share of the new version achieved in each is reported.
    """
    errors: Counter[str] = Counter()
    for h in hits:
        if h.failed:
            errors[h.error.split(": ")[-1][:80] if h.error else f"HTTP {h.code}"] += 1
    ok = [h.latency * 1000 for h in hits if not h.failed]
    summary = Summary(
        requests=len(hits),
        failed=sum(1 for h in hits if h.failed),
        errors=dict(errors),
        p50_ms=percentile(ok, 50),
        p99_ms=percentile(ok, 99),
        versions=dict(Counter(h.version for h in hits if not h.failed)),
    )
    if old is not None and cutover is not None:
        summary.old_after_cutover = sum(1 for h in hits if h.t > cutover and h.version == old)
    for start, end, label, requested in windows or []:
        inside = [h for h in hits if start <= h.t < end and not h.failed]
        new = sum(1 for h in inside if h.version == label)
        summary.shares.append(
            {
                "requested": requested,
                "achieved": round(new / len(inside), 4) if inside else None,
                "requests": len(inside),
                "seconds": round(end - start, 2),
            }
        )
    return summary


class EndpointLog:
    """Watch a Service's EndpointSlices; keep (time, names of the pods with ready endpoints)."""

    def __init__(self, client: Any, service: str, namespace: str) -> None:
        self.client = client
        self.service = service
        self.namespace = namespace
        self.events: list[tuple[float, frozenset[str]]] = []
        self._slices: dict[str, frozenset[str]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> EndpointLog:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()

    def _run(self) -> None:
        from lightkube.resources.discovery_v1 import EndpointSlice

        while not self._stop.is_set():
            with contextlib.suppress(Exception):
                for kind, es in self.client.watch(
                    EndpointSlice,
                    namespace=self.namespace,
                    labels={"kubernetes.io/service-name": self.service},
                    server_timeout=30,
                ):
                    name = es.metadata.name
                    if kind == "DELETED":
                        self._slices.pop(name, None)
                    else:
                        self._slices[name] = frozenset(
                            ep.targetRef.name
                            if ep.targetRef is not None and ep.targetRef.name
                            else ep.addresses[0]
                            for ep in es.endpoints or []
                            if ep.conditions is not None and ep.conditions.ready
                        )
                    ready: frozenset[str] = frozenset().union(*self._slices.values())
                    self.events.append((time.time(), ready))
                    if self._stop.is_set():
                        return

    def ready_at(self, t: float) -> frozenset[str]:
        current: frozenset[str] = frozenset()
        for when, ready in self.events:
            if when > t:
                break
            current = ready
        return current


def in_dataplane_netns() -> bool:
    """True when this process runs in the data plane's own network namespace."""
    name = os.environ.get("KPRISM_DATAPLANE_NETNS")
    if not name:
        return False
    try:
        return os.stat("/proc/self/ns/net").st_ino == os.stat(f"/run/netns/{name}").st_ino
    except OSError:
        return False
