"""The controller's /metrics plumbing: the probe server answers Prometheus' text format,
and the adapter counts failed API requests by verb, resource and code (a real HTTP
server on 127.0.0.1 plays the API server)."""

from __future__ import annotations

import json
import threading
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from kprism.controller.run import serve_health
from kprism.errors import KprismError
from kprism.kube.client import Kube, Target


def test_metrics_are_served_in_prometheus_text_format() -> None:
    body = b"# HELP kprism_leader x\n# TYPE kprism_leader gauge\nkprism_leader 1.0\n"
    server = serve_health(
        "127.0.0.1", 0, alive=lambda: True, ready=lambda: True, stats=dict, metrics=lambda: body
    )
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/metrics"
        with urllib.request.urlopen(url, timeout=5) as r:
            assert r.status == 200
            assert r.headers["Content-Type"].startswith("text/plain; version=")
            families = list(text_string_to_metric_families(r.read().decode()))
        assert [(f.name, f.samples[0].value) for f in families] == [("kprism_leader", 1.0)]
    finally:
        server.shutdown()
        server.server_close()


class _ApiServer(BaseHTTPRequestHandler):
    """Answers 404 for the Service ``gone``, 500 for every other request."""

    def do_GET(self) -> None:
        code = 404 if self.path.endswith("/services/gone") else 500
        body = json.dumps(
            {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": code}
        ).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def api(tmp_path: Path) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _ApiServer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    kc = tmp_path / "kubeconfig"
    kc.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "t",
                "clusters": [
                    {
                        "name": "t",
                        "cluster": {"server": f"http://127.0.0.1:{server.server_address[1]}"},
                    }
                ],
                "users": [{"name": "t", "user": {"token": "x"}}],
                "contexts": [{"name": "t", "context": {"cluster": "t", "user": "t"}}],
            }
        )
    )
    yield str(kc)
    server.shutdown()
    server.server_close()


def test_failed_api_requests_are_counted_by_verb_resource_and_code(api: str) -> None:
    kube = Kube(Target(kubeconfig=api, namespace="shop"))
    try:
        assert kube.find_service("gone", "shop") is None
        with pytest.raises(KprismError):
            kube.find_service("web", "shop")
    finally:
        kube.close()
    assert kube.requests == {"GET services": 2}
    assert kube.errors == {"GET services 404": 1, "GET services 500": 1}
