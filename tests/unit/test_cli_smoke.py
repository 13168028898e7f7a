"""The CLI starts, prints its version and rejects unknown commands with exit 2."""

import subprocess
import sys

from kprism import __version__


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kprism.cli.main", *args],
        capture_output=True,
        text=True,
        check=False,
    )


def test_version() -> None:
    out = run("--version")
    assert out.returncode == 0
    assert out.stdout.strip() == f"kprism {__version__}"


def test_unknown_command_is_usage_error() -> None:
    out = run("no-such-command")
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
