"""Whether an operator intent (promote, abort, pause, resume) means anything now (pure).

:mod:`kprism.ops` reads the app's release and asks here before it writes an intent, so
a promote that has nothing to promote fails at once with one line instead of lying on
the Service until the release ends.
"""

from __future__ import annotations

from kprism.errors import UsageError
from kprism.model.release import Action, ReleaseStatus
from kprism.plan import drift
from kprism.plan.strategies import strategy_for

_VERB = {
    Action.PROMOTE: "promote",
    Action.PROMOTE_FULL: "promote",
    Action.ABORT: "abort",
    Action.PAUSE: "pause",
    Action.RESUME: "resume",
}


def check_intent(
    st: ReleaseStatus | None, action: Action, *, app: str, accept_drift: bool = False
) -> ReleaseStatus:
    """The release in progress ``action`` applies to; UsageError (one line saying why)
    when there is none or the intent has nothing to do. A release that drifted takes no
    promote until the drift is accepted (``accept_drift``), which any promote may do."""
    if st is None or st.phase.terminal:
        last = f" (last release {st.id} {st.phase.value.lower()})" if st else ""
        hint = (
            f"; to go back to the previous version use `kprism rollback {app}`"
            if action == Action.ABORT and st
            else ""
        )
        raise UsageError(
            f"nothing to {_VERB[action]}: app {app} has no release in progress{last}{hint}"
        )
    if action in (Action.PROMOTE, Action.PROMOTE_FULL):
        if st.drift and not accept_drift:
            raise UsageError(drift.summary(st, app))
        refusal = strategy_for(st.spec.strategy).promote_refusal(st)
        if refusal is not None and not (accept_drift and st.drift):
            raise UsageError(refusal)
    if action == Action.PAUSE and st.paused:
        raise UsageError(f"release {st.id} is already paused")
    return st


def check_moved_on(st: ReleaseStatus, action: Action, *, app: str, accept_drift: bool) -> None:
    """After the engine took a promote or resume: UsageError (one line naming what drifted)
    when it refused it because the release drifted."""
    if (
        st.drift
        and not accept_drift
        and action
        in (
            Action.PROMOTE,
            Action.PROMOTE_FULL,
            Action.RESUME,
        )
    ):
        raise UsageError(drift.summary(st, app))


def drives_to_end(st: ReleaseStatus, action: Action) -> bool:
    """Whether, with no engine running, ``action`` is carried to the release's end (True)
    or only to its next wait point (False)."""
    return action in strategy_for(st.spec.strategy).drives_to_end


def writes_intent(st: ReleaseStatus, action: Action) -> bool:
    """Resume of a release that is not paused writes nothing: it only drives it."""
    return action != Action.RESUME or st.paused
