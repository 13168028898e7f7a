"""Compute a track's Deployment from the stable one: the clone in "clone a new version".

Pure functions over plain JSON dicts. The stable pod template is copied verbatim
(every field kprism does not know is kept) and only the requested change and the
track label are applied.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Mapping
from typing import Any

from kprism.errors import UsageError
from kprism.model.observed import DeploymentObs
from kprism.model.release import (
    ANNOTATION_MANAGED,
    ANNOTATION_TEMPLATE_HASH,
    Change,
)

# Set by the API server or controllers; never copied into a new Deployment.
_DROP_ANNOTATIONS = (
    "deployment.kubernetes.io/revision",
    "kubectl.kubernetes.io/last-applied-configuration",
    "argocd.argoproj.io/tracking-id",  # a track is kprism's, not the GitOps tool's
)


def template_hash(template: Mapping[str, Any]) -> str:
    data = json.dumps(template, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(data).hexdigest()[:12]


def _containers(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return list(spec.get("containers", [])) + list(spec.get("initContainers", []))


def _find_container(spec: dict[str, Any], name: str, *, what: str) -> dict[str, Any]:
    main = spec.get("containers", [])
    if name == "":
        if len(main) == 1:
            return dict(main[0]) and main[0]
        names = ", ".join(c["name"] for c in main)
        raise UsageError(
            f"{what}: the pod has several containers ({names}): name one, e.g. {main[0]['name']}=..."
        )
    for c in _containers(spec):
        if c.get("name") == name:
            return c
    names = ", ".join(c["name"] for c in _containers(spec))
    raise UsageError(f"{what}: container {name!r} does not exist (containers: {names})")


def merge(base: Any, patch: Any) -> Any:
    """Merge ``patch`` into ``base``: maps recursively, lists of named maps by name,
    ``None`` deletes a key, anything else replaces."""
    if isinstance(base, Mapping) and isinstance(patch, Mapping):
        out = dict(base)
        for k, v in patch.items():
            if v is None:
                out.pop(k, None)
            else:
                out[k] = merge(base.get(k), v)
        return out
    if (
        isinstance(base, list)
        and isinstance(patch, list)
        and all(isinstance(x, Mapping) and "name" in x for x in base + patch)
    ):
        merged = [dict(x) for x in base]
        for item in patch:
            for i, existing in enumerate(merged):
                if existing["name"] == item["name"]:
                    merged[i] = merge(existing, item)
                    break
            else:
                merged.append(dict(item))
        return merged
    return copy.deepcopy(patch)


def apply_change(template: Mapping[str, Any], change: Change) -> dict[str, Any]:
    """The pod template with ``change`` applied (its whole ``template`` if it has one,
    then images, env, merge patch)."""
    t: dict[str, Any] = copy.deepcopy(dict(change.template or template))
    spec = t.setdefault("spec", {})
    for cname, image in change.images.items():
        _find_container(spec, cname, what=f"--image {cname + '=' if cname else ''}{image}")[
            "image"
        ] = image
    for cname, env in change.env.items():
        c = _find_container(spec, cname, what="--set-env")
        current = list(c.get("env", []))
        for name, value in env.items():
            current = [e for e in current if e.get("name") != name] + [
                {"name": name, "value": value}
            ]
        c["env"] = current
    if change.patch:
        t = merge(t, change.patch)
    return t


def with_track(template: Mapping[str, Any], *, label: str, track: str) -> dict[str, Any]:
    t: dict[str, Any] = copy.deepcopy(dict(template))
    meta = t.setdefault("metadata", {})
    meta["labels"] = {**meta.get("labels", {}), label: track}
    return t


def track_deployment_name(stable_name: str, stable_track: str, track: str) -> str:
    suffix = f"-{stable_track}"
    base = stable_name[: -len(suffix)] if stable_name.endswith(suffix) else stable_name
    name = f"{base}-{track}"
    if len(name) > 253:
        raise UsageError(f"Deployment name {name!r} would be longer than 253 characters")
    return name


def track_deployment(
    stable: DeploymentObs,
    *,
    name: str,
    label: str,
    track: str,
    template: Mapping[str, Any],
    replicas: int,
    release_id: str,
) -> dict[str, Any]:
    """A full Deployment manifest for a new track cloned from ``stable``."""
    annotations = {k: v for k, v in stable.annotations.items() if k not in _DROP_ANNOTATIONS}
    annotations[ANNOTATION_TEMPLATE_HASH] = template_hash(template)
    annotations[ANNOTATION_MANAGED] = f"kprism release {release_id}"
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": name,
            "labels": {**stable.labels, label: track},
            "annotations": annotations,
        },
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {**stable.selector, label: track}},
            "strategy": copy.deepcopy(dict(stable.strategy)) or {"type": "RollingUpdate"},
            "template": copy.deepcopy(dict(template)),
        },
    }
