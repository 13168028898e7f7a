"""Leader election: one replica per shard drives that shard's apps.

Each shard has one ``coordination.k8s.io/v1`` Lease in the controller's namespace
(``kprism-controller``, or ``kprism-controller-<i>`` with ``--shards``), taken and
renewed as an app's Lease is (:class:`kprism.kube.lease.AppLease`: a holder that stops
renewing for the Lease's duration is stale, a dead process on the same host at once).
Its annotation ``kprism.dev/controller-scope`` says which apps the shard covers, for
the CLI (:func:`kprism.ops.handover.controller_of`).

A replica that is not the leader is a hot standby: it keeps its caches warm and tries
the Lease every ``retry`` seconds, so a dead leader's apps are taken over within about a
Lease duration. A leader that cannot renew before the Lease would expire stops leading
*before* anyone else may take it (``holds`` turns False a margin early), so two replicas
never drive one shard — and every app's own Lease guards its release besides.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

from kprism.errors import KprismError
from kprism.kube.client import Kube
from kprism.kube.lease import AppLease

log = logging.getLogger("kprism.controller")

#: stop leading this many seconds before the Lease would expire without renewal
SAFETY_MARGIN = 2.0


class Elector:
    """Holds (or waits for) one shard's Lease in a thread of its own."""

    def __init__(
        self,
        kube: Kube,
        *,
        namespace: str,
        name: str,
        identity: str,
        annotations: dict[str, str],
        duration: int = 15,
        retry: float = 2.0,
        on_change: Callable[[bool], None] = lambda leading: None,
    ) -> None:
        self.lease = AppLease(
            kube,
            namespace=namespace,
            app=name.removeprefix("kprism-"),
            identity=identity,
            duration=duration,
            name=name,
            annotations=annotations,
        )
        self._retry = retry
        self._on_change = on_change
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._renewed: float | None = None  # monotonic time of the last take or renewal
        self.transitions = 0
        self.error = ""  # the last reason the Lease could not be taken or renewed
        self._thread = threading.Thread(target=self._run, daemon=True, name=f"elector-{name}")

    @property
    def name(self) -> str:
        return self.lease.name

    def start(self) -> None:
        self._thread.start()

    def running(self) -> bool:
        return self._thread.is_alive()

    def holds(self) -> bool:
        """Whether this replica leads the shard now (and will for a little longer)."""
        with self._lock:
            if self._renewed is None:
                return False
            return time.monotonic() - self._renewed < self.lease.duration - SAFETY_MARGIN

    def _set(self, renewed: float | None) -> None:
        with self._lock:
            was = self._renewed is not None
            self._renewed = renewed
        now = renewed is not None
        if was != now:
            self.transitions += 1
            log.info(
                "leader election",
                extra={"lease": self.name, "leading": now, "identity": self.lease.identity},
            )
            self._on_change(now)

    def _run(self) -> None:
        while not self._stop.is_set():
            wait = self._retry
            try:
                if self.holds() and self.lease.held:
                    self.lease.renew_if_due(datetime.now(UTC))
                    if self.lease.held:
                        self._touch()
                    wait = self.lease.duration / 3 / 2
                else:
                    holder = self.lease.try_acquire()
                    if holder is None:
                        self._set(time.monotonic())
                        self.error = ""
                        wait = self.lease.duration / 3 / 2
                    else:
                        self._set(None)
            except KprismError as exc:  # lost it, or the API server failed: not leading
                self.error = str(exc)
                log.warning("leader election: %s", exc, extra={"lease": self.name})
                self.lease.held = False
                self._set(None)
            self._stop.wait(wait)

    def _touch(self) -> None:
        """Note a renewal (renew_if_due renews only every third of the duration)."""
        last = self.lease.renewed_at
        if last is not None:
            age = (datetime.now(UTC) - last).total_seconds()
            with self._lock:
                self._renewed = time.monotonic() - max(0.0, age)

    def stop(self, *, release: bool = True) -> None:
        """Stop; ``release``: give the Lease back so a standby takes over at once
        (False: as if this process died — the Lease expires)."""
        self._stop.set()
        self._thread.join(timeout=10)
        if release:
            try:
                self.lease.release()
            except KprismError as exc:
                log.warning("could not give back Lease %s: %s", self.name, exc)
        self._set(None)
