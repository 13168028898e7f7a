"""Strategy plug-ins: one ``decide`` function per release strategy, one interface."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from kprism.errors import UsageError
from kprism.model.observed import AppObs
from kprism.model.release import Intent, ReleaseStatus, Strategy
from kprism.plan import bluegreen, canary
from kprism.plan.decision import Decision


class Planner(Protocol):
    def __call__(
        self, st: ReleaseStatus, obs: AppObs, now: datetime, intent: Intent | None = None
    ) -> Decision: ...


PLANNERS: dict[Strategy, Planner] = {
    Strategy.BLUEGREEN: bluegreen.decide,
    Strategy.CANARY: canary.decide,
}


def planner_for(strategy: Strategy) -> Planner:
    try:
        return PLANNERS[strategy]
    except KeyError:
        raise UsageError(f"strategy {strategy.value!r} is not available yet") from None
