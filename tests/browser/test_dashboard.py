"""The dashboard in a real browser against the real local cluster: every button is
clicked the way an operator would, and every outcome is checked in the cluster too."""

from __future__ import annotations

import os
import re
import shutil
import struct
from pathlib import Path

import pytest
from lightkube import Client
from lightkube.resources.core_v1 import Service
from playwright.sync_api import Page, expect

from kprism.errors import UsageError
from kprism.plan.validate import parse_image_arg
from tests.browser.conftest import Served
from tests.browser.pages import accept, mark_document, same_document, tid
from tests.integration.helpers import (
    kprism,
    make_app,
    ready_endpoints,
    release_status,
    replicas,
    selector,
    wait_for,
)

pytestmark = pytest.mark.integration

V2 = "registry.example/hello:2"
SLOW = 90_000  # ms: a release step waits for pods (KWOK makes them ready after 1s)
SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "img" / "dashboard.png"


def open_app(page: Page, served: Served, namespace: str, app: str = "hello") -> None:
    page.goto(f"{served.url}/#/{namespace}/{app}")
    expect(tid(page, "app-name")).to_have_text(app)
    expect(tid(page, "live")).to_have_attribute("data-state", "live")


def release(
    page: Page,
    image: str,
    *,
    strategy: str = "bluegreen",
    steps: str = "",
    pause: str = "",
    auto_promote: bool = False,
    delay: int = 1,
    confirm: bool = True,
) -> None:
    """Fill in the release form and press Release; ``confirm``: the confirmation (with
    the pod-template diff) opens and is accepted — False for a release refused before."""
    tid(page, "release-image").fill(image)
    tid(page, "release-strategy").select_option(strategy)
    if strategy == "canary":
        tid(page, "release-steps").fill(steps)
        tid(page, "release-pause").fill(pause)
    tid(page, "release-auto-promote").set_checked(auto_promote)
    tid(page, "release-scale-down-delay").fill(str(delay))
    tid(page, "btn-release").click()
    if confirm:
        accept(page)


def green_blue_endpoints(kube: Client, ns: str) -> tuple[int, int]:
    eps = ready_endpoints(kube, ns, "hello")
    return (
        sum(n.startswith("hello-green-") for n in eps),
        sum(n.startswith("hello-blue-") for n in eps),
    )


def test_an_unknown_namespace_is_one_error_line_then_the_right_one_lists_its_apps(
    page: Page, served: Served, kube: Client, namespace: str
) -> None:
    make_app(kube, namespace)
    page.goto(f"{served.url}/#/{namespace}")
    expect(tid(page, "app-row-hello")).to_be_visible()
    missing = f"{namespace}-nosuch"
    tid(page, "namespace-input").fill(missing)
    tid(page, "namespace-go").click()
    expect(tid(page, "error-text")).to_have_text(
        f"namespace '{missing}' does not exist: pick an existing namespace"
    )
    expect(tid(page, "list-namespace")).to_have_text(missing)
    expect(tid(page, "app-row-hello")).to_have_count(0)  # no rows of the other namespace
    # the dashboard and the cluster answered: the badge stays live
    expect(tid(page, "live")).to_have_attribute("data-state", "live")
    tid(page, "namespace-input").fill(namespace)
    tid(page, "namespace-go").click()
    expect(tid(page, "app-row-hello")).to_be_visible()
    expect(tid(page, "error")).to_be_hidden()


