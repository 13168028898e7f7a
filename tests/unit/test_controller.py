"""The controller's pure parts and its work queue (issue 13): shards, selectors, scopes,
GitOps source decisions, release specs from annotations, release requests."""

from __future__ import annotations

import dataclasses
import threading
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as hs

from kprism.controller.queue import WorkQueue
from kprism.errors import UsageError
from kprism.model.release import Change, Phase, ReleaseSpec, Strategy, history_entry
from kprism.model.request import ReleaseRequest, request_from_json, request_to_json
from kprism.ops.apps import App
from kprism.ops.sources import release_spec_from_text, source_spec
from kprism.plan.controller import (
    Scope,
    Selector,
    SourceVerdict,
    controller_lease_name,
    decide_source,
    shard_of,
    source_moved,
    source_tag,
)
from kprism.plan.template import apply_change
from tests.unit.bgsim import blue_app, new_release, template

# -- shards ------------------------------------------------------------------------------


def test_shard_of_is_a_stable_hash_not_pythons() -> None:
    # pinned values, the same in every process and replica (PYTHONHASHSEED-proof):
    # changing the hash would move every app to another shard on upgrade
    assert [shard_of("shop", f"app{i}", 4) for i in range(8)] == [3, 2, 2, 2, 1, 3, 0, 1]
    assert shard_of("shop", "web", 1) == 0
    assert (shard_of("shop", "web", 3), shard_of("web", "shop", 3)) == (1, 0)


@given(hs.lists(hs.text(min_size=1, max_size=12), min_size=200, max_size=200, unique=True))
def test_shards_split_many_apps_roughly_evenly(names: list[str]) -> None:
    counts = [0, 0]
    for n in names:
        counts[shard_of("ns", n, 2)] += 1
    assert min(counts) > 50, counts


def test_lease_names() -> None:
    assert controller_lease_name(0, 1) == "kprism-controller"
    assert controller_lease_name(2, 3) == "kprism-controller-2"


# -- selectors and scopes --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "labels", "want"),
    [
        ("", {}, True),
        ("tier=web", {"tier": "web"}, True),
        ("tier==web", {"tier": "db"}, False),
        ("tier!=db", {}, True),
        ("tier!=db", {"tier": "db"}, False),
        ("team in (a, b),tier", {"team": "b", "tier": "x"}, True),
        ("team in (a,b)", {"team": "c"}, False),
        ("team notin (a,b)", {"team": "c"}, True),
        ("!canary", {"canary": "1"}, False),
        ("!canary,app=web", {"app": "web"}, True),
    ],
)
def test_selector_matches_like_kubectl(text: str, labels: dict[str, str], want: bool) -> None:
    assert Selector.parse(text).matches(labels) is want


@pytest.mark.parametrize("text", ["tier=web=x", "team in ()", "a b", "!team in (a)", "9$=x"])
def test_bad_selector_is_one_line(text: str) -> None:
    with pytest.raises(UsageError) as err:
        Selector.parse(text)
    assert "\n" not in str(err.value)


def test_scope_round_trips_through_its_lease_annotation() -> None:
    scope = Scope(
        namespaces=("a", "b"),
        exclude=(),
        selector=Selector.parse("tier=web,team in (x,y)"),
        shards=3,
        shard=1,
    )
    back = Scope.from_json(scope.to_json())
    assert back == scope
    assert Scope.from_json("not json") is None
    assert Scope.from_json('{"shards": 0}') is None


def test_scope_covers_namespace_selector_and_shard() -> None:
    everywhere = Scope(exclude=("kube-system",))
    assert everywhere.covers("shop", "web", {})
    assert not everywhere.covers("kube-system", "dns", {})
    only = Scope(namespaces=("shop",), selector=Selector.parse("tier=web"))
    assert only.covers("shop", "web", {"tier": "web"})
    assert not only.covers("shop", "web", {"tier": "db"})
    assert not only.covers("other", "web", {"tier": "web"})
    names = [f"app{i}" for i in range(20)]
    halves = [Scope(shards=2, shard=i) for i in (0, 1)]
    for n in names:  # every app in exactly one shard
        assert sum(s.covers("ns", n, {}) for s in halves) == 1


@pytest.mark.parametrize(
    ("kwargs", "flag"),
    [
        ({"shards": 0}, "--shards"),
        ({"shards": 2, "shard": 2}, "--shard-index"),
        ({"namespaces": ("a",), "exclude": ("a",)}, "excluded"),
    ],
)
def test_bad_scopes_are_refused(kwargs: dict[str, Any], flag: str) -> None:
    with pytest.raises(UsageError, match=flag):
        Scope(**kwargs)


# -- GitOps sources ----------------------------------------------------------------------------


def source(
    image: str, *, labels: dict[str, str] | None = None, replicas: int = 0
) -> dict[str, Any]:
    tmpl = template(image, "blue")
    tmpl["metadata"]["labels"] = labels if labels is not None else {"app": "hello"}
    return {
        "metadata": {"name": "hello-source", "annotations": {"kprism.dev/source-of": "hello"}},
        "spec": {"replicas": replicas, "template": tmpl},
    }


