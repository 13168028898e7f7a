"""Release spec, status, intents and history entries, and their JSON form.

The status is stored as versioned JSON in the ``kprism.dev/release`` annotation of the
app's Service, so any machine can resume a release another one started. Field names
follow Argo Rollouts where a concept is the same (phase, currentStep, stable, abort).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from pydantic import BaseModel

from kprism.errors import InvalidSpecError
from kprism.model.analysis import AnalysisRun, BlueGreenAnalysis, run_from_json
from kprism.model.routing import DEFAULT_ROUTER
from kprism.model.steps import CanarySpec, canary_spec_from_data

SCHEMA_VERSION = 1

ANNOTATION_RELEASE = "kprism.dev/release"
ANNOTATION_HISTORY = "kprism.dev/history"
ANNOTATION_INTENT = "kprism.dev/intent"
ANNOTATION_TEMPLATE_HASH = "kprism.dev/template-hash"
ANNOTATION_MANAGED = "kprism.dev/managed-by"
#: on the app's Service: the label that tells its tracks apart, stored at adopt and at
#: every release so later commands need no ``--track-label``
ANNOTATION_TRACK_LABEL = "kprism.dev/track-label"
#: on a Deployment kept in Git with replicas 0: its pod template is the app's desired
#: version, and the controller releases it (the value names the app's Service)
ANNOTATION_SOURCE_OF = "kprism.dev/source-of"
#: on the app's Service (or its source Deployment): the release spec the controller uses
ANNOTATION_RELEASE_SPEC = "kprism.dev/release-spec"
#: on the app's Service: a release the CLI handed over to the controller
ANNOTATION_RELEASE_REQUEST = "kprism.dev/release-request"
LABEL_MANAGED = "app.kubernetes.io/managed-by"
HISTORY_LIMIT = 20
#: timeline marks kept in a release's status, and in its history entry
TIMELINE_LIMIT = 80
HISTORY_TIMELINE = 24


class Phase(StrEnum):
    PROGRESSING = "Progressing"
    PAUSED = "Paused"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    ABORTED = "Aborted"

    @property
    def terminal(self) -> bool:
        return self in (Phase.SUCCEEDED, Phase.FAILED, Phase.ABORTED)


class Kind(StrEnum):
    RELEASE = "release"
    ROLLBACK = "rollback"
    ADOPT = "adopt"


class Strategy(StrEnum):
    BLUEGREEN = "bluegreen"
    CANARY = "canary"


class Action(StrEnum):
    """Operator intents written onto the app and acted on by the engine."""

    PROMOTE = "promote"
    PROMOTE_FULL = "promote-full"
    ABORT = "abort"
    PAUSE = "pause"
    RESUME = "resume"


@dataclass(frozen=True, kw_only=True)
class Change:
    """A pod-template change: images per container, env per container, a merge patch;
    or a whole pod ``template`` (a GitOps source Deployment's) that replaces the stable
    one before the others apply."""

    images: Mapping[str, str] = field(default_factory=dict)  # container ("" = the only one) → image
    env: Mapping[str, Mapping[str, str]] = field(default_factory=dict)  # container → name → value
    patch: Mapping[str, Any] = field(default_factory=dict)  # merged into the pod template
    template: Mapping[str, Any] = field(default_factory=dict)  # replaces the pod template

    @property
    def empty(self) -> bool:
        return not (self.images or self.env or self.patch or self.template)


MAX_SECONDS = 30 * 24 * 3600  # the longest delay or timeout a release may ask for (30 days)


def check_seconds(name: str, value: float, *, minimum: float | None = None) -> float:
    """``value`` as a delay or timeout in seconds: finite, at most :data:`MAX_SECONDS`, and
    at least ``minimum`` (above 0 when None). Every shell and spec file gets the same answer."""
    low = "0" if minimum is None else f"{minimum:g}"
    ok = (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and (value > 0 if minimum is None else value >= minimum)
        and value <= MAX_SECONDS
    )
    if not ok:
        shown = str(value) if isinstance(value, int | float) else repr(value)
        more = "more than" if minimum is None else "at least"
        raise InvalidSpecError(
            f"{name} {shown}: must be a number of seconds {more} {low} and at most "
            f"{MAX_SECONDS} (30 days)"
        )
    return value


#: seconds the old track is kept after a verified cutover (then scaled to 0)
DEFAULT_SCALE_DOWN_DELAY = 30.0
#: how long a candidate pod may show a reason it will not get over by waiting
#: (ImagePullBackOff, CrashLoopBackOff, ...) before the release fails (0: never)
DEFAULT_FAIL_FAST_AFTER = 30.0


def fail_fast_seconds(value: object, *, name: str = "fail-fast-after") -> float:
    """``30s``, ``2m``, ``45``, ``0`` or ``never``/``off`` (0: never fail fast) → seconds."""
    if isinstance(value, str) and value.strip().lower() in ("never", "off", "0", "0s"):
        return 0.0
    if isinstance(value, int | float) and not isinstance(value, bool):
        return check_seconds(name, float(value), minimum=0)
    if isinstance(value, str):
        from kprism.model.durations import parse_duration

        try:
            return check_seconds(name, float(parse_duration(value)), minimum=0)
        except ValueError:
            pass
    raise InvalidSpecError(
        f"{name} {value!r}: use a duration such as 30s or 2m, or 0/never to switch it off"
    )


@dataclass(frozen=True, kw_only=True)
class ReleaseSpec:
    """What the operator asked for. Immutable for the life of a release."""

    strategy: Strategy = Strategy.BLUEGREEN
    change: Change = field(default_factory=Change)
    preview: bool = False
    auto_promote: bool = False
    scale_down_delay: float = DEFAULT_SCALE_DOWN_DELAY
    ready_timeout: float = 600.0
    verify_timeout: float = 60.0
    track: str | None = None  # explicit candidate track; default: the idle one
    canary: CanarySpec | None = None  # the validated step list, canary only
    router: str = DEFAULT_ROUTER  # traffic router plug-in (canary), see kprism.model.routing
    router_options: Mapping[str, str] = field(default_factory=dict)
    analysis: BlueGreenAnalysis | None = None  # blue-green: pre/post-promotion analysis
    source: str = ""  # what started it when no person did: "Deployment/web-source@<hash>"
    #: seconds a candidate pod may be stuck (ImagePullBackOff, CrashLoopBackOff, ...)
    #: before the release fails instead of waiting for the ready timeout; 0: never
    fail_fast_after: float = DEFAULT_FAIL_FAST_AFTER
    #: the release's own notification receivers (the ConfigMap format: url or urlFrom,
    #: format, events, headers, timeout, retries; checked by kprism.notify.receivers),
    #: told beside the namespace's
    notify: tuple[Mapping[str, Any], ...] = ()

    def __post_init__(self) -> None:
        check_seconds("scale-down delay", self.scale_down_delay, minimum=0)
        check_seconds("fail-fast-after", self.fail_fast_after, minimum=0)
        check_seconds("ready timeout", self.ready_timeout)
        check_seconds("verify timeout", self.verify_timeout)
        # Stored typed, validated once: a step list given as its JSON form (the shells'
        # and the stored status's shape) is parsed here, never again on every tick.
        raw: object = self.canary
        if isinstance(raw, Mapping):
            object.__setattr__(self, "canary", canary_spec_from_data(dict(raw)))
        analysis: object = self.analysis
        if isinstance(analysis, Mapping):
            object.__setattr__(self, "analysis", BlueGreenAnalysis.model_validate(dict(analysis)))


@dataclass(frozen=True, kw_only=True)
class Condition:
    type: str
    status: bool
    reason: str
    message: str = ""
    last_transition: str = ""


@dataclass(frozen=True, kw_only=True)
class Intent:
    action: Action
    release: str  # release id it applies to
    by: str = ""
    at: str = ""
    reason: str = ""
    accept_drift: bool = False  # promote --accept-drift: the cluster as it is is the new truth


@dataclass(frozen=True, kw_only=True)
class Drift:
    """A field kprism set (or saw and kept) that someone else changed during a release."""

    key: str  # "Deployment/web-green/spec.replicas": what ``ReleaseStatus.applied`` tracks
    kind: str
    name: str
    field: str  # spec.replicas, spec.template, spec.selector, weights
    want: str  # what kprism set, readable (3; app=web,color=blue; web=web:2)
    got: str  # what is there now
    by: str = ""  # the field manager that changed it (metadata.managedFields), if known

    def describe(self) -> str:
        who = f" by {self.by}" if self.by else ""
        return (
            f"{self.kind} {self.name} {self.field} changed outside kprism{who}: {self.got}, "
            f"kprism set {self.want}"
        )


@dataclass(frozen=True, kw_only=True)
class Mark:
    """One entry of a release's timeline (:mod:`kprism.plan.timeline`): a step reached, an
    Event the engine emitted, an operator's intent and what came of it, a weight change."""

    at: str
    kind: str  # step | event | intent | weight
    what: str  # the step, the Event's reason, the intent's action, "weight"
    text: str = ""
    by: str = ""  # intent: who sent it (the audit actor)
    reason: str = ""  # intent: the reason given (abort --reason)
    outcome: str = ""  # intent: applied | refused | ignored
    weight: float | None = None  # the candidate's achieved share (weight marks)
    requested: float | None = None  # the share the step asked for (weight marks)


def mark_to_json(mark: Mark) -> dict[str, Any]:
    """A mark without its empty fields (the timeline is stored in annotations)."""
    return {
        f.name: getattr(mark, f.name)
        for f in dataclasses.fields(Mark)
        if getattr(mark, f.name) not in ("", None)
    }


def mark_from_json(data: Mapping[str, Any]) -> Mark:
    def num(key: str) -> float | None:
        value = data.get(key)
        return float(value) if isinstance(value, int | float) else None

    return Mark(
        at=str(data.get("at", "")),
        kind=str(data.get("kind", "")),
        what=str(data.get("what", "")),
        text=str(data.get("text", "")),
        by=str(data.get("by", "")),
        reason=str(data.get("reason", "")),
        outcome=str(data.get("outcome", "")),
        weight=num("weight"),
        requested=num("requested"),
    )


@dataclass(frozen=True, kw_only=True)
class ReleaseStatus:
    """The state of one release, as stored on the Service."""

    id: str
    kind: Kind
    spec: ReleaseSpec
    phase: Phase
    step: str
    stable: str  # track that served traffic when the release started
    candidate: str  # track being released into
    stable_deployment: str
    candidate_deployment: str
    replicas: int  # the size every track must reach before it takes traffic
    stable_images: Mapping[str, str] = field(default_factory=dict)
    candidate_images: Mapping[str, str] = field(default_factory=dict)
    started_at: str = ""
    finished_at: str = ""
    step_started_at: str = ""
    switched_at: str = ""
    verified_at: str = ""
    promoted: bool = False
    full: bool = False  # `promote --full`: skip the remaining canary steps
    step_index: int = 0  # canary: index into spec.canary.steps
    requested_weight: float = 0.0  # canary: traffic share the current step asks for
    achieved_weight: float = 0.0  # canary: share the ready pods / routes really give
    pause_until: str = ""
    hpa: str = ""  # canary: the user's HPA on the stable track, driven through its bounds
    hpa_min: int = 0
    hpa_max: int = 0
    paused: bool = False
    aborting: bool = False
    message: str = ""
    last_error: str = ""
    conditions: tuple[Condition, ...] = ()
    analysis: tuple[AnalysisRun, ...] = ()  # analysis runs and their measurements
    #: drift detection (kprism.plan.drift): what kprism set or saw and kept, field key →
    #: value; what the actions recorded with this status are setting ("*": any value);
    #: the fields someone else changed, while the release waits for the operator
    applied: Mapping[str, str] = field(default_factory=dict)
    pending: Mapping[str, str] = field(default_factory=dict)
    drift: tuple[Drift, ...] = ()
    #: who started it, as the API server knows them, with the shell and host (audit)
    started_by: str = ""
    #: since when the candidate has shown a pod stuck for good (ImagePullBackOff ...), as
    #: first observed: the release fails ``spec.fail_fast_after`` seconds later
    #: (:mod:`kprism.plan.health`); "" while it shows none
    failing_since: str = ""
    #: what happened, in order: steps, Events, intents with their outcome, weights
    #: (:mod:`kprism.plan.timeline`; the newest ``TIMELINE_LIMIT`` kept)
    timeline: tuple[Mark, ...] = ()

    def evolve(self, **changes: Any) -> ReleaseStatus:
        return dataclasses.replace(self, **changes)

    @property
    def serving(self) -> str:
        """The track that serves traffic when this release is over."""
        return self.candidate if self.phase == Phase.SUCCEEDED else self.stable


# -- JSON form ---------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    if isinstance(value, BaseModel):  # CanarySpec, analysis metrics and templates
        return value.model_dump(mode="json", by_alias=True)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, StrEnum):
        return value.value
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value


