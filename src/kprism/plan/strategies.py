"""Strategy plug-ins: one entry per release strategy, one interface.

A strategy is its step machine's ``decide`` plus the few decisions the operations layer
needs about a release in flight: whether a promotion means anything now, and which
intents the operator expects to see carried to the end when no engine is running.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from kprism.errors import UsageError
from kprism.model.observed import AppObs
from kprism.model.release import Action, Intent, ReleaseStatus, Strategy
from kprism.plan import bluegreen, canary
from kprism.plan.decision import Decision


class Planner(Protocol):
    def __call__(
        self, st: ReleaseStatus, obs: AppObs, now: datetime, intent: Intent | None = None
    ) -> Decision: ...


@dataclass(frozen=True, kw_only=True)
class StrategyPlugin:
    decide: Planner
    #: why ``promote`` has nothing to do for a release in flight, or None when it may
    promote_refusal: Callable[[ReleaseStatus], str | None]
    #: intents after which an unattended release is driven to its end (the others stop
    #: at the next wait point: a pause, awaiting promotion)
    drives_to_end: frozenset[Action]


STRATEGIES: dict[Strategy, StrategyPlugin] = {
    Strategy.BLUEGREEN: StrategyPlugin(
        decide=bluegreen.decide,
        promote_refusal=bluegreen.promote_refusal,
        drives_to_end=frozenset((Action.ABORT, Action.PROMOTE, Action.PROMOTE_FULL, Action.RESUME)),
    ),
    Strategy.CANARY: StrategyPlugin(
        decide=canary.decide,
        promote_refusal=canary.promote_refusal,
        drives_to_end=frozenset((Action.ABORT, Action.PROMOTE_FULL)),
    ),
}


def strategy_for(strategy: Strategy) -> StrategyPlugin:
    try:
        return STRATEGIES[strategy]
    except KeyError:
        raise UsageError(f"strategy {strategy.value!r} is not available yet") from None


def planner_for(strategy: Strategy) -> Planner:
    return strategy_for(strategy).decide