def test_a_source_the_serving_track_runs_asks_for_nothing() -> None:
    obs = blue_app().observe()
    d = decide_source(source("hello:1"), obs, None, [])
    assert d.verdict == SourceVerdict.NOTHING, d


def test_a_new_source_template_is_released_once() -> None:
    obs = blue_app().observe()
    src = source("hello:2")
    d = decide_source(src, obs, None, [])
    assert d.verdict == SourceVerdict.RELEASE
    assert d.tag == source_tag("hello-source", src["spec"]["template"])
    # the candidate's pod template is the source's, with the track label
    change = Change(template=d.template)
    assert apply_change(template("hello:1", "blue"), change) == src["spec"]["template"]
    # recorded in the history (whatever the outcome): not released again
    st = new_release(blue_app())
    spec = dataclasses.replace(st.spec, change=change, source=d.tag)
    done = st.evolve(spec=spec, phase=Phase.ABORTED)
    again = decide_source(src, obs, done, [history_entry(done)])
    assert again.verdict == SourceVerdict.NOTHING and "Aborted" in again.reason


def test_a_release_of_an_older_template_is_aborted_when_the_source_moves_on() -> None:
    obs = blue_app().observe()
    old, new = source("hello:2"), source("hello:3")
    st = new_release(blue_app())
    st = st.evolve(
        spec=dataclasses.replace(
            st.spec, source=source_tag("hello-source", old["spec"]["template"])
        )
    )
    assert source_moved(old, st) is None
    assert decide_source(old, obs, st, []).verdict == SourceVerdict.NOTHING
    moved = decide_source(new, obs, st, [])
    assert moved.verdict == SourceVerdict.ABORT and "changed during release r1" in moved.reason
    # not a release of this source (a CLI release), or already aborting: left alone
    assert source_moved(new, new_release(blue_app())) is None
    assert source_moved(new, st.evolve(aborting=True)) is None


@pytest.mark.parametrize(
    ("src", "why"),
    [
        (source("hello:2", labels={"app": "other"}), "lacks the app's labels app=hello"),
        (source("hello:2", replicas=2), "replicas: 0"),
        (
            {"metadata": {"name": "hello-source"}, "spec": {"replicas": 0, "template": {}}},
            "no containers",
        ),
    ],
)
def test_a_source_that_cannot_become_a_track_is_refused(src: dict[str, Any], why: str) -> None:
    d = decide_source(src, blue_app().observe(), None, [])
    assert d.verdict == SourceVerdict.REFUSE and why in d.reason


# -- release specs from annotations ------------------------------------------------------------


def test_release_spec_annotation_takes_the_release_options() -> None:
    spec = release_spec_from_text(
        "strategy: canary\nsteps: '25,50,100'\nmaxSurge: 1\nautoPromote: true\nscaleDownDelay: 5\n",
        source="here",
    )
    assert spec.strategy == Strategy.CANARY and spec.auto_promote
    assert spec.canary is not None and spec.canary.weights == (25, 50, 100)
    assert spec.scale_down_delay == 5.0
    full = release_spec_from_text(
        '{"canary": {"steps": [{"setWeight": 50}, {"pause": {"duration": "10s"}}, '
        '{"setWeight": 100}]}}',
        source="here",
    )
    assert full.strategy == Strategy.CANARY and full.canary is not None
    assert full.canary.weights == (50, 100)
    assert release_spec_from_text("", source="here") == ReleaseSpec()
    listed = release_spec_from_text("steps: [10, 100]", source="here")
    assert listed.canary is not None and listed.canary.weights == (10, 100)


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("[1, 2]", "must be a mapping"),
        ("stratgy: canary", "unknown field 'stratgy'"),
        ("autoPromote: yes please", "true or false"),
        ("scaleDownDelay: -1", "scale-down delay"),
        ("strategy: rainbow", "rainbow"),
        ("steps: 10,200", "200"),
        ("a: [", "not valid YAML"),
    ],
)
def test_a_bad_release_spec_annotation_is_one_line(text: str, why: str) -> None:
    with pytest.raises(UsageError) as err:
        release_spec_from_text(text, source="annotation kprism.dev/release-spec of Service web")
    assert why in str(err.value) and "\n" not in str(err.value)


def test_the_source_spec_annotation_wins_over_the_services() -> None:
    src = source("hello:2")
    src["metadata"]["annotations"]["kprism.dev/release-spec"] = "autoPromote: true"
    app = App(name="hello", namespace="ns")
    spec = source_spec(
        src, {"kprism.dev/release-spec": "preview: true"}, app, template={"x": 1}, tag="t"
    )
    assert spec.auto_promote and not spec.preview
    assert spec.change == Change(template={"x": 1}) and spec.source == "t"
    del src["metadata"]["annotations"]["kprism.dev/release-spec"]
    spec = source_spec(
        src, {"kprism.dev/release-spec": "preview: true"}, app, template={"x": 1}, tag="t"
    )
    assert spec.preview and not spec.auto_promote


