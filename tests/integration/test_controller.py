"""``kprism controller`` against the real local cluster (issue 13).

The controller runs in this process (:class:`kprism.controller.Controller`, so the test
can read its request counts) or as ``kprism controller`` subprocesses (to SIGKILL one).
Everything asserted is an outcome or a count, never a timing.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from lightkube import Client
from lightkube.codecs import from_dict
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.coordination_v1 import Lease
from lightkube.resources.core_v1 import Namespace, Service
from lightkube.resources.rbac_authorization_v1 import ClusterRole

from kprism import ops
from kprism.controller import Config, Controller
from kprism.kube.cache import APP_KINDS
from kprism.kube.client import Kube, Target
from kprism.plan.controller import Scope, Selector, shard_of
from tests.integration.helpers import (
    EndpointSampler,
    deployment,
    kprism,
    kprism_bg,
    make_app,
    release_status,
    replicas,
    selector,
    wait_for,
)

ROOT = Path(__file__).resolve().parents[2]
V2 = "registry.example/hello:2"
V3 = "registry.example/hello:3"
LEASE = 6  # seconds: short Leases, so that takeovers in these tests are quick


@pytest.fixture
def controllers(kubeconfig_path: str, namespace: str) -> Iterator[Callable[..., Controller]]:
    """Start in-process controllers (Leases in the test's namespace); stopped after."""
    started: list[tuple[Controller, Kube]] = []

    def start(scope: Scope | None = None, **config: Any) -> Controller:
        kube = Kube(Target(kubeconfig=kubeconfig_path))
        c = Controller(
            kube,
            Config(
                scope=scope or Scope(namespaces=(namespace,)),
                lease_namespace=namespace,
                lease_duration=LEASE,
                standby_retry=0.5,
                **config,
            ),
        )
        c.start()
        started.append((c, kube))
        return c

    yield start
    for c, kube in started:
        c.stop()
        kube.close()


def leading(c: Controller) -> None:
    wait_for(c.leading, bool, timeout=30, what="the controller to lead")


def app_holder(kube: Client, namespace: str, app: str = "hello") -> str:
    try:
        lease = kube.get(Lease, f"kprism-{app}", namespace=namespace)
    except Exception:
        return ""
    return (lease.spec.holderIdentity or "") if lease.spec else ""


def phase(kube: Client, namespace: str, app: str = "hello") -> str:
    return str(release_status(kube, namespace, app).get("phase", ""))


def finished(
    kube: Client, namespace: str, app: str = "hello", *, timeout: float = 120
) -> dict[str, Any]:
    wait_for(
        lambda: phase(kube, namespace, app),
        lambda p: p in ("Succeeded", "Failed", "Aborted"),
        timeout=timeout,
        what=f"release of {app} to finish",
    )
    return release_status(kube, namespace, app)


def test_a_release_the_cli_gave_up_on_is_driven_to_its_end(
    kube: Client, namespace: str, kubeconfig_path: str, controllers: Callable[..., Controller]
) -> None:
    make_app(kube, namespace)
    # a CI job that gives up (--timeout) in a timed canary pause: it gives the Lease back
    # and nobody drives the release any more
    out = kprism(
        "release", "hello", "-n", namespace, "--image", V2, "--steps", "50,100", "--pause",
        "20s", "--scale-down-delay", "0", "--timeout", "8", kubeconfig=kubeconfig_path,
    )  # fmt: skip
    assert out.returncode == 1 and "gave up waiting" in out.stderr, out.stderr
    assert phase(kube, namespace) == "Progressing"
    assert app_holder(kube, namespace) == ""
    c = controllers()
    with EndpointSampler(kubeconfig_path, namespace) as sampler:
        st = finished(kube, namespace)
    assert st["phase"] == "Succeeded", st
    assert replicas(kube, namespace, "hello-blue") == 0
    assert c.counts["adopted"] == 1 and c.counts["finished"] == 1, c.counts
    assert app_holder(kube, namespace) == ""  # given back once the release ended
    assert not sampler.violations, sampler.violations


def test_intents_from_the_cli_are_acted_on_by_the_controller(
    kube: Client, namespace: str, kubeconfig_path: str, controllers: Callable[..., Controller]
) -> None:
    make_app(kube, namespace)
    c = controllers()
    leading(c)
    # --no-wait: the CLI drives to the wait point (await-promotion) and leaves
    kprism(
        "release", "hello", "-n", namespace, "--image", V2, "--scale-down-delay", "0",
        "--no-wait", kubeconfig=kubeconfig_path, check=0,
    )  # fmt: skip
    # the controller takes the release waiting for promotion and holds it there
    wait_for(lambda: app_holder(kube, namespace), lambda h: h == c.identity, what="takeover")
    assert release_status(kube, namespace)["step"] == "await-promotion"
    out = kprism("promote", "hello", "-n", namespace, kubeconfig=kubeconfig_path, check=0)
    assert "Progressing" in out.stdout or "Succeeded" in out.stdout, out.stdout
    assert finished(kube, namespace)["phase"] == "Succeeded"
    assert selector(kube, namespace)["color"] == "green"
    # the next release into blue, aborted from the CLI while the controller holds it
    kprism(
        "release", "hello", "-n", namespace, "--image", V3, "--no-wait",
        kubeconfig=kubeconfig_path, check=0,
    )  # fmt: skip
    wait_for(lambda: app_holder(kube, namespace), lambda h: h == c.identity, what="takeover")
    out = kprism("abort", "hello", "-n", namespace, kubeconfig=kubeconfig_path)
    assert out.returncode == 0, out.stderr  # handed to the engine driving it
    assert finished(kube, namespace)["phase"] == "Aborted"
    assert selector(kube, namespace)["color"] == "green"
    assert replicas(kube, namespace, "hello-blue") == 0


def test_a_release_of_a_crashed_cli_is_resumed(
    kube: Client, namespace: str, kubeconfig_path: str, controllers: Callable[..., Controller]
) -> None:
    make_app(kube, namespace)
    c = controllers()
    leading(c)
    proc = kprism_bg(
        "release", "hello", "-n", namespace, "--image", V2, "--auto-promote",
        "--scale-down-delay", "0", kubeconfig=kubeconfig_path,
        env_extra={"KPRISM_FAILPOINT": "after-record:switch-traffic"},
    )  # fmt: skip
    proc.communicate(timeout=120)
    assert proc.returncode == -signal.SIGKILL, "the failpoint did not fire"
    st = finished(kube, namespace)
    assert st["phase"] == "Succeeded", st
    assert selector(kube, namespace) == {"app": "hello", "color": "green"}
    assert c.counts["adopted"] == 1, c.counts


def test_one_watch_per_kind_for_every_app_and_release(
    kube: Client, namespace: str, kubeconfig_path: str, controllers: Callable[..., Controller]
) -> None:
    names = ["a", "b", "c", "d"]
    for name in names:
        make_app(kube, namespace, name=name, replicas=1)
        svc = kube.get(Service, name, namespace=namespace)
        svc.metadata.labels = {**(svc.metadata.labels or {}), "kprism-test": namespace}
        kube.replace(svc)
    # every namespace, narrowed to this test's apps by a Service label selector
    c = controllers(Scope(selector=Selector.parse(f"kprism-test={namespace}")))
    leading(c)
    # four releases recorded and left at once (nobody drives them: the Leases are free)
    k = Kube(Target(kubeconfig=kubeconfig_path))
    spec = ops.SpecArgs(images=[("", V2)], steps="50,100", pause="1s", scale_down_delay=0)
    for name in names:
        _, lease = ops.start_release(k, ops.App(name=name, namespace=namespace), spec.to_spec())
        lease.release()
    k.close()
    for name in names:
        assert finished(kube, namespace, name)["phase"] == "Succeeded"
    # the worker counts a release once it recorded the end, a moment after the cluster shows it
    wait_for(lambda: c.counts["finished"], lambda n: n == len(names), timeout=30, what="finished")
    for kind in ("services", "deployments", "pods", "endpointslices", "horizontalpodautoscalers"):
        assert c.kube.requests[f"WATCH {kind}"] == 1, c.kube.requests
    assert c.kube.cache.stats()["informers"] == len(APP_KINDS)
    # the engines observed from the cache: no LIST of pods per step (the informer's LIST,
    # and a fresh read after a write conflict)
    assert c.kube.requests["GET pods"] <= 1 + c.counts["conflicts"], (c.counts, c.kube.requests)
    assert c.counts["steps"] > 4 * len(names), c.counts


def test_two_replicas_one_leads_the_other_stands_by_and_takes_over(
    kube: Client, namespace: str, kubeconfig_path: str, controllers: Callable[..., Controller]
) -> None:
    make_app(kube, namespace)
    a, b = controllers(), controllers()
    wait_for(lambda: (a.leading(), b.leading()), lambda x: x in ((True, False), (False, True)))
    leader, standby = (a, b) if a.leading() else (b, a)
    kprism(
        "release", "hello", "-n", namespace, "--image", V2, "--scale-down-delay", "0",
        "--no-wait", kubeconfig=kubeconfig_path, check=0,
    )  # fmt: skip
    wait_for(lambda: app_holder(kube, namespace), lambda h: h == leader.identity, what="leader")
    assert standby.counts["adopted"] == 0 and standby.counts["steps"] == 0, standby.counts
    # the leader stops (a rollout): it gives its Leases back, the standby goes on at once
    leader.stop()
    wait_for(standby.leading, bool, timeout=30, what="the standby to lead")
    wait_for(lambda: app_holder(kube, namespace), lambda h: h == standby.identity, what="takeover")
    kprism("promote", "hello", "-n", namespace, kubeconfig=kubeconfig_path, check=0)
    assert finished(kube, namespace)["phase"] == "Succeeded"
    assert standby.counts["adopted"] == 1, standby.counts


# -- the CLI hands releases over ----------------------------------------------------------------


def test_the_cli_hands_a_release_over_to_the_controller_and_follows_it(
    kube: Client,
    namespace: str,
    kubeconfig_path: str,
    controllers: Callable[..., Controller],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    make_app(kube, namespace)
    c = controllers()
    leading(c)
    # where the CLI finds the controller's Lease (in a cluster: kprism-system)
    monkeypatch.setenv("KPRISM_CONTROLLER_NAMESPACE", namespace)
    out = kprism(
        "release", "hello", "-n", namespace, "--image", V2, "--auto-promote",
        "--scale-down-delay", "0", kubeconfig=kubeconfig_path, check=0,
    )  # fmt: skip
    assert "handed over to the controller " + c.identity in out.stderr, out.stderr
    assert out.stdout.startswith("Succeeded release"), out.stdout
    st = release_status(kube, namespace)
    assert st["phase"] == "Succeeded" and st["id"] in out.stdout
    assert c.counts["started"] == 1, c.counts
    # the controller drove it; who asked is the CLI's user (the audit trail)
    assert " (cli on " in st["started_by"], st["started_by"]
    # --no-wait returns once the controller took it; the controller finishes it
    out = kprism(
        "release", "hello", "-n", namespace, "--image", V3, "--auto-promote",
        "--scale-down-delay", "0", "--no-wait", "-o", "json", kubeconfig=kubeconfig_path,
        check=0,
    )  # fmt: skip
    taken = json.loads(out.stdout)
    assert taken["phase"] == "Progressing", taken
    assert finished(kube, namespace)["id"] == taken["id"]
    assert finished(kube, namespace)["phase"] == "Succeeded"
    assert "kprism.dev/release-request" not in (
        kube.get(Service, "hello", namespace=namespace).metadata.annotations or {}
    )
    # refused here, before anything is handed over: the same checks, the same exit code
    out = kprism(
        "release", "hello", "-n", namespace, "--image", V3, kubeconfig=kubeconfig_path,
    )  # fmt: skip
    assert out.returncode == 2 and "nothing to release" in out.stderr, out.stderr
    # a controller that stopped: the CLI drives itself, as without one
    c.stop()
    out = kprism(
        "release", "hello", "-n", namespace, "--image", V2, "--auto-promote",
        "--scale-down-delay", "0", kubeconfig=kubeconfig_path, check=0,
    )  # fmt: skip
    assert "handed over" not in out.stderr and out.stdout.startswith("Succeeded"), out


# -- shards ------------------------------------------------------------------------------------


def start_controller(
    kubeconfig: str, namespace: str, *args: str, log: Path
) -> subprocess.Popen[bytes]:
    env = {**os.environ, "KUBECONFIG": kubeconfig}
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "kprism.cli.main", "controller", "-n", namespace,
             "--lease-namespace", namespace, "--log-format", "text", *args],
            stdout=out, stderr=out, env=env,
        )  # fmt: skip


