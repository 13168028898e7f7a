"""Chaos: releases killed with SIGKILL at random moments, the API server restarted under a
release, two engines racing for one app. Every release must converge after ``resume``,
the Service must never lose its ready endpoints while the stable track has ready pods,
and the end state must be consistent: one serving track at full size, the others at 0,
the Lease free, and every release in the history.

The short run is part of ``make test``; ``make chaos`` runs the long one
(``KPRISM_CHAOS_KILLS``, ``KPRISM_CHAOS_RELEASES``). The seed is printed on failure
(``KPRISM_CHAOS_SEED`` replays a run). Figures: docs/reliability.md.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time
from pathlib import Path

import pytest
from lightkube import Client
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.coordination_v1 import Lease
from lightkube.resources.core_v1 import Pod

from tests.integration.helpers import (
    EndpointSampler,
    kprism,
    kprism_bg,
    make_app,
    ready_endpoints,
    release_status,
    selector,
    wait_for,
)

ROOT = Path(__file__).resolve().parents[2]
KILLS = int(os.environ.get("KPRISM_CHAOS_KILLS", "10"))
RELEASES = int(os.environ.get("KPRISM_CHAOS_RELEASES", "6"))
SEED = int(os.environ.get("KPRISM_CHAOS_SEED", str(random.SystemRandom().randrange(1 << 30))))
REPLICAS = 2


def release_args(rng: random.Random, ns: str, version: int) -> list[str]:
    image = f"registry.example/hello:{version}"
    if rng.random() < 0.5:
        return ["release", "hello", "-n", ns, "--image", image, "--auto-promote",
                "--scale-down-delay", "1"]  # fmt: skip
    return ["release", "hello", "-n", ns, "--image", image, "--steps", "50,100"]


def tracks(kube: Client, ns: str) -> dict[str, tuple[int, str]]:
    """color → (spec.replicas, image) of every track Deployment."""
    out = {}
    for d in kube.list(Deployment, namespace=ns, labels={"app": "hello"}):
        assert d.spec is not None and d.metadata is not None
        color = (d.spec.selector.matchLabels or {}).get("color", "")
        image = d.spec.template.spec.containers[0].image if d.spec.template.spec else ""
        out[color] = (d.spec.replicas or 0, image or "")
    return out


def assert_consistent(kube: Client, ns: str, *, ids: set[str]) -> None:
    """The end state the last release promises: the track it left serving at full size
    with that release's images, every other track at 0, ready endpoints only of serving
    pods, the Lease free, and every release id seen in the history."""
    st = release_status(kube, ns)
    assert st["phase"] in ("Succeeded", "Aborted", "Failed"), st
    serving = selector(kube, ns).get("color")
    want = st["candidate"] if st["phase"] == "Succeeded" else st["stable"]
    assert serving == want, (selector(kube, ns), st)
    images = st["candidate_images"] if st["phase"] == "Succeeded" else st["stable_images"]
    by_color = tracks(kube, ns)
    assert by_color[serving] == (REPLICAS, next(iter(images.values()))), (by_color, st)
    assert all(n == 0 for c, (n, _) in by_color.items() if c != serving), by_color
    ready = wait_for(
        lambda: ready_endpoints(kube, ns, "hello"),
        lambda eps: len(eps) == REPLICAS,
        timeout=60,
        what=f"{REPLICAS} ready endpoints",
    )
    pods = {
        p.metadata.name
        for p in kube.list(Pod, namespace=ns, labels={"app": "hello", "color": serving})
        if p.metadata and p.metadata.deletionTimestamp is None
    }
    assert ready <= pods, (ready, pods)
    lease = kube.get(Lease, "kprism-hello", namespace=ns)
    assert lease.spec is not None
    holder = lease.spec.holderIdentity or ""
    # free, or left by a process the test SIGKILLed after it took the Lease and before it
    # recorded anything (a dead local holder's Lease is stale at once: the next taker wins)
    assert not holder or not Path(f"/proc/{holder.split(':')[1]}").exists(), holder
    out = kprism("history", "hello", "-n", ns, "-o", "json", kubeconfig=os.environ["KUBECONFIG"])
    recorded = {h["id"] for h in json.loads(out.stdout)}
    assert ids <= recorded, f"lost from history: {ids - recorded}"


def test_random_sigkills_then_resume_converge(
    kube: Client, namespace: str, kubeconfig_path: str
) -> None:
    rng = random.Random(SEED)
    os.environ["KUBECONFIG"] = kubeconfig_path
    make_app(kube, namespace, replicas=REPLICAS, ready_delay="1s")
    ids: set[str] = set()
    with EndpointSampler(kubeconfig_path, namespace) as sampler:
        for version in range(2, 2 + KILLS):
            args = release_args(rng, namespace, version)
            proc = kprism_bg(*args, kubeconfig=kubeconfig_path)
            time.sleep(rng.uniform(0.3, 4.0))
            proc.send_signal(signal.SIGKILL)
            proc.communicate()
            st = release_status(kube, namespace)
            if st.get("id"):
                ids.add(st["id"])
            # a paused canary needs its promote; resume drives everything else to the end
            for _ in range(6):
                st = release_status(kube, namespace)
                if not st or st.get("phase") in ("Succeeded", "Aborted", "Failed"):
                    break
                cmd = "promote" if st.get("phase") == "Paused" else "resume"
                out = kprism(cmd, "hello", "-n", namespace, kubeconfig=kubeconfig_path)
                assert out.returncode in (0, 1, 2), (cmd, out.stderr)
                assert "Traceback" not in out.stderr, out.stderr
            st = release_status(kube, namespace)
            if not st:
                continue  # killed before it recorded anything: nothing to converge
            ids.add(st["id"])
            assert st["phase"] in ("Succeeded", "Aborted", "Failed"), (SEED, st)
            assert_consistent(kube, namespace, ids=ids)
    assert not sampler.violations, (SEED, sampler.violations[:5])


def test_back_to_back_releases_keep_history_bounded_and_endpoints_up(
    kube: Client, namespace: str, kubeconfig_path: str
) -> None:
    os.environ["KUBECONFIG"] = kubeconfig_path
    make_app(kube, namespace, replicas=REPLICAS, ready_delay="1s")
    ids: set[str] = set()
    with EndpointSampler(kubeconfig_path, namespace) as sampler:
        for version in range(2, 2 + RELEASES):
            out = kprism(
                "release", "hello", "-n", namespace, "--image", f"registry.example/hello:{version}",
                "--auto-promote", "--scale-down-delay", "0", "-o", "json",
                kubeconfig=kubeconfig_path, check=0,
            )  # fmt: skip
            ids.add(json.loads(out.stdout)["id"])
    assert_consistent(kube, namespace, ids=set(sorted(ids)[-20:]))  # history keeps 20
    assert not sampler.violations, sampler.violations[:5]


def test_two_engines_resume_one_crashed_release_and_only_one_drives(
    kube: Client, namespace: str, kubeconfig_path: str
) -> None:
    os.environ["KUBECONFIG"] = kubeconfig_path
    make_app(kube, namespace, replicas=REPLICAS, ready_delay="2s")
    proc = kprism_bg(
        "release", "hello", "-n", namespace, "--image", "registry.example/hello:2",
        "--auto-promote", "--scale-down-delay", "1", kubeconfig=kubeconfig_path,
    )  # fmt: skip
    wait_for(
        lambda: release_status(kube, namespace).get("step"),
        lambda s: s == "wait-ready",
        timeout=60,
        what="wait-ready",
    )
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    a = kprism_bg("resume", "hello", "-n", namespace, kubeconfig=kubeconfig_path)
    b = kprism_bg("resume", "hello", "-n", namespace, kubeconfig=kubeconfig_path)
    _, err_a = a.communicate(timeout=120)
    _, err_b = b.communicate(timeout=120)
    assert sorted([a.returncode, b.returncode]) in ([0, 0], [0, 2]), (err_a, err_b)
    assert "Traceback" not in err_a + err_b
    st = release_status(kube, namespace)
    assert st["phase"] == "Succeeded", st
    assert_consistent(kube, namespace, ids={st["id"]})


def _apiserver_pid() -> int:
    name = os.environ.get("KPRISM_CLUSTER_NAME", "kprism-test")
    cache = Path(os.environ.get("KPRISM_CACHE", ROOT / ".cache"))
    pidfile = cache / f"cluster-{name}" / "kwok" / "clusters" / name / "pids" / "kube-apiserver.pid"
    if not pidfile.exists():
        pytest.fail(f"no API server PID file at {pidfile}: run the chaos tier with `make test`")
    return int(pidfile.read_text().strip())


def test_api_server_restart_under_a_release_then_resume_converges(
    kube: Client, namespace: str, kubeconfig_path: str
) -> None:
    """The API server dies mid-release and `hack/cluster.sh up` restarts it on the kept
    etcd data (it used to wipe the cluster); the release converges after resume."""
    os.environ["KUBECONFIG"] = kubeconfig_path
    make_app(kube, namespace, replicas=REPLICAS, ready_delay="2s")
    proc = kprism_bg(
        "release", "hello", "-n", namespace, "--image", "registry.example/hello:2",
        "--steps", "50,100", "--pause", "5s", kubeconfig=kubeconfig_path,
    )  # fmt: skip
    wait_for(
        lambda: release_status(kube, namespace).get("step_index"),
        lambda i: i == 1,
        timeout=60,
        what="the pause step",
    )
    os.kill(_apiserver_pid(), signal.SIGKILL)
    up = subprocess.run(
        [str(ROOT / "hack" / "cluster.sh"), "up"],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert up.returncode == 0, up.stderr
    assert "restarted with its objects" in up.stderr, up.stderr
    _, err = proc.communicate(timeout=180)
    # the engine either rode out the outage or lost its Lease and said so in one line
    assert "Traceback" not in err, err
    st = release_status(kube, namespace)
    if st.get("phase") not in ("Succeeded", "Aborted", "Failed"):
        out = kprism("resume", "hello", "-n", namespace, kubeconfig=kubeconfig_path)
        assert out.returncode in (0, 1), out.stderr
    st = release_status(kube, namespace)
    assert st["phase"] == "Succeeded", st
    assert_consistent(kube, namespace, ids={st["id"]})
