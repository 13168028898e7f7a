"""Notifications (kprism.notify): a real HTTP receiver on 127.0.0.1, the worker thread,
retries, time-outs, formats, Secrets, and a release that a hanging receiver cannot slow."""

from __future__ import annotations

import base64
import dataclasses
import json
import re
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import yaml

from kprism import notify
from kprism.kube.client import ResourceKind
from kprism.model.analysis import AnalysisRun, RunPhase
from kprism.model.release import Phase
from kprism.notify import worker
from kprism.notify.events import notification_for
from kprism.notify.payloads import body
from kprism.notify.receivers import parse_configmap

NS = "shop"


@dataclass
class Receiver:
    """A local webhook receiver: each path answers with the listed codes in turn (then
    200); ``/hang`` never answers in time."""

    port: int = 0
    got: list[tuple[str, dict[str, Any], dict[str, str]]] = field(default_factory=list)
    codes: dict[str, list[int]] = field(default_factory=dict)
    release: threading.Event = field(default_factory=threading.Event)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def bodies(self, path: str) -> list[dict[str, Any]]:
        return [b for p, b, _ in self.got if p == path]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            data = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            with lock:
                state.got.append((self.path, data, dict(self.headers)))
                left = state.codes.get(self.path, [])
                code = left.pop(0) if left else 200
            if self.path == "/hang":
                state.release.wait(60)
            self.send_response(code)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    state.release.set()
    server.shutdown()
    server.server_close()


class Kube:
    """What the notifier needs of the adapter: ConfigMaps, Secrets, Events."""

    def __init__(self, receivers: list[dict[str, Any]], secrets: dict[str, Any] | None = None):
        self.configmaps = [
            {
                "metadata": {"name": "notify", "namespace": NS},
                "data": {"receivers": yaml.safe_dump(receivers)},
            }
        ]
        self.secrets = secrets or {}
        self.events: list[tuple[str, str]] = []
        self.lists: list[Mapping[str, str] | None] = []

    def list_objects(
        self, kind: str, namespace: str | None, labels: Mapping[str, str] | None = None
    ) -> list[dict[str, Any]]:
        assert kind == "ConfigMap"
        self.lists.append(labels)
        return self.configmaps

    def find_object(self, res: ResourceKind, name: str, namespace: str) -> dict[str, Any] | None:
        assert res.kind == "Secret"
        return self.secrets.get(name)

    def emit_event(
        self, *, namespace: str, service: str, reason: str, message: str, warning: bool = False
    ) -> None:
        self.events.append((reason, message))


def note(reason: str, message: str = "m", **kw: Any) -> notify.Notification:
    n = notification_for(namespace=NS, app="web", reason=reason, message=message, **kw)
    assert n is not None
    return n


def notifier() -> worker.Notifier:
    return worker.Notifier(backoff=0.01, config_ttl=0)


def test_events_arrive_in_order_and_each_delivery_is_recorded(receiver: Receiver) -> None:
    kube = Kube([{"name": "hook", "url": receiver.url("/a")}])
    n = notifier()
    for reason in ("ReleaseStarted", "StepReached", "Promoted", "ReleaseSucceeded"):
        assert n.submit(kube, note(reason, f"text of {reason}"))  # type: ignore[arg-type]
    assert n.flush(10)
    got = receiver.bodies("/a")
    assert [b["event"] for b in got] == ["started", "step", "promoted", "succeeded"]
    assert got[0]["message"] == "text of ReleaseStarted"
    assert got[0]["namespace"] == NS and got[0]["app"] == "web"
    assert [r for r, _ in kube.events] == ["NotificationSent"] * 4
    assert "notification started to receiver hook: HTTP 200" in kube.events[0][1]
    assert kube.lists[0] == {"kprism.dev/notifications": "true"}


