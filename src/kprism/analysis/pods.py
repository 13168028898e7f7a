"""``pods``: the candidate's own pods, always on.

Every analysis run gets this metric as a *guard* (it never ends a run, it only fails it;
:func:`kprism.plan.analysis.resolve` adds it), so a candidate that crash-loops, keeps
restarting, is evicted or never becomes ready fails its gate even when the other
metrics have nothing to say yet. A template may list it itself to change the limits::

    provider:
      pods:
        maxRestarts: 3        # more restarts of the candidate's containers fail (default 3)
        readyDeadline: 10m    # a pod not ready for longer fails (default 10m)

Failed when a container of a candidate pod waits in ``CrashLoopBackOff`` (or
``ImagePullBackOff``/``ErrImagePull``/``CreateContainerConfigError``), when the restarts
add up to more than ``maxRestarts``, when a pod was evicted, or when a pod has not been
ready for longer than ``readyDeadline``. One request per measurement (the candidate's
pods, by label), through the adapter.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from kprism.analysis.base import MeasureContext, ProviderBase, Settings
from kprism.errors import KprismError
from kprism.model.analysis import Measurement, MeasurementPhase
from kprism.model.durations import Duration
from kprism.plan.machine import parse_iso

BAD_WAITING = frozenset(
    (
        "CrashLoopBackOff",
        "ImagePullBackOff",
        "ErrImagePull",
        "CreateContainerConfigError",
        "InvalidImageName",
        "RunContainerError",
    )
)


class PodsSettings(Settings):
    max_restarts: int = Field(default=3, ge=0, alias="maxRestarts", strict=True)
    ready_deadline: Duration = Field(default=600, alias="readyDeadline")


class PodsProvider(ProviderBase[PodsSettings]):
    name = "pods"
    settings_model = PodsSettings

    def measure(self, ctx: MeasureContext) -> Measurement:
        settings = self.settings(ctx.config)
        try:
            pods = ctx.kube.list_objects("Pod", ctx.namespace, ctx.candidate_selector)
        except KprismError as exc:
            return ctx.error(f"cannot list the {ctx.track} pods: {exc}")
        return judge_pods(ctx, pods, settings)


def judge_pods(
    ctx: MeasureContext, pods: list[dict[str, Any]], settings: PodsSettings
) -> Measurement:
    """The candidate's pods → the measurement (pure apart from ``ctx.now``)."""
    problems: list[str] = []
    restarts = 0
    ready = 0
    live = [p for p in pods if not (p.get("metadata") or {}).get("deletionTimestamp")]
    for pod in pods:
        meta = pod.get("metadata") or {}
        status = pod.get("status") or {}
        name = meta.get("name", "?")
        if status.get("reason") == "Evicted":
            problems.append(f"{name} was evicted: {status.get('message', '')}".rstrip(": "))
            continue
        for c in status.get("containerStatuses") or []:
            restarts += int(c.get("restartCount") or 0)
            waiting = (c.get("state") or {}).get("waiting") or {}
            if waiting.get("reason") in BAD_WAITING:
                problems.append(
                    f"{name}: container {c.get('name', '?')} is in {waiting['reason']}"
                    + (f" ({waiting['message']})" if waiting.get("message") else "")
                )
        if pod in live:
            is_ready, since = _ready(status, meta)
            ready += is_ready
            if not is_ready and since is not None:
                waited = (ctx.now - since).total_seconds()
                if settings.ready_deadline and waited > settings.ready_deadline:
                    problems.append(f"{name} not ready for {waited:.0f}s")
    if restarts > settings.max_restarts:
        problems.append(f"{restarts} container restarts (maxRestarts {settings.max_restarts})")
    value = f'{{"pods":{len(live)},"ready":{ready},"restarts":{restarts}}}'
    if problems:
        return ctx.measurement(MeasurementPhase.FAILED, "; ".join(problems), value=value)
    return ctx.measurement(
        MeasurementPhase.SUCCESSFUL,
        f"{ready}/{len(live)} {ctx.track} pods ready, {restarts} restarts",
        value=value,
    )


def _ready(status: dict[str, Any], meta: dict[str, Any]) -> tuple[bool, datetime | None]:
    """(ready, since when it has been not ready)."""
    for cond in status.get("conditions") or []:
        if cond.get("type") == "Ready":
            if cond.get("status") == "True":
                return True, None
            return False, parse_iso(str(cond.get("lastTransitionTime") or "")) or parse_iso(
                str(meta.get("creationTimestamp") or "")
            )
    return False, parse_iso(str(meta.get("creationTimestamp") or ""))
