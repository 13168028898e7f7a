"""The controller's Prometheus metrics (``/metrics`` beside ``/healthz`` and ``/readyz``).

One registry per :class:`~kprism.controller.manager.Controller` (tests run several in one
process). What is measured as it happens — histograms and counters the controller
updates — is declared here; what is state — releases by phase, the work queue, the API
requests, the watches — is read when Prometheus scrapes, from the structures that already
hold it, so the hot path pays nothing for it.

=====================================================  ========================================
``kprism_releases{phase,strategy}``                    releases on the apps this replica leads
                                                       (the leader of each shard reports; a
                                                       standby reports none), finished ones too
``kprism_releases_started_total{strategy,how}``        started by this replica: ``request``
                                                       (handed over by the CLI), ``source``
                                                       (a GitOps source), ``adopted`` (left
                                                       behind by a CLI or a replica)
``kprism_releases_finished_total{phase,strategy}``     driven to their end by this replica
``kprism_release_step_duration_seconds{strategy,step}``  time a release spent in a step
                                                       (from the status' step start times)
``kprism_engine_step_seconds``                         one observe → decide → record → act
``kprism_reaction_seconds``                            from the watch event that woke an app
                                                       (the earliest since it was last looked
                                                       at) to the engine acting on it
``kprism_api_requests_total{verb,resource}``           requests to the API server
``kprism_api_errors_total{verb,resource,code}``        of those, answered ≥ 400 or unanswered
                                                       (``code="transport"``)
``kprism_workqueue_depth`` / ``_processing`` /        apps waiting for a worker, being worked
``_delayed``, ``kprism_workqueue_adds_total``,         on, waiting for a wake-up; adds, retries
``kprism_workqueue_retries_total``                     after a failure
``kprism_watch_restarts_total{kind,reason}``           watches started again: ``closed`` (the
                                                       server's timeout), ``expired`` (410
                                                       Gone, relisted), ``error``
``kprism_informers_synced{kind,namespace}``            1 when the cache of that kind is current
``kprism_leader``, ``kprism_apps_driven``              this replica leads its shard; apps whose
                                                       Lease it holds
``kprism_controller_<what>_total``                     the controller's counters (reconciles,
                                                       steps, conflicts, errors, …)
=====================================================  ========================================
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from kprism.errors import KprismError
from kprism.kube.cache import SERVICES
from kprism.kube.client import service_obs
from kprism.kube.state import read_release
from kprism.model.release import ANNOTATION_RELEASE, Phase, Strategy

if TYPE_CHECKING:
    from kprism.controller.manager import Controller

__all__ = ["CONTENT_TYPE", "Metrics"]

CONTENT_TYPE = CONTENT_TYPE_LATEST
#: from 10 ms (an action right after an event) to 10 min (a long canary pause)
_STEP_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)
_FAST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class Metrics:
    """The controller's metrics: :meth:`render` is what ``/metrics`` answers."""

    def __init__(self, controller: Controller) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.started = Counter(
            "kprism_releases_started",
            "Releases this replica started or took over.",
            ["strategy", "how"],
            registry=r,
        )
        self.finished = Counter(
            "kprism_releases_finished",
            "Releases this replica drove to their end, by outcome.",
            ["phase", "strategy"],
            registry=r,
        )
        self.step_duration = Histogram(
            "kprism_release_step_duration_seconds",
            "Time a release spent in one step of its strategy.",
            ["strategy", "step"],
            buckets=_STEP_BUCKETS,
            registry=r,
        )
        self.engine_step = Histogram(
            "kprism_engine_step_seconds",
            "One engine step: observe, decide, record, act.",
            buckets=_FAST_BUCKETS,
            registry=r,
        )
        self.queue_wait = Histogram(
            "kprism_queue_wait_seconds",
            "From the watch event that woke an app to a worker taking it up.",
            buckets=_FAST_BUCKETS,
            registry=r,
        )
        self.reaction = Histogram(
            "kprism_reaction_seconds",
            "From the watch event that woke an app to the engine's next action on it.",
            buckets=_FAST_BUCKETS,
            registry=r,
        )
        r.register(_State(controller))

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _State(Collector):
    """What is read at scrape time from the controller, its queue and its connection."""

    def __init__(self, controller: Controller) -> None:
        self.c = controller

    def describe(self) -> list[Metric]:
        return []  # names vary with the counters: collected, never pre-declared

    def collect(self) -> Iterator[Metric]:
        # the counters are plain dicts other threads add keys to: each is copied (one C
        # call, atomic under the GIL) before it is iterated
        c = self.c
        yield from self._releases()
        q = c.queue.stats()
        for name, key, doc in (
            ("kprism_workqueue_depth", "ready", "Apps waiting for a worker."),
            ("kprism_workqueue_processing", "processing", "Apps being worked on."),
            ("kprism_workqueue_delayed", "delayed", "Apps waiting for a wake-up."),
        ):
            yield GaugeMetricFamily(name, doc, value=q[key])
        yield CounterMetricFamily("kprism_workqueue_adds", "Apps added.", value=q["adds"])
        yield CounterMetricFamily(
            "kprism_workqueue_retries", "Apps added again after a failure.", value=q["retries"]
        )
        requests = CounterMetricFamily(
            "kprism_api_requests", "Requests to the API server.", labels=["verb", "resource"]
        )
        for what, n in sorted(dict(c.kube.requests).items()):
            verb, _, resource = what.partition(" ")
            requests.add_metric([verb, resource], n)
        yield requests
        errors = CounterMetricFamily(
            "kprism_api_errors",
            "Requests to the API server answered with an error (>= 400) or not at all.",
            labels=["verb", "resource", "code"],
        )
        for what, n in sorted(dict(c.kube.errors).items()):
            verb, resource, code = what.split(" ", 2)
            errors.add_metric([verb, resource, code], n)
        yield errors
        restarts = CounterMetricFamily(
            "kprism_watch_restarts",
            "Watches started again, by why the last one ended.",
            labels=["kind", "reason"],
        )
        synced = GaugeMetricFamily(
            "kprism_informers_synced",
            "1 when the watch cache of that kind and namespace is current.",
            labels=["kind", "namespace"],
        )
        totals: dict[tuple[str, str], int] = {}
        for inf in c.kube.cache.informers():
            counted = dict(inf.restarts)
            for why in ("closed", "expired", "error"):
                totals[inf.kind.name, why] = totals.get((inf.kind.name, why), 0) + counted.get(
                    why, 0
                )
            synced.add_metric([inf.kind.name, inf.namespace or ""], 1 if inf.synced else 0)
        for (kind, reason), n in sorted(totals.items()):
            restarts.add_metric([kind, reason], n)
        yield restarts
        yield synced
        yield GaugeMetricFamily(
            "kprism_leader", "1 when this replica leads its shard.", value=int(c.leading())
        )
        yield GaugeMetricFamily(
            "kprism_apps_driven", "Apps whose Lease this replica holds.", value=len(c.driven())
        )
        for what, n in sorted(dict(c.counts).items()):
            name = "".join(ch if ch.isalnum() else "_" for ch in what)
            yield CounterMetricFamily(
                f"kprism_controller_{name}", f"The controller's {what} counter.", value=n
            )

    def _releases(self) -> Iterator[Metric]:
        """Releases by phase and strategy on the apps this replica leads (zeros included,
        so a phase that empties reads 0 rather than disappearing)."""
        c = self.c
        counts = {(p.value, s.value): 0 for p in Phase for s in Strategy}
        if c.leading():
            for ns in c._scopes():
                services = c._informer(SERVICES, ns)
                if services is None:
                    continue
                for raw in services.items(ns):
                    meta = raw.get("metadata") or {}
                    if ANNOTATION_RELEASE not in (meta.get("annotations") or {}):
                        continue
                    svc = service_obs(raw)
                    if not c.scope.covers(svc.namespace, svc.name, svc.labels):
                        continue
                    try:
                        st = read_release(svc)
                    except KprismError:
                        continue
                    if st is not None:
                        key = (st.phase.value, st.spec.strategy.value)
                        counts[key] = counts.get(key, 0) + 1
        family = GaugeMetricFamily(
            "kprism_releases",
            "Releases on the apps this replica leads, by phase and strategy.",
            labels=["phase", "strategy"],
        )
        for (phase, strategy), n in sorted(counts.items()):
            family.add_metric([phase, strategy], n)
        yield family
