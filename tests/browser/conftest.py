"""Browser tier: the dashboard served by uvicorn in this process, driven by a real
headless Chromium (Debian's ``/usr/bin/chromium``) through Playwright, against the real
local cluster of the integration tier (same fixtures: one namespace per test).

Without Chromium or the cluster these tests fail, never skip. Playwright's own browser
downloads are never used (``playwright install`` is not needed).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi import FastAPI
from playwright.sync_api import Browser, Page, sync_playwright

from kprism.web.app import Dashboard, bind, create_app, make_server
from tests.browser.pages import console_problems
from tests.integration.conftest import kube, kubeconfig_path, namespace  # noqa: F401

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@dataclass
class Served:
    url: str
    app: FastAPI

    @property
    def dashboard(self) -> Dashboard:
        dash: Dashboard = self.app.state.dashboard
        return dash


@pytest.fixture(scope="session")
def served(kubeconfig_path: str) -> Iterator[Served]:  # noqa: F811
    """The dashboard on 127.0.0.1 and a free port, in a background thread, served the way
    ``kprism web`` serves it (``bind`` + ``make_server``)."""
    app = create_app(kubeconfig=kubeconfig_path)
    sock = bind("127.0.0.1", 0)
    port = sock.getsockname()[1]
    server = make_server(app)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="dashboard", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail("the dashboard did not start within 20s")
        time.sleep(0.05)
    try:
        yield Served(url=f"http://127.0.0.1:{port}", app=app)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(
            f"browser tests need Debian's Chromium at {CHROMIUM}: "
            "apt-get update && apt-get install -y chromium (.ci/run installs it)"
        )
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser: Browser, served: Served, namespace: str) -> Iterator[Page]:  # noqa: F811
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(15_000)
    pg = context.new_page()
    problems: list[str] = []
    pg.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    pg.on("console", lambda msg: problems.extend(console_problems(msg.type, msg.text)))
    try:
        yield pg
    finally:
        context.close()
        # what this test started in the dashboard is over (no engine left on its app)
        for job in served.dashboard.jobs.running(f"{namespace}/hello"):
            job.done.wait(30)
    # the page never threw and never logged an error (a CSP violation logs one)
    assert not problems, problems
