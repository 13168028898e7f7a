"""Blue-green (and rollback) as a pure, level-triggered state machine.

``decide(status, observed, now, intent)`` looks at the recorded step and at what the
cluster shows, and returns the next status and the actions that move the cluster
towards the step's goal. A step is left only when its effect is *observed* (a
Deployment fully ready, the Service selector flipped, the EndpointSlices listing
exactly the new pods), never because an action was sent. Because the status is
written before the actions are taken and every action states an end state, a crash
at any point is repaired by running ``decide`` again on a fresh observation.

Forward steps::

    pin-service → create-candidate → wait-ready → preview → pre-promotion-analysis
      → await-promotion → switch-traffic → verify-cutover → scale-down-delay → scale-down → done

With analysis (``spec.analysis``): the pre-promotion run gates the switch (against the
preview Service); the post-promotion run runs during the scale-down delay, and stable is
scaled down only after it passed — if it fails, the release rolls back to stable, which
is still up.

Abort (operator intent, or a failure such as a readiness timeout)::

    restore-stable → switch-back → verify-switch-back → scale-down-candidate → aborted

Other Services over the app's pods (Online Boutique's ``frontend-external`` beside
``frontend``) move with the app's Service: pinned with it, flipped in the same step,
verified on their own EndpointSlices (:mod:`kprism.plan.siblings`).

Safety invariants (property-tested):
- the Service selector is set to a track only while that track has all its replicas ready;
- no Service that selects the app's pods selects the candidate before promotion;
- the stable track is scaled down only after the cutover was verified on the EndpointSlices.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime

from kprism.model.actions import (
    CreateDeployment,
    DeleteService,
    EnsureService,
    KubeAction,
    ReplaceTemplate,
    ScaleDeployment,
)
from kprism.model.analysis import AnalysisRef
from kprism.model.observed import AppObs
from kprism.model.release import (
    ANNOTATION_TEMPLATE_HASH,
    Intent,
    Kind,
    Phase,
    ReleaseStatus,
)
from kprism.plan import analysis as an
from kprism.plan import health
from kprism.plan import siblings as sib
from kprism.plan.decision import Decision
from kprism.plan.machine import (
    Act,
    Fail,
    Next,
    Result,
    StepFn,
    Wait,
    drive,
    elapsed,
    iso,
    parse_iso,
)
from kprism.plan.template import apply_change, template_hash, track_deployment, with_track

PIN = "pin-service"
CREATE = "create-candidate"
WAIT_READY = "wait-ready"
PREVIEW = "preview"
PRE_ANALYSIS = "pre-promotion-analysis"
AWAIT = "await-promotion"
SWITCH = "switch-traffic"
VERIFY = "verify-cutover"
DELAY = "scale-down-delay"
SCALE_DOWN = "scale-down"
DONE = "done"
RESTORE = "restore-stable"
SWITCH_BACK = "switch-back"
VERIFY_BACK = "verify-switch-back"
SCALE_DOWN_CANDIDATE = "scale-down-candidate"
ABORTED = "aborted"

FORWARD = (
    PIN,
    CREATE,
    WAIT_READY,
    PREVIEW,
    PRE_ANALYSIS,
    AWAIT,
    SWITCH,
    VERIFY,
    DELAY,
    SCALE_DOWN,
    DONE,
)
BACKWARD = (RESTORE, SWITCH_BACK, VERIFY_BACK, SCALE_DOWN_CANDIDATE, ABORTED)
BEFORE_SWITCH = (PIN, CREATE, WAIT_READY, PREVIEW, PRE_ANALYSIS, AWAIT)
PRE_RUN = "pre-promotion"  # analysis run names
POST_RUN = "post-promotion"


def _selector(obs: AppObs, track: str) -> dict[str, str]:
    return {**obs.app_selector, obs.track_label: track}


def select(obs: AppObs, track: str) -> Act:
    """Point the app's Service and every Service over its pods at ``track``, in one step."""
    return Act(sib.select(obs, track))