def status_to_json(status: ReleaseStatus) -> dict[str, Any]:
    data: dict[str, Any] = _plain(status)
    data["timeline"] = [mark_to_json(m) for m in status.timeline]
    data["v"] = SCHEMA_VERSION
    return data


def spec_to_json(spec: ReleaseSpec) -> dict[str, Any]:
    """A release spec as stored in the status (and in a release request)."""
    data: dict[str, Any] = _plain(spec)
    return data


def spec_from_json(data: Mapping[str, Any]) -> ReleaseSpec:
    ch = data.get("change", {})
    return ReleaseSpec(
        strategy=Strategy(data.get("strategy", "bluegreen")),
        change=Change(
            images=dict(ch.get("images", {})),
            env={k: dict(v) for k, v in ch.get("env", {}).items()},
            patch=dict(ch.get("patch", {})),
            template=dict(ch.get("template") or {}),
        ),
        preview=bool(data.get("preview", False)),
        auto_promote=bool(data.get("auto_promote", False)),
        scale_down_delay=float(data.get("scale_down_delay", 30.0)),
        ready_timeout=float(data.get("ready_timeout", 600.0)),
        verify_timeout=float(data.get("verify_timeout", 60.0)),
        track=data.get("track"),
        canary=data.get("canary"),
        router=str(data.get("router", DEFAULT_ROUTER)),
        router_options={str(k): str(v) for k, v in (data.get("router_options") or {}).items()},
        analysis=data.get("analysis"),
        source=str(data.get("source") or ""),
        fail_fast_after=float(data.get("fail_fast_after", DEFAULT_FAIL_FAST_AFTER)),
        notify=tuple(dict(r) for r in data.get("notify") or () if isinstance(r, Mapping)),
    )


