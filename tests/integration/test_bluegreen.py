"""Blue-green releases end to end against the real local cluster, through the CLI."""

from __future__ import annotations

import json
import signal

import pytest
from lightkube import Client
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.core_v1 import Pod

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


def pods_of(kube: Client, ns: str, color: str) -> set[str]:
    return {
        p.metadata.name
        for p in kube.list(Pod, namespace=ns, labels={"app": "hello", "color": color})
        if p.metadata.deletionTimestamp is None
    }


def test_auto_promoted_release_switches_verifies_and_scales_down(
    kube: Client, namespace: str, kubeconfig_path: str
) -> None:
    make_app(kube, namespace)
    with EndpointSampler(kubeconfig_path, namespace) as sampler:
        out = kprism(
            "release",
            "hello",
            "-n",
            namespace,
            "--image",
            V2,
            "--auto-promote",
            "--scale-down-delay",
            "2",
            kubeconfig=kubeconfig_path,
            check=0,
        )
    assert "Succeeded" in out.stdout
    assert selector(kube, namespace) == {"app": "hello", "color": "green"}
    green = kube.get(Deployment, "hello-green", namespace=namespace)
    assert green.spec.template.spec.containers[0].image == V2
    assert green.spec.replicas == 3
    assert replicas(kube, namespace, "hello-blue") == 0
    assert ready_endpoints(kube, namespace, "hello") == pods_of(kube, namespace, "green")
    st = release_status(kube, namespace)
    assert st["phase"] == "Succeeded" and st["stable"] == "blue" and st["candidate"] == "green"
    assert st["verified_at"] >= st["switched_at"]
    assert not sampler.violations, sampler.violations
    assert min(sampler.samples) >= 1
    # progress showed the endpoint verification step
    assert "verify-cutover" in out.stderr or "scale-down-delay" in out.stderr
    hist = json.loads(
        kprism(
            "history", "hello", "-n", namespace, "-o", "json", kubeconfig=kubeconfig_path, check=0
        ).stdout
    )
    assert hist[0]["phase"] == "Succeeded" and hist[0]["candidate_images"] == {"hello": V2}
    # the audit trail names the user the API server authenticated, and the shell
    from lightkube.resources.authentication_v1 import SelfSubjectReview

    review = kube.create(SelfSubjectReview())
    user = review.status.userInfo.username  # type: ignore[union-attr]
    assert user and hist[0]["by"].startswith(f"{user} (cli on "), (user, hist[0])


def test_manual_promotion_from_another_process(
    kube: Client, namespace: str, kubeconfig_path: str
) -> None:
    make_app(kube, namespace)
    waiting = kprism_bg(
        "release",
        "hello",
        "-n",
        namespace,
        "--image",
        V2,
        "--scale-down-delay",
        "1",
        kubeconfig=kubeconfig_path,
    )
    try:
        wait_for(
            lambda: release_status(kube, namespace).get("step"),
            lambda s: s == "await-promotion",
            timeout=60,
            what="release waiting for promotion",
        )
        assert release_status(kube, namespace)["phase"] == "Paused"
        assert selector(kube, namespace)["color"] == "blue", "traffic moved before promotion"
        # promote from another process: the waiting engine holds the Lease and acts on the intent
        kprism("promote", "hello", "-n", namespace, kubeconfig=kubeconfig_path, check=0)
        _, err = waiting.communicate(timeout=90)
    finally:
        waiting.kill()
        waiting.communicate()
    assert waiting.returncode == 0, err
    assert selector(kube, namespace)["color"] == "green"
    assert release_status(kube, namespace)["promoted"] is True


def test_no_wait_release_then_promote_drives_unattended_release(
    kube: Client, namespace: str, kubeconfig_path: str
) -> None:
    make_app(kube, namespace)
    out = kprism(
        "release",
        "hello",
        "-n",
        namespace,
        "--image",
        V2,
        "--no-wait",
        "--scale-down-delay",
        "1",
        "-o",
        "json",
        kubeconfig=kubeconfig_path,
        check=0,
    )
    st = json.loads(out.stdout)
    assert st["phase"] == "Paused" and st["step"] == "await-promotion"
    # nobody holds the Lease now: promote takes it and drives the release to the end
    kprism("promote", "hello", "-n", namespace, kubeconfig=kubeconfig_path, check=0)
    assert release_status(kube, namespace)["phase"] == "Succeeded"
    assert selector(kube, namespace)["color"] == "green"
    # promote again: nothing to promote
    again = kprism("promote", "hello", "-n", namespace, kubeconfig=kubeconfig_path, check=2)
    assert "nothing to promote" in again.stderr


