"""Canary releases with the replicas router, end to end on the real local cluster."""

from __future__ import annotations

import json
import signal

import pytest
from lightkube import Client

from tests.integration.helpers import (
    EndpointSampler,
    kprism,
    kprism_bg,
    make_app,
    ready_endpoints,
    release_status,
    replicas,
    selector,
    wait_for,
)

V2 = "registry.example/hello:2"


def green_blue_endpoints(kube: Client, ns: str) -> tuple[int, int]:
    eps = ready_endpoints(kube, ns, "hello")
    return (
        sum(n.startswith("hello-green-") for n in eps),
        sum(n.startswith("hello-blue-") for n in eps),
    )


def test_full_canary_keeps_capacity_and_reaches_every_weight(
    kube: Client, namespace: str, kubeconfig_path: str
) -> None:
    make_app(kube, namespace, replicas=4)
    with EndpointSampler(kubeconfig_path, namespace) as sampler:
        out = kprism(
            "release",
            "hello",
            "-n",
            namespace,
            "--image",
            V2,
            "--steps",
            "10,25,50,100",
            kubeconfig=kubeconfig_path,
            check=0,
        )
    assert "Succeeded" in out.stdout
    # every step was reached and reported with requested vs achieved weight
    for requested, achieved in (("10", "20"), ("25", "25"), ("50", "50"), ("100", "100")):
        assert f"weight {requested}% requested, {achieved}% achieved" in out.stderr, out.stderr
    assert selector(kube, namespace) == {"app": "hello", "color": "green"}
    assert replicas(kube, namespace, "hello-blue") == 0
    assert replicas(kube, namespace, "hello-green") == 4
    assert green_blue_endpoints(kube, namespace) == (4, 0)
    # ready capacity, sampled on every EndpointSlice/Pod change, never dropped below 4
    assert min(sampler.samples) >= 4, sampler.samples
    assert not sampler.violations
    st = release_status(kube, namespace)
    assert st["phase"] == "Succeeded" and st["achieved_weight"] == 100


def test_manual_pause_and_promote_full(kube: Client, namespace: str, kubeconfig_path: str) -> None:
    make_app(kube, namespace, replicas=4)
    spec = "steps:\n- setWeight: 25\n- pause: {}\n- setWeight: 50\n- pause: {}\n- setWeight: 100\n"
    (path := __import__("pathlib").Path(f"/tmp/{namespace}.yaml")).write_text(spec)
    proc = kprism_bg(
        "release",
        "hello",
        "-n",
        namespace,
        "--image",
        V2,
        "-f",
        str(path),
        kubeconfig=kubeconfig_path,
    )
    try:
        wait_for(
            lambda: release_status(kube, namespace).get("phase"),
            lambda p: p == "Paused",
            timeout=60,
            what="first pause",
        )
        st = release_status(kube, namespace)
        assert st["step_index"] == 1 and st["requested_weight"] == 25
        assert green_blue_endpoints(kube, namespace) == (1, 3)
        assert "app" in selector(kube, namespace) and "color" not in selector(kube, namespace)
        kprism("promote", "hello", "-n", namespace, kubeconfig=kubeconfig_path, check=0)
        wait_for(
            lambda: release_status(kube, namespace),
            lambda s: s.get("phase") == "Paused" and s.get("step_index") == 3,
            timeout=60,
            what="second pause",
        )
        assert green_blue_endpoints(kube, namespace) == (2, 2)
        kprism("promote", "hello", "-n", namespace, "--full", kubeconfig=kubeconfig_path, check=0)
        _, err = proc.communicate(timeout=90)
    finally:
        proc.kill()
        proc.communicate()
    assert proc.returncode == 0, err
    assert selector(kube, namespace)["color"] == "green"
    assert replicas(kube, namespace, "hello-blue") == 0


