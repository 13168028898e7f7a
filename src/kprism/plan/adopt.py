"""Adopt: bring an existing Deployment + Service into track form with zero downtime.

Two starting points (both seen in the wild, the second is the seed's):

A. The Deployment already selects by the track label (``app: hello, color: blue``) but
   the Service does not (``app: hello``): pin the Service to that track.
B. The Deployment's (immutable) selector has no track label: clone it into a track
   Deployment ``<name>-<track>``, wait until every clone pod is ready, point the
   Service at the track, verify the EndpointSlices, then delete the original.

``decide_adopt`` is level-triggered like every planner: run it again after a crash and
it continues from what the cluster shows.
"""

from __future__ import annotations

import copy
from typing import Any

from kprism.errors import UsageError
from kprism.model.actions import CreateDeployment, DeleteDeployment, SetSelector
from kprism.model.observed import AppObs, DeploymentObs
from kprism.model.release import ANNOTATION_MANAGED
from kprism.plan.converge import ConvergeStep

AdoptStep = ConvergeStep


def clone_name(original: str, track: str) -> str:
    return f"{original}-{track}"


def _clone_body(orig: DeploymentObs, *, label: str, track: str) -> dict[str, Any]:
    template: dict[str, Any] = copy.deepcopy(dict(orig.template))
    meta = template.setdefault("metadata", {})
    meta["labels"] = {**meta.get("labels", {}), label: track}
    annotations = {
        k: v
        for k, v in orig.annotations.items()
        if k
        not in (
            "deployment.kubernetes.io/revision",
            "kubectl.kubernetes.io/last-applied-configuration",
        )
    }
    annotations[ANNOTATION_MANAGED] = f"kprism adopt of {orig.name}"
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": clone_name(orig.name, track),
            "labels": {**orig.labels, label: track},
            "annotations": annotations,
        },
        "spec": {
            "replicas": orig.replicas,
            "selector": {"matchLabels": {**orig.selector, label: track}},
            "strategy": copy.deepcopy(dict(orig.strategy)) or {"type": "RollingUpdate"},
            "template": template,
        },
    }


def decide_adopt(obs: AppObs, *, track: str) -> AdoptStep:
    """The next adopt step for ``obs``; ``track`` names the track the live version becomes."""
    label = obs.track_label
    svc = obs.service
    untracked = [d for d in obs.deployments if d.track is None]
    tracked = [d for d in obs.deployments if d.track is not None]
    serving = obs.serving_track()
    pin = SetSelector(
        service=svc.name, selector={**obs.app_selector, label: track}, previous=dict(svc.selector)
    )

    if len(untracked) > 1:
        names = ", ".join(d.name for d in untracked)
        raise UsageError(
            f"Service {svc.name} selects several Deployments without a {label!r} label ({names}): adopt one app at a time"
        )
    if untracked:
        orig = untracked[0]
        name = clone_name(orig.name, track)
        clone = obs.deployment(name)
        other = obs.track(track)
        if other is not None and other.name != name:
            raise UsageError(
                f"track {label}={track} already belongs to Deployment {other.name}: choose another with --track"
            )
        if clone is None:
            return AdoptStep(
                actions=(
                    CreateDeployment(name=name, body=_clone_body(orig, label=label, track=track)),
                )
            )
        ready = obs.ready_pods(track)
        if not (clone.rolled_out and len(ready) >= orig.replicas):
            return AdoptStep(waiting=f"waiting for {name}: {len(ready)}/{orig.replicas} ready")
        if serving != track:
            return AdoptStep(actions=(pin,))
        if obs.endpoints != ready:
            return AdoptStep(
                waiting=f"verifying Service {svc.name} endpoints are the {len(ready)} pods of {name}"
            )
        return AdoptStep(actions=(DeleteDeployment(name=orig.name),))

    if serving is not None:
        if obs.track(serving) is None:
            raise UsageError(
                f"Service {svc.name} selects {label}={serving} but no Deployment has that track"
            )
        ready = obs.ready_pods(serving)
        if obs.endpoints and obs.endpoints == ready:
            return AdoptStep(
                done=True, message=f"app {svc.name} is in track form: {label}={serving} serves"
            )
        return AdoptStep(
            waiting=f"verifying Service {svc.name} endpoints are the pods of {label}={serving}"
        )
    live = [d for d in tracked if obs.ready_pods(d.track or "")]
    if not live:
        raise UsageError(f"app {svc.name} has no ready pods to adopt")
    if len(live) > 1:
        tracks = ", ".join(f"{d.track} ({d.name})" for d in live)
        chosen = next((d for d in live if d.track == track), None)
        if chosen is None:
            raise UsageError(
                f"Service {svc.name} sends traffic to several tracks ({tracks}): say which is stable with --track"
            )
        live = [chosen]
    only = live[0]
    assert only.track is not None
    return AdoptStep(
        actions=(
            SetSelector(
                service=svc.name,
                selector={**obs.app_selector, label: only.track},
                previous=dict(svc.selector),
            ),
        )
    )
