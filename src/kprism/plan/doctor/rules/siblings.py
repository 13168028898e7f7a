"""KP017: several Services over the same pods (Online Boutique's ``frontend`` and
``frontend-external``).

A kprism release moves every Service whose selector, without the track label, contains
the released app's selector (:mod:`kprism.plan.siblings`); one whose selector reaches the
app's pods some other way cannot be moved and makes the release refuse. The first
Service over a Deployment (the app's own Service in ``kprism doctor APP``, the first in
the files otherwise) is the app; every other one gets a finding: info when it moves with
the app, a warning when it cannot.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING

from kprism.model.release import LABEL_MANAGED
from kprism.plan.doctor.base import Rule, Severity
from kprism.plan.doctor.checks import Hit, RuleDef
from kprism.plan.doctor.objects import Obj, Objects, dig, service_selector, str_map

if TYPE_CHECKING:
    from kprism.plan.doctor.config import DoctorConfig


def _fmt(sel: Mapping[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(sel.items()))


def _base(svc: Obj, track: str) -> dict[str, str]:
    return {k: v for k, v in service_selector(svc.body).items() if k != track}


def check_shared_pods(objs: Objects, config: DoctorConfig) -> Iterator[Hit]:
    """KP017: a Service over pods another (earlier) Service already selects."""
    track = config.track_label
    services = [
        s
        for s in objs.services
        if _base(s, track)
        and str_map(dig(s.body, "metadata", "labels")).get(LABEL_MANAGED) != "kprism"
    ]
    owner: dict[int, Obj] = {}  # Deployment position → the first Service over its pods
    for svc in services:
        base = _base(svc, track)
        deps = objs.deployment_index.matching(svc.ref.namespace, base)
        firsts = {owner[d.index].ref.name: owner[d.index] for d in deps if d.index in owner}
        for d in deps:
            owner.setdefault(d.index, svc)
        for app in firsts.values():
            app_base = _base(app, track)
            shared = sorted(d.ref.name for d in deps if owner.get(d.index) is app)
            where = f"Deployment{'s' if len(shared) > 1 else ''} {', '.join(shared)}"
            if all(base.get(k) == v for k, v in app_base.items()):
                yield Hit(
                    obj=svc,
                    path="/spec/selector",
                    message=f"selects the pods of {where} like Service {app.ref.name}: a kprism "
                    f"release of {app.ref.name} moves it too, pinned to the same track",
                    fix=f"nothing to do; `kprism adopt {app.ref.name}` pins both",
                )
            else:
                yield Hit(
                    obj=svc,
                    path="/spec/selector",
                    message=f"selects the pods of {where} (Service {app.ref.name}) but not by "
                    f"{app.ref.name}'s selector {_fmt(app_base)}: kprism cannot move it with "
                    f"{app.ref.name}, so a release of {app.ref.name} is refused (it would serve "
                    "the new version before promotion)",
                    fix=f"add {_fmt(app_base)} to its selector, or delete it",
                    severity=Severity.WARNING,
                )


RULES = (
    RuleDef(
        rule=Rule(
            id="KP017",
            slug="services-share-pods",
            severity=Severity.INFO,
            title="several Services select the same pods",
            protects="a second Service serving the new version before promotion",
            fix="none when its selector contains the app's (it moves with it); else narrow it",
            fixable=False,
        ),
        check=check_shared_pods,
    ),
)
