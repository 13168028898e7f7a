"""Which objects make up an app, and how a live audit of it is configured.

An app is its Service and everything that concerns it: every Deployment whose pod
template the Service's selector (without the track label) matches — all tracks, idle
ones too —, the other Services over those pods (KP017: they move with the app, or stop
its releases), the PodDisruptionBudgets and HorizontalPodAutoscalers that concern those
Deployments, and the pods the Service selects (which is how KP012 sees a stray pod of
another app). :mod:`kprism.ops.doctor` reads the objects; the choice is made here.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from kprism.model.release import ANNOTATION_RELEASE, LABEL_MANAGED, Phase
from kprism.plan.doctor.config import DEFAULT_CONFIG, DoctorConfig
from kprism.plan.doctor.objects import (
    as_map,
    dig,
    label_selector_matches,
    selector_matches,
    service_selector,
    str_map,
)

Obj = dict[str, Any]


def name_of(obj: Mapping[str, Any]) -> str:
    """``metadata.name``, or ``""``."""
    return str(dig(obj, "metadata", "name") or "")


def namespace_of(obj: Mapping[str, Any]) -> str:
    """``metadata.namespace``, or ``""``."""
    return str(dig(obj, "metadata", "namespace") or "")


def template_labels(deployment: Mapping[str, Any]) -> dict[str, str]:
    """The labels of a Deployment's pod template."""
    return str_map(dig(deployment, "spec", "template", "metadata", "labels"))


def release_in_progress(service: Mapping[str, Any]) -> bool:
    """Whether the Service's ``kprism.dev/release`` annotation has a non-terminal phase."""
    raw = as_map(dig(service, "metadata", "annotations")).get(ANNOTATION_RELEASE)
    if not isinstance(raw, str) or not raw:
        return False
    try:
        phase = Phase(json.loads(raw).get("phase"))
    except (ValueError, TypeError, AttributeError):
        return False  # not a kprism status: `kprism status` explains that one
    return not phase.terminal


def app_objects(
    service: Obj,
    *,
    deployments: Iterable[Obj],
    pdbs: Iterable[Obj],
    hpas: Iterable[Obj],
    pods: Iterable[Obj],
    track_label: str = DEFAULT_CONFIG.track_label,
    services: Iterable[Obj] = (),
) -> list[Obj]:
    """The objects of the app behind ``service``, picked from what its namespace holds.

    Deployments whose pod template matches the Service's selector without the track
    label (every track); the other ``services`` whose selector, without the track label,
    matches one of those pod templates or pods; PDBs selecting one of their pods; HPAs
    scaling one of them; pods the full selector matches. The Service comes first.
    """
    ns = namespace_of(service)
    selector = service_selector(service)
    app_sel = {k: v for k, v in selector.items() if k != track_label} or selector
    deps = [
        d
        for d in deployments
        if namespace_of(d) == ns and selector_matches(app_sel, template_labels(d))
    ]
    picked_pods = [
        p
        for p in pods
        if namespace_of(p) == ns
        and selector_matches(selector, str_map(dig(p, "metadata", "labels")))
    ]
    labels = [template_labels(d) for d in deps] + [
        str_map(dig(p, "metadata", "labels")) for p in picked_pods
    ]
    picked_pdbs = [
        p
        for p in pdbs
        if namespace_of(p) == ns
        and any(label_selector_matches(dig(p, "spec", "selector"), lb) for lb in labels)
    ]
    names = {name_of(d) for d in deps}
    picked_hpas = [
        h
        for h in hpas
        if namespace_of(h) == ns
        and dig(h, "spec", "scaleTargetRef", "kind") == "Deployment"
        and dig(h, "spec", "scaleTargetRef", "name") in names
    ]
    others = [
        s
        for s in services
        if namespace_of(s) == ns
        and name_of(s) != name_of(service)
        and (own := {k: v for k, v in service_selector(s).items() if k != track_label})
        and any(selector_matches(own, lb) for lb in labels)
    ]
    return [service, *others, *deps, *picked_pdbs, *picked_hpas, *picked_pods]


def is_app_service(service: Obj, deployments: Sequence[Obj], track_label: str) -> bool:
    """A Service kprism could release: it selects, by labels besides the track label,
    the pods of at least one Deployment, and is not a preview Service kprism manages."""
    if str_map(dig(service, "metadata", "labels")).get(LABEL_MANAGED) == "kprism":
        return False
    app_sel = {k: v for k, v in service_selector(service).items() if k != track_label}
    return bool(app_sel) and any(
        namespace_of(d) == namespace_of(service) and selector_matches(app_sel, template_labels(d))
        for d in deployments
    )


def live_config(
    config: DoctorConfig, *, track_label: str, namespace: str, service: Mapping[str, Any]
) -> DoctorConfig:
    """``config`` for one live app: its track label and namespace, every PDB known (all
    of the namespace were read), and KP013 off while a release is in progress (a canary
    by replica counts selects both tracks on purpose)."""
    ignore = set(config.ignore)
    if release_in_progress(service):
        ignore.add("KP013")
    return replace(
        config,
        track_label=track_label,
        expect_pdb=True,
        default_namespace=namespace,
        ignore=frozenset(ignore),
    )


__all__ = [
    "app_objects",
    "is_app_service",
    "live_config",
    "name_of",
    "namespace_of",
    "release_in_progress",
    "template_labels",
]