def test_a_500_is_retried_with_backoff_until_it_is_taken(receiver: Receiver) -> None:
    receiver.codes["/flaky"] = [500, 503]
    kube = Kube([{"name": "flaky", "url": receiver.url("/flaky"), "retries": 3}])
    n = notifier()
    n.submit(kube, note("ReleaseStarted"))  # type: ignore[arg-type]
    assert n.flush(10)
    assert len(receiver.bodies("/flaky")) == 3
    assert kube.events == [
        ("NotificationSent", "notification started to receiver flaky: HTTP 200 after 3 attempts")
    ]


def test_retries_run_out_and_a_4xx_is_not_retried(receiver: Receiver) -> None:
    receiver.codes["/down"] = [500] * 5
    receiver.codes["/bad"] = [400]
    kube = Kube(
        [
            {"name": "down", "url": receiver.url("/down"), "retries": 2},
            {"name": "bad", "url": receiver.url("/bad")},
        ]
    )
    n = notifier()
    n.submit(kube, note("ReleaseStarted"))  # type: ignore[arg-type]
    assert n.flush(10)
    assert len(receiver.bodies("/down")) == 3
    assert len(receiver.bodies("/bad")) == 1
    assert kube.events == [
        (
            "NotificationFailed",
            "notification started to receiver down failed after 3 attempts: HTTP 500",
        ),
        (
            "NotificationFailed",
            "notification started to receiver bad failed after 1 attempt: HTTP 400",
        ),
    ]


def test_a_hanging_receiver_times_out_and_submit_never_waits(receiver: Receiver) -> None:
    kube = Kube(
        [
            {"name": "slow", "url": receiver.url("/hang"), "timeout": 0.3, "retries": 1},
            {"name": "fine", "url": receiver.url("/ok")},
        ]
    )
    n = notifier()
    n.submit(kube, note("ReleaseStarted"))  # type: ignore[arg-type]
    n.submit(kube, note("ReleaseSucceeded"))  # type: ignore[arg-type]
    # submit returned with deliveries pending (four 0.3 s attempts at /hang are ahead)
    assert not n.flush(0), "submit waited for a delivery"
    assert n.flush(15)
    failed = [m for r, m in kube.events if r == "NotificationFailed"]
    assert (
        failed[0]
        == "notification started to receiver slow failed after 2 attempts: timed out after 0.3s"
    )
    assert [b["event"] for b in receiver.bodies("/ok")] == ["started", "succeeded"]


def test_a_full_queue_drops_instead_of_blocking() -> None:
    n = worker.Notifier(queue_size=1)
    n._start = lambda: None  # type: ignore[method-assign]  # no worker: the queue stays full
    kube = Kube([])
    assert n.submit(kube, note("ReleaseStarted"))  # type: ignore[arg-type]
    # no worker drains the queue: a blocking put would never return
    assert not n.submit(kube, note("ReleaseSucceeded"))  # type: ignore[arg-type]
    assert n.dropped == 1


def test_filters_formats_and_secrets(receiver: Receiver) -> None:
    token = base64.b64encode(b"s3cret").decode()
    url = base64.b64encode(receiver.url("/teams").encode()).decode()
    kube = Kube(
        [
            {
                "name": "slack",
                "url": receiver.url("/slack"),
                "format": "slack",
                "events": ["failed"],
            },
            {
                "name": "teams",
                "urlFrom": {"secret": "hooks", "key": "teams"},
                "format": "teams",
                "headers": {"Authorization": {"secret": "hooks", "key": "token"}, "X-Team": "shop"},
            },
            {"name": "other-app", "url": receiver.url("/other"), "apps": ["api"]},
        ],
        secrets={"hooks": {"data": {"token": token, "teams": url}}},
    )
    n = notifier()
    n.submit(kube, note("ReleaseStarted", "go"))  # type: ignore[arg-type]
    n.submit(kube, note("ReleaseFailed", "broke", warning=True))  # type: ignore[arg-type]
    assert n.flush(10)
    assert receiver.bodies("/other") == []
    (slack,) = receiver.bodies("/slack")
    assert slack["text"] == "*kprism shop/web: failed*: broke"
    assert slack["attachments"][0]["color"] == "#e01e5a"
    teams = receiver.bodies("/teams")
    assert [t["@type"] for t in teams] == ["MessageCard", "MessageCard"]
    assert teams[0]["title"] == "kprism shop/web: started" and teams[0]["text"] == "go"
    headers = next(h for p, _, h in receiver.got if p == "/teams")
    assert headers["Authorization"] == "s3cret" and headers["X-Team"] == "shop"


