"""``kprism --help`` prints a pre-rendered text before any library loads (issue 11: < 0.15 s).

The text (:mod:`kprism.cli.helptext`) must stay what typer renders: when a command or an
option changes, regenerate it with ``.venv/bin/python -m kprism.cli.main --write-help``.
"""

from __future__ import annotations

import os
import subprocess
import sys

from kprism.cli import helptext
from kprism.cli.main import render_help

HEAVY = ("typer", "click", "rich", "pydantic", "lightkube", "httpx", "httpx2", "kprism.ops")


def _kprism(*args: str, columns: int) -> subprocess.CompletedProcess[str]:
    """``kprism ARGS`` in a fresh interpreter; its stdout, then the heavy modules loaded."""
    script = (
        "import sys\n"
        "from kprism.cli.main import main\n"
        "try:\n"
        f"    main({list(args)!r})\n"
        "except SystemExit as exc:\n"
        "    assert exc.code == 0, exc.code\n"
        f"heavy = {HEAVY!r}\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in heavy or m.startswith(heavy))\n"
        "print('LOADED', loaded)\n"
    )
    env = {**os.environ, "COLUMNS": str(columns)}
    return subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False, env=env
    )


def test_the_pre_rendered_help_is_what_typer_renders() -> None:
    assert render_help() == helptext.ROOT, (
        "kprism --help changed: run `.venv/bin/python -m kprism.cli.main --write-help`"
    )


def test_help_loads_no_command_line_library_nor_the_client() -> None:
    out = _kprism("--help", columns=120)
    assert out.returncode == 0, out.stderr
    text, _, loaded = out.stdout.rpartition("LOADED ")
    assert text == helptext.ROOT
    assert loaded.strip() == "[]", loaded


def test_a_narrow_terminal_gets_typer_s_own_wrapping() -> None:
    """Below 80 columns typer wraps the help to fit: the fast path steps aside."""
    out = _kprism("--help", columns=60)
    assert out.returncode == 0, out.stderr
    text, _, loaded = out.stdout.rpartition("LOADED ")
    assert text != helptext.ROOT and text.startswith("Usage: kprism [OPTIONS] COMMAND")
    assert max(map(len, text.splitlines())) <= 58, text
    assert "typer" in loaded


def test_version_loads_nothing_heavy_either() -> None:
    out = _kprism("--version", columns=120)
    assert out.returncode == 0, out.stderr
    text, _, loaded = out.stdout.rpartition("LOADED ")
    assert text.startswith("kprism ") and loaded.strip() == "[]", out.stdout


def test_a_command_loads_httpx_and_the_yaml_round_trip_only_when_needed() -> None:
    """httpx (with its own CLI's rich, click and pygments: ≈0.15 s) loads when an analysis
    provider measures or a notification goes out, ruamel.yaml and the manifest reader
    when a release file is read or ``doctor -f`` runs — not when ``kprism.ops`` is
    imported."""
    script = (
        "import sys\n"
        "import kprism.ops, kprism.engine.loop, kprism.analysis, kprism.notify.worker\n"
        "print(sorted({m.split('.')[0] for m in sys.modules"
        " if m.split('.')[0] in ('httpx', 'rich', 'click', 'pygments', 'ruamel')}"
        " | {m for m in sys.modules if m == 'kprism.files.manifests'}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]", out.stdout


def test_every_name_of_the_python_api_resolves() -> None:
    """``kprism.ops`` loads its names on first use: each one of ``__all__`` is there."""
    from kprism import ops

    missing = [name for name in ops.__all__ if getattr(ops, name, None) is None]
    assert missing == []
    assert ops.doctor.__name__ == "kprism.ops.doctor"  # a submodule, by its name


def test_reading_an_app_loads_neither_the_doctor_nor_the_engine() -> None:
    """``kprism status`` (``ops.app_status``) reached the API server ≈0.3 s sooner once
    ``kprism.ops`` stopped importing every submodule up front."""
    script = (
        "import sys\n"
        "import kprism.ops as ops\n"
        "assert not [m for m in sys.modules if m.startswith(('kprism.ops.', 'lightkube'))]\n"
        "ops.app_status, ops.connect, ops.history, ops.list_apps\n"
        "heavy = ('kprism.ops.doctor', 'kprism.plan.doctor', 'kprism.engine', "
        "'kprism.ops.handover', 'kprism.ops.releases', 'kprism.analysis', 'kprism.notify')\n"
        "print(sorted(m for m in sys.modules if m.startswith(heavy)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]", out.stdout
