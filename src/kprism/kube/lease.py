"""One ``coordination.k8s.io/v1`` Lease per app: only one engine drives an app at a time.

The holder identity names the user, host and process (``alice@build-7:4242:ab12``), so
an operator can see who holds a lock. A Lease whose holder stopped renewing for longer
than its duration is stale and may be taken over; on the same host a holder whose
process is gone is stale at once (a SIGKILLed ``kprism release`` needs no wait).
"""

from __future__ import annotations

import getpass
import os
import socket
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from lightkube.models.coordination_v1 import LeaseSpec
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.coordination_v1 import Lease

from kprism.errors import ConflictError, LockedError, NotFoundError
from kprism.kube.client import Kube
from kprism.kube.errors import TransientError, translating

DEFAULT_DURATION = 15


def lease_name(app: str) -> str:
    return f"kprism-{app}"


def make_identity(user: str | None = None) -> str:
    """``user@host:pid:rand``; ``user`` defaults to the OS user (the dashboard passes the
    signed-in user it acts for)."""
    if not user:
        try:
            user = getpass.getuser()
        except Exception:
            user = "unknown"
    return f"{user}@{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:4]}"


@dataclass(frozen=True, kw_only=True)
class LeaseInfo:
    holder: str
    renewed: datetime | None
    duration: int
    annotations: Mapping[str, str] = field(default_factory=dict)

    def age(self, now: datetime) -> float:
        return (now - self.renewed).total_seconds() if self.renewed else float("inf")

    def stale(self, now: datetime) -> bool:
        if not self.holder:
            return True
        if self.age(now) > self.duration:
            return True
        return _dead_local_holder(self.holder)


def _dead_local_holder(holder: str) -> bool:
    try:
        _user, rest = holder.split("@", 1)
        host, pid, _rand = rest.rsplit(":", 2)
    except ValueError:
        return False
    if host != socket.gethostname():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except (PermissionError, ValueError):
        return False
    return False


