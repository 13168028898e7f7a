"""Analysis as pure functions: what a measurement means, what a run's verdict is, when
the next measurement is due, and the gates the step machines put in a release's way.

A *run* (:class:`~kprism.model.analysis.AnalysisRun`) is one analysis of a release: a
canary step's gate (``step-3``), the canary's ``background`` run, a blue-green release's
``pre-promotion`` or ``post-promotion`` run. It carries its resolved metrics (template
arguments and ``{{app}}``-style variables filled in) and, per metric, the counters and the
last measurements (:class:`~kprism.model.analysis.MetricRun`). Everything lives in the
release status, so a crashed engine resumes a run where it was.

Who does what:

- the step machines (:mod:`kprism.plan.canary`, :mod:`kprism.plan.bluegreen`) start a run
  (:func:`gate`, :func:`background`) by recording it in the status, and read its verdict;
- the engine asks :func:`due` which metrics to measure now, has the providers
  (:mod:`kprism.analysis`) measure them, and folds each measurement in with
  :func:`record` then :func:`settle`, before the planner decides;
- the verdict rules follow Argo Rollouts: a metric *fails* when more than
  ``failureLimit`` measurements failed, is *inconclusive* past ``inconclusiveLimit``,
  *errors* past ``consecutiveErrorLimit`` consecutive errors (errors do not count
  towards ``count``), and *succeeds* after ``count`` measurements (or
  ``consecutiveSuccessLimit`` successes in a row). A run fails as soon as one metric
  fails; ``dryRun`` metrics are measured and shown but never decide.

Verdicts: Successful → the release goes on; Failed (or Error with ``onError: abort``)
→ the release aborts (canary) or rolls back (blue-green); Inconclusive (or Error with
``onError: pause``) → the release pauses for a human: ``kprism resume`` measures again,
``kprism promote`` skips the gate, ``kprism abort`` rolls back.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from kprism.errors import InvalidSpecError
from kprism.model.analysis import (
    KEEP_MEASUREMENTS,
    PLACEHOLDER,
    AnalysisRef,
    AnalysisRun,
    AnalysisTemplate,
    Measurement,
    MeasurementPhase,
    Metric,
    MetricRun,
    RunPhase,
)
from kprism.model.durations import format_duration
from kprism.model.expr import Condition, EvalError, ExprError
from kprism.model.release import Phase, ReleaseStatus
from kprism.plan.machine import Fail, Result, Wait, iso, parse_iso

#: how often a measurement in progress (a Job) is looked at again, at most
POLL = 5.0
#: the implicit guard every run gets: candidate pods crash-looping, restarting, evicted
PODS_GUARD_INTERVAL = 10
VARIABLES = ("app", "namespace", "release", "track", "stable", "service")


# -- one measurement ------------------------------------------------------------------------


def show_value(value: Any) -> str:
    """A measured value as short text for the status (JSON, NaN spelled ``NaN``)."""
    try:
        return json.dumps(_finite(value), separators=(",", ":"), sort_keys=True)
    except (TypeError, ValueError):
        return repr(value)


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("+Inf" if value > 0 else "-Inf")
    if isinstance(value, float):
        return float(f"{value:.6g}")  # for people: 0.34965 of 0.34965034965034963
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _finite(v) for k, v in value.items()}
    return value


def assess(metric: Metric, value: Any, *, now: datetime, message: str = "") -> Measurement:
    """What ``value`` (the provider's result) means under the metric's conditions.

    Both conditions: failure wins, then success, otherwise Inconclusive. Only a success
    condition: false is Failed. Only a failure condition: false is Successful. Neither:
    Successful (the provider already judged, e.g. an HTTP status code). A condition that
    cannot be evaluated on the value is an Error, never a pass.
    """
    shown = show_value(value)
    detail = f"{message}: " if message else ""
    try:
        failed = (
            Condition.parse(metric.failure_condition).evaluate(value)
            if metric.failure_condition.strip()
            else None
        )
        passed = (
            Condition.parse(metric.success_condition).evaluate(value)
            if metric.success_condition.strip()
            else None
        )
    except EvalError as exc:
        return Measurement(
            phase=MeasurementPhase.ERROR,
            value=shown,
            message=f"{detail}cannot evaluate the condition on {shown}: {exc}",
            finished_at=iso(now),
        ).clipped()
    if failed:
        phase, why = MeasurementPhase.FAILED, f"failureCondition `{metric.failure_condition}` met"
    elif passed:
        phase, why = MeasurementPhase.SUCCESSFUL, f"`{metric.success_condition}`"
    elif passed is False and failed is False:
        phase, why = (
            MeasurementPhase.INCONCLUSIVE,
            f"neither `{metric.success_condition}` nor `{metric.failure_condition}`",
        )
    elif passed is False:
        phase, why = MeasurementPhase.FAILED, f"`{metric.success_condition}` is false"
    elif failed is False:
        phase, why = MeasurementPhase.SUCCESSFUL, f"`{metric.failure_condition}` is false"
    else:
        phase, why = MeasurementPhase.SUCCESSFUL, "no condition"
    return Measurement(
        phase=phase, value=shown, message=f"{detail}{why} for {shown}", finished_at=iso(now)
    ).clipped()


# -- counters and verdicts --------------------------------------------------------------------


def record(run: AnalysisRun, metric: str, m: Measurement, now: datetime) -> AnalysisRun:
    """Fold one measurement into the run (counters, the kept measurements; a Running one
    is kept as the metric's measurement in progress). Pure; call :func:`settle` after.
    A measurement that arrives after its metric or run ended is dropped."""
    if run.phase.done:
        return run
    results = []
    for r in run.results:
        if r.name != metric or r.phase.done:
            results.append(r)
            continue
        if m.phase is MeasurementPhase.RUNNING:
            started = r.pending.started_at if r.pending else ""
            results.append(
                replace(r, pending=replace(m, started_at=m.started_at or started or iso(now)))
            )
            continue
        done = replace(
            m,
            started_at=m.started_at or (r.pending.started_at if r.pending else "") or iso(now),
            finished_at=m.finished_at or iso(now),
            state={},
        ).clipped()
        error = m.phase is MeasurementPhase.ERROR
        results.append(
            replace(
                r,
                count=r.count + (0 if error else 1),
                successful=r.successful + (m.phase is MeasurementPhase.SUCCESSFUL),
                failed=r.failed + (m.phase is MeasurementPhase.FAILED),
                inconclusive=r.inconclusive + (m.phase is MeasurementPhase.INCONCLUSIVE),
                error=r.error + error,
                consecutive_error=r.consecutive_error + 1 if error else 0,
                consecutive_success=(
                    r.consecutive_success + 1 if m.phase is MeasurementPhase.SUCCESSFUL else 0
                ),
                measurements=(*r.measurements, done)[-KEEP_MEASUREMENTS:],
                pending=None,
            )
        )
    return replace(run, results=tuple(results))


def metric_phase(metric: Metric, r: MetricRun) -> RunPhase:
    """The metric's phase from its counters (Argo's rules)."""
    if r.phase is RunPhase.TERMINATED:
        return r.phase
    if r.failed > metric.failure_limit:
        return RunPhase.FAILED
    if r.consecutive_error > metric.consecutive_error_limit:
        return RunPhase.ERROR
    if r.inconclusive > metric.inconclusive_limit:
        return RunPhase.INCONCLUSIVE
    if metric.consecutive_success_limit and r.consecutive_success >= (
        metric.consecutive_success_limit
    ):
        return RunPhase.SUCCESSFUL
    if metric.limit is not None and r.count >= metric.limit:
        return RunPhase.INCONCLUSIVE if metric.consecutive_success_limit else RunPhase.SUCCESSFUL
    return RunPhase.RUNNING


def _why(metric: Metric, r: MetricRun, phase: RunPhase) -> str:
    last = r.measurements[-1].message if r.measurements else ""
    tail = f"; last: {last}" if last else ""
    match phase:
        case RunPhase.FAILED:
            return (
                f"{r.failed} of {r.count} measurements failed "
                f"(failureLimit {metric.failure_limit}){tail}"
            )
        case RunPhase.ERROR:
            return (
                f"{r.consecutive_error} errors in a row "
                f"(consecutiveErrorLimit {metric.consecutive_error_limit}){tail}"
            )
        case RunPhase.INCONCLUSIVE if metric.consecutive_success_limit and (
            r.inconclusive <= metric.inconclusive_limit
        ):
            return (
                f"{metric.consecutive_success_limit} successes in a row not reached in "
                f"{r.count} measurements{tail}"
            )
        case RunPhase.INCONCLUSIVE:
            return (
                f"{r.inconclusive} of {r.count} measurements inconclusive "
                f"(inconclusiveLimit {metric.inconclusive_limit}){tail}"
            )
        case RunPhase.SUCCESSFUL:
            return f"{r.successful} of {r.count} measurements successful{tail}"
        case _:
            return f"{r.count} measured{tail}"


def settle(run: AnalysisRun, now: datetime) -> AnalysisRun:
    """Each metric's phase and the run's verdict from the counters (idempotent).

    A run fails as soon as a deciding metric fails (or errors with ``onError: abort``); it
    is inconclusive when one is (or errors with ``onError: pause``); it succeeds when
    every metric that is neither a guard nor dry-run succeeded (dry-run metrics: ended).
    Metrics still running when the run ends are terminated.
    """
    if run.phase.done:
        return run
    results: list[MetricRun] = []
    failed: list[str] = []
    inconclusive: list[str] = []
    for r in run.results:
        metric = run.spec(r.name)
        phase = metric_phase(metric, r)
        message = _why(metric, r, phase)
        results.append(replace(r, phase=phase, message=message))
        if metric.dry_run:
            continue
        if phase is RunPhase.FAILED or (phase is RunPhase.ERROR and metric.on_error == "abort"):
            failed.append(f"{r.name}: {phase.value.lower()}, {message}")
        elif phase in (RunPhase.INCONCLUSIVE, RunPhase.ERROR):
            inconclusive.append(f"{r.name}: {phase.value.lower()}, {message}")
    deciding = [(run.spec(r.name), r) for r in results if not run.spec(r.name).guard]
    ended = all(r.phase.done if m.dry_run else r.phase is RunPhase.SUCCESSFUL for m, r in deciding)
    if failed:
        verdict, message = RunPhase.FAILED, "; ".join(failed)
    elif inconclusive:
        verdict, message = RunPhase.INCONCLUSIVE, "; ".join(inconclusive)
    elif deciding and ended:
        verdict = RunPhase.SUCCESSFUL
        message = "; ".join(f"{r.name}: {r.message}" for m, r in deciding if not m.dry_run)
    else:
        going = replace(run, results=tuple(results))
        return replace(going, message=summary(going))
    results = [
        replace(r, phase=RunPhase.TERMINATED) if r.phase is RunPhase.RUNNING else r for r in results
    ]
    return replace(
        run, phase=verdict, results=tuple(results), finished_at=iso(now), message=message
    )


def summary(run: AnalysisRun) -> str:
    """One line: each metric's measurements so far."""
    parts = []
    for r in run.results:
        marks = "".join(_MARK[m.phase] for m in r.measurements[-6:])
        parts.append(f"{r.name} {marks or '-'}{' …' if r.pending else ''}")
    return ", ".join(parts)


_MARK = {
    MeasurementPhase.SUCCESSFUL: "✔",
    MeasurementPhase.FAILED: "✖",
    MeasurementPhase.INCONCLUSIVE: "?",
    MeasurementPhase.ERROR: "!",
    MeasurementPhase.RUNNING: "…",
}


def terminate(run: AnalysisRun, now: datetime, why: str) -> AnalysisRun:
    """Stop a run that is still running (the release moved on, finished or aborts)."""
    if run.phase.done:
        return run
    return replace(
        run,
        phase=RunPhase.TERMINATED,
        finished_at=iso(now),
        message=why,
        results=tuple(
            replace(r, phase=RunPhase.TERMINATED) if not r.phase.done else r for r in run.results
        ),
    )


# -- when to measure --------------------------------------------------------------------------


def due_at(run: AnalysisRun, metric: str) -> datetime | None:
    """When the metric is to be measured next (None: never again)."""
    r = run.result(metric)
    if run.phase.done or r.phase.done:
        return None
    spec = run.spec(metric)
    if r.pending is not None:
        started = parse_iso(r.pending.started_at)
        polled = parse_iso(r.pending.finished_at) or started
        assert polled is not None
        return polled + timedelta(seconds=min(POLL, spec.interval or POLL))
    last = r.measurements[-1] if r.measurements else None
    if last is None:
        start = parse_iso(run.started_at)
        assert start is not None
        return start + timedelta(seconds=spec.initial_delay or 0)
    finished = parse_iso(last.finished_at)
    assert finished is not None
    if spec.interval is None:
        # measured once, ended in error: try again soon (errors do not count)
        return finished + timedelta(seconds=POLL)
    return finished + timedelta(seconds=spec.interval)


def due(st: ReleaseStatus, now: datetime) -> list[tuple[str, str]]:
    """(run, metric) pairs to measure now, in order."""
    out = []
    for run in st.analysis:
        for r in run.results:
            at = due_at(run, r.name)
            if at is not None and at <= now:
                out.append((run.name, r.name))
    return out


def next_due_in(st: ReleaseStatus, now: datetime) -> float | None:
    """Seconds until the next measurement of any running run (None: none is due)."""
    times = [
        at for run in st.analysis for r in run.results if (at := due_at(run, r.name)) is not None
    ]
    if not times:
        return None
    return max(0.0, (min(times) - now).total_seconds())


def to_stop(st: ReleaseStatus) -> list[tuple[str, str]]:
    """(run, metric) pairs with a measurement in progress in a run that ended: the
    provider is told to stop it (delete a Job), then :func:`stopped` forgets it."""
    return [
        (run.name, r.name)
        for run in st.analysis
        if run.phase.done
        for r in run.results
        if r.pending
    ]


def stopped(st: ReleaseStatus, run_name: str, metric: str) -> ReleaseStatus:
    """``st`` without the measurement in progress of ``metric`` in run ``run_name``."""
    run = find_run(st, run_name)
    if run is None:
        return st
    results = tuple(replace(r, pending=None) if r.name == metric else r for r in run.results)
    return with_run(st, replace(run, results=results))


# -- runs in the status -----------------------------------------------------------------------


def find_run(st: ReleaseStatus, name: str) -> AnalysisRun | None:
    return next((r for r in st.analysis if r.name == name), None)


def with_run(st: ReleaseStatus, run: AnalysisRun) -> ReleaseStatus:
    """``st`` with ``run`` replacing the run of the same name (or added)."""
    runs = [r for r in st.analysis if r.name != run.name]
    index = next((i for i, r in enumerate(st.analysis) if r.name == run.name), len(runs))
    runs.insert(index, run)
    return st.evolve(analysis=tuple(runs))


def new_run(name: str, metrics: Sequence[Metric], now: datetime) -> AnalysisRun:
    return AnalysisRun(
        name=name,
        started_at=iso(now),
        metrics=tuple(metrics),
        results=tuple(MetricRun(name=m.name) for m in metrics),
    )


def stop_runs(st: ReleaseStatus, now: datetime, *, why: str) -> ReleaseStatus:
    """Every run still running terminated (the release is done with analysis)."""
    if not any(not r.phase.done for r in st.analysis):
        return st
    return st.evolve(analysis=tuple(terminate(r, now, why) for r in st.analysis))


# -- resolving templates ----------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Variables:
    """What ``{{app}}``, ``{{track}}`` … stand for in a run's provider settings."""

    app: str
    namespace: str
    release: str
    track: str
    stable: str
    service: str

    def get(self, name: str) -> str:
        return str(getattr(self, name))


def variables(st: ReleaseStatus, *, app: str, namespace: str, service: str = "") -> Variables:
    return Variables(
        app=app,
        namespace=namespace,
        release=st.id,
        track=st.candidate,
        stable=st.stable,
        service=service or app,
    )


def _fill(value: Any, lookup: Callable[[str], str | None], where: str, problems: list[str]) -> Any:
    if isinstance(value, str):

        def one(m: re.Match[str]) -> str:
            got = lookup(m.group(1))
            if got is None:
                problems.append(f"{where}: unknown placeholder {m.group(0)}")
                return m.group(0)
            return got

        return PLACEHOLDER.sub(one, value)
    if isinstance(value, Mapping):
        return {k: _fill(v, lookup, f"{where}.{k}", problems) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_fill(v, lookup, f"{where}[{i}]", problems) for i, v in enumerate(value)]
    return value


def resolve(
    ref: AnalysisRef,
    templates: Iterable[AnalysisTemplate],
    *,
    where: str,
    values: Variables | None = None,
    gate: bool,
) -> tuple[Metric, ...]:
    """The metrics ``ref`` asks for, arguments filled in (and ``{{app}}``-style variables
    when ``values`` is given), plus the ``pods`` guard. :class:`InvalidSpecError` naming
    every problem: an unknown template, a missing or unknown argument, an unknown
    placeholder, a metric that never ends in a blocking gate (``gate``)."""
    by_name = {t.name: t for t in templates}
    problems: list[str] = []
    metrics: list[Metric] = []
    given = {a.name: a.value for a in ref.args}
    used: set[str] = set()
    for i, tref in enumerate(ref.templates):
        tmpl = by_name.get(tref.template_name)
        if tmpl is None:
            known = ", ".join(sorted(by_name)) or "none are defined"
            problems.append(
                f"{where}.templates[{i}]: unknown analysis template {tref.template_name!r} "
                f"(known: {known}): define it in the spec, or share it as a ConfigMap "
                f"{tref.template_name} labelled kprism.dev/analysis-template=true"
            )
            continue
        args: dict[str, str] = {}
        for arg in tmpl.args:
            if arg.name in given:
                args[arg.name] = given[arg.name]
                used.add(arg.name)
            elif arg.value is not None:
                args[arg.name] = arg.value
            else:
                problems.append(
                    f"{where}: template {tmpl.name!r} needs argument {arg.name!r}: "
                    f"add args: [{{name: {arg.name}, value: ...}}]"
                )

        def lookup(name: str, args: Mapping[str, str] = args) -> str | None:
            if name.startswith("args."):
                return args.get(name.removeprefix("args."))
            if name in VARIABLES:
                return values.get(name) if values is not None else "{{" + name + "}}"
            return None

        for j, metric in enumerate(tmpl.metrics):
            at = f"template {tmpl.name!r} metrics[{j}] ({metric.name})"
            provider = _fill(metric.provider, lookup, f"{at}.provider", problems)
            if any(m.name == metric.name for m in metrics):
                problems.append(f"{where}: two templates define metric {metric.name!r}")
            if gate and metric.limit is None and not metric.guard:
                problems.append(
                    f"{at}: has an interval but no count, so it never ends and this gate "
                    "would never pass: give it a count (unlimited metrics belong in the "
                    "canary's background analysis)"
                )
            conditions = {}
            for key, text in (
                ("success_condition", metric.success_condition),
                ("failure_condition", metric.failure_condition),
            ):
                filled = _fill(text, lookup, f"{at}.{key}", problems)
                if filled != text:
                    try:
                        Condition.parse(filled)
                    except ExprError as exc:
                        problems.append(f"{at}: condition {filled!r} does not parse: {exc}")
                conditions[key] = filled
            metrics.append(metric.model_copy(update={"provider": provider, **conditions}))
    for name in sorted(set(given) - used):
        problems.append(f"{where}.args: no template takes argument {name!r}")
    if problems:
        raise InvalidSpecError("; ".join(problems))
    if not any(m.provider_name == "pods" for m in metrics):
        name = "pods" if all(m.name != "pods" for m in metrics) else "kprism-pods"
        metrics.append(
            Metric.model_validate(
                {
                    "name": name,
                    "interval": PODS_GUARD_INTERVAL,
                    "guard": True,
                    "provider": {"pods": {}},
                }
            )
        )
    return tuple(metrics)


def describe_metric(metric: Metric) -> str:
    """One line for ``kprism plan``: provider, what it asks, how often, what passes."""
    cfg = metric.provider_config
    what = next(
        (f" {k}={' '.join(str(cfg[k]).split())!r}" for k in ("query", "url") if k in cfg), ""
    )
    if metric.limit is None:
        often = f"every {format_duration(metric.interval or 0)} until the end"
    elif metric.limit == 1:
        often = "once"
    else:
        often = f"{metric.limit}× every {format_duration(metric.interval or 0)}"
    if metric.initial_delay:
        often += f" after {format_duration(metric.initial_delay)}"
    conds = []
    if metric.success_condition:
        conds.append(f"pass when `{metric.success_condition}`")
    if metric.failure_condition:
        conds.append(f"fail when `{metric.failure_condition}`")
    limits = f"failureLimit {metric.failure_limit}"
    flags = "".join(
        f", {f}" for f, on in (("dry run", metric.dry_run), ("guard", metric.guard)) if on
    )
    return (
        f"{metric.name}: {metric.provider_name}{what} {often}"
        f"{', ' + ', '.join(conds) if conds else ''} ({limits}{flags})"
    )


# -- gates for the step machines ---------------------------------------------------------------


def gate(
    st: ReleaseStatus,
    now: datetime,
    *,
    name: str,
    metrics: Callable[[], tuple[Metric, ...]],
    what: str,
    promote_skips: bool = True,
) -> Result | None:
    """A blocking analysis gate named ``name`` (``what`` describes it for people;
    ``promote_skips``: a promotion goes on without an inconclusive run here).

    None once the run succeeded (the caller goes on). Otherwise starts the run
    (``metrics`` resolves it), waits for the next measurement, pauses the release for a
    human when the run is inconclusive (a resume runs it again), or fails the release
    with the run's reason.
    """
    run = find_run(st, name)
    if run is not None and run.held and not st.paused and run.phase is RunPhase.INCONCLUSIVE:
        run = None  # resumed after an inconclusive run: measure again
    if run is None:
        try:
            resolved = metrics()
        except InvalidSpecError as exc:
            return Fail(f"{what}: {exc}")
        started = new_run(name, resolved, now)
        return Wait(
            f"{what}: analysis started ({', '.join(m.name for m in resolved)})",
            0.0,
            status=with_run(st, started),
            event=(
                "AnalysisStarted",
                f"{what}: {'; '.join(describe_metric(m) for m in resolved)}",
                False,
            ),
        )
    match run.phase:
        case RunPhase.SUCCESSFUL:
            return None
        case RunPhase.FAILED | RunPhase.ERROR:
            return Fail(f"{what}: analysis failed: {run.message}")
        case RunPhase.INCONCLUSIVE:
            if run.held:
                return Wait(f"{what}: analysis inconclusive, paused", None)
            skip = ", `kprism promote` goes on without it" if promote_skips else ""
            message = (
                f"{what}: analysis inconclusive ({run.message}): `kprism resume` measures "
                f"again{skip}, `kprism abort` rolls back"
            )
            return Wait(
                message,
                None,
                status=with_run(st, replace(run, held=True)).evolve(
                    paused=True, phase=Phase.PAUSED
                ),
                event=("AnalysisInconclusive", message, True),
            )
        case RunPhase.TERMINATED:
            return None
        case _:
            after = next_due_in(st, now)
            return Wait(f"{what}: analysis running: {summary(run)}", after)


def background(
    st: ReleaseStatus,
    now: datetime,
    *,
    name: str,
    metrics: Callable[[], tuple[Metric, ...]],
    what: str,
) -> Result | None:
    """A run beside the steps: started here, never blocks; fails or pauses the release
    like :func:`gate`. None while it runs (or once it ended well)."""
    run = find_run(st, name)
    if run is not None and run.phase is RunPhase.RUNNING:
        return None
    return gate(st, now, name=name, metrics=metrics, what=what)


def skip(st: ReleaseStatus, name: str, now: datetime, *, why: str) -> ReleaseStatus:
    """The run ``name`` terminated (a promotion went on without it)."""
    run = find_run(st, name)
    if run is None:
        return st
    if run.phase is RunPhase.INCONCLUSIVE:
        run = replace(run, phase=RunPhase.RUNNING)  # ended by the operator, not by itself
    return with_run(st, replace(terminate(run, now, why), held=False))


def held(st: ReleaseStatus, name: str) -> bool:
    """The run ``name`` paused the release (inconclusive) and still holds it."""
    run = find_run(st, name)
    return run is not None and run.held and run.phase is RunPhase.INCONCLUSIVE


def describe_run(
    st: ReleaseStatus,
    ref: AnalysisRef,
    templates: Iterable[AnalysisTemplate],
    *,
    app: str,
    namespace: str,
    service: str = "",
    where: str,
    gate: bool,
) -> str:
    """Every metric of a run as ``kprism plan`` shows it: arguments and variables filled in."""
    values = variables(st, app=app, namespace=namespace, service=service)
    try:
        metrics = resolve(ref, templates, where=where, values=values, gate=gate)
    except InvalidSpecError as exc:
        return f"cannot be resolved: {exc}"
    return "; ".join(describe_metric(m) for m in metrics)
