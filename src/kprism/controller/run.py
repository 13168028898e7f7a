"""Running the controller as a process: connect, start, log, stop on SIGTERM."""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from kprism.controller.manager import Config, Controller
from kprism.controller.metrics import CONTENT_TYPE
from kprism.ops.apps import DEFAULT_TRACK_LABEL, connect
from kprism.ops.running import set_source
from kprism.plan.controller import Scope, Selector

POD_NAMESPACE_FILE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"
_STANDARD = set(vars(logging.makeLogRecord({})))


def default_lease_namespace() -> str:
    """The pod's namespace in a cluster (``POD_NAMESPACE`` or the ServiceAccount's
    namespace file), else ``kprism-system``."""
    if os.environ.get("POD_NAMESPACE"):
        return os.environ["POD_NAMESPACE"]
    try:
        return Path(POD_NAMESPACE_FILE).read_text().strip() or "kprism-system"
    except OSError:
        return "kprism-system"


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, message and the record's extras (app,
    namespace, release, step …)."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname.lower(),
            "msg": record.getMessage(),
        }
        data.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        if record.exc_info:
            data["error"] = self.formatException(record.exc_info)
        return json.dumps(data, default=str)


def setup_logging(fmt: str = "json", level: str = "info") -> None:
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    root = logging.getLogger("kprism")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False


class _Health(BaseHTTPRequestHandler):
    """``/healthz`` (the workers are alive) and ``/readyz`` (the caches synced): 200 or
    503, with the controller's counters as JSON; ``/metrics``: Prometheus' text format
    (:mod:`kprism.controller.metrics`)."""

    alive: Callable[[], bool]
    ready: Callable[[], bool]
    stats: Callable[[], dict[str, Any]]
    metrics: Callable[[], bytes] | None

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/metrics" and self.metrics is not None:
            self._answer(200, CONTENT_TYPE, self.metrics())
            return
        checks = {"/healthz": self.alive, "/readyz": self.ready}
        check = checks.get(path)
        if check is None:
            self.send_error(404)
            return
        ok = check()
        body = json.dumps({"ok": ok, **self.stats()}, default=str).encode()
        self._answer(200 if ok else 503, "application/json", body)

    def _answer(self, code: int, content_type: str, body: bytes) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # probes every few seconds are not news


def serve_health(
    host: str,
    port: int,
    *,
    alive: Callable[[], bool],
    ready: Callable[[], bool],
    stats: Callable[[], dict[str, Any]],
    metrics: Callable[[], bytes] | None = None,
) -> ThreadingHTTPServer:
    """Serve the probes (and ``/metrics``) on ``host:port`` in a thread; ``shutdown()``
    stops it."""
    handler = type(
        "Health",
        (_Health,),
        {
            "alive": staticmethod(alive),
            "ready": staticmethod(ready),
            "stats": staticmethod(stats),
            "metrics": staticmethod(metrics) if metrics is not None else None,
        },
    )
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True, name="kprism-health").start()
    return server


def run(
    *,
    kubeconfig: str | None = None,
    context: str | None = None,
    namespaces: Sequence[str] = (),
    exclude: Sequence[str] = (),
    selector: str = "",
    shards: int = 1,
    shard_index: int = 0,
    lease_namespace: str | None = None,
    workers: int = 4,
    track_label: str = DEFAULT_TRACK_LABEL,
    health_address: str = "127.0.0.1",
    health_port: int = 0,
    log_format: str | None = None,
    stop: threading.Event | None = None,
) -> None:
    """Run a controller replica until SIGTERM/SIGINT (or ``stop`` is set); on the way out
    it gives back its Leases so a standby continues at once. ``log_format`` (json, text):
    set up the ``kprism`` loggers on stderr; None leaves logging to the caller."""
    scope = Scope(
        namespaces=tuple(dict.fromkeys(namespaces)),
        exclude=tuple(dict.fromkeys(exclude)),
        selector=Selector.parse(selector),
        shards=shards,
        shard=shard_index,
    )
    config = Config(
        scope=scope,
        lease_namespace=lease_namespace or default_lease_namespace(),
        workers=workers,
        track_label=track_label,
    )
    if log_format is not None:  # once the options are known to be good
        setup_logging(log_format)
    set_source("controller")  # the audit trail names the shell
    kube = connect(kubeconfig=kubeconfig, context=context)
    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
    controller = Controller(kube, config)
    log = logging.getLogger("kprism.controller")
    log.info(
        "starting",
        extra={
            "identity": controller.identity,
            "scope": scope.to_json(),
            "leaseNamespace": config.lease_namespace,
        },
    )
    controller.start()
    health = (
        serve_health(
            health_address,
            health_port,
            alive=controller.alive,
            ready=controller.ready,
            stats=controller.stats,
            metrics=controller.metrics.render,
        )
        if health_port
        else None
    )
    try:
        stop.wait()
    finally:
        log.info("stopping", extra={"identity": controller.identity})
        if health is not None:
            health.shutdown()
        controller.stop(release=True)
        kube.close()