def holder_pid(identity: str) -> int:
    return int(identity.rsplit(":", 2)[1])


def shipped_role(kube: Client, namespace: str) -> str:
    """deploy/kprism-controller.yaml's ClusterRole (under a name of this test's), bound
    in ``namespace`` to the ServiceAccount ``controller``; its name, to delete after."""
    docs = yaml.safe_load_all((ROOT / "deploy" / "kprism-controller.yaml").read_text())
    shipped = next(d for d in docs if d and d["kind"] == "ClusterRole")
    role_name = f"kprism-controller-{namespace}"
    kube.create(from_dict({**shipped, "metadata": {"name": role_name}}))
    kube.create(
        from_dict(
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "RoleBinding",
                "metadata": {"name": "kprism-controller"},
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "ClusterRole",
                    "name": role_name,
                },
                "subjects": [
                    {"kind": "ServiceAccount", "name": "controller", "namespace": namespace}
                ],
            }
        ),
        namespace=namespace,
    )
    return role_name


class HolderLog:
    """Every holder seen on some Leases, sampled until stopped (a test's witness that
    an app was never held by the wrong replica)."""

    def __init__(self, kube: Client, namespace: str, leases: list[str]) -> None:
        self.kube, self.namespace, self.leases = kube, namespace, leases
        self.seen: dict[str, set[str]] = {name: set() for name in leases}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> HolderLog:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            for lease in self.kube.list(Lease, namespace=self.namespace):
                name = lease.metadata.name if lease.metadata else ""
                holder = (lease.spec.holderIdentity or "") if lease.spec else ""
                if name in self.seen and holder:
                    self.seen[name].add(holder)


