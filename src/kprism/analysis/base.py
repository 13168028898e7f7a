"""The analysis-provider interface: one measurement per call, through one Protocol.

A provider measures one metric (:class:`~kprism.model.analysis.Metric`, its settings
already resolved) when the engine says it is due and returns a
:class:`~kprism.model.analysis.Measurement`: Successful / Failed / Inconclusive / Error
with a message, or Running for a measurement that takes longer than one call (a Job),
with the provider's own ``state`` (the Job's name) that comes back in
:attr:`MeasureContext.pending` on the next call. What a value *means* under the metric's
conditions is :func:`kprism.plan.analysis.assess` (pure); most providers only fetch the
value and call :meth:`MeasureContext.assess`.

Rules every provider keeps:

- ``measure`` never waits and never retries: every request has a timeout, and an error
  becomes an Error measurement (the evaluator's ``consecutiveErrorLimit`` is the retry
  budget). It never raises for a failure of what it measures.
- It is idempotent: the engine may call it again for the same measurement after a
  crash (a Job provider finds its Job by a name derived from the release, run, metric
  and measurement number, instead of creating a second one).
- It talks to the cluster only through the adapter (:class:`~kprism.kube.api.KubeApi`).
- ``check`` validates its settings before the release starts (nothing changed yet);
  ``stop`` ends a measurement in progress when its run ended (best effort).
"""

from __future__ import annotations

import functools
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from kprism.errors import InvalidSpecError
from kprism.kube.api import KubeApi
from kprism.model.analysis import Measurement, MeasurementPhase, Metric
from kprism.model.steps import format_path
from kprism.plan.analysis import assess
from kprism.plan.machine import iso

if TYPE_CHECKING:  # imported when a measurement needs it: the CLI starts without it
    import httpx


@dataclass(frozen=True, kw_only=True)
class MeasureContext:
    """Everything a provider may know for one measurement."""

    kube: KubeApi
    namespace: str
    app: str  # the app's Service
    release: str
    track: str  # the candidate track
    stable: str
    service: str  # the Service under analysis (the preview Service before a promotion)
    track_label: str
    app_selector: Mapping[str, str]  # what every pod of the app carries
    run: str  # "step-3", "background", "pre-promotion", "post-promotion"
    metric: Metric
    now: datetime
    measured: int = 0  # measurements of this metric so far (errors included)
    pending: Measurement | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def config(self) -> dict[str, Any]:
        return self.metric.provider_config

    @property
    def candidate_selector(self) -> dict[str, str]:
        return {**self.app_selector, self.track_label: self.track}

    def assess(self, value: Any, message: str = "") -> Measurement:
        """``value`` judged by the metric's conditions."""
        return assess(self.metric, value, now=self.now, message=message)

    def measurement(
        self,
        phase: MeasurementPhase,
        message: str,
        *,
        value: str = "",
        state: Mapping[str, str] | None = None,
    ) -> Measurement:
        return Measurement(
            phase=phase,
            value=value,
            message=message,
            finished_at=iso(self.now),
            state=dict(state or {}),
        ).clipped()

    def error(self, message: str) -> Measurement:
        return self.measurement(MeasurementPhase.ERROR, message)

    def release_context(self) -> dict[str, Any]:
        """The release as a webhook or a Job sees it (JSON)."""
        return {
            "app": self.app,
            "namespace": self.namespace,
            "release": self.release,
            "track": self.track,
            "stable": self.stable,
            "service": self.service,
            "run": self.run,
            "metric": self.metric.name,
            "measurement": self.measured + 1,
        }


class Provider(Protocol):
    """An analysis provider (one module in :mod:`kprism.analysis`, one registry entry)."""

    @property
    def name(self) -> str: ...

    def check(self, config: Mapping[str, Any], *, where: str) -> None:
        """InvalidSpecError naming ``where`` when the settings are wrong (before a release)."""

    def measure(self, ctx: MeasureContext) -> Measurement:
        """One measurement (or Running with state, for one in progress)."""

    def stop(self, ctx: MeasureContext) -> None:
        """End the measurement in progress (``ctx.pending``); best effort, idempotent."""


#: the longest a provider's request may take: the engine holds the app's Lease (15 s)
#: while it measures and renews it before each measurement. Longer checks run as a Job.
MAX_TIMEOUT = 10


def check_timeout(value: int | None) -> int | None:
    """A provider's ``timeout`` setting: at most :data:`MAX_TIMEOUT` seconds."""
    if value is not None and value > MAX_TIMEOUT:
        raise ValueError(
            f"{value}s is longer than {MAX_TIMEOUT}s: the engine waits for it while it holds "
            "the app's Lease; run a longer check as a job (provider: job)"
        )
    return value


class Settings(BaseModel):
    """Base of a provider's settings model (camelCase aliases, unknown keys refused)."""

    model_config = ConfigDict(frozen=True, extra="forbid")


S = TypeVar("S", bound=Settings)


class ProviderBase(Generic[S]):
    """A provider whose settings are one pydantic model (``settings_model``)."""

    name: ClassVar[str]
    settings_model: type[S]

    def settings(self, config: Mapping[str, Any], *, where: str = "") -> S:
        try:
            return self.settings_model.model_validate(dict(config))
        except ValidationError as exc:
            problems = []
            for item in exc.errors():
                path = format_path(tuple(item["loc"]))
                at = ".".join(p for p in (where, path) if p)
                problems.append(f"{at}: {item['msg']}")
            raise InvalidSpecError("; ".join(problems)) from None

    def check(self, config: Mapping[str, Any], *, where: str) -> None:
        self.settings(config, where=where)

    def stop(self, ctx: MeasureContext) -> None:
        return None


@functools.cache
def _tls_context() -> ssl.SSLContext:
    import httpx

    return httpx.create_ssl_context()  # a failure is not cached: the next call tries again


def http_client(timeout: float) -> httpx.Client:
    """An HTTP client for one measurement, over one TLS context per process.

    httpx builds a TLS context (reading the whole system trust store) for every client;
    a provider measuring every few seconds would re-read it every time, and one failed read
    (the bundle rewritten under us) would break a measurement of a plain-HTTP URL. The
    context is built once, when first needed, and reused; building it may raise
    ``ssl.SSLError``/``OSError``, which callers turn into an Error measurement.
    """
    import httpx

    return httpx.Client(timeout=timeout, follow_redirects=False, verify=_tls_context())
