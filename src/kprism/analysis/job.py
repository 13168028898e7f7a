"""``job``: run a Kubernetes Job (a smoke test, a load test) and pass when it completes.

Settings (a Job template, as Argo Rollouts' job provider takes it)::

    provider:
      job:
        metadata: {labels: {team: web}}      # optional
        spec:                                 # a batch/v1 JobSpec
          backoffLimit: 0
          template:
            spec:
              restartPolicy: Never
              containers:
              - name: smoke
                image: curlimages/curl:8.10.1
                args: [-fsS, "http://{{service}}.{{namespace}}/healthz"]

One measurement is one Job, named after the release, run, metric and measurement
number (so an engine that crashed finds the Job it created instead of creating a
second). It is Running (asked again every few seconds) until the Job's ``Complete``
condition (Successful) or ``Failed`` condition (Failed, with the Job's reason). Each
container gets the release context as ``KPRISM_APP``, ``KPRISM_NAMESPACE``,
``KPRISM_RELEASE``, ``KPRISM_TRACK``, ``KPRISM_STABLE``, ``KPRISM_SERVICE``. When the
run ends first (the release aborted) the Job is suspended, which deletes its pods, and
deleted. Finished Jobs are removed by Kubernetes after ``ttlSecondsAfterFinished``
(default 600).
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import re
from collections.abc import Mapping
from typing import Any

from pydantic import Field, field_validator

from kprism.analysis.base import MeasureContext, ProviderBase, Settings
from kprism.errors import ConflictError, KprismError, NotFoundError
from kprism.kube.client import ResourceKind
from kprism.model.analysis import Measurement, MeasurementPhase
from kprism.model.release import LABEL_MANAGED

JOB = ResourceKind(api_version="batch/v1", kind="Job", plural="jobs")
TTL_AFTER_FINISHED = 600
LABEL_RELEASE = "kprism.dev/release"
LABEL_APP = "kprism.dev/app"


class JobSettings(Settings):
    api_version: str | None = Field(default=None, alias="apiVersion")
    kind: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    spec: dict[str, Any]

    @field_validator("kind")
    @classmethod
    def _job(cls, value: str | None) -> str | None:
        if value is not None and value != "Job":
            raise ValueError(f"is {value!r}: the job provider runs a Job (kind: Job)")
        return value

    @field_validator("api_version")
    @classmethod
    def _batch(cls, value: str | None) -> str | None:
        if value is not None and value != "batch/v1":
            raise ValueError(f"is {value!r}: a Job is batch/v1")
        return value

    @field_validator("spec")
    @classmethod
    def _containers(cls, value: dict[str, Any]) -> dict[str, Any]:
        pod = ((value.get("template") or {}).get("spec")) or {}
        containers = pod.get("containers")
        if not isinstance(containers, list) or not containers:
            raise ValueError("needs template.spec.containers (a Job template)")
        for i, c in enumerate(containers):
            if not isinstance(c, Mapping) or not c.get("image"):
                raise ValueError(f"template.spec.containers[{i}] needs an image")
        if pod.get("restartPolicy", "Never") not in ("Never", "OnFailure"):
            raise ValueError("template.spec.restartPolicy must be Never or OnFailure in a Job")
        return value


def job_name(ctx: MeasureContext) -> str:
    """A name unique to this measurement, stable across engine restarts (≤ 63 chars)."""
    key = f"{ctx.release}/{ctx.run}/{ctx.metric.name}/{ctx.measured}"
    digest = hashlib.sha256(key.encode()).hexdigest()[:8]
    base = re.sub(r"[^a-z0-9-]", "-", f"{ctx.app}-{ctx.metric.name}".lower()).strip("-")
    return f"{base[: 63 - 9].rstrip('-')}-{digest}"


def job_body(ctx: MeasureContext, settings: JobSettings, name: str) -> dict[str, Any]:
    meta = copy.deepcopy(settings.metadata)
    labels = {
        **(meta.get("labels") or {}),
        LABEL_MANAGED: "kprism",
        LABEL_APP: ctx.app,
        LABEL_RELEASE: ctx.release,
    }
    spec = copy.deepcopy(settings.spec)
    spec.setdefault("backoffLimit", 0)
    spec.setdefault("ttlSecondsAfterFinished", TTL_AFTER_FINISHED)
    pod = spec["template"].setdefault("spec", {})
    pod.setdefault("restartPolicy", "Never")
    env = [{"name": f"KPRISM_{k.upper()}", "value": str(v)} for k, v in _env(ctx).items()]
    for c in pod["containers"]:
        c["env"] = [*(c.get("env") or []), *env]
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            **{k: v for k, v in meta.items() if k not in ("name", "namespace", "labels")},
            "name": name,
            "namespace": ctx.namespace,
            "labels": labels,
        },
        "spec": spec,
    }


def _env(ctx: MeasureContext) -> dict[str, str]:
    return {
        "app": ctx.app,
        "namespace": ctx.namespace,
        "release": ctx.release,
        "track": ctx.track,
        "stable": ctx.stable,
        "service": ctx.service,
    }


def job_outcome(job: Mapping[str, Any]) -> tuple[MeasurementPhase, str]:
    """What a Job's status says: Successful, Failed (with the reason) or Running."""
    status = job.get("status") or {}
    for cond in status.get("conditions") or []:
        if cond.get("status") != "True":
            continue
        if cond.get("type") == "Complete":
            return MeasurementPhase.SUCCESSFUL, "completed"
        if cond.get("type") == "Failed":
            why = cond.get("reason") or "Failed"
            text = cond.get("message") or ""
            return MeasurementPhase.FAILED, f"failed: {why}{': ' + text if text else ''}"
    active = status.get("active") or 0
    failed = status.get("failed") or 0
    return MeasurementPhase.RUNNING, f"running ({active} active, {failed} failed pods)"


class JobProvider(ProviderBase[JobSettings]):
    name = "job"
    settings_model = JobSettings

    def measure(self, ctx: MeasureContext) -> Measurement:
        settings = self.settings(ctx.config)
        name = (ctx.pending.state.get("job") if ctx.pending else None) or job_name(ctx)
        try:
            job = ctx.kube.find_object(JOB, name, ctx.namespace)
            if job is None:
                if ctx.pending is not None:
                    return ctx.error(f"Job {name} is gone before it finished")
                # a conflict: created by an engine before a crash, so it is ours
                with contextlib.suppress(ConflictError):
                    ctx.kube.create_object(JOB, job_body(ctx, settings, name))
                return ctx.measurement(
                    MeasurementPhase.RUNNING, f"Job {name} created", state={"job": name}
                )
        except KprismError as exc:
            return ctx.error(f"Job {name}: {exc}")
        phase, text = job_outcome(job)
        return ctx.measurement(
            phase,
            f"Job {name} {text}",
            value=text.split(":")[0],
            state={"job": name} if phase is MeasurementPhase.RUNNING else {},
        )

    def stop(self, ctx: MeasureContext) -> None:
        name = ctx.pending.state.get("job") if ctx.pending else None
        if not name:
            return
        try:
            ctx.kube.patch_object(JOB, name, ctx.namespace, {"spec": {"suspend": True}})
        except NotFoundError:
            return
        except KprismError:
            pass  # deleting it is what matters
        ctx.kube.delete_object(JOB, name, ctx.namespace)
