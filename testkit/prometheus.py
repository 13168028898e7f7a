"""A real Prometheus for the data-plane tests and the demo: Debian's ``prometheus``.

Started inside the data plane's network namespace (the tests already run there through
``hack/dataplane.sh exec``), listening on 127.0.0.1 only, with its data in a temporary
directory. It finds the sample app's pods through Kubernetes service discovery — Debian
builds Prometheus without ``kubernetes_sd_configs``, so :class:`PodDiscovery` lists the
pods from the API server and serves them to Prometheus's HTTP service discovery, on
127.0.0.1 too — and scrapes every container port of the pods running on the process node
(the only real pods; KWOK's are simulated). Every pod label becomes a series label
(``app``, ``color`` …), with ``namespace`` and ``pod``::

    sum(rate(http_requests_total{namespace="shop",color="green",code=~"5.."}[20s]))

Run by hand: ``hack/dataplane.sh exec -- python -m testkit.prometheus`` prints its URL
and runs until interrupted.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

NODE = "kprism-proc-0"
SCRAPE_INTERVAL = "1s"


def available() -> str | None:
    """The prometheus binary, or None when it is not installed."""
    return shutil.which("prometheus")


def config(discovery: str, *, interval: str = SCRAPE_INTERVAL) -> dict[str, Any]:
    return {
        "global": {"scrape_interval": interval, "evaluation_interval": interval},
        "scrape_configs": [
            {
                "job_name": "process-node-pods",
                "scrape_timeout": interval,
                "http_sd_configs": [{"url": discovery, "refresh_interval": interval}],
            }
        ],
    }


def _label(name: str) -> str:
    return re.sub(r"[^a-zA-Z0-9_]", "_", name)


def pod_targets(pods: list[dict[str, Any]], *, node: str = NODE) -> list[dict[str, Any]]:
    """Prometheus HTTP SD groups for the running pods of ``node``: one target per
    container port, labelled like kubernetes_sd's pod role after a ``labelmap``."""
    groups = []
    for pod in pods:
        meta, spec, status = pod["metadata"], pod.get("spec") or {}, pod.get("status") or {}
        if spec.get("nodeName") != node or status.get("phase") != "Running":
            continue
        ip = status.get("podIP")
        if not ip or meta.get("deletionTimestamp"):
            continue
        labels = {_label(k): str(v) for k, v in (meta.get("labels") or {}).items()}
        labels.update(namespace=meta["namespace"], pod=meta["name"])
        for c in spec.get("containers") or []:
            for port in c.get("ports") or []:
                if port.get("protocol", "TCP") == "TCP":
                    groups.append(
                        {"targets": [f"{ip}:{port['containerPort']}"], "labels": dict(labels)}
                    )
    return groups


