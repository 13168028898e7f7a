"""Explain, don't just count (issue 14 item 4), on the real cluster: pods that KWOK's
stages (hack/cluster/stages.yaml) put in ImagePullBackOff or CrashLoopBackOff, and pods
the real scheduler cannot place. ``kprism status`` says why they are not ready, and a
release to such pods fails after ``--fail-fast-after``, not the ready timeout."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

from lightkube import Client
from lightkube.resources.core_v1 import Event

from tests.integration.helpers import (
    kprism,
    kprism_bg,
    make_app,
    release_status,
    selector,
    wait_for,
)

BAD_IMAGE = "registry.example/hello:does-not-exist"
CRASH_IMAGE = "registry.example/hello:crash-loop"


def _status(namespace: str, kubeconfig: str) -> dict[str, Any]:
    out = kprism("status", "hello", "-n", namespace, "-o", "json", kubeconfig=kubeconfig, check=0)
    data: dict[str, Any] = json.loads(out.stdout)
    return data


def _issues(data: dict[str, Any], track: str) -> list[dict[str, Any]]:
    row = next((t for t in data["tracks"] if t["track"] == track), None)
    return list(row["not_ready"]) if row else []


def _warnings(kube: Client, namespace: str, reason: str) -> list[str]:
    return [
        e.message or ""
        for e in kube.list(Event, namespace=namespace)
        if e.involvedObject.kind == "Service" and e.reason == reason
    ]


def _end(proc: subprocess.Popen[str], namespace: str, kubeconfig: str) -> None:
    """Abort the release ``proc`` drives and wait for it to exit."""
    if proc.poll() is None:
        kprism("abort", "hello", "-n", namespace, kubeconfig=kubeconfig)
    proc.communicate(timeout=120)


def test_bluegreen_release_to_a_bad_image_fails_fast_with_the_reason(
    kube: Client, namespace: str, kubeconfig_path: str
) -> None:
    make_app(kube, namespace, replicas=2)
    out = kprism(
        "release",
        "hello",
        "-n",
        namespace,
        "--image",
        BAD_IMAGE,
        "--auto-promote",
        "--ready-timeout",
        "600",
        "--fail-fast-after",
        "3s",
        kubeconfig=kubeconfig_path,
        timeout=120,  # far below the 600 s ready timeout: only failing fast ends it in time
    )
    assert out.returncode == 1, out.stdout + out.stderr
    assert "ImagePullBackOff" in out.stdout + out.stderr
    st = release_status(kube, namespace)
    assert st["phase"] == "Failed"
    assert "ImagePullBackOff" in st["last_error"], st["last_error"]
    assert BAD_IMAGE in st["last_error"]
    assert "fail-fast after 3s" in st["last_error"]
    assert "ImagePullBackOff" in st["message"]
    assert selector(kube, namespace)["color"] == "blue"  # nothing was flipped
    assert any("ImagePullBackOff" in m for m in _warnings(kube, namespace, "ReleaseFailed"))


def test_canary_to_a_crashing_image_aborts_fast(
    kube: Client, namespace: str, kubeconfig_path: str
) -> None:
    make_app(kube, namespace, replicas=2)
    out = kprism(
        "release",
        "hello",
        "-n",
        namespace,
        "--image",
        CRASH_IMAGE,
        "--steps",
        "50,100",
        "--fail-fast-after",
        "4s",
        kubeconfig=kubeconfig_path,
        timeout=120,
    )
    assert out.returncode == 1, out.stdout + out.stderr
    st = release_status(kube, namespace)
    assert st["phase"] == "Failed"
    assert "exit code 1" in st["last_error"], st["last_error"]
    assert "fail-fast after 4s" in st["last_error"]
    assert selector(kube, namespace)["color"] == "blue"


def test_status_explains_crash_loops_and_unschedulable_pods(
    kube: Client, namespace: str, kubeconfig_path: str, tmp_path: Path
) -> None:
    make_app(kube, namespace, replicas=1)
    release = kprism_bg(
        "release",
        "hello",
        "-n",
        namespace,
        "--image",
        CRASH_IMAGE,
        "--fail-fast-after",
        "never",
        kubeconfig=kubeconfig_path,
    )
    try:
        # the restart count grows while the release waits (fail-fast is off)
        data = wait_for(
            lambda: _status(namespace, kubeconfig_path),
            lambda d: any(
                i["reason"] == "CrashLoopBackOff" and i["restarts"] >= 2
                for i in _issues(d, "green")
            ),
            timeout=90,
            what="a CrashLoopBackOff with 2 restarts in status",
        )
        issue = next(i for i in _issues(data, "green") if i["reason"] == "CrashLoopBackOff")
        assert issue["exitCode"] == 1 and issue["container"] == "hello" and issue["stuck"]
        assert any(e["reason"] == "BackOff" for e in data["podEvents"]), data["podEvents"]
        assert data["release"]["phase"] == "Progressing"
        text = kprism("status", "hello", "-n", namespace, kubeconfig=kubeconfig_path, check=0)
        assert "green: 1 pods not ready" in text.stdout, text.stdout
        # (read again: the crash loop may be in its back-off or running again by now)
        assert re.search(r"(CrashLoopBackOff|Error) \(exit code 1, \d+ restarts\)", text.stdout)
        assert "event pod" in text.stdout and "BackOff" in text.stdout
    finally:
        _end(release, namespace, kubeconfig_path)

    patch = tmp_path / "nowhere.yaml"
    patch.write_text("spec:\n  nodeSelector:\n    kprism.dev/nowhere: 'true'\n")
    release = kprism_bg(
        "release",
        "hello",
        "-n",
        namespace,
        "--patch-file",
        str(patch),
        kubeconfig=kubeconfig_path,
    )
    try:
        data = wait_for(
            lambda: _status(namespace, kubeconfig_path),
            lambda d: (
                any(i["reason"] == "Unschedulable" for i in _issues(d, "green"))
                and any(e["reason"] == "FailedScheduling" for e in d["podEvents"])
            ),
            timeout=90,
            what="an Unschedulable pod and its FailedScheduling Event in status",
        )
        issue = next(i for i in _issues(data, "green") if i["reason"] == "Unschedulable")
        assert "node" in issue["message"] and not issue["stuck"]
        text = kprism("status", "hello", "-n", namespace, kubeconfig=kubeconfig_path, check=0)
        assert "Unschedulable" in text.stdout and "FailedScheduling" in text.stdout
    finally:
        _end(release, namespace, kubeconfig_path)


def test_status_explains_a_failing_readiness_probe(
    kube: Client, namespace: str, kubeconfig_path: str, tmp_path: Path
) -> None:
    """A pod that runs but never passes its readiness probe: not stuck (waiting may cure
    it, so no fail-fast), explained by its Ready condition and the Unhealthy Events."""
    make_app(kube, namespace, replicas=1)
    patch = tmp_path / "unready.yaml"
    patch.write_text("metadata:\n  annotations:\n    kprism.dev/simulate-unready: 'true'\n")
    release = kprism_bg(
        "release",
        "hello",
        "-n",
        namespace,
        "--patch-file",
        str(patch),
        "--fail-fast-after",
        "1s",
        kubeconfig=kubeconfig_path,
    )
    try:
        data = wait_for(
            lambda: _status(namespace, kubeconfig_path),
            lambda d: (
                any(e["reason"] == "Unhealthy" for e in d["podEvents"])
                and any(i["message"] for i in _issues(d, "green"))
            ),
            timeout=90,
            what="a NotReady pod and its Unhealthy Event in status",
        )
        (issue,) = _issues(data, "green")
        assert issue["reason"] == "NotReady" and not issue["stuck"]
        assert issue["message"] == "containers with unready status: [hello]"
        event = next(e for e in data["podEvents"] if e["reason"] == "Unhealthy")
        assert event["message"].startswith("Readiness probe failed")
        assert data["release"]["phase"] == "Progressing"  # not failed fast: not stuck
        text = kprism("status", "hello", "-n", namespace, kubeconfig=kubeconfig_path, check=0)
        assert "NotReady — containers with unready status: [hello]" in text.stdout
        assert "Unhealthy" in text.stdout
    finally:
        _end(release, namespace, kubeconfig_path)
