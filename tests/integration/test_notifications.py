"""Notifications on the real cluster: a receiver configured by a ConfigMap (its URL in a
Secret) on 127.0.0.1 gets a real canary's events in order; each delivery is an Event."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from lightkube import Client
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import ConfigMap, Event, Secret

from tests.integration.helpers import kprism, make_app, release_status, wait_for

V2 = "registry.example/hello:2"


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    got: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            got.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(500 if len(got) == 1 else 200)  # the first one is retried
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", got
    server.shutdown()
    server.server_close()


def test_a_canary_notifies_a_configmap_receiver_in_order(
    kube: Client,
    namespace: str,
    kubeconfig_path: str,
    receiver: tuple[str, list[dict[str, Any]]],
) -> None:
    url, got = receiver
    make_app(kube, namespace, replicas=2)
    kube.create(
        Secret(
            metadata=ObjectMeta(name="hooks"),
            data={"url": base64.b64encode(url.encode()).decode()},
        ),
        namespace=namespace,
    )
    kube.create(
        ConfigMap(
            metadata=ObjectMeta(
                name="kprism-notifications", labels={"kprism.dev/notifications": "true"}
            ),
            data={
                "receivers": "- name: local\n"
                "  urlFrom: {secret: hooks, key: url}\n"
                "  events: [started, step, succeeded, failed]\n"
                "  retries: 2\n"
            },
        ),
        namespace=namespace,
    )
    kprism(
        "release", "hello", "-n", namespace, "--image", V2, "--steps", "50,100",
        kubeconfig=kubeconfig_path, check=0,
    )  # fmt: skip
    st = release_status(kube, namespace)
    assert st["phase"] == "Succeeded"
    # the CLI delivered everything before it exited; the first POST (a 500) was retried
    events = [b["event"] for b in got]
    assert events == ["started", "started", "step", "step", "succeeded"], got
    assert [b["release"]["weight"] for b in got[2:4]] == [50, 100]
    assert all(b["release"]["id"] == st["id"] and b["app"] == "hello" for b in got)
    assert got[-1]["release"]["phase"] == "Succeeded"

    def recorded() -> list[str]:
        return [
            e.message or ""
            for e in kube.list(Event, namespace=namespace)
            if e.reason == "NotificationSent" and e.involvedObject.name == "hello"
        ]

    sent = wait_for(recorded, lambda m: len(m) == 4, what="4 NotificationSent Events")
    assert "notification started to receiver local: HTTP 200 after 2 attempts" in sent


@pytest.fixture
def paths() -> Iterator[tuple[str, dict[str, list[dict[str, Any]]]]]:
    """A receiver on 127.0.0.1 that keeps what each path got, in order."""
    got: dict[str, list[dict[str, Any]]] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            got.setdefault(self.path, []).append(body)
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", got
    server.shutdown()
    server.server_close()


def test_a_release_notifies_its_own_receivers_in_order(
    kube: Client,
    namespace: str,
    kubeconfig_path: str,
    paths: tuple[str, dict[str, list[dict[str, Any]]]],
    tmp_path: Any,
) -> None:
    """No ConfigMap in the namespace: the receivers come with the release, from the release
    file's ``notify:`` (filtered, Slack format) and from ``--notify URL``."""
    base, got = paths
    make_app(kube, namespace, replicas=2)
    spec = tmp_path / "release.yaml"
    spec.write_text(
        "steps: [{setWeight: 50}, {setWeight: 100}]\n"
        "notify:\n"
        f"- {{name: chat, url: '{base}/chat', format: slack, events: [started, succeeded]}}\n"
    )
    kprism(
        "release", "hello", "-n", namespace, "--image", V2, "-f", str(spec),
        "--notify", f"{base}/all", kubeconfig=kubeconfig_path, check=0,
    )  # fmt: skip
    st = release_status(kube, namespace)
    assert st["phase"] == "Succeeded"
    assert [r.get("name") for r in st["spec"]["notify"]] == ["chat", None]  # kept with it
    everything = got.get("/all", [])
    assert [b["event"] for b in everything] == ["started", "step", "step", "succeeded"], got
    assert [b["release"]["weight"] for b in everything[1:3]] == [50, 100]
    assert all(b["release"]["id"] == st["id"] for b in everything)
    chat = got.get("/chat", [])
    assert [b["text"].split("*")[1] for b in chat] == [
        f"kprism {namespace}/hello: started (release {st['id']})",
        f"kprism {namespace}/hello: succeeded (release {st['id']})",
    ], chat

    def recorded() -> list[str]:
        return [
            e.message or ""
            for e in kube.list(Event, namespace=namespace)
            if e.reason == "NotificationSent" and e.involvedObject.name == "hello"
        ]

    sent = wait_for(recorded, lambda m: len(m) == 6, what="6 NotificationSent Events")
    assert "notification started to receiver chat: HTTP 200" in sent
    assert "notification succeeded to receiver release-2: HTTP 200" in sent


def test_a_bad_release_receiver_is_refused_before_anything_changes(
    kube: Client, namespace: str, kubeconfig_path: str
) -> None:
    make_app(kube, namespace, replicas=1)
    out = kprism(
        "release", "hello", "-n", namespace, "--image", V2, "--notify", "hooks.example/x",
        kubeconfig=kubeconfig_path, check=2,
    )  # fmt: skip
    assert out.stderr.strip() == (
        "kprism: error: --notify[0].url: 'hooks.example/x' is not an http(s) URL"
    ), out.stderr
    assert release_status(kube, namespace) == {}  # nothing recorded, nothing started
