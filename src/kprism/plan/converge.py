"""The result type of one-shot, level-triggered plans (adopt, split): what to do next."""

from __future__ import annotations

from dataclasses import dataclass

from kprism.model.actions import KubeAction


@dataclass(frozen=True, kw_only=True)
class ConvergeStep:
    """Next move of a one-shot plan: act, wait (with a reason), or done (with a message)."""

    actions: tuple[KubeAction, ...] = ()
    waiting: str = ""
    done: bool = False
    message: str = ""
