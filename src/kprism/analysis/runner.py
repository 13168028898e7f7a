"""Taking the measurements that are due and folding them into the release status.

The engine calls :func:`measure_due` once per cycle, after observing and before asking
the planner: each metric whose next measurement is due (:func:`kprism.plan.analysis.due`)
is measured by its provider, and the result is folded in with the pure
:func:`~kprism.plan.analysis.record` and :func:`~kprism.plan.analysis.settle`. The new
status is what the planner decides on and what the engine records, so a measurement is
in the annotation before anything is done because of it. Measurements in progress of a
run that ended are stopped here too (:func:`kprism.plan.analysis.to_stop`).

A provider that raises is a bug in it, not a verdict: the exception becomes an Error
measurement (so the ``consecutiveErrorLimit`` still bounds it) and never stops the engine.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import datetime

from kprism.analysis import provider_for
from kprism.analysis.base import MeasureContext
from kprism.errors import KprismError
from kprism.kube.api import KubeApi
from kprism.model.analysis import AnalysisRun, Measurement, MeasurementPhase
from kprism.model.observed import AppObs
from kprism.model.release import ReleaseStatus
from kprism.plan import analysis as an
from kprism.plan.machine import iso

#: the run whose ``{{service}}`` is the preview Service (blue-green, before the switch)
PREVIEW_RUNS = frozenset(("pre-promotion",))


def context(
    kube: KubeApi, st: ReleaseStatus, obs: AppObs, run: AnalysisRun, metric: str, now: datetime
) -> MeasureContext:
    r = run.result(metric)
    service = obs.service.name
    if run.name in PREVIEW_RUNS and st.spec.preview:
        service = f"{obs.service.name}-preview"
    return MeasureContext(
        kube=kube,
        namespace=obs.namespace,
        app=obs.service.name,
        release=st.id,
        track=st.candidate,
        stable=st.stable,
        service=service,
        track_label=obs.track_label,
        app_selector=obs.app_selector,
        run=run.name,
        metric=run.spec(metric),
        now=now,
        measured=r.count + r.error,
        pending=r.pending,
    )


def _measure(ctx: MeasureContext) -> Measurement:
    try:
        return provider_for(ctx.metric.provider_name).measure(ctx)
    except KprismError as exc:
        return ctx.error(str(exc))
    except Exception as exc:  # a provider bug: an Error measurement, never a crash
        return ctx.error(f"the {ctx.metric.provider_name} provider failed: {exc!r}")


def measure_due(
    kube: KubeApi,
    st: ReleaseStatus,
    obs: AppObs,
    now: datetime,
    *,
    clock: Callable[[], datetime] | None = None,
    before_each: Callable[[], None] | None = None,
) -> ReleaseStatus:
    """``st`` with every due measurement taken and folded in, and measurements in
    progress of ended runs stopped. ``clock`` stamps each measurement's end (a slow
    provider's time is its own); without it, ``now``. ``before_each`` runs before each
    measurement (the engine renews the app's Lease there: a provider may take up to its
    timeout, at most :data:`kprism.analysis.base.MAX_TIMEOUT` seconds)."""
    for run_name, metric in an.to_stop(st):
        run = an.find_run(st, run_name)
        assert run is not None
        ctx = context(kube, st, obs, run, metric, now)
        # best effort: what the provider made expires on its own (a Job's TTL)
        with contextlib.suppress(Exception):
            provider_for(ctx.metric.provider_name).stop(ctx)
        st = an.stopped(st, run_name, metric)
    for run_name, metric in an.due(st, now):
        run = an.find_run(st, run_name)
        assert run is not None
        if run.phase.done:
            continue  # an earlier metric of this cycle ended the run
        if before_each is not None:
            before_each()
        ctx = context(kube, st, obs, run, metric, now)
        m = _measure(ctx)
        end = clock() if clock is not None else now
        started = m.started_at or iso(now)
        if m.phase is MeasurementPhase.RUNNING:
            m = Measurement(
                phase=m.phase,
                value=m.value,
                message=m.message,
                started_at=started if ctx.pending is None else "",
                finished_at=iso(end),
                state=m.state,
            )
        else:
            m = Measurement(
                phase=m.phase,
                value=m.value,
                message=m.message,
                started_at=ctx.pending.started_at if ctx.pending else started,
                finished_at=iso(end),
            )
        st = an.with_run(st, an.settle(an.record(run, metric, m, end), end))
    return st