def status_from_json(data: Mapping[str, Any]) -> ReleaseStatus:
    version = data.get("v", SCHEMA_VERSION)
    if version != SCHEMA_VERSION:
        raise ValueError(f"release status schema v{version} is not supported (want v1)")
    names = {f.name for f in dataclasses.fields(ReleaseStatus)}
    kw: dict[str, Any] = {k: v for k, v in data.items() if k in names}
    kw["kind"] = Kind(kw["kind"])
    kw["phase"] = Phase(kw["phase"])
    kw["spec"] = spec_from_json(kw.get("spec", {}))
    kw["stable_images"] = dict(kw.get("stable_images", {}))
    kw["candidate_images"] = dict(kw.get("candidate_images", {}))
    kw["conditions"] = tuple(Condition(**c) for c in kw.get("conditions", []))
    kw["analysis"] = tuple(run_from_json(r) for r in kw.get("analysis", []))
    kw["applied"] = {str(k): str(v) for k, v in (kw.get("applied") or {}).items()}
    kw["pending"] = {str(k): str(v) for k, v in (kw.get("pending") or {}).items()}
    kw["drift"] = tuple(Drift(**d) for d in kw.get("drift") or [])
    kw["timeline"] = tuple(
        mark_from_json(m) for m in kw.get("timeline") or [] if isinstance(m, Mapping)
    )
    return ReleaseStatus(**kw)