def test_shards_split_the_apps_and_a_killed_shards_apps_are_taken_over(
    kube: Client, namespace: str, kubeconfig_path: str, tmp_path: Path
) -> None:
    """Two shards of two replicas each, with the shipped RBAC (a ServiceAccount token):
    shard 1's leader is SIGKILLed while its canaries are between weights; its standby
    takes the shard's Lease and drives them to their end by itself; shard 0's apps are
    only ever held by shard 0's leader."""
    from tests.integration.test_bad_input import _kubeconfig_for

    by_shard: dict[int, list[str]] = {0: [], 1: []}
    for i in range(40):
        name = f"app{i}"
        if len(by_shard[shard_of(namespace, name, 2)]) < 2:
            by_shard[shard_of(namespace, name, 2)].append(name)
    apps = by_shard[0] + by_shard[1]
    role = shipped_role(kube, namespace)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        kc = _kubeconfig_for(kube, namespace, "controller", kubeconfig_path, tmp_path)
        for name in apps:
            make_app(kube, namespace, name=name, replicas=1)
        procs = [
            start_controller(kc, namespace, "--shards", "2", "--shard-index", i,
                             log=tmp_path / f"controller-{n}.log")
            for n, i in enumerate(("0", "0", "1", "1"))  # each shard has a standby
        ]  # fmt: skip
        leaders = {
            i: wait_for(
                lambda i=i: app_holder(kube, namespace, f"controller-{i}"),
                bool,
                timeout=60,
                what=f"a leader of shard {i}",
            )
            for i in (0, 1)
        }
        # canaries with timed pauses, left by whoever started them: nobody promotes
        k = Kube(Target(kubeconfig=kubeconfig_path))
        # pauses long enough that every release is still in flight when the test has seen
        # all of them held (a loaded machine takes its time to start 4 canaries)
        spec = ops.SpecArgs(
            images=[("", V2)], steps="25,50,100", pause="20s", scale_down_delay=0
        ).to_spec()
        for name in apps:
            _, lease = ops.start_release(k, ops.App(name=name, namespace=namespace), spec)
            lease.release()
        k.close()
        with HolderLog(kube, namespace, [f"kprism-{a}" for a in by_shard[0]]) as held:
            want = {name: leaders[shard] for shard, names in by_shard.items() for name in names}
            wait_for(  # each shard's leader drives its own apps (all looked at together)
                lambda: {name: app_holder(kube, namespace, name) for name in want},
                lambda held_by: held_by == want,
                timeout=90,
                what="every app held by the leader of its shard",
            )
            # mid-release: shard 1's canaries took traffic and wait for their next weight
            for name in by_shard[1]:
                wait_for(
                    lambda name=name: release_status(kube, namespace, name),
                    lambda st: (
                        st.get("phase") == "Progressing"
                        and float(st.get("achieved_weight") or 0) > 0
                    ),
                    timeout=90,
                    what=f"{name}'s canary between weights",
                )
            victim = next(p for p in procs if p.pid == holder_pid(leaders[1]))
            victim.send_signal(signal.SIGKILL)
            victim.wait(timeout=10)
            assert all(phase(kube, namespace, n) == "Progressing" for n in by_shard[1])
            standby = wait_for(
                lambda: app_holder(kube, namespace, "controller-1"),
                lambda h: bool(h) and h != leaders[1],
                timeout=60,
                what="the standby to lead shard 1",
            )
            for name in by_shard[1]:
                wait_for(
                    lambda name=name: app_holder(kube, namespace, name),
                    lambda h: h == standby,
                    timeout=60,
                    what=f"{name} taken over by the standby",
                )
            for name in apps:  # every release ends by itself: no promote
                assert finished(kube, namespace, name)["phase"] == "Succeeded", name
                assert selector(kube, namespace, name)["color"] == "green"
                assert replicas(kube, namespace, f"{name}-blue") == 0
        # the other shard untouched: its leader stayed, and held its apps alone
        assert app_holder(kube, namespace, "controller-0") == leaders[0]
        for lease, holders in held.seen.items():
            assert holders == {leaders[0]}, (lease, holders)
        driving = Kube(Target(kubeconfig=kubeconfig_path, namespace=namespace))
        try:
            for shard, names in by_shard.items():
                for name in names:
                    who = {
                        e.get("message", "").rsplit("driven by ", 1)[-1]
                        for e in driving.list_events(namespace=namespace, service=name)
                        if e.get("reason") == "ControllerDriving"
                    }
                    want = {leaders[0]} if shard == 0 else {leaders[1], standby}
                    assert who == want, (name, who)
        finally:
            driving.close()
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
        kube.delete(ClusterRole, role)
    logs = "".join(f.read_text() for f in tmp_path.glob("controller-*.log"))
    assert "Traceback" not in logs, logs[-3000:]
    assert "forbidden" not in logs.lower(), logs[-3000:]


