"""Sign-in without a cluster: the signed session cookie (forged, altered, expired), the
CSRF check, trusted-proxy matching, the forwarded identity, what each action needs, and
the app's refusals that happen before anything is asked of the API server (401 without
a valid session, 403 without the CSRF token). The kubeconfig points at a port nothing
listens on: none of these requests may reach a cluster."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from kprism.errors import UsageError
from kprism.web import auth
from kprism.web.app import AuthConfig, action_of, create_app
from kprism.web.auth import AuthMode, Identity, Need, SessionError, Sessions, TrustedProxies
from tests.unit.test_web_api import KUBECONFIG

ALICE = Identity(user="alice", groups=("team-a", "system:authenticated"))


def test_a_session_cookie_round_trips_and_names_its_user() -> None:
    sessions = Sessions("s3cret")
    value, session = sessions.issue(ALICE)
    back = sessions.read(value)
    assert back == session and back.identity == ALICE
    assert len(session.csrf) >= 32
    assert "alice" not in value or "." in value  # signed payload, not a bare name
    # a new session has a new CSRF token
    assert sessions.issue(ALICE)[1].csrf != session.csrf


@pytest.mark.parametrize("cookie", [None, "", "garbage", "a.b.c"])
def test_no_or_garbage_cookie_is_no_session(cookie: str | None) -> None:
    with pytest.raises(SessionError):
        Sessions("s3cret").read(cookie)


def test_an_altered_or_foreign_cookie_is_refused() -> None:
    value, _ = Sessions("s3cret").issue(ALICE)
    payload, _, rest = value.partition(".")
    # the payload edited (a different user), the signature kept
    forged = Sessions("s3cret").issue(Identity(user="admin"))[0].partition(".")[0] + "." + rest
    with pytest.raises(SessionError, match="not valid"):
        Sessions("s3cret").read(forged)
    # signed with another secret (another server, or a guess)
    with pytest.raises(SessionError, match="not valid"):
        Sessions("other").read(value)
    assert payload  # the original still reads
    assert Sessions("s3cret").read(value).identity == ALICE


def test_a_session_expires(monkeypatch: pytest.MonkeyPatch) -> None:
    sessions = Sessions("s3cret", max_age=60)
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() - 61)
    value, _ = sessions.issue(ALICE)
    monkeypatch.setattr(time, "time", real)
    with pytest.raises(SessionError, match="expired"):
        sessions.read(value)
    with pytest.raises(UsageError):
        Sessions("s", max_age=0)


def test_csrf_token_must_match_its_session() -> None:
    _, session = Sessions("s").issue(ALICE)
    assert auth.csrf_ok(session, session.csrf)
    assert not auth.csrf_ok(session, None)
    assert not auth.csrf_ok(session, "")
    assert not auth.csrf_ok(session, session.csrf[:-1] + "x")
    assert not auth.csrf_ok(session, Sessions("s").issue(ALICE)[1].csrf)


def test_trusted_proxies_match_addresses_and_networks() -> None:
    proxies = TrustedProxies(["127.0.0.1/32", "127.0.9.0/24", "::1/128"])
    assert proxies.trusts("127.0.0.1")
    assert proxies.trusts("127.0.9.200")
    assert proxies.trusts("::1") and proxies.trusts("[::1]")
    assert proxies.trusts("::ffff:127.0.0.1")  # an IPv4 peer on a dual-stack socket
    assert not proxies.trusts("127.0.0.2")
    assert not proxies.trusts("127.0.10.1")
    assert not proxies.trusts("")
    assert not proxies.trusts(None)
    assert not proxies.trusts("testclient")
    assert TrustedProxies(["127.0.0.5"]).trusts("127.0.0.5")  # a bare address is a /32
    with pytest.raises(UsageError, match="not-an-address"):
        TrustedProxies(["not-an-address"])


def test_forwarded_identity_reads_the_configured_headers() -> None:
    headers = {"X-Auth-User": "bob@example.com", "X-Auth-Groups": "dev, ops,,"}
    who = auth.forwarded_identity(headers, user_header="X-Auth-User", groups_header="X-Auth-Groups")
    assert who == Identity(user="bob@example.com", groups=("dev", "ops"))
    assert (
        auth.forwarded_identity(
            {"X-Forwarded-User": " "}, user_header="X-Forwarded-User", groups_header="G"
        )
        is None
    )


def test_refusal_names_the_first_verb_and_resource_missing() -> None:
    allowed = {need: True for need in auth.all_needs()}
    assert all(auth.refusal(a, "shop", allowed) is None for a in auth.NEEDS)
    allowed[Need("patch", "services")] = False
    assert auth.refusal("promote", "shop", allowed) == "you may not patch services in shop"
    assert auth.refusal("clone", "shop", allowed) is None
    assert auth.refusal("scale", "shop", {}) == "you may not patch deployments in shop"


@pytest.mark.parametrize(
    ("path", "want"),
    [
        ("/api/apps/shop/web/intent/promote", ("shop", "promote")),
        ("/api/apps/shop/web/intent/promote-full", ("shop", "promote-full")),
        ("/api/apps/shop/web/release", ("shop", "release")),
        ("/api/apps/sh%6Fp/web/rollback", ("shop", "rollback")),
        ("/api/apps/shop/web/scale", ("shop", "scale")),
        ("/api/apps/shop/web/history", None),
        ("/api/apps/shop/web", None),
        ("/api/login", None),
    ],
)
def test_action_of_a_path(path: str, want: tuple[str, str] | None) -> None:
    assert action_of(path) == want


# -- the app: refusals before the cluster ------------------------------------------------


@pytest.fixture
def kubeconfig(tmp_path: Path) -> str:
    path = tmp_path / "kubeconfig"
    path.write_text(KUBECONFIG)
    return str(path)


def _client(kubeconfig: str, cfg: AuthConfig) -> Iterator[TestClient]:
    app = create_app(kubeconfig=kubeconfig, auth_config=cfg)
    with TestClient(app, base_url="http://127.0.0.1:8080") as c:
        yield c


@pytest.fixture
def token_client(kubeconfig: str) -> Iterator[TestClient]:
    yield from _client(kubeconfig, AuthConfig(mode=AuthMode.TOKEN, secret="s3cret"))


def test_token_mode_refuses_without_a_valid_session(token_client: TestClient) -> None:
    r = token_client.get("/api/apps?namespace=shop")
    assert r.status_code == 401 and r.json()["login"] == "token"
    assert "not signed in" in r.json()["error"]
    r = token_client.get("/api/session")
    assert r.status_code == 401
    # a forged cookie: 401, nothing done
    forged = Sessions("guessed").issue(Identity(user="system:admin"))[0]
    token_client.cookies.set(auth.COOKIE, forged)
    r = token_client.post("/api/apps/shop/web/intent/abort", json={}, headers={"X-Kprism": "1"})
    assert r.status_code == 401 and "not valid" in r.json()["error"]
    # the page itself loads (it shows the sign-in form)
    assert token_client.get("/").status_code == 200


def test_token_mode_needs_the_csrf_token_for_state_changes(token_client: TestClient) -> None:
    cfg: AuthConfig = token_client.app.state.auth  # type: ignore[attr-defined]
    value, session = cfg.sessions.issue(ALICE)
    token_client.cookies.set(auth.COOKIE, value)
    r = token_client.get("/api/session")
    assert r.status_code == 200
    assert r.json() == {
        "mode": "token",
        "user": "alice",
        "groups": ["team-a", "system:authenticated"],
        "csrf": session.csrf,
    }
    for headers in ({"X-Kprism": "1"}, {"X-Kprism": "1", "X-Kprism-Csrf": "wrong"}):
        r = token_client.post("/api/apps/shop/web/intent/abort", json={}, headers=headers)
        assert r.status_code == 403 and "CSRF" in r.json()["error"]
    # the custom header is still needed first
    r = token_client.post(
        "/api/apps/shop/web/intent/abort", json={}, headers={"X-Kprism-Csrf": session.csrf}
    )
    assert r.status_code == 403 and "X-Kprism: 1" in r.json()["error"]


def test_login_refuses_bad_bodies_without_echoing_the_token(token_client: TestClient) -> None:
    r = token_client.post("/api/login", json={"token": ""}, headers={"X-Kprism": "1"})
    assert r.status_code == 400
    r = token_client.post(
        "/api/login", json={"token": "sekrit", "extra": 1}, headers={"X-Kprism": "1"}
    )
    assert r.status_code == 400 and "sekrit" not in r.text
    r = token_client.post("/api/login", json={"token": "sekrit"})  # no X-Kprism
    assert r.status_code == 403


def test_logout_clears_the_cookie(token_client: TestClient) -> None:
    r = token_client.post("/api/logout", headers={"X-Kprism": "1"})
    assert r.status_code == 200
    cookie = r.headers["set-cookie"]
    assert cookie.startswith(f"{auth.COOKIE}=") and "Max-Age=0" in cookie


def test_proxy_mode_believes_headers_only_from_trusted_sources(kubeconfig: str) -> None:
    cfg = AuthConfig(mode=AuthMode.PROXY, trusted_proxies=("127.0.0.1/32",))
    for client in _client(kubeconfig, cfg):
        # TestClient's peer is "testclient": not a trusted proxy
        r = client.get("/api/session", headers={"X-Forwarded-User": "mallory"})
        assert r.status_code == 401 and "trusted proxy" in r.json()["error"]
        r = client.get("/api/apps", headers={"X-Forwarded-User": "mallory"})
        assert r.status_code == 401


def test_login_only_in_token_mode(kubeconfig: str) -> None:
    for client in _client(kubeconfig, AuthConfig()):
        r = client.post("/api/login", json={"token": "x"}, headers={"X-Kprism": "1"})
        assert r.status_code == 400 and "--auth none" in r.json()["error"]
        assert client.get("/api/session").json()["mode"] == "none"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--auth", "ldap"), "--auth 'ldap': use one of none, token, proxy"),
        (("--trusted-proxy", "127.0.0.1/32"), "--trusted-proxy only applies with --auth proxy"),
        (("--auth", "proxy", "--trusted-proxy", "nowhere"), "--trusted-proxy 'nowhere'"),
        (("--secure-cookie", "maybe"), "--secure-cookie 'maybe': use auto, yes or no"),
    ],
)
def test_kprism_web_refuses_bad_sign_in_options(
    kubeconfig: str, args: tuple[str, ...], message: str
) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "kprism.cli.main", "--kubeconfig", kubeconfig, "web", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert out.returncode == 2, out.stderr
    assert out.stderr.count("\n") == 1 and message in out.stderr, out.stderr


def test_proxy_mode_gives_the_forwarded_user_a_session_for_its_csrf_token(
    kubeconfig: str,
) -> None:
    cfg = AuthConfig(mode=AuthMode.PROXY, trusted_proxies=("127.0.0.1/32",))
    app = create_app(kubeconfig=kubeconfig, auth_config=cfg)
    with TestClient(app, base_url="http://127.0.0.1:8080", client=("127.0.0.1", 4000)) as c:
        who = {"X-Forwarded-User": "bob", "X-Forwarded-Groups": "dev"}
        r = c.get("/api/session", headers=who)  # first visit: a session for the CSRF token
        assert r.status_code == 200 and r.json()["user"] == "bob"
        cookie = r.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Secure" not in cookie
        assert c.get("/api/session", headers=who).json()["csrf"] == r.json()["csrf"]
        # behind TLS termination the proxy says so: the cookie is Secure
        c.cookies.clear()
        r = c.get("/api/session", headers={**who, "X-Forwarded-Proto": "https"})
        assert "Secure" in r.headers["set-cookie"]
        # no user named: 401
        assert c.get("/api/apps", headers={"X-Forwarded-Groups": "dev"}).status_code == 401


def test_healthz_answers_without_a_session_or_the_cluster(token_client: TestClient) -> None:
    r = token_client.get("/healthz")
    assert r.status_code == 200 and r.json() == {"ok": True}