def test_app_list_shows_the_app_and_its_serving_track(
    page: Page, served: Served, kube: Client, namespace: str
) -> None:
    make_app(kube, namespace)
    page.goto(served.url)
    tid(page, "namespace-input").fill(namespace)
    tid(page, "namespace-go").click()
    expect(tid(page, "list-namespace")).to_have_text(namespace)
    expect(tid(page, "app-row-hello")).to_be_visible()
    expect(tid(page, "app-serving-hello")).to_have_text("blue")
    expect(tid(page, "app-row-hello")).to_contain_text("-")  # no release yet
    expect(tid(page, "live")).to_have_attribute("data-state", "live")
    # the list is live: a Service flip made elsewhere shows up without a reload
    mark_document(page)
    kube.patch(
        Service,
        "hello",
        {"spec": {"selector": {"app": "hello", "color": "green"}}},
        namespace=namespace,
    )
    expect(tid(page, "app-serving-hello")).to_have_text("green")
    assert same_document(page)
    # the overview lists the apps of every namespace; the find box takes namespace/name
    tid(page, "all-namespaces").click()
    expect(tid(page, "list-namespace")).to_have_text("all namespaces")
    tid(page, "list-search").fill(f"{namespace}/")
    expect(tid(page, f"app-row-{namespace}-hello")).to_be_visible()
    expect(tid(page, f"app-row-{namespace}-hello")).to_contain_text(f"{namespace}/hello")
    # and the link opens the app page with its tracks
    tid(page, f"app-link-{namespace}-hello").click()
    expect(tid(page, "app-detail")).to_be_visible()
    expect(tid(page, "track-row-blue")).to_contain_text("hello-blue")
    expect(tid(page, "ready-blue")).to_have_text("3/3")
    expect(tid(page, "app-selector")).to_contain_text("app=hello, color=green")


def test_bluegreen_release_waits_for_promote_then_switches(
    page: Page, served: Served, kube: Client, namespace: str
) -> None:
    make_app(kube, namespace)
    open_app(page, served, namespace)
    expect(tid(page, "no-release")).to_be_visible()
    expect(tid(page, "serving-blue")).to_have_text("serving")
    mark_document(page)

    release(page, V2)
    expect(tid(page, "notice-text")).to_contain_text("started: this dashboard drives it")
    # live updates, no reload: the page walks through the steps to the promotion gate
    expect(tid(page, "release-phase")).to_have_text("Paused", timeout=SLOW)
    expect(tid(page, "release-step")).to_have_text("await-promotion")
    expect(tid(page, "release-message")).to_contain_text("green is ready")
    expect(tid(page, "ready-green")).to_have_text("3/3")
    expect(tid(page, "serving-green")).to_have_text("idle")
    expect(tid(page, "btn-promote")).to_be_enabled()
    expect(tid(page, "job-log").first).to_contain_text("CandidateReady")
    assert same_document(page)
    st = release_status(kube, namespace)
    assert (st["phase"], st["step"]) == ("Paused", "await-promotion")
    assert selector(kube, namespace) == {"app": "hello", "color": "blue"}

    tid(page, "btn-promote").click()
    expect(tid(page, "release-phase")).to_have_text("Succeeded", timeout=SLOW)
    expect(tid(page, "serving-green")).to_have_text("serving")
    expect(tid(page, "serving-blue")).to_have_text("idle")
    expect(tid(page, "history-row-0")).to_contain_text("Succeeded")
    expect(tid(page, "history-row-0")).to_contain_text(V2)
    assert same_document(page)
    # the cluster agrees: the Service selects green, blue is scaled down
    assert selector(kube, namespace) == {"app": "hello", "color": "green"}
    assert release_status(kube, namespace)["phase"] == "Succeeded"
    assert replicas(kube, namespace, "hello-blue") == 0
    assert green_blue_endpoints(kube, namespace) == (3, 0)


def test_rollback_button_flips_back_to_blue(
    page: Page, served: Served, kube: Client, namespace: str
) -> None:
    make_app(kube, namespace)
    open_app(page, served, namespace)
    release(page, V2, auto_promote=True)
    expect(tid(page, "release-phase")).to_have_text("Succeeded", timeout=SLOW)
    expect(tid(page, "serving-green")).to_have_text("serving")
    assert selector(kube, namespace) == {"app": "hello", "color": "green"}
    released = tid(page, "release-id").inner_text()

    tid(page, "btn-rollback").click()
    expect(tid(page, "confirm-body")).to_contain_text("green → blue")
    accept(page)
    expect(tid(page, "release-id")).not_to_have_text(released)
    expect(tid(page, "release-phase")).to_have_text("Succeeded", timeout=SLOW)
    expect(tid(page, "release-message")).to_contain_text("rolled back to blue")
    expect(tid(page, "serving-blue")).to_have_text("serving")
    expect(tid(page, "serving-green")).to_have_text("idle")
    expect(tid(page, "history-row-0")).to_contain_text("rollback")
    expect(tid(page, "history-row-1")).to_contain_text("release")
    assert selector(kube, namespace) == {"app": "hello", "color": "blue"}
    st = release_status(kube, namespace)
    assert (st["kind"], st["phase"], st["candidate"]) == ("rollback", "Succeeded", "blue")
    assert replicas(kube, namespace, "hello-blue") == 3
    assert green_blue_endpoints(kube, namespace) == (0, 3)


