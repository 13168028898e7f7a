"""Pure checks for the pod-termination race and other release hazards (issue #5).

Why this exists: when a pod is deleted, the kubelet (preStop, then SIGTERM) and the
endpoints controller (removing the pod from the Service) act *concurrently*. Until every
kube-proxy, ingress and client-side load balancer has dropped the pod's IP, new
connections still reach a process that is shutting down: HTTP 5xx on every upgrade, and
kprism would blame the new version for errors the old pods caused. The cure is plain
configuration (a preStop sleep longer than endpoint propagation, a grace period that
covers preStop plus draining, readiness probes, ``maxUnavailable: 0``, a
PodDisruptionBudget, an app that actually receives SIGTERM), so kprism checks for it.

The rules take Kubernetes objects as plain dicts, exactly as ``kubectl get -o json``, the
API server or a parsed manifest give them, so one :func:`audit` serves ``kprism doctor
-f``, the live cluster and a release pre-flight. Fixes come back as :class:`Edit` lists
that the caller applies: :mod:`kprism.manifests` rewrites YAML preserving comments, and
:func:`to_json_patch` turns them into an RFC 6902 patch for the API server.

This module is pure (import-linter enforces it): no I/O, no clock, no Kubernetes client.
"""

from __future__ import annotations

import copy
import enum
import math
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Final

from kprism.errors import InvalidSpecError

#: Per-object suppression: ``kprism.dev/doctor-ignore: "KP001,prestop-exec-sleep"`` on the
#: object (or on a Deployment's pod template); ``all`` suppresses every rule.
IGNORE_ANNOTATION: Final = "kprism.dev/doctor-ignore"

_DEFAULT_GRACE: Final = 30  # Pod.spec.terminationGracePeriodSeconds when unset
_DEFAULT_ROLLING: Final = "25%"  # maxUnavailable and maxSurge when unset
_CONTAINERS: Final = "/spec/template/spec/containers"


class Severity(enum.Enum):
    """How bad a finding is: ``error`` > ``warning`` > ``info``."""

    ERROR = "error"
    WARNING = "warning"
    INFO = "info"

    @property
    def rank(self) -> int:
        """3 for error, 2 for warning, 1 for info: higher is worse."""
        return {"error": 3, "warning": 2, "info": 1}[self.value]

    def at_least(self, other: Severity) -> bool:
        """True when this severity is ``other`` or worse."""
        return self.rank >= other.rank

    @classmethod
    def parse(cls, text: str) -> Severity:
        """``"warning"`` → :attr:`WARNING`; anything unknown is a usage error."""
        try:
            return cls(text.strip().lower())
        except ValueError:
            known = ", ".join(s.value for s in cls)
            raise InvalidSpecError(f"unknown severity {text!r}; use one of {known}") from None


@dataclass(frozen=True, kw_only=True)
class ObjectRef:
    """Which object a finding is about."""

    kind: str
    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}"


@dataclass(frozen=True, kw_only=True)
class Rule:
    """A check's identity and documentation (rendered into docs/doctor.md and SARIF)."""

    id: str
    slug: str
    severity: Severity  # the usual severity; a finding may be milder (see KP006)
    title: str  # one line: what is wrong
    protects: str  # what goes wrong in a release without it
    fix: str  # one line: how to fix it
    fixable: bool  # whether ``--fix`` can repair it (in the simple cases)


RULES: Final[tuple[Rule, ...]] = (
    Rule(
        id="KP001",
        slug="no-readiness-probe",
        severity=Severity.WARNING,
        title="a serving container has no readiness probe",
        protects="traffic reaching a pod before the app listens, or while it is overloaded",
        fix="add a readinessProbe (httpGet on a health path, or tcpSocket on the port)",
        fixable=False,
    ),
    Rule(
        id="KP002",
        slug="no-prestop-hook",
        severity=Severity.WARNING,
        title="a serving container has no preStop hook",
        protects="SIGTERM arriving while endpoints still route new requests to the pod",
        fix="add lifecycle.preStop.sleep.seconds (native sleep action, no sleep binary needed)",
        fixable=True,
    ),
    Rule(
        id="KP003",
        slug="prestop-sleep-too-short",
        severity=Severity.WARNING,
        title="the preStop sleep is shorter than endpoint propagation",
        protects="the same race as KP002: the app stops before kube-proxy has caught up",
        fix="sleep at least the propagation allowance (default 5s) in preStop",
        fixable=True,
    ),
    Rule(
        id="KP004",
        slug="prestop-exec-sleep",
        severity=Severity.INFO,
        title='preStop runs the "sleep" binary instead of the native sleep action',
        protects="a hook that fails at once in images without sleep (distroless, scratch)",
        fix="use lifecycle.preStop.sleep.seconds (GA in Kubernetes 1.34, beta since 1.30)",
        fixable=True,
    ),
    Rule(
        id="KP005",
        slug="grace-period-too-short",
        severity=Severity.WARNING,
        title="terminationGracePeriodSeconds does not exceed preStop plus drain time",
        protects="in-flight requests cut off by SIGKILL when the grace period ends",
        fix="raise terminationGracePeriodSeconds above preStop + drain (default drain 5s)",
        fixable=True,
    ),
    Rule(
        id="KP006",
        slug="max-unavailable-nonzero",
        severity=Severity.WARNING,
        title="a rolling update may take pods out of service before new ones are ready",
        protects="lost capacity, or no ready pod at all, during every rollout",
        fix="set strategy.rollingUpdate.maxUnavailable: 0 and maxSurge: 1",
        fixable=True,
    ),
    Rule(
        id="KP007",
        slug="no-pdb",
        severity=Severity.WARNING,
        title="a multi-replica Deployment has no PodDisruptionBudget",
        protects="a node drain evicting every replica at once",
        fix="add a PodDisruptionBudget selecting the pods, e.g. maxUnavailable: 1",
        fixable=False,
    ),
    Rule(
        id="KP008",
        slug="pdb-blocks-eviction",
        severity=Severity.WARNING,
        title="a PodDisruptionBudget allows no voluntary eviction at all",
        protects="node drains and cluster upgrades that hang forever on these pods",
        fix="use maxUnavailable: 1 (and run at least two replicas)",
        fixable=False,
    ),
    Rule(
        id="KP009",
        slug="identical-probes",
        severity=Severity.WARNING,
        title="the liveness probe is identical to the readiness probe",
        protects="busy pods being restarted instead of rested, restarts cascading under load",
        fix="give liveness its own cheap check or a higher failureThreshold",
        fixable=False,
    ),
    Rule(
        id="KP010",
        slug="mutable-image-tag",
        severity=Severity.WARNING,
        title='a mutable image tag (":latest" or none) is pulled with imagePullPolicy Always',
        protects="pods of one track running different code; a rollback that does not roll back",
        fix="pin a version tag or a digest (image@sha256:...)",
        fixable=False,
    ),
    Rule(
        id="KP011",
        slug="no-memory-limit",
        severity=Severity.INFO,
        title="a container has no memory limit",
        protects="a leaking new version exhausting the node and evicting the stable track",
        fix="set resources.limits.memory",
        fixable=False,
    ),
    Rule(
        id="KP012",
        slug="service-selects-other-apps",
        severity=Severity.ERROR,
        title="a Service's selector matches pods of more than one app",
        protects="another app's pods answering this Service's requests",
        fix="add a label unique to the app (app.kubernetes.io/name) to the selector",
        fixable=False,
    ),
    Rule(
        id="KP013",
        slug="service-mixes-tracks",
        severity=Severity.WARNING,
        title="a Service without the track label selects tracks that run different pods",
        protects="requests alternating between versions outside any release",
        fix="add the track label (default color) of the live track to the selector",
        fixable=False,
    ),
    Rule(
        id="KP014",
        slug="shell-without-exec",
        severity=Severity.WARNING,
        title='the app runs under "sh -c" without exec, so it never receives SIGTERM',
        protects="the app being SIGKILLed at the end of the grace period instead of draining",
        fix='start the command with exec ("exec python app.py"), or use tini -g',
        fixable=True,
    ),
    Rule(
        id="KP015",
        slug="hpa-targets-deployment",
        severity=Severity.INFO,
        title="a HorizontalPodAutoscaler scales a Deployment directly",
        protects="the HPA overriding replica counts that a release sets",
        fix="autoscale only the live track, and omit spec.replicas from the manifest",
        fixable=False,
    ),
    Rule(
        id="KP016",
        slug="recreate-strategy",
        severity=Severity.WARNING,
        title="the Deployment uses strategy Recreate",
        protects="an outage on every in-place rollout: all old pods stop before new ones start",
        fix="use RollingUpdate with maxUnavailable: 0 (unless pods cannot run side by side)",
        fixable=False,
    ),
)

