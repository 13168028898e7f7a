"""KP012 and KP013: Services whose selector reaches more than one app, or mixes tracks."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING

from kprism.plan.doctor.base import Rule, Severity
from kprism.plan.doctor.checks import Hit, RuleDef
from kprism.plan.doctor.objects import (
    Deployment,
    Objects,
    app_of,
    dig,
    service_selector,
    str_map,
)

if TYPE_CHECKING:
    from kprism.plan.doctor.config import DoctorConfig


def check_other_apps(objs: Objects, config: DoctorConfig) -> Iterator[Hit]:
    """KP012: Services whose selector matches pods of two apps or more."""
    for svc in objs.services:
        selector = service_selector(svc.body)
        apps = {d.app or "" for d in objs.selected(svc)}
        for pod in objs.selected_pods(svc):
            apps.add(app_of(str_map(dig(pod.body, "metadata", "labels")), config) or "")
        apps.discard("")
        if len(apps) > 1:
            shown = ", ".join(f"{k}={v}" for k, v in sorted(selector.items()))
            yield Hit(
                obj=svc,
                path="/spec/selector",
                message=f"selector {{{shown}}} matches pods of {len(apps)} apps "
                f"({', '.join(sorted(apps))}): some requests reach the wrong app",
                fix=f"add {config.app_labels[0]}: <app> to the selector and to that app's pods",
            )


def _canonical(value: object) -> object:
    if isinstance(value, Mapping):
        return sorted((str(k), _canonical(v)) for k, v in value.items())
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    return value


def _images(d: Deployment) -> str:
    return ",".join(str(c.get("image", "?")) for _, c in d.containers)


def check_mixed_tracks(objs: Objects, config: DoctorConfig) -> Iterator[Hit]:
    """KP013: Services without the track label over tracks that run different pods."""
    track = config.track_label
    for svc in objs.services:
        selector = service_selector(svc.body)
        if not selector or track in selector:
            continue
        by_track: dict[str, list[Deployment]] = {}
        for d in objs.selected(svc):
            if d.replicas > 0 and track in d.pod_labels:
                by_track.setdefault(d.pod_labels[track], []).append(d)
        specs = {repr(_canonical(d.pod_spec)) for ds in by_track.values() for d in ds}
        if len(by_track) < 2 or len(specs) < 2:
            continue
        shown = ", ".join(
            f"{name} ({' '.join(sorted({_images(d) for d in ds}))})"
            for name, ds in sorted(by_track.items())
        )
        yield Hit(
            obj=svc,
            path="/spec/selector",
            message=f'selector has no "{track}" label and matches tracks that run different '
            f"pods: {shown}; requests alternate between them by pod count",
            fix=f"add {track}: <live track> to the selector (kprism release manages it)",
        )


RULES = (
    RuleDef(
        rule=Rule(
            id="KP012",
            slug="service-selects-other-apps",
            severity=Severity.ERROR,
            title="a Service's selector matches pods of more than one app",
            protects="another app's pods answering this Service's requests",
            fix="add a label unique to the app (app.kubernetes.io/name) to the selector",
            fixable=False,
        ),
        check=check_other_apps,
    ),
    RuleDef(
        rule=Rule(
            id="KP013",
            slug="service-mixes-tracks",
            severity=Severity.WARNING,
            title="a Service without the track label selects tracks that run different pods",
            protects="requests alternating between versions outside any release",
            fix="add the track label (default color) of the live track to the selector",
            fixable=False,
        ),
        check=check_mixed_tracks,
    ),
)
