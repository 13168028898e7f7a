"""Why-not-ready on the app page (issue 14 item 4): a CLI release to an image that cannot
be pulled (KWOK's ImagePullBackOff stage); the page names the reason for each new pod
within seconds, and the release's failure names it once fail-fast ends it."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from lightkube import Client
from playwright.sync_api import Page, expect

from tests.browser.conftest import Served
from tests.browser.pages import tid
from tests.browser.test_dashboard import SLOW, open_app, release
from tests.integration.helpers import kprism_bg, make_app, release_status, selector

pytestmark = pytest.mark.integration

BAD_IMAGE = "registry.example/hello:does-not-exist"
SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "img" / "dashboard-not-ready.png"


def test_the_page_says_why_new_pods_are_not_ready(
    page: Page, served: Served, kube: Client, namespace: str, kubeconfig_path: str
) -> None:
    make_app(kube, namespace, replicas=2)
    proc = kprism_bg(
        "release", "hello", "-n", namespace, "--image", BAD_IMAGE, "--auto-promote",
        "--fail-fast-after", "20s", kubeconfig=kubeconfig_path,
    )  # fmt: skip
    try:
        open_app(page, served, namespace)
        box = tid(page, "not-ready")
        expect(box).to_be_visible(timeout=SLOW)
        expect(tid(page, "not-ready-green")).to_contain_text("2 pods not ready")
        reasons = tid(page, "not-ready-reason")
        expect(reasons).to_have_count(2)
        expect(reasons.first).to_have_text("ImagePullBackOff")
        expect(reasons.last).to_have_text("ImagePullBackOff")
        expect(box).to_contain_text(f'Back-off pulling image "{BAD_IMAGE}"')
        expect(box).to_contain_text("stuck")
        expect(tid(page, "not-ready-event").first).to_be_visible()
        # the release waits and says when it fails
        expect(tid(page, "release-message")).to_contain_text("the release fails at")
        if os.environ.get("KPRISM_UPDATE_SCREENSHOT") == "1":
            SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
            tmp = Path(os.environ.get("TMPDIR", "/tmp")) / f"kprism-not-ready-{os.getpid()}.png"
            page.locator(".card").filter(has=box).screenshot(path=str(tmp))
            shutil.copyfile(tmp, SCREENSHOT)
            tmp.unlink()
        # fail-fast ends it: the reason is in the failure; green is gone, so is the box
        expect(tid(page, "release-phase")).to_have_text("Failed", timeout=SLOW)
        expect(tid(page, "release-last-error")).to_contain_text("ImagePullBackOff")
        expect(box).to_be_hidden(timeout=SLOW)
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 1, err
        assert release_status(kube, namespace)["phase"] == "Failed"
        assert selector(kube, namespace)["color"] == "blue"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def test_a_dashboard_release_to_a_bad_image_fails_fast_with_the_reason(
    page: Page, served: Served, kube: Client, namespace: str
) -> None:
    """The release form's *fail fast after*: a bad value is one line and starts nothing; a
    release the dashboard drives to an image that cannot be pulled fails after it."""
    make_app(kube, namespace, replicas=2)
    open_app(page, served, namespace)
    tid(page, "release-fail-fast-after").fill("soon")
    release(page, BAD_IMAGE, auto_promote=True, confirm=False)
    expect(tid(page, "error-text")).to_contain_text("failFastAfter 'soon'")
    assert release_status(kube, namespace) == {}
    tid(page, "release-fail-fast-after").fill("3s")
    release(page, BAD_IMAGE, auto_promote=True)
    expect(tid(page, "not-ready-reason").first).to_have_text("ImagePullBackOff", timeout=SLOW)
    expect(tid(page, "release-phase")).to_have_text("Failed", timeout=SLOW)
    expect(tid(page, "release-last-error")).to_contain_text("ImagePullBackOff")
    expect(tid(page, "release-last-error")).to_contain_text("fail-fast after 3s")
    st = release_status(kube, namespace)
    assert st["phase"] == "Failed" and st["spec"]["fail_fast_after"] == 3
    assert selector(kube, namespace)["color"] == "blue"
