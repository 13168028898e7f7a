"""What the rules need to know about pod specs: shells, sleeps, preStop hooks, grace.

Shared by the preStop rules (KP002–KP004), the grace period (KP005) and the shell rule
(KP014).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from kprism.plan.doctor.objects import as_int, as_list, as_map, dig

DEFAULT_GRACE: Final = 30  # Pod.spec.terminationGracePeriodSeconds when unset
SHELLS: Final = frozenset({"sh", "bash", "ash", "dash", "zsh", "ksh", "mksh"})
_SLEEP_ARG: Final = re.compile(r"(\d+(?:\.\d+)?)([smhd]?)")
_SLEEP_IN_SCRIPT: Final = re.compile(r"(?:^|[\s;&|(])sleep\s+(\d+(?:\.\d+)?[smhd]?)(?=$|[\s;&|)])")
_UNIT: Final = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def basename(argv0: str) -> str:
    """``/bin/sh`` → ``sh``."""
    return argv0.rsplit("/", 1)[-1]


def sleep_arg(arg: str) -> float | None:
    """Seconds of a ``sleep`` argument (``5``, ``0.5``, ``5s``, ``1m``), None if not one."""
    m = _SLEEP_ARG.fullmatch(arg.strip())
    return float(m.group(1)) * _UNIT[m.group(2)] if m else None


def shell_script(argv: Sequence[str], start: int = 0) -> tuple[str, int] | None:
    """For ``sh [-e] -c SCRIPT ...`` at ``argv[start]``: the shell's name and SCRIPT's index."""
    if len(argv) <= start or basename(argv[start]) not in SHELLS:
        return None
    i, has_c = start + 1, False
    while i < len(argv) and argv[i][:1] in ("-", "+") and argv[i] not in ("-", "--"):
        flag = argv[i]
        i += 2 if flag in ("-o", "+o", "-O", "+O") else 1
        if not flag.startswith("--") and "c" in flag[1:]:
            has_c = True
            break
    if not has_c or i >= len(argv):
        return None
    return basename(argv[start]), i


@dataclass(frozen=True, kw_only=True)
class PreStop:
    """What a container's preStop hook does."""

    kind: str  # none | sleep | exec-sleep | exec | http | tcp | other
    seconds: float | None  # how long it waits, when that can be told
    pure: bool  # nothing but a sleep: safe to replace with a native sleep


def prestop(container: Mapping[str, Any]) -> PreStop:
    """The container's preStop hook, classified."""
    hook = as_map(dig(container, "lifecycle", "preStop"))
    if not hook:
        return PreStop(kind="none", seconds=None, pure=False)
    if "sleep" in hook:
        secs = as_int(dig(hook, "sleep", "seconds"))
        return PreStop(kind="sleep", seconds=None if secs is None else float(secs), pure=True)
    if "exec" in hook:
        argv = [str(a) for a in as_list(dig(hook, "exec", "command"))]
        if len(argv) == 2 and basename(argv[0]) == "sleep":
            secs_f = sleep_arg(argv[1])
            return PreStop(kind="exec-sleep", seconds=secs_f, pure=secs_f is not None)
        shell = shell_script(argv)
        if shell is not None:
            script = argv[shell[1]]
            m = re.fullmatch(r"\s*sleep\s+(\S+)\s*", script)
            if m and (one := sleep_arg(m.group(1))) is not None:
                return PreStop(kind="exec-sleep", seconds=one, pure=True)
            sleeps = [sleep_arg(s) or 0.0 for s in _SLEEP_IN_SCRIPT.findall(script)]
            return PreStop(kind="exec", seconds=sum(sleeps) if sleeps else None, pure=False)
        return PreStop(kind="exec", seconds=None, pure=False)
    if "httpGet" in hook:
        return PreStop(kind="http", seconds=None, pure=False)
    if "tcpSocket" in hook:
        return PreStop(kind="tcp", seconds=None, pure=False)
    return PreStop(kind="other", seconds=None, pure=False)


def grace(pod_spec: Mapping[str, Any]) -> tuple[int, bool]:
    """(terminationGracePeriodSeconds, explicitly set)."""
    value = as_int(pod_spec.get("terminationGracePeriodSeconds"))
    return (DEFAULT_GRACE, False) if value is None else (value, True)


def longest_prestop(pod_spec: Mapping[str, Any]) -> float:
    """Seconds the longest preStop hook of the pod waits (0 when none can be told)."""
    waits = [
        prestop(c).seconds or 0.0
        for c in as_list(pod_spec.get("containers"))
        if isinstance(c, Mapping)
    ]
    return max(waits, default=0.0)


__all__ = [
    "DEFAULT_GRACE",
    "SHELLS",
    "PreStop",
    "basename",
    "grace",
    "longest_prestop",
    "prestop",
    "shell_script",
    "sleep_arg",
]