# -- GitOps -------------------------------------------------------------------------------------


def git_manifests(namespace: str, image: str, *, spec: str) -> list[Any]:
    """What the GitOps tool applies: the Service without spec.selector (kprism owns it)
    and the source Deployment (replicas 0) whose pod template is the desired version."""
    svc = from_dict(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {
                "name": "hello",
                "namespace": namespace,
                "annotations": {"kprism.dev/release-spec": spec},
            },
            "spec": {
                "ports": [{"name": "web", "port": 8888, "targetPort": 8888, "protocol": "TCP"}]
            },
        }
    )
    source = deployment("hello-source", {"app": "hello"}, replicas=0, image=image)
    source.metadata.namespace = namespace
    source.metadata.annotations = {"kprism.dev/source-of": "hello"}
    return [svc, source]


class GitOpsLoop:
    """Server-side applies the "Git" manifests every ``period`` seconds, with force, as
    Argo CD and Flux do (field manager ``argocd``), until stopped."""

    def __init__(self, kube: Client, manifests: list[Any], period: float = 2.0) -> None:
        self.kube, self.manifests, self.period = kube, manifests, period
        self.applies = 0
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> GitOpsLoop:
        self.apply()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def apply(self) -> None:
        for obj in self.manifests:
            self.kube.apply(obj, field_manager="argocd", force=True)
        self.applies += 1

    def _run(self) -> None:
        while not self._stop.wait(self.period):
            try:
                self.apply()
            except Exception as exc:  # a test failure, reported by the test
                self.errors.append(repr(exc))


