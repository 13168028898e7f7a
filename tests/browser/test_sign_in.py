"""Signing in to the dashboard in a real browser, with the dashboard started as it runs
in the cluster: ``kprism web --auth token`` in a process of its own, as its own
ServiceAccount (a TokenRequest kubeconfig) bound to exactly the rules ``kprism install
--dashboard`` ships (TokenReview and impersonation). Two users sign in with their ServiceAccount tokens:

- the viewer (get/list/watch only) sees the app, and the buttons they may not use are
  disabled with the reason; a POST forced from the page is refused 403 naming the verb
  and resource, and nothing changes in the cluster;
- the releaser promotes one release and aborts another; the audit trail names them;
- a forged session cookie is 401 and the page asks to sign in.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from lightkube import Client
from lightkube.resources.core_v1 import Service
from playwright.sync_api import Browser, Page, expect

from kprism import ops
from kprism.web.auth import COOKIE, Identity, Sessions
from tests.browser.pages import console_problems, tid
from tests.integration.auth_helpers import Team, team
from tests.integration.helpers import make_app, release_status, replicas, selector, wait_for

pytestmark = pytest.mark.integration

V2, V3 = "registry.example/hello:2", "registry.example/hello:3"
SLOW = 90_000  # ms
IMG = Path(__file__).resolve().parents[2] / "docs" / "img"


@contextmanager
def kprism_web(kubeconfig: str, *args: str) -> Iterator[str]:
    """``kprism web ARGS`` on a free port of 127.0.0.1, in its own process; its URL."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "kprism.cli.main",
            "--kubeconfig",
            kubeconfig,
            "web",
            "--port",
            "0",
            *args,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    reader: threading.Thread | None = None
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()  # "kprism dashboard on http://127.0.0.1:PORT/ (...)"
        found = re.search(r"http://127\.0\.0\.1:\d+", line)
        assert found, line + proc.stderr.read()
        # keep reading its stderr, so that a chatty process never blocks on a full pipe
        reader = threading.Thread(target=proc.stderr.read, daemon=True)
        reader.start()
        yield found.group(0)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if reader is not None:
            reader.join(timeout=10)
        if proc.stderr is not None:
            proc.stderr.close()


@pytest.fixture
def users(kube: Client, kubeconfig_path: str, namespace: str, tmp_path: Path) -> Iterator[Team]:
    make_app(kube, namespace)
    with team(kube, kubeconfig_path, namespace, tmp_path) as t:
        yield t


@pytest.fixture
def dashboard(users: Team) -> Iterator[str]:
    with kprism_web(users.dashboard_kubeconfig, "--auth", "token") as url:
        yield url


@pytest.fixture
def page_of(browser: Browser, dashboard: str) -> Iterator[Page]:
    """A page of its own (closed before the dashboard stops)."""
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
    assert not problems, problems


def sign_in(page: Page, url: str, token: str, user: str) -> None:
    page.goto(url)
    expect(tid(page, "login-view")).to_be_visible()
    expect(tid(page, "app-list-view")).to_be_hidden()
    tid(page, "login-token").fill(token)
    tid(page, "login-submit").click()
    expect(tid(page, "user-name")).to_have_text(user)
    expect(tid(page, "login-view")).to_be_hidden()
    assert token not in page.url


def confirm(page: Page, reason: str = "") -> None:
    """Answer the confirmation the page asks for before a release or an abort (issue 14
    item 6), if this page has one."""
    if tid(page, "confirm").count() == 0:
        return
    expect(tid(page, "confirm-ok")).to_be_visible()
    if reason and tid(page, "confirm-reason").is_visible():
        tid(page, "confirm-reason").fill(reason)
    tid(page, "confirm-ok").click()


def forced_post(page: Page, path: str, body: dict[str, object]) -> tuple[int, str]:
    """A POST sent from the page the way a user bypassing a disabled button would:
    the session cookie and the session's CSRF token, straight to the API."""
    result: list[object] = page.evaluate(
        """async ([path, body]) => {
          const s = await (await fetch("/api/session")).json();
          const r = await fetch(path, { method: "POST", body: JSON.stringify(body),
            headers: { "X-Kprism": "1", "X-Kprism-Csrf": s.csrf, "Content-Type": "application/json" } });
          return [r.status, (await r.json()).error || ""];
        }""",
        [path, body],
    )
    return int(str(result[0])), str(result[1])


