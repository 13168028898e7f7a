"""Analysis providers through the real adapter and API server: the job provider's Job
(created from the template, found again by its name, suspended and deleted when its run
ends), the pods guard over real pods, and shared templates listed from ConfigMaps. The
local cluster's pods never run to completion, so a Job's outcome is unit-tested here and
run for real on the data plane's process node (tests/dataplane/test_analysis.py)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from lightkube import Client
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.batch_v1 import Job
from lightkube.resources.core_v1 import ConfigMap

from kprism import ops
from kprism.analysis import provider_for
from kprism.analysis.base import MeasureContext
from kprism.analysis.job import job_name
from kprism.model.analysis import MeasurementPhase, Metric
from kprism.ops.analysis import LABEL_TEMPLATE, template_from_configmap

pytestmark = pytest.mark.integration

JOB = {
    "spec": {
        "template": {
            "spec": {"containers": [{"name": "smoke", "image": "registry.example/smoke:1"}]}
        }
    }
}


@pytest.fixture
def adapter(kubeconfig_path: str) -> Iterator[ops.Kube]:
    k = ops.connect(kubeconfig=kubeconfig_path)
    yield k
    k.close()


def context(kube: ops.Kube, namespace: str, metric: Metric, **kw: object) -> MeasureContext:
    return MeasureContext(
        kube=kube,
        namespace=namespace,
        app="web",
        release="r1",
        track="green",
        stable="blue",
        service="web",
        track_label="color",
        app_selector={"app": "web"},
        run="step-2",
        metric=metric,
        now=datetime.now(UTC),
        **kw,  # type: ignore[arg-type]
    )


def test_the_job_provider_creates_finds_and_stops_its_job(
    kube: Client, namespace: str, adapter: ops.Kube
) -> None:
    k = adapter
    metric = Metric.model_validate({"name": "smoke", "provider": {"job": JOB}})
    job = provider_for("job")
    first = job.measure(context(k, namespace, metric))
    assert first.phase is MeasurementPhase.RUNNING, first.message
    name = first.state["job"]
    assert name == job_name(context(k, namespace, metric))
    made = kube.get(Job, name, namespace=namespace)
    assert made.metadata is not None and made.metadata.labels is not None
    assert made.metadata.labels["kprism.dev/release"] == "r1"
    assert made.spec is not None and made.spec.backoffLimit == 0
    env = {e.name: e.value for e in made.spec.template.spec.containers[0].env or []}  # type: ignore[union-attr]
    assert env["KPRISM_TRACK"] == "green"
    # asked again (as after an engine restart): the same Job, still running
    again = job.measure(context(k, namespace, metric, pending=first))
    assert again.phase is MeasurementPhase.RUNNING, again.message
    assert again.state == {"job": name}
    assert len(list(kube.list(Job, namespace=namespace))) == 1
    # the run ended first: suspended and deleted
    job.stop(context(k, namespace, metric, pending=again))
    gone = [
        j
        for j in kube.list(Job, namespace=namespace)
        if not (j.metadata and j.metadata.deletionTimestamp)
    ]
    assert gone == []
    job.stop(context(k, namespace, metric, pending=again))  # idempotent


def test_shared_templates_are_listed_from_configmaps(
    kube: Client, namespace: str, adapter: ops.Kube
) -> None:
    kube.create(
        ConfigMap(
            metadata=ObjectMeta(name="error-rate", labels={LABEL_TEMPLATE: "true"}),
            data={
                "template.yaml": "metrics:\n- name: m\n  provider: {pods: {}}\n",
            },
        ),
        namespace=namespace,
    )
    kube.create(
        ConfigMap(metadata=ObjectMeta(name="unrelated"), data={"x": "y"}),
        namespace=namespace,
    )
    found = adapter.list_objects("ConfigMap", namespace, {LABEL_TEMPLATE: "true"})
    assert [cm["metadata"]["name"] for cm in found] == ["error-rate"]
    assert template_from_configmap(found[0]).metrics[0].name == "m"


def test_the_pods_guard_reads_real_pods(namespace: str, adapter: ops.Kube) -> None:
    k = adapter
    metric = Metric.model_validate({"name": "pods", "provider": {"pods": {}}})
    got = provider_for("pods").measure(context(k, namespace, metric))
    assert got.phase is MeasurementPhase.SUCCESSFUL, got.message
    assert got.message == "0/0 green pods ready, 0 restarts"
