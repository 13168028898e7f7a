"""Change feeds: wake an engine when anything of its app changes.

The engine does not need the events themselves (it re-observes the whole app, which
keeps the planner level-triggered); it needs to wake up promptly instead of polling. A
feed subscribes to the process's shared informers (:mod:`kprism.kube.cache`) for the
app's namespace and fires when an event concerns the app: its Service or the Services
kprism made for it (``APP-preview``, ``APP-TRACK``), Deployments whose pod template
carries the app's labels, the app's Pods, the EndpointSlices of those Services, and
HorizontalPodAutoscalers. Other apps' events only cost a label comparison.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from kprism.kube.cache import APP_KINDS

if TYPE_CHECKING:
    from kprism.kube.cache import ClusterCache

SYNC_TIMEOUT = 20.0


def _has(labels: Mapping[str, str] | None, selector: Mapping[str, str]) -> bool:
    return (
        bool(selector)
        and labels is not None
        and all(labels.get(k) == v for k, v in selector.items())
    )


def concerns(
    kind: str,
    obj: Mapping[str, Any],
    *,
    namespace: str,
    service: str,
    selector: Mapping[str, str],
) -> bool:
    """Whether an event on ``obj`` (of ``kind``) may change what the engine of app
    ``service`` (in ``namespace``, pods labelled ``selector``) sees. Shared by every
    app's feed and by the controller, which routes one watch's events to its apps."""
    if kind == "":
        return True  # a relist: anything may have changed
    meta = obj.get("metadata") or {}
    if meta.get("namespace") != namespace:
        return False
    name = str(meta.get("name", ""))
    mine = name == service or name.startswith(service + "-")
    match kind:
        case "Service":
            # the app's own Services, and any other whose selector contains the app's:
            # those move with it (kprism.plan.siblings) and are watched for drift
            return mine or _has((obj.get("spec") or {}).get("selector"), selector)
        case "Pod":
            return _has(meta.get("labels"), selector)
        case "Deployment":
            tmpl = ((obj.get("spec") or {}).get("template") or {}).get("metadata") or {}
            return mine or _has(tmpl.get("labels"), selector)
        case "EndpointSlice":
            owner = str((meta.get("labels") or {}).get("kubernetes.io/service-name", ""))
            return owner == service or owner.startswith(service + "-")
        case _:
            return True  # HPAs: few, and they name their target only by Deployment


class AppFeed:
    """Wakes a waiter whenever something of one app changes."""

    def __init__(
        self,
        cache: ClusterCache,
        *,
        namespace: str,
        service: str,
        app_selector: Mapping[str, str],
    ) -> None:
        self._cache = cache
        self._namespace = namespace
        self._service = service
        self._selector = dict(app_selector)
        self._changed = threading.Event()
        self._unsubscribe: Any = None

    def concerns(self, kind: str, obj: Mapping[str, Any]) -> bool:
        """Whether an event on ``obj`` (of ``kind``) may change what the app's engine sees."""
        return concerns(
            kind, obj, namespace=self._namespace, service=self._service, selector=self._selector
        )

    def __enter__(self) -> AppFeed:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        self._unsubscribe = self._cache.subscribe(
            APP_KINDS, self._namespace, self._on_event, sync_timeout=SYNC_TIMEOUT
        )

    def _on_event(self, kind: str, event: str, obj: Mapping[str, Any]) -> None:
        if event == "RELISTED" or self.concerns(kind, obj):
            self._changed.set()

    def wait(self, timeout: float) -> bool:
        """Block until something changed or ``timeout`` passed; True if something changed."""
        fired = self._changed.wait(max(0.0, timeout))
        self._changed.clear()
        return fired

    def poke(self) -> None:
        self._changed.set()

    def stop(self, *, join: bool = False) -> None:
        del join  # nothing to join: the informers are shared and outlive the feed
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