def desired_candidate_template(st: ReleaseStatus, obs: AppObs) -> dict[str, object] | None:
    """The candidate pod template this release wants, or None if it keeps the existing one
    (a rollback onto a track as it is; a rollback to a release's images changes them)."""
    if st.kind == Kind.ROLLBACK and st.spec.change.empty:
        return None
    stable = obs.deployment(st.stable_deployment)
    if stable is None:
        return None
    return with_track(
        apply_change(stable.template, st.spec.change), label=obs.track_label, track=st.candidate
    )


# -- forward steps ----------------------------------------------------------------------


def step_pin(st: ReleaseStatus, obs: AppObs, now: datetime) -> Result:
    serving = obs.serving_track()
    if serving == st.stable:
        return Next(CREATE)
    if serving is None:
        return select(obs, st.stable)
    return Fail(
        f"Service {obs.service.name} selects {obs.track_label}={serving}, "
        f"but the release started from {st.stable}: someone changed it"
    )


def ensure_candidate(st: ReleaseStatus, obs: AppObs) -> Result | None:
    """Actions that bring the candidate Deployment to the wanted template and size."""
    stable = obs.deployment(st.stable_deployment)
    cand = obs.deployment(st.candidate_deployment)
    template = desired_candidate_template(st, obs)
    if cand is None:
        if stable is None or template is None:
            return Fail(
                f"Deployment {st.candidate_deployment} does not exist and cannot be created"
            )
        body = track_deployment(
            stable,
            name=st.candidate_deployment,
            label=obs.track_label,
            track=st.candidate,
            template=template,
            replicas=st.replicas,
            release_id=st.id,
        )
        return Act((CreateDeployment(name=st.candidate_deployment, body=body),))
    if cand.track != st.candidate:
        return Fail(
            f"Deployment {cand.name} selects {obs.track_label}={cand.track}, not {st.candidate}"
        )
    actions: list[KubeAction] = []
    if template is not None:
        want = template_hash(template)
        if cand.annotations.get(ANNOTATION_TEMPLATE_HASH) != want:
            actions.append(
                ReplaceTemplate(
                    name=cand.name, template=template, annotations={ANNOTATION_TEMPLATE_HASH: want}
                )
            )
    if cand.replicas != st.replicas:
        actions.append(ScaleDeployment(name=cand.name, replicas=st.replicas))
    return Act(tuple(actions)) if actions else None


def _create(st: ReleaseStatus, obs: AppObs, now: datetime) -> Result:
    return ensure_candidate(st, obs) or Next(WAIT_READY)


def _candidate_ready(st: ReleaseStatus, obs: AppObs) -> bool:
    cand = obs.deployment(st.candidate_deployment)
    return (
        cand is not None
        and cand.rolled_out
        and cand.replicas == st.replicas
        and len(obs.ready_pods(st.candidate)) >= st.replicas
    )


def _wait_ready(st: ReleaseStatus, obs: AppObs, now: datetime) -> Result:
    fix = ensure_candidate(st, obs)
    if fix is not None:
        return fix
    if _candidate_ready(st, obs):
        return Next(
            PREVIEW,
            event=(
                "CandidateReady",
                f"{st.candidate_deployment}: {st.replicas}/{st.replicas} ready",
            ),
        )
    cand = obs.deployment(st.candidate_deployment)
    ready = len(obs.ready_pods(st.candidate))
    left = st.spec.ready_timeout - elapsed(st, now)
    if left <= 0:
        return Fail(
            f"candidate {st.candidate_deployment} not ready after {st.spec.ready_timeout:.0f}s: "
            f"{ready}/{st.replicas} pods ready"
        )
    updated = cand.updated if cand else 0
    return Wait(
        f"waiting for {st.candidate_deployment}: {ready}/{st.replicas} ready, {updated} updated",
        left,
    )


