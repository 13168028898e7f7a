"""The app page's analysis: a CLI canary with an HTTP gate on a 127.0.0.1 check; the
dashboard shows the run, each measurement on the metric's sparkline, and the verdict."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from lightkube import Client
from playwright.sync_api import Page, expect

from tests.browser.conftest import Served
from tests.browser.pages import tid
from tests.browser.test_dashboard import SLOW, V2, open_app
from tests.integration.helpers import kprism_bg, make_app, release_status

pytestmark = pytest.mark.integration


@pytest.fixture
def check_url() -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/healthz"
    server.shutdown()
    server.server_close()


def test_the_analysis_gate_is_plotted_measurement_by_measurement(
    page: Page,
    served: Served,
    kube: Client,
    namespace: str,
    kubeconfig_path: str,
    check_url: str,
) -> None:
    make_app(kube, namespace, replicas=2)
    proc = kprism_bg(
        "release", "hello", "-n", namespace, "--image", V2, "--steps", "50,100",
        "--check-http", check_url, kubeconfig=kubeconfig_path,
    )  # fmt: skip
    try:
        open_app(page, served, namespace)
        expect(tid(page, "analysis")).to_be_visible(timeout=SLOW)
        runs = page.locator('[data-testid^="analysis-run-"][class="run"]')
        expect(runs).to_have_count(1)
        spark = page.locator("svg.spark").first
        # measurements arrive one by one (3× every 10 s): the sparkline grows
        expect(spark.locator("circle")).to_have_count(1, timeout=SLOW)
        expect(spark.locator("circle")).to_have_count(3, timeout=SLOW)
        expect(spark.locator("circle").first).to_have_attribute("fill", "#1f9d55")
        row = page.locator('[data-testid^="analysis-run-"] tbody tr').first
        expect(row).to_contain_text("3/3")
        verdict = page.locator('[data-testid$="-verdict"]').first
        expect(verdict).to_be_visible(timeout=SLOW)
        phase = page.locator('[data-testid^="analysis-run-"][data-testid$="-phase"]')
        expect(phase.first).to_have_text("Successful")
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        assert release_status(kube, namespace)["phase"] == "Succeeded"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