class PodDiscovery:
    """Kubernetes service discovery for a Prometheus built without it.

    Debian's ``prometheus`` (2.42.0+ds) is built without ``kubernetes_sd_configs``, so this
    serves Prometheus's HTTP service discovery on 127.0.0.1: on each refresh it lists the
    pods from the API server (the data plane's kubeconfig) and answers with
    :func:`pod_targets`.
    """

    def __init__(self, kubeconfig: str, *, node: str = NODE) -> None:
        from lightkube import Client, KubeConfig

        self.client = Client(KubeConfig.from_file(kubeconfig), field_manager="kprism-tests")
        self.node = node
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                try:
                    body = json.dumps(outer.targets()).encode()
                    code = 200
                except Exception as exc:  # the API server is away: Prometheus keeps the last
                    body, code = str(exc).encode(), 503
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/targets"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
        )

    def targets(self) -> list[dict[str, Any]]:
        from lightkube.resources.core_v1 import Pod

        pods = [
            p.to_dict()
            for p in self.client.list(Pod, namespace="*", fields={"spec.nodeName": self.node})
        ]
        return pod_targets(pods, node=self.node)

    def start(self) -> PodDiscovery:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.client.close()


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM it when the process that started it dies (a test
    run killed with SIGKILL must not leave a Prometheus behind with its port taken)."""
    import ctypes
    import signal

    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Prometheus:
    """One Prometheus process; ``with Prometheus(kubeconfig) as prom: prom.url``."""

    def __init__(
        self,
        kubeconfig: str,
        *,
        port: int | None = None,
        node: str = NODE,
        base: str | None = None,
    ) -> None:
        binary = available()
        if binary is None:
            raise RuntimeError(
                "prometheus is not installed: `apt-get install prometheus` (hack/dataplane.sh "
                "up and .ci/run install it)"
            )
        self.binary = binary
        self.kubeconfig = kubeconfig
        self.node = node
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        if base is not None:
            Path(base).mkdir(parents=True, exist_ok=True)
        self.dir = Path(tempfile.mkdtemp(prefix="kprism-prometheus-", dir=base))
        self.proc: subprocess.Popen[bytes] | None = None
        self.discovery: PodDiscovery | None = None
        self.log = self.dir / "prometheus.log"

    def start(self, timeout: float = 60) -> Prometheus:
        self.discovery = PodDiscovery(self.kubeconfig, node=self.node).start()
        cfg = self.dir / "prometheus.yml"
        cfg.write_text(yaml.safe_dump(config(self.discovery.url)))
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(
                [
                    self.binary,
                    f"--config.file={cfg}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                    f"--storage.tsdb.path={self.dir / 'data'}",
                    "--storage.tsdb.retention.time=1h",
                    "--web.enable-lifecycle",
                    "--log.level=warn",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent,  # noqa: PLW1509 - prctl only, before exec
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"prometheus exited: {self.log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=1) as r:  # noqa: S310 - our http://127.0.0.1 URL
                    if r.status == 200:
                        return self
            except OSError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"prometheus not ready after {timeout:.0f}s")

    def query(self, promql: str) -> dict[str, Any]:
        data = urllib.parse.urlencode({"query": promql}).encode()
        with urllib.request.urlopen(f"{self.url}/api/v1/query", data=data, timeout=5) as r:  # noqa: S310 - our http://127.0.0.1 URL
            body: dict[str, Any] = json.loads(r.read())
        return body

    def targets(self) -> list[dict[str, Any]]:
        return targets(self.url)

    def wait_scraped(self, namespace: str, pods: int, timeout: float = 60) -> None:
        """Until ``pods`` pods of ``namespace`` are scraped with success."""
        wait_scraped(self.url, namespace, pods, timeout)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self.discovery is not None:
            self.discovery.stop()
            self.discovery = None
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> Prometheus:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def targets(url: str) -> list[dict[str, Any]]:
    """The active targets of the Prometheus at ``url`` (a 127.0.0.1 URL)."""
    with urllib.request.urlopen(f"{url}/api/v1/targets", timeout=5) as r:  # noqa: S310 - http://127.0.0.1
        body = json.loads(r.read())
    active: list[dict[str, Any]] = body["data"]["activeTargets"]
    return active


def wait_scraped(url: str, namespace: str, pods: int, timeout: float = 60) -> None:
    """Until the Prometheus at ``url`` scraped ``pods`` pods of ``namespace`` with success
    (also the one ``hack/dataplane.sh`` runs: ``$PROMETHEUS_URL``)."""
    deadline = time.monotonic() + timeout
    up: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        up = [
            t
            for t in targets(url)
            if t["labels"].get("namespace") == namespace and t.get("health") == "up"
        ]
        if len(up) >= pods:
            return
        time.sleep(0.5)
    raise TimeoutError(f"{len(up)}/{pods} pods of {namespace} scraped after {timeout:.0f}s")


def main() -> None:
    kubeconfig = os.environ.get("KPRISM_DATAPLANE_KUBECONFIG") or os.environ["KUBECONFIG"]
    port = int(os.environ.get("PROMETHEUS_PORT", "9090"))
    # `hack/dataplane.sh down` sends SIGTERM: leave through `with`, so Prometheus stops
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    # under hack/dataplane.sh: its state directory, which `down` removes
    base = os.environ.get("KPRISM_PROMETHEUS_DIR") or None
    with Prometheus(kubeconfig, port=port, base=base) as prom:
        print(prom.url, flush=True)
        try:
            while prom.proc is not None and prom.proc.poll() is None:
                time.sleep(1)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