def test_abort_keeps_traffic_on_stable_and_scales_candidate_down(
    kube: Client, namespace: str, kubeconfig_path: str
) -> None:
    make_app(kube, namespace)
    waiting = kprism_bg(
        "release", "hello", "-n", namespace, "--image", V2, kubeconfig=kubeconfig_path
    )
    try:
        wait_for(
            lambda: release_status(kube, namespace).get("step"),
            lambda s: s == "await-promotion",
            timeout=60,
            what="await-promotion",
        )
        with EndpointSampler(kubeconfig_path, namespace) as sampler:
            kprism(
                "abort",
                "hello",
                "-n",
                namespace,
                "--reason",
                "bad canary",
                kubeconfig=kubeconfig_path,
                check=0,
            )
            _, err = waiting.communicate(timeout=60)
    finally:
        waiting.kill()
        waiting.communicate()
    assert waiting.returncode == 1, err  # the release process reports the abort
    st = release_status(kube, namespace)
    assert st["phase"] == "Aborted"
    assert selector(kube, namespace)["color"] == "blue"
    assert replicas(kube, namespace, "hello-green") == 0
    assert replicas(kube, namespace, "hello-blue") == 3
    assert not sampler.violations


def test_rollback_after_release_scales_previous_up_before_flipping(
    kube: Client, namespace: str, kubeconfig_path: str
) -> None:
    make_app(kube, namespace)
    kprism(
        "release",
        "hello",
        "-n",
        namespace,
        "--image",
        V2,
        "--auto-promote",
        "--scale-down-delay",
        "0",
        kubeconfig=kubeconfig_path,
        check=0,
    )
    assert replicas(kube, namespace, "hello-blue") == 0
    with EndpointSampler(kubeconfig_path, namespace, stable="green") as sampler:
        out = kprism(
            "rollback",
            "hello",
            "-n",
            namespace,
            "--scale-down-delay",
            "1",
            kubeconfig=kubeconfig_path,
            check=0,
        )
    assert "rolled back to blue" in out.stdout
    assert selector(kube, namespace)["color"] == "blue"
    assert ready_endpoints(kube, namespace, "hello") == pods_of(kube, namespace, "blue")
    assert replicas(kube, namespace, "hello-green") == 0
    assert not sampler.violations
    # the flip happened only after blue was fully ready again
    lines = out.stderr.splitlines()
    first_switch = next(
        i for i, line in enumerate(lines) if "selector to app=hello,color=blue" in line
    )
    assert any("wait-ready" in line for line in lines[:first_switch])


def test_release_fails_and_never_flips_onto_a_track_that_is_not_ready(
    kube: Client, namespace: str, kubeconfig_path: str, tmp_path: pytest.TempPathFactory
) -> None:
    make_app(kube, namespace)
    patch = tmp_path / "unready.yaml"  # type: ignore[operator]
    patch.write_text("metadata:\n  annotations:\n    kprism.dev/simulate-unready: 'true'\n")
    out = kprism(
        "release",
        "hello",
        "-n",
        namespace,
        "--image",
        V2,
        "--auto-promote",
        "--patch-file",
        str(patch),
        "--ready-timeout",
        "3",
        kubeconfig=kubeconfig_path,
        check=1,
    )
    assert "not ready after 3s" in out.stderr + out.stdout
    st = release_status(kube, namespace)
    assert st["phase"] == "Failed"
    assert selector(kube, namespace)["color"] == "blue"
    assert replicas(kube, namespace, "hello-green") == 0


def test_preview_service_serves_candidate_before_promotion(
    kube: Client, namespace: str, kubeconfig_path: str
) -> None:
    from lightkube.resources.core_v1 import Service

    make_app(kube, namespace)
    waiting = kprism_bg(
        "release",
        "hello",
        "-n",
        namespace,
        "--image",
        V2,
        "--preview",
        "--scale-down-delay",
        "0",
        kubeconfig=kubeconfig_path,
    )
    try:
        wait_for(
            lambda: release_status(kube, namespace).get("step"),
            lambda s: s == "await-promotion",
            timeout=60,
            what="await-promotion",
        )
        prev = kube.get(Service, "hello-preview", namespace=namespace)
        assert prev.spec.selector == {"app": "hello", "color": "green"}
        assert ready_endpoints(kube, namespace, "hello-preview") == pods_of(
            kube, namespace, "green"
        )
        assert selector(kube, namespace)["color"] == "blue"
        kprism("promote", "hello", "-n", namespace, kubeconfig=kubeconfig_path, check=0)
        waiting.communicate(timeout=60)
    finally:
        waiting.kill()
        waiting.communicate()
    assert waiting.returncode == 0
    assert not list(
        kube.list(Service, namespace=namespace, fields={"metadata.name": "hello-preview"})
    )


def test_second_release_is_refused_while_one_is_in_progress(
    kube: Client, namespace: str, kubeconfig_path: str
) -> None:
    make_app(kube, namespace)
    first = kprism_bg(
        "release", "hello", "-n", namespace, "--image", V2, kubeconfig=kubeconfig_path
    )
    try:
        wait_for(
            lambda: release_status(kube, namespace).get("step"),
            lambda s: s == "await-promotion",
            timeout=60,
            what="first release waiting",
        )
        second = kprism(
            "release",
            "hello",
            "-n",
            namespace,
            "--image",
            "registry.example/hello:3",
            kubeconfig=kubeconfig_path,
            check=2,
        )
        assert "in progress" in second.stderr
        assert "driven by" in second.stderr  # names the Lease holder
        assert "Traceback" not in second.stderr
    finally:
        first.send_signal(signal.SIGKILL)
        first.communicate()


