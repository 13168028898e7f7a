"""The process node behaves like a kubelet where traffic depends on it, and kprism copes
with what real processes do: crash at start, ignore SIGTERM, unknown images."""

from __future__ import annotations

import json
import time
from typing import Any

from lightkube import Client

from testkit import scenarios as sc
from testkit.load import summarize

APP = "py-hello-service"


def _pods(ns: str, selector: str) -> list[dict[str, Any]]:
    return list(json.loads(sc.kubectl(ns, "get", "pods", "-l", selector, "-o", "json"))["items"])


def _events(ns: str, reason: str) -> list[dict[str, Any]]:
    items = json.loads(sc.kubectl(ns, "get", "events", "-o", "json"))["items"]
    return [e for e in items if e.get("reason") == reason]


def _wait(pred: Any, timeout: float = 60, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = pred()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def test_pods_are_real_processes_with_their_own_ips(dp_namespace: str) -> None:
    ns = dp_namespace
    sc.apply(ns, sc.recommended_seed())
    sc.rollout(ns, "py-hello-blue")
    pods = _pods(ns, "app=hello")
    assert len(pods) == 3
    ips = {p["status"]["podIP"] for p in pods}
    assert len(ips) == 3 and all(ip.startswith("198.18.") for ip in ips)
    assert {p["spec"]["nodeName"] for p in pods} == {"kprism-proc-0"}
    url = sc.cluster_url(ns, APP)
    assert url.startswith("http://198.19.")


def test_crashing_candidate_is_reported_and_never_promoted(
    dp_kube: Client, dp_namespace: str
) -> None:
    """A command that exits at once: CrashLoopBackOff in pod status; the release fails,
    traffic stays on stable, and the load sees no failure."""
    ns = dp_namespace
    sc.apply(ns, sc.recommended_seed())
    sc.rollout(ns, "py-hello-blue")
    sc.kprism(ns, "adopt", APP)
    url = sc.cluster_url(ns, APP)
    result: dict[str, Any] = {}

    def release() -> None:
        r = sc.kprism(
            ns,
            "release",
            APP,
            "--image",
            "hello=localhost:5001/py-http:2",
            "--set-env",
            "hello:PORT=not-a-port",
            "--auto-promote",
            "--ready-timeout",
            "15",
            check=False,
        )
        result["rc"], result["err"] = r.returncode, r.stderr

    hits, _, _ = sc.under_load(dp_kube, ns, APP, url, rate=50, keepalive=True, action=release)
    assert result["rc"] == 1, result
    green = _pods(ns, "color=green")
    svc = json.loads(sc.kubectl(ns, "get", "service", APP, "-o", "json"))
    assert svc["spec"]["selector"].get("color") == "blue"
    s = summarize(hits)
    assert s.failed == 0, s.as_dict()
    assert set(s.versions) == {"1"}
    # The crash was visible while it lasted (the failed release scales green to 0 after).
    crashes = _events(ns, "BackOff")
    assert crashes, "no BackOff event for the crashing container"
    assert "exited" in crashes[0]["message"]
    assert all(p["metadata"].get("deletionTimestamp") for p in green) or not green


def test_crash_loop_status_and_unknown_image(dp_namespace: str) -> None:
    ns = dp_namespace
    docs = sc.recommended_seed()
    dep = sc.deployment(docs)
    dep["spec"]["replicas"] = 1
    c = dep["spec"]["template"]["spec"]["containers"][0]
    c["args"] = ["exit 3"]
    sc.apply(ns, [dep])

    def crash_looping() -> dict[str, Any] | None:
        for p in _pods(ns, "app=hello"):
            for cs in p["status"].get("containerStatuses", []):
                if (
                    cs["restartCount"] >= 1
                    and cs["state"].get("waiting", {}).get("reason") == "CrashLoopBackOff"
                ):
                    return cs
        return None

    cs = _wait(crash_looping, what="CrashLoopBackOff")
    assert cs["lastState"]["terminated"]["exitCode"] == 3
    assert not cs["ready"]

    c["args"] = ["exec python app.py"]
    c["image"] = "registry.example/unknown:1"
    sc.apply(ns, [dep])

    def pull_error() -> bool:
        return any(
            cs["state"].get("waiting", {}).get("reason") == "ErrImagePull"
            for p in _pods(ns, "app=hello")
            for cs in p["status"].get("containerStatuses", [])
        )

    _wait(pull_error, what="ErrImagePull")


def _job(name: str, command: list[str]) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {
            "backoffLimit": 0,
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [
                        {"name": "run", "image": "localhost:5001/py-http:2", "command": command}
                    ],
                }
            },
        },
    }


