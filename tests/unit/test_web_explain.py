"""The dashboard explains itself (issue 14 items 3, 5, 6): traffic bars, track ages, the
release timeline, why a button would do nothing, rollback targets (pure views), and the
routes behind them — the app list in pages, the audit trail with filters, the
confirmation diffs, server-sent events — on the in-memory adapter."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from kprism import ops
from kprism.errors import ForbiddenError
from kprism.model.observed import ServiceObs
from kprism.model.release import Change, ReleaseSpec
from kprism.web import forms, views
from kprism.web.app import create_app
from tests.unit.bgsim import blue_app
from tests.unit.fakekube import NS, SERVICE
from tests.unit.test_web_api import WebFake

POST = {"X-Kprism": "1"}
APP = ops.App(name=SERVICE, namespace=NS)


def status(**release: object) -> dict[str, object]:
    return {
        "app": "web",
        "namespace": "shop",
        "tracks": [
            {"track": "blue", "serving": True, "endpoints": 3},
            {"track": "green", "serving": False, "endpoints": 0},
        ],
        "release": release or None,
        "lease": None,
    }


CANARY = {
    "id": "r2",
    "kind": "release",
    "phase": "Progressing",
    "stable": "blue",
    "candidate": "green",
    "achieved_weight": 25.0,
    "requested_weight": 25.0,
    "spec": {"strategy": "canary", "canary": {"steps": [{"setWeight": 25}, {"pause": {}}]}},
}


def test_traffic_bars_for_a_canary_a_pinned_track_and_a_split_by_pods() -> None:
    assert views.traffic(status(**CANARY)) == [
        {"track": "green", "weight": 25.0, "label": "green 25%"},
        {"track": "blue", "weight": 75.0, "label": "blue 75%"},
    ]
    assert views.traffic(status()) == [{"track": "blue", "weight": 100.0, "label": "blue 100%"}]
    split = status()
    split["tracks"] = [
        {"track": "blue", "serving": True, "endpoints": 3},
        {"track": "red", "serving": True, "endpoints": 1},
    ]
    assert [s["label"] for s in views.traffic(split)] == ["blue 75% (by pods)", "red 25% (by pods)"]
    row = {
        "in_flight": True,
        "candidate": "green",
        "stable": "blue",
        "weight": 10.0,
        "serving": None,
    }
    assert [s["label"] for s in views.list_traffic(row)] == ["green 10%", "blue 90%"]


def test_buttons_that_would_do_nothing_say_why() -> None:
    idle = views.controls(status(), [])
    assert (
        idle["promote"] == "no release in progress" and idle["resume"] == "no release in progress"
    )
    assert idle["rollback"] == ""  # the other track is there to go back to
    alone = status()
    alone["tracks"] = [{"track": "blue", "serving": True, "endpoints": 3}]
    assert views.controls(alone, [])["rollback"].startswith("nothing to return to")
    gate = views.controls(status(**{**CANARY, "phase": "Paused", "paused": False}), [])
    assert "promotion gate" in gate["resume"] and gate["promote"] == "" and gate["abort"] == ""
    bluegreen = {**CANARY, "spec": {"strategy": "bluegreen"}}
    assert "no steps to skip" in views.controls(status(**bluegreen), [])["promote-full"]


def test_timeline_rows_ages_and_rollback_targets() -> None:
    rel = {
        **CANARY,
        "started_at": "t0",
        "started_by": "alice (web on box)",
        "timeline": [
            {
                "at": "t1",
                "kind": "intent",
                "what": "promote",
                "by": "bob (cli on x)",
                "outcome": "applied",
            },
            {"at": "t1", "kind": "weight", "what": "weight", "weight": 25.0},
        ],
    }
    rows = views.timeline_rows(rel)
    assert [(r["kind"], r["what"], r["by"]) for r in rows] == [
        ("start", "release", "alice (web on box)"),
        ("intent", "promote", "bob (cli on x)"),
    ]
    history = [
        {
            "id": "r1",
            "kind": "release",
            "phase": "Succeeded",
            "candidate": "blue",
            "started_at": "s1",
            "candidate_images": {"web": "web:1"},
        },
        {
            "id": "r0",
            "kind": "release",
            "phase": "Succeeded",
            "candidate": "green",
            "started_at": "s0",
            "candidate_images": {"web": "web:0"},
        },
        {
            "id": "r9",
            "kind": "release",
            "phase": "Aborted",
            "candidate": "green",
            "started_at": "s9",
            "candidate_images": {"web": "bad"},
        },
    ]
    assert views.track_ages(status(), history) == {"blue": "s1", "green": "s0"}
    assert [t["id"] for t in views.rollback_targets(history, ["blue"])] == ["r0"]


def test_release_form_takes_env_patch_router_surge_and_notify() -> None:
    form = forms.ReleaseForm.model_validate(
        {
            "strategy": "canary",
            "steps": "50,100",
            "env": "MODE=fast\nweb:LEVEL=2",
            "patch": "metadata: {annotations: {a: b}}",
            "router": "gateway",
            "route": "web-route",
            "maxSurge": "50%",
            "notify": "https://hooks.example/a https://hooks.example/b",
        }
    )
    args = forms.release_args(form)
    assert list(args.env) == [("", "MODE", "fast"), ("web", "LEVEL", "2")]
    assert args.patch == {"metadata": {"annotations": {"a": "b"}}}
    assert (args.router, args.router_options, args.max_surge) == (
        "gateway",
        {"httproute": "web-route"},
        "50%",
    )
    assert list(args.notify) == ["https://hooks.example/a", "https://hooks.example/b"]
    with pytest.raises(Exception, match="maxSurge is for canary"):
        forms.release_args(forms.ReleaseForm(image="web:2", max_surge="1"))
    with pytest.raises(Exception, match="give an image"):
        forms.release_args(forms.ReleaseForm())


@pytest.fixture
def web(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[TestClient, WebFake]]:
    kube = WebFake(blue_app())
    monkeypatch.setattr(ops, "connect", lambda **_: kube)
    monkeypatch.setattr("kprism.ops.running._source", ["web"])
    with TestClient(create_app(namespace=NS), base_url="http://127.0.0.1:8080") as c:
        yield c, kube


def test_the_list_comes_in_pages_with_traffic_bars(web: tuple[TestClient, WebFake]) -> None:
    client, _ = web
    r = client.get("/api/apps", params={"namespace": NS, "limit": 1, "q": "HEL"})
    body = r.json()
    assert (body["total"], body["offset"], [a["name"] for a in body["apps"]]) == (1, 0, ["hello"])
    assert body["apps"][0]["traffic"] == [{"track": "blue", "weight": 100.0, "label": "blue 100%"}]
    assert (
        client.get("/api/apps", params={"namespace": NS, "limit": 1, "q": "nope"}).json()["apps"]
        == []
    )


def test_audit_route_filters_and_diffs_preview(web: tuple[TestClient, WebFake]) -> None:
    client, kube = web
    kube.user = "alice"
    spec = ReleaseSpec(
        change=Change(images={"hello": "hello:2"}), scale_down_delay=0, auto_promote=True
    )
    ops.release(kube, APP, spec, timeout=10)
    rows = client.get(f"/api/apps/{NS}/{SERVICE}/audit", params={"actor": "alice"}).json()["audit"]
    assert [(r["kind"], r["source"], r["outcome"]) for r in rows] == [
        ("release", "web", "Succeeded")
    ]
    assert (
        client.get(f"/api/apps/{NS}/{SERVICE}/audit", params={"actor": "bob"}).json()["audit"] == []
    )
    (entry,) = client.get(f"/api/apps/{NS}/{SERVICE}/history").json()["history"]
    assert entry["rows"][0]["kind"] == "start" and entry["rows"][0]["by"].startswith("alice (web")
    assert "TrafficSwitched" in [r["what"] for r in entry["rows"]]
    assert [p["weight"] for p in entry["plot"]] == [0.0, 100.0, 100.0]
    diff = client.post(
        f"/api/apps/{NS}/{SERVICE}/diff/release", json={"image": "hello:3"}, headers=POST
    ).json()
    assert diff["from"] == "green"
    assert diff["diff"] == [
        {"path": "spec.containers[hello].image", "before": "hello:2", "after": "hello:3"}
    ]
    back = client.get(f"/api/apps/{NS}/{SERVICE}/diff/rollback").json()
    assert (back["from"], back["to"]) == ("green", "blue")
    r = client.get(f"/api/apps/{NS}/{SERVICE}/diff/rollback", params={"to": "nope"})
    assert r.status_code == 400 and "not in app hello's history" in r.json()["error"]


def test_detail_stream_sends_server_sent_events(web: tuple[TestClient, WebFake]) -> None:
    client, _ = web
    with client.stream("GET", "/api/stream", params={"namespace": NS, "app": SERVICE}) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        lines = r.iter_lines()
        assert next(lines) == "retry: 2000"
        assert next(lines) == ""
        assert next(lines) == "event: detail"
        data = json.loads(next(lines).removeprefix("data: "))
    assert data["status"]["app"] == SERVICE and data["traffic"][0]["track"] == "blue"
    assert data["controls"]["promote"] == "no release in progress"


class ManyApps(WebFake):
    """250 apps in one namespace (``app-000`` … ``app-249``), each pinned to blue."""

    def list_services(self, namespace: str | None) -> list[ServiceObs]:
        if namespace not in (None, NS):
            return []
        return [
            ServiceObs(
                name=f"app-{i:03d}",
                namespace=NS,
                selector={"app": f"app-{i:03d}", "color": "blue"},
            )
            for i in range(250)
        ]


def test_a_namespace_of_250_apps_is_listed_a_page_at_a_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    kube = ManyApps(blue_app())
    monkeypatch.setattr(ops, "connect", lambda **_: kube)
    with TestClient(create_app(namespace=NS), base_url="http://127.0.0.1:8080") as client:
        first = client.get("/api/apps", params={"namespace": NS, "limit": 50}).json()
        assert (first["total"], len(first["apps"])) == (250, 50)
        assert first["apps"][0]["name"] == "app-000"
        last = client.get("/api/apps", params={"namespace": NS, "limit": 50, "offset": 200}).json()
        assert [a["name"] for a in last["apps"]][-1] == "app-249" and len(last["apps"]) == 50
        found = client.get("/api/apps", params={"namespace": NS, "limit": 50, "q": "app-24"}).json()
        assert found["total"] == 10
        with client.stream("GET", "/api/stream", params={"namespace": NS, "offset": 50}) as r:
            lines = r.iter_lines()
            while next(lines) != "event: apps":
                pass
            page = json.loads(next(lines).removeprefix("data: "))
        assert (page["total"], page["offset"], len(page["apps"])) == (250, 50, 50)
        assert page["apps"][0]["traffic"][0]["label"] == "blue 100%"


def test_a_cluster_that_cannot_be_reached_is_a_problem_event(tmp_path: Path) -> None:
    from tests.unit.test_web_api import KUBECONFIG

    path = tmp_path / "kubeconfig"
    path.write_text(KUBECONFIG)
    app = create_app(kubeconfig=str(path))
    with (
        TestClient(app, base_url="http://127.0.0.1:8080") as client,
        client.stream("GET", "/api/stream", params={"namespace": "shop"}) as r,
    ):
        lines = r.iter_lines()
        while next(lines) != "event: problem":
            pass
        problem = json.loads(next(lines).removeprefix("data: "))
    assert problem["status"] == 502 and "\n" not in problem["error"]


def test_the_server_stops_while_a_page_listens(web: tuple[TestClient, WebFake]) -> None:
    """An open event stream ends by itself when the server stops (Ctrl-C, SIGTERM): the
    browser's connection closes cleanly instead of holding the server up until uvicorn's
    graceful-shutdown timeout cancels it."""
    import threading

    import httpx

    from kprism.web.app import bind, make_server

    client, _ = web
    server = make_server(client.app)  # type: ignore[arg-type]
    sock = bind("127.0.0.1", 0)
    port = sock.getsockname()[1]
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    events: list[str] = []
    ended: list[str] = []
    listening = threading.Event()

    def listen() -> None:
        url = f"http://127.0.0.1:{port}/api/stream?namespace={NS}&app={SERVICE}"
        try:
            with httpx.stream("GET", url, timeout=60) as r:
                for line in r.iter_lines():
                    if line.startswith("event:"):
                        events.append(line)
                        listening.set()
            ended.append("clean")
        except httpx.HTTPError as exc:
            ended.append(f"broken: {exc!r}")

    reader = threading.Thread(target=listen, daemon=True)
    reader.start()
    assert listening.wait(30), "no event arrived"
    server.should_exit = True
    thread.join(60)
    reader.join(60)
    sock.close()
    assert not thread.is_alive() and events[0] == "event: detail"
    assert ended == ["clean"]


class TwoNamespaces(WebFake):
    """App ``web`` in namespaces ``shop`` and ``blog``; ``refuse_all``: the user may not
    list Services across namespaces (RBAC on one namespace only)."""

    refuse_all = False

    def list_services(self, namespace: str | None) -> list[ServiceObs]:
        if namespace is None and self.refuse_all:
            raise ForbiddenError("services is forbidden at the cluster scope", kind="Service")
        return [
            ServiceObs(name="web", namespace=ns, selector={"app": "web", "color": "blue"})
            for ns in ("shop", "blog")
            if namespace in (None, ns)
        ]


def test_the_overview_lists_the_apps_of_every_namespace(monkeypatch: pytest.MonkeyPatch) -> None:
    kube = TwoNamespaces(blue_app())
    monkeypatch.setattr(ops, "connect", lambda **_: kube)
    with TestClient(create_app(namespace=NS), base_url="http://127.0.0.1:8080") as client:
        assert client.get("/api/namespaces").json()["namespaces"][0] == "*"
        every = client.get("/api/apps", params={"namespace": "*", "limit": 50}).json()
        assert [(a["namespace"], a["name"]) for a in every["apps"]] == [
            ("shop", "web"),
            ("blog", "web"),
        ]
        found = client.get("/api/apps", params={"namespace": "*", "limit": 50, "q": "blog/"})
        assert [a["namespace"] for a in found.json()["apps"]] == ["blog"]
        # one namespace still lists only its own
        shop = client.get("/api/apps", params={"namespace": "shop", "limit": 50}).json()
        assert [a["namespace"] for a in shop["apps"]] == ["shop"]
        kube.refuse_all = True
        refused = client.get("/api/apps", params={"namespace": "*", "limit": 50})
        assert refused.status_code == 403
        assert refused.json()["error"] == (
            "you may not list Services in every namespace: pick a namespace"
        )
