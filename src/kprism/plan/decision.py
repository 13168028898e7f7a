"""What the planner returns: the new status to record, then the actions to take."""

from __future__ import annotations

from dataclasses import dataclass

from kprism.model.actions import KubeAction
from kprism.model.release import ReleaseStatus


@dataclass(frozen=True, kw_only=True)
class Decision:
    """The engine writes ``status`` first, then applies ``actions`` in order, then waits
    (at most ``requeue_after`` seconds, or until something changes) and asks again.

    ``consume_intent`` asks the engine to clear the intent annotation in the same
    write as ``status``, so an intent is acted on exactly once.
    """

    status: ReleaseStatus
    actions: tuple[KubeAction, ...] = ()
    requeue_after: float | None = None
    consume_intent: bool = False

    @property
    def done(self) -> bool:
        return self.status.phase.terminal