def _job_condition(ns: str, name: str) -> str | None:
    job = json.loads(sc.kubectl(ns, "get", "job", name, "-o", "json"))
    for cond in job.get("status", {}).get("conditions") or []:
        if cond["type"] in ("Complete", "Failed") and cond["status"] == "True":
            return str(cond["type"])
    return None


def test_a_jobs_pods_run_to_completion_and_are_not_restarted(dp_namespace: str) -> None:
    """restartPolicy Never: exit 0 completes the Job, exit 3 or a command that cannot
    start fails it; the container is never started again."""
    ns = dp_namespace
    sc.apply(
        ns,
        [
            _job("ok", ["sh", "-c", "echo fine"]),
            _job("exits-3", ["sh", "-c", "exit 3"]),
            _job("no-such-command", ["no-such-command"]),
        ],
    )
    want = {"ok": "Complete", "exits-3": "Failed", "no-such-command": "Failed"}
    for name, cond in want.items():
        assert _wait(lambda n=name: _job_condition(ns, n), what=f"Job {name} to end") == cond
    for name, code, phase in (("ok", 0, "Succeeded"), ("exits-3", 3, "Failed"),
                              ("no-such-command", 128, "Failed")):  # fmt: skip
        (pod,) = _pods(ns, f"job-name={name}")
        assert pod["spec"]["nodeName"] == "kprism-proc-0"
        assert pod["status"]["phase"] == phase, pod["status"]
        (cs,) = pod["status"]["containerStatuses"]
        assert cs["state"]["terminated"]["exitCode"] == code
        assert cs["restartCount"] == 0


def test_sigterm_ignored_until_the_grace_deadline(dp_namespace: str) -> None:
    """``sh -c`` as PID 1 ignores SIGTERM (no handler), as in a container: the process
    lives until SIGKILL at the grace deadline, and that kill is recorded."""
    ns = dp_namespace
    docs = sc.seed_docs(fixed=False)  # as written: sh -c "python app.py", no exec
    dep = sc.deployment(docs)
    dep["spec"]["replicas"] = 1
    spec = dep["spec"]["template"]["spec"]
    spec["terminationGracePeriodSeconds"] = 3
    spec["containers"][0]["lifecycle"] = {}
    sc.apply(ns, [dep])
    sc.rollout(ns, "py-hello-blue")
    pod = _pods(ns, "app=hello")[0]["metadata"]["name"]
    start = time.monotonic()
    sc.kubectl(ns, "delete", "pod", pod, "--wait=true", "--timeout=60s")
    took = time.monotonic() - start
    assert took >= 2.5, f"the pod went away after {took:.1f}s: SIGTERM was not ignored"
    kills = _wait(
        lambda: _events(ns, "KilledAtGraceDeadline"), timeout=10, what="the SIGKILL event"
    )
    assert pod in kills[0]["involvedObject"]["name"]


def test_up_twice_reuses_everything() -> None:
    """`hack/dataplane.sh up` again: same kubeconfig, same processes, nothing restarted."""
    import os
    from pathlib import Path

    state = sc.ROOT / ".cache" / "dataplane"
    pids = {p.name: p.read_text() for p in state.glob("*.pid")}
    assert {"noderuntime.pid", "kube-proxy.pid"} <= set(pids)
    out = sc.run(str(sc.ROOT / "hack" / "dataplane.sh"), "up", timeout=120)
    assert out.strip().splitlines()[-1] == os.environ["KPRISM_DATAPLANE_KUBECONFIG"]
    assert {p.name: p.read_text() for p in state.glob("*.pid")} == pids
    for pid in pids.values():
        assert Path(f"/proc/{pid.strip()}").exists()