def image_of(kube: Client, namespace: str, name: str) -> str:
    dep = kube.get(Deployment, name, namespace=namespace)
    return str(dep.spec.template.spec.containers[0].image)


def test_a_commit_to_git_is_released_while_the_gitops_tool_reapplies_every_2s(
    kube: Client, namespace: str, kubeconfig_path: str, controllers: Callable[..., Controller]
) -> None:
    make_app(kube, namespace)
    c = controllers()
    leading(c)
    gate = "scaleDownDelay: 0\n"  # blue-green that waits for promotion
    with (
        EndpointSampler(kubeconfig_path, namespace) as sampler,
        GitOpsLoop(kube, git_manifests(namespace, V2, spec=gate)) as git,
    ):
        wait_for(
            lambda: release_status(kube, namespace).get("step"),
            lambda s: s == "await-promotion",
            what="the release of the commit waiting for promotion",
        )
        # three more re-applies of the Service and the source while it waits: counted,
        # not timed
        seen = git.applies
        wait_for(lambda: git.applies, lambda n: n >= seen + 3, what="three re-applies")
        st = release_status(kube, namespace)
        assert (st["phase"], st["step"]) == ("Paused", "await-promotion"), st
        kprism("promote", "hello", "-n", namespace, kubeconfig=kubeconfig_path, check=0)
        st = finished(kube, namespace)
        assert st["phase"] == "Succeeded", st
        assert st["spec"]["source"].startswith("Deployment/hello-source@"), st
        assert selector(kube, namespace) == {"app": "hello", "color": "green"}
        assert image_of(kube, namespace, "hello-green") == V2
        assert replicas(kube, namespace, "hello-blue") == 0
        # the next commit, and a release spec changed in Git: promoted by itself
        git.manifests = git_manifests(namespace, V3, spec="autoPromote: true\nscaleDownDelay: 0\n")
        wait_for(
            lambda: release_status(kube, namespace).get("id"),
            lambda i: i != st["id"],
            what="the release of the next commit",
        )
        st2 = finished(kube, namespace)
        assert st2["phase"] == "Succeeded", st2
        seen = git.applies
        wait_for(lambda: git.applies, lambda n: n >= seen + 2, what="two re-applies")
    assert selector(kube, namespace) == {"app": "hello", "color": "blue"}
    assert image_of(kube, namespace, "hello-blue") == V3
    assert not git.errors, git.errors  # never a conflict with kprism's fields
    assert not sampler.violations, sampler.violations
    # each commit released once: re-applying the same manifests starts nothing
    assert c.counts["started"] == 2, c.counts
    assert [h.get("source") for h in history(kube, namespace)] == [
        st["spec"]["source"],
        st2["spec"]["source"],
    ]
    svc = kube.get(Service, "hello", namespace=namespace)
    owners = {
        m.manager: json.dumps(m.fieldsV1) for m in svc.metadata.managedFields or [] if m.fieldsV1
    }
    assert "f:selector" not in owners.get("argocd", ""), owners
    assert '"f:kprism.dev/release"' not in owners.get("argocd", ""), owners
    assert '"f:kprism.dev/release"' in owners.get("kprism", ""), owners
    assert c.counts["errors"] == 0, c.counts