def test_a_missing_secret_and_a_bad_receiver_are_recorded_not_raised(receiver: Receiver) -> None:
    kube = Kube(
        [
            {"name": "nosecret", "urlFrom": {"secret": "gone", "key": "url"}},
            {"name": "typo", "url": receiver.url("/x"), "events": ["finished"]},
            {"name": "ok", "url": receiver.url("/ok")},
        ]
    )
    n = notifier()
    n.submit(kube, note("ReleaseStarted"))  # type: ignore[arg-type]
    assert n.flush(10)
    assert kube.events == [
        (
            "NotificationFailed",
            "ConfigMap notify receivers[1] (typo).events: unknown event 'finished' (known: "
            "started, step, paused, resumed, analysis-failed, promoted, aborting, aborted, "
            "rolled-back, succeeded, failed); fix the ConfigMap",
        ),
        (
            "NotificationFailed",
            "notification started to receiver nosecret not sent: Secret gone not found",
        ),
        ("NotificationSent", "notification started to receiver ok: HTTP 200"),
    ]


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        ({"name": "a"}, "give exactly one of url or urlFrom"),
        ({"url": "ftp://x"}, "is not an http(s) URL"),
        ({"url": "http://127.0.0.1/", "format": "xml"}, "must be one of json, slack, teams"),
        ({"url": "http://127.0.0.1/", "timeout": 0}, "timeout: must be a number from 0.1 to 60"),
        ({"url": "http://127.0.0.1/", "headers": {"A": 1}}, "headers.A: must be a string"),
        ({"url": "http://127.0.0.1/", "color": "red"}, "unknown field 'color'"),
    ],
)
def test_receivers_that_do_not_parse(raw: dict[str, Any], error: str) -> None:
    found, errors = parse_configmap(
        {"metadata": {"name": "n"}, "data": {"receivers": yaml.safe_dump([raw])}}
    )
    assert found == []
    assert len(errors) == 1 and error in errors[0], errors


def test_which_events_notify() -> None:
    from tests.unit.test_engine import started

    kube, _lease = started(auto=False)
    from kprism.kube.state import read_release

    st = read_release(kube.get_service("hello", "ns"))
    assert st is not None
    kw: dict[str, Any] = {"namespace": NS, "app": "web", "message": "m"}
    assert notification_for(reason="CandidateReady", **kw) is None
    assert notification_for(reason="NotificationSent", **kw) is None
    # a failure on the way forward: only an analysis failure is told before the end
    assert notification_for(reason="ReleaseFailed", status=st, **kw) is None
    failed = st.evolve(analysis=(AnalysisRun(name="step-1", phase=RunPhase.FAILED),))
    n = notification_for(reason="ReleaseFailed", status=failed, **kw)
    assert n is not None and n.event == "analysis-failed"
    n = notification_for(reason="ReleaseFailed", status=st.evolve(phase=Phase.FAILED), **kw)
    assert n is not None and n.event == "failed"
    assert n.release["id"] == st.id and n.release["strategy"] == "bluegreen"
    assert body(n, "json")["release"]["candidate"] == st.candidate


