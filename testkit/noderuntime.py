"""A small kubelet for the data plane: the pods of one node run as real processes.

``hack/dataplane.sh up`` starts it inside the project's network namespace. It acts as
the kubelet of one Node (``kprism-proc-0``, label ``kprism.dev/runtime: process``) that
KWOK leaves alone, and does what a kubelet does, as far as traffic is concerned:

- registers the Node, keeps its Ready condition and its Lease fresh;
- watches the pods bound to it; gives each an IP from 198.18.128.0/17 (added to ``lo``
  inside the namespace, so nothing outside it can ever reach one);
- runs every container's ``command``/``args`` literally, in its own PID namespace
  (``unshare --pid --fork``), so the command is PID 1 exactly as in a container: a
  ``sh -c`` wrapper that does not forward SIGTERM behaves as it does on a real node;
- images: ``kprism.dev/sample-app:TAG`` (and the seed's ``localhost:5001/py-http:TAG``)
  are the project's sample app with ``VERSION=TAG``; a container without ``command``
  runs it, one with a ``command`` finds it on ``PATH`` as ``sample-app`` (and ``python
  app.py`` in its working directory runs it too). Any other image fails to pull;
- reflects the ``readinessProbe`` (httpGet, tcpSocket, exec; initial delay, period,
  timeout, thresholds) into the pod's Ready condition; no probe means ready once
  running, as on a real kubelet;
- honours the pod's ``restartPolicy``: ``Always`` restarts an exited container with a
  crash-loop back-off and reports it; ``OnFailure`` does so only after a non-zero exit;
  under ``Never`` (and ``OnFailure`` after exit 0) the container stays terminated, and
  once every container has, the pod's phase is ``Succeeded`` (all exited 0) or
  ``Failed`` — so a Job's pods run to completion and the Job controller sees them end;
- on deletion: preStop (``sleep`` action, ``exec``, ``httpGet``), then SIGTERM to PID 1,
  SIGKILL at the grace deadline, then the IP is released (only after the processes
  are gone) and the pod is deleted with grace 0.

State (PID files, logs) lives under ``--state``; ``hack/dataplane.sh down`` kills what
the PID files name, never by process name.

Not a kubelet: no images, volumes, resource limits, liveness/startup probes, exec or
logs API. It is test tooling, not part of the ``kprism`` package.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import http.client
import ipaddress
import json
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lightkube import ApiError, Client, KubeConfig
from lightkube.resources.coordination_v1 import Lease
from lightkube.resources.core_v1 import Event, Node, Pod
from lightkube.types import PatchType

log = logging.getLogger("noderuntime")

NODE_LABEL = "kprism.dev/runtime"
POD_RANGE = ipaddress.ip_network("198.18.128.0/17")
RESERVED = {ipaddress.ip_address("198.18.255.254"), ipaddress.ip_address("198.18.255.255")}
SAMPLE_IMAGES = ("kprism.dev/sample-app", "localhost:5001/py-http")
SAMPLE_APP = Path(__file__).with_name("sample_app.py")
BACKOFF_START, BACKOFF_MAX = 2.0, 60.0


def now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def now_micro() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def image_version(image: str) -> str | None:
    """The sample app's version for a known image, else None."""
    name, _, tag = image.rpartition(":")
    if "/" in tag or not name:
        name, tag = image, "latest"
    return tag if name in SAMPLE_IMAGES else None


