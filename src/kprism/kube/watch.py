"""Change feeds: wake the engine when anything of an app changes.

The engine does not need the events themselves (it re-observes the whole app, which
keeps the planner level-triggered); it needs to wake up promptly instead of polling.
Each feed is one watch stream per resource kind on a daemon thread. Streams use a
short read timeout so a stopped feed closes its connection within seconds, and
reconnect from the last seen resourceVersion so no change is missed.

lightkube's own ``watch`` generator cannot be interrupted while it waits for the next
event and never closes its response, so this module drives the watch request itself
with lightkube's request builder and its HTTP client (one private attribute access,
pinned by the lightkube version range in pyproject.toml).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from typing import Any

import httpx2
from lightkube.core.resource import Resource
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.core_v1 import Pod, Service
from lightkube.resources.discovery_v1 import EndpointSlice

from kprism.kube.client import Kube, preview_name

_READ_TIMEOUT = 3.0


def _selector(labels: Mapping[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


class _Stream(threading.Thread):
    def __init__(
        self,
        kube: Kube,
        res: type[Resource],
        namespace: str,
        params: Mapping[str, Any],
        changed: threading.Event,
        stopping: threading.Event,
    ) -> None:
        super().__init__(daemon=True, name=f"kprism-watch-{res.__name__}")
        self._kube = kube
        self._res = res
        self._ns = namespace
        self._params = dict(params)
        self._changed = changed
        self._stopping = stopping
        self._rv: str | None = None

    def run(self) -> None:
        generic = self._kube.client._client  # lightkube GenericSyncClient
        http: httpx2.Client = generic._client
        while not self._stopping.is_set():
            params = {**self._params, "timeoutSeconds": 60, "allowWatchBookmarks": "true"}
            if self._rv:
                params["resourceVersion"] = self._rv
            br = generic.prepare_request(
                "list", res=self._res, namespace=self._ns, watch=True, params=params
            )
            try:
                with http.stream(
                    br.method,
                    br.url,
                    params=br.params,
                    timeout=httpx2.Timeout(10.0, read=_READ_TIMEOUT),
                ) as resp:
                    if resp.status_code == 410:
                        self._rv = None
                        continue
                    if resp.status_code >= 400:
                        self._stopping.wait(1.0)
                        continue
                    for line in resp.iter_lines():
                        if self._stopping.is_set():
                            return
                        self._handle(line)
            except (httpx2.TimeoutException, httpx2.TransportError):
                if self._stopping.wait(0.05):
                    return

    def _handle(self, line: str) -> None:
        if not line:
            return
        try:
            event = json.loads(line)
        except ValueError:
            return
        obj = event.get("object") or {}
        rv = (obj.get("metadata") or {}).get("resourceVersion")
        if event.get("type") == "ERROR":
            if obj.get("code") == 410:
                self._rv = None
            return
        if rv:
            self._rv = rv
        if event.get("type") != "BOOKMARK":
            self._changed.set()


class AppFeed:
    """Wakes a waiter whenever a Deployment, Pod, EndpointSlice or Service of one app changes."""

    def __init__(
        self, kube: Kube, *, namespace: str, service: str, app_selector: Mapping[str, str]
    ) -> None:
        self._changed = threading.Event()
        self._stopping = threading.Event()
        slices = f"kubernetes.io/service-name in ({service},{preview_name(service)})"
        self._streams = [
            _Stream(kube, Deployment, namespace, {}, self._changed, self._stopping),
            _Stream(
                kube,
                Pod,
                namespace,
                {"labelSelector": _selector(app_selector)},
                self._changed,
                self._stopping,
            ),
            _Stream(
                kube,
                EndpointSlice,
                namespace,
                {"labelSelector": slices},
                self._changed,
                self._stopping,
            ),
            _Stream(kube, Service, namespace, {}, self._changed, self._stopping),
        ]

    def __enter__(self) -> AppFeed:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        for s in self._streams:
            s.start()

    def wait(self, timeout: float) -> bool:
        """Block until something changed or ``timeout`` passed; True if something changed."""
        fired = self._changed.wait(max(0.0, timeout))
        self._changed.clear()
        return fired

    def poke(self) -> None:
        self._changed.set()

    def stop(self, *, join: bool = False) -> None:
        self._stopping.set()
        if join:
            for s in self._streams:
                s.join(timeout=_READ_TIMEOUT + 2)
