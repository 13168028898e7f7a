"""The cluster build script fails clearly and never leaves a half-built cache behind.

These run the real script with a controlled PATH; no Go build happens.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_build(tmp_path: Path, path: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": path, "HOME": str(tmp_path), "KPRISM_CACHE": str(tmp_path / "cache")}
    return subprocess.run(
        ["bash", str(ROOT / "hack" / "build-bins.sh")],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def test_missing_go_is_one_clear_line(tmp_path: Path) -> None:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for tool in ("bash", "dirname", "mkdir", "cat", "rm", "mv", "touch", "tail", "ln", "basename"):
        for d in ("/usr/bin", "/bin"):
            if os.path.exists(f"{d}/{tool}"):
                os.symlink(f"{d}/{tool}", bindir / tool)
                break
    out = run_build(tmp_path, str(bindir))
    assert out.returncode == 1
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, out.stderr
    assert "Go is not installed" in lines[0] and "make cluster" in lines[0]


def test_failed_build_leaves_no_usable_cache(tmp_path: Path) -> None:
    fake = tmp_path / "fakebin"
    fake.mkdir()
    go = fake / "go"
    go.write_text(
        '#!/bin/sh\n[ "$1" = env ] && { echo https://proxy.invalid; exit 0; }\n'
        "echo 'go: module lookup disabled' >&2; exit 1\n"
    )
    go.chmod(0o755)
    out = run_build(tmp_path, f"{fake}:/usr/bin:/bin")
    assert out.returncode == 1
    assert "building etcd" in out.stderr and "failed" in out.stderr
    cache = tmp_path / "cache" / "bin"
    assert not any(p.name.endswith((".complete",)) for p in cache.rglob("*"))
    assert not [p for p in cache.iterdir() if not p.name.startswith(".")], list(cache.iterdir())


def test_a_go_too_old_for_kubernetes_is_one_clear_line(tmp_path: Path) -> None:
    fake = tmp_path / "fakebin"
    fake.mkdir()
    go = fake / "go"  # Debian bookworm's golang: 1.19, no toolchain switching
    go.write_text(
        '#!/bin/sh\n[ "$1 $2" = "env GOVERSION" ] && { echo go1.19.8; exit 0; }\nexit 1\n'
    )
    go.chmod(0o755)
    out = run_build(tmp_path, f"{fake}:/usr/bin:/bin")
    assert out.returncode == 1
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, out.stderr
    assert "Go 1.19.8 is too old" in lines[0] and ">= 1.21" in lines[0]