def history(kube: Client, namespace: str, app: str = "hello") -> list[dict[str, Any]]:
    svc = kube.get(Service, app, namespace=namespace)
    return list(json.loads((svc.metadata.annotations or {}).get("kprism.dev/history", "[]")))


def test_git_reverted_during_a_release_aborts_it_cleanly(
    kube: Client, namespace: str, kubeconfig_path: str, controllers: Callable[..., Controller]
) -> None:
    make_app(kube, namespace)
    c = controllers()
    leading(c)
    spec = "scaleDownDelay: 0\n"  # blue-green waiting for promotion
    with GitOpsLoop(kube, git_manifests(namespace, V2, spec=spec)) as git:
        wait_for(
            lambda: release_status(kube, namespace).get("step"),
            lambda s: s == "await-promotion",
            what="the release of V2 waiting for promotion",
        )
        git.manifests = git_manifests(namespace, "registry.example/hello:1", spec=spec)
        st = finished(kube, namespace)
    assert st["phase"] == "Aborted", st
    k = Kube(Target(kubeconfig=kubeconfig_path, namespace=namespace))
    aborts = [
        e.get("message", "")
        for e in k.list_events(namespace=namespace, service="hello")
        if e.get("reason") == "AbortRequested"
    ]
    k.close()
    assert any("source Deployment hello-source changed" in m for m in aborts), aborts
    assert selector(kube, namespace) == {"app": "hello", "color": "blue"}
    assert replicas(kube, namespace, "hello-green") == 0
    # blue runs what Git says now: no new release
    assert c.counts["started"] == 1, c.counts