def _preview(st: ReleaseStatus, obs: AppObs, now: datetime) -> Result:
    if not st.spec.preview:
        return Next(PRE_ANALYSIS)
    want = _selector(obs, st.candidate)
    if obs.preview is None or dict(obs.preview.selector) != want:
        return Act(
            (
                EnsureService(
                    name=f"{obs.service.name}-preview",
                    selector=want,
                    ports=obs.service.ports,
                    labels={"kprism.dev/preview-of": obs.service.name},
                ),
            )
        )
    ready = obs.ready_pods(st.candidate)
    if ready and obs.preview_endpoints == ready:
        return Next(
            PRE_ANALYSIS,
            event=("PreviewReady", f"Service {obs.preview.name} serves {st.candidate}"),
        )
    return Wait(f"waiting for preview Service {obs.preview.name} endpoints", 5.0)


def _analysis_gate(
    st: ReleaseStatus, obs: AppObs, now: datetime, *, run: str, ref: AnalysisRef, what: str
) -> Result | None:
    analysis = st.spec.analysis
    templates = analysis.templates if analysis is not None else ()
    service = f"{obs.service.name}-preview" if run == PRE_RUN and st.spec.preview else ""
    values = an.variables(st, app=obs.service.name, namespace=obs.namespace, service=service)
    return an.gate(
        st,
        now,
        name=run,
        metrics=lambda: an.resolve(ref, templates, where=run, values=values, gate=True),
        what=what,
        promote_skips=run == PRE_RUN,  # after the switch there is nothing to promote
    )


def _pre_analysis(st: ReleaseStatus, obs: AppObs, now: datetime) -> Result:
    """The pre-promotion analysis gates the switch; ``promote`` does not skip a running
    one (it promotes once it passed), only one that paused the release."""
    ref = st.spec.analysis.pre_promotion if st.spec.analysis else None
    if ref is None:
        return Next(AWAIT)
    what = f"pre-promotion analysis of {st.candidate}"
    if st.promoted and an.held(st, PRE_RUN):
        return Next(
            AWAIT,
            status=an.skip(st, PRE_RUN, now, why="skipped by promote"),
            event=("AnalysisSkipped", f"{what}: skipped by promote"),
        )
    result = _analysis_gate(st, obs, now, run=PRE_RUN, ref=ref, what=what)
    if result is not None:
        return result
    run = an.find_run(st, PRE_RUN)
    return Next(AWAIT, event=("AnalysisSuccessful", f"{what}: {run.message if run else ''}"))


def _await(st: ReleaseStatus, obs: AppObs, now: datetime) -> Result:
    if st.spec.auto_promote or st.promoted:
        return Next(SWITCH, status=st.evolve(phase=Phase.PROGRESSING))
    return Wait(
        f"{st.candidate} is ready: waiting for `kprism promote {obs.service.name}`",
        None,
        status=st.evolve(phase=Phase.PAUSED),
    )


def _switch(st: ReleaseStatus, obs: AppObs, now: datetime) -> Result:
    if obs.serving_track() == st.candidate:
        return Next(
            VERIFY,
            status=st.evolve(switched_at=st.switched_at or iso(now)),
            event=(
                "TrafficSwitched",
                f"Service {obs.service.name} now selects {obs.track_label}={st.candidate}",
            ),
        )
    if not _candidate_ready(st, obs):
        # Never flip traffic onto a track that is not fully ready.
        return Next(WAIT_READY)
    return select(obs, st.candidate)


