"""A shared watch cache: one LIST+WATCH per resource kind and namespace, for every app.

An engine must wake when anything of its app changes and then re-observe the app. Doing
that with requests (one GET/LIST per kind on every wake-up) and one watch per app and kind
costs requests and threads that grow with releases. This module keeps, per process, one
*informer* per (kind, namespace): it LISTs once, then WATCHes from that resourceVersion
with bookmarks and a server-side timeout, resumes from the last resourceVersion it saw,
and relists only when the server says the version is gone (410). Every app in that
namespace reads its objects from the informer's store and subscribes to its events — so
200 releases in one namespace share 5 watch streams, and observing an app costs no
request at all.

Read-your-writes: an engine that scaled a Deployment must not decide again on the copy
from before its own PATCH. Writers call :meth:`ClusterCache.wrote` with the
resourceVersion the API server answered; :meth:`ClusterCache.caught_up` waits (bounded)
until the informer has seen that version — watch events arrive in resourceVersion order,
so once it has, the store holds the write and everything before it. If it does not catch
up in time the caller reads from the API server instead; the cache is an optimisation,
never a source of stale decisions.

Objects are kept as the API server's JSON (dicts), decoded once per event for all apps.
Only this module and :mod:`kprism.kube.client` know about the HTTP client underneath.
"""

from __future__ import annotations

import contextlib
import json
import random
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx2

#: Server-side timeout of one watch request; the client reads for a little longer. The
#: API server ends a watch after this long (with a bookmark first), and the informer
#: resumes from the last resourceVersion: one request per kind and namespace per period.
WATCH_SECONDS = 290
LIST_PAGE = 500


@dataclass(frozen=True)
class Kind:
    """A watched resource type and where the API serves it."""

    name: str  # as manifests spell it: "Deployment"
    group_path: str  # "/api/v1" or "/apis/apps/v1"
    plural: str

    def path(self, namespace: str | None) -> str:
        if namespace:
            return f"{self.group_path}/namespaces/{namespace}/{self.plural}"
        return f"{self.group_path}/{self.plural}"


SERVICES = Kind("Service", "/api/v1", "services")
PODS = Kind("Pod", "/api/v1", "pods")
DEPLOYMENTS = Kind("Deployment", "/apis/apps/v1", "deployments")
ENDPOINT_SLICES = Kind("EndpointSlice", "/apis/discovery.k8s.io/v1", "endpointslices")
HPAS = Kind("HorizontalPodAutoscaler", "/apis/autoscaling/v2", "horizontalpodautoscalers")

#: What an app is made of: the kinds an engine watches in its namespace.
APP_KINDS = (SERVICES, DEPLOYMENTS, PODS, ENDPOINT_SLICES, HPAS)

Listener = Callable[
    [str, str, dict[str, Any]], None
]  # (kind, ADDED|MODIFIED|DELETED|RELISTED, object)


def rv_int(rv: str | None) -> int | None:
    """A resourceVersion as a number, where the server uses numbers (etcd revisions)."""
    try:
        return int(rv) if rv else None
    except ValueError:
        return None


