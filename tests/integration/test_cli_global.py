"""CLI plumbing that platform engineers rely on: kubectl plugin, global options, -o, list."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml
from lightkube import Client

from tests.integration.helpers import kprism, make_app

ROOT = Path(__file__).resolve().parents[2]


def test_kubectl_plugin_is_discovered(kubeconfig_path: str, namespace: str, kube: Client) -> None:
    kubectl = ROOT / ".cache" / "bin" / "current" / "kubectl"
    assert kubectl.exists(), "the local cluster's kubectl is missing"
    make_app(kube, namespace, replicas=1)
    venv_bin = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": f"{venv_bin}:{os.environ['PATH']}", "KUBECONFIG": kubeconfig_path}
    out = subprocess.run(
        [str(kubectl), "plugin", "list"], capture_output=True, text=True, env=env, check=False
    )
    assert "kubectl-prism" in out.stdout, out.stdout + out.stderr
    out = subprocess.run(
        [str(kubectl), "prism", "-n", namespace, "status", "hello", "-o", "json"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["app"] == "hello"


def test_global_and_local_options_and_output_formats(
    kube: Client, namespace: str, kubeconfig_path: str
) -> None:
    make_app(kube, namespace, replicas=2)
    before = kprism(
        "-n", namespace, "status", "hello", "-o", "yaml", kubeconfig=kubeconfig_path, check=0
    )
    data = yaml.safe_load(before.stdout)
    assert data["selector"] == {"app": "hello", "color": "blue"}
    assert data["readyEndpoints"] == 2
    after = kprism(
        "status", "hello", "-n", namespace, "-o", "json", kubeconfig=kubeconfig_path, check=0
    )
    assert json.loads(after.stdout)["tracks"][0]["deployment"] == "hello-blue"
    listed = json.loads(
        kprism("list", "-A", "-o", "json", kubeconfig=kubeconfig_path, check=0).stdout
    )
    assert {"namespace": namespace, "name": "hello"}.items() <= next(
        a for a in listed if a["namespace"] == namespace
    ).items()
    scaled = kprism(
        "scale",
        "hello",
        "-n",
        namespace,
        "--track",
        "blue",
        "--replicas",
        "3",
        "-o",
        "json",
        kubeconfig=kubeconfig_path,
        check=0,
    )
    assert json.loads(scaled.stdout)["replicas"] == 3


def test_kubeconfig_flag_before_the_command_beats_the_environment(
    kube: Client, namespace: str, kubeconfig_path: str
) -> None:
    make_app(kube, namespace, replicas=1)
    env = {**os.environ, "KUBECONFIG": "/nonexistent/kubeconfig"}
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "kprism.cli.main",
            "--kubeconfig",
            kubeconfig_path,
            "-n",
            namespace,
            "status",
            "hello",
            "-o",
            "json",
        ],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["app"] == "hello"
    out = subprocess.run(
        [sys.executable, "-m", "kprism.cli.main", "-n", namespace, "status", "hello"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert out.returncode == 2 and "/nonexistent/kubeconfig" in out.stderr