def _verify(st: ReleaseStatus, obs: AppObs, now: datetime) -> Result:
    if obs.serving_track() != st.candidate:
        return select(obs, st.candidate)
    ready = obs.ready_pods(st.candidate)
    if ready and obs.endpoints == ready and sib.endpoints_agree(obs):
        return Next(
            DELAY,
            status=st.evolve(verified_at=iso(now)),
            event=(
                "CutoverVerified",
                f"ready endpoints of {obs.service.name} are exactly the {len(ready)} pods of {st.candidate}",
            ),
        )
    left = st.spec.verify_timeout - elapsed(st, now)
    if left <= 0:
        return Fail(
            f"cutover not verified after {st.spec.verify_timeout:.0f}s: Service {obs.service.name} lists "
            f"{len(obs.endpoints)} ready endpoints, {len(obs.endpoints & ready)} of them {st.candidate} pods"
        )
    return Wait(
        f"verifying cutover: {len(obs.endpoints & ready)}/{len(ready)} {st.candidate} pods ready in endpoints, "
        f"{len(obs.endpoints - ready)} others{sib.lag_note(obs)}",
        left,
    )


def _delay(st: ReleaseStatus, obs: AppObs, now: datetime) -> Result:
    ref = st.spec.analysis.post_promotion if st.spec.analysis else None
    if ref is not None:
        what = f"post-promotion analysis of {st.candidate}"
        result = _analysis_gate(st, obs, now, run=POST_RUN, ref=ref, what=what)
        if result is not None:
            return result  # running (stable stays up), paused, or failed: roll back
    verified = parse_iso(st.verified_at) or now
    left = st.spec.scale_down_delay - (now - verified).total_seconds()
    if left <= 0:
        return Next(SCALE_DOWN)
    return Wait(f"keeping {st.stable_deployment} for {left:.0f}s more (scale-down delay)", left)


def _scale_down(st: ReleaseStatus, obs: AppObs, now: datetime) -> Result:
    actions: list[KubeAction] = []
    old = obs.deployment(st.stable_deployment)
    if old is not None and old.replicas != 0:
        actions.append(ScaleDeployment(name=old.name, replicas=0))
    if obs.preview is not None:
        actions.append(DeleteService(name=obs.preview.name))
    if actions:
        return Act(tuple(actions))
    return Next(DONE, event=("StableScaledDown", f"{st.stable_deployment} scaled to 0"))


def step_done(st: ReleaseStatus, obs: AppObs, now: datetime) -> Result:
    what = "rolled back to" if st.kind == Kind.ROLLBACK else "released"
    return Wait(
        f"{what} {st.candidate}",
        event=("ReleaseSucceeded", f"{what} {st.candidate} ({st.candidate_deployment})", False),
        status=st.evolve(
            phase=Phase.SUCCEEDED,
            finished_at=st.finished_at or iso(now),
            message=f"{what} {st.candidate}: Service {obs.service.name} serves {st.candidate_deployment}",
        ),
    )


# -- abort steps ------------------------------------------------------------------------


def step_restore(st: ReleaseStatus, obs: AppObs, now: datetime) -> Result:
    stable = obs.deployment(st.stable_deployment)
    if stable is None:
        return Wait(f"stable Deployment {st.stable_deployment} is gone: cannot switch back", 10.0)
    if stable.replicas < st.replicas:
        return Act((ScaleDeployment(name=stable.name, replicas=st.replicas),))
    ready = len(obs.ready_pods(st.stable))
    if ready >= st.replicas and stable.rolled_out:
        return Next(SWITCH_BACK)
    if obs.serving_track() == st.stable and ready > 0:
        return Next(SWITCH_BACK)
    return Wait(
        f"waiting for {st.stable_deployment}: {ready}/{st.replicas} ready before switching back",
        10.0,
    )


def step_switch_back(st: ReleaseStatus, obs: AppObs, now: datetime) -> Result:
    if obs.serving_track() == st.stable:
        return Next(VERIFY_BACK)
    return select(obs, st.stable)


def step_verify_back(st: ReleaseStatus, obs: AppObs, now: datetime) -> Result:
    if obs.serving_track() != st.stable:
        return select(obs, st.stable)
    ready = obs.ready_pods(st.stable)
    if ready and obs.endpoints == ready and sib.endpoints_agree(obs):
        return Next(SCALE_DOWN_CANDIDATE)
    return Wait(
        f"verifying switch-back: {len(obs.endpoints & ready)}/{len(ready)} {st.stable} pods in endpoints"
        f"{sib.lag_note(obs)}",
        5.0,
    )


