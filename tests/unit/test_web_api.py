"""The dashboard's HTTP API without a cluster: the page and its security headers, and
every refusal that happens before ``ops`` would talk to the API server (one-line JSON
errors, status 400/403). The kubeconfig points at a port nothing listens on: none of
these requests may need the cluster."""

from __future__ import annotations

import json
import math
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from kprism import ops
from kprism.web import page
from kprism.web.app import bind, create_app, is_loopback
from tests.unit.bgsim import blue_app
from tests.unit.fakekube import NS, FakeKube

KUBECONFIG = """\
apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:9"}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: x, context: {cluster: c, user: u, namespace: shop}}]
current-context: x
"""
POST = {"X-Kprism": "1"}


@pytest.fixture
def kubeconfig(tmp_path: Path) -> str:
    path = tmp_path / "kubeconfig"
    path.write_text(KUBECONFIG)
    return str(path)


@pytest.fixture
def client(kubeconfig: str) -> Iterator[TestClient]:
    with TestClient(create_app(kubeconfig=kubeconfig), base_url="http://127.0.0.1:8080") as c:
        yield c


def test_config_names_the_kubeconfig_namespace(client: TestClient) -> None:
    r = client.get("/api/config")
    assert r.status_code == 200
    assert r.json()["namespace"] == "shop"


def test_page_is_self_contained_and_locked_down(client: TestClient) -> None:
    r = client.get("/")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    html = r.text
    # nothing is fetched from anywhere else: no external URL, no src/href but data:/#
    assert not re.search(r"https?://", html)
    for attr in re.findall(r'(?:src|href)="([^"]*)"', html):
        assert attr.startswith(("data:", "#")), attr
    csp = r.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "connect-src 'self'" in csp
    # the hashes in the policy are those of the inline script and style actually served
    script = re.search(r"<script>(.*)</script>", html, re.S)
    style = re.search(r"<style>(.*)</style>", html, re.S)
    assert script and style
    assert page.csp_hash(script.group(1)) in csp
    assert page.csp_hash(style.group(1)) in csp
    assert html.count("<script") == 1 and html.count("<style") == 1
    # ... and they are the package's static files, byte for byte
    assert script.group(1) == page.read("dashboard.js")
    assert style.group(1) == page.read("dashboard.css")


def test_other_hosts_are_refused(client: TestClient) -> None:
    r = client.get("/api/config", headers={"Host": "attacker.example:8080"})
    assert r.status_code == 400
    assert r.json()["error"].startswith("host 'attacker.example:8080' is not served here")
    assert client.get("/api/config", headers={"Host": "localhost:8080"}).status_code == 200
    assert client.get("/api/config", headers={"Host": "[::1]:8080"}).status_code == 200


def test_posts_need_the_dashboard_header(client: TestClient) -> None:
    r = client.post("/api/apps/shop/web/intent/abort")
    assert r.status_code == 403
    assert r.json() == {"error": "POST needs the header X-Kprism: 1"}


@pytest.mark.parametrize(
    ("path", "body", "error"),
    [
        (
            "release",
            {"image": "registry.example/Hello:2"},
            "image 'registry.example/Hello:2' is not a valid image reference",
        ),
        ("release", {"image": ""}, "give an image"),
        ("release", {"image": "app:2", "strategy": "canary"}, "a canary needs steps"),
        ("release", {"image": "app:2", "strategy": "blue"}, "strategy: Input should be"),
        ("release", {"image": "app:2", "scaleDownDelay": -1}, "scaleDownDelay: Input should be"),
        ("release", {"image": "app:2", "imgae": "x"}, "imgae: Extra inputs are not permitted"),
        ("intent/bogus", {}, "unknown action 'bogus'"),
        ("scale", {"track": "blue", "replicas": -1}, "replicas: Input should be greater"),
        ("scale", {"replicas": 1}, "track: Field required"),
        ("clone", {"track": "red", "image": "Bad Image"}, "is not a valid image reference"),
        ("split", {"weights": "blue"}, "weight 'blue': use TRACK=PERCENT"),
        ("rollback", {"scaleDownDelay": -5}, "scaleDownDelay: Input should be"),
        # non-finite and out-of-range numbers (JSON's NaN and Infinity included)
        (
            "release",
            {"image": "app:2", "scaleDownDelay": math.nan},
            "scaleDownDelay: Input should be a finite number",
        ),
        (
            "release",
            {"image": "app:2", "scaleDownDelay": 1e308},
            "scaleDownDelay: Input should be less than or equal to 2592000",
        ),
        (
            "rollback",
            {"scaleDownDelay": math.inf},
            "scaleDownDelay: Input should be a finite number",
        ),
        (
            "scale",
            {"track": "blue", "replicas": 2**31},
            "replicas: Input should be less than or equal to 2147483647",
        ),
        (
            "clone",
            {"track": "red", "image": "app:2", "replicas": -math.inf},
            "replicas: Input should be a finite number",
        ),
        ("split", {"weights": "blue=80 green=30"}, "weights must sum to 100"),
    ],
)
def test_bad_input_is_one_line_400(
    client: TestClient, path: str, body: dict[str, object], error: str
) -> None:
    r = client.post(
        f"/api/apps/shop/web/{path}",
        content=json.dumps(body),  # with NaN and Infinity, which any script may send
        headers={**POST, "Content-Type": "application/json"},
    )
    assert r.status_code == 400, r.text
    message = r.json()["error"]
    assert error in message
    assert "\n" not in message
    assert client.app.state.dashboard.jobs.for_app("shop/web") == []  # type: ignore[attr-defined]


