"""Analysis: templates and metrics as a release spec writes them, and the runs and
measurements recorded in the release status.

The spec side has the shape of Argo Rollouts' AnalysisTemplate (``metrics`` with
``interval``, ``count``, ``successCondition`` …, one ``provider`` each), so people who
know one can read the other; templates are given in the release spec itself
(``analysisTemplates`` of a canary, ``templates`` of a blue-green release's
``analysis``) and used by name with arguments.

The status side is plain frozen dataclasses stored in the release annotation: every
measurement a provider took is kept in the run (the last :data:`KEEP_MEASUREMENTS` of
each metric, with the counters the limits need), so an engine that crashed resumes the
run where it was, with nothing measured twice and nothing lost. What a run *means* is
decided in :mod:`kprism.plan.analysis` (pure); providers live in :mod:`kprism.analysis`.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from kprism.model.durations import Duration
from kprism.model.expr import Condition, ExprError

KEEP_MEASUREMENTS = 12  # per metric in the status (the counters keep the totals)
MAX_VALUE_TEXT = 160  # characters of a measured value kept in the status
MAX_MESSAGE = 300  # characters of a measurement message kept in the status

_NAME = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"
#: ``{{args.max}}``, ``{{app}}``: filled in when a run starts (kprism.plan.analysis.resolve)
PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_.\-]*)\s*\}\}")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)


def _condition(value: Any) -> str:
    if not isinstance(value, str):
        raise PydanticCustomError("string_type", "must be a string")
    if value.strip():
        try:
            # a placeholder stands for a number until the run fills it in
            Condition.parse(PLACEHOLDER.sub(lambda m: "0".ljust(len(m.group(0))), value))
        except ExprError as exc:
            raise PydanticCustomError("condition", f"{value!r} does not parse: {exc}") from exc
    return value


class Metric(_Frozen):
    """One thing to measure, how often, and what passes (Argo's ``metrics[]`` item)."""

    name: str = Field(pattern=_NAME)
    #: seconds between measurements; without it the metric is measured once (count 1)
    interval: Duration = None
    #: measurements to take; default 1 without interval, unlimited with one (background)
    count: int | None = Field(default=None, ge=1, strict=True)
    initial_delay: Duration = Field(default=None, alias="initialDelay")
    success_condition: str = Field(default="", alias="successCondition")
    failure_condition: str = Field(default="", alias="failureCondition")
    failure_limit: int = Field(default=0, ge=0, alias="failureLimit", strict=True)
    inconclusive_limit: int = Field(default=0, ge=0, alias="inconclusiveLimit", strict=True)
    consecutive_error_limit: int = Field(
        default=4, ge=0, alias="consecutiveErrorLimit", strict=True
    )
    consecutive_success_limit: int = Field(
        default=0, ge=0, alias="consecutiveSuccessLimit", strict=True
    )
    dry_run: bool = Field(default=False, alias="dryRun", strict=True)
    #: what too many consecutive errors mean: abort the release, or pause it for a human
    on_error: Literal["abort", "pause"] = Field(default="abort", alias="onError")
    #: a guard never ends a run by itself (it may be unlimited in a blocking gate): it
    #: only fails it. The implicit ``pods`` metric of every run is one.
    guard: bool = Field(default=False, strict=True)
    #: exactly one provider: ``{prometheus: {query: …}}``, ``{http: {url: …}}`` …
    provider: dict[str, dict[str, Any]]

    @field_validator("success_condition", "failure_condition", mode="before")
    @classmethod
    def _parses(cls, value: Any) -> str:
        return _condition(value)

    @field_validator("provider")
    @classmethod
    def _one_provider(cls, value: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        if len(value) != 1:
            raise PydanticCustomError(
                "one_provider",
                "needs exactly one provider (e.g. prometheus, http, webhook, job, pods)",
            )
        return value

    @model_validator(mode="after")
    def _counts(self) -> Metric:
        if self.count is not None and self.count > 1 and self.interval is None:
            raise PydanticCustomError(
                "interval", "count > 1 needs an interval between the measurements"
            )
        return self

    @property
    def provider_name(self) -> str:
        return next(iter(self.provider))

    @property
    def provider_config(self) -> dict[str, Any]:
        return self.provider[self.provider_name]

    @property
    def limit(self) -> int | None:
        """How many measurements end the metric (None: it runs until the run stops)."""
        if self.count is not None:
            return self.count
        return 1 if self.interval is None else None


class TemplateArg(_Frozen):
    """An argument a template takes (``value`` is its default)."""

    name: str = Field(min_length=1)
    value: str | None = None


class AnalysisTemplate(_Frozen):
    """A named, reusable set of metrics with arguments (Argo's AnalysisTemplate spec)."""

    name: str = Field(pattern=_NAME)
    args: tuple[TemplateArg, ...] = ()
    metrics: tuple[Metric, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> AnalysisTemplate:
        names = [m.name for m in self.metrics]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise PydanticCustomError(
                "unique", "metric names must be unique: {dup}", {"dup": ", ".join(dup)}
            )
        return self


class AnalysisTemplateRef(_Frozen):
    template_name: str = Field(alias="templateName", min_length=1)


class AnalysisArg(_Frozen):
    name: str = Field(min_length=1)
    value: str


class AnalysisRef(_Frozen):
    """Which templates to run, with which arguments (a step's ``analysis``, a blue-green
    ``prePromotion``/``postPromotion``)."""

    templates: tuple[AnalysisTemplateRef, ...] = Field(min_length=1)
    args: tuple[AnalysisArg, ...] = ()


class BackgroundAnalysis(AnalysisRef):
    """A canary's ``analysis``: runs beside the steps from ``startingStep`` (1-based, the
    step at which it starts) until the canary is done."""

    starting_step: int = Field(default=1, ge=1, alias="startingStep", strict=True)


class BlueGreenAnalysis(_Frozen):
    """Analysis of a blue-green release: before the switch (against the preview
    Service) and after it (during the scale-down delay; failing rolls back)."""

    templates: tuple[AnalysisTemplate, ...] = ()
    pre_promotion: AnalysisRef | None = Field(default=None, alias="prePromotion")
    post_promotion: AnalysisRef | None = Field(default=None, alias="postPromotion")


# -- the status: runs and measurements -----------------------------------------------------


class MeasurementPhase(StrEnum):
    SUCCESSFUL = "Successful"
    FAILED = "Failed"
    INCONCLUSIVE = "Inconclusive"
    ERROR = "Error"
    RUNNING = "Running"  # started, not finished (a Job): ask again


class RunPhase(StrEnum):
    """A metric's or a run's phase."""

    RUNNING = "Running"
    SUCCESSFUL = "Successful"
    FAILED = "Failed"
    INCONCLUSIVE = "Inconclusive"
    ERROR = "Error"
    TERMINATED = "Terminated"  # stopped before it ended (the release moved on or aborted)

    @property
    def done(self) -> bool:
        return self is not RunPhase.RUNNING


@dataclass(frozen=True, kw_only=True)
class Measurement:
    """One measurement: what was seen (``value``, short text) and what it means."""

    phase: MeasurementPhase
    value: str = ""
    message: str = ""
    started_at: str = ""
    finished_at: str = ""
    #: a provider's own state for a measurement in progress (a Job's name)
    state: Mapping[str, str] = field(default_factory=dict)

    def clipped(self) -> Measurement:
        """The same measurement with value and message cut to what the status keeps."""
        return dataclasses.replace(
            self,
            value=_clip(self.value, MAX_VALUE_TEXT),
            message=_clip(self.message, MAX_MESSAGE),
        )


def _clip(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


@dataclass(frozen=True, kw_only=True)
class MetricRun:
    """One metric of a run: its counters and its last measurements."""

    name: str
    phase: RunPhase = RunPhase.RUNNING
    count: int = 0
    successful: int = 0
    failed: int = 0
    inconclusive: int = 0
    error: int = 0
    consecutive_error: int = 0
    consecutive_success: int = 0
    measurements: tuple[Measurement, ...] = ()
    pending: Measurement | None = None
    message: str = ""


@dataclass(frozen=True, kw_only=True)
class AnalysisRun:
    """One analysis run of a release: a gate, the background run, a blue-green check.

    ``metrics`` are the resolved metric specs (arguments filled in), so a run is measured
    the same way to its end whatever happens to the templates meanwhile.
    """

    name: str  # "step-3", "background", "pre-promotion", "post-promotion"
    phase: RunPhase = RunPhase.RUNNING
    started_at: str = ""
    finished_at: str = ""
    message: str = ""
    metrics: tuple[Metric, ...] = ()
    results: tuple[MetricRun, ...] = ()
    #: an Inconclusive run that paused the release (a resume re-runs it)
    held: bool = False

    def result(self, metric: str) -> MetricRun:
        return next(r for r in self.results if r.name == metric)

    def spec(self, metric: str) -> Metric:
        return next(m for m in self.metrics if m.name == metric)


def measurement_from_json(data: Mapping[str, Any]) -> Measurement:
    return Measurement(
        phase=MeasurementPhase(data["phase"]),
        value=str(data.get("value", "")),
        message=str(data.get("message", "")),
        started_at=str(data.get("started_at", "")),
        finished_at=str(data.get("finished_at", "")),
        state={str(k): str(v) for k, v in (data.get("state") or {}).items()},
    )


def metric_run_from_json(data: Mapping[str, Any]) -> MetricRun:
    names = {f.name for f in dataclasses.fields(MetricRun)}
    kw: dict[str, Any] = {k: v for k, v in data.items() if k in names}
    kw["phase"] = RunPhase(kw.get("phase", RunPhase.RUNNING))
    kw["measurements"] = tuple(measurement_from_json(m) for m in kw.get("measurements", []))
    pending = kw.get("pending")
    kw["pending"] = measurement_from_json(pending) if pending else None
    return MetricRun(**kw)


def run_from_json(data: Mapping[str, Any]) -> AnalysisRun:
    return AnalysisRun(
        name=str(data["name"]),
        phase=RunPhase(data.get("phase", RunPhase.RUNNING)),
        started_at=str(data.get("started_at", "")),
        finished_at=str(data.get("finished_at", "")),
        message=str(data.get("message", "")),
        metrics=tuple(Metric.model_validate(m) for m in data.get("metrics", [])),
        results=tuple(metric_run_from_json(r) for r in data.get("results", [])),
        held=bool(data.get("held", False)),
    )
