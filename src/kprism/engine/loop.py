"""The engine: observe → decide → record → act → wait, until the release settles.

This is the only place in kprism that waits. Every wait is bounded (a deadline, the
planner's ``requeue_after``, or a change seen by the watch feed), every retry has a
budget, and the clock is injected. Conflicts (409) are never retried blindly: the
engine re-observes and asks the planner again, so it always acts on fresh state.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import random
import signal
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from kprism.engine.clock import Clock, SystemClock
from kprism.errors import ConflictError, TimeoutError_, UsageError
from kprism.kube.api import KubeApi, Lock
from kprism.kube.errors import TransientError
from kprism.kube.state import read_intent, read_release, status_patch
from kprism.model.actions import EmitEvent, KubeAction, RemoveRoutes, SetWeights
from kprism.model.observed import AppObs
from kprism.model.release import ReleaseStatus
from kprism.model.routing import exact_weights
from kprism.notify import publish
from kprism.plan.analysis import next_due_in
from kprism.plan.decision import Decision
from kprism.plan.strategies import planner_for

T = TypeVar("T")

MAX_WAIT = 15.0  # re-observe at least this often even if no watch event arrives
TRANSIENT_BUDGET = 30.0
#: ``Engine.run``: a wait whose status differs from the recorded one only in its message
#: ("waiting for the Deployment controller…", "waiting for pods…": several per canary
#: step, most lasting milliseconds) and in settled ``pending`` entries (moved to
#: ``applied`` once observed) is recorded once it has lasted this long, not at once —
#: each was a PATCH of the release's Service. Nothing acts on a message, and the next
#: write (an action's, recorded before it acts) carries both.
MESSAGE_LAG = 2.0


@dataclass(frozen=True, kw_only=True)
class Tick:
    """What the engine did in one cycle; shells render these as progress."""

    status: ReleaseStatus
    observed: AppObs
    actions: tuple[str, ...]


def _failpoint(decision: Decision) -> None:
    """Crash-safety tests: ``KPRISM_FAILPOINT=after-record:STEP`` kills this process with
    SIGKILL right after a status at STEP was recorded and before its actions are taken
    (the window that "record before act" must make safe). Unset in normal use."""
    point = os.environ.get("KPRISM_FAILPOINT")
    if point and decision.actions and point == f"after-record:{decision.status.step}":
        os.kill(os.getpid(), signal.SIGKILL)


class Engine:
    """Drives one app's release while holding its Lease."""

    def __init__(
        self,
        kube: KubeApi,
        *,
        namespace: str,
        service: str,
        track_label: str,
        lease: Lock,
        clock: Clock | None = None,
        on_tick: Callable[[Tick], None] | None = None,
    ) -> None:
        self.kube = kube
        self.namespace = namespace
        self.service = service
        self.track_label = track_label
        self.lease = lease
        self.clock = clock or SystemClock()
        self.on_tick = on_tick
        #: since when (clock.monotonic) the decided status has differed from the recorded
        #: one only in its message; None while they are equal or it was recorded
        self._unrecorded_since: float | None = None

    def observe(self, *, fresh: bool = False) -> AppObs:
        return self._retrying(
            lambda: self.kube.observe(
                namespace=self.namespace,
                service=self.service,
                track_label=self.track_label,
                fresh=fresh,
            )
        )

    def _retrying(self, fn: Callable[[], T]) -> T:
        start = self.clock.monotonic()
        delay = 0.2
        while True:
            try:
                return fn()
            except TransientError:
                if self.clock.monotonic() - start > TRANSIENT_BUDGET:
                    raise
                self._sleep(delay * (1 + random.random() / 2))  # noqa: S311 - jitter, not crypto
                delay = min(delay * 2, 5.0)

    def _apply(self, action: KubeAction, obs: AppObs, status: ReleaseStatus) -> None:
        if isinstance(action, SetWeights | RemoveRoutes):
            from kprism.traffic import route_context, router_for

            router = router_for(action.router)
            ctx = route_context(obs, status.spec.router_options)
            if isinstance(action, SetWeights):
                router.set_weights(self.kube, ctx, action.weights)
            else:
                router.remove_managed_routes(self.kube, ctx)
            return
        self.kube.apply(action, namespace=self.namespace, service=self.service)
        if isinstance(action, EmitEvent):  # the one hook: every Event the engine emits
            publish(
                self.kube,
                namespace=self.namespace,
                service=self.service,
                reason=action.reason,
                message=action.message,
                warning=action.warning,
                status=status,
            )

    def _with_routes(self, obs: AppObs, status: ReleaseStatus | None) -> AppObs:
        """Add what the release's traffic router reads back (its VerifyWeight)."""
        if status is None or not exact_weights(status.spec.router):
            return obs
        from kprism.traffic import route_context, router_for

        router = router_for(status.spec.router)
        weights = self._retrying(
            lambda: router.observed_weights(
                self.kube, route_context(obs, status.spec.router_options)
            )
        )
        return dataclasses.replace(obs, route_weights=weights)

    def _measure(self, status: ReleaseStatus, obs: AppObs, now: datetime) -> ReleaseStatus:
        """Take the analysis measurements that are due (kprism.analysis), folded into the
        status the planner decides on and the engine records."""
        if not status.analysis:
            return status
        from kprism.analysis.runner import measure_due

        return measure_due(
            self.kube,
            status,
            obs,
            now,
            clock=self.clock.now,
            before_each=lambda: self.lease.renew_if_due(self.clock.now()),
        )

    def _sleep(self, seconds: float) -> None:
        self.clock.sleep(seconds)

    def _message_only(self, recorded: ReleaseStatus, decision: Decision) -> bool:
        """The decision only waits, and its status is the recorded one but for the message
        and for what drift.settle moved from ``pending`` to ``applied`` (the actions were
        observed). Until written, the recorded pending entries still excuse exactly the
        values this engine set, and every step decides on the recorded status anyway."""
        new = decision.status
        if decision.actions or decision.consume_intent or decision.done or new == recorded:
            return False
        if not new.pending.items() <= recorded.pending.items():
            return False  # a new pending entry: an action's, written before it acts
        settled = recorded.pending.keys() - new.pending.keys()
        keys = new.applied.keys() | recorded.applied.keys()
        if any(new.applied.get(k) != recorded.applied.get(k) for k in keys - settled):
            return False
        rest = dataclasses.replace(
            new, message=recorded.message, pending=recorded.pending, applied=recorded.applied
        )
        return rest == recorded

    def record_due_in(self) -> float | None:
        """Seconds until a message left unrecorded (``step(defer_message=True)``) is due."""
        if self._unrecorded_since is None:
            return None
        return max(0.0, MESSAGE_LAG - (self.clock.monotonic() - self._unrecorded_since))

    def step(self, *, fresh: bool = False, defer_message: bool = False) -> tuple[Decision, AppObs]:
        """One observe → decide → record → act cycle (``fresh``: read from the API server,
        not from the watch cache — after a conflict showed the cache was behind;
        ``defer_message``: a wait that changes only the status' message is recorded once it
        has lasted :data:`MESSAGE_LAG`, see :meth:`record_due_in`)."""
        now = self.clock.now()
        self.lease.renew_if_due(now)
        obs = self.observe(fresh=fresh)
        status = read_release(obs.service)
        if status is None:
            raise UsageError(f"Service {self.service} has no kprism release to drive")
        obs = self._with_routes(obs, status)
        intent = read_intent(obs.service)
        measured = self._measure(status, obs, now)
        decision = planner_for(status.spec.strategy)(measured, obs, now, intent)
        record = decision.status != status or decision.consume_intent
        if defer_message and self._message_only(status, decision):
            if self._unrecorded_since is None:
                self._unrecorded_since = self.clock.monotonic()
            record = self.record_due_in() == 0.0
        if record or decision.status == status:
            self._unrecorded_since = None
        if record:
            patch = status_patch(
                obs.service,
                decision.status,
                consume_intent=decision.consume_intent,
                previous=status,
            )
            # Record before acting; a 409 means someone (an intent) wrote meanwhile: re-observe.
            self._retrying(lambda: self.kube.patch_service(self.service, self.namespace, patch))
        _failpoint(decision)
        for action in decision.actions:
            self._retrying(functools.partial(self._apply, action, obs, decision.status))
        if self.on_tick is not None:
            self.on_tick(
                Tick(
                    status=decision.status,
                    observed=obs,
                    actions=tuple(a.describe() for a in decision.actions),
                )
            )
        return decision, obs

    def run(
        self,
        *,
        until: Callable[[ReleaseStatus], bool] | None = None,
        timeout: float | None = None,
    ) -> ReleaseStatus:
        """Drive the release until it is terminal (or ``until`` says stop). Returns the last status."""
        deadline = None if timeout is None else self.clock.monotonic() + timeout
        app_selector = self.observe().app_selector
        with self.kube.feed(
            namespace=self.namespace, service=self.service, app_selector=app_selector
        ) as feed:
            fresh = False
            while True:
                try:
                    decision, _ = self.step(fresh=fresh, defer_message=True)
                    fresh = False
                except ConflictError:
                    fresh = True  # someone wrote meanwhile: decide again on what is there now
                    continue
                if decision.done or (until is not None and until(decision.status)):
                    return decision.status
                wait = decision.requeue_after if decision.requeue_after is not None else MAX_WAIT
                wait = min(wait, MAX_WAIT, self.lease.duration / 3)
                if decision.actions:
                    wait = min(wait, 1.0)
                due = next_due_in(decision.status, self.clock.now())
                if due is not None:  # the next analysis measurement
                    wait = min(wait, due)
                unrecorded = self.record_due_in()
                if unrecorded is not None:  # a message to record if the wait lasts
                    wait = min(wait, unrecorded)
                if deadline is not None:
                    left = deadline - self.clock.monotonic()
                    if left <= 0:
                        raise TimeoutError_(
                            f"gave up waiting after {timeout:.0f}s at step {decision.status.step}: "
                            f"{decision.status.message}; run `kprism resume {self.service}` to continue"
                        )
                    wait = min(wait, left)
                feed.wait(max(wait, 0.05))
