"""KP014: the app runs under ``sh -c`` without ``exec`` and never receives SIGTERM."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from kprism.plan.doctor.base import Edit, Finding, Rule, Severity
from kprism.plan.doctor.checks import (
    Hit,
    RuleDef,
    cname,
    container_base,
    container_path,
    containers,
)
from kprism.plan.doctor.objects import Objects, as_list
from kprism.plan.doctor.pods import basename, shell_script
from kprism.plan.doctor.pointers import get_path, pointer

if TYPE_CHECKING:
    from kprism.plan.doctor.config import DoctorConfig


def _argv(container: Mapping[str, Any]) -> tuple[list[str], int]:
    """``command + args`` and ``len(command)``. Without ``command`` the image's entrypoint
    runs ``args``: as the command itself when the image has none (most images that take
    a shell script), or handed to an entrypoint script that runs it; either way a shell
    in ``args`` is the app's parent."""
    command = as_list(container.get("command"))
    return [str(a) for a in command + as_list(container.get("args"))], len(command)


def _init_forwards(argv: Sequence[str]) -> tuple[int, bool]:
    """Skip a ``tini``/``dumb-init`` prefix: (index of the real command, signals reach it)."""
    if not argv or basename(argv[0]) not in ("tini", "tini-static", "dumb-init"):
        return 0, False
    dumb = basename(argv[0]) == "dumb-init"
    group = dumb  # dumb-init signals the whole process group unless --single-child
    i = 1
    while i < len(argv) and argv[i].startswith("-"):
        flag = argv[i]
        i += 1
        if flag == "--":
            break
        if dumb and flag in ("--single-child", "-c"):
            group = False
        elif not dumb and not flag.startswith("--") and "g" in flag[1:]:
            group = True
        elif not dumb and flag in ("-p", "-e"):
            i += 1
    return i, group


def script_lines(script: str) -> list[str]:
    """The script's commands: continuation lines joined, blanks and comments dropped."""
    joined = script.replace("\\\n", " ")
    return [
        ln.strip() for ln in joined.splitlines() if ln.strip() and not ln.strip().startswith("#")
    ]


def _script_forwards(script: str) -> bool:
    lines = script_lines(script)
    if not lines or re.search(r"(?:^|[\s;&|])trap\s", " ".join(lines)):
        return True  # nothing to run, or the script handles signals itself
    unquoted = re.sub(r"'[^']*'|\"(?:[^\"\\]|\\.)*\"", "''", lines[-1])
    last = re.split(r"&&|\|\||;", unquoted)[-1].strip()
    return last == "exec" or last.startswith("exec ")


_NOT_EXECABLE: Final = frozenset(
    {"cd", "export", "set", "source", ".", "if", "for", "while", "until", "case", "trap"}
    | {"exec", "eval", "wait", "[", "test", "unset", "shift", "read", ":", "{", "true"}
)


def _exec_rewrite(script: str) -> str | None:
    """``"python app.py\\n"`` → ``"exec python app.py\\n"`` for one simple command, else None."""
    if len(script_lines(script)) != 1 or "\\\n" in script:
        return None
    parts = script.splitlines(keepends=True)
    for n, line in enumerate(parts):
        body = line.strip()
        if not body or body.startswith("#"):
            continue
        first = body.split()[0]
        if re.search(r"[;&|()`<]|\\", body) or first in _NOT_EXECABLE or "=" in first:
            return None
        start = line.index(body[0])
        parts[n] = line[:start] + "exec " + line[start:]
        return "".join(parts)
    return None


@dataclass(frozen=True, kw_only=True)
class ShellWrap:
    """A ``sh -c`` wrapper around the app, and how to make it ``exec`` the app."""

    shell: str
    path: str  # pointer to the script string, relative to the container
    script: str
    rewrite: str | None
    in_args: bool  # no command: the shell is in args, run by the image's entrypoint


def shell_wrap(container: Mapping[str, Any]) -> ShellWrap | None:
    """A ``sh -c`` wrapper that does not hand PID 1 (and SIGTERM) to the app."""
    argv, n_command = _argv(container)
    start, forwards = _init_forwards(argv)
    shell = shell_script(argv, start)
    if forwards or shell is None:
        return None
    name, at = shell
    script = argv[at]
    if _script_forwards(script):
        return None
    path = pointer("command", at) if at < n_command else pointer("args", at - n_command)
    return ShellWrap(
        shell=name,
        path=path,
        script=script,
        rewrite=_exec_rewrite(script),
        in_args=n_command == 0,
    )


def check(objs: Objects, config: DoctorConfig) -> Iterator[Hit]:
    """Containers whose app runs under a shell that does not forward SIGTERM."""
    for d, i, c, _ in containers(objs):
        wrap = shell_wrap(c)
        if wrap is None:
            continue
        first = script_lines(wrap.script)[0]
        example = f'"exec {first}"' if wrap.rewrite else '"exec" before the last command'
        yield Hit(
            obj=d,
            container=cname(c),
            path=container_path(i) + wrap.path,
            message=f'container "{cname(c)}" runs its app under "{wrap.shell} -c" without '
            f"exec{' (args, run by the image entrypoint)' if wrap.in_args else ''}: the shell "
            "does not forward SIGTERM, so the app is SIGKILLed instead of draining",
            fix=f"write {example}, or run under tini -g",
            fixable=wrap.rewrite is not None,
        )


def fix(work: Mapping[str, Any], f: Finding, config: DoctorConfig) -> list[Edit]:
    """Put ``exec`` before the script's single simple command."""
    base = container_base(f.path)
    found, container = get_path(work, base)
    wrap = shell_wrap(container) if found and isinstance(container, Mapping) else None
    if wrap is None or wrap.rewrite is None:
        return []
    return [Edit(path=base + wrap.path, value=wrap.rewrite)]


RULES = (
    RuleDef(
        rule=Rule(
            id="KP014",
            slug="shell-without-exec",
            severity=Severity.WARNING,
            title='the app runs under "sh -c" without exec, so it never receives SIGTERM',
            protects="the app being SIGKILLed at the end of the grace period instead of draining",
            fix='start the command with exec ("exec python app.py"), or use tini -g',
            fixable=True,
        ),
        check=check,
        fix=fix,
        fix_order=20,
    ),
)
