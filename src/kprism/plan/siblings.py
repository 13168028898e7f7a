"""Other Services over the app's pods ("siblings") move with the app's Service (pure).

Online Boutique has ``frontend`` and ``frontend-external`` selecting the same pods
(``app: frontend``). Pinning only ``frontend`` to a track would leave
``frontend-external`` selecting every track, and it would serve an unpromoted candidate
for the whole release. So every Service of the namespace whose selector, without the
track label, selects the app's pods is a *sibling* (:class:`~kprism.model.observed.SiblingObs`,
found by the adapter), and the rule is one line:

    every movable sibling selects what the app's Service selects.

A sibling *mirrors* the app's Service when its own selector without the track label,
plus the track label the app's Service has (if any), is its selector. Steps that move
the app's Service move every sibling in the same :class:`~kprism.plan.machine.Act`
(:func:`select`); :func:`guard` makes every step first bring a sibling that does not
mirror the app's Service back in line (a crash between two PATCHes, an old adoption, a
Service created during a release); verification steps wait until every sibling's
EndpointSlices agree with the app's (:func:`endpoints_agree`).

A sibling is *movable* when its selector without the track label contains the app's
selector (``app: frontend`` or ``app: frontend, tier: web``): adding the track label
then narrows it to one track of this app and nothing else. A sibling whose selector is
wider (``tier: web``, over several apps) cannot be moved without changing what else it
serves: the pre-flight refuses a release while one exists (:func:`unmovable`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING

from kprism.model.actions import SetSelector
from kprism.model.observed import AppObs, ServiceObs, SiblingObs
from kprism.model.release import ReleaseStatus

if TYPE_CHECKING:  # the step machine imports this module (drift checks use it)
    from kprism.plan.machine import Result, StepFn


def fmt(sel: Mapping[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(sel.items())) or "<empty>"


def base(obs: AppObs, svc: ServiceObs) -> dict[str, str]:
    """A Service's selector without the track label."""
    return {k: v for k, v in svc.selector.items() if k != obs.track_label}


def movable(obs: AppObs, sib: SiblingObs) -> bool:
    """Whether adding the track label narrows ``sib`` to one track of this app only."""
    own = base(obs, sib.service)
    return bool(obs.app_selector) and all(own.get(k) == v for k, v in obs.app_selector.items())


def movables(obs: AppObs) -> tuple[SiblingObs, ...]:
    return tuple(s for s in obs.siblings if movable(obs, s))


def unmovable(obs: AppObs) -> tuple[SiblingObs, ...]:
    return tuple(s for s in obs.siblings if not movable(obs, s))


def selector_for(obs: AppObs, svc: ServiceObs, track: str | None) -> dict[str, str]:
    """``svc``'s selector selecting ``track`` of the app (None: every track)."""
    own = base(obs, svc)
    return own if track is None else {**own, obs.track_label: track}


def _set(obs: AppObs, svc: ServiceObs, track: str | None) -> SetSelector | None:
    want = selector_for(obs, svc, track)
    if dict(svc.selector) == want:
        return None
    return SetSelector(service=svc.name, selector=want, previous=dict(svc.selector))


def select(obs: AppObs, track: str | None) -> tuple[SetSelector, ...]:
    """Make the app's Service and every movable sibling select ``track`` (None: every
    track), the app's Service first; those that already do are left alone."""
    services = (obs.service, *(s.service for s in movables(obs)))
    return tuple(a for a in (_set(obs, svc, track) for svc in services) if a is not None)


def selects(obs: AppObs, track: str | None) -> bool:
    """Whether the app's Service and every movable sibling select exactly ``track``."""
    return not select(obs, track)


def strays(obs: AppObs) -> tuple[SiblingObs, ...]:
    """Movable siblings that do not mirror the app's Service."""
    serving = obs.serving_track()
    return tuple(
        s
        for s in movables(obs)
        if dict(s.service.selector) != selector_for(obs, s.service, serving)
    )


def follow(obs: AppObs) -> tuple[SetSelector, ...]:
    """Bring every movable sibling in line with the app's Service."""
    serving = obs.serving_track()
    return tuple(a for a in (_set(obs, s.service, serving) for s in movables(obs)) if a is not None)


def lagging(obs: AppObs) -> tuple[SiblingObs, ...]:
    """Movable siblings whose ready endpoints are not the app Service's (restricted to
    the pods their own selector can reach)."""
    return tuple(s for s in movables(obs) if s.endpoints != obs.endpoints & s.selectable)


def endpoints_agree(obs: AppObs) -> bool:
    return not lagging(obs)


def lag_note(obs: AppObs) -> str:
    """``; Service x lists 2 of 3`` for a wait message, or ``""``."""
    late = lagging(obs)
    if not late:
        return ""
    shown = ", ".join(
        f"{s.name} lists {len(s.endpoints & obs.endpoints)}/{len(obs.endpoints & s.selectable)}"
        + (f" (+{len(s.endpoints - obs.endpoints)} others)" if s.endpoints - obs.endpoints else "")
        for s in late
    )
    return f"; waiting for Service {shown}"


def guard(table: Mapping[str, StepFn]) -> dict[str, StepFn]:
    """``table`` with every step first bringing stray siblings in line (:func:`follow`)."""
    from kprism.plan.machine import Act

    def guarded(fn: StepFn) -> StepFn:
        def step(st: ReleaseStatus, obs: AppObs, now: datetime) -> Result:
            fix = follow(obs)
            if fix:
                return Act(fix)
            return fn(st, obs, now)

        return step

    return {name: guarded(fn) for name, fn in table.items()}


def names(sibs: tuple[SiblingObs, ...]) -> str:
    return ", ".join(s.name for s in sibs)


def unmovable_reason(obs: AppObs, sib: SiblingObs) -> str:
    """One line: why ``sib`` cannot move with the app, and what to do."""
    app = obs.service.name
    return (
        f"Service {sib.name} (selector {fmt(sib.service.selector)}) also selects pods of "
        f"{app} but not by its selector {fmt(obs.app_selector)}, so kprism cannot move it with "
        f"{app}: a release would let it serve the new version before promotion; add "
        f"{fmt(obs.app_selector)} to its selector (or delete it)"
    )


__all__ = [
    "base",
    "endpoints_agree",
    "follow",
    "guard",
    "lag_note",
    "lagging",
    "movable",
    "movables",
    "names",
    "select",
    "selector_for",
    "selects",
    "strays",
    "unmovable",
    "unmovable_reason",
]