def expand(value: str, env: dict[str, str]) -> str:
    """Kubernetes' $(VAR) expansion in command, args and env ($$ escapes)."""

    def sub(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        return env.get(m.group(1), m.group(0))

    return re.sub(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)", sub, value)


class IPPool:
    """Pod IPs on ``lo``: round-robin so a freed IP is not handed out again at once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._used: set[ipaddress.IPv4Address] = set()
        self._cursor = 0
        self._hosts = [h for h in POD_RANGE.hosts() if h not in RESERVED]

    def take(self, wanted: str | None = None) -> str:
        with self._lock:
            if wanted:
                ip = ipaddress.ip_address(wanted)
                if ip in POD_RANGE and ip not in self._used:
                    self._used.add(ip)  # type: ignore[arg-type]
                    return str(ip)
            for _ in range(len(self._hosts)):
                ip = self._hosts[self._cursor % len(self._hosts)]
                self._cursor += 1
                if ip not in self._used:
                    self._used.add(ip)
                    return str(ip)
        raise RuntimeError("pod IP range exhausted")

    def release(self, ip: str) -> None:
        with self._lock:
            self._used.discard(ipaddress.ip_address(ip))  # type: ignore[arg-type]


def children(pid: int) -> list[int]:
    """Child PIDs of ``pid`` (from /proc/PID/task/PID/children, else by scanning /proc)."""
    try:
        return [int(k) for k in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        pass
    kids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:
                kids.append(int(stat.parent.name))
    return kids


def sh(*argv: str) -> None:
    subprocess.run(argv, check=False, capture_output=True)


@dataclass
class Container:
    spec: dict[str, Any]
    state: dict[str, Any] = field(
        default_factory=lambda: {"waiting": {"reason": "ContainerCreating"}}
    )
    last_state: dict[str, Any] = field(default_factory=dict)
    restarts: int = 0
    ready: bool = False
    proc: subprocess.Popen[bytes] | None = None
    pid1: int | None = None  # the command's PID (PID 1 of its PID namespace)
    started_at: float = 0.0
    probe_ok: int = 0
    probe_fail: int = 0
    next_probe: float = 0.0
    backoff: float = BACKOFF_START
    restart_at: float = 0.0

    @property
    def name(self) -> str:
        return str(self.spec["name"])


class PodWorker:
    """One pod's lifecycle, in its own thread."""

    def __init__(self, rt: Runtime, pod: dict[str, Any]) -> None:
        self.rt = rt
        self.pod = pod
        self.ns = pod["metadata"]["namespace"]
        self.name = pod["metadata"]["name"]
        self.uid = pod["metadata"]["uid"]
        self.dir = rt.state / "pods" / f"{self.ns}_{self.name}_{self.uid[:8]}"
        self.containers = [Container(c) for c in pod["spec"].get("containers", [])]
        self.ip = ""
        self.terminate = threading.Event()
        self.gone = threading.Event()
        self.wake = threading.Event()
        self.lock = threading.Lock()
        self.start_time = now()
        self.last_status: str = ""
        self.restart_policy = str(pod["spec"].get("restartPolicy") or "Always")
        self.finished = False  # every container ended for good (restartPolicy): the pod is over
        self.thread = threading.Thread(target=self.run, name=f"pod-{self.name}", daemon=True)

    # ---- environment -------------------------------------------------------------
    def env_for(self, c: Container) -> dict[str, str]:
        meta, spec = self.pod["metadata"], self.pod["spec"]
        env: dict[str, str] = {
            "PATH": f"{self.rt.imagebin}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "HOME": str(self.dir),
            "HOSTNAME": self.name,
            "POD_IP": self.ip,
            "PYTHONUNBUFFERED": "1",
        }
        ports = c.spec.get("ports") or []
        if ports:
            env["PORT"] = str(ports[0]["containerPort"])
        version = image_version(c.spec.get("image", ""))
        if version is not None:
            env["VERSION"] = version
        refs = {
            "metadata.name": self.name,
            "metadata.namespace": self.ns,
            "metadata.uid": self.uid,
            "status.podIP": self.ip,
            "status.hostIP": "127.0.0.1",
            "spec.nodeName": spec.get("nodeName", ""),
            "spec.serviceAccountName": spec.get("serviceAccountName", "default"),
        }
        for e in c.spec.get("env") or []:
            if "value" in e:
                env[e["name"]] = expand(str(e["value"]), env)
            elif (fr := (e.get("valueFrom") or {}).get("fieldRef")) is not None:
                path = fr.get("fieldPath", "")
                m = re.fullmatch(r"metadata\.(labels|annotations)\['(.+)'\]", path)
                if m:
                    env[e["name"]] = str((meta.get(m.group(1)) or {}).get(m.group(2), ""))
                else:
                    env[e["name"]] = refs.get(path, "")
        return env

    def argv_for(self, c: Container, env: dict[str, str]) -> list[str]:
        command = [expand(str(a), env) for a in c.spec.get("command") or []]
        args = [expand(str(a), env) for a in c.spec.get("args") or []]
        if command:
            return command + args
        return [str(self.rt.imagebin / "sample-app"), *args]

    # ---- processes ---------------------------------------------------------------
    def start(self, c: Container) -> None:
        image = c.spec.get("image", "")
        if image_version(image) is None:
            c.state = {
                "waiting": {
                    "reason": "ErrImagePull",
                    "message": f"image {image!r} is not known to the process node "
                    "(it runs kprism.dev/sample-app:TAG)",
                }
            }
            c.restart_at = time.monotonic() + 3600
            return
        env = self.env_for(c)
        argv = self.argv_for(c, env)
        exe = shutil.which(argv[0], path=env["PATH"]) if "/" not in argv[0] else argv[0]
        if not exe or not os.access(exe, os.X_OK):
            why = f'exec: "{argv[0]}": executable file not found in $PATH'
            if self.restart_policy == "Never":  # it cannot start: the pod fails (code 128)
                self.ended(c, 128, "StartError")
            else:
                self.crashed(c, 128, "StartError", why)
            return
        self.dir.mkdir(parents=True, exist_ok=True)
        out = open(self.dir / f"{c.name}.log", "ab")  # noqa: SIM115
        try:
            proc = subprocess.Popen(
                ["unshare", "--pid", "--fork", "--kill-child=SIGKILL", "--", *argv],
                env=env,
                cwd=self.dir,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        finally:
            out.close()
        c.proc = proc
        c.pid1 = None
        c.started_at = time.monotonic()
        (self.dir / f"{c.name}.pid").write_text(f"{proc.pid}\n")
        c.state = {"running": {"startedAt": now()}}
        c.ready = False
        c.probe_ok = c.probe_fail = 0
        probe = c.spec.get("readinessProbe")
        c.next_probe = c.started_at + float((probe or {}).get("initialDelaySeconds", 0))
        if not probe:
            c.ready = True

    def pid1_of(self, c: Container) -> int | None:
        """The command's PID: unshare's only child."""
        if c.pid1 is None and c.proc is not None:
            for _ in range(50):
                try:
                    kids = (
                        Path(f"/proc/{c.proc.pid}/task/{c.proc.pid}/children").read_text().split()
                    )
                except OSError:
                    return None
                if kids:
                    c.pid1 = int(kids[0])
                    break
                time.sleep(0.01)
        return c.pid1

    def crashed(self, c: Container, code: int, reason: str, message: str = "") -> None:
        (self.dir / f"{c.name}.pid").unlink(missing_ok=True)
        c.last_state = {
            "terminated": {
                "exitCode": code,
                "reason": reason,
                "message": message,
                "finishedAt": now(),
            }
        }
        c.restarts += 1 if c.proc is not None or reason == "StartError" else 0
        c.proc = None
        c.ready = False
        c.state = {
            "waiting": {
                "reason": "CrashLoopBackOff" if reason != "StartError" else "RunContainerError",
                "message": message
                or f"back-off {c.backoff:.0f}s restarting failed container {c.name}",
            }
        }
        c.restart_at = time.monotonic() + c.backoff
        self.rt.event(
            self.pod,
            "BackOff",
            f"container {c.name} exited ({reason}, code {code}): "
            f"back-off {c.backoff:.0f}s restarting it",
        )
        c.backoff = min(c.backoff * 2, BACKOFF_MAX)

    def kill_all(self) -> None:
        for c in self.containers:
            if c.proc is not None and c.proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(c.proc.pid, signal.SIGKILL)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    c.proc.wait(5)
            # A PID file outlives its process only as a hazard (PIDs are reused).
            (self.dir / f"{c.name}.pid").unlink(missing_ok=True)

    # ---- probes ------------------------------------------------------------------
    def probe(self, c: Container, probe: dict[str, Any]) -> bool:
        timeout = float(probe.get("timeoutSeconds", 1))
        try:
            if (hg := probe.get("httpGet")) is not None:
                port = self.port_of(c, hg.get("port"))
                conn = http.client.HTTPConnection(self.ip, port, timeout=timeout)
                try:
                    headers = {h["name"]: h["value"] for h in hg.get("httpHeaders") or []}
                    conn.request("GET", hg.get("path", "/"), headers=headers)
                    return 200 <= conn.getresponse().status < 400
                finally:
                    conn.close()
            if (ts := probe.get("tcpSocket")) is not None:
                with socket.create_connection((self.ip, self.port_of(c, ts.get("port"))), timeout):
                    return True
            if (ex := probe.get("exec")) is not None:
                env = self.env_for(c)
                r = subprocess.run(
                    ex.get("command") or ["false"],
                    env=env,
                    cwd=self.dir,
                    capture_output=True,
                    timeout=timeout,
                    check=False,
                )
                return r.returncode == 0
        except (OSError, subprocess.SubprocessError, http.client.HTTPException):
            return False
        return True

    @staticmethod
    def port_of(c: Container, port: Any) -> int:
        if isinstance(port, int) or (isinstance(port, str) and port.isdigit()):
            return int(port)
        for p in c.spec.get("ports") or []:
            if p.get("name") == port:
                return int(p["containerPort"])
        raise OSError(f"no port named {port!r}")

    def tick_probes(self) -> None:
        t = time.monotonic()
        for c in self.containers:
            probe = c.spec.get("readinessProbe")
            if not probe or c.proc is None or t < c.next_probe:
                continue
            c.next_probe = t + float(probe.get("periodSeconds", 10))
            if self.probe(c, probe):
                c.probe_ok, c.probe_fail = c.probe_ok + 1, 0
                if c.probe_ok >= int(probe.get("successThreshold", 1)):
                    c.ready = True
            else:
                c.probe_fail, c.probe_ok = c.probe_fail + 1, 0
                if c.probe_fail >= int(probe.get("failureThreshold", 3)) or not c.ready:
                    c.ready = False

    # ---- status ------------------------------------------------------------------
    def status(self, terminated: bool = False) -> dict[str, Any]:
        statuses = []
        for c in self.containers:
            cs: dict[str, Any] = {
                "name": c.name,
                "image": c.spec.get("image", ""),
                "imageID": "",
                "ready": c.ready and not terminated,
                "restartCount": c.restarts,
                "started": "running" in c.state,
                "state": c.state,
            }
            if c.last_state:
                cs["lastState"] = c.last_state
            if "running" in c.state:
                cs["containerID"] = f"process://{c.proc.pid if c.proc else 0}"
            statuses.append(cs)
        terminated = terminated or self.finished
        ready = bool(self.containers) and all(c.ready for c in self.containers) and not terminated
        t = now()

        def cond(kind: str, ok: bool) -> dict[str, Any]:
            return {"type": kind, "status": "True" if ok else "False", "lastTransitionTime": t}

        phase = "Running" if any("running" in c.state for c in self.containers) else "Pending"
        if self.finished:
            codes = [c.state.get("terminated", {}).get("exitCode", 1) for c in self.containers]
            phase = "Succeeded" if all(code == 0 for code in codes) else "Failed"
        status: dict[str, Any] = {
            "phase": phase,
            "hostIP": "127.0.0.1",
            "hostIPs": [{"ip": "127.0.0.1"}],
            "startTime": self.start_time,
            "conditions": [
                cond("PodScheduled", True),
                cond("Initialized", True),
                cond("ContainersReady", ready),
                cond("Ready", ready),
            ],
            "containerStatuses": statuses,
        }
        if self.ip:
            status["podIP"] = self.ip
            status["podIPs"] = [{"ip": self.ip}]
        return status

    def push_status(self, terminated: bool = False) -> None:
        status = self.status(terminated)
        key = json.dumps(
            {k: v for k, v in status.items() if k != "conditions"}, sort_keys=True
        ) + json.dumps([c["status"] for c in status["conditions"]])
        if key == self.last_status:
            return
        # Keep transition times of conditions that did not change.
        try:
            self.rt.client.patch(
                Pod.Status if hasattr(Pod, "Status") else Pod,
                self.name,
                {"status": status},
                namespace=self.ns,
                patch_type=PatchType.MERGE,
            )
            self.last_status = key
        except ApiError as exc:
            if exc.status.code == 404:
                self.gone.set()
            else:
                log.warning("status of %s/%s: %s", self.ns, self.name, exc)

    # ---- lifecycle -----------------------------------------------------------------
    def run(self) -> None:
        try:
            self._run()
        except Exception:
            log.exception("pod %s/%s", self.ns, self.name)
        finally:
            self.kill_all()
            if self.ip:
                sh("ip", "addr", "del", f"{self.ip}/32", "dev", "lo")
                self.rt.pool.release(self.ip)
            self.rt.forget(self.uid)

    def _run(self) -> None:
        self.ip = self.rt.pool.take()
        sh("ip", "addr", "add", f"{self.ip}/32", "dev", "lo")
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / "app.py").write_text(
            f"import runpy\nrunpy.run_path({str(SAMPLE_APP)!r}, run_name='__main__')\n"
        )
        (self.dir / "pod.json").write_text(
            json.dumps({"ns": self.ns, "name": self.name, "ip": self.ip})
        )
        for c in self.containers:
            self.start(c)
        self.push_status()
        while not self.terminate.is_set() and not self.gone.is_set():
            for c in self.containers:
                if c.proc is not None and (code := c.proc.poll()) is not None:
                    reason = "Completed" if code == 0 else "Error"
                    if self.restart_policy == "Never" or (
                        self.restart_policy == "OnFailure" and code == 0
                    ):
                        self.ended(c, code, reason)
                    else:
                        self.crashed(c, code, reason)
                elif "terminated" in c.state:
                    continue  # ended for good (restartPolicy)
                elif c.proc is None and time.monotonic() >= c.restart_at:
                    self.start(c)
                elif c.proc is not None and time.monotonic() - c.started_at > 10:
                    c.backoff = BACKOFF_START  # ran long enough: reset the back-off
            if self.containers and all("terminated" in c.state for c in self.containers):
                self.finished = True
                self.rt.finished(self.uid)
                self.push_status()
                log.info(
                    "%s/%s: every container ended: pod %s",
                    self.ns,
                    self.name,
                    self.status()["phase"],
                )
                return  # nothing runs any more: the IP is released, the pod object stays
            self.tick_probes()
            self.push_status()
            self.wake.wait(0.1)
            self.wake.clear()
        if not self.gone.is_set():
            self.shut_down()

    def ended(self, c: Container, code: int, reason: str) -> None:
        """The container exited and is not restarted (restartPolicy Never/OnFailure)."""
        (self.dir / f"{c.name}.pid").unlink(missing_ok=True)
        started = c.state.get("running", {}).get("startedAt", "")
        c.proc = None
        c.ready = False
        c.state = {
            "terminated": {
                "exitCode": code,
                "reason": reason,
                **({"startedAt": started} if started else {}),  # never started: no time
                "finishedAt": now(),
            }
        }

    def shut_down(self) -> None:
        meta = self.pod["metadata"]
        grace = meta.get("deletionGracePeriodSeconds")
        if grace is None:
            grace = self.pod["spec"].get("terminationGracePeriodSeconds", 30)
        deadline = time.monotonic() + float(grace)
        log.info("%s/%s: terminating, grace %ss", self.ns, self.name, grace)
        hooks = [
            threading.Thread(target=self.pre_stop, args=(c, deadline), daemon=True)
            for c in self.containers
        ]
        for h in hooks:
            h.start()
        while any(h.is_alive() for h in hooks) and time.monotonic() < deadline:
            self.tick_probes()
            self.push_status()
            time.sleep(0.05)
        deadline = max(deadline, time.monotonic() + 2)  # a kubelet grants 2 s after a long preStop
        for c in self.containers:
            if c.proc is not None and c.proc.poll() is None and (pid := self.pid1_of(c)):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGTERM)
        while time.monotonic() < deadline and any(
            c.proc is not None and c.proc.poll() is None for c in self.containers
        ):
            time.sleep(0.02)
        for c in self.containers:
            if c.proc is not None and c.proc.poll() is None:
                log.info(
                    "%s/%s: %s ignored SIGTERM, SIGKILL at the grace deadline",
                    self.ns,
                    self.name,
                    c.name,
                )
                (self.dir / f"{c.name}.sigkill").write_text(now_micro())
                self.rt.event(
                    self.pod,
                    "KilledAtGraceDeadline",
                    f"container {c.name} did not exit within the {grace}s grace period: SIGKILL",
                )
        self.kill_all()
        for c in self.containers:
            code = c.proc.returncode if c.proc is not None else 0
            c.state = {
                "terminated": {
                    "exitCode": code or 0,
                    "reason": "Completed" if not code else "Error",
                    "finishedAt": now(),
                }
            }
            c.ready = False
        self.push_status(terminated=True)
        try:
            current = self.rt.client.get(Pod, self.name, namespace=self.ns)
            if current.metadata is not None and current.metadata.uid == self.uid:
                self.rt.client.delete(Pod, self.name, namespace=self.ns, grace_period=0)
        except ApiError as exc:
            if exc.status.code != 404:
                log.warning("delete %s/%s: %s", self.ns, self.name, exc)

    def pre_stop(self, c: Container, deadline: float) -> None:
        hook = ((c.spec.get("lifecycle") or {}).get("preStop")) or {}
        if c.proc is None:
            return
        try:
            if (sl := hook.get("sleep")) is not None:
                time.sleep(max(0.0, min(float(sl.get("seconds", 0)), deadline - time.monotonic())))
            elif (ex := hook.get("exec")) is not None:
                subprocess.run(
                    ex.get("command") or ["true"],
                    env=self.env_for(c),
                    cwd=self.dir,
                    capture_output=True,
                    timeout=max(0.1, deadline - time.monotonic()),
                    check=False,
                )
            elif (hg := hook.get("httpGet")) is not None:
                conn = http.client.HTTPConnection(
                    self.ip,
                    self.port_of(c, hg.get("port")),
                    timeout=max(0.1, deadline - time.monotonic()),
                )
                conn.request("GET", hg.get("path", "/"))
                conn.getresponse().read()
                conn.close()
        except (OSError, subprocess.SubprocessError, http.client.HTTPException) as exc:
            log.info("%s/%s: preStop of %s: %s", self.ns, self.name, c.name, exc)