RULES_BY_ID: Final[Mapping[str, Rule]] = {r.id: r for r in RULES}
_ID_BY_NAME: Final[Mapping[str, str]] = {
    **{r.id.lower(): r.id for r in RULES},
    **{r.slug: r.id for r in RULES},
}


def resolve_rules(names: Iterable[str]) -> frozenset[str]:
    """Rule ids for ids or slugs (``"KP001"``, ``"no-readiness-probe"``; commas allowed).

    Unknown names are a usage error, so a typo in ``--ignore`` is not silently ignored.
    """
    out: set[str] = set()
    for item in names:
        for raw in re.split(r"[,\s]+", item):
            name = raw.strip().lower()
            if not name:
                continue
            if name not in _ID_BY_NAME:
                raise InvalidSpecError(
                    f"unknown doctor rule {raw!r}; known: {', '.join(r.id for r in RULES)}"
                )
            out.add(_ID_BY_NAME[name])
    return frozenset(out)


@dataclass(frozen=True, kw_only=True)
class DoctorConfig:
    """Thresholds and rule selection for :func:`audit` and :func:`plan_fixes`."""

    #: How long endpoint removal takes to reach every kube-proxy / ingress / client.
    propagation_seconds: float = 5
    #: How long the app needs after SIGTERM to finish in-flight requests.
    drain_seconds: float = 5
    #: preStop sleep that fixes write; default ``max(10, propagation + 5)``.
    prestop_fix_seconds: int | None = None
    #: Grace period that fixes write = preStop + drain + this.
    grace_margin_seconds: int = 5
    #: A Deployment with at most this many replicas cannot spare one during a rollout.
    few_replicas: int = 3
    #: The label that tells tracks of one app apart (kprism's ``color: blue``/``green``).
    track_label: str = "color"
    #: Pod labels naming the app, first match wins.
    app_labels: tuple[str, ...] = ("app.kubernetes.io/name", "app")
    #: KP007: True = always check, False = never, None = only when any PDB was given
    #: (a lone Deployment file says nothing about PDBs that live elsewhere).
    expect_pdb: bool | None = None
    #: Whether the cluster has the native preStop sleep action (Kubernetes >= 1.30).
    native_sleep: bool = True
    #: Only these rules (ids or slugs); empty means all.
    select: frozenset[str] = frozenset()
    #: Never these rules (ids or slugs).
    ignore: frozenset[str] = frozenset()
    #: Namespace of objects without ``metadata.namespace`` (manifests usually omit it).
    default_namespace: str = "default"

    def __post_init__(self) -> None:
        if self.propagation_seconds < 0 or self.drain_seconds < 0:
            raise InvalidSpecError("doctor: propagation and drain seconds must be >= 0")
        if self.prestop_fix_seconds is not None and self.prestop_fix_seconds < 1:
            raise InvalidSpecError("doctor: the preStop fix must sleep at least 1 second")
        object.__setattr__(self, "select", resolve_rules(self.select))
        object.__setattr__(self, "ignore", resolve_rules(self.ignore))

    @property
    def prestop_target(self) -> int:
        """Seconds of preStop sleep that fixes write."""
        if self.prestop_fix_seconds is not None:
            return self.prestop_fix_seconds
        return max(10, math.ceil(self.propagation_seconds) + 5)

    def enabled(self, rule_id: str) -> bool:
        """Whether ``select``/``ignore`` let ``rule_id`` run."""
        if rule_id in self.ignore:
            return False
        return not self.select or rule_id in self.select


DEFAULT_CONFIG: Final = DoctorConfig()


@dataclass(frozen=True, kw_only=True)
class Finding:
    """One problem on one object (and container)."""

    rule_id: str
    slug: str
    severity: Severity
    object_ref: ObjectRef
    container: str | None
    message: str  # one line: why it is a problem here
    fix: str  # one line: what to change
    path: str  # JSON pointer into the object; may name a field that is missing
    fixable: bool  # whether plan_fixes() produces edits for it
    index: int  # position of the object in the sequence given to audit()


@dataclass(frozen=True, kw_only=True)
class Edit:
    """Set ``value`` at JSON pointer ``path``, creating missing parent mappings."""

    path: str
    value: Any


@dataclass(frozen=True, kw_only=True)
class ObjectFix:
    """The edits that repair the fixable findings of one object."""

    index: int  # position in the objects given to audit()/plan_fixes()
    object_ref: ObjectRef
    rule_ids: tuple[str, ...]  # rules whose fixes produced edits (KP005 may follow a preStop fix)
    edits: tuple[Edit, ...]


# --------------------------------------------------------------------------- helpers


