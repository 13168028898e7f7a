"""Views of the objects the rules judge, and the small readers every rule uses.

The rules take Kubernetes objects as plain dicts, exactly as ``kubectl get -o json``, the
API server or a parsed manifest give them, and must survive garbage in any field: the
readers here (:func:`as_map`, :func:`dig`, :func:`as_int`, …) never raise.
:func:`classify` sorts the objects by kind once, so that each rule looks only at what
concerns it.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Generic, TypeVar

from kprism.plan.doctor.base import IGNORE_ANNOTATION, ObjectRef, Rule

if TYPE_CHECKING:
    from kprism.plan.doctor.config import DoctorConfig

T = TypeVar("T")

#: Where a Deployment keeps its containers.
CONTAINERS: Final = "/spec/template/spec/containers"


def as_map(value: object) -> Mapping[str, Any]:
    """``value`` if it is a mapping, else ``{}``."""
    return value if isinstance(value, Mapping) else {}


def as_list(value: object) -> list[Any]:
    """``value`` as a list if it is a list or tuple, else ``[]``."""
    return list(value) if isinstance(value, list | tuple) else []


def dig(obj: object, *keys: str) -> Any:
    """``obj[k1][k2]...``, or None as soon as a step is missing or not a mapping."""
    for key in keys:
        if not isinstance(obj, Mapping):
            return None
        obj = obj.get(key)
    return obj


def str_map(value: object) -> dict[str, str]:
    """A mapping's keys and values as strings (labels, selectors); ``{}`` for anything else."""
    return {str(k): str(v) for k, v in as_map(value).items()}


def as_int(value: object) -> int | None:
    """An int, or a string of digits; None for anything else (bools included)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def fmt_seconds(seconds: float) -> str:
    """``5`` → ``"5s"``, ``0.5`` → ``"0.5s"``."""
    return f"{seconds:g}s"


def scaled(value: object, total: int, *, round_up: bool) -> int | None:
    """Resolve an int-or-percent field (``1``, ``"25%"``) against ``total``."""
    if isinstance(value, str) and value.strip().endswith("%"):
        try:
            pct = float(value.strip()[:-1])
        except ValueError:
            return None
        exact = total * pct / 100
        return math.ceil(exact) if round_up else math.floor(exact)
    return as_int(value)


def selector_matches(selector: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    """A Service-style equality selector; an empty one selects nothing."""
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def label_selector_matches(selector: object, labels: Mapping[str, str]) -> bool:
    """A ``metav1.LabelSelector``; ``{}`` matches everything, a missing one nothing."""
    if not isinstance(selector, Mapping):
        return False
    if any(labels.get(k) != v for k, v in str_map(selector.get("matchLabels")).items()):
        return False
    for expr in as_list(selector.get("matchExpressions")):
        key = str(as_map(expr).get("key", ""))
        op = str(as_map(expr).get("operator", ""))
        values = {str(v) for v in as_list(as_map(expr).get("values"))}
        ok = {
            "In": key in labels and labels[key] in values,
            "NotIn": key not in labels or labels[key] not in values,
            "Exists": key in labels,
            "DoesNotExist": key not in labels,
        }.get(op, False)
        if not ok:
            return False
    return True


def service_selector(service: Mapping[str, Any]) -> dict[str, str]:
    """A Service's pod selector; ``{}`` for an ExternalName Service or none."""
    if dig(service, "spec", "type") == "ExternalName":
        return {}
    return str_map(dig(service, "spec", "selector"))


# ------------------------------------------------------------------- object views


@dataclass(frozen=True, kw_only=True)
class Obj:
    """One object given to ``audit``, its position there, and the rules it silences."""

    index: int
    ref: ObjectRef
    body: Mapping[str, Any]
    ignored: frozenset[str]  # lower-case ids/slugs from the doctor-ignore annotation, or "all"

    def ignores(self, rule: Rule) -> bool:
        """Whether the object's ``kprism.dev/doctor-ignore`` annotation silences ``rule``."""
        return bool(self.ignored & {"all", "*", rule.id.lower(), rule.slug})


@dataclass(frozen=True, kw_only=True)
class Deployment(Obj):
    """A Deployment with its pod template read once."""

    replicas: int
    pod_labels: dict[str, str]
    app: str | None
    pod_spec: Mapping[str, Any]
    containers: list[tuple[int, Mapping[str, Any]]]


