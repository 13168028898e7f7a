"""The step machine every release strategy runs on (pure).

A strategy is a table ``step name → step function``. A step function looks at the
recorded status and the observed cluster and returns one of four results:

:class:`Act`   actions that move the cluster towards the step's goal (stay on the step);
:class:`Wait`  nothing to do until something changes (a message, when to look again);
:class:`Next`  the step's effect is *observed*: go on to the named step (at once);
:class:`Fail`  the step cannot succeed: enter the strategy's abort path.

:func:`drive` folds an operator intent in (:func:`apply_intent`), then runs steps until
one acts, waits or fails, and returns the :class:`~kprism.plan.decision.Decision` the
engine records and applies. Steps never see the clock: ``now`` is passed in.

Before any step runs on the way forward, :func:`drive` checks for drift
(:mod:`kprism.plan.drift`): a field someone else changed stops the release, and promote
and resume are refused, until ``promote --accept-drift`` or ``abort``. After the steps,
what was observed and what the actions set are remembered for the next look.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from kprism.model.actions import EmitEvent, KubeAction
from kprism.model.observed import AppObs
from kprism.model.release import Action, Intent, Phase, ReleaseStatus
from kprism.plan import drift, timeline
from kprism.plan.decision import Decision


def iso(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


def parse_iso(s: str) -> datetime | None:
    if not s:
        return None
    return datetime.fromisoformat(s.replace("Z", "+00:00"))


def elapsed(st: ReleaseStatus, now: datetime) -> float:
    """Seconds since the current step started."""
    t = parse_iso(st.step_started_at)
    return (now - t).total_seconds() if t else 0.0


@dataclass(frozen=True)
class Act:
    """Take ``actions`` (and record ``status`` first, if given); stay on the step."""

    actions: tuple[KubeAction, ...]
    status: ReleaseStatus | None = None


@dataclass(frozen=True)
class Wait:
    """Nothing to do now: look again after ``requeue_after`` seconds (None: on a change).
    ``event`` is (reason, message, warning)."""

    message: str
    requeue_after: float | None = None
    status: ReleaseStatus | None = None
    event: tuple[str, str, bool] | None = None


@dataclass(frozen=True)
class Next:
    """The step is done (its effect observed): go on to ``step``. ``event`` is (reason, message)."""

    step: str
    status: ReleaseStatus | None = None
    event: tuple[str, str] | None = None


@dataclass(frozen=True)
class Fail:
    """The step cannot succeed: record ``error`` and enter the abort path."""

    error: str


Result = Act | Wait | Next | Fail

StepFn = Callable[[ReleaseStatus, AppObs, datetime], Result]


def apply_intent(
    st: ReleaseStatus, intent: Intent, now: datetime, *, abort_step: str, done_step: str
) -> tuple[ReleaseStatus, EmitEvent | None]:
    """Fold an operator intent into the status (pure). An abort is ignored once the
    release reached ``done_step``."""
    who = f" by {intent.by}" if intent.by else ""
    match intent.action:
        case Action.ABORT:
            if st.aborting or st.step == done_step:
                return st, None
            reason = f": {intent.reason}" if intent.reason else ""
            return (
                st.evolve(
                    aborting=True,
                    paused=False,
                    step=abort_step,
                    step_started_at=iso(now),
                    message=f"aborting{who}{reason}",
                ),
                EmitEvent(
                    reason="AbortRequested", message=f"abort requested{who}{reason}", warning=True
                ),
            )
        case Action.PROMOTE | Action.PROMOTE_FULL:
            if st.aborting:
                return st, None
            full = intent.action == Action.PROMOTE_FULL
            return (
                st.evolve(
                    promoted=True, full=st.full or full, paused=False, phase=Phase.PROGRESSING
                ),
                EmitEvent(
                    reason="Promoted", message=f"{'full ' if full else ''}promotion requested{who}"
                ),
            )
        case Action.PAUSE:
            if st.aborting:
                return st, None
            return (
                st.evolve(paused=True, phase=Phase.PAUSED, message=f"paused{who}"),
                EmitEvent(reason="Paused", message=f"release paused{who}"),
            )
        case Action.RESUME:
            return (
                st.evolve(paused=False, phase=Phase.PROGRESSING, message=f"resumed{who}"),
                EmitEvent(reason="Resumed", message=f"release resumed{who}"),
            )


def _fail(
    st: ReleaseStatus, error: str, now: datetime, *, abort_step: str
) -> tuple[ReleaseStatus, EmitEvent]:
    """Leave the forward path: record the error and go to ``abort_step``."""
    return (
        st.evolve(
            aborting=True,
            last_error=error,
            step=abort_step,
            step_started_at=iso(now),
            message=f"failed, rolling back: {error}",
        ),
        EmitEvent(reason="ReleaseFailed", message=error, warning=True),
    )


#: intents that would move a drifted release on: refused until the drift is accepted
_MOVES_ON = (Action.PROMOTE, Action.PROMOTE_FULL, Action.RESUME)


def _drift_first(
    st: ReleaseStatus,
    obs: AppObs,
    now: datetime,
    intent: Intent | None,
    events: list[KubeAction],
    *,
    abort_step: str,
    done_step: str,
) -> tuple[ReleaseStatus, Intent | None, bool]:
    """Accept drift (``promote --accept-drift``), then look for drift on the way forward.
    Returns the status, the intent still to fold in, and whether the release stopped on
    drift (then a promote or resume is refused)."""
    if st.phase.terminal or st.aborting:
        return st, intent, False
    if intent is not None and intent.accept_drift and intent.action != Action.ABORT:
        accepted = drift.accept(st, obs, iso(now), by=intent.by)
        who = f" by {intent.by}" if intent.by else ""
        for d in st.drift or drift.check(st, obs):
            events.append(
                EmitEvent(reason="DriftAccepted", message=f"{d.describe()}; accepted{who}")
            )
        st = accepted
    if intent is not None and intent.action == Action.ABORT:
        return st, intent, False  # the way back is never stopped by drift
    found = drift.check(st, obs)
    if not found:
        if st.drift:
            st = drift.resolved(st, iso(now))
            events.append(
                EmitEvent(reason="DriftResolved", message="the drifted fields were put back")
            )
        return st, intent, False
    if intent is not None and intent.action in _MOVES_ON:
        verb = "promote" if intent.action != Action.RESUME else "resume"
        events.append(
            EmitEvent(
                reason=f"{verb.capitalize()}Refused",
                message=f"{verb} refused: {found[0].describe()}; promote --accept-drift or abort",
                warning=True,
            )
        )
        intent = None
    if intent is not None:  # a pause: taken as usual
        st, ev = apply_intent(st, intent, now, abort_step=abort_step, done_step=done_step)
        if ev is not None:
            events.append(ev)
        intent = None
    st, drifted = drift.record(st, obs, found, iso(now))
    events.extend(EmitEvent(reason=r, message=m, warning=True) for r, m in drifted)
    return st, intent, True


def drive(
    st: ReleaseStatus,
    obs: AppObs,
    now: datetime,
    intent: Intent | None,
    *,
    table: Mapping[str, StepFn],
    abort_step: str,
    done_step: str,
) -> Decision:
    """Run a step machine: fold the intent in, then advance through satisfied steps until
    one acts, waits or fails. Shared by every strategy; ``table`` maps step → function.
    On the way forward a release that drifted stops first (:mod:`kprism.plan.drift`).
    What happened (steps, Events, the intent and its outcome) goes on the timeline."""
    d = _drive(st, obs, now, intent, table=table, abort_step=abort_step, done_step=done_step)
    noted = timeline.note(st, d.status, d.actions, intent, now)
    if noted is d.status:
        return d
    return dataclasses.replace(d, status=noted)


def _drive(
    st: ReleaseStatus,
    obs: AppObs,
    now: datetime,
    intent: Intent | None,
    *,
    table: Mapping[str, StepFn],
    abort_step: str,
    done_step: str,
) -> Decision:
    events: list[KubeAction] = []
    consume = intent is not None
    if intent is not None and (intent.release != st.id or st.phase.terminal):
        intent = None
    st, intent, stopped = _drift_first(
        st, obs, now, intent, events, abort_step=abort_step, done_step=done_step
    )
    if stopped:
        return Decision(status=st, actions=tuple(events), consume_intent=consume)
    if intent is not None:
        st, ev = apply_intent(st, intent, now, abort_step=abort_step, done_step=done_step)
        if ev is not None:
            events.append(ev)
    if st.phase.terminal:
        return Decision(status=st, actions=tuple(events), consume_intent=consume)
    if st.paused and not st.aborting:
        return Decision(
            status=drift.settle(st.evolve(phase=Phase.PAUSED), obs, ()),
            actions=tuple(events),
            consume_intent=consume,
        )
    decision = _steps(st, obs, now, table=table, abort_step=abort_step, events=events)
    decision = Decision(
        status=decision.status,
        actions=decision.actions,
        requeue_after=decision.requeue_after,
        consume_intent=consume,
    )
    if decision.status.aborting or decision.status.phase.terminal:
        return decision
    return Decision(
        status=drift.settle(decision.status, obs, decision.actions),
        actions=decision.actions,
        requeue_after=decision.requeue_after,
        consume_intent=consume,
    )


def _steps(
    st: ReleaseStatus,
    obs: AppObs,
    now: datetime,
    *,
    table: Mapping[str, StepFn],
    abort_step: str,
    events: list[KubeAction],
) -> Decision:
    """Advance through satisfied steps until one acts, waits or fails."""
    consume = False
    for _ in range(len(table) + 3):
        match table[st.step](st, obs, now):
            case Act(actions=actions, status=new):
                st = (new or st).evolve(message="; ".join(a.describe() for a in actions))
                return Decision(
                    status=st,
                    actions=tuple(events) + actions,
                    requeue_after=5.0,
                    consume_intent=consume,
                )
            case Wait(message=message, requeue_after=after, status=new, event=wait_event):
                st = new or st
                if not st.phase.terminal:
                    st = st.evolve(message=message)
                if wait_event is not None:
                    reason, text, warning = wait_event
                    events.append(EmitEvent(reason=reason, message=text, warning=warning))
                return Decision(
                    status=st, actions=tuple(events), requeue_after=after, consume_intent=consume
                )
            case Next(step=step, status=new, event=event):
                st = (new or st).evolve(step=step, step_started_at=iso(now))
                if event is not None:
                    events.append(EmitEvent(reason=event[0], message=event[1]))
            case Fail(error=error):
                if st.aborting:
                    # Already on the way back: record and keep trying to restore stable.
                    return Decision(
                        status=st.evolve(last_error=error, message=error),
                        actions=tuple(events),
                        requeue_after=10.0,
                        consume_intent=consume,
                    )
                st, failed = _fail(st, error, now, abort_step=abort_step)
                events.append(failed)
    raise AssertionError(f"planner did not settle at step {st.step}")  # pragma: no cover
