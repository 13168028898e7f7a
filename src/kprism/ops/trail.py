"""The app's audit trail: who did what, from where, why, when, and what came of it.

Releases, rollbacks, splits, scales and clones are history entries; promote, abort,
pause and resume are marks on their release's timeline, with the outcome the engine
recorded. :mod:`kprism.plan.timeline` flattens and filters them (pure).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kprism.kube.api import KubeApi
from kprism.ops.apps import App, history
from kprism.plan import timeline


def audit(
    kube: KubeApi,
    app: App,
    *,
    actor: str | None = None,
    kind: str | None = None,
    outcome: str | None = None,
) -> list[dict[str, str]]:
    """The app's audit trail, newest first: every release, rollback, split, scale and
    clone, and every promote/abort/pause/resume with who sent it, from which shell, why,
    when and what came of it; filtered by ``actor`` (part of the name), ``kind``
    (comma-separated) and ``outcome`` (its start: ``applied``, ``refused``, ``Failed``)."""
    rows = timeline.audit(history(kube, app))
    return [r.to_dict() for r in timeline.select(rows, actor=actor, kind=kind, outcome=outcome)]


def weight_points(release: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The candidate's traffic share over a release (a status or a history entry in JSON
    form): ``[{"at", "weight"}]`` for the dashboard's plot."""
    strategy = release.get("strategy") or (release.get("spec") or {}).get("strategy", "")
    points = timeline.weights(
        str(strategy),
        [m for m in release.get("timeline") or [] if isinstance(m, Mapping)],
        started_at=str(release.get("started_at", "")),
        finished_at=str(release.get("finished_at", "")),
        phase=str(release.get("phase", "")),
    )
    return [{"at": p.at, "weight": p.weight} for p in points]