class LabelIndex(Generic[T]):
    """Objects by their labels, per namespace: which of them an equality selector matches.

    Each object is filed under every ``(namespace, key, value)`` of its labels; a query
    looks only at the smallest bucket among the selector's pairs and checks the full
    selector there. Matching every Service against every Deployment of a 5 MB manifest
    is quadratic; this is not. ``comparisons`` counts the full checks made.
    """

    def __init__(self, items: Iterable[tuple[str, Mapping[str, str], T]]) -> None:
        self._by: dict[tuple[str, str, str], list[tuple[Mapping[str, str], T]]] = {}
        for namespace, labels, item in items:
            for key, value in labels.items():
                self._by.setdefault((namespace, key, value), []).append((labels, item))
        self.comparisons = 0

    def matching(self, namespace: str, selector: Mapping[str, str]) -> list[T]:
        """The objects in ``namespace`` whose labels ``selector`` matches (none for ``{}``)."""
        if not selector:
            return []
        buckets = [self._by.get((namespace, k, v), []) for k, v in selector.items()]
        smallest = min(buckets, key=len)
        self.comparisons += len(smallest)
        return [item for labels, item in smallest if selector_matches(selector, labels)]


@dataclass(frozen=True, kw_only=True)
class Objects:
    """The objects of one audit by kind; anything else is ignored.

    The relations between them (which Deployments and pods a Service selects, which
    Deployments a PDB covers, which HPAs scale a Deployment) are computed once, through
    indexes, on first use.
    """

    deployments: list[Deployment] = field(default_factory=list)
    services: list[Obj] = field(default_factory=list)
    pdbs: list[Obj] = field(default_factory=list)
    hpas: list[Obj] = field(default_factory=list)
    pods: list[Obj] = field(default_factory=list)
    track_label: str = "color"

    @functools.cached_property
    def deployment_index(self) -> LabelIndex[Deployment]:
        """The Deployments by the labels of their pod template."""
        return LabelIndex((d.ref.namespace, d.pod_labels, d) for d in self.deployments)

    @functools.cached_property
    def pod_index(self) -> LabelIndex[Obj]:
        """The bare Pods by their labels."""
        return LabelIndex(
            (p.ref.namespace, str_map(dig(p.body, "metadata", "labels")), p) for p in self.pods
        )

    def selected(self, service: Obj) -> list[Deployment]:
        """The Deployments whose pods the Service's selector matches."""
        return self.deployment_index.matching(service.ref.namespace, service_selector(service.body))

    def selected_pods(self, service: Obj) -> list[Obj]:
        """The bare Pods the Service's selector matches."""
        return self.pod_index.matching(service.ref.namespace, service_selector(service.body))

    @functools.cached_property
    def _app_selected(self) -> frozenset[int]:
        """Positions of the Deployments a Service selects by its labels besides the track
        label: every track of an app, the idle one too."""
        out: set[int] = set()
        for svc in self.services:
            app_sel = {k: v for k, v in service_selector(svc.body).items() if k != self.track_label}
            out.update(d.index for d in self.deployment_index.matching(svc.ref.namespace, app_sel))
        return frozenset(out)

    def serves(self, d: Deployment) -> bool:
        """Whether ``d`` may get Service traffic: a container declares a port, a Service
        selects its pods, or no Service of its namespace is known (a lone file)."""
        if any(as_list(c.get("ports")) for _, c in d.containers):
            return True
        if d.ref.namespace not in {s.ref.namespace for s in self.services}:
            return True
        return d.index in self._app_selected

    @functools.cached_property
    def _covered(self) -> dict[int, list[Deployment]]:
        out: dict[int, list[Deployment]] = {}
        by_ns: dict[str, list[Deployment]] = {}
        for d in self.deployments:
            by_ns.setdefault(d.ref.namespace, []).append(d)
        for p in self.pdbs:
            selector = dig(p.body, "spec", "selector")
            match = str_map(as_map(selector).get("matchLabels"))
            ns = p.ref.namespace
            candidates = self.deployment_index.matching(ns, match) if match else by_ns.get(ns, [])
            out[p.index] = [d for d in candidates if label_selector_matches(selector, d.pod_labels)]
        return out

    def covered_by(self, pdb: Obj) -> list[Deployment]:
        """The Deployments whose pods the PodDisruptionBudget selects."""
        return self._covered.get(pdb.index, [])

    @functools.cached_property
    def _covering(self) -> frozenset[int]:
        return frozenset(d.index for ds in self._covered.values() for d in ds)

    def has_pdb(self, d: Deployment) -> bool:
        """Whether a PodDisruptionBudget selects the pods of ``d``."""
        return d.index in self._covering

    @functools.cached_property
    def _hpas(self) -> dict[tuple[str, str], list[Obj]]:
        out: dict[tuple[str, str], list[Obj]] = {}
        for h in self.hpas:
            target = hpa_target(h)
            if target is not None:
                out.setdefault((h.ref.namespace, target), []).append(h)
        return out

    def hpas_of(self, d: Deployment) -> list[Obj]:
        """The HPAs that scale ``d``."""
        return self._hpas.get((d.ref.namespace, d.ref.name), [])