def intent_to_json(intent: Intent) -> dict[str, Any]:
    data: dict[str, Any] = _plain(intent)
    return data


def intent_from_json(data: Mapping[str, Any]) -> Intent:
    return Intent(
        action=Action(data["action"]),
        release=str(data.get("release", "")),
        by=str(data.get("by", "")),
        at=str(data.get("at", "")),
        reason=str(data.get("reason", "")),
        accept_drift=bool(data.get("accept_drift", False)),
    )


def history_entry(status: ReleaseStatus) -> dict[str, Any]:
    """The summary of a finished release kept in the history annotation."""
    entry: dict[str, Any] = {
        "id": status.id,
        "kind": status.kind.value,
        "strategy": status.spec.strategy.value,
        "phase": status.phase.value,
        "stable": status.stable,
        "candidate": status.candidate,
        "serving": status.serving,
        "stable_images": dict(status.stable_images),
        "candidate_images": dict(status.candidate_images),
        "started_at": status.started_at,
        "finished_at": status.finished_at,
        "message": status.message,
        "last_error": status.last_error,
        "analysis": [
            {
                "name": run.name,
                "phase": run.phase.value,
                "message": run.message,
                "metrics": {r.name: r.phase.value for r in run.results},
            }
            for run in status.analysis
        ],
    }
    if status.started_by:
        entry["by"] = status.started_by
    if status.timeline:  # the newest marks: the history lasts, its annotation is bounded
        entry["timeline"] = [mark_to_json(m) for m in status.timeline[-HISTORY_TIMELINE:]]
    if status.spec.source:
        entry["source"] = status.spec.source  # a GitOps source is released once (controller)
    return entry