def test_a_release_with_a_hanging_receiver_is_not_slowed(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The engine's hook: a whole release on the fake cluster, its receiver hanging."""
    from tests.unit.fakekube import FakeKube
    from tests.unit.test_engine import engine, started

    fake_notifier = worker.Notifier(backoff=0.01, config_ttl=60)
    monkeypatch.setattr(worker, "_notifier", fake_notifier)
    receivers = [  # generous timeouts: a loaded machine must not cause retries (duplicates)
        {"name": "slow", "url": receiver.url("/hang"), "timeout": 30, "retries": 0},
        {"name": "log", "url": receiver.url("/log"), "timeout": 30},
    ]
    cm = Kube(receivers).configmaps
    inner = FakeKube.list_objects
    monkeypatch.setattr(
        FakeKube,
        "list_objects",
        lambda self, kind, ns, labels=None: (
            cm if kind == "ConfigMap" else inner(self, kind, ns, labels)
        ),
    )
    kube, lease = started()
    final = engine(kube, lease).run(timeout=600)
    assert final.phase == Phase.SUCCEEDED
    # the release ended while the hanging receiver still held the first delivery: it
    # did not wait for any of them (no timing involved: /hang answers only when released)
    assert not fake_notifier.flush(0), "every delivery was done before the release ended"
    receiver.release.set()
    assert fake_notifier.flush(60)
    events = [b["event"] for b in receiver.bodies("/log")]
    assert events == ["started", "step", "succeeded"]
    assert [b["event"] for b in receiver.bodies("/hang")] == events


# -- a release's own receivers (ReleaseSpec.notify) ------------------------------------------


def release_status(notify: tuple[dict[str, Any], ...]) -> Any:
    from kprism.kube.state import read_release
    from tests.unit.test_engine import started

    kube, _lease = started(auto=False)
    st = read_release(kube.get_service("hello", "ns"))
    assert st is not None
    return st.evolve(spec=dataclasses.replace(st.spec, notify=notify))


def test_a_releases_own_receivers_are_told_beside_the_namespaces(receiver: Receiver) -> None:
    kube = Kube([{"name": "team", "url": receiver.url("/team"), "events": ["succeeded"]}])
    st = release_status(
        (
            {"url": receiver.url("/mine")},
            {"name": "audit", "url": receiver.url("/audit"), "events": ["started"]},
        )
    )
    n = notifier()
    for reason in ("ReleaseStarted", "StepReached", "ReleaseSucceeded"):
        n.submit(kube, note(reason, status=st))  # type: ignore[arg-type]
    assert n.flush(10)
    assert [b["event"] for b in receiver.bodies("/mine")] == ["started", "step", "succeeded"]
    assert all(b["release"]["id"] == st.id for b in receiver.bodies("/mine"))
    assert [b["event"] for b in receiver.bodies("/audit")] == ["started"]
    assert [b["event"] for b in receiver.bodies("/team")] == ["succeeded"]
    sent = [m for r, m in kube.events if r == "NotificationSent"]
    assert "notification started to receiver release: HTTP 200" in sent
    assert "notification started to receiver audit: HTTP 200" in sent
    # the receivers travel with the release, not in what receivers get
    assert "receivers" not in receiver.bodies("/mine")[0]


def test_a_releases_receivers_are_told_when_the_configmaps_cannot_be_read(
    receiver: Receiver,
) -> None:
    class NoConfigMaps(Kube):
        def list_objects(self, *args: Any, **kw: Any) -> list[dict[str, Any]]:
            raise PermissionError("configmaps is forbidden")

    kube = NoConfigMaps([])
    n = notifier()
    st = release_status(({"url": receiver.url("/mine")},))
    n.submit(kube, note("ReleaseStarted", status=st))  # type: ignore[arg-type]
    assert n.flush(10)
    assert [b["event"] for b in receiver.bodies("/mine")] == ["started"]


def test_notify_in_the_release_spec_and_on_the_command_line(tmp_path: Any) -> None:
    from kprism import ops
    from kprism.model.release import spec_from_json, spec_to_json

    text = (
        "steps: [{setWeight: 50}, {setWeight: 100}]\n"
        "notify:\n"
        "- {name: chat, url: 'https://hooks.example/a', format: slack, events: [failed]}\n"
    )
    spec = ops.SpecArgs(
        images=[("web", "web:2")],
        canary_yaml=text,
        canary_source="release.yaml",
        notify=["http://127.0.0.1:9/hook"],
    ).to_spec()
    assert spec.notify == (
        {"name": "chat", "url": "https://hooks.example/a", "format": "slack", "events": ["failed"]},
        {"url": "http://127.0.0.1:9/hook"},
    )
    assert spec.canary is not None and spec.canary.notify == ()  # one place: the spec's
    assert spec_from_json(spec_to_json(spec)).notify == spec.notify  # kept in the status
    # blue-green: --notify alone
    bg = ops.SpecArgs(images=[("web", "web:2")], notify=["https://hooks.example/b"]).to_spec()
    assert bg.notify == ({"url": "https://hooks.example/b"},)


@pytest.mark.parametrize(
    ("args", "error"),
    [
        ({"notify": ["ftp://x"]}, "--notify[0].url: 'ftp://x' is not an http(s) URL"),
        (
            {
                "canary_yaml": "steps: [{setWeight: 100}]\nnotify: [{url: 'http://a/', events: [done]}]",
                "canary_source": "release.yaml",
            },
            "release.yaml: notify[0].events: unknown event 'done'",
        ),
        (
            {"receivers": [{"url": "http://a/", "apps": ["web"]}]},
            "notify[0]: apps is for a namespace's receivers, not a release's",
        ),
    ],
)
def test_a_bad_release_receiver_is_refused_before_anything_runs(
    args: dict[str, Any], error: str
) -> None:
    from kprism import ops
    from kprism.errors import UsageError

    with pytest.raises(UsageError, match=re.escape(error)):
        ops.SpecArgs(images=[("web", "web:2")], **args).to_spec()


def test_notify_in_a_gitops_release_spec() -> None:
    from kprism.errors import UsageError
    from kprism.ops.sources import release_spec_from_text

    spec = release_spec_from_text(
        "autoPromote: true\nnotify: [{url: 'https://hooks.example/x', events: [failed]}]\n",
        source="annotation of Deployment web-source",
    )
    assert spec.notify == ({"url": "https://hooks.example/x", "events": ["failed"]},)
    with pytest.raises(
        UsageError,
        match=re.escape("annotation of Deployment web-source: notify[0].format: 'xml'"),
    ):
        release_spec_from_text(
            "notify: [{url: 'https://a/', format: xml}]",
            source="annotation of Deployment web-source",
        )


def test_plan_lists_the_releases_own_receivers() -> None:
    from kprism import ops
    from kprism.errors import UsageError
    from kprism.model.release import ReleaseSpec
    from tests.unit.bgsim import blue_app
    from tests.unit.fakekube import NS, SERVICE, fake

    app = ops.App(name=SERVICE, namespace=NS)
    spec = ops.SpecArgs(
        images=[("hello", "hello:2")],
        notify=["https://hooks.example/all"],
        receivers=[
            {
                "name": "chat",
                "urlFrom": {"secret": "hooks", "key": "slack"},
                "format": "slack",
                "events": ["failed", "started"],
            }
        ],
    ).to_spec()
    plan = ops.plan_release(fake(blue_app()), app, spec)
    assert plan.steps[-1] == (
        "all along: notify the release's own receivers release → https://hooks.example/all "
        "(json: every event); chat → Secret hooks key slack (slack: started, failed)"
    )
    assert not any("notify" in s for s in ops.plan_release(fake(blue_app()), app, ReleaseSpec(
        change=spec.change)).steps)  # fmt: skip
    kube = fake(blue_app())
    with pytest.raises(UsageError, match=r"^notify\[0\]\.url: 'gopher://x' is not an http"):
        ops.plan_release(
            kube, app, ReleaseSpec(change=spec.change, notify=({"url": "gopher://x"},))
        )
    assert kube.patches == [] and kube.applied == []  # the Python API is refused up front too