# -- release requests -------------------------------------------------------------------------


def test_a_release_request_round_trips() -> None:
    spec = release_spec_from_text("steps: '50,100'\nautoPromote: true", source="here")
    spec = dataclasses.replace(spec, change=Change(images={"": "hello:2"}))
    req = ReleaseRequest(id="r9", spec=spec, stable_track="blue", force=True, by="me", at="now")
    back = request_from_json(request_to_json(req))
    assert back == req
    refused = request_from_json(request_to_json(req.refuse("nothing to release")))
    assert refused is not None and refused.refused == "nothing to release"
    assert request_from_json("{}") is None and request_from_json("garbage") is None


# -- the work queue ---------------------------------------------------------------------------


class FakeTime:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_a_key_added_many_times_is_handled_once() -> None:
    q: WorkQueue[str] = WorkQueue()
    for _ in range(5):
        q.add("a")
    q.add("b")
    assert q.get(0) == "a" and q.get(0) == "b" and q.get(0) is None


def test_a_key_being_handled_is_not_handed_out_again_until_done() -> None:
    q: WorkQueue[str] = WorkQueue()
    q.add("a")
    assert q.get(0) == "a"
    q.add("a")  # an event while a worker handles it
    assert q.get(0) is None  # not to a second worker
    q.done("a")
    assert q.get(0) == "a"  # handled again: the event is not lost
    q.done("a")
    assert q.get(0) is None


def test_delayed_adds_come_due_and_the_earliest_wins() -> None:
    now = FakeTime()
    q: WorkQueue[str] = WorkQueue(monotonic=now)
    q.add_after("a", 10)
    q.add_after("a", 3)
    q.add_after("a", 20)
    assert q.get(0) is None
    now.t = 3.5
    assert q.get(0) == "a"
    q.done("a")
    now.t = 30
    assert q.get(0) is None  # the superseded wake-ups are gone
    assert q.stats()["delayed"] == 0


def test_retries_back_off_exponentially_until_forgotten() -> None:
    q: WorkQueue[str] = WorkQueue(base_delay=1.0, max_delay=8.0, monotonic=FakeTime())
    delays = [q.add_rate_limited("a") for _ in range(6)]
    for i, d in enumerate(delays):
        assert min(8.0, 2.0**i) / 2 <= d <= min(8.0, 2.0**i)
    assert q.failures("a") == 6
    q.forget("a")
    assert q.failures("a") == 0 and q.add_rate_limited("a") <= 1.0


def test_one_worker_per_key_under_concurrency() -> None:
    q: WorkQueue[int] = WorkQueue()
    busy: set[int] = set()
    lock = threading.Lock()
    overlaps: list[int] = []
    handled: list[int] = []

    def worker() -> None:
        while (key := q.get(2.0)) is not None:
            with lock:
                if key in busy:
                    overlaps.append(key)
                busy.add(key)
            for _ in range(200):
                pass
            with lock:
                busy.discard(key)
                handled.append(key)
            q.done(key)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for i in range(2000):
        q.add(i % 10)
    for t in threads:
        t.join()
    assert overlaps == []
    assert set(handled) == set(range(10))
    q.shutdown()
    assert q.get(0) is None


# -- probes ------------------------------------------------------------------------------------


def test_health_and_readiness_probes_answer_from_the_controller() -> None:
    import json
    import urllib.error
    import urllib.request

    from kprism.controller.run import serve_health

    state = {"alive": True, "ready": False}
    server = serve_health(
        "127.0.0.1",
        0,
        alive=lambda: state["alive"],
        ready=lambda: state["ready"],
        stats=lambda: {"driven": 3},
    )
    port = server.server_address[1]

    def get(path: str) -> tuple[int, dict[str, Any]]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"{}") if exc.code == 503 else {}

    try:
        assert get("/healthz") == (200, {"ok": True, "driven": 3})
        assert get("/readyz")[0] == 503
        state["ready"] = True
        assert get("/readyz") == (200, {"ok": True, "driven": 3})
        assert get("/metrics")[0] == 404
    finally:
        server.shutdown()
        server.server_close()


# -- the command -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--shards", "2", "--shard-index", "2"], "--shard-index 2: must be between 0 and 1"),
        (["--selector", "tier web"], "--selector 'tier web'"),
        (["-n", "a", "--exclude-namespace", "a"], "namespace a is both watched"),
        (["--log-format", "xml"], "--log-format 'xml'"),
    ],
)
def test_bad_controller_options_are_one_line_before_connecting(
    args: list[str], needle: str
) -> None:
    from typer.testing import CliRunner

    from kprism.cli.main import app

    result = CliRunner().invoke(app, ["controller", "--kubeconfig", "/nonexistent", *args])
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert result.exit_code == 2, (result.exit_code, result.stderr)
    assert len(lines) == 1 and lines[0].startswith("kprism: error: "), lines
    assert needle in lines[0], lines[0]
