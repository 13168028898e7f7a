"""KP006 and KP016: rollout strategies that take pods out of service."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, Final

from kprism.plan.doctor.base import Edit, Finding, Rule, Severity
from kprism.plan.doctor.checks import Hit, RuleDef
from kprism.plan.doctor.objects import (
    Objects,
    as_int,
    as_list,
    as_map,
    dig,
    label_selector_matches,
    scaled,
    str_map,
)

if TYPE_CHECKING:
    from kprism.plan.doctor.config import DoctorConfig

DEFAULT_ROLLING: Final = "25%"  # maxUnavailable and maxSurge when unset


def rolling(body: Mapping[str, Any], replicas: int) -> tuple[int, int, object, object]:
    """(effective maxUnavailable, effective maxSurge, raw maxUnavailable, raw maxSurge)."""
    spec = as_map(dig(body, "spec", "strategy", "rollingUpdate"))
    raw_mu = spec.get("maxUnavailable", DEFAULT_ROLLING)
    raw_ms = spec.get("maxSurge", DEFAULT_ROLLING)
    mu = scaled(raw_mu, replicas, round_up=False) or 0
    ms = scaled(raw_ms, replicas, round_up=True) or 0
    if mu == 0 and ms == 0:
        mu = 1  # the Deployment controller's own safety net (ResolveFenceposts)
    return mu, ms, spec.get("maxUnavailable"), spec.get("maxSurge")


HOSTNAME: Final = "kubernetes.io/hostname"


def one_pod_per_node(body: Mapping[str, Any]) -> bool:
    """Whether a required pod anti-affinity on the node name keeps the Deployment's pods on
    separate nodes: then a surge pod only fits on a node without one of them."""
    labels = str_map(dig(body, "spec", "template", "metadata", "labels"))
    terms = as_list(
        dig(
            body,
            "spec",
            "template",
            "spec",
            "affinity",
            "podAntiAffinity",
            "requiredDuringSchedulingIgnoredDuringExecution",
        )
    )
    return any(
        as_map(term).get("topologyKey") == HOSTNAME
        and label_selector_matches(as_map(term).get("labelSelector"), labels)
        for term in terms
    )


def check_max_unavailable(objs: Objects, config: DoctorConfig) -> Iterator[Hit]:
    """KP006: a rolling update that may stop pods before their replacements are ready."""
    for d in objs.deployments:
        strategy = as_map(dig(d.body, "spec", "strategy"))
        if strategy.get("type", "RollingUpdate") != "RollingUpdate" or d.replicas < 1:
            continue
        mu, _ms, raw_mu, _raw_ms = rolling(d.body, d.replicas)
        if mu <= 0:
            continue
        severe = d.replicas <= config.few_replicas or mu >= d.replicas
        how = f"maxUnavailable {raw_mu}" if raw_mu is not None else f"default {DEFAULT_ROLLING}"
        message = (
            f"a rolling update may stop {mu} of {d.replicas} pods before their "
            f"replacements are ready ({how}), shrinking capacity during every rollout"
        )
        if one_pod_per_node(d.body):
            yield Hit(
                obj=d,
                severity=Severity.WARNING if severe else Severity.INFO,
                path="/spec/strategy/rollingUpdate/maxUnavailable",
                message=message + f"; but a required pod anti-affinity on {HOSTNAME} allows "
                "one pod per node, so maxUnavailable 0 with a surge pod deadlocks the rollout "
                "when there are no more nodes than replicas (--fix leaves it alone)",
                fix="make the anti-affinity preferredDuringSchedulingIgnoredDuringExecution, "
                "then set maxUnavailable: 0 and maxSurge: 1; or keep it and always run more "
                "nodes than replicas",
                fixable=False,
            )
            continue
        yield Hit(
            obj=d,
            severity=Severity.WARNING if severe else Severity.INFO,
            path="/spec/strategy/rollingUpdate/maxUnavailable",
            message=message,
            fix="set strategy.rollingUpdate.maxUnavailable: 0 (and maxSurge: 1)",
        )


def fix_max_unavailable(work: Mapping[str, Any], f: Finding, config: DoctorConfig) -> list[Edit]:
    """maxUnavailable 0, and maxSurge 1 where it would be 0; nothing under a required
    one-pod-per-node anti-affinity (the surge pod may fit no node: a deadlock)."""
    if one_pod_per_node(work):
        return []
    replicas = as_int(dig(work, "spec", "replicas"))
    mu, _ms, _raw_mu, raw_ms = rolling(work, 1 if replicas is None else replicas)
    if mu == 0:
        return []
    edits = [Edit(path="/spec/strategy/rollingUpdate/maxUnavailable", value=0)]
    if raw_ms is None or scaled(raw_ms, max(1, replicas or 1), round_up=True) == 0:
        edits.append(Edit(path="/spec/strategy/rollingUpdate/maxSurge", value=1))
    return edits


def check_recreate(objs: Objects, config: DoctorConfig) -> Iterator[Hit]:
    """KP016: strategy Recreate."""
    for d in objs.deployments:
        if dig(d.body, "spec", "strategy", "type") == "Recreate":
            yield Hit(
                obj=d,
                path="/spec/strategy/type",
                message="strategy Recreate stops every old pod before a new one starts: each "
                "in-place rollout is an outage",
            )


RULES = (
    RuleDef(
        rule=Rule(
            id="KP006",
            slug="max-unavailable-nonzero",
            severity=Severity.WARNING,
            title="a rolling update may take pods out of service before new ones are ready",
            protects="lost capacity, or no ready pod at all, during every rollout",
            fix="set strategy.rollingUpdate.maxUnavailable: 0 and maxSurge: 1",
            fixable=True,
        ),
        check=check_max_unavailable,
        fix=fix_max_unavailable,
        fix_order=30,
    ),
    RuleDef(
        rule=Rule(
            id="KP016",
            slug="recreate-strategy",
            severity=Severity.WARNING,
            title="the Deployment uses strategy Recreate",
            protects="an outage on every in-place rollout: all old pods stop before new ones start",
            fix="use RollingUpdate with maxUnavailable: 0 (unless pods cannot run side by side)",
            fixable=False,
        ),
        check=check_recreate,
    ),
)
