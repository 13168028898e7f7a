"""The background worker: one thread per process, a bounded queue, deliveries in order.

The engine calls :func:`publish` and goes on at once; the worker reads the namespace's
receivers (cached for :data:`CONFIG_TTL` seconds), POSTs to each receiver that wants the
event (retrying transport errors, timeouts, 429 and 5xx with exponential back-off), and
records the outcome as an Event on the app's Service. Every failure stays here: logged
and recorded, never raised into a release.
"""

from __future__ import annotations

import atexit
import logging
import queue
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kprism.kube.api import KubeApi
from kprism.kube.client import SECRET
from kprism.model.release import ReleaseStatus
from kprism.notify.events import Notification, notification_for
from kprism.notify.payloads import body
from kprism.notify.receivers import (
    LABEL,
    Receiver,
    ReceiverError,
    parse_configmap,
    parse_release,
    resolve,
)

if TYPE_CHECKING:
    import httpx

log = logging.getLogger("kprism.notify")

QUEUE_SIZE = 1000
CONFIG_TTL = 10.0
BACKOFF = 0.5  # first retry after this many seconds, doubling, at most BACKOFF_MAX
BACKOFF_MAX = 8.0
EXIT_WAIT = 15.0  # at exit, wait at most this long for queued deliveries


@dataclass(frozen=True, kw_only=True)
class _Item:
    kube: KubeApi
    notification: Notification


