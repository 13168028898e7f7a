"""kprism's sample app: the process behind ``kprism.dev/sample-app:TAG`` on the data plane.

Standard library only, so the node runtime can start it with any Python >= 3.11.
It answers every path with its version (the image tag) in the body and in the
``X-Version`` header, serves ``/healthz`` and Prometheus text on ``/metrics``, and has
the knobs the zero-downtime scenarios need (all from the environment):

- ``VERSION``         what it answers with (the node runtime sets it to the image tag)
- ``POD_IP``/``PORT``  where it listens (all pods share one network namespace, so it
  binds the pod's own IP, never 0.0.0.0); ``PORT`` defaults to 8080
- ``STARTUP_DELAY``    seconds before it listens (a slow start)
- ``SHUTDOWN``         ``graceful`` (default): on SIGTERM keep serving for
  ``DRAIN_SECONDS`` with ``Connection: close`` on every response, then stop accepting,
  finish what is in flight and exit; ``abrupt``: exit at once on SIGTERM
- ``DRAIN_SECONDS``    see above (default 0)
- ``ERROR_RATE``       0..1: answer that share of requests with 500
- ``LATENCY_MS``       added to every answer of ``/`` (milliseconds)
"""

from __future__ import annotations

import math
import os
import random
import signal
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def _float_env(name: str, default: float) -> float:
    raw = os.environ.get(name, "")
    try:
        value = float(raw) if raw else default
    except ValueError:
        sys.exit(f"sample-app: {name}={raw!r} is not a number")
    if not math.isfinite(value) or value < 0:
        sys.exit(f"sample-app: {name}={raw!r} must be a finite number >= 0")
    return value


class Metrics:
    """Counters and a latency histogram in Prometheus text format."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.by_code: dict[str, int] = {}
        self.bucket_counts = [0] * len(_BUCKETS)
        self.count = 0
        self.total = 0.0

    def observe(self, code: int, seconds: float) -> None:
        with self._lock:
            self.by_code[str(code)] = self.by_code.get(str(code), 0) + 1
            self.count += 1
            self.total += seconds
            for i, bound in enumerate(_BUCKETS):
                if seconds <= bound:
                    self.bucket_counts[i] += 1

    def render(self, version: str) -> str:
        with self._lock:
            lines = [
                "# HELP http_requests_total Requests answered, by status code.",
                "# TYPE http_requests_total counter",
            ]
            for code, n in sorted(self.by_code.items()):
                lines.append(f'http_requests_total{{code="{code}",version="{version}"}} {n}')
            lines += [
                "# HELP http_request_duration_seconds Time to answer a request.",
                "# TYPE http_request_duration_seconds histogram",
            ]
            for bound, n in zip(_BUCKETS, self.bucket_counts, strict=True):
                lines.append(f'http_request_duration_seconds_bucket{{le="{bound}"}} {n}')
            lines.append(f'http_request_duration_seconds_bucket{{le="+Inf"}} {self.count}')
            lines.append(f"http_request_duration_seconds_sum {self.total}")
            lines.append(f"http_request_duration_seconds_count {self.count}")
        return "\n".join(lines) + "\n"


class App:
    def __init__(self) -> None:
        self.version = os.environ.get("VERSION", "dev")
        self.host = os.environ.get("POD_IP") or "127.0.0.1"
        self.port = int(_float_env("PORT", 8080))
        self.startup_delay = _float_env("STARTUP_DELAY", 0)
        self.shutdown_mode = os.environ.get("SHUTDOWN", "graceful")
        if self.shutdown_mode not in ("graceful", "abrupt"):
            sys.exit(f"sample-app: SHUTDOWN={self.shutdown_mode!r} must be graceful or abrupt")
        self.drain = _float_env("DRAIN_SECONDS", 0)
        self.error_rate = _float_env("ERROR_RATE", 0)
        if self.error_rate > 1:
            sys.exit("sample-app: ERROR_RATE must be between 0 and 1")
        self.latency = _float_env("LATENCY_MS", 0) / 1000
        self.metrics = Metrics()
        self.draining = threading.Event()
        self.inflight = 0
        self.inflight_lock = threading.Lock()


def make_handler(app: App) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, like a real server
        disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms stall
        server_version = "kprism-sample-app"

        def log_message(self, format: str, *args: object) -> None:
            return  # one line per request would be the whole log

        def do_GET(self) -> None:
            with app.inflight_lock:
                app.inflight += 1
            try:
                self._answer()
            finally:
                with app.inflight_lock:
                    app.inflight -= 1

        def _answer(self) -> None:
            start = time.monotonic()
            path = self.path.split("?", 1)[0]
            code = 200
            if path == "/metrics":
                body = app.metrics.render(app.version).encode()
                ctype = "text/plain; version=0.0.4"
            elif path == "/healthz":
                body = b"ok\n"
                ctype = "text/plain"
            else:
                if app.latency:
                    time.sleep(app.latency)
                if app.error_rate and random.random() < app.error_rate:  # noqa: S311
                    code = 500
                body = f"{app.version}\n".encode()
                ctype = "text/plain"
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("X-Version", app.version)
            self.send_header("X-Pod", os.environ.get("HOSTNAME", ""))
            if app.draining.is_set():
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            self.wfile.write(body)
            if path not in ("/metrics", "/healthz"):
                app.metrics.observe(code, time.monotonic() - start)

        do_HEAD = do_GET

    return Handler


class Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 128

    def server_bind(self) -> None:
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        super().server_bind()


def main() -> None:
    app = App()
    if app.startup_delay:
        time.sleep(app.startup_delay)
    server = Server((app.host, app.port), make_handler(app))

    def on_term(signum: int, frame: object) -> None:
        if app.shutdown_mode == "abrupt":
            os._exit(0)
        if app.draining.is_set():
            return
        app.draining.set()

        def drain_then_stop() -> None:
            time.sleep(app.drain)
            server.shutdown()  # stop accepting; the serve loop returns

        threading.Thread(target=drain_then_stop, daemon=True).start()

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    print(
        f"sample-app {app.version} listening on {app.host}:{app.port} "
        f"(shutdown={app.shutdown_mode}, drain={app.drain}s)",
        flush=True,
    )
    server.serve_forever(poll_interval=0.1)
    server.server_close()
    # Finish what is in flight (idle keep-alive connections are simply closed).
    time.sleep(0.05)
    while app.inflight > 0:
        time.sleep(0.01)
    print("sample-app: drained, exiting", flush=True)


if __name__ == "__main__":
    main()
