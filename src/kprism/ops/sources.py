"""GitOps: a *source* Deployment in Git whose pod template the controller releases.

The user keeps in Git, beside the app's Service (without ``spec.selector``: kprism owns
that field, see docs/controller.md), one Deployment with ``replicas: 0`` and the
annotation ``kprism.dev/source-of: APP``. Its pod template is the version the app should
run. When it differs from the serving track's, the controller releases it into the
idle track (:func:`start_source_release`) with the app's release spec, read from the
annotation ``kprism.dev/release-spec`` (YAML or JSON) of the source, else of the Service
(:func:`release_spec_from_text`): the same options as ``kprism release``::

    strategy: canary            # or bluegreen (the default)
    steps: "10,50,100"          # canary shorthand, with pause: 30s, maxSurge: 1 …
    autoPromote: true           # without it a blue-green waits for `kprism promote`
    scaleDownDelay: 30
    readyTimeout: 600
    failFastAfter: 30s          # a new pod stuck (ImagePullBackOff ...) this long fails it
    router: gateway
    routerOptions: {httproute: web}
    canary: {steps: [...], maxSurge: 25%}   # a full canary spec, as `release -f` takes
    notify: [{url: https://hooks.example/x, events: [failed]}]   # the release's receivers

kprism never writes the source Deployment; the tracks it makes are not in Git.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import yaml

from kprism.errors import InvalidSpecError, UsageError
from kprism.kube.api import KubeApi, Lock
from kprism.model.release import (
    ANNOTATION_RELEASE_SPEC,
    DEFAULT_FAIL_FAST_AFTER,
    Change,
    ReleaseSpec,
    ReleaseStatus,
    Strategy,
    fail_fast_seconds,
)
from kprism.ops.apps import App
from kprism.ops.releases import start_release
from kprism.ops.specs import SpecArgs, check_notify

_KEYS = {
    "strategy",
    "autoPromote",
    "preview",
    "scaleDownDelay",
    "readyTimeout",
    "failFastAfter",
    "track",
    "router",
    "routerOptions",
    "steps",
    "pause",
    "maxSurge",
    "canary",
    "notify",
}


def release_spec_from_text(text: str, *, source: str) -> ReleaseSpec:
    """The release spec in a ``kprism.dev/release-spec`` annotation (``source`` names it
    in errors); UsageError for anything ``kprism release`` would refuse too."""
    try:
        data = yaml.safe_load(text) if text.strip() else {}
    except yaml.YAMLError as exc:
        raise UsageError(f"{source}: not valid YAML ({' '.join(str(exc).split())})") from exc
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise UsageError(f"{source}: must be a mapping (strategy, steps, autoPromote, …)")
    unknown = sorted(set(map(str, data)) - _KEYS)
    if unknown:
        raise UsageError(
            f"{source}: unknown field {unknown[0]!r} (known: {', '.join(sorted(_KEYS))})"
        )
    steps = data.get("steps")
    canary = data.get("canary")
    if isinstance(steps, list):
        if canary is not None:
            raise UsageError(f"{source}: give steps or canary, not both")
        if all(isinstance(s, int | float) and not isinstance(s, bool) for s in steps):
            steps = ",".join(str(s) for s in steps)
        else:
            canary = {
                "steps": steps,
                **({"maxSurge": data["maxSurge"]} if "maxSurge" in data else {}),
            }
            steps = None
    try:
        args = SpecArgs(
            strategy=Strategy(str(data.get("strategy", Strategy.BLUEGREEN.value))),
            preview=_bool(data, "preview", source),
            auto_promote=_bool(data, "autoPromote", source),
            scale_down_delay=_seconds(data, "scaleDownDelay", 30.0, source),
            ready_timeout=_seconds(data, "readyTimeout", 600.0, source),
            fail_fast_after=_fail_fast(data, source),
            track=str(data["track"]) if data.get("track") else None,
            router=str(data.get("router", SpecArgs.router)),
            router_options={str(k): str(v) for k, v in (data.get("routerOptions") or {}).items()},
            steps=str(steps) if steps is not None else None,
            pause=str(data["pause"]) if data.get("pause") is not None else None,
            max_surge=data.get("maxSurge") if canary is None else None,
            canary_yaml=yaml.safe_dump(dict(canary)) if isinstance(canary, Mapping) else None,
            canary_source=source,
            receivers=_receivers(data, source),
        )
    except ValueError as exc:
        raise UsageError(f"{source}: {exc}") from exc
    return args.to_spec()


def _receivers(data: Mapping[str, Any], source: str) -> list[Mapping[str, Any]]:
    """``notify``: the release's own receivers (docs/notifications.md), checked here."""
    value = data.get("notify") or []
    if not isinstance(value, list):
        raise UsageError(
            f"{source}: notify must be a list of receivers ({{url: …}}), not {value!r}"
        )
    check_notify(value, source=f"{source}: notify")
    return value


def _bool(data: Mapping[str, Any], key: str, source: str) -> bool:
    value = data.get(key, False)
    if not isinstance(value, bool):
        raise UsageError(f"{source}: {key} must be true or false, not {value!r}")
    return value


def _fail_fast(data: Mapping[str, Any], source: str) -> float:
    """``failFastAfter``: 30s, 2m, seconds, or 0/never (off)."""
    try:
        return fail_fast_seconds(
            data.get("failFastAfter", DEFAULT_FAIL_FAST_AFTER), name="failFastAfter"
        )
    except InvalidSpecError as exc:
        raise UsageError(f"{source}: {exc}") from exc


def _seconds(data: Mapping[str, Any], key: str, default: float, source: str) -> float:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise UsageError(f"{source}: {key} must be a number of seconds, not {value!r}")
    return float(value)


def spec_text(
    source: Mapping[str, Any], service_annotations: Mapping[str, str], app: App
) -> tuple[str, str]:
    """(text, where) of the app's release spec: the source's annotation, else the
    Service's, else an empty spec (a blue-green that waits for promotion)."""
    meta = source.get("metadata") or {}
    own = (meta.get("annotations") or {}).get(ANNOTATION_RELEASE_SPEC)
    if own is not None:
        return own, f"annotation {ANNOTATION_RELEASE_SPEC} of Deployment {meta.get('name', '')}"
    text = service_annotations.get(ANNOTATION_RELEASE_SPEC, "")
    return text, f"annotation {ANNOTATION_RELEASE_SPEC} of Service {app.name}"


def source_spec(
    source: Mapping[str, Any],
    service_annotations: Mapping[str, str],
    app: App,
    *,
    template: Mapping[str, Any],
    tag: str,
) -> ReleaseSpec:
    """The spec of a release of ``template`` from ``source`` (recorded as ``tag``)."""
    text, where = spec_text(source, service_annotations, app)
    spec = release_spec_from_text(text, source=where)
    return dataclasses.replace(spec, change=Change(template=dict(template)), source=tag)


def start_source_release(
    kube: KubeApi, app: App, spec: ReleaseSpec, *, lease: Lock
) -> tuple[ReleaseStatus, Lock]:
    """Validate and record the release of a source's template, as ``kprism release``
    would (pre-flight, doctor, the Lease); nothing else changes yet."""
    return start_release(kube, app, spec, lease=lease)