class Notifier:
    """Delivers notifications from one daemon thread (started on first use)."""

    def __init__(
        self,
        *,
        queue_size: int = QUEUE_SIZE,
        config_ttl: float = CONFIG_TTL,
        backoff: float = BACKOFF,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._queue: queue.Queue[_Item | None] = queue.Queue(maxsize=queue_size)
        self._config_ttl = config_ttl
        self._backoff = backoff
        self._sleep = sleep
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._config: dict[tuple[int, str], tuple[float, list[Receiver], list[str]]] = {}
        self._http: httpx.Client | None = None
        self._exit_hook = False
        self.dropped = 0

    # -- the engine's side: never blocks, never raises

    def submit(self, kube: KubeApi, notification: Notification) -> bool:
        """Queue one notification; False (and logged) when the queue is full."""
        try:
            self._queue.put_nowait(_Item(kube=kube, notification=notification))
        except queue.Full:
            self.dropped += 1
            log.warning(
                "notification queue full: dropped %s of %s/%s",
                notification.event,
                notification.namespace,
                notification.app,
            )
            return False
        self._start()
        return True

    def _start(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="kprism-notify", daemon=True)
                self._thread.start()
                if not self._exit_hook:
                    # a CLI exits right after its release: deliver what is queued first
                    atexit.register(self.flush, EXIT_WAIT)
                    self._exit_hook = True

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until everything queued so far was delivered or given up (tests, exit)."""
        deadline = time.monotonic() + timeout
        while self._queue.unfinished_tasks:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)
        return True

    # -- the worker

    def _client(self) -> httpx.Client:
        """One connection pool for the worker thread (its only user)."""
        if self._http is None:
            import httpx  # on the first delivery: a release without receivers never loads it

            self._http = httpx.Client(follow_redirects=False)
        return self._http

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is not None:
                    self._deliver_all(item)
            except Exception:  # the worker must outlive any one delivery
                log.exception("notification delivery failed")
            finally:
                self._queue.task_done()

    def _receivers(self, kube: KubeApi, namespace: str) -> tuple[list[Receiver], list[str]]:
        key = (id(kube), namespace)
        now = time.monotonic()
        cached = self._config.get(key)
        if cached is not None and now - cached[0] < self._config_ttl:
            return cached[1], cached[2]
        found: list[Receiver] = []
        errors: list[str] = []
        for cm in kube.list_objects("ConfigMap", namespace, {LABEL: "true"}):
            got, bad = parse_configmap(cm)
            found.extend(got)
            errors.extend(bad)
        self._config[key] = (now, found, errors)
        return found, errors

    def _deliver_all(self, item: _Item) -> None:
        n, kube = item.notification, item.kube
        try:
            receivers, errors = self._receivers(kube, n.namespace)
        except Exception as exc:  # reported, never raised into a release
            log.warning("notifications: cannot read receivers in %s: %s", n.namespace, exc)
            if not n.receivers:
                return
            receivers, errors = [], []  # the release's own are still told
        for line in errors:
            _record(kube, n, "NotificationFailed", f"{line}; fix the ConfigMap")
        if n.receivers:  # the release's own, checked before it started
            try:
                receivers = [*receivers, *parse_release(n.receivers)]
            except ReceiverError as exc:
                _record(kube, n, "NotificationFailed", f"release receivers: {exc}")
        secrets: dict[str, Mapping[str, Any] | None] = {}

        def read_secret(name: str) -> Mapping[str, Any] | None:
            if name not in secrets:
                secrets[name] = kube.find_object(SECRET, name, n.namespace)
            return secrets[name]

        for receiver in receivers:
            if receiver.wants(n.event, n.app):
                self._deliver(kube, n, receiver, read_secret)

    def _deliver(
        self,
        kube: KubeApi,
        n: Notification,
        receiver: Receiver,
        read_secret: Callable[[str], Mapping[str, Any] | None],
    ) -> None:
        import httpx

        what = f"notification {n.event} to receiver {receiver.name}"
        try:
            url = resolve(receiver.url, read_secret)
            headers = {k: resolve(v, read_secret) for k, v in receiver.headers.items()}
        except Exception as exc:  # a missing Secret, RBAC
            _record(kube, n, "NotificationFailed", f"{what} not sent: {exc}")
            return
        headers.setdefault("Content-Type", "application/json")
        headers.setdefault("User-Agent", "kprism-notify")
        payload = body(n, receiver.format)
        delay = self._backoff
        last = ""
        for attempt in range(receiver.retries + 1):
            if attempt:
                self._sleep(delay)
                delay = min(delay * 2, BACKOFF_MAX)
            try:
                answer = self._client().post(
                    url, json=payload, headers=headers, timeout=receiver.timeout
                )
            except httpx.TimeoutException:
                last = f"timed out after {receiver.timeout:g}s"
                continue
            except httpx.HTTPError as exc:
                last = f"{type(exc).__name__}: {exc}"
                continue
            if answer.is_success:
                _record(
                    kube,
                    n,
                    "NotificationSent",
                    f"{what}: HTTP {answer.status_code}"
                    + (f" after {attempt + 1} attempts" if attempt else ""),
                )
                return
            last = f"HTTP {answer.status_code}"
            if answer.status_code != 429 and answer.status_code < 500:
                break  # the receiver refuses it: retrying will not help
        _record(
            kube,
            n,
            "NotificationFailed",
            f"{what} failed after {attempt + 1} attempt{'s' if attempt else ''}: {last}",
        )


def _record(kube: KubeApi, n: Notification, reason: str, message: str) -> None:
    if reason == "NotificationFailed":
        log.warning("%s/%s: %s", n.namespace, n.app, message)
    try:
        kube.emit_event(
            namespace=n.namespace,
            service=n.app,
            reason=reason,
            message=message,
            warning=reason == "NotificationFailed",
        )
    except Exception as exc:  # recording must not stop the worker
        log.warning("%s/%s: cannot record %s: %s", n.namespace, n.app, reason, exc)


_notifier: Notifier | None = None
_notifier_lock = threading.Lock()


def notifier() -> Notifier:
    """The process's notifier."""
    global _notifier  # noqa: PLW0603 - one worker per process
    with _notifier_lock:
        if _notifier is None:
            _notifier = Notifier()
        return _notifier


def publish(
    kube: KubeApi,
    *,
    namespace: str,
    service: str,
    reason: str,
    message: str,
    warning: bool = False,
    status: ReleaseStatus | None = None,
) -> None:
    """The one hook: an Event was emitted for ``service``; notify receivers if it is a
    notification. Returns at once; never raises."""
    try:
        n = notification_for(
            namespace=namespace,
            app=service,
            reason=reason,
            message=message,
            warning=warning,
            status=status,
        )
        if n is not None:
            notifier().submit(kube, n)
    except Exception:  # a notification never fails a release
        log.exception("notification for %s/%s not queued", namespace, service)