def test_bad_image_shows_the_one_line_error_and_changes_nothing(
    page: Page, served: Served, kube: Client, namespace: str
) -> None:
    make_app(kube, namespace)
    open_app(page, served, namespace)
    bad = "registry.example/Hello:2"
    with pytest.raises(UsageError) as refused:
        parse_image_arg(bad)
    expected = str(refused.value)

    release(page, bad, confirm=False)
    expect(tid(page, "error")).to_be_visible()
    expect(tid(page, "error-text")).to_have_text(expected)
    assert "\n" not in tid(page, "error-text").inner_text()
    # the error stays up while the page keeps polling, and nothing started
    page.wait_for_timeout(2_500)
    expect(tid(page, "error-text")).to_have_text(expected)
    expect(tid(page, "no-release")).to_be_visible()
    expect(tid(page, "live")).to_have_attribute("data-state", "live")
    assert release_status(kube, namespace) == {}
    assert selector(kube, namespace) == {"app": "hello", "color": "blue"}
    expect(tid(page, "tracks").locator("tbody tr")).to_have_count(1)
    assert served.dashboard.jobs.for_app(f"{namespace}/hello") == []
    # a canary without steps is refused the same way (400, one line, nothing changed)
    release(page, V2, strategy="canary", steps="", confirm=False)
    expect(tid(page, "error-text")).to_have_text("a canary needs steps, e.g. 10,25,50,100")
    assert release_status(kube, namespace) == {}


def test_canary_shows_steps_and_weights_then_abort_returns_to_blue(
    page: Page, served: Served, kube: Client, namespace: str
) -> None:
    make_app(kube, namespace)
    open_app(page, served, namespace)
    release(page, V2, strategy="canary", steps="50,100", pause="manual")
    expect(tid(page, "canary-steps")).to_be_visible()
    expect(tid(page, "canary-steps").locator("tbody tr")).to_have_count(3)
    expect(tid(page, "canary-step-1")).to_contain_text("setWeight 50%")
    expect(tid(page, "canary-step-2")).to_contain_text("pause until promote")
    expect(tid(page, "canary-step-3")).to_contain_text("setWeight 100%")
    # at the manual pause after 50%: the page shows what was requested and achieved
    expect(tid(page, "canary-step-2-state")).to_have_text("current", timeout=SLOW)
    expect(tid(page, "release-phase")).to_have_text("Paused")
    expect(tid(page, "canary-step-1-state")).to_have_text("done")
    expect(tid(page, "canary-step-3-state")).to_have_text("pending")
    st = release_status(kube, namespace)
    assert st["step_index"] == 1 and st["requested_weight"] == 50.0, st
    achieved = f"{st['achieved_weight']:g}%"
    expect(tid(page, "weight-requested")).to_have_text("50%")
    expect(tid(page, "weight-achieved")).to_have_text(achieved)
    expect(tid(page, "canary-step-1-requested")).to_have_text("50%")
    expect(tid(page, "canary-step-1-achieved")).to_have_text(achieved)
    expect(tid(page, "serving-green")).to_have_text("serving")
    expect(tid(page, "serving-blue")).to_have_text("serving")
    green, blue = green_blue_endpoints(kube, namespace)
    assert green > 0 and blue > 0, (green, blue)
    assert abs(100 * green / (green + blue) - st["achieved_weight"]) < 0.5
    shoot(page)

    tid(page, "btn-abort").click()
    accept(page)
    expect(tid(page, "release-phase")).to_have_text("Aborted", timeout=SLOW)
    expect(tid(page, "canary-step-2-state")).to_have_text("stopped")
    expect(tid(page, "weight-now")).to_have_text("now 0%")
    expect(tid(page, "serving-green")).to_have_text("idle")
    expect(tid(page, "serving-blue")).to_have_text("serving")
    expect(tid(page, "btn-abort")).to_be_disabled()
    assert selector(kube, namespace) == {"app": "hello", "color": "blue"}
    assert release_status(kube, namespace)["phase"] == "Aborted"
    wait_for(lambda: replicas(kube, namespace, "hello-green"), lambda n: n == 0, what="green at 0")
    assert green_blue_endpoints(kube, namespace) == (0, 3)