def test_the_viewer_sees_why_buttons_are_disabled_and_is_refused(
    page_of: Page, dashboard: str, users: Team, kube: Client
) -> None:
    page, url = page_of, dashboard
    ns = users.namespace
    # a token the API server refuses: one line, still signed out
    page.goto(url)
    tid(page, "login-token").fill("not-a-token")
    tid(page, "login-submit").click()
    expect(tid(page, "login-error")).to_contain_text("did not accept this token")
    expect(tid(page, "user")).to_be_hidden()

    sign_in(page, url, users.viewer_token, users.viewer)
    page.goto(f"{url}/#/{ns}/hello")
    expect(tid(page, "app-name")).to_have_text("hello")
    expect(tid(page, "serving-blue")).to_have_text("serving")
    why = f"you may not patch services in {ns}"
    for button in ("btn-rollback", "btn-release"):
        expect(tid(page, button)).to_be_disabled()
        expect(tid(page, button)).to_have_attribute("title", why)
    expect(tid(page, "btn-scale")).to_have_attribute(
        "title", f"you may not patch deployments in {ns}"
    )
    expect(tid(page, "btn-clone")).to_have_attribute(
        "title", f"you may not create deployments in {ns}"
    )
    note = tid(page, "permission-note")
    expect(note).to_contain_text(f"Abort, Rollback, Release, Split: {why}")
    expect(note).to_contain_text(f"Scale: you may not patch deployments in {ns}")
    if os.environ.get("KPRISM_UPDATE_SCREENSHOT") == "1":  # docs/dashboard.md's picture
        page.screenshot(path=str(IMG / "dashboard-viewer.png"), full_page=True)

    # the disabled buttons bypassed: refused by the server, nothing done
    status, error = forced_post(page, f"/api/apps/{ns}/hello/rollback", {})
    assert status == 403 and why in error, (status, error)
    status, error = forced_post(
        page, f"/api/apps/{ns}/hello/scale", {"track": "blue", "replicas": 1}
    )
    assert status == 403 and f"you may not patch deployments in {ns}" in error
    assert replicas(kube, ns, "hello-blue") == 3
    svc = kube.get(Service, "hello", namespace=ns)
    assert not any(k.startswith("kprism.dev/") for k in (svc.metadata.annotations or {}))


def test_the_releaser_promotes_and_aborts_and_history_names_them(
    page_of: Page, dashboard: str, users: Team, kube: Client, kubeconfig_path: str
) -> None:
    page, url = page_of, dashboard
    ns = users.namespace
    sign_in(page, url, users.releaser_token, users.releaser)
    page.goto(f"{url}/#/{ns}/hello")
    expect(tid(page, "app-name")).to_have_text("hello")
    expect(tid(page, "btn-release")).to_be_enabled()
    expect(tid(page, "permission-note")).to_be_hidden()

    for image in (V2, V3):
        tid(page, "release-image").fill(image)
        tid(page, "release-strategy").select_option("bluegreen")
        tid(page, "release-scale-down-delay").fill("0")
        tid(page, "btn-release").click()
        confirm(page)
        expect(tid(page, "release-phase")).to_have_text("Paused", timeout=SLOW)
        expect(tid(page, "release-step")).to_have_text("await-promotion")
        if image == V2:
            expect(tid(page, "btn-promote")).to_be_enabled()
            tid(page, "btn-promote").click()
            expect(tid(page, "release-phase")).to_have_text("Succeeded", timeout=SLOW)
            assert selector(kube, ns) == {"app": "hello", "color": "green"}
        else:
            expect(tid(page, "btn-abort")).to_be_enabled()
            tid(page, "btn-abort").click()
            confirm(page, reason="not today")
            expect(tid(page, "release-phase")).to_have_text("Aborted", timeout=SLOW)
            assert selector(kube, ns) == {"app": "hello", "color": "green"}
    assert release_status(kube, ns)["phase"] == "Aborted"

    admin = ops.connect(kubeconfig=kubeconfig_path)
    try:
        history = wait_for(
            lambda: ops.history(admin, ops.app_ref(admin, "hello", namespace=ns)),
            lambda h: len(h) >= 2 and h[0]["phase"] == "Aborted",
            what="both releases in the history",
        )
    finally:
        admin.close()
    for entry in history[:2]:
        assert entry["by"].startswith(f"{users.releaser} (web on "), entry


def test_a_forged_session_cookie_is_refused(page_of: Page, dashboard: str, users: Team) -> None:
    page, url = page_of, dashboard
    forged = Sessions("not-the-servers-secret").issue(Identity(user="system:admin"))[0]
    page.context.add_cookies([{"name": COOKIE, "value": forged, "url": url}])
    page.goto(f"{url}/#/{users.namespace}/hello")
    expect(tid(page, "login-view")).to_be_visible()
    expect(tid(page, "app-detail")).to_be_hidden()
    status = page.evaluate(f"fetch('/api/apps?namespace={users.namespace}').then(r => r.status)")
    assert status == 401