def test_a_source_that_cannot_be_a_track_is_refused_with_an_event(
    kube: Client, namespace: str, kubeconfig_path: str, controllers: Callable[..., Controller]
) -> None:
    make_app(kube, namespace)
    c = controllers()
    leading(c)
    bad = deployment("hello-source", {"app": "other"}, replicas=0, image=V2)
    bad.metadata.annotations = {"kprism.dev/source-of": "hello"}
    kube.create(bad, namespace=namespace)
    k = Kube(Target(kubeconfig=kubeconfig_path, namespace=namespace))
    try:
        events = wait_for(
            lambda: [
                e.get("message", "")
                for e in k.list_events(namespace=namespace, service="hello")
                if e.get("reason") == "SourceRefused"
            ],
            bool,
            what="a SourceRefused Event",
        )
    finally:
        k.close()
    assert "lacks the app's labels app=hello" in events[0], events
    assert release_status(kube, namespace) == {}
    assert c.counts["started"] == 0


# -- the shipped RBAC ------------------------------------------------------------------------


def test_the_shipped_cluster_role_is_enough_to_drive_a_namespace(
    kube: Client, namespace: str, kubeconfig_path: str, tmp_path: Path
) -> None:
    """deploy/kprism-controller.yaml's ClusterRole, bound in one namespace to a
    ServiceAccount whose token the controller uses: it drives an abandoned release there."""
    from tests.integration.test_bad_input import _kubeconfig_for

    role_name = shipped_role(kube, namespace)
    try:
        kc = _kubeconfig_for(kube, namespace, "controller", kubeconfig_path, tmp_path)
        make_app(kube, namespace)
        kprism(
            "release", "hello", "-n", namespace, "--image", V2, "--scale-down-delay", "0",
            "--no-wait", kubeconfig=kubeconfig_path, check=0,
        )  # fmt: skip
        # and a namespace it may not touch: reported, the other one keeps working
        other = f"{namespace}-x"[:63]
        kube.create(Namespace(metadata=ObjectMeta(name=other)))
        sa_kube = Kube(Target(kubeconfig=kc))
        c = Controller(
            sa_kube,
            Config(
                scope=Scope(namespaces=(namespace, other)),
                lease_namespace=namespace,
                sync_timeout=5,
            ),
        )
        c.start()
        try:
            assert c.unsynced() == [f"{k.name}s in {other}" for k in APP_KINDS]
            assert not c.ready()
            wait_for(
                lambda: app_holder(kube, namespace), lambda h: h == c.identity, what="takeover"
            )
            kprism("promote", "hello", "-n", namespace, kubeconfig=kubeconfig_path, check=0)
            assert finished(kube, namespace)["phase"] == "Succeeded"
            assert c.counts["errors"] == 0, c.counts
        finally:
            c.stop()
            sa_kube.close()
            kube.delete(Namespace, other)
    finally:
        kube.delete(ClusterRole, role_name)


