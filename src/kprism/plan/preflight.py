"""Release pre-flight and description: pure checks on an observed app.

Which track serves, which one is idle, whether the Service selects one app, whether an
HPA stands in the way, whether another Service over the app's pods could not move with
it, and the human-readable list of steps a release will take. No I/O:
:mod:`kprism.ops` observes, calls these, and raises their errors before changing anything.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from kprism.errors import UsageError
from kprism.model.observed import AppObs, DeploymentObs
from kprism.model.release import Kind, ReleaseStatus
from kprism.model.routing import exact_weights
from kprism.model.steps import Analysis
from kprism.plan import siblings as sib
from kprism.plan.analysis import describe_run
from kprism.plan.validate import check_track

PALETTE = ("blue", "green")
#: A track that numbers versions: ``v1``, ``v2``, ``release-3``.
_NUMBERED = re.compile(r"(\D*?)(\d+)")


def check_single_app(obs: AppObs) -> None:
    """A Service must select the pods of exactly one app."""
    identities: dict[tuple[tuple[str, str], ...], list[str]] = {}
    for d in obs.deployments:
        ident = tuple(sorted((k, v) for k, v in d.selector.items() if k != obs.track_label))
        identities.setdefault(ident, []).append(d.name)
    groups = [g for g in identities.values() if g]
    if len(identities) > 1:
        # Several selectors are fine when one is a subset of the others (a pre-track original).
        keys = [dict(k) for k in identities]
        names = {tuple(sorted(k.items())) for k in keys}
        app_values = {
            next(
                (
                    d.template.get("metadata", {}).get("labels", {}).get(lbl)
                    for lbl in ("app.kubernetes.io/name", "app")
                    if d.template.get("metadata", {}).get("labels", {}).get(lbl)
                ),
                None,
            )
            for d in obs.deployments
        }
        if len(app_values - {None}) > 1 or (len(names) > 1 and not _nested(keys)):
            hint = track_label_hint(obs)
            if hint is not None and len(app_values - {None}) <= 1:
                deps = ", ".join(sorted(d.name for d in obs.deployments))
                raise UsageError(
                    f"Deployments {deps} of Service {obs.service.name} differ only by label {hint}: "
                    f"they look like tracks of one app told apart by {hint!r}, not by "
                    f"{obs.track_label!r}: pass --track-label {hint} (adopt stores it on the Service)"
                )
            listing = "; ".join(", ".join(g) for g in groups)
            raise UsageError(
                f"Service {obs.service.name} selects pods of more than one app (Deployments: {listing}): "
                f"narrow its selector (now {fmt_labels(obs.service.selector)}) to one app's labels"
            )


#: Selector labels that tell versions of one app apart in public manifests (Istio's
#: Bookinfo: ``version``), suggested as the track label when kprism uses another.
TRACK_LIKE_LABELS = ("version", "track", "color", "colour", "slot", "variant")


def track_label_hint(obs: AppObs) -> str | None:
    """A label of the app's Deployment selectors that looks like its track label while
    ``obs.track_label`` is another: the one key whose value differs between Deployments
    whose selectors have the same keys (Bookinfo's reviews-v1/v2/v3: ``version``), or
    for a single Deployment a well-known version label. None when nothing fits."""
    sels = [dict(d.selector) for d in obs.deployments if obs.track_label not in d.selector]
    if not sels or any(set(s) != set(sels[0]) for s in sels):
        return None
    keys = [k for k in sorted(sels[0]) if k not in obs.service.selector]
    if len(sels) > 1:
        differ = [k for k in keys if len({s[k] for s in sels}) > 1]
        return differ[0] if len(differ) == 1 else None
    return next((k for k in TRACK_LIKE_LABELS if k in keys), None)


def _nested(keys: list[dict[str, str]]) -> bool:
    keys = sorted(keys, key=len)
    return all(set(keys[i].items()) <= set(keys[i + 1].items()) for i in range(len(keys) - 1))


def fmt_labels(sel: Mapping[str, Any]) -> str:
    """``app=web,color=blue`` (sorted), or ``<empty>``."""
    return ",".join(f"{k}={v}" for k, v in sorted(dict(sel).items())) or "<empty>"


def _live_tracks(obs: AppObs) -> list[DeploymentObs]:
    return [
        d
        for d in obs.deployments
        if d.track is not None and (d.replicas > 0 or obs.ready_pods(d.track))
    ]


def stable_track(obs: AppObs, requested: str | None) -> DeploymentObs:
    """The track serving traffic now (the Service pins it, or the only live one)."""
    serving = obs.serving_track()
    untracked = [d for d in obs.deployments if d.track is None]
    if serving is not None:
        dep = obs.track(serving)
        if dep is None:
            raise UsageError(
                f"Service {obs.service.name} selects {obs.track_label}={serving} but no Deployment of the app "
                f"has pods with that label: create it, or fix the Service selector"
            )
        if requested and requested != serving:
            raise UsageError(f"--stable {requested}: Service {obs.service.name} serves {serving}")
        return dep
    if untracked:
        hint = track_label_hint(obs)
        also = (
            f"; if its label {hint}={untracked[0].selector[hint]} tells your tracks apart, run "
            f"`kprism adopt {obs.service.name} --track-label {hint}` instead"
            if hint is not None
            else ""
        )
        raise UsageError(
            f"Deployment {untracked[0].name} has no {obs.track_label!r} label in its selector: run "
            f"`kprism adopt {obs.service.name}` first to bring the app to track form{also}"
        )
    live = _live_tracks(obs)
    if requested:
        dep = obs.track(requested)
        if dep is None:
            raise UsageError(
                f"--stable {requested}: no Deployment of app {obs.service.name} has that track"
            )
        return dep
    if len(live) == 1:
        return live[0]
    if not live:
        raise UsageError(
            f"app {obs.service.name} has no Deployment with ready pods to release from"
        )
    names = ", ".join(f"{d.track} ({d.name})" for d in live)
    raise UsageError(
        f"Service {obs.service.name} has no {obs.track_label!r} in its selector and selects several live tracks "
        f"({names}): say which one is stable with --stable TRACK"
    )


def candidate_track(obs: AppObs, stable: DeploymentObs, requested: str | None) -> str:
    assert stable.track is not None
    if requested:
        check_track(requested, label=obs.track_label)
        if requested == stable.track:
            raise UsageError(f"--track {requested} is the stable track: name an idle track")
        return requested
    numbered = _NUMBERED.fullmatch(stable.track)
    if numbered is not None and stable.track not in PALETTE:
        # Tracks that are versions (Bookinfo's v1, v2, v3): a release is the next version,
        # never an idle variant reused nor version=blue.
        prefix = numbered.group(1)
        top = max(
            int(m.group(2))
            for d in obs.deployments
            if d.track and (m := _NUMBERED.fullmatch(d.track)) and m.group(1) == prefix
        )
        return f"{prefix}{top + 1}"
    for color in PALETTE:
        if color == stable.track:
            continue
        dep = obs.track(color)
        if dep is None or dep.replicas == 0:
            return color
    idle = [
        d.track for d in obs.deployments if d.track and d.track != stable.track and d.replicas == 0
    ]
    if idle:
        return idle[0]
    if stable.track not in PALETTE:
        return PALETTE[0]
    busy = ", ".join(
        f"{d.track} ({d.name}, {d.replicas} replicas)"
        for d in obs.deployments
        if d.track != stable.track
    )
    raise UsageError(
        f"no idle track for app {obs.service.name}: {busy} — scale one to 0 (`kprism scale "
        f"{obs.service.name} --track T --replicas 0`) or name another with --track"
    )


def check_siblings(obs: AppObs, *, force: bool) -> None:
    """Refuse a release while another Service selects the app's pods in a way kprism
    cannot move with the app (its selector reaches beyond the app): it would serve the
    candidate before promotion. Movable ones are moved by the release itself."""
    stuck = sib.unmovable(obs)
    if stuck and not force:
        raise UsageError(
            f"{sib.unmovable_reason(obs, stuck[0])} — or pass --force to release anyway"
        )


def _services(obs: AppObs) -> str:
    """``Service web`` or ``Services web, web-external`` (the app's and those moving with it)."""
    names = [obs.service.name, *(s.name for s in sib.movables(obs))]
    return f"Service{'s' if len(names) > 1 else ''} {', '.join(names)}"


def check_hpa(obs: AppObs, dep: DeploymentObs, *, force: bool) -> None:
    for h in obs.hpas:
        if h.target == dep.name and not force:
            raise UsageError(
                f"Deployment {dep.name} is scaled by HorizontalPodAutoscaler {h.name} "
                f"(min {h.min_replicas}, max {h.max_replicas}): a release moves traffic to another Deployment "
                "that this HPA does not scale, and scaling the old track to 0 pauses it; point the HPA at the "
                "new track after promotion (or pass --force to release anyway)"
            )


def _pin_line(obs: AppObs, stable: str) -> str | None:
    """The first step when some Service over the app's pods selects more than stable."""
    label = obs.track_label
    if obs.serving_track() is None:
        return f"pin {_services(obs)} to {label}={stable} (it selects no track yet)"
    strays = sib.strays(obs)
    if strays:
        what = "Service" if len(strays) == 1 else "Services"
        return (
            f"pin {what} {sib.names(strays)} to {label}={stable} too "
            f"(it selects the pods of {obs.service.name} by {sib.fmt(strays[0].service.selector)})"
        )
    return None


def describe_steps(st: ReleaseStatus, obs: AppObs) -> tuple[str, ...]:
    svc = obs.service.name
    label = obs.track_label
    out = []
    pin = _pin_line(obs, st.stable)
    if pin:
        out.append(pin)
    cand = obs.deployment(st.candidate_deployment)
    images = fmt_labels(st.candidate_images)
    if st.kind == Kind.ROLLBACK:
        out.append(
            f"scale Deployment {st.candidate_deployment} to {st.replicas} (unchanged template)"
        )
    elif cand is None:
        out.append(
            f"create Deployment {st.candidate_deployment} ({label}={st.candidate}, {images}) with {st.replicas} replicas"
        )
    else:
        out.append(
            f"update Deployment {st.candidate_deployment} to {images} and scale it to {st.replicas}"
        )
    fast = (
        f"; fail if a pod is stuck (ImagePullBackOff, CrashLoopBackOff, ...) for "
        f"{st.spec.fail_fast_after:g}s"
        if st.spec.fail_fast_after > 0
        else ""
    )
    out.append(
        f"wait until {st.replicas}/{st.replicas} pods of {st.candidate_deployment} are ready "
        f"(timeout {st.spec.ready_timeout:.0f}s{fast})"
    )
    if st.spec.preview:
        out.append(f"expose {st.candidate} on Service {svc}-preview and wait for its endpoints")
    bga = st.spec.analysis
    if bga is not None and bga.pre_promotion is not None:
        text = describe_run(
            st,
            bga.pre_promotion,
            bga.templates,
            app=svc,
            namespace=obs.namespace,
            service=f"{svc}-preview" if st.spec.preview else svc,
            where="prePromotion",
            gate=True,
        )
        out.append(
            f"pre-promotion analysis (must pass before the switch; inconclusive pauses): {text}"
        )
    if not st.spec.auto_promote and st.kind != Kind.ROLLBACK:
        out.append(f"wait for `kprism promote {svc}`")
    many = bool(sib.movables(obs))
    out.append(
        f"switch {_services(obs)} selector {label}: {st.stable} → {st.candidate} "
        + ("in the same step, one PATCH each" if many else "in one PATCH")
    )
    out.append(
        f"verify the EndpointSlices of {_services(obs).split(' ', 1)[1]} list exactly the "
        f"{st.candidate} pods (timeout {st.spec.verify_timeout:.0f}s)"
    )
    if bga is not None and bga.post_promotion is not None:
        text = describe_run(
            st,
            bga.post_promotion,
            bga.templates,
            app=svc,
            namespace=obs.namespace,
            where="postPromotion",
            gate=True,
        )
        out.append(
            f"post-promotion analysis during the scale-down delay (fails → switch back to "
            f"{st.stable}): {text}"
        )
    out.append(
        f"keep {st.stable_deployment} for {st.spec.scale_down_delay:.0f}s (scale-down delay), then scale it to 0"
    )
    return tuple(out)


#: Percentage points a replica-ratio step may miss its requested weight by before the
#: release warns (25% of 4 pods is exact; 25% of 1 pod is 50%).
WEIGHT_TOLERANCE = 5.0


def weight_warnings(st: ReleaseStatus, *, tolerance: float = WEIGHT_TOLERANCE) -> tuple[str, ...]:
    """Warnings for canary steps whose achievable share differs from the requested one by
    more than ``tolerance`` points (the replicas router approximates weights by pods)."""
    from kprism.plan import canary

    if exact_weights(st.spec.router):
        return ()
    out = []
    for row in canary.describe(st):
        if row["kind"] != "setWeight" or abs(row["achieved"] - row["weight"]) <= tolerance:
            continue
        out.append(
            f"step {row['index'] + 1}: {row['weight']}% requested but {row['achieved']:.3g}% "
            f"achievable with {st.replicas} replica(s) by pod ratio "
            f"({row['candidate']} {st.candidate} / {row['stable']} {st.stable} pods): add "
            "replicas or use an exact router (--router gateway)"
        )
    return tuple(out)


def describe_canary(st: ReleaseStatus, obs: AppObs) -> tuple[str, ...]:
    from kprism.plan import canary

    svc = obs.service.name
    out = []
    pin = _pin_line(obs, st.stable)
    if pin:
        out.append(pin)
    verb = "update" if obs.deployment(st.candidate_deployment) else "create"
    out.append(
        f"{verb} Deployment {st.candidate_deployment} ({obs.track_label}={st.candidate}, "
        f"{fmt_labels(st.candidate_images)}) with 0 replicas"
    )
    exact = exact_weights(st.spec.router)
    if not exact:
        out.append(f"let {_services(obs)} select both tracks (traffic follows the ready-pod ratio)")
    else:
        out.append(
            f"route traffic with the {st.spec.router} router ({fmt_labels(st.spec.router_options)}); Service {svc} stays on {st.stable}"
        )
    spec = canary.canary_spec(st)
    if spec.analysis is not None:
        text = describe_run(
            st,
            spec.analysis,
            spec.analysis_templates,
            app=svc,
            namespace=obs.namespace,
            where="analysis",
            gate=False,
        )
        out.append(
            f"from step {spec.analysis.starting_step} on, background analysis (fails → abort, "
            f"inconclusive → pause): {text}"
        )
    for row in canary.describe(st):
        i = row["index"] + 1
        step = spec.steps[row["index"]]
        if isinstance(step, Analysis):
            text = describe_run(
                st,
                step.analysis,
                spec.analysis_templates,
                app=svc,
                namespace=obs.namespace,
                where=f"steps[{row['index']}].analysis",
                gate=True,
            )
            out.append(
                f"step {i}: analysis gate at {row['candidate']} {st.candidate} pods (passes → "
                f"next step, fails → abort, inconclusive → pause): {text}"
            )
        elif row["kind"] == "setWeight":
            out.append(
                f"step {i}: weight {row['weight']}% → {row['candidate']} {st.candidate} / "
                f"{row['stable']} {st.stable} pods, achieved {row['achieved']:.3g}% "
                "(capacity never below "
                f"{st.replicas} ready; verified on {'the routes' if exact else 'EndpointSlices'})"
            )
        elif row["kind"] == "pause":
            out.append(
                f"step {i}: pause {'until `kprism promote ' + svc + '`' if row['untilPromote'] else str(row['pause']) + 's'}"
            )
        else:
            out.append(f"step {i}: {row['kind']} → {row['candidate']} {st.candidate} pods")
    out.append(
        f"pin {_services(obs)} to {obs.track_label}={st.candidate}, verify "
        f"{'their' if sib.movables(obs) else 'its'} endpoints, scale {st.stable_deployment} to 0"
    )
    return tuple(out)