class Informer:
    """One kind in one namespace (or all namespaces, ``namespace=None``), kept current."""

    def __init__(
        self,
        http: httpx2.Client,
        kind: Kind,
        namespace: str | None,
        *,
        requests: Counter[str],
        watch_seconds: int = WATCH_SECONDS,
    ) -> None:
        self.kind = kind
        self.namespace = namespace
        self._http = http
        self._requests = requests
        self._watch_seconds = watch_seconds
        self._store: dict[tuple[str, str], dict[str, Any]] = {}
        self._rv: str | None = None
        self._cond = threading.Condition()
        self._synced = threading.Event()
        self._stopping = threading.Event()
        self._listeners: list[Listener] = []
        self.relists = 0
        self.denied = False  # the last LIST or WATCH was refused (401/403)
        # why the watch ended and was started again: closed (the server's timeout, a clean
        # end), expired (410 Gone: relisted), error (a dropped connection, an HTTP error)
        self.restarts: Counter[str] = Counter()
        self._response: httpx2.Response | None = None
        self._live = False  # the store is current: listed, and its watch is connected
        self._thread = threading.Thread(
            target=self._run, daemon=True, name=f"kprism-informer-{kind.plural}-{namespace or '*'}"
        )

    # -- reading ----------------------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def wait_synced(self, timeout: float) -> bool:
        return self._synced.wait(timeout)

    @property
    def synced(self) -> bool:
        """Listed once and connected now: a store whose watch is down (the API server
        restarted, a proxy cut it) may be missing changes, so it is not offered for reads
        until its watch is back (:meth:`ClusterCache.watching`)."""
        return self._synced.is_set() and self._live

    def items(self, namespace: str | None = None) -> list[dict[str, Any]]:
        with self._cond:
            if namespace is None:
                return list(self._store.values())
            return [o for (ns, _), o in self._store.items() if ns == namespace]

    def get(self, namespace: str, name: str) -> dict[str, Any] | None:
        with self._cond:
            return self._store.get((namespace, name))

    @property
    def resource_version(self) -> str | None:
        with self._cond:
            return self._rv

    def seen(self, rv: int, timeout: float) -> bool:
        """Wait until this informer has seen resourceVersion ``rv`` (or a later one)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                have = rv_int(self._rv)
                if have is not None and have >= rv:
                    return True
                left = deadline - time.monotonic()
                if left <= 0 or self._stopping.is_set():
                    return False
                self._cond.wait(left)

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        with self._cond:
            self._listeners.append(listener)

        def unsubscribe() -> None:
            with self._cond, contextlib.suppress(ValueError):
                self._listeners.remove(listener)

        return unsubscribe

    def stop(self) -> None:
        """Stop the loop; a watch blocked in a read ends at once (its socket is shut down)."""
        self._stopping.set()
        with self._cond:
            self._cond.notify_all()
            resp = self._response
        if resp is not None:
            stream = resp.extensions.get("network_stream")
            sock = stream.get_extra_info("socket") if stream is not None else None
            if isinstance(sock, socket.socket):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)

    # -- the LIST+WATCH loop ----------------------------------------------------------------

    def _run(self) -> None:
        backoff = 0.2
        while not self._stopping.is_set():
            try:
                if self._rv is None:
                    self._list()
                self._watch()
                if not self._stopping.is_set():
                    self.restarts["expired" if self._rv is None else "closed"] += 1
                backoff = 0.2
                continue
            except (httpx2.TransportError, httpx2.StreamError, _Retry):
                # The API server restarted or a proxy cut the stream: resume from the last
                # resourceVersion after a short, growing pause.
                self._live = False
                self.restarts["error"] += 1
            except Exception:  # a bad object must not end the informer
                self._live = False
                self._rv = None  # start over from a fresh LIST
                self.restarts["error"] += 1
            if self._stopping.wait(backoff * (1 + random.random())):  # noqa: S311 - jitter
                return
            backoff = min(backoff * 2, 5.0)

    def _list(self) -> None:
        items: dict[tuple[str, str], dict[str, Any]] = {}
        params: dict[str, Any] = {"limit": LIST_PAGE}
        while True:
            self._requests[f"list {self.kind.name}"] += 1
            resp = self._http.get(self.kind.path(self.namespace), params=params)
            if resp.status_code >= 400:
                # 401/403: this user may not list the kind here; readers that can fall
                # back to a direct request (which names the problem) need not wait
                self.denied = resp.status_code in (401, 403)
                raise _Retry(f"list {self.kind.name}: HTTP {resp.status_code}")
            body = resp.json()
            for obj in body.get("items") or []:
                meta = obj.get("metadata") or {}
                items[(meta.get("namespace", ""), meta.get("name", ""))] = obj
            meta = body.get("metadata") or {}
            if not meta.get("continue"):
                rv = meta.get("resourceVersion")
                break
            params["continue"] = meta["continue"]
        with self._cond:
            self._store = items
            self._rv = rv
            self._live = True
            self.denied = False
            self.relists += 1
            self._cond.notify_all()
            listeners = list(self._listeners)
        self._synced.set()
        for listener in listeners:
            listener(self.kind.name, "RELISTED", {})

    def _watch(self) -> None:
        params = {
            "watch": "1",
            "allowWatchBookmarks": "true",
            "resourceVersion": self._rv,
            "timeoutSeconds": str(self._watch_seconds),
        }
        timeout = httpx2.Timeout(10.0, read=self._watch_seconds + 30.0)
        self._requests[f"watch {self.kind.name}"] += 1
        with self._http.stream(
            "GET", self.kind.path(self.namespace), params=params, timeout=timeout
        ) as resp:
            if resp.status_code == 410:
                self._live, self._rv = False, None
                return
            if resp.status_code >= 400:
                # a user who may list but not watch (docs/rbac.md's Role has no watch on
                # HPAs): readers fall back to a direct request instead of waiting for a
                # sync that never comes
                self.denied = resp.status_code in (401, 403)
                raise _Retry(f"watch {self.kind.name}: HTTP {resp.status_code}")
            with self._cond:
                self._response = resp
                self._live = True
            try:
                for line in resp.iter_lines():
                    if self._stopping.is_set():
                        return
                    if line and not self._event(line):
                        return
            finally:
                with self._cond:
                    self._response = None

    def _event(self, line: str) -> bool:
        """Apply one watch event; False when the watch must restart (410 Gone)."""
        try:
            event = json.loads(line)
        except ValueError:
            return True
        kind = event.get("type")
        obj: dict[str, Any] = event.get("object") or {}
        if kind == "ERROR":
            if obj.get("code") == 410:
                self._live, self._rv = False, None  # too old: relist
                return False
            raise _Retry(f"watch {self.kind.name}: {obj.get('message', 'error')}")
        meta = obj.get("metadata") or {}
        key = (meta.get("namespace", ""), meta.get("name", ""))
        with self._cond:
            if kind == "DELETED":
                self._store.pop(key, None)
            elif kind in ("ADDED", "MODIFIED"):
                self._store[key] = obj
            if meta.get("resourceVersion"):
                self._rv = meta["resourceVersion"]
            self._cond.notify_all()
            listeners = list(self._listeners) if kind != "BOOKMARK" else []
        for listener in listeners:
            listener(self.kind.name, kind, obj)
        return True


class _Retry(Exception):
    pass


class ClusterCache:
    """The process's informers, one per (kind, namespace), started on first use.

    An informer nobody subscribes to any more is stopped after ``idle_seconds`` (a CLI
    that ran one release, a test), unless someone subscribes again before that.
    """

    def __init__(
        self,
        http_factory: Callable[[], httpx2.Client],
        *,
        watch_seconds: int = WATCH_SECONDS,
        idle_seconds: float = 30.0,
    ) -> None:
        self._http_factory = http_factory
        self._http: httpx2.Client | None = None
        self._watch_seconds = watch_seconds
        self._idle_seconds = idle_seconds
        self._informers: dict[tuple[str, str | None], Informer] = {}
        self._users: Counter[tuple[str, str | None]] = Counter()
        self._idle: dict[tuple[str, str | None], threading.Timer] = {}
        self._lock = threading.Lock()
        # Writes to read back, per thread: an engine (one thread) must see its own writes,
        # and must not wait for those of the 199 other engines in the same namespace.
        self._mine = threading.local()
        self.requests: Counter[str] = Counter()

    def _key(self, kind: Kind, namespace: str | None) -> tuple[str, str | None]:
        return (kind.name, None) if (kind.name, None) in self._informers else (kind.name, namespace)

    def _acquire(self, kind: Kind, namespace: str | None) -> Informer:
        with self._lock:
            key = self._key(kind, namespace)
            timer = self._idle.pop(key, None)
            if timer is not None:
                timer.cancel()
            inf = self._informers.get(key)
            if inf is None:
                if self._http is None:
                    self._http = self._http_factory()
                inf = Informer(
                    self._http,
                    kind,
                    namespace,
                    requests=self.requests,
                    watch_seconds=self._watch_seconds,
                )
                self._informers[key] = inf
                inf.start()
            self._users[key] += 1
            return inf

    def _release(self, kind: Kind, namespace: str | None) -> None:
        with self._lock:
            key = self._key(kind, namespace)
            self._users[key] -= 1
            if self._users[key] > 0 or key not in self._informers:
                return
            timer = threading.Timer(self._idle_seconds, self._stop_idle, args=(key,))
            timer.daemon = True
            self._idle[key] = timer
            timer.start()

    def _stop_idle(self, key: tuple[str, str | None]) -> None:
        with self._lock:
            if self._users[key] > 0 or self._idle.pop(key, None) is None:
                return
            inf = self._informers.pop(key, None)
        if inf is not None:
            inf.stop()

    def subscribe(
        self,
        kinds: tuple[Kind, ...],
        namespace: str | None,
        listener: Listener,
        *,
        sync_timeout: float,
    ) -> Callable[[], None]:
        """Subscribe ``listener`` to ``kinds`` in ``namespace`` (None: all namespaces),
        starting and syncing their informers; returns the unsubscribe function."""
        informers = [(k, self._acquire(k, namespace)) for k in kinds]
        unsubscribe = [inf.subscribe(listener) for _, inf in informers]
        for _, inf in informers:
            inf.wait_synced(sync_timeout)

        def done() -> None:
            for u in unsubscribe:
                u()
            for k, _ in informers:
                self._release(k, namespace)

        return done

    def informer_for(self, kind: Kind, namespace: str | None) -> Informer | None:
        """The informer that covers ``kind`` in ``namespace``, live or not (tests, stats)."""
        with self._lock:
            return self._informers.get(self._key(kind, namespace))

    def watching(self, kind: Kind, namespace: str | None) -> Informer | None:
        """The synced, subscribed informer that covers ``kind`` in ``namespace``, if any."""
        with self._lock:
            key = self._key(kind, namespace)
            inf = self._informers.get(key)
            if inf is None or self._users[key] <= 0:
                return None
        return inf if inf.synced else None

    def _writes(self) -> tuple[dict[tuple[str, str], int], set[tuple[str, str, str]]]:
        if not hasattr(self._mine, "written"):
            self._mine.written, self._mine.deleted = {}, set()
        return self._mine.written, self._mine.deleted

    def wrote(self, kind: str, namespace: str, rv: str | None) -> None:
        """Note a write this thread made (its answer's resourceVersion)."""
        n = rv_int(rv)
        if n is None:
            return
        written, _ = self._writes()
        written[(kind, namespace)] = max(written.get((kind, namespace), 0), n)

    def deleted(self, kind: str, namespace: str, name: str) -> None:
        """Note a delete this thread made: its reads wait until the watch saw it too."""
        self._writes()[1].add((kind, namespace, name))

    def caught_up(self, informers: Mapping[str, Informer], namespace: str, timeout: float) -> bool:
        """True once every informer has seen this thread's writes to its kind."""
        written, deleted = self._writes()
        deadline = time.monotonic() + timeout
        for name, inf in informers.items():
            rv = written.get((name, namespace))
            if rv is not None:
                if not inf.seen(rv, max(0.0, deadline - time.monotonic())):
                    return False
                del written[(name, namespace)]  # seen: later reads need not wait for it
            for key in [k for k in deleted if k[0] == name and k[1] == namespace]:
                while inf.get(namespace, key[2]) is not None:
                    if time.monotonic() > deadline:
                        return False
                    time.sleep(0.01)
                deleted.discard(key)
        return True

    def informers(self) -> list[Informer]:
        """Every informer now running (for metrics)."""
        with self._lock:
            return list(self._informers.values())

    def stats(self) -> dict[str, int]:
        """Running informers and the requests they made (for tests and benchmarks)."""
        with self._lock:
            running = sum(1 for k, n in self._users.items() if n > 0 and k in self._informers)
        return {"informers": running, **{k: v for k, v in self.requests.items()}}

    def stop(self) -> None:
        with self._lock:
            informers = list(self._informers.values())
            self._informers.clear()
            for timer in self._idle.values():
                timer.cancel()
            self._idle.clear()
            http, self._http = self._http, None
        for inf in informers:
            inf.stop()
        for inf in informers:
            inf.join(2.0)
        if http is not None:
            http.close()
