"""The dashboard explains itself (issue 14 items 3, 5, 6, 7), in Chromium against the real
cluster: traffic bars in the list and the page, updates by server-sent events (no
polling, no reload), a timed pause's countdown, the abort confirmation with a reason that
lands in the timeline and the audit trail, a rollback to an older release after a
confirmation showing the pod-template diff, and the layout at 420 px (no horizontal
scroll, every button reachable, the dialog keyboard-only)."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest
from lightkube import Client
from lightkube.resources.apps_v1 import Deployment
from playwright.sync_api import Page, expect

from tests.browser.conftest import Served
from tests.browser.pages import accept, mark_document, same_document, tid
from tests.browser.test_dashboard import SLOW, open_app
from tests.integration.helpers import kprism, kprism_bg, make_app, release_status, selector

pytestmark = pytest.mark.integration

IMG = Path(__file__).resolve().parents[2] / "docs" / "img"


def v(n: int) -> str:
    return f"registry.example/hello:{n}"


def shoot(page: Page, name: str) -> None:
    """A screenshot; ``KPRISM_UPDATE_SCREENSHOT=1`` also writes it to docs/img/NAME."""
    path = Path(os.environ.get("TMPDIR", "/tmp")) / f"kprism-{os.getpid()}-{name}"
    page.screenshot(path=str(path), full_page=True)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    if os.environ.get("KPRISM_UPDATE_SCREENSHOT") == "1":
        IMG.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, IMG / name)
    path.unlink()


def image_of(kube: Client, namespace: str, track: str) -> str:
    dep = kube.get(Deployment, f"hello-{track}", namespace=namespace)
    assert dep.spec is not None and dep.spec.template.spec is not None
    return str(dep.spec.template.spec.containers[0].image)


# the elements that reach past the right edge, innermost first (the assertion's message)
OVERFLOWING = """() => [...document.querySelectorAll('body *')]
  .filter((e) => e.getBoundingClientRect().right > document.documentElement.clientWidth + 0.5
    && ![...e.children].some((c) => c.getBoundingClientRect().right > document.documentElement.clientWidth + 0.5))
  .slice(0, 5).map((e) => `${e.tagName}.${e.className} ${e.dataset.testid || ''} right=${e.getBoundingClientRect().right}`)"""


def no_sideways_scroll(page: Page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 420, (width, page.evaluate(OVERFLOWING))


def cli_release(kubeconfig: str, namespace: str, *args: str) -> None:
    kprism(
        "release", "hello", "-n", namespace, "--scale-down-delay", "0", *args,
        kubeconfig=kubeconfig, check=0,
    )  # fmt: skip


def test_traffic_live_by_events_countdown_and_abort_with_a_reason(
    page: Page, served: Served, kube: Client, namespace: str, kubeconfig_path: str
) -> None:
    make_app(kube, namespace, replicas=4)
    page.goto(f"{served.url}/#/{namespace}")
    expect(tid(page, "app-traffic-hello-text")).to_have_text("blue 100%")
    expect(tid(page, "list-range")).to_have_text("1–1 of 1")
    open_app(page, served, namespace)
    expect(tid(page, "traffic-text")).to_have_text("blue 100%")
    expect(tid(page, "btn-promote")).to_be_disabled()
    expect(tid(page, "control-note")).to_contain_text("no release in progress")
    mark_document(page)
    reads: list[str] = []
    page.on("request", lambda r: reads.append(r.url) if r.url.endswith("/hello") else None)

    # a canary the CLI drives, at a timed pause, shows up by itself: the stream carries it
    cli = kprism_bg(
        "release", "hello", "-n", namespace, "--image", v(2), "--steps", "50,100",
        "--pause", "10m", "--scale-down-delay", "0", kubeconfig=kubeconfig_path,
    )  # fmt: skip
    try:
        expect(tid(page, "traffic-text")).to_have_text("green 50% · blue 50%", timeout=SLOW)
        expect(tid(page, "countdown")).to_have_text(
            re.compile(r"^paused until .* \(your time\) · (9m \d+|10m 0)s left$")
        )
        expect(tid(page, "weight-plot-svg")).to_have_attribute("data-last", "50")
        expect(tid(page, "timeline")).to_contain_text("StepReached")
        expect(tid(page, "timeline").locator("tr.tl-wait")).to_contain_text("timed pause")
        expect(tid(page, "btn-resume")).to_be_disabled()  # the CLI drives it
        expect(tid(page, "control-note")).to_contain_text("Resume: the release is running")
        assert reads == [], reads  # nothing polled the app: the page listened to its stream
        assert same_document(page)
        shoot(page, "dashboard-traffic.png")
        abort_with_a_reason(page, kube, namespace)
    finally:
        if cli.poll() is None:
            cli.kill()
        cli.communicate()


def abort_with_a_reason(page: Page, kube: Client, namespace: str) -> None:
    # abort asks first, showing the traffic before and after; Escape changes nothing
    tid(page, "btn-abort").click()
    expect(tid(page, "confirm-body")).to_contain_text("green 50%, blue 50% → after: blue 100%")
    expect(tid(page, "confirm-reason")).to_be_focused()
    page.keyboard.press("Escape")
    expect(tid(page, "confirm")).to_be_hidden()
    assert not release_status(kube, namespace).get("aborting")
    tid(page, "btn-abort").click()
    accept(page, reason="error rate too high")
    expect(tid(page, "release-phase")).to_have_text("Aborted", timeout=SLOW)
    expect(tid(page, "traffic-text")).to_have_text("blue 100%")
    assert selector(kube, namespace) == {"app": "hello", "color": "blue"}
    intent = tid(page, "timeline").locator("tr.tl-intent")
    expect(intent).to_contain_text("abort")
    expect(intent).to_contain_text("reason: error rate too high")
    expect(intent).to_contain_text("applied")
    tid(page, "audit-kind").select_option("abort")
    expect(tid(page, "audit-row-0")).to_contain_text("error rate too high")
    expect(tid(page, "audit-row-0")).to_contain_text("applied")
    expect(tid(page, "audit-row-0")).to_contain_text("web")
    expect(tid(page, "audit-row-1")).to_have_count(0)
    assert same_document(page)


def test_rollback_to_an_older_release_after_seeing_the_diff(
    page: Page, served: Served, kube: Client, namespace: str, kubeconfig_path: str
) -> None:
    make_app(kube, namespace)
    for n in (2, 3, 4):  # blue → green (2) → blue (3) → green (4)
        cli_release(kubeconfig_path, namespace, "--image", v(n), "--auto-promote")
    assert selector(kube, namespace)["color"] == "green"
    first = release_status(kube, namespace)  # the last; the history has the others
    open_app(page, served, namespace)
    expect(tid(page, "release-id")).to_have_text(first["id"])
    expect(tid(page, "history-row-2")).to_contain_text(v(2))
    oldest = tid(page, "history-row-2").locator("td").first.inner_text()
    assert oldest != first["id"]
    tid(page, "rollback-to").select_option(oldest)
    tid(page, "btn-rollback").click()
    expect(tid(page, "confirm-title")).to_have_text(f"Roll back to release {oldest}?")
    diff = tid(page, "confirm-diff")
    expect(diff).to_contain_text("spec.containers[hello].image")
    expect(diff).to_contain_text(v(4))
    expect(diff).to_contain_text(v(2))
    expect(tid(page, "confirm-note")).to_contain_text("not its whole pod template")
    shoot(page, "dashboard-rollback-confirm.png")
    accept(page)
    expect(tid(page, "release-id")).not_to_have_text(first["id"])
    expect(tid(page, "release-phase")).to_have_text("Succeeded", timeout=SLOW)
    expect(tid(page, "history-row-0")).to_contain_text("rollback")
    st = release_status(kube, namespace)
    assert (st["kind"], st["candidate"]) == ("rollback", "blue")
    assert selector(kube, namespace)["color"] == "blue"
    assert image_of(kube, namespace, "blue") == v(2)
    expect(tid(page, "track-row-blue")).to_contain_text(v(2))
    # a history row shows that release's timeline and plot (Enter, from the keyboard)
    tid(page, "history-row-3").focus()
    page.keyboard.press("Enter")
    expect(tid(page, "timeline-title")).to_have_text(f"Timeline of release {oldest}")
    expect(tid(page, "timeline")).to_contain_text("TrafficSwitched")
    expect(tid(page, "weight-plot-svg")).to_have_attribute("data-last", "100")
    tid(page, "timeline-current").click()
    expect(tid(page, "timeline-title")).to_have_text("Timeline of the current release")


def test_narrow_screen_and_keyboard(
    page: Page, served: Served, kube: Client, namespace: str, kubeconfig_path: str
) -> None:
    make_app(kube, namespace)
    cli_release(kubeconfig_path, namespace, "--image", v(2), "--auto-promote")
    page.set_viewport_size({"width": 420, "height": 900})
    page.goto(f"{served.url}/#/{namespace}")
    expect(tid(page, "app-traffic-hello-text")).to_have_text("green 100%")
    no_sideways_scroll(page)
    open_app(page, served, namespace)
    expect(tid(page, "traffic-text")).to_have_text("green 100%")
    no_sideways_scroll(page)
    for button in (
        "btn-promote", "btn-promote-full", "btn-pause", "btn-resume", "btn-abort",
        "btn-rollback", "btn-release", "btn-scale", "btn-clone", "btn-split",
    ):  # fmt: skip
        el = tid(page, button)
        el.scroll_into_view_if_needed()
        box = el.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 420, (button, box)
    shoot(page, "dashboard-narrow.png")

    # keyboard only: Tab reaches Rollback, its dialog keeps the focus, Escape closes it
    tid(page, "namespace-input").focus()
    for _ in range(80):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.dataset.testid") == "btn-rollback":
            break
    else:
        pytest.fail("Tab never reached the Rollback button")
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none"  # the focus is visible
    page.keyboard.press("Enter")
    expect(tid(page, "confirm")).to_be_visible()
    for _ in range(6):
        page.keyboard.press("Tab")
        inside = page.evaluate("!!document.activeElement.closest('dialog')")
        assert inside, page.evaluate("document.activeElement.outerHTML")
    page.keyboard.press("Escape")
    expect(tid(page, "confirm")).to_be_hidden()
    expect(tid(page, "btn-rollback")).to_be_focused()
    assert selector(kube, namespace)["color"] == "green"  # nothing was done
