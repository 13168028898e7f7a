"""What the in-cluster controller decides about one app (pure).

- :func:`shard_of`: the shard an app belongs to, a stable hash of ``namespace/name``
  (the same in every replica, every Python, every run);
- :class:`Selector`: a Kubernetes label selector (``app=web,tier!=db,env in (a,b),!x``)
  parsed once, matched against a Service's labels;
- :class:`Scope`: which apps one controller replica is responsible for (namespaces,
  excluded namespaces, selector, shard), as JSON on its Lease so that the CLI can tell
  whether a controller covers an app;
- :func:`decide_source`: whether a GitOps *source* Deployment asks for a release now.

No I/O, no clock: the controller (``kprism.controller``) observes and calls these.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from kprism.errors import UsageError
from kprism.model.observed import AppObs
from kprism.model.release import ReleaseStatus
from kprism.plan.template import template_hash, with_track
from kprism.plan.validate import check_label_key

#: the annotation on a controller's Lease that says which apps it covers (JSON)
ANNOTATION_SCOPE = "kprism.dev/controller-scope"


def shard_of(namespace: str, name: str, shards: int) -> int:
    """The shard (0 … shards-1) of app ``namespace/name``: a stable hash, never Python's
    ``hash`` (which changes with every process)."""
    if shards <= 1:
        return 0
    digest = hashlib.sha256(f"{namespace}/{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % shards


# -- label selectors -------------------------------------------------------------------


class Op(StrEnum):
    EQ = "="
    NE = "!="
    IN = "in"
    NOTIN = "notin"
    EXISTS = "exists"
    ABSENT = "!"


@dataclass(frozen=True)
class Requirement:
    key: str
    op: Op
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        value = labels.get(self.key)
        match self.op:
            case Op.EQ | Op.IN:
                return value is not None and value in self.values
            case Op.NE | Op.NOTIN:
                return value is None or value not in self.values
            case Op.EXISTS:
                return value is not None
            case Op.ABSENT:
                return value is None

    def __str__(self) -> str:
        match self.op:
            case Op.EQ | Op.NE:
                return f"{self.key}{self.op.value}{self.values[0]}"
            case Op.IN | Op.NOTIN:
                return f"{self.key} {self.op.value} ({','.join(self.values)})"
            case Op.EXISTS:
                return self.key
            case Op.ABSENT:
                return f"!{self.key}"


_SET = re.compile(r"^\s*(!?)\s*([^\s!=(),]+)\s+(in|notin)\s+\(([^)]*)\)\s*$")
_EQ = re.compile(r"^\s*([^\s!=(),]+)\s*(==|=|!=)\s*([^\s!=(),]*)\s*$")
_KEY = re.compile(r"^\s*(!?)\s*([^\s!=(),]+)\s*$")


def _split(text: str) -> list[str]:
    """Split at commas outside parentheses."""
    parts, depth, cur = [], 0, ""
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    return parts


@dataclass(frozen=True)
class Selector:
    """A label selector as ``kubectl -l`` takes it; the empty selector matches everything."""

    requirements: tuple[Requirement, ...] = ()

    @staticmethod
    def parse(text: str) -> Selector:
        text = text.strip()
        if not text:
            return Selector()
        reqs: list[Requirement] = []
        for part in _split(text):
            req = _requirement(part)
            if req is None:
                raise UsageError(
                    f"--selector {text!r}: cannot read {part.strip()!r}; use key=value, "
                    "key!=value, 'key in (a,b)', 'key notin (a,b)', key or !key, joined by commas"
                )
            check_label_key(req.key)
            reqs.append(req)
        return Selector(tuple(reqs))

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(r.matches(labels) for r in self.requirements)

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements)


def _requirement(part: str) -> Requirement | None:
    if m := _SET.match(part):
        if m.group(1):
            return None
        values = tuple(v.strip() for v in m.group(4).split(",") if v.strip())
        return Requirement(m.group(2), Op(m.group(3)), values) if values else None
    if m := _EQ.match(part):
        op = Op.NE if m.group(2) == "!=" else Op.EQ
        return Requirement(m.group(1), op, (m.group(3),))
    if m := _KEY.match(part):
        return Requirement(m.group(2), Op.ABSENT if m.group(1) else Op.EXISTS)
    return None


# -- scope -------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Scope:
    """The apps one controller replica drives: Services in ``namespaces`` (empty: every
    namespace) but not in ``exclude``, whose labels match ``selector``, in shard
    ``shard`` of ``shards``."""

    namespaces: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    selector: Selector = field(default_factory=Selector)
    shards: int = 1
    shard: int = 0

    def __post_init__(self) -> None:
        if self.shards < 1:
            raise UsageError(f"--shards {self.shards}: must be 1 or more")
        if not 0 <= self.shard < self.shards:
            raise UsageError(
                f"--shard-index {self.shard}: must be between 0 and {self.shards - 1} "
                f"(--shards {self.shards})"
            )
        both = sorted(set(self.namespaces) & set(self.exclude))
        if both:
            raise UsageError(
                f"namespace {both[0]} is both watched (--namespace) and excluded "
                "(--exclude-namespace): give it once"
            )

    def watches_namespace(self, namespace: str) -> bool:
        if namespace in self.exclude:
            return False
        return not self.namespaces or namespace in self.namespaces

    def covers(self, namespace: str, name: str, labels: Mapping[str, str]) -> bool:
        """Whether the app (its Service's namespace, name and labels) is this replica's."""
        return (
            self.watches_namespace(namespace)
            and self.selector.matches(labels)
            and shard_of(namespace, name, self.shards) == self.shard
        )

    def to_json(self) -> str:
        return json.dumps(
            {
                "namespaces": list(self.namespaces),
                "exclude": list(self.exclude),
                "selector": str(self.selector),
                "shards": self.shards,
                "shard": self.shard,
            },
            separators=(",", ":"),
            sort_keys=True,
        )

    @staticmethod
    def from_json(text: str) -> Scope | None:
        """The scope a Lease advertises; None when it is missing or unreadable."""
        try:
            data = json.loads(text)
            return Scope(
                namespaces=tuple(str(n) for n in data.get("namespaces") or ()),
                exclude=tuple(str(n) for n in data.get("exclude") or ()),
                selector=Selector.parse(str(data.get("selector") or "")),
                shards=int(data.get("shards", 1)),
                shard=int(data.get("shard", 0)),
            )
        except (ValueError, TypeError, AttributeError, UsageError):
            return None


def controller_lease_name(shard: int, shards: int) -> str:
    """The Lease one shard's replicas elect a leader with."""
    return "kprism-controller" if shards <= 1 else f"kprism-controller-{shard}"


# -- GitOps source Deployments ----------------------------------------------------------


def source_tag(name: str, template: Mapping[str, Any]) -> str:
    """What a release from a source records as its origin: ``Deployment/NAME@HASH``."""
    return f"Deployment/{name}@{template_hash(template)}"


class SourceVerdict(StrEnum):
    NOTHING = "nothing"  # the serving track runs it, or it was released already
    RELEASE = "release"  # start a release of the source's template
    ABORT = "abort"  # the release in flight is of an older template of this source
    REFUSE = "refuse"  # the source cannot be released (say why, once)


@dataclass(frozen=True, kw_only=True)
class SourceDecision:
    verdict: SourceVerdict
    reason: str
    tag: str = ""
    template: Mapping[str, Any] = field(default_factory=dict)


def _template_of(source: Mapping[str, Any]) -> dict[str, Any]:
    return dict(((source.get("spec") or {}).get("template")) or {})


def check_source(source: Mapping[str, Any], obs: AppObs) -> str | None:
    """Why the source's pod template cannot become a track of the app, or None."""
    name = (source.get("metadata") or {}).get("name", "")
    template = _template_of(source)
    if not (template.get("spec") or {}).get("containers"):
        return f"source Deployment {name} has no containers in its pod template"
    labels = (template.get("metadata") or {}).get("labels") or {}
    missing = {k: v for k, v in obs.app_selector.items() if labels.get(k) != v}
    if missing:
        want = ",".join(f"{k}={v}" for k, v in sorted(missing.items()))
        return (
            f"source Deployment {name}: its pod template lacks the app's labels {want} "
            f"(Service {obs.service.name} would not select its pods): add them to "
            "spec.template.metadata.labels"
        )
    replicas = (source.get("spec") or {}).get("replicas")
    if replicas != 0:
        return (
            f"source Deployment {name} has replicas: {replicas}; a source runs no pods: "
            "set replicas: 0 (kprism sizes the tracks)"
        )
    return None


def source_moved(source: Mapping[str, Any], current: ReleaseStatus) -> str | None:
    """Why release ``current`` (in flight, of an older template of ``source``) must be
    aborted; None when it is not a release of this source or still of its template."""
    name = (source.get("metadata") or {}).get("name", "")
    if current.phase.terminal or current.aborting:
        return None
    if not current.spec.source.startswith(f"Deployment/{name}@"):
        return None
    tag = source_tag(name, _template_of(source))
    if current.spec.source == tag:
        return None
    return (
        f"source Deployment {name} changed during release {current.id} "
        f"({current.spec.source.rpartition('@')[2]} → {tag.rpartition('@')[2]})"
    )


def decide_source(
    source: Mapping[str, Any],
    obs: AppObs,
    current: ReleaseStatus | None,
    history: Sequence[Mapping[str, Any]],
) -> SourceDecision:
    """What a source Deployment asks for now.

    A template is released once: when the serving track does not run it and no release
    of it is recorded (in flight or in the history), whatever that release's outcome —
    an aborted or failed one is retried only by a new commit, and a ``kprism rollback``
    is not undone. While a release of an *older* template of the same source is in
    flight, the newest template wins: that release is aborted (Git moved on, or was
    reverted), and once it has ended the newest template is released if the serving
    track does not already run it.
    """
    name = (source.get("metadata") or {}).get("name", "")
    template = _template_of(source)
    tag = source_tag(name, template)
    if current is not None and not current.phase.terminal:
        moved = source_moved(source, current)
        if moved is not None:
            return SourceDecision(verdict=SourceVerdict.ABORT, reason=moved, tag=tag)
        return SourceDecision(verdict=SourceVerdict.NOTHING, reason="a release is in flight")
    problem = check_source(source, obs)
    if problem is not None:
        return SourceDecision(verdict=SourceVerdict.REFUSE, reason=problem, tag=tag)
    serving = obs.serving_track()
    track = obs.track(serving) if serving is not None else None
    if track is not None and with_track(template, label=obs.track_label, track=serving or "") == (
        track.template
    ):
        return SourceDecision(
            verdict=SourceVerdict.NOTHING, reason=f"track {serving} runs {tag}", tag=tag
        )
    done = [h for h in history if h.get("source") == tag]
    if done or (current is not None and current.spec.source == tag):
        phase = done[-1].get("phase", "") if done else current.phase.value if current else ""
        return SourceDecision(
            verdict=SourceVerdict.NOTHING, reason=f"{tag} was released already ({phase})", tag=tag
        )
    return SourceDecision(
        verdict=SourceVerdict.RELEASE,
        reason=f"source Deployment {name} asks for {tag}",
        tag=tag,
        template=template,
    )