class AppLease:
    """The Lease that serialises engines for one app."""

    def __init__(
        self,
        kube: Kube,
        *,
        namespace: str,
        app: str,
        identity: str | None = None,
        duration: int = DEFAULT_DURATION,
        name: str | None = None,
        annotations: Mapping[str, str] | None = None,
    ) -> None:
        self.kube = kube
        self.namespace = namespace
        self.app = app
        self.name = name or lease_name(app)
        self.annotations = dict(annotations or {})  # written with every take (a controller's scope)
        self.identity = identity or make_identity()
        self.duration = duration
        self.held = False
        self._last_renew: datetime | None = None
        self._mine: Lease | None = None  # the Lease as our last write left it

    @property
    def renewed_at(self) -> datetime | None:
        """When this holder last took or renewed the Lease (None: not since it lost it)."""
        return self._last_renew if self.held else None

    def _get(self) -> Lease | None:
        try:
            with translating(f"get Lease {self.name} in namespace {self.namespace}"):
                lease: Lease = self.kube.client.get(Lease, self.name, namespace=self.namespace)
                return lease
        except NotFoundError:
            return None

    def info(self) -> LeaseInfo | None:
        lease = self._get()
        if lease is None or lease.spec is None:
            return None
        return LeaseInfo(
            holder=lease.spec.holderIdentity or "",
            renewed=lease.spec.renewTime,
            duration=lease.spec.leaseDurationSeconds or self.duration,
            annotations=dict((lease.metadata.annotations if lease.metadata else None) or {}),
        )

    def try_acquire(self, now: datetime | None = None) -> LeaseInfo | None:
        """Take the Lease; return None on success, or the live holder's info."""
        now = now or datetime.now(UTC)
        lease = self._get()
        if lease is None:
            body = Lease(
                metadata=ObjectMeta(
                    name=self.name,
                    labels={"app.kubernetes.io/managed-by": "kprism"},
                    annotations=self.annotations or None,
                ),
                spec=LeaseSpec(
                    holderIdentity=self.identity,
                    leaseDurationSeconds=self.duration,
                    acquireTime=now,
                    renewTime=now,
                    leaseTransitions=0,
                ),
            )
            try:
                with translating(f"create Lease {self.name} in namespace {self.namespace}"):
                    self._mine = self.kube.client.create(body, namespace=self.namespace)
            except ConflictError:
                return self.info() or LeaseInfo(
                    holder="unknown", renewed=now, duration=self.duration
                )
            self.held, self._last_renew = True, now
            return None
        spec = lease.spec or LeaseSpec()
        info = LeaseInfo(
            holder=spec.holderIdentity or "",
            renewed=spec.renewTime,
            duration=spec.leaseDurationSeconds or self.duration,
        )
        if info.holder != self.identity and not info.stale(now):
            return info
        transitions = (spec.leaseTransitions or 0) + (0 if info.holder == self.identity else 1)
        if self.annotations and lease.metadata is not None:
            lease.metadata.annotations = {**(lease.metadata.annotations or {}), **self.annotations}
        lease.spec = LeaseSpec(
            holderIdentity=self.identity,
            leaseDurationSeconds=self.duration,
            acquireTime=now if info.holder != self.identity else spec.acquireTime,
            renewTime=now,
            leaseTransitions=transitions,
        )
        try:
            with translating(f"update Lease {self.name} in namespace {self.namespace}"):
                self._mine = self.kube.client.replace(lease)
        except ConflictError:
            return self.info() or LeaseInfo(holder="unknown", renewed=now, duration=self.duration)
        self.held, self._last_renew = True, now
        return None

    def _renew(self, now: datetime) -> LeaseInfo | None:
        """Renew with one request: PUT the Lease as we last wrote it (its resourceVersion
        is the precondition). Only if someone else wrote it meanwhile, read and decide."""
        mine = self._mine
        if mine is not None and mine.spec is not None:
            mine.spec.renewTime = now
            try:
                with translating(f"renew Lease {self.name} in namespace {self.namespace}"):
                    self._mine = self.kube.client.replace(mine)
                self._last_renew = now
                return None
            except (ConflictError, NotFoundError):
                self._mine = None
        return self.try_acquire(now)

    def acquire(self, now: datetime | None = None) -> None:
        holder = self.try_acquire(now)
        if holder is not None:
            raise LockedError(
                f"app {self.app} is being driven by {holder.holder} (Lease {self.namespace}/{self.name}, "
                f"renewed {holder.age(now or datetime.now(UTC)):.0f}s ago): wait for it to finish, "
                f"or run `kprism abort {self.app}` / `kprism promote {self.app}` to send it an intent",
                holder=holder.holder,
            )

    def renew_if_due(self, now: datetime) -> None:
        """Renew every third of the Lease's duration. An API server that does not answer
        is retried until the Lease would expire (a blip must not end a release); only a
        Lease that expired or that another engine took is lost."""
        if not self.held:
            return
        if self._last_renew and (now - self._last_renew).total_seconds() < self.duration / 3:
            return
        expires = (
            time.monotonic()
            + self.duration
            - ((now - self._last_renew).total_seconds() if self._last_renew else 0.0)
        )
        delay = 0.2
        while True:
            try:
                holder = self._renew(now)
                break
            except TransientError as exc:
                if time.monotonic() + delay >= expires - 1.0:
                    self.held = False
                    raise LockedError(
                        f"lost the Lease of app {self.app}: could not renew it before it expired "
                        f"({exc})",
                        holder="",
                    ) from exc
                time.sleep(delay)
                delay = min(delay * 2, 2.0)
                now = datetime.now(UTC)
        if holder is not None:
            self.held = False
            raise LockedError(
                f"lost the Lease of app {self.app} to {holder.holder}: another engine took over",
                holder=holder.holder,
            )

    def release(self) -> None:
        if not self.held:
            return
        lease = self._get()
        if lease is not None and lease.spec and lease.spec.holderIdentity == self.identity:
            lease.spec.holderIdentity = None
            lease.spec.renewTime = None
            try:
                with translating(f"release Lease {self.name} in namespace {self.namespace}"):
                    self.kube.client.replace(lease)
            except ConflictError:
                pass
        self.held = False