def test_body_that_is_not_json(client: TestClient) -> None:
    r = client.post(
        "/api/apps/shop/web/release",
        content=b"{not json",
        headers={**POST, "Content-Type": "application/json"},
    )
    assert r.status_code == 400
    assert "not valid JSON" in r.json()["error"]


class WebFake(FakeKube):
    """The unit tests' adapter (namespace ``ns`` with app ``hello``) plus namespace
    ``empty``, which exists and has no Services."""

    def check_namespace(self, namespace: str) -> None:
        if namespace != "empty":
            super().check_namespace(namespace)

    def close(self) -> None:
        pass


@pytest.fixture
def fake_client(monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    kube = WebFake(blue_app())
    monkeypatch.setattr(ops, "connect", lambda **_: kube)
    with TestClient(create_app(), base_url="http://127.0.0.1:8080") as c:
        yield c


def test_apps_of_a_namespace(fake_client: TestClient) -> None:
    r = fake_client.get("/api/apps", params={"namespace": NS})
    assert r.status_code == 200
    assert [(a["name"], a["serving"]) for a in r.json()["apps"]] == [("hello", "blue")]
    r = fake_client.get("/api/apps", params={"namespace": "empty"})
    assert r.status_code == 200
    assert r.json() == {"namespace": "empty", "apps": []}


def test_an_unknown_namespace_is_400_one_line(fake_client: TestClient) -> None:
    r = fake_client.get("/api/apps", params={"namespace": "nosuch"})
    assert r.status_code == 400
    assert r.json() == {"error": "namespace 'nosuch' does not exist: pick an existing namespace"}
    # the app page says the same, through ops
    r = fake_client.get("/api/apps/nosuch/hello")
    assert r.status_code == 400
    assert r.json()["error"].startswith("namespace 'nosuch' does not exist")


def test_unreachable_cluster_is_502_one_line(client: TestClient) -> None:
    r = client.get("/api/apps", params={"namespace": "shop"})
    assert r.status_code == 502, r.text
    assert "\n" not in r.json()["error"]


def test_missing_kubeconfig_fails_at_creation(tmp_path: Path) -> None:
    from kprism.errors import UsageError

    with pytest.raises(UsageError, match="does not exist"):
        create_app(kubeconfig=str(tmp_path / "nope"))


def test_loopback_names() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("::1")
    assert is_loopback("[::1]") and is_loopback("127.0.0.2")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.0.2.1")
    assert not is_loopback("example.org")


def test_kprism_web_refuses_a_busy_port(kubeconfig: str) -> None:
    busy = bind("127.0.0.1", 0)
    port = busy.getsockname()[1]
    try:
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "kprism.cli.main",
                "web",
                "--port",
                str(port),
                "--kubeconfig",
                kubeconfig,
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        busy.close()
    assert out.returncode == 2, out.stderr
    assert f"cannot listen on 127.0.0.1:{port}" in out.stderr
    assert "Traceback" not in out.stderr


def test_kprism_web_with_a_missing_kubeconfig(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "kprism.cli.main", "web", "--kubeconfig", str(tmp_path / "nope")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 2
    assert "does not exist" in out.stderr and "Traceback" not in out.stderr


def test_bind_gives_a_listening_loopback_socket() -> None:
    sock = bind("127.0.0.1", 0)
    try:
        assert sock.getsockname()[0] == "127.0.0.1"
        with socket.create_connection(sock.getsockname(), timeout=5):
            pass
    finally:
        sock.close()


def test_kprism_web_serves_the_page_on_loopback(kubeconfig: str) -> None:
    import time
    import urllib.request

    probe = bind("127.0.0.1", 0)
    port = probe.getsockname()[1]
    probe.close()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "kprism.cli.main",
            "web",
            "--port",
            str(port),
            "--kubeconfig",
            kubeconfig,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/config", timeout=5) as r:
                    config = json.loads(r.read())
                break
            except OSError:
                assert proc.poll() is None, proc.communicate()
                assert time.monotonic() < deadline, "kprism web did not answer within 30s"
                time.sleep(0.1)
        assert config["namespace"] == "shop"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as r:
            assert b'data-testid="app-detail"' in r.read()
            assert "default-src 'none'" in r.headers["Content-Security-Policy"]
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    assert f"kprism dashboard on http://127.0.0.1:{port}/ (namespace shop" in err
    assert "Traceback" not in err
