"""A blue-green release file (``kprism release -f`` with ``prePromotion``/``postPromotion``)
on the real cluster: the pre-promotion check is made against the preview Service before
the switch, and a failing one keeps traffic where it is; a passing one promotes, and the
post-promotion check runs after the switch."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from lightkube import Client

from tests.integration.helpers import kprism, make_app, release_status, selector

pytestmark = pytest.mark.integration

V2 = "registry.example/hello:2"


@pytest.fixture
def check() -> Iterator[tuple[str, list[str], list[int]]]:
    """A check endpoint on 127.0.0.1: answers with the codes queued (then 200), keeps paths."""
    seen: list[str] = []
    codes: list[int] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.path)
            self.send_response(codes.pop(0) if codes else 200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", seen, codes
    server.shutdown()
    server.server_close()


def release_file(tmp_path: Path, url: str) -> str:
    path = tmp_path / "bluegreen.yaml"
    path.write_text(
        "analysisTemplates:\n"
        "- name: smoke\n"
        "  metrics:\n"
        "  - name: smoke\n"
        f"    provider: {{http: {{url: '{url}/{{{{service}}}}/{{{{track}}}}'}}}}\n"
        "prePromotion: {templates: [{templateName: smoke}]}\n"
        "postPromotion: {templates: [{templateName: smoke}]}\n"
    )
    return str(path)


def test_a_blue_green_release_file_checks_the_preview_then_the_switched_service(
    kube: Client,
    namespace: str,
    kubeconfig_path: str,
    check: tuple[str, list[str], list[int]],
    tmp_path: Path,
) -> None:
    url, seen, codes = check
    make_app(kube, namespace, replicas=2)
    spec = release_file(tmp_path, url)
    args = ("release", "hello", "-n", namespace, "--image", V2, "-f", spec, "--preview")

    codes.append(503)  # the preview fails its check: nothing is switched
    out = kprism(*args, "--auto-promote", kubeconfig=kubeconfig_path, check=1)
    assert "pre-promotion analysis of green: analysis failed: smoke" in out.stderr, out.stderr
    assert seen == ["/hello-preview/green"]  # measured against the preview Service
    st = release_status(kube, namespace)
    assert st["phase"] == "Failed" and not st["switched_at"]
    assert selector(kube, namespace) == {"app": "hello", "color": "blue"}

    seen.clear()  # the same file, a healthy preview: promoted, then checked after the switch
    kprism(*args, "--auto-promote", "--scale-down-delay", "0", kubeconfig=kubeconfig_path, check=0)
    assert seen == ["/hello-preview/green", "/hello/green"]
    st = release_status(kube, namespace)
    assert st["phase"] == "Succeeded"
    assert [(r["name"], r["phase"]) for r in st["analysis"]] == [
        ("pre-promotion", "Successful"),
        ("post-promotion", "Successful"),
    ]
    assert selector(kube, namespace) == {"app": "hello", "color": "green"}


def test_a_blue_green_release_file_is_refused_with_its_line(
    kube: Client, namespace: str, kubeconfig_path: str, tmp_path: Path
) -> None:
    make_app(kube, namespace, replicas=1)
    spec = tmp_path / "bluegreen.yaml"
    spec.write_text("prePromotion:\n  templates: [{templateName: smoke}]\n")
    out = kprism(
        "release", "hello", "-n", namespace, "--image", V2, "-f", str(spec),
        kubeconfig=kubeconfig_path, check=2,
    )  # fmt: skip
    assert out.stderr.startswith(
        "kprism: error: prePromotion.templates[0]: unknown analysis template 'smoke'"
    ), out.stderr
    assert release_status(kube, namespace) == {}
