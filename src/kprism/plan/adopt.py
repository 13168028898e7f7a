"""Adopt: bring an existing Deployment + Service into track form with zero downtime.

Two starting points (both seen in the wild, the second is the seed's):

A. The Deployment already selects by the track label (``app: hello, color: blue``) but
   the Service does not (``app: hello``): pin the Service to that track.
B. The Deployment's (immutable) selector has no track label: clone it into a track
   Deployment ``<name>-<track>``, wait until every clone pod is ready, point the
   Service at the track, verify the EndpointSlices, point the original's
   HorizontalPodAutoscaler (podinfo's) at the clone with the same bounds, then delete the
   original.

Every other Service over the app's pods (Online Boutique's ``frontend-external``) is
pinned with the app's Service and verified the same way, so later releases move them
together (:mod:`kprism.plan.siblings`); the message names them. One that cannot be
moved (its selector reaches beyond the app) is named too: releases refuse it.

``decide_adopt`` is level-triggered like every planner: run it again after a crash and
it continues from what the cluster shows.
"""

from __future__ import annotations

import copy
from typing import Any

from kprism.errors import UsageError
from kprism.model.actions import CreateDeployment, DeleteDeployment, EnsureHpa
from kprism.model.observed import AppObs, DeploymentObs
from kprism.model.release import ANNOTATION_MANAGED
from kprism.plan import siblings as sib
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
            return AdoptStep(actions=sib.select(obs, track))
        if sib.follow(obs):
            return AdoptStep(actions=sib.follow(obs))
        if obs.endpoints != ready or not sib.endpoints_agree(obs):
            return AdoptStep(
                waiting=f"verifying Service {svc.name} endpoints are the {len(ready)} pods of {name}"
                f"{sib.lag_note(obs)}"
            )
        moves = tuple(
            EnsureHpa(
                name=h.name, target=name, min_replicas=h.min_replicas, max_replicas=h.max_replicas
            )
            for h in obs.hpas
            if h.target == orig.name
        )
        if moves:  # the clone takes over the original's autoscaler before it goes
            return AdoptStep(actions=moves)
        return AdoptStep(actions=(DeleteDeployment(name=orig.name),))

    if serving is not None:
        if obs.track(serving) is None:
            raise UsageError(
                f"Service {svc.name} selects {label}={serving} but no Deployment has that track"
            )
        if sib.follow(obs):
            return AdoptStep(actions=sib.follow(obs))
        ready = obs.ready_pods(serving)
        if obs.endpoints and obs.endpoints == ready and sib.endpoints_agree(obs):
            return AdoptStep(done=True, message=_adopted(obs, serving))
        return AdoptStep(
            waiting=f"verifying Service {svc.name} endpoints are the pods of {label}={serving}"
            f"{sib.lag_note(obs)}"
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
    return AdoptStep(actions=sib.select(obs, only.track))


def _adopted(obs: AppObs, serving: str) -> str:
    """The done message: what serves, which other Services moved with it, and which
    cannot (a release refuses those)."""
    msg = f"app {obs.service.name} is in track form: {obs.track_label}={serving} serves"
    moved = sib.movables(obs)
    if moved:
        one = len(moved) == 1
        msg += (
            f"; Service{'' if one else 's'} {sib.names(moved)} "
            f"{'selects' if one else 'select'} it too and {'moves' if one else 'move'} with it"
        )
    for other in sib.unmovable(obs):
        msg += f"; warning: {sib.unmovable_reason(obs, other)}"
    return msg