def _ignored(*annotation_maps: object) -> frozenset[str]:
    names: set[str] = set()
    for notes in annotation_maps:
        raw = as_map(notes).get(IGNORE_ANNOTATION)
        if isinstance(raw, str):
            names.update(n for n in re.split(r"[,\s]+", raw.strip().lower()) if n)
    return frozenset(names)


def app_of(labels: Mapping[str, str], config: DoctorConfig) -> str | None:
    """The app a pod belongs to by ``config.app_labels`` (first match wins), or None."""
    for key in config.app_labels:
        if labels.get(key):
            return labels[key]
    return None


def _deployment(
    index: int, ref: ObjectRef, obj: Mapping[str, Any], config: DoctorConfig
) -> Deployment:
    meta = as_map(obj.get("metadata"))
    template = as_map(dig(obj, "spec", "template"))
    tmeta = as_map(template.get("metadata"))
    pod_spec = as_map(template.get("spec"))
    labels = str_map(tmeta.get("labels"))
    replicas = as_int(dig(obj, "spec", "replicas"))
    containers = [
        (i, c) for i, c in enumerate(as_list(pod_spec.get("containers"))) if isinstance(c, Mapping)
    ]
    return Deployment(
        index=index,
        ref=ref,
        body=obj,
        ignored=_ignored(meta.get("annotations"), tmeta.get("annotations")),
        replicas=1 if replicas is None else replicas,
        pod_labels=labels,
        app=app_of(labels, config),
        pod_spec=pod_spec,
        containers=containers,
    )


def classify(objects: Sequence[Mapping[str, Any]], config: DoctorConfig) -> Objects:
    """Sort ``objects`` by kind; an unset namespace is ``config.default_namespace``."""
    out = Objects(track_label=config.track_label)
    buckets = {
        "Service": out.services,
        "PodDisruptionBudget": out.pdbs,
        "HorizontalPodAutoscaler": out.hpas,
        "Pod": out.pods,
    }
    for index, obj in enumerate(objects):
        kind = str(obj.get("kind", ""))
        meta = as_map(obj.get("metadata"))
        ref = ObjectRef(
            kind=kind,
            namespace=str(meta.get("namespace") or config.default_namespace),
            name=str(meta.get("name") or "<unnamed>"),
        )
        if kind == "Deployment":
            out.deployments.append(_deployment(index, ref, obj, config))
        elif kind in buckets:
            ignored = _ignored(meta.get("annotations"))
            buckets[kind].append(Obj(index=index, ref=ref, body=obj, ignored=ignored))
    return out


def hpa_target(hpa: Obj) -> str | None:
    """The name of the Deployment an HPA scales, or None."""
    ref = as_map(dig(hpa.body, "spec", "scaleTargetRef"))
    return str(ref.get("name")) if ref.get("kind") == "Deployment" and ref.get("name") else None


def hpa_min(hpa: Obj) -> int:
    """An HPA's ``minReplicas`` (1 when unset)."""
    value = as_int(dig(hpa.body, "spec", "minReplicas"))
    return 1 if value is None else value


__all__ = [
    "CONTAINERS",
    "Deployment",
    "LabelIndex",
    "Obj",
    "Objects",
    "app_of",
    "as_int",
    "as_list",
    "as_map",
    "classify",
    "dig",
    "fmt_seconds",
    "hpa_min",
    "hpa_target",
    "label_selector_matches",
    "scaled",
    "selector_matches",
    "service_selector",
    "str_map",
]
