"""``prometheus``: one PromQL instant query per measurement.

Settings::

    provider:
      prometheus:
        address: http://127.0.0.1:9090     # default: $PROMETHEUS_URL
        query: |
          sum(rate(http_requests_total{namespace="{{namespace}}",track="{{track}}",code=~"5.."}[1m]))
          / sum(rate(http_requests_total{namespace="{{namespace}}",track="{{track}}"}[1m]))
        timeout: 10s                       # per query (default 10s)
        headers: {Authorization: Bearer …} # optional

The result given to the conditions: a *vector* is the list of its sample values
(``result[0]``), a *scalar* is a number. An empty vector, or any NaN sample, is
Inconclusive — never a success (a query about traffic that did not happen proves
nothing). Prometheus's own error text (``parse error at char 12: …``) is the Error
measurement's message.
"""

from __future__ import annotations

import math
import os
import ssl
from collections.abc import Mapping
from typing import Any

from pydantic import Field, field_validator

from kprism.analysis.base import (
    MeasureContext,
    ProviderBase,
    Settings,
    check_timeout,
    http_client,
)
from kprism.errors import InvalidSpecError
from kprism.model.analysis import Measurement, MeasurementPhase
from kprism.model.durations import Duration

ENV_URL = "PROMETHEUS_URL"
MAX_SERIES_SHOWN = 5


class PrometheusSettings(Settings):
    address: str = ""
    query: str = Field(min_length=1)
    timeout: Duration = 10

    _timeout = field_validator("timeout")(check_timeout)
    headers: dict[str, str] = Field(default_factory=dict)

    @field_validator("address")
    @classmethod
    def _http(cls, value: str) -> str:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError(f"{value!r} is not an http:// or https:// URL")
        return value.rstrip("/")


class PrometheusProvider(ProviderBase[PrometheusSettings]):
    name = "prometheus"
    settings_model = PrometheusSettings

    def check(self, config: Mapping[str, Any], *, where: str) -> None:
        settings = self.settings(config, where=where)
        if not settings.address and not os.environ.get(ENV_URL):
            raise InvalidSpecError(f"{where}.address: required (or set ${ENV_URL})")

    def measure(self, ctx: MeasureContext) -> Measurement:
        import httpx  # not at start-up: only a measurement needs it

        settings = self.settings(ctx.config)
        address = settings.address or os.environ.get(ENV_URL, "").rstrip("/")
        if not address:
            return ctx.error(
                f"no Prometheus address: set provider.prometheus.address or ${ENV_URL}"
            )
        url = f"{address}/api/v1/query"
        try:
            with http_client(float(settings.timeout or 10)) as client:
                response = client.post(
                    url, data={"query": settings.query}, headers=settings.headers
                )
        except httpx.TimeoutException:
            return ctx.error(f"Prometheus at {address} did not answer within {settings.timeout}s")
        except httpx.HTTPError as exc:
            return ctx.error(f"cannot reach Prometheus at {address}: {exc}")
        except (ssl.SSLError, OSError) as exc:  # the trust store could not be read
            return ctx.error(f"cannot reach Prometheus at {address}: TLS set-up failed: {exc}")
        try:
            body = response.json()
        except ValueError:
            return ctx.error(
                f"Prometheus at {address} answered HTTP {response.status_code} without JSON: "
                f"{response.text[:200]!r}"
            )
        if not isinstance(body, dict) or body.get("status") != "success":
            detail = body.get("error", "") if isinstance(body, dict) else ""
            kind = body.get("errorType", "") if isinstance(body, dict) else ""
            return ctx.error(
                f"Prometheus refused the query (HTTP {response.status_code}"
                f"{', ' + kind if kind else ''}): {detail or response.text[:200]}"
            )
        return read_result(ctx, body.get("data") or {})


def read_result(ctx: MeasureContext, data: dict[str, Any]) -> Measurement:
    """A query's ``data`` → the measurement (pure apart from ``ctx.now``)."""
    kind = data.get("resultType")
    raw = data.get("result")
    if kind == "scalar" and isinstance(raw, list) and len(raw) == 2:
        value = _number(raw[1])
        if math.isnan(value):
            return ctx.measurement(
                MeasurementPhase.INCONCLUSIVE, "the query gave NaN (no traffic?)", value='"NaN"'
            )
        return ctx.assess(value)
    if kind == "vector" and isinstance(raw, list):
        if not raw:
            return ctx.measurement(
                MeasurementPhase.INCONCLUSIVE,
                "the query returned no series (no traffic yet, or a wrong label?)",
                value="[]",
            )
        values = [_number((s.get("value") or [0, "NaN"])[1]) for s in raw]
        labels = [s.get("metric") or {} for s in raw]
        if any(math.isnan(v) for v in values):
            return ctx.measurement(
                MeasurementPhase.INCONCLUSIVE,
                f"the query gave NaN for {_series(labels, values)} (no traffic?)",
                value=str(["NaN" if math.isnan(v) else v for v in values]),
            )
        return ctx.assess(values, message=f"{len(values)} series")
    return ctx.error(f"the query gave a {kind or 'missing'} result: use a vector or scalar query")


def _number(text: Any) -> float:
    try:
        return float(text)
    except (TypeError, ValueError):
        return math.nan


def _series(labels: list[dict[str, str]], values: list[float]) -> str:
    shown = [
        ("{" + ",".join(f"{k}={v!r}" for k, v in sorted(lab.items())) + "}") + f"={val:g}"
        for lab, val in zip(labels, values, strict=True)
    ][:MAX_SERIES_SHOWN]
    return ", ".join(shown)
