"""KP002–KP004: the preStop hook that keeps a pod serving while endpoints propagate.

One family with one fixer: no hook (KP002), a sleep shorter than propagation (KP003), a
sleep run as a binary instead of the native action (KP004). A longer sleep eats into
the grace period, so KP005 is re-checked after any of these fixes.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from kprism.plan.doctor.base import Edit, Finding, Rule, Severity
from kprism.plan.doctor.checks import (
    Hit,
    RuleDef,
    cname,
    container_base,
    container_path,
    containers,
)
from kprism.plan.doctor.objects import Objects, fmt_seconds
from kprism.plan.doctor.pods import prestop
from kprism.plan.doctor.pointers import get_path

if TYPE_CHECKING:
    from kprism.plan.doctor.config import DoctorConfig


def check_missing(objs: Objects, config: DoctorConfig) -> Iterator[Hit]:
    """KP002: serving containers without a preStop hook."""
    for d, i, c, serving in containers(objs):
        if serving and prestop(c).kind == "none":
            yield Hit(
                obj=d,
                container=cname(c),
                path=container_path(i, "lifecycle", "preStop"),
                message=f'container "{cname(c)}" has no preStop hook: SIGTERM arrives while '
                "Services still send it new requests, which fail",
                fix=f"add lifecycle.preStop.sleep.seconds: {config.prestop_target} (native "
                "sleep action, GA in Kubernetes 1.34; needs no sleep binary)",
            )


def check_short(objs: Objects, config: DoctorConfig) -> Iterator[Hit]:
    """KP003: serving containers whose preStop sleeps less than propagation takes."""
    for d, i, c, serving in containers(objs):
        hook = prestop(c)
        if serving and hook.seconds is not None and hook.seconds < config.propagation_seconds:
            yield Hit(
                obj=d,
                container=cname(c),
                path=container_path(i, "lifecycle", "preStop"),
                message=f'container "{cname(c)}" sleeps {fmt_seconds(hook.seconds)} in preStop, '
                f"less than the {fmt_seconds(config.propagation_seconds)} endpoint removal "
                "takes to propagate",
                fix=f"sleep at least {fmt_seconds(config.propagation_seconds)}, e.g. "
                f"lifecycle.preStop.sleep.seconds: {config.prestop_target}",
                fixable=hook.pure,
            )


def check_exec_sleep(objs: Objects, config: DoctorConfig) -> Iterator[Hit]:
    """KP004: a preStop that only runs the ``sleep`` binary."""
    if not config.native_sleep:
        return
    for d, i, c, _ in containers(objs):
        hook = prestop(c)
        if not objs.serves(d):
            continue  # its preStop hook is not needed at all
        if hook.kind == "exec-sleep" and hook.pure and hook.seconds is not None:
            secs = max(1, math.ceil(hook.seconds))
            yield Hit(
                obj=d,
                container=cname(c),
                path=container_path(i, "lifecycle", "preStop", "exec"),
                message=f'container "{cname(c)}" runs the "sleep" binary in preStop: the hook '
                "fails at once in images without one (distroless, scratch)",
                fix=f"use lifecycle.preStop.sleep.seconds: {secs} (native sleep action, GA in "
                "Kubernetes 1.34, beta since 1.30)",
            )


def sleep_hook(seconds: int, config: DoctorConfig) -> dict[str, Any]:
    """A preStop hook that sleeps ``seconds``: native if the cluster has it, else exec."""
    if config.native_sleep:
        return {"sleep": {"seconds": seconds}}
    return {"exec": {"command": ["sleep", str(seconds)]}}


def fix(work: Mapping[str, Any], f: Finding, config: DoctorConfig) -> list[Edit]:
    """One preStop hook that sleeps long enough, natively where the cluster can."""
    base = container_base(f.path)
    found, container = get_path(work, base)
    if not found or not isinstance(container, Mapping):
        return []
    hook = prestop(container)
    target = config.prestop_target
    if f.rule_id == "KP002" and hook.kind == "none":
        value = sleep_hook(target, config)
    elif f.rule_id == "KP003" and hook.pure and (hook.seconds or 0) < config.propagation_seconds:
        value = sleep_hook(max(target, math.ceil(config.propagation_seconds)), config)
    elif f.rule_id == "KP004" and hook.kind == "exec-sleep" and hook.pure and config.native_sleep:
        value = {"sleep": {"seconds": max(1, math.ceil(hook.seconds or 0))}}
    else:
        return []
    return [Edit(path=base + "/lifecycle/preStop", value=value)]


RULES = (
    RuleDef(
        rule=Rule(
            id="KP002",
            slug="no-prestop-hook",
            severity=Severity.WARNING,
            title="a serving container has no preStop hook",
            protects="SIGTERM arriving while endpoints still route new requests to the pod",
            fix="add lifecycle.preStop.sleep.seconds (native sleep action, no sleep binary needed)",
            fixable=True,
        ),
        check=check_missing,
        fix=fix,
        fix_order=12,
        recheck=("KP005",),
    ),
    RuleDef(
        rule=Rule(
            id="KP003",
            slug="prestop-sleep-too-short",
            severity=Severity.WARNING,
            title="the preStop sleep is shorter than endpoint propagation",
            protects="the same race as KP002: the app stops before kube-proxy has caught up",
            fix="sleep at least the propagation allowance (default 5s) in preStop",
            fixable=True,
        ),
        check=check_short,
        fix=fix,
        fix_order=11,
        recheck=("KP005",),
    ),
    RuleDef(
        rule=Rule(
            id="KP004",
            slug="prestop-exec-sleep",
            severity=Severity.INFO,
            title='preStop runs the "sleep" binary instead of the native sleep action',
            protects="a hook that fails at once in images without sleep (distroless, scratch)",
            fix="use lifecycle.preStop.sleep.seconds (GA in Kubernetes 1.34, beta since 1.30)",
            fixable=True,
        ),
        check=check_exec_sleep,
        fix=fix,
        fix_order=10,
        recheck=("KP005",),
    ),
)