@pytest.mark.parametrize("abort_after", [1, 2, 3])
def test_abort_from_every_step_restores_stable(
    kube: Client, namespace: str, kubeconfig_path: str, abort_after: int
) -> None:
    make_app(kube, namespace, replicas=4)
    proc = kprism_bg(
        "release",
        "hello",
        "-n",
        namespace,
        "--image",
        V2,
        "--steps",
        "10,50,75,100",
        "--pause",
        "300s",
        kubeconfig=kubeconfig_path,
    )
    try:
        # steps: w10, pause, w50, pause, w75, pause, w100 → the k-th pause is at index 2k-1;
        # promote skips a (timed) pause
        for k in range(1, abort_after + 1):
            wait_for(
                lambda: release_status(kube, namespace).get("step_index"),
                lambda i, k=k: i == 2 * k - 1,
                timeout=90,
                what=f"pause after step {k}",
            )
            if k < abort_after:
                kprism("promote", "hello", "-n", namespace, kubeconfig=kubeconfig_path, check=0)
        with EndpointSampler(kubeconfig_path, namespace) as sampler:
            kprism(
                "abort",
                "hello",
                "-n",
                namespace,
                "--reason",
                "test",
                kubeconfig=kubeconfig_path,
                check=0,
            )
            _, err = proc.communicate(timeout=90)
    finally:
        proc.kill()
        proc.communicate()
    assert proc.returncode == 1, err
    st = release_status(kube, namespace)
    assert st["phase"] == "Aborted", st
    assert selector(kube, namespace) == {"app": "hello", "color": "blue"}
    assert replicas(kube, namespace, "hello-green") == 0
    assert replicas(kube, namespace, "hello-blue") == 4
    assert green_blue_endpoints(kube, namespace) == (0, 4)
    assert min(sampler.samples) >= 4, sampler.samples


def test_canary_crash_and_resume(kube: Client, namespace: str, kubeconfig_path: str) -> None:
    make_app(kube, namespace, replicas=3, ready_delay="2s")
    with EndpointSampler(kubeconfig_path, namespace) as sampler:
        proc = kprism_bg(
            "release",
            "hello",
            "-n",
            namespace,
            "--image",
            V2,
            "--steps",
            "34,67,100",
            kubeconfig=kubeconfig_path,
        )
        wait_for(
            lambda: release_status(kube, namespace).get("step_index"),
            lambda i: i == 1,
            timeout=60,
            what="first step reached",
        )
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
        out = kprism("resume", "hello", "-n", namespace, kubeconfig=kubeconfig_path, check=0)
    assert "Succeeded" in out.stdout
    assert selector(kube, namespace)["color"] == "green"
    assert min(sampler.samples) >= 3, sampler.samples


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--steps", "10,120"], "between 0 and 100"),
        (["--steps", "50,25,100"], "greater than the previous setWeight"),
        (["--steps", "10,50"], "100"),
        (["--steps", "10,100", "--auto-promote", "-f", "/dev/null"], "either --steps or -f"),
        (["--strategy", "canary"], "needs --steps"),
        (["--steps", "10,100", "--router", "istio"], "--router 'istio' is unknown"),
    ],
)
def test_canary_bad_input(
    kube: Client, namespace: str, kubeconfig_path: str, args: list[str], needle: str
) -> None:
    make_app(kube, namespace, replicas=2)
    out = kprism(
        "release", "hello", "-n", namespace, "--image", V2, *args, kubeconfig=kubeconfig_path
    )
    assert out.returncode == 2, (out.stdout, out.stderr)
    assert needle in out.stderr, out.stderr
    assert len([line for line in out.stderr.splitlines() if line.strip()]) == 1, out.stderr
    assert release_status(kube, namespace) == {}
    assert selector(kube, namespace) == {"app": "hello", "color": "blue"}


def test_bad_yaml_and_stray_flags_are_one_line_errors(
    kube: Client, namespace: str, kubeconfig_path: str, tmp_path: pytest.TempPathFactory
) -> None:
    make_app(kube, namespace, replicas=2)
    f = tmp_path / "bad.yaml"  # type: ignore[operator]
    f.write_text("steps:\n  - setWeight: 20\n   - pause: {}\n")
    out = kprism(
        "release", "hello", "-n", namespace, "--image", V2, "-f", str(f), kubeconfig=kubeconfig_path
    )
    assert out.returncode == 2 and "bad.yaml:" in out.stderr and "Traceback" not in out.stderr, (
        out.stderr
    )
    out = kprism(
        "release",
        "hello",
        "-n",
        namespace,
        "--image",
        V2,
        "--pause",
        "1m",
        kubeconfig=kubeconfig_path,
    )
    assert out.returncode == 2 and "--pause goes with --steps" in out.stderr
    assert release_status(kube, namespace) == {}