# -- the dashboard hands releases and intents over ------------------------------------------


def test_the_dashboard_hands_releases_and_intents_over_to_the_controller(
    kube: Client,
    namespace: str,
    kubeconfig_path: str,
    controllers: Callable[..., Controller],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from fastapi.testclient import TestClient

    from kprism.web.app import create_app

    make_app(kube, namespace)
    c = controllers()
    leading(c)
    monkeypatch.setenv("KPRISM_CONTROLLER_NAMESPACE", namespace)
    post = {"X-Kprism": "1"}
    base = f"/api/apps/{namespace}/hello"
    app = create_app(kubeconfig=kubeconfig_path, namespace=namespace)
    with TestClient(app, base_url="http://127.0.0.1:8080") as web:

        def job(kind: str) -> dict[str, Any]:
            jobs = [j for j in web.get(base).json()["jobs"] if j["kind"] == kind]
            return jobs[-1] if jobs else {}

        # a blue-green release that waits for promotion: the controller takes it
        r = web.post(f"{base}/release", json={"image": V2, "scale_down_delay": 0}, headers=post)
        assert r.status_code == 202, r.text
        assert f"handed over to the controller {c.identity}" in r.json()["message"], r.json()
        release_id = r.json()["job"]["release"]
        assert r.json()["job"]["controller"] == c.identity
        wait_for(lambda: app_holder(kube, namespace), lambda h: h == c.identity, what="the lease")
        # the page follows it: the job's lines show the controller's progress
        wait_for(
            lambda: job("release").get("lines", []),
            lambda lines: any("await-promotion" in line for line in lines),
            what="the release job to show the wait for promotion",
        )
        assert job("release")["state"] == "running"
        assert app_holder(kube, namespace) == c.identity  # the dashboard never took the Lease
        # promote from the page: handed to the controller, followed to the release's end
        r = web.post(f"{base}/intent/promote", json={}, headers=post)
        assert r.status_code in (200, 202), r.text
        assert f"handed over to the controller {c.identity}" in (
            r.json()["message"] + " ".join(r.json()["job"]["lines"])
        ), r.json()
        assert finished(kube, namespace)["phase"] == "Succeeded"
        assert release_status(kube, namespace)["id"] == release_id
        for kind in ("release", "promote"):
            done = wait_for(
                lambda kind=kind: job(kind), lambda j: j.get("state") == "done", what=kind
            )
            assert "succeeded" in done["result"], done
        assert selector(kube, namespace)["color"] == "green"
        # the next release, aborted from the page while the controller holds it
        r = web.post(f"{base}/release", json={"image": V3, "scale_down_delay": 0}, headers=post)
        assert r.status_code == 202, r.text
        wait_for(
            lambda: release_status(kube, namespace).get("step"),
            lambda s: s == "await-promotion",
            what="the second release waiting for promotion",
        )
        r = web.post(f"{base}/intent/abort", json={"reason": "from the page"}, headers=post)
        assert r.status_code in (200, 202), r.text
        assert finished(kube, namespace)["phase"] == "Aborted"
        done = wait_for(lambda: job("abort"), lambda j: j.get("state") == "done", what="abort")
        assert "aborted" in done["result"], done
        assert app.state.dashboard.jobs.wait_all(30)
    assert selector(kube, namespace)["color"] == "green"
    assert replicas(kube, namespace, "hello-blue") == 0
    assert c.counts["started"] == 2 and c.counts["adopted"] == 0, c.counts
    assert c.counts["errors"] == 0, c.counts