def pointer(*parts: str | int) -> str:
    """A JSON pointer (RFC 6901) from path segments."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def split_pointer(path: str) -> list[str]:
    """The segments of a JSON pointer (``""`` is the whole document)."""
    if not path:
        return []
    if not path.startswith("/"):
        raise ValueError(f"not a JSON pointer: {path!r}")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _map(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _seq(value: object) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else []


def _dig(obj: object, *keys: str) -> Any:
    for key in keys:
        if not isinstance(obj, Mapping):
            return None
        obj = obj.get(key)
    return obj


def _str_map(value: object) -> dict[str, str]:
    return {str(k): str(v) for k, v in _map(value).items()}


def _int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def _fmt(seconds: float) -> str:
    return f"{seconds:g}s"


def _base(argv0: str) -> str:
    return argv0.rsplit("/", 1)[-1]


def _scaled(value: object, total: int, *, round_up: bool) -> int | None:
    """Resolve an int-or-percent field (``1``, ``"25%"``) against ``total``."""
    if isinstance(value, str) and value.strip().endswith("%"):
        try:
            pct = float(value.strip()[:-1])
        except ValueError:
            return None
        exact = total * pct / 100
        return math.ceil(exact) if round_up else math.floor(exact)
    return _int(value)


def selector_matches(selector: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    """A Service-style equality selector; an empty one selects nothing."""
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def label_selector_matches(selector: object, labels: Mapping[str, str]) -> bool:
    """A ``metav1.LabelSelector``; ``{}`` matches everything, a missing one nothing."""
    if not isinstance(selector, Mapping):
        return False
    if any(labels.get(k) != v for k, v in _str_map(selector.get("matchLabels")).items()):
        return False
    for expr in _seq(selector.get("matchExpressions")):
        key = str(_map(expr).get("key", ""))
        op = str(_map(expr).get("operator", ""))
        values = {str(v) for v in _seq(_map(expr).get("values"))}
        ok = {
            "In": key in labels and labels[key] in values,
            "NotIn": key not in labels or labels[key] not in values,
            "Exists": key in labels,
            "DoesNotExist": key not in labels,
        }.get(op, False)
        if not ok:
            return False
    return True


# ------------------------------------------------------------------- object views


@dataclass(frozen=True, kw_only=True)
class _Obj:
    index: int
    ref: ObjectRef
    body: Mapping[str, Any]
    suppressed: frozenset[str]


@dataclass(frozen=True, kw_only=True)
class _Deployment(_Obj):
    replicas: int
    pod_labels: dict[str, str]
    app: str | None
    pod_spec: Mapping[str, Any]
    containers: list[tuple[int, Mapping[str, Any]]]


def _suppressed(*annotation_maps: object) -> frozenset[str]:
    ids: set[str] = set()
    for notes in annotation_maps:
        raw = _map(notes).get(IGNORE_ANNOTATION)
        if not isinstance(raw, str):
            continue
        for name in re.split(r"[,\s]+", raw.strip().lower()):
            if name in ("all", "*"):
                ids.update(RULES_BY_ID)
            elif name in _ID_BY_NAME:
                ids.add(_ID_BY_NAME[name])
    return frozenset(ids)


def _app_of(labels: Mapping[str, str], config: DoctorConfig) -> str | None:
    for key in config.app_labels:
        if labels.get(key):
            return labels[key]
    return None


@dataclass(frozen=True, kw_only=True)
class _Objects:
    deployments: list[_Deployment] = field(default_factory=list)
    services: list[_Obj] = field(default_factory=list)
    pdbs: list[_Obj] = field(default_factory=list)
    hpas: list[_Obj] = field(default_factory=list)
    pods: list[_Obj] = field(default_factory=list)


def _classify(objects: Sequence[Mapping[str, Any]], config: DoctorConfig) -> _Objects:
    out = _Objects()
    buckets = {
        "Service": out.services,
        "PodDisruptionBudget": out.pdbs,
        "HorizontalPodAutoscaler": out.hpas,
        "Pod": out.pods,
    }
    for index, obj in enumerate(objects):
        kind = str(obj.get("kind", ""))
        meta = _map(obj.get("metadata"))
        ref = ObjectRef(
            kind=kind,
            namespace=str(meta.get("namespace") or config.default_namespace),
            name=str(meta.get("name") or "<unnamed>"),
        )
        if kind == "Deployment":
            template = _map(_dig(obj, "spec", "template"))
            tmeta = _map(template.get("metadata"))
            pod_spec = _map(template.get("spec"))
            labels = _str_map(tmeta.get("labels"))
            replicas = _int(_dig(obj, "spec", "replicas"))
            containers = [
                (i, c)
                for i, c in enumerate(_seq(pod_spec.get("containers")))
                if isinstance(c, Mapping)
            ]
            out.deployments.append(
                _Deployment(
                    index=index,
                    ref=ref,
                    body=obj,
                    suppressed=_suppressed(meta.get("annotations"), tmeta.get("annotations")),
                    replicas=1 if replicas is None else replicas,
                    pod_labels=labels,
                    app=_app_of(labels, config),
                    pod_spec=pod_spec,
                    containers=containers,
                )
            )
        elif kind in buckets:
            suppressed = _suppressed(meta.get("annotations"))
            buckets[kind].append(_Obj(index=index, ref=ref, body=obj, suppressed=suppressed))
    return out


# ------------------------------------------------------------- preStop and shells

_SHELLS: Final = frozenset({"sh", "bash", "ash", "dash", "zsh", "ksh", "mksh"})
_SLEEP_ARG: Final = re.compile(r"(\d+(?:\.\d+)?)([smhd]?)")
_SLEEP_IN_SCRIPT: Final = re.compile(r"(?:^|[\s;&|(])sleep\s+(\d+(?:\.\d+)?[smhd]?)(?=$|[\s;&|)])")
_UNIT: Final = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def _sleep_arg(arg: str) -> float | None:
    m = _SLEEP_ARG.fullmatch(arg.strip())
    return float(m.group(1)) * _UNIT[m.group(2)] if m else None


def _shell_script(argv: Sequence[str], start: int = 0) -> tuple[str, int] | None:
    """For ``sh [-e] -c SCRIPT ...`` at ``argv[start]``: the shell's name and SCRIPT's index."""
    if len(argv) <= start or _base(argv[start]) not in _SHELLS:
        return None
    i, has_c = start + 1, False
    while i < len(argv) and argv[i][:1] in ("-", "+") and argv[i] not in ("-", "--"):
        flag = argv[i]
        i += 2 if flag in ("-o", "+o", "-O", "+O") else 1
        if not flag.startswith("--") and "c" in flag[1:]:
            has_c = True
            break
    if not has_c or i >= len(argv):
        return None
    return _base(argv[start]), i


@dataclass(frozen=True, kw_only=True)
class _PreStop:
    kind: str  # none | sleep | exec-sleep | exec | http | tcp | other
    seconds: float | None  # how long it waits, when that can be told
    pure: bool  # nothing but a sleep: safe to replace with a native sleep


def _prestop(container: Mapping[str, Any]) -> _PreStop:
    hook = _map(_dig(container, "lifecycle", "preStop"))
    if not hook:
        return _PreStop(kind="none", seconds=None, pure=False)
    if "sleep" in hook:
        secs = _int(_dig(hook, "sleep", "seconds"))
        return _PreStop(kind="sleep", seconds=None if secs is None else float(secs), pure=True)
    if "exec" in hook:
        argv = [str(a) for a in _seq(_dig(hook, "exec", "command"))]
        if len(argv) == 2 and _base(argv[0]) == "sleep":
            secs_f = _sleep_arg(argv[1])
            return _PreStop(kind="exec-sleep", seconds=secs_f, pure=secs_f is not None)
        shell = _shell_script(argv)
        if shell is not None:
            script = argv[shell[1]]
            m = re.fullmatch(r"\s*sleep\s+(\S+)\s*", script)
            if m and (one := _sleep_arg(m.group(1))) is not None:
                return _PreStop(kind="exec-sleep", seconds=one, pure=True)
            sleeps = [_sleep_arg(s) or 0.0 for s in _SLEEP_IN_SCRIPT.findall(script)]
            return _PreStop(kind="exec", seconds=sum(sleeps) if sleeps else None, pure=False)
        return _PreStop(kind="exec", seconds=None, pure=False)
    if "httpGet" in hook:
        return _PreStop(kind="http", seconds=None, pure=False)
    if "tcpSocket" in hook:
        return _PreStop(kind="tcp", seconds=None, pure=False)
    return _PreStop(kind="other", seconds=None, pure=False)


def _sleep_hook(seconds: int, config: DoctorConfig) -> dict[str, Any]:
    if config.native_sleep:
        return {"sleep": {"seconds": seconds}}
    return {"exec": {"command": ["sleep", str(seconds)]}}


def _argv(container: Mapping[str, Any]) -> tuple[list[str], int] | None:
    """``command + args`` and ``len(command)``; None when the image entrypoint is used."""
    command = _seq(container.get("command"))
    if not command:
        return None
    return [str(a) for a in command + _seq(container.get("args"))], len(command)


def _init_forwards(argv: Sequence[str]) -> tuple[int, bool]:
    """Skip a ``tini``/``dumb-init`` prefix: (index of the real command, signals reach it)."""
    if not argv or _base(argv[0]) not in ("tini", "tini-static", "dumb-init"):
        return 0, False
    dumb = _base(argv[0]) == "dumb-init"
    group = dumb  # dumb-init signals the whole process group unless --single-child
    i = 1
    while i < len(argv) and argv[i].startswith("-"):
        flag = argv[i]
        i += 1
        if flag == "--":
            break
        if dumb and flag in ("--single-child", "-c"):
            group = False
        elif not dumb and not flag.startswith("--") and "g" in flag[1:]:
            group = True
        elif not dumb and flag in ("-p", "-e"):
            i += 1
    return i, group


def _script_lines(script: str) -> list[str]:
    joined = script.replace("\\\n", " ")
    return [
        ln.strip() for ln in joined.splitlines() if ln.strip() and not ln.strip().startswith("#")
    ]


def _script_forwards(script: str) -> bool:
    lines = _script_lines(script)
    if not lines or re.search(r"(?:^|[\s;&|])trap\s", " ".join(lines)):
        return True  # nothing to run, or the script handles signals itself
    unquoted = re.sub(r"'[^']*'|\"(?:[^\"\\]|\\.)*\"", "''", lines[-1])
    last = re.split(r"&&|\|\||;", unquoted)[-1].strip()
    return last == "exec" or last.startswith("exec ")


_NOT_EXECABLE: Final = frozenset(
    {"cd", "export", "set", "source", ".", "if", "for", "while", "until", "case", "trap"}
    | {"exec", "eval", "wait", "[", "test", "unset", "shift", "read", ":", "{", "true"}
)


def _exec_rewrite(script: str) -> str | None:
    """``"python app.py\\n"`` → ``"exec python app.py\\n"`` for one simple command, else None."""
    if len(_script_lines(script)) != 1 or "\\\n" in script:
        return None
    parts = script.splitlines(keepends=True)
    for n, line in enumerate(parts):
        body = line.strip()
        if not body or body.startswith("#"):
            continue
        first = body.split()[0]
        if re.search(r"[;&|()`<]|\\", body) or first in _NOT_EXECABLE or "=" in first:
            return None
        start = line.index(body[0])
        parts[n] = line[:start] + "exec " + line[start:]
        return "".join(parts)
    return None


@dataclass(frozen=True, kw_only=True)
class _ShellWrap:
    shell: str
    path: str  # pointer to the script string, relative to the container
    script: str
    rewrite: str | None


def _shell_wrap(container: Mapping[str, Any]) -> _ShellWrap | None:
    """A ``sh -c`` wrapper that does not hand PID 1 (and SIGTERM) to the app."""
    found = _argv(container)
    if found is None:
        return None
    argv, n_command = found
    start, forwards = _init_forwards(argv)
    shell = _shell_script(argv, start)
    if forwards or shell is None:
        return None
    name, at = shell
    script = argv[at]
    if _script_forwards(script):
        return None
    path = pointer("command", at) if at < n_command else pointer("args", at - n_command)
    return _ShellWrap(shell=name, path=path, script=script, rewrite=_exec_rewrite(script))


def _serving(
    containers: list[tuple[int, Mapping[str, Any]]],
) -> list[tuple[int, Mapping[str, Any]]]:
    """Containers that get Service traffic: those declaring ports, or all if none do."""
    with_ports = [(i, c) for i, c in containers if _seq(c.get("ports"))]
    return with_ports or containers


def _cname(container: Mapping[str, Any]) -> str:
    return str(container.get("name") or "?")


_PROBE_DEFAULTS: Final = {
    "timeoutSeconds": 1,
    "periodSeconds": 10,
    "successThreshold": 1,
    "failureThreshold": 3,
    "initialDelaySeconds": 0,
}


def _normal_probe(probe: Mapping[str, Any]) -> dict[str, Any]:
    out = {**_PROBE_DEFAULTS, **probe}
    if isinstance(out.get("httpGet"), Mapping):
        out["httpGet"] = {"path": "/", "scheme": "HTTP", **out["httpGet"]}
    return out


def _image_tag(image: str) -> tuple[str | None, bool]:
    """(tag, has_digest) of an image reference; the tag is None when absent."""
    if "@" in image:
        return None, True
    last = image.rsplit("/", 1)[-1]
    return (last.rsplit(":", 1)[1] if ":" in last else None), False


def _grace(pod_spec: Mapping[str, Any]) -> tuple[int, bool]:
    """(terminationGracePeriodSeconds, explicitly set)."""
    value = _int(pod_spec.get("terminationGracePeriodSeconds"))
    return (_DEFAULT_GRACE, False) if value is None else (value, True)


def _longest_prestop(pod_spec: Mapping[str, Any]) -> float:
    waits = [
        _prestop(c).seconds or 0.0
        for c in _seq(pod_spec.get("containers"))
        if isinstance(c, Mapping)
    ]
    return max(waits, default=0.0)


def _rolling(body: Mapping[str, Any], replicas: int) -> tuple[int, int, object, object]:
    """(effective maxUnavailable, effective maxSurge, raw maxUnavailable, raw maxSurge)."""
    rolling = _map(_dig(body, "spec", "strategy", "rollingUpdate"))
    raw_mu = rolling.get("maxUnavailable", _DEFAULT_ROLLING)
    raw_ms = rolling.get("maxSurge", _DEFAULT_ROLLING)
    mu = _scaled(raw_mu, replicas, round_up=False) or 0
    ms = _scaled(raw_ms, replicas, round_up=True) or 0
    if mu == 0 and ms == 0:
        mu = 1  # the Deployment controller's own safety net (ResolveFenceposts)
    return mu, ms, rolling.get("maxUnavailable"), rolling.get("maxSurge")


# ------------------------------------------------------------------------ rules


@dataclass(frozen=True, kw_only=True)
class _Hit:
    rule_id: str
    obj: _Obj
    message: str
    path: str
    container: str | None = None
    fix: str | None = None
    fixable: bool | None = None
    severity: Severity | None = None


_Check = Callable[[_Objects, DoctorConfig], Iterator[_Hit]]


def _containers_check(
    objs: _Objects,
) -> Iterator[tuple[_Deployment, int, Mapping[str, Any], bool]]:
    for d in objs.deployments:
        serving = {i for i, _ in _serving(d.containers)}
        for i, c in d.containers:
            yield d, i, c, i in serving


def _kp001(objs: _Objects, config: DoctorConfig) -> Iterator[_Hit]:
    for d, i, c, serving in _containers_check(objs):
        if serving and not c.get("readinessProbe"):
            yield _Hit(
                rule_id="KP001",
                obj=d,
                container=_cname(c),
                path=pointer(*split_pointer(_CONTAINERS), i, "readinessProbe"),
                message=f'container "{_cname(c)}" has no readinessProbe: it gets traffic as '
                "soon as it starts, before the app listens, and while it is overloaded",
            )


def _kp002(objs: _Objects, config: DoctorConfig) -> Iterator[_Hit]:
    for d, i, c, serving in _containers_check(objs):
        if serving and _prestop(c).kind == "none":
            yield _Hit(
                rule_id="KP002",
                obj=d,
                container=_cname(c),
                path=pointer(*split_pointer(_CONTAINERS), i, "lifecycle", "preStop"),
                message=f'container "{_cname(c)}" has no preStop hook: SIGTERM arrives while '
                "Services still send it new requests, which fail",
                fix=f"add lifecycle.preStop.sleep.seconds: {config.prestop_target} (native "
                "sleep action, GA in Kubernetes 1.34; needs no sleep binary)",
            )


def _kp003(objs: _Objects, config: DoctorConfig) -> Iterator[_Hit]:
    for d, i, c, serving in _containers_check(objs):
        hook = _prestop(c)
        if serving and hook.seconds is not None and hook.seconds < config.propagation_seconds:
            yield _Hit(
                rule_id="KP003",
                obj=d,
                container=_cname(c),
                path=pointer(*split_pointer(_CONTAINERS), i, "lifecycle", "preStop"),
                message=f'container "{_cname(c)}" sleeps {_fmt(hook.seconds)} in preStop, less '
                f"than the {_fmt(config.propagation_seconds)} endpoint removal takes to propagate",
                fix=f"sleep at least {_fmt(config.propagation_seconds)}, e.g. "
                f"lifecycle.preStop.sleep.seconds: {config.prestop_target}",
                fixable=hook.pure,
            )


def _kp004(objs: _Objects, config: DoctorConfig) -> Iterator[_Hit]:
    if not config.native_sleep:
        return
    for d, i, c, _ in _containers_check(objs):
        hook = _prestop(c)
        if hook.kind == "exec-sleep" and hook.pure and hook.seconds is not None:
            secs = max(1, math.ceil(hook.seconds))
            yield _Hit(
                rule_id="KP004",
                obj=d,
                container=_cname(c),
                path=pointer(*split_pointer(_CONTAINERS), i, "lifecycle", "preStop", "exec"),
                message=f'container "{_cname(c)}" runs the "sleep" binary in preStop: the hook '
                "fails at once in images without one (distroless, scratch)",
                fix=f"use lifecycle.preStop.sleep.seconds: {secs} (native sleep action, GA in "
                "Kubernetes 1.34, beta since 1.30)",
            )


def _kp005(objs: _Objects, config: DoctorConfig) -> Iterator[_Hit]:
    for d in objs.deployments:
        grace, explicit = _grace(d.pod_spec)
        prestop = _longest_prestop(d.pod_spec)
        need = prestop + config.drain_seconds
        if grace <= need:
            target = math.ceil(need) + config.grace_margin_seconds
            yield _Hit(
                rule_id="KP005",
                obj=d,
                path="/spec/template/spec/terminationGracePeriodSeconds",
                message=f"terminationGracePeriodSeconds {grace}{'' if explicit else ' (default)'}"
                f" does not exceed preStop {_fmt(prestop)} + drain {_fmt(config.drain_seconds)}: "
                "requests still in flight are cut off by SIGKILL",
                fix=f"set terminationGracePeriodSeconds: {target}",
            )


def _kp006(objs: _Objects, config: DoctorConfig) -> Iterator[_Hit]:
    for d in objs.deployments:
        strategy = _map(_dig(d.body, "spec", "strategy"))
        if strategy.get("type", "RollingUpdate") != "RollingUpdate" or d.replicas < 1:
            continue
        mu, _ms, raw_mu, _raw_ms = _rolling(d.body, d.replicas)
        if mu <= 0:
            continue
        severe = d.replicas <= config.few_replicas or mu >= d.replicas
        how = f"maxUnavailable {raw_mu}" if raw_mu is not None else f"default {_DEFAULT_ROLLING}"
        yield _Hit(
            rule_id="KP006",
            obj=d,
            severity=Severity.WARNING if severe else Severity.INFO,
            path="/spec/strategy/rollingUpdate/maxUnavailable",
            message=f"a rolling update may stop {mu} of {d.replicas} pods before their "
            f"replacements are ready ({how}), shrinking capacity during every rollout",
            fix="set strategy.rollingUpdate.maxUnavailable: 0 (and maxSurge: 1)",
        )


def _kp007(objs: _Objects, config: DoctorConfig) -> Iterator[_Hit]:
    if config.expect_pdb is False or (config.expect_pdb is None and not objs.pdbs):
        return
    for d in objs.deployments:
        minimum = max([d.replicas] + [_hpa_min(h) for h in _hpas_of(objs, d)])
        if minimum < 2:
            continue
        covered = any(
            p.ref.namespace == d.ref.namespace
            and label_selector_matches(_dig(p.body, "spec", "selector"), d.pod_labels)
            for p in objs.pdbs
        )
        if not covered:
            yield _Hit(
                rule_id="KP007",
                obj=d,
                path="/spec/template/metadata/labels",
                message=f"no PodDisruptionBudget selects these {minimum} replicas: a node drain "
                "may evict all of them at once",
                fix="add a PodDisruptionBudget with this selector and maxUnavailable: 1",
            )


def _kp008(objs: _Objects, config: DoctorConfig) -> Iterator[_Hit]:
    for p in objs.pdbs:
        spec = _map(p.body.get("spec"))
        selector = spec.get("selector")
        total = sum(
            d.replicas
            for d in objs.deployments
            if d.ref.namespace == p.ref.namespace and label_selector_matches(selector, d.pod_labels)
        )
        why, path = None, ""
        if "maxUnavailable" in spec:
            raw = spec["maxUnavailable"]
            if _scaled(raw, 100, round_up=True) == 0:  # 0 or "0%": nothing may go
                why, path = f"maxUnavailable {raw}", "/spec/maxUnavailable"
        elif "minAvailable" in spec:
            raw = spec["minAvailable"]
            path = "/spec/minAvailable"
            if str(raw).strip().endswith("%") and _scaled(raw, 100, round_up=True) == 100:
                why = f"minAvailable {raw}"
            elif total > 0 and (_scaled(raw, total, round_up=True) or 0) >= total:
                why = f"minAvailable {raw} of {total} pods"
        if why is not None:
            yield _Hit(
                rule_id="KP008",
                obj=p,
                path=path,
                message=f"PodDisruptionBudget allows no voluntary eviction ({why}): node drains "
                "and cluster upgrades hang on these pods",
            )


def _kp009(objs: _Objects, config: DoctorConfig) -> Iterator[_Hit]:
    for d, i, c, _ in _containers_check(objs):
        ready, live = c.get("readinessProbe"), c.get("livenessProbe")
        if (
            isinstance(ready, Mapping)
            and isinstance(live, Mapping)
            and _normal_probe(ready) == _normal_probe(live)
        ):
            yield _Hit(
                rule_id="KP009",
                obj=d,
                container=_cname(c),
                path=pointer(*split_pointer(_CONTAINERS), i, "livenessProbe"),
                message=f'container "{_cname(c)}" uses the same check for liveness and '
                "readiness: a busy pod is restarted instead of rested, and restarts cascade",
            )


def _kp010(objs: _Objects, config: DoctorConfig) -> Iterator[_Hit]:
    for d, i, c, _ in _containers_check(objs):
        image = str(c.get("image") or "")
        if not image:
            continue
        tag, digest = _image_tag(image)
        mutable = not digest and tag in (None, "latest")
        policy = c.get("imagePullPolicy")
        if mutable and (policy or "Always") == "Always":
            how = "imagePullPolicy Always" if policy else "imagePullPolicy Always (the default)"
            yield _Hit(
                rule_id="KP010",
                obj=d,
                container=_cname(c),
                path=pointer(*split_pointer(_CONTAINERS), i, "image"),
                message=f'image "{image}" has no fixed tag and is pulled with {how}: pods may run '
                "different code, and rolling back does not bring the old code back",
            )


def _kp011(objs: _Objects, config: DoctorConfig) -> Iterator[_Hit]:
    for d, i, c, _ in _containers_check(objs):
        if not _dig(c, "resources", "limits", "memory"):
            yield _Hit(
                rule_id="KP011",
                obj=d,
                container=_cname(c),
                path=pointer(*split_pointer(_CONTAINERS), i, "resources", "limits", "memory"),
                message=f'container "{_cname(c)}" has no memory limit: a leaking new version can '
                "exhaust the node and get the stable track's pods evicted",
            )


def _service_selector(svc: _Obj) -> dict[str, str]:
    if _dig(svc.body, "spec", "type") == "ExternalName":
        return {}
    return _str_map(_dig(svc.body, "spec", "selector"))


def _kp012(objs: _Objects, config: DoctorConfig) -> Iterator[_Hit]:
    for svc in objs.services:
        selector = _service_selector(svc)
        apps: set[str] = set()
        for d in objs.deployments:
            if d.ref.namespace == svc.ref.namespace and selector_matches(selector, d.pod_labels):
                apps.add(d.app or "")
        for pod in objs.pods:
            labels = _str_map(_dig(pod.body, "metadata", "labels"))
            if pod.ref.namespace == svc.ref.namespace and selector_matches(selector, labels):
                apps.add(_app_of(labels, config) or "")
        apps.discard("")
        if len(apps) > 1:
            shown = ", ".join(f"{k}={v}" for k, v in sorted(selector.items()))
            yield _Hit(
                rule_id="KP012",
                obj=svc,
                path="/spec/selector",
                message=f"selector {{{shown}}} matches pods of {len(apps)} apps "
                f"({', '.join(sorted(apps))}): some requests reach the wrong app",
                fix=f"add {config.app_labels[0]}: <app> to the selector and to that app's pods",
            )


def _kp013(objs: _Objects, config: DoctorConfig) -> Iterator[_Hit]:
    track = config.track_label
    for svc in objs.services:
        selector = _service_selector(svc)
        if not selector or track in selector:
            continue
        by_track: dict[str, list[_Deployment]] = {}
        for d in objs.deployments:
            if (
                d.ref.namespace == svc.ref.namespace
                and d.replicas > 0
                and track in d.pod_labels
                and selector_matches(selector, d.pod_labels)
            ):
                by_track.setdefault(d.pod_labels[track], []).append(d)
        specs = {repr(_canonical(d.pod_spec)) for ds in by_track.values() for d in ds}
        if len(by_track) < 2 or len(specs) < 2:
            continue
        shown = ", ".join(
            f"{name} ({' '.join(sorted({_images(d) for d in ds}))})"
            for name, ds in sorted(by_track.items())
        )
        yield _Hit(
            rule_id="KP013",
            obj=svc,
            path="/spec/selector",
            message=f'selector has no "{track}" label and matches tracks that run different pods: '
            f"{shown}; requests alternate between them by pod count",
            fix=f"add {track}: <live track> to the selector (kprism release manages it)",
        )


def _canonical(value: object) -> object:
    if isinstance(value, Mapping):
        return sorted((str(k), _canonical(v)) for k, v in value.items())
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    return value


def _images(d: _Deployment) -> str:
    return ",".join(str(c.get("image", "?")) for _, c in d.containers)


def _kp014(objs: _Objects, config: DoctorConfig) -> Iterator[_Hit]:
    for d, i, c, _ in _containers_check(objs):
        wrap = _shell_wrap(c)
        if wrap is None:
            continue
        first = _script_lines(wrap.script)[0]
        example = f'"exec {first}"' if wrap.rewrite else '"exec" before the last command'
        yield _Hit(
            rule_id="KP014",
            obj=d,
            container=_cname(c),
            path=pointer(*split_pointer(_CONTAINERS), i) + wrap.path,
            message=f'container "{_cname(c)}" runs its app under "{wrap.shell} -c" without exec: '
            "the shell does not forward SIGTERM, so the app is SIGKILLed instead of draining",
            fix=f"write {example}, or run under tini -g",
            fixable=wrap.rewrite is not None,
        )


def _hpa_target(hpa: _Obj) -> str | None:
    ref = _map(_dig(hpa.body, "spec", "scaleTargetRef"))
    return str(ref.get("name")) if ref.get("kind") == "Deployment" and ref.get("name") else None


def _hpa_min(hpa: _Obj) -> int:
    value = _int(_dig(hpa.body, "spec", "minReplicas"))
    return 1 if value is None else value


def _hpas_of(objs: _Objects, d: _Deployment) -> list[_Obj]:
    return [
        h for h in objs.hpas if h.ref.namespace == d.ref.namespace and _hpa_target(h) == d.ref.name
    ]


def _kp015(objs: _Objects, config: DoctorConfig) -> Iterator[_Hit]:
    for hpa in objs.hpas:
        target = _hpa_target(hpa)
        if target is not None:
            yield _Hit(
                rule_id="KP015",
                obj=hpa,
                path="/spec/scaleTargetRef",
                message=f"HorizontalPodAutoscaler owns spec.replicas of Deployment {target}: it "
                "overrides the replica counts a release sets, and applying a manifest that sets "
                "spec.replicas fights it",
            )


def _kp016(objs: _Objects, config: DoctorConfig) -> Iterator[_Hit]:
    for d in objs.deployments:
        if _dig(d.body, "spec", "strategy", "type") == "Recreate":
            yield _Hit(
                rule_id="KP016",
                obj=d,
                path="/spec/strategy/type",
                message="strategy Recreate stops every old pod before a new one starts: each "
                "in-place rollout is an outage",
            )


_CHECKS: Final[Mapping[str, _Check]] = {
    "KP001": _kp001,
    "KP002": _kp002,
    "KP003": _kp003,
    "KP004": _kp004,
    "KP005": _kp005,
    "KP006": _kp006,
    "KP007": _kp007,
    "KP008": _kp008,
    "KP009": _kp009,
    "KP010": _kp010,
    "KP011": _kp011,
    "KP012": _kp012,
    "KP013": _kp013,
    "KP014": _kp014,
    "KP015": _kp015,
    "KP016": _kp016,
}


def audit(
    objects: Sequence[Mapping[str, Any]], *, config: DoctorConfig = DEFAULT_CONFIG
) -> list[Finding]:
    """Check Kubernetes objects (plain dicts) and return what is wrong, worst objects first.

    ``objects`` may mix Deployments, Services, PodDisruptionBudgets,
    HorizontalPodAutoscalers and Pods (anything else is ignored); cross-object rules
    (Service selectors, PDB coverage, HPA targets) compare objects of one namespace, with
    ``config.default_namespace`` standing in for an unset one. Findings are ordered by
    object position, then rule id; ``Finding.index`` is the object's position.
    """
    objs = _classify(objects, config)
    findings: list[Finding] = []
    for rule_id, check in _CHECKS.items():
        if not config.enabled(rule_id):
            continue
        rule = RULES_BY_ID[rule_id]
        for hit in check(objs, config):
            if rule_id in hit.obj.suppressed:
                continue
            findings.append(
                Finding(
                    rule_id=rule_id,
                    slug=rule.slug,
                    severity=hit.severity or rule.severity,
                    object_ref=hit.obj.ref,
                    container=hit.container,
                    message=hit.message,
                    fix=hit.fix or rule.fix,
                    path=hit.path,
                    fixable=rule.fixable if hit.fixable is None else hit.fixable,
                    index=hit.obj.index,
                )
            )
    findings.sort(key=lambda f: (f.index, f.rule_id, f.container or "", f.path))
    return findings


# ------------------------------------------------------------------------ fixes


def get_path(obj: object, path: str) -> tuple[bool, Any]:
    """(found, value) at a JSON pointer."""
    node = obj
    for seg in split_pointer(path):
        if isinstance(node, Mapping) and seg in node:
            node = node[seg]
        elif isinstance(node, list) and seg.isdigit() and int(seg) < len(node):
            node = node[int(seg)]
        else:
            return False, None
    return True, node


def apply_edits(obj: Mapping[str, Any], edits: Iterable[Edit]) -> dict[str, Any]:
    """A deep copy of ``obj`` with ``edits`` applied (missing parent mappings are created)."""
    out: dict[str, Any] = copy.deepcopy(dict(obj))
    for edit in edits:
        segs = split_pointer(edit.path)
        if not segs:
            raise ValueError("an edit cannot replace the whole object")
        node: Any = out
        for seg in segs[:-1]:
            if isinstance(node, list):
                node = node[int(seg)]
            else:
                if not isinstance(node.get(seg), dict | list):
                    node[seg] = {}
                node = node[seg]
        if isinstance(node, list):
            node[int(segs[-1])] = copy.deepcopy(edit.value)
        else:
            node[segs[-1]] = copy.deepcopy(edit.value)
    return out


def to_json_patch(obj: Mapping[str, Any], edits: Iterable[Edit]) -> list[dict[str, Any]]:
    """RFC 6902 operations that apply ``edits`` to ``obj`` on the API server.

    A ``test`` on each touched container's name comes first, so the patch fails instead of
    editing the wrong container if the list changed since ``obj`` was read.
    """
    tests: dict[str, dict[str, Any]] = {}
    ops: list[dict[str, Any]] = []
    current: Mapping[str, Any] = obj
    for edit in edits:
        segs = split_pointer(edit.path)
        if len(segs) > 4 and segs[:4] == ["spec", "template", "spec", "containers"]:
            name_path = pointer(*segs[:5], "name")
            found, name = get_path(current, name_path)
            if found and name_path not in tests:
                tests[name_path] = {"op": "test", "path": name_path, "value": name}
        found, _ = get_path(current, edit.path)
        if found:
            ops.append({"op": "replace", "path": edit.path, "value": copy.deepcopy(edit.value)})
        else:
            depth = next(
                n for n in range(1, len(segs) + 1) if not get_path(current, pointer(*segs[:n]))[0]
            )
            value: Any = copy.deepcopy(edit.value)
            for seg in reversed(segs[depth:]):
                value = {seg: value}
            ops.append({"op": "add", "path": pointer(*segs[:depth]), "value": value})
        current = apply_edits(current, [edit])
    return [*tests.values(), *ops]


def _container_base(path: str) -> str:
    segs = split_pointer(path)
    return pointer(*segs[:5])


def _fix_prestop(work: Mapping[str, Any], f: Finding, config: DoctorConfig) -> list[Edit]:
    base = _container_base(f.path)
    found, container = get_path(work, base)
    if not found or not isinstance(container, Mapping):
        return []
    hook = _prestop(container)
    target = config.prestop_target
    if f.rule_id == "KP002" and hook.kind == "none":
        value = _sleep_hook(target, config)
    elif f.rule_id == "KP003" and hook.pure and (hook.seconds or 0) < config.propagation_seconds:
        value = _sleep_hook(max(target, math.ceil(config.propagation_seconds)), config)
    elif f.rule_id == "KP004" and hook.kind == "exec-sleep" and hook.pure and config.native_sleep:
        value = {"sleep": {"seconds": max(1, math.ceil(hook.seconds or 0))}}
    else:
        return []
    return [Edit(path=base + "/lifecycle/preStop", value=value)]


def _fix_shell(work: Mapping[str, Any], f: Finding, config: DoctorConfig) -> list[Edit]:
    base = _container_base(f.path)
    found, container = get_path(work, base)
    wrap = _shell_wrap(container) if found and isinstance(container, Mapping) else None
    if wrap is None or wrap.rewrite is None:
        return []
    return [Edit(path=base + wrap.path, value=wrap.rewrite)]


def _fix_rolling(work: Mapping[str, Any], f: Finding, config: DoctorConfig) -> list[Edit]:
    replicas = _int(_dig(work, "spec", "replicas"))
    mu, _ms, _raw_mu, raw_ms = _rolling(work, 1 if replicas is None else replicas)
    if mu == 0:
        return []
    edits = [Edit(path="/spec/strategy/rollingUpdate/maxUnavailable", value=0)]
    if raw_ms is None or _scaled(raw_ms, max(1, replicas or 1), round_up=True) == 0:
        edits.append(Edit(path="/spec/strategy/rollingUpdate/maxSurge", value=1))
    return edits


def _fix_grace(work: Mapping[str, Any], f: Finding, config: DoctorConfig) -> list[Edit]:
    pod_spec = _map(_dig(work, "spec", "template", "spec"))
    grace, _explicit = _grace(pod_spec)
    need = _longest_prestop(pod_spec) + config.drain_seconds
    if grace > need:
        return []
    target = math.ceil(need) + config.grace_margin_seconds
    return [Edit(path="/spec/template/spec/terminationGracePeriodSeconds", value=target)]


# Order matters: the grace period is computed after the preStop sleep has been fixed.
_FIXERS: Final[Mapping[str, Callable[[Mapping[str, Any], Finding, DoctorConfig], list[Edit]]]] = {
    "KP004": _fix_prestop,
    "KP003": _fix_prestop,
    "KP002": _fix_prestop,
    "KP014": _fix_shell,
    "KP006": _fix_rolling,
    "KP005": _fix_grace,
}
_FIX_ORDER: Final = {rule_id: n for n, rule_id in enumerate(_FIXERS)}
_PRESTOP_RULES: Final = frozenset({"KP002", "KP003", "KP004"})
_GRACE_PATH: Final = "/spec/template/spec/terminationGracePeriodSeconds"


def plan_fixes(
    objects: Sequence[Mapping[str, Any]],
    findings: Iterable[Finding],
    *,
    config: DoctorConfig = DEFAULT_CONFIG,
) -> list[ObjectFix]:
    """Edits that repair the fixable ``findings`` (from :func:`audit` on ``objects``).

    Each object's fixes are planned on a working copy in a fixed order, so that later
    fixes see earlier ones: after a preStop fix the grace period is re-checked and raised
    if needed (unless KP005 is in ``config.ignore``), even when KP005 had not fired.
    The objects themselves are not modified.
    """
    by_index: dict[int, list[Finding]] = {}
    for f in findings:
        if f.fixable and f.rule_id in _FIXERS:
            by_index.setdefault(f.index, []).append(f)
    plans: list[ObjectFix] = []
    for index, todo in sorted(by_index.items()):
        work: Mapping[str, Any] = objects[index]
        edits: list[Edit] = []
        rules: list[str] = []
        todo.sort(key=lambda f: (_FIX_ORDER[f.rule_id], f.path))
        if "KP005" not in config.ignore and any(f.rule_id in _PRESTOP_RULES for f in todo):
            # a longer preStop sleep eats into the grace period: re-check it afterwards,
            # even under --select, so that a fix never creates a new problem
            todo.append(replace(todo[0], rule_id="KP005", path=_GRACE_PATH))
        for f in todo:
            new = _FIXERS[f.rule_id](work, f, config)
            if new:
                work = apply_edits(work, new)
                edits.extend(new)
                if f.rule_id not in rules:
                    rules.append(f.rule_id)
        if edits:
            plans.append(
                ObjectFix(
                    index=index,
                    object_ref=todo[0].object_ref,
                    rule_ids=tuple(rules),
                    edits=tuple(edits),
                )
            )
    return plans


__all__ = [
    "DEFAULT_CONFIG",
    "IGNORE_ANNOTATION",
    "RULES",
    "RULES_BY_ID",
    "DoctorConfig",
    "Edit",
    "Finding",
    "ObjectFix",
    "ObjectRef",
    "Rule",
    "Severity",
    "apply_edits",
    "audit",
    "get_path",
    "label_selector_matches",
    "plan_fixes",
    "pointer",
    "resolve_rules",
    "selector_matches",
    "split_pointer",
    "to_json_patch",
]
