"""The analysis part of ``kprism status``: each run, each metric, its measurements so far
against its condition, and why a run passed or failed."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kprism.model.analysis import AnalysisRun, MeasurementPhase, Metric, MetricRun

if TYPE_CHECKING:
    from rich.console import RenderableType

    from kprism.model.release import ReleaseStatus

MARKS = {
    MeasurementPhase.SUCCESSFUL: "✔",
    MeasurementPhase.FAILED: "✖",
    MeasurementPhase.INCONCLUSIVE: "?",
    MeasurementPhase.ERROR: "!",
    MeasurementPhase.RUNNING: "…",
}
SHOWN = 8  # the last measurements shown per metric


def _condition(metric: Metric) -> str:
    parts = []
    if metric.success_condition:
        parts.append(f"pass: {metric.success_condition}")
    if metric.failure_condition:
        parts.append(f"fail: {metric.failure_condition}")
    if metric.guard:
        parts.append("guard")
    if metric.dry_run:
        parts.append("dry run")
    return "; ".join(parts) or "-"


def _measured(metric: Metric, r: MetricRun) -> str:
    marks = "".join(MARKS[m.phase] for m in r.measurements[-SHOWN:])
    if r.pending is not None:
        marks += MARKS[MeasurementPhase.RUNNING]
    of = f"/{metric.limit}" if metric.limit is not None else ""
    return f"{marks or '-'} {r.count}{of}"


def rows(st: ReleaseStatus) -> list[list[str]]:
    """RUN, METRIC, PHASE, MEASURED, LAST VALUE, CONDITION — one row per metric."""
    out: list[list[str]] = []
    for run in st.analysis:
        for r in run.results:
            metric = run.spec(r.name)
            last = r.measurements[-1].value if r.measurements else ""
            out.append(
                [run.name, r.name, r.phase.value, _measured(metric, r), last, _condition(metric)]
            )
    return out


def verdicts(st: ReleaseStatus) -> list[str]:
    """One line per run that ended: why it passed, failed or stopped."""
    return [f"{run.name}: {run.phase.value} — {run.message}" for run in _ended(st.analysis)]


def _ended(runs: tuple[AnalysisRun, ...]) -> list[AnalysisRun]:
    return [r for r in runs if r.phase.done and r.message]


def analysis_view(st: ReleaseStatus) -> list[RenderableType]:
    from rich.text import Text

    from kprism.cli import render

    if not st.analysis:
        return []
    table = render.make_table(
        ["RUN", "METRIC", "PHASE", "MEASURED", "LAST VALUE", "CONDITION"], rows(st)
    )
    return [Text("analysis:"), table, *(Text(f"  {line}") for line in verdicts(st))]


_VERDICT = {
    "Successful": "✔",
    "Failed": "✖",
    "Error": "✖",
    "Inconclusive": "?",
    "Terminated": "-",
    "Running": "…",
}


def history_summary(entry: dict[str, object]) -> str:
    """A history entry's analysis in a few characters: ``step-2 ✔, background ✖``."""
    runs = entry.get("analysis")
    if not isinstance(runs, list):
        return ""
    return ", ".join(
        f"{r.get('name', '?')} {_VERDICT.get(str(r.get('phase')), '?')}"
        for r in runs
        if isinstance(r, dict)
    )