def test_lease_contention_between_two_processes(
    kube: Client, namespace: str, kubeconfig_path: str
) -> None:
    make_app(kube, namespace, ready_delay="2s")
    a = kprism_bg(
        "release",
        "hello",
        "-n",
        namespace,
        "--image",
        V2,
        "--auto-promote",
        "--scale-down-delay",
        "0",
        kubeconfig=kubeconfig_path,
    )
    b = kprism_bg(
        "release",
        "hello",
        "-n",
        namespace,
        "--image",
        "registry.example/hello:3",
        "--auto-promote",
        "--scale-down-delay",
        "0",
        kubeconfig=kubeconfig_path,
    )
    _, err_a = a.communicate(timeout=120)
    _, err_b = b.communicate(timeout=120)
    codes = sorted([a.returncode, b.returncode])
    assert codes == [0, 2], (err_a, err_b)
    loser = err_a if a.returncode == 2 else err_b
    assert "in progress" in loser or "being driven by" in loser
    assert "Traceback" not in loser


@pytest.mark.parametrize(
    ("kill_at", "manual"),
    [
        # create-candidate lasts one API request: it cannot be hit by polling. The crash
        # right after it is recorded is test_crash_between_record_and_act_at_every_acting_step.
        ("wait-ready", False),
        ("await-promotion", True),
        ("scale-down-delay", False),
    ],
)
def test_sigkill_at_any_phase_then_resume_converges(
    kube: Client, namespace: str, kubeconfig_path: str, kill_at: str, manual: bool
) -> None:
    make_app(kube, namespace, ready_delay="2s")
    args = ["release", "hello", "-n", namespace, "--image", V2, "--scale-down-delay", "2"]
    if not manual:
        args.append("--auto-promote")
    with EndpointSampler(kubeconfig_path, namespace) as sampler:
        proc = kprism_bg(*args, kubeconfig=kubeconfig_path)
        wait_for(
            lambda: release_status(kube, namespace).get("step"),
            lambda s: s == kill_at,
            timeout=60,
            what=f"step {kill_at}",
        )
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
        # the Service keeps ready endpoints while nobody drives the release: the sampler
        # (whose violations are asserted at the end) looks at it twice more first
        seen = len(sampler.samples)
        wait_for(lambda: len(sampler.samples), lambda n: n >= seen + 2, what="two samples")
        assert ready_endpoints(kube, namespace, "hello")
        if manual:
            kprism("promote", "hello", "-n", namespace, kubeconfig=kubeconfig_path, check=0)
        out = kprism("resume", "hello", "-n", namespace, kubeconfig=kubeconfig_path)
        assert out.returncode in (0, 2), out.stderr  # 2: promote already drove it to the end
        if out.returncode == 2:
            assert "nothing" in out.stderr or "Succeeded" in out.stdout
    st = release_status(kube, namespace)
    assert st["phase"] == "Succeeded", st
    assert selector(kube, namespace)["color"] == "green"
    assert replicas(kube, namespace, "hello-blue") == 0
    assert ready_endpoints(kube, namespace, "hello") == pods_of(kube, namespace, "green")
    assert len(pods_of(kube, namespace, "green")) == 3
    assert not sampler.violations, sampler.violations


@pytest.mark.parametrize(
    "step", ["pin-service", "create-candidate", "switch-traffic", "scale-down"]
)
def test_crash_between_record_and_act_at_every_acting_step(
    kube: Client, namespace: str, kubeconfig_path: str, step: str
) -> None:
    """SIGKILL exactly after the status is recorded and before the action is taken."""
    from tests.integration.helpers import deployment, service

    kube.create(
        deployment("hello-blue", {"app": "hello", "color": "blue"}, replicas=3), namespace=namespace
    )
    kube.create(
        service("hello", {"app": "hello"}), namespace=namespace
    )  # unpinned: pin-service acts
    wait_for(
        lambda: len(ready_endpoints(kube, namespace, "hello")), lambda n: n == 3, what="3 endpoints"
    )
    with EndpointSampler(kubeconfig_path, namespace) as sampler:
        proc = kprism_bg(
            "release",
            "hello",
            "-n",
            namespace,
            "--image",
            V2,
            "--auto-promote",
            "--scale-down-delay",
            "1",
            kubeconfig=kubeconfig_path,
            env_extra={"KPRISM_FAILPOINT": f"after-record:{step}"},
        )
        proc.communicate(timeout=120)
        assert proc.returncode == -signal.SIGKILL, "the failpoint did not fire"
        assert release_status(kube, namespace)["step"] == step
        assert ready_endpoints(kube, namespace, "hello")
        kprism("resume", "hello", "-n", namespace, kubeconfig=kubeconfig_path, check=0)
    st = release_status(kube, namespace)
    assert st["phase"] == "Succeeded", st
    assert selector(kube, namespace) == {"app": "hello", "color": "green"}
    assert replicas(kube, namespace, "hello-blue") == 0
    assert ready_endpoints(kube, namespace, "hello") == pods_of(kube, namespace, "green")
    assert not sampler.violations, sampler.violations