class Runtime:
    def __init__(self, client: Client, node: str, state: Path) -> None:
        self.client = client
        self.node = node
        self.state = state
        self.pool = IPPool()
        self.workers: dict[str, PodWorker] = {}
        self.done: set[str] = set()  # pods whose containers all ended (never started again)
        self.lock = threading.Lock()
        self.imagebin = state / "imagebin"

    def event(
        self, pod: dict[str, Any], reason: str, message: str, *, warning: bool = True
    ) -> None:
        """An Event on the pod, as a kubelet records one (source: the node)."""
        meta = pod["metadata"]
        ev = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"generateName": f"{meta['name']}.", "namespace": meta["namespace"]},
            "involvedObject": {
                "kind": "Pod",
                "name": meta["name"],
                "namespace": meta["namespace"],
                "uid": meta["uid"],
                "apiVersion": "v1",
            },
            "reason": reason,
            "message": message,
            "type": "Warning" if warning else "Normal",
            "source": {"component": "kubelet", "host": self.node},
            "firstTimestamp": now(),
            "lastTimestamp": now(),
            "count": 1,
        }
        try:
            self.client.create(Event.from_dict(ev))
        except ApiError as exc:
            log.warning("event %s on %s/%s: %s", reason, meta["namespace"], meta["name"], exc)

    def finished(self, uid: str) -> None:
        with self.lock:
            self.done.add(uid)

    def forget(self, uid: str) -> None:
        with self.lock:
            self.workers.pop(uid, None)

    def prepare(self) -> None:
        self.imagebin.mkdir(parents=True, exist_ok=True)
        app = self.imagebin / "sample-app"
        app.write_text(f'#!/bin/sh\nexec {sys.executable} {SAMPLE_APP} "$@"\n')
        app.chmod(0o755)
        for name in ("python", "python3"):
            link = self.imagebin / name
            link.unlink(missing_ok=True)
            link.symlink_to(sys.executable)
        # Processes a crashed runtime left behind: kill them by their PID files.
        for pidfile in (
            (self.state / "pods").glob("*/*.pid") if (self.state / "pods").exists() else []
        ):
            with contextlib.suppress(ValueError, OSError):
                pid = int(pidfile.read_text().strip())
                # Only a process that still runs in this network namespace is ours
                # (PIDs are reused).
                if os.stat(f"/proc/{pid}/ns/net").st_ino == os.stat("/proc/self/ns/net").st_ino:
                    os.killpg(pid, signal.SIGKILL)
            pidfile.unlink(missing_ok=True)
        for podfile in (
            (self.state / "pods").glob("*/pod.json") if (self.state / "pods").exists() else []
        ):
            with contextlib.suppress(ValueError, KeyError, OSError):
                sh("ip", "addr", "del", f"{json.loads(podfile.read_text())['ip']}/32", "dev", "lo")
        shutil.rmtree(self.state / "pods", ignore_errors=True)

    # ---- node ----------------------------------------------------------------------
    def node_object(self) -> dict[str, Any]:
        return {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": self.node,
                "labels": {
                    "kubernetes.io/hostname": self.node,
                    "kubernetes.io/os": "linux",
                    "kubernetes.io/arch": "amd64",
                    NODE_LABEL: "process",
                },
            },
            "spec": {},
        }

    def node_status(self) -> dict[str, Any]:
        t = now()

        def cond(kind: str, status: str, reason: str) -> dict[str, str]:
            return {
                "type": kind,
                "status": status,
                "reason": reason,
                "message": "kprism process node",
                "lastHeartbeatTime": t,
                "lastTransitionTime": t,
            }

        return {
            "status": {
                "addresses": [
                    {"type": "InternalIP", "address": "127.0.0.1"},
                    {"type": "Hostname", "address": self.node},
                ],
                "capacity": {"cpu": "16", "memory": "64Gi", "pods": "250"},
                "allocatable": {"cpu": "16", "memory": "64Gi", "pods": "250"},
                "conditions": [
                    cond("MemoryPressure", "False", "KubeletHasSufficientMemory"),
                    cond("DiskPressure", "False", "KubeletHasNoDiskPressure"),
                    cond("PIDPressure", "False", "KubeletHasSufficientPID"),
                    cond("Ready", "True", "KubeletReady"),
                ],
                "daemonEndpoints": {"kubeletEndpoint": {"Port": 0}},
                "nodeInfo": {
                    "architecture": "amd64",
                    "bootID": "",
                    "containerRuntimeVersion": "process://kprism",
                    "kernelVersion": os.uname().release,
                    "kubeProxyVersion": "",
                    "kubeletVersion": "v1.36.3",
                    "machineID": "",
                    "operatingSystem": "linux",
                    "osImage": "kprism process node",
                    "systemUUID": "",
                },
            }
        }

    def register(self) -> None:
        try:
            self.client.create(Node.from_dict(self.node_object()))
        except ApiError as exc:
            if exc.status.code != 409:
                raise
        self.heartbeat()

    def heartbeat(self) -> None:
        self.client.patch(Node.Status, self.node, self.node_status(), patch_type=PatchType.MERGE)
        lease = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": self.node, "namespace": "kube-node-lease"},
            "spec": {
                "holderIdentity": self.node,
                "leaseDurationSeconds": 40,
                "renewTime": now_micro(),
            },
        }
        self.client.apply(Lease.from_dict(lease), field_manager="kprism-noderuntime", force=True)

    def heartbeats(self) -> None:
        while True:
            time.sleep(10)
            try:
                self.heartbeat()
            except Exception as exc:
                log.warning("heartbeat: %s", exc)

    # ---- pods ----------------------------------------------------------------------
    def on_pod(self, kind: str, pod: dict[str, Any]) -> None:
        uid = pod["metadata"]["uid"]
        with self.lock:
            worker = self.workers.get(uid)
            if (
                worker is None
                and kind != "DELETED"
                and not pod["metadata"].get("deletionTimestamp")
            ):
                if (
                    pod.get("status", {}).get("phase") in ("Succeeded", "Failed")
                    or uid in self.done
                ):
                    return  # over: its containers ran to their end (restartPolicy)
                worker = PodWorker(self, pod)
                self.workers[uid] = worker
                worker.thread.start()
                return
        if worker is None:
            if kind != "DELETED" and pod["metadata"].get("deletionTimestamp"):
                # Terminating, and no process of ours runs it (e.g. the runtime restarted).
                with contextlib.suppress(ApiError):
                    self.client.delete(
                        Pod,
                        pod["metadata"]["name"],
                        namespace=pod["metadata"]["namespace"],
                        grace_period=0,
                    )
            return
        worker.pod = pod
        if kind == "DELETED":
            worker.gone.set()
        elif pod["metadata"].get("deletionTimestamp"):
            worker.terminate.set()
        worker.wake.set()

    def watch_pods(self) -> None:
        while True:
            try:
                for kind, pod in self.client.watch(
                    Pod, namespace="*", fields={"spec.nodeName": self.node}
                ):
                    self.on_pod(kind, pod.to_dict())
            except Exception as exc:
                log.warning("pod watch: %s", exc)
                time.sleep(1)

    def serve(self) -> None:
        self.prepare()
        self.register()
        threading.Thread(target=self.heartbeats, name="heartbeat", daemon=True).start()
        log.info("node %s registered; running its pods as processes", self.node)
        self.watch_pods()


def iter_pidfiles(state: Path) -> Iterator[Path]:
    yield from (state / "pods").glob("*/*.pid")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kubeconfig", required=True)
    ap.add_argument("--node", default="kprism-proc-0")
    ap.add_argument("--state", required=True, type=Path)
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    client = Client(KubeConfig.from_file(args.kubeconfig), field_manager="kprism-noderuntime")
    rt = Runtime(client, args.node, args.state)

    def stop(signum: int, frame: object) -> None:
        with rt.lock:
            workers = list(rt.workers.values())
        for w in workers:
            w.kill_all()
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    rt.serve()


if __name__ == "__main__":
    main()