def test_clone_and_scale_buttons(page: Page, served: Served, kube: Client, namespace: str) -> None:
    make_app(kube, namespace)
    open_app(page, served, namespace)
    tid(page, "clone-track").fill("red")
    tid(page, "clone-image").fill("registry.example/hello:3-rc1")
    tid(page, "clone-replicas").fill("1")
    tid(page, "btn-clone").click()
    expect(tid(page, "notice-text")).to_contain_text("without traffic")
    expect(tid(page, "track-row-red")).to_contain_text("registry.example/hello:3-rc1")
    expect(tid(page, "ready-red")).to_have_text("1/1", timeout=SLOW)
    expect(tid(page, "serving-red")).to_have_text("idle")
    assert selector(kube, namespace) == {"app": "hello", "color": "blue"}

    tid(page, "scale-track").select_option("red")
    tid(page, "scale-replicas").fill("2")
    tid(page, "btn-scale").click()
    expect(tid(page, "notice-text")).to_have_text("scaled hello-red (color=red) to 2")
    expect(tid(page, "ready-red")).to_have_text("2/2", timeout=SLOW)
    assert replicas(kube, namespace, "hello-red") == 2
    # refused: the serving track to 0 (one line, nothing changed)
    tid(page, "scale-track").select_option("blue")
    tid(page, "scale-replicas").fill("0")
    tid(page, "btn-scale").click()
    expect(tid(page, "confirm-body")).to_contain_text("blue: 3 → 0 replicas")
    accept(page)
    expect(tid(page, "error-text")).to_have_text(
        re.compile(r"^track blue serves all traffic of hello: .*drop every request$")
    )
    assert replicas(kube, namespace, "hello-blue") == 3


def shoot(page: Page) -> None:
    """Screenshot the app page; ``KPRISM_UPDATE_SCREENSHOT=1`` also writes it to
    docs/img/dashboard.png (kept out of normal runs so the tree stays clean)."""
    path = Path(os.environ.get("TMPDIR", "/tmp")) / f"kprism-dashboard-{os.getpid()}.png"
    page.screenshot(path=str(path), full_page=True)
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert width == 1400 and height >= 900, (width, height)
    if os.environ.get("KPRISM_UPDATE_SCREENSHOT") == "1":
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, SCREENSHOT)
    path.unlink()


def test_cli_and_dashboard_drive_the_same_release(
    page: Page, served: Served, kube: Client, namespace: str, kubeconfig_path: str
) -> None:
    """A release the CLI left at the promotion gate is promoted here (the dashboard takes
    the Lease and drives it); one the dashboard drives is promoted by `kprism promote`."""
    make_app(kube, namespace)
    open_app(page, served, namespace)
    mark_document(page)
    kprism(
        "release", "hello", "-n", namespace, "--image", V2, "--no-wait",
        "--scale-down-delay", "1", kubeconfig=kubeconfig_path, check=0,
    )  # fmt: skip
    expect(tid(page, "release-phase")).to_have_text("Paused", timeout=SLOW)
    expect(tid(page, "lease")).to_have_count(0)  # nobody drives it now
    tid(page, "btn-promote").click()
    expect(tid(page, "notice-text")).to_contain_text("this dashboard drives it")
    expect(tid(page, "release-phase")).to_have_text("Succeeded", timeout=SLOW)
    expect(tid(page, "jobs")).to_contain_text("promote")
    assert selector(kube, namespace) == {"app": "hello", "color": "green"}

    release(page, "registry.example/hello:3")
    expect(tid(page, "release-step")).to_have_text("await-promotion", timeout=SLOW)
    expect(tid(page, "lease")).to_be_visible()  # this dashboard's engine holds the Lease
    kprism("promote", "hello", "-n", namespace, kubeconfig=kubeconfig_path, check=0)
    expect(tid(page, "release-phase")).to_have_text("Succeeded", timeout=SLOW)
    expect(tid(page, "serving-blue")).to_have_text("serving")
    expect(tid(page, "history-row-0")).to_contain_text("registry.example/hello:3")
    expect(tid(page, "history-row-1")).to_contain_text(V2)
    assert same_document(page)
    assert selector(kube, namespace) == {"app": "hello", "color": "blue"}
