"""The dashboard with sign-in (``kprism web --auth token``) against the real cluster, run
as in the cluster: with its own ServiceAccount, which may only review tokens and
impersonate. Two users with different Roles sign in with their ServiceAccount tokens:

- a token the API server does not accept is 401 and sets no session;
- the viewer sees the app, is told which actions they may not take and why, and is
  refused 403 naming the verb and resource when they try — nothing changes; the API
  server itself refuses the viewer even past the dashboard's check (impersonation);
- the releaser scales and releases; the audit trail names the releaser, not the
  dashboard's ServiceAccount (which may not patch anything itself).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from lightkube import Client
from lightkube.resources.core_v1 import Service

from kprism import ops
from kprism.errors import ForbiddenError
from kprism.kube.cache import HPAS
from kprism.web.app import AuthConfig, create_app
from kprism.web.auth import COOKIE, AuthMode
from tests.integration.auth_helpers import Team, team
from tests.integration.helpers import make_app, replicas, wait_for

POST = {"X-Kprism": "1"}


@pytest.fixture
def users(kube: Client, kubeconfig_path: str, namespace: str, tmp_path: Path) -> Iterator[Team]:
    make_app(kube, namespace, replicas=2)
    with team(kube, kubeconfig_path, namespace, tmp_path) as t:
        yield t


@pytest.fixture
def client(users: Team) -> Iterator[TestClient]:
    app = create_app(
        kubeconfig=users.dashboard_kubeconfig, auth_config=AuthConfig(mode=AuthMode.TOKEN)
    )
    with TestClient(app, base_url="http://127.0.0.1:8080") as c:
        yield c
        assert app.state.dashboard.jobs.wait_all(120)


def sign_in(c: TestClient, token: str) -> dict[str, str]:
    c.cookies.clear()
    r = c.post("/api/login", json={"token": token}, headers=POST)
    assert r.status_code == 200, r.text
    assert token not in r.text and token not in r.headers.get("set-cookie", "")
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie, cookie
    return {**POST, "X-Kprism-Csrf": r.json()["csrf"]}


def test_a_token_the_api_server_refuses_signs_nobody_in(
    client: TestClient, users: Team, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    head, _, sig = users.viewer_token.rpartition(".")
    for bad in ("not-a-token", f"{head}.{sig[::-1]}"):  # garbage; a forged signature
        r = client.post("/api/login", json={"token": bad}, headers=POST)
        assert r.status_code == 401, r.text
        assert "did not accept" in r.json()["error"] and bad not in r.text
        assert COOKIE not in r.headers.get("set-cookie", "")
    assert client.get(f"/api/apps?namespace={users.namespace}").status_code == 401
    sign_in(client, users.viewer_token)
    # no token in any log line (the process's loggers, lightkube's and httpx's included)
    for token in ("not-a-token", f"{head}.{sig[::-1]}", users.viewer_token):
        assert token not in caplog.text


def test_the_viewer_may_look_but_not_act(kube: Client, client: TestClient, users: Team) -> None:
    ns = users.namespace
    headers = sign_in(client, users.viewer_token)
    assert client.get("/api/session").json()["user"] == users.viewer
    for _ in range(3):  # the page polls
        apps = client.get(f"/api/apps?namespace={ns}")
        assert apps.status_code == 200 and [a["name"] for a in apps.json()["apps"]] == ["hello"]
    # the watch of the Services (every namespace, then the default one) was refused once,
    # not asked for again at every poll
    (mine,) = [
        d
        for d in client.app.state.users._users.values()
        if d.identity.user == users.viewer  # type: ignore[attr-defined]
    ]
    assert mine.kube.errors["GET services 403"] == 2, mine.kube.errors
    assert client.get(f"/api/apps/{ns}/hello").status_code == 200
    actions = client.get(f"/api/permissions?namespace={ns}").json()["actions"]
    assert actions["promote"] == {"allowed": False, "reason": f"you may not patch services in {ns}"}
    assert actions["scale"] == {
        "allowed": False,
        "reason": f"you may not patch deployments in {ns}",
    }
    assert not any(a["allowed"] for a in actions.values())

    r = client.post(f"/api/apps/{ns}/hello/intent/abort", json={"reason": "no"}, headers=headers)
    assert r.status_code == 403 and f"you may not patch services in {ns}" in r.json()["error"]
    r = client.post(
        f"/api/apps/{ns}/hello/scale", json={"track": "blue", "replicas": 5}, headers=headers
    )
    assert r.status_code == 403 and f"you may not patch deployments in {ns}" in r.json()["error"]
    # nothing changed
    assert replicas(kube, ns, "hello-blue") == 2
    svc = kube.get(Service, "hello", namespace=ns)
    assert "kprism.dev/intent" not in (svc.metadata.annotations or {})

    # past the dashboard's own check, the API server refuses the impersonated viewer
    as_viewer = ops.connect(
        kubeconfig=users.dashboard_kubeconfig,
        as_user=users.viewer,
        as_groups=("system:serviceaccounts", f"system:serviceaccounts:{ns}"),
    )
    try:
        assert as_viewer.whoami() == users.viewer
        # the viewer may list HPAs but not watch them (docs/rbac.md's Role): the shared
        # informer says so, and observations read directly instead of waiting for it
        ops.app_status(as_viewer, ops.app_ref(as_viewer, "hello", namespace=ns))
        hpas = as_viewer.cache.informer_for(HPAS, ns)
        assert hpas is not None
        wait_for(lambda: hpas.denied, bool, what="the refused HPA watch marked denied")
        with pytest.raises(ForbiddenError):
            ops.scale(
                as_viewer, ops.app_ref(as_viewer, "hello", namespace=ns), track="blue", replicas=5
            )
    finally:
        as_viewer.close()
    assert replicas(kube, ns, "hello-blue") == 2


def test_the_releaser_acts_and_the_audit_trail_names_them(
    kube: Client, client: TestClient, users: Team
) -> None:
    ns = users.namespace
    # the dashboard's own identity may do nothing in the app's namespace
    own = ops.connect(kubeconfig=users.dashboard_kubeconfig)
    try:
        assert own.may("patch", "services", namespace=ns)[0] is False
        assert own.may("patch", "deployments", group="apps", namespace=ns)[0] is False
    finally:
        own.close()

    headers = sign_in(client, users.releaser_token)
    actions = client.get(f"/api/permissions?namespace={ns}").json()["actions"]
    assert all(a["allowed"] for a in actions.values()), actions
    r = client.post(
        f"/api/apps/{ns}/hello/scale", json={"track": "blue", "replicas": 3}, headers=headers
    )
    assert r.status_code == 200, r.text
    assert replicas(kube, ns, "hello-blue") == 3

    r = client.post(
        f"/api/apps/{ns}/hello/release",
        json={
            "image": "registry.example/hello:2",
            "strategy": "bluegreen",
            "autoPromote": True,
            "scaleDownDelay": 0,
        },
        headers=headers,
    )
    assert r.status_code in (200, 202), r.text
    history = wait_for(
        lambda: client.get(f"/api/apps/{ns}/hello/history").json()["history"],
        lambda h: bool(h) and h[0]["phase"] == "Succeeded",
        timeout=120,
        what="the release to succeed",
    )
    assert history[0]["by"].startswith(f"{users.releaser} (web on "), history[0]


def test_behind_an_auth_proxy_the_forwarded_user_is_who_acts(users: Team) -> None:
    """``--auth proxy``: the identity headers count only from a trusted source; the named
    user is impersonated like a signed-in one."""
    ns = users.namespace
    app = create_app(
        kubeconfig=users.dashboard_kubeconfig,
        auth_config=AuthConfig(mode=AuthMode.PROXY, trusted_proxies=("127.0.0.1/32",)),
    )
    viewer = {
        "X-Forwarded-User": users.viewer,
        "X-Forwarded-Groups": f"system:serviceaccounts,system:serviceaccounts:{ns}",
    }
    with TestClient(app, base_url="http://127.0.0.1:8080", client=("127.0.0.9", 40000)) as c:
        r = c.get("/api/session", headers=viewer)
        assert r.status_code == 401 and "trusted proxy" in r.json()["error"]
    with TestClient(app, base_url="http://127.0.0.1:8080", client=("127.0.0.1", 40000)) as c:
        session = c.get("/api/session", headers=viewer)
        assert session.status_code == 200 and session.json()["user"] == users.viewer
        assert c.get(f"/api/apps?namespace={ns}", headers=viewer).status_code == 200
        actions = c.get(f"/api/permissions?namespace={ns}", headers=viewer).json()["actions"]
        assert actions["abort"]["reason"] == f"you may not patch services in {ns}"
        headers = {**viewer, **POST, "X-Kprism-Csrf": session.json()["csrf"]}
        r = c.post(f"/api/apps/{ns}/hello/intent/abort", json={}, headers=headers)
        assert r.status_code == 403 and "you may not patch services" in r.json()["error"]
        # the same session cookie with another forwarded user: no CSRF token for them
        other = {**headers, "X-Forwarded-User": users.releaser}
        r = c.post(
            f"/api/apps/{ns}/hello/scale", json={"track": "blue", "replicas": 2}, headers=other
        )
        assert r.status_code == 403 and "CSRF" in r.json()["error"]


def test_two_users_on_one_app_one_wins_and_the_other_sees_who(
    kube: Client, client: TestClient, users: Team
) -> None:
    """Two releasers start a release on the same app: one drives it, the other is refused
    (400, nothing started) with the driver named — the signed-in user, not the
    dashboard's process; the other may still send it an intent."""
    ns = users.namespace
    app = client.app
    body = {"strategy": "bluegreen", "scaleDownDelay": 0}
    first = sign_in(client, users.releaser_token)
    r = client.post(
        f"/api/apps/{ns}/hello/release",
        json={**body, "image": "registry.example/hello:2"},
        headers=first,
    )
    assert r.status_code == 202, r.text
    with TestClient(app, base_url="http://127.0.0.1:8080") as other:
        second = sign_in(other, users.second_token)
        r = other.post(
            f"/api/apps/{ns}/hello/release",
            json={**body, "image": "registry.example/hello:3"},
            headers=second,
        )
        assert r.status_code == 400, r.text
        assert f"driven by {users.releaser}@" in r.json()["error"], r.text
        r = other.post(
            f"/api/apps/{ns}/hello/intent/abort", json={"reason": "mine"}, headers=second
        )
        assert r.status_code == 200, r.text
    history = wait_for(
        lambda: client.get(f"/api/apps/{ns}/hello/history").json()["history"],
        lambda h: bool(h) and h[0]["phase"] == "Aborted",
        timeout=120,
        what="the release aborted",
    )
    assert history[0]["by"].startswith(f"{users.releaser} (web on ")
    assert history[0]["candidate_images"] == {"hello": "registry.example/hello:2"}
    aborts = [m for m in history[0].get("timeline", []) if m.get("what") == "abort"]
    assert [(m["by"].split(" (")[0], m["reason"]) for m in aborts] == [(users.second, "mine")]