def test_pause_and_resume_a_running_canary(
    kube: Client, namespace: str, kubeconfig_path: str
) -> None:
    """A user's pause holds a canary past the end of its timed pause step, until resumed.

    No fixed sleeps: the pause step is long enough (15 s) for the pause intent to land
    inside it on a loaded machine, and "nothing happened" is checked only once the
    engine has proven it was alive and deciding after the timed pause ended — its
    Lease was renewed (at the start of an engine cycle) later than ``pause_until``."""
    from datetime import datetime

    from lightkube.resources.coordination_v1 import Lease

    make_app(kube, namespace, replicas=2)
    proc = kprism_bg(
        "release",
        "hello",
        "-n",
        namespace,
        "--image",
        V2,
        "--steps",
        "50,100",
        "--pause",
        "15s",
        kubeconfig=kubeconfig_path,
    )
    try:
        wait_for(
            lambda: release_status(kube, namespace).get("step_index"),
            lambda i: i == 1,
            timeout=60,
            what="the pause step",
        )
        kprism("pause", "hello", "-n", namespace, kubeconfig=kubeconfig_path, check=0)
        st = wait_for(
            lambda: release_status(kube, namespace),
            lambda s: s.get("paused") is True,
            timeout=30,
            what="paused",
        )
        assert st["step_index"] == 1 and st["pause_until"], st
        pause_until = datetime.fromisoformat(st["pause_until"].replace("Z", "+00:00"))

        def renewed() -> datetime:
            lease = kube.get(Lease, "kprism-hello", namespace=namespace)
            assert lease.spec is not None and lease.spec.renewTime is not None
            return lease.spec.renewTime

        wait_for(
            renewed,
            lambda t: t > pause_until,
            timeout=60,
            what="an engine cycle after the pause step ended",
        )
        st = release_status(kube, namespace)
        assert st["paused"] is True and st["step_index"] == 1, st
        assert selector(kube, namespace) == {"app": "hello"}  # both tracks, still 50/50
        kprism("resume", "hello", "-n", namespace, kubeconfig=kubeconfig_path, check=0)
        _, err = proc.communicate(timeout=90)
    finally:
        proc.kill()
        proc.communicate()
    assert proc.returncode == 0, err
    assert selector(kube, namespace)["color"] == "green"


def test_stable_with_zero_replicas_is_refused(
    kube: Client, namespace: str, kubeconfig_path: str
) -> None:
    make_app(kube, namespace, replicas=1)
    kprism(
        "scale",
        "hello",
        "-n",
        namespace,
        "--track",
        "blue",
        "--replicas",
        "0",
        kubeconfig=kubeconfig_path,
    )
    from lightkube.resources.apps_v1 import Deployment

    kube.patch(Deployment, "hello-blue", {"spec": {"replicas": 0}}, namespace=namespace)
    out = kprism(
        "release",
        "hello",
        "-n",
        namespace,
        "--image",
        V2,
        "--steps",
        "50,100",
        kubeconfig=kubeconfig_path,
    )
    assert out.returncode == 2, out.stderr
    assert "0 replicas" in out.stderr
    assert release_status(kube, namespace) == {}


def test_pause_without_duration_in_automatic_run_is_refused(
    kube: Client, namespace: str, kubeconfig_path: str, tmp_path: pytest.TempPathFactory
) -> None:
    make_app(kube, namespace, replicas=2)
    f = tmp_path / "r.yaml"  # type: ignore[operator]
    f.write_text("autoPromote: true\nsteps:\n- setWeight: 50\n- pause: {}\n- setWeight: 100\n")
    out = kprism(
        "release", "hello", "-n", namespace, "--image", V2, "-f", str(f), kubeconfig=kubeconfig_path
    )
    assert out.returncode == 2 and "r.yaml:4" in out.stderr, out.stderr


def test_plan_prints_steps_with_replicas_and_achieved_weights(
    kube: Client, namespace: str, kubeconfig_path: str
) -> None:
    make_app(kube, namespace, replicas=10)
    out = kprism(
        "plan",
        "hello",
        "-n",
        namespace,
        "--image",
        V2,
        "--steps",
        "10,25,50,100",
        "-o",
        "json",
        kubeconfig=kubeconfig_path,
        check=0,
    )
    data = json.loads(out.stdout)
    text = "\n".join(data["steps"])
    assert "weight 10% → 1 green / 9 blue pods, achieved 10%" in text
    assert "weight 25% → 3 green / 9 blue pods, achieved 25%" in text
    assert release_status(kube, namespace) == {}