def step_scale_down_candidate(st: ReleaseStatus, obs: AppObs, now: datetime) -> Result:
    actions: list[KubeAction] = []
    cand = obs.deployment(st.candidate_deployment)
    if cand is not None and cand.replicas != 0 and st.candidate_deployment != st.stable_deployment:
        actions.append(ScaleDeployment(name=cand.name, replicas=0))
    if obs.preview is not None:
        actions.append(DeleteService(name=obs.preview.name))
    if actions:
        return Act(tuple(actions))
    return Next(ABORTED)


def step_aborted(st: ReleaseStatus, obs: AppObs, now: datetime) -> Result:
    failed = bool(st.last_error)
    return Wait(
        "done",
        event=(
            (
                "ReleaseFailed",
                f"release {st.id} failed, traffic back on {st.stable}: {st.last_error}",
                True,
            )
            if failed
            else ("ReleaseAborted", f"release {st.id} aborted, traffic on {st.stable}", True)
        ),
        status=st.evolve(
            phase=Phase.FAILED if failed else Phase.ABORTED,
            finished_at=st.finished_at or iso(now),
            message=(
                f"failed, traffic is on {st.stable}: {st.last_error}"
                if failed
                else f"aborted: traffic stays on {st.stable}, {st.candidate_deployment} scaled to 0"
            ),
        ),
    )


STEPS: dict[str, StepFn] = {
    PIN: step_pin,
    CREATE: _create,
    WAIT_READY: _wait_ready,
    PREVIEW: _preview,
    PRE_ANALYSIS: _pre_analysis,
    AWAIT: _await,
    SWITCH: _switch,
    VERIFY: _verify,
    DELAY: _delay,
    SCALE_DOWN: _scale_down,
    DONE: step_done,
    RESTORE: step_restore,
    SWITCH_BACK: step_switch_back,
    VERIFY_BACK: step_verify_back,
    SCALE_DOWN_CANDIDATE: step_scale_down_candidate,
    ABORTED: step_aborted,
}


#: every step first brings other Services over the app's pods in line with its Service;
#: until the switch, a candidate pod stuck (ImagePullBackOff ...) for
#: ``spec.fail_fast_after`` seconds fails the release (:mod:`kprism.plan.health`)
_GUARDED = health.guard(
    sib.guard(STEPS), checked=(CREATE, WAIT_READY, PREVIEW, PRE_ANALYSIS, AWAIT)
)


def decide(st: ReleaseStatus, obs: AppObs, now: datetime, intent: Intent | None = None) -> Decision:
    """Next status and actions for a blue-green release or rollback (pure). Analysis runs
    still running end when the release aborts or ends."""
    decision = drive(st, obs, now, intent, table=_GUARDED, abort_step=RESTORE, done_step=DONE)
    out = decision.status
    if out.aborting or out.phase.terminal:
        why = "the release is aborting" if out.aborting else "the release ended"
        stopped = an.stop_runs(out, now, why=why)
        if stopped is not out:
            return dataclasses.replace(decision, status=stopped)
    return decision


def promote_refusal(st: ReleaseStatus) -> str | None:
    """Why ``kprism promote`` has nothing to do for this release, or None if it may."""
    if st.aborting:
        return f"nothing to promote: release {st.id} is being aborted"
    if st.step not in BEFORE_SWITCH:
        return f"nothing to promote: release {st.id} is past promotion (step {st.step})"
    if (st.promoted or st.spec.auto_promote) and not an.held(st, PRE_RUN):
        # (an inconclusive pre-promotion analysis holds even an auto-promoted release:
        # promote goes on without it)
        return f"nothing to promote: release {st.id} is already promoted (step {st.step})"
    return None
