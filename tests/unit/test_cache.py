"""The informer's LIST+WATCH protocol, fed scripted API answers over an HTTP transport:
resume from the last resourceVersion, relist on 410, bookmarks, deletes, read-your-writes.
(tests/integration/test_watch_cache.py runs the same code against the real API server.)"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx2

from kprism.kube.cache import PODS, ClusterCache, Informer


def pod(name: str, rv: int) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "ns", "resourceVersion": str(rv)}}


def lines(*events: tuple[str, dict[str, Any]]) -> bytes:
    return b"".join(json.dumps({"type": t, "object": o}).encode() + b"\n" for t, o in events)


class Script:
    """Answers LISTs and WATCHes from queues; records what the informer asked for."""

    def __init__(self, lists: list[dict[str, Any]], watches: list[httpx2.Response]) -> None:
        self.lists, self.watches = lists, watches
        self.asked: list[dict[str, str]] = []
        self.done = threading.Event()

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        params = dict(request.url.params)
        self.asked.append(params)
        if params.get("watch"):
            if not self.watches:
                self.done.set()
                return httpx2.Response(500, json={"message": "script over"})
            return self.watches.pop(0)
        return httpx2.Response(200, json=self.lists.pop(0))


def informer(script: Script) -> Informer:
    http = httpx2.Client(base_url="https://127.0.0.1:6443", transport=httpx2.MockTransport(script))
    return Informer(http, PODS, "ns", requests=Counter())


def run(inf: Informer, script: Script) -> None:
    inf.start()
    assert script.done.wait(10), script.asked
    inf.stop()
    inf.join(5)


def test_a_cut_watch_resumes_from_the_last_resource_version_and_410_relists() -> None:
    script = Script(
        lists=[
            {"metadata": {"resourceVersion": "10"}, "items": [pod("a", 9)]},
            {"metadata": {"resourceVersion": "50"}, "items": [pod("c", 49)]},
        ],
        watches=[
            httpx2.Response(
                200,
                content=lines(
                    ("ADDED", pod("b", 11)), ("BOOKMARK", {"metadata": {"resourceVersion": "12"}})
                ),
            ),
            httpx2.Response(200, content=lines(("DELETED", pod("a", 13)))),
            httpx2.Response(200, content=lines(("ERROR", {"code": 410, "message": "too old"}))),
        ],
    )
    inf = informer(script)
    events: list[tuple[str, str]] = []
    inf.subscribe(
        lambda kind, ev, obj: events.append((ev, obj.get("metadata", {}).get("name", "")))
    )
    run(inf, script)
    watches = [a for a in script.asked if a.get("watch")]
    # LIST at 10, watch from 10; cut → resume from the bookmark's 12; then from 13;
    # 410 → LIST again (at 50) and watch from there
    assert [w["resourceVersion"] for w in watches] == ["10", "12", "13", "50"]
    assert all(w["allowWatchBookmarks"] == "true" for w in watches)
    assert [o["metadata"]["name"] for o in inf.items()] == ["c"]
    assert inf.relists == 2
    # why each watch was started again (kprism_watch_restarts_total): two clean ends, a
    # 410, and the script's closing 500
    assert (inf.restarts["closed"], inf.restarts["expired"]) == (2, 1)
    assert inf.restarts["error"] >= 1
    # bookmarks move the resourceVersion but wake nobody
    assert events == [("RELISTED", ""), ("ADDED", "b"), ("DELETED", "a"), ("RELISTED", "")]


def test_seen_waits_for_the_watch_to_reach_a_write() -> None:
    script = Script(
        lists=[{"metadata": {"resourceVersion": "5"}, "items": []}],
        watches=[httpx2.Response(200, content=lines(("ADDED", pod("x", 7))))],
    )
    inf = informer(script)
    assert not inf.seen(7, timeout=0.05), "nothing seen before the informer runs"
    run(inf, script)
    assert inf.seen(7, timeout=0)
    assert not inf.seen(8, timeout=0.05)


def test_the_cache_shares_one_informer_per_kind_and_namespace() -> None:
    hold = threading.Event()

    def open_watch() -> Iterator[bytes]:
        hold.wait(10)  # a watch that stays connected until the test ends
        yield b""

    script = Script(
        lists=[{"metadata": {"resourceVersion": "1"}, "items": []}] * 3,
        watches=[httpx2.Response(200, content=open_watch()) for _ in range(3)],
    )
    cache = ClusterCache(
        lambda: httpx2.Client(
            base_url="https://127.0.0.1:6443", transport=httpx2.MockTransport(script)
        ),
        idle_seconds=0.05,
    )
    try:
        done1 = cache.subscribe((PODS,), "ns", lambda *a: None, sync_timeout=5)
        done2 = cache.subscribe((PODS,), "ns", lambda *a: None, sync_timeout=5)
        assert cache.stats()["informers"] == 1
        assert cache.watching(PODS, "ns") is not None
        assert cache.watching(PODS, "other") is None
        done1()
        assert cache.watching(PODS, "ns") is not None, "still one subscriber"
        done2()
        assert cache.watching(PODS, "ns") is None, "nobody subscribed: reads go to the API"
    finally:
        hold.set()
        cache.stop()


def test_a_store_whose_watch_is_down_is_not_offered_for_reads() -> None:
    script = Script(
        lists=[{"metadata": {"resourceVersion": "1"}, "items": [pod("a", 1)]}],
        watches=[httpx2.Response(503, json={"message": "apiserver restarting"})],
    )
    cache = ClusterCache(
        lambda: httpx2.Client(
            base_url="https://127.0.0.1:6443", transport=httpx2.MockTransport(script)
        )
    )
    try:
        done = cache.subscribe((PODS,), "ns", lambda *a: None, sync_timeout=5)
        assert script.done.wait(10)
        inf = cache.informer_for(PODS, "ns")
        assert inf is not None and inf.items() != [], "the store is kept"
        assert cache.watching(PODS, "ns") is None, "but reads go to the API server"
        done()
    finally:
        cache.stop()
