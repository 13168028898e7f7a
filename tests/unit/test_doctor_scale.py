"""The doctor on a 5 MB manifest (issue 9, item 16): what it costs grows with the size.

The manifest is generated here from a template (≈7,800 objects, like the one in the
issue). Nothing here measures time: the tests count what the work is made of — label
comparisons for KP012, documents parsed for round-trip — so that a quadratic scan or a
round-trip of every document fails them on any machine. bench/doctor_large.py times it.
"""

from __future__ import annotations

import functools
from pathlib import Path

import pytest

from kprism.files.manifests import Manifest, apply_fixes, load
from kprism.plan.doctor import DoctorConfig, audit, plan_fixes
from kprism.plan.doctor.objects import classify
from kprism.plan.doctor.rules import services

APP = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: app-{n}
  namespace: team-{ns}
  labels: {{app.kubernetes.io/name: app-{n}, app.kubernetes.io/part-of: shop}}
spec:
  replicas: 3
  selector:
    matchLabels: {{app.kubernetes.io/name: app-{n}, color: blue}}
  strategy:
    rollingUpdate: {{maxUnavailable: 0, maxSurge: 1}}
  template:
    metadata:
      labels: {{app.kubernetes.io/name: app-{n}, app.kubernetes.io/part-of: shop, color: blue}}
    spec:
      terminationGracePeriodSeconds: 30
      containers:
      - name: web
        image: registry.example/app-{n}:1.{n}.0
        command: ["sh", "-c"]
        args:
        - |
          python -m app --port 8080
        env:
        - {{name: APP_NAME, value: app-{n}}}
        - {{name: LOG_LEVEL, value: info}}
        - {{name: UPSTREAM, value: "http://app-{m}.team-{ns}.svc.cluster.local:8080"}}
        - {{name: CACHE_URL, value: "redis://cache.team-{ns}.svc.cluster.local:6379/{n}"}}
        - {{name: DATABASE_URL, value: "postgres://app-{n}@db.team-{ns}.svc.cluster.local/app"}}
        - {{name: FEATURE_FLAGS, value: "checkout-v2,search-suggestions,recommendations"}}
        - {{name: OTEL_EXPORTER_OTLP_ENDPOINT, value: "http://otel.observability:4317"}}
        ports: [{{containerPort: 8080, name: http}}]
        readinessProbe: {{httpGet: {{path: /ready, port: 8080}}, periodSeconds: 5}}
        livenessProbe: {{httpGet: {{path: /live, port: 8080}}, failureThreshold: 6}}
        lifecycle: {{preStop: {{sleep: {{seconds: 10}}}}}}
        resources:
          requests: {{cpu: 100m, memory: 128Mi}}
          limits: {{memory: 256Mi}}
---
apiVersion: v1
kind: Service
metadata:
  name: app-{n}
  namespace: team-{ns}
  labels: {{app.kubernetes.io/name: app-{n}}}
spec:
  selector: {{app.kubernetes.io/name: app-{n}, color: blue}}
  ports: [{{name: http, port: 80, targetPort: 8080}}]
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: app-{n}
  namespace: team-{ns}
spec:
  maxUnavailable: 1
  selector:
    matchLabels: {{app.kubernetes.io/name: app-{n}}}
---
"""
APPS = 2_620  # 3 objects each: 7,860 objects, ≈5 MB


@functools.cache
def _text() -> str:
    return "".join(APP.format(n=n, m=(n + 1) % APPS, ns=n % 20) for n in range(APPS))


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("big") / "all.yaml"
    path.write_text(_text())
    return path


@pytest.fixture(scope="module")
def loaded(big: Path) -> list[Manifest]:
    return load([str(big)])


def test_the_manifest_is_as_big_as_the_one_in_the_issue(big: Path, loaded: list[Manifest]) -> None:
    assert big.stat().st_size > 5_000_000
    assert len(loaded) == 3 * APPS


def test_kp012_compares_each_service_with_its_own_app_only(loaded: list[Manifest]) -> None:
    objs = classify([m.obj for m in loaded], DoctorConfig())
    assert list(services.check_other_apps(objs, DoctorConfig())) == []
    # every Service with every Deployment would be APPS**2 ≈ 6.9 million comparisons
    assert objs.deployment_index.comparisons <= 2 * APPS


def test_every_rule_runs_in_linear_work(loaded: list[Manifest]) -> None:
    findings = audit([m.obj for m in loaded])
    assert {f.rule_id for f in findings} == {"KP014"}
    assert len(findings) == APPS


def test_loading_round_trips_no_document_and_a_fix_only_the_ones_it_changes(
    tmp_path: Path,
) -> None:
    path = tmp_path / "some.yaml"
    path.write_text("".join(APP.format(n=n, m=n, ns=0) for n in range(50)))
    ms = load([str(path)])
    assert not any(m.round_tripped for m in ms)
    objs = [m.obj for m in ms]
    fixes = plan_fixes(objs, [f for f in audit(objs) if f.index in (0, 30)])
    assert [f.index for f in fixes] == [0, 30]
    apply_fixes(ms, fixes)
    assert [n for n, m in enumerate(ms) if m.round_tripped] == [0, 30]
    again = load([str(path)])
    assert [f.index for f in audit([m.obj for m in again])] == [
        n for n in range(0, 150, 3) if n not in (0, 30)
    ]
