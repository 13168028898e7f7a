"""The canary step list: what a release spec says, validated before anything is scaled.

A canary release on plain Services is a list of steps (``setWeight``, ``pause``,
``analysis``, ``setCandidateScale``) with the same shape as Argo Rollouts' canary steps,
so people who know one can read the other. This module only *validates* that list; what a
weight means in pods is decided in :mod:`kprism.plan.weights`.

Why pydantic here when the rest of ``model`` is frozen dataclasses: this is the one place
where untrusted, hand-written YAML comes in, and the error has to name the field *and the
line* (``release.yaml:7: steps[2].setWeight: must be between 0 and 100``). Pydantic gives
the field path of every problem; ruamel.yaml's round-trip loader gives the line of every
key, and :func:`load_canary_spec` joins the two. Everything is validated up front so a
bad step list fails with exit 2 before the cluster is touched, never half-way through a
release.

Rules chosen (each one is checked and has a test):

- ``setWeight`` is a whole number 0..100, and consecutive ``setWeight`` steps must strictly
  increase unless ``allowDecreasingWeights: true``.
- The last ``setWeight`` must be 100. kprism does not append it: a list that never reaches
  100 is almost always a typo (``10,25,50``), and silently finishing the rollout would hide
  it. Only ``pause`` and ``analysis`` may follow the final ``setWeight: 100``.
- ``pause: {}`` (no duration) waits for ``kprism promote``. With ``autoPromote: true`` no
  promote ever comes, so such a pause is an error.
- Durations: ``30s``, ``2m``, ``1h30m`` (units in h, m, s order) or bare whole seconds;
  they must be positive (drop the pause step rather than pausing for 0s).
- ``maxSurge``: pods (an integer >= 1) or a percentage of the stable size ``"1%".."100%"``,
  rounded up and at least one pod. Zero is refused: kprism always adds candidate pods
  before it removes stable ones, so it needs room for at least one extra pod.

Structural problems (types, ranges, unknown fields) are all reported at once; the
cross-step rules above run only on a list that is structurally valid, so a file with both
kinds of mistakes takes two rounds.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Any, ClassVar, Literal, NoReturn, TypeVar

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from kprism.errors import InvalidSpecError
from kprism.model.analysis import AnalysisRef, AnalysisTemplate, BackgroundAnalysis
from kprism.model.durations import Delay, Duration
from kprism.model.durations import format_duration as format_duration  # noqa: PLC0414 - re-export
from kprism.model.durations import parse_duration as parse_duration  # noqa: PLC0414 - re-export

DEFAULT_MAX_SURGE = "25%"

_PERCENT = re.compile(r"(?P<n>\d+)%")

Loc = tuple[str | int, ...]


# -- scalar helpers ------------------------------------------------------------------------


def _percent(value: str) -> int | None:
    match = _PERCENT.fullmatch(value.strip())
    return int(match["n"]) if match else None


def max_surge_pods(max_surge: int | str, *, total: int) -> int:
    """Resolve ``maxSurge`` (pods, or a percentage of ``total``) to pods, at least 1.

    Percentages round up, like Kubernetes' own ``maxSurge``.
    """
    if isinstance(max_surge, str):
        pct = _percent(max_surge)
        if pct is None:
            raise ValueError(f"maxSurge {max_surge!r} is neither a pod count nor a percentage")
        return max(1, math.ceil(total * pct / 100))
    return max(1, max_surge)


def candidate_pods(replicas: int | str, *, total: int) -> int:
    """Resolve ``setCandidateScale.replicas`` (pods or a percentage of ``total``, rounded up)."""
    if isinstance(replicas, str):
        pct = _percent(replicas)
        if pct is None:
            raise ValueError(f"replicas {replicas!r} is neither a pod count nor a percentage")
        return math.ceil(total * pct / 100)
    return replicas


# -- pydantic field types --------------------------------------------------------------------


def _pods_or_percent(minimum: int) -> Callable[[Any], int | str]:
    def check(value: Any) -> int | str:
        if isinstance(value, int) and not isinstance(value, bool):
            if value < minimum:
                raise PydanticCustomError("range", f"must be at least {minimum}")
            return value
        if isinstance(value, str):
            pct = _percent(value)
            if pct is not None:
                if not minimum <= pct <= 100:
                    raise PydanticCustomError("range", f"must be between {minimum}% and 100%")
                return f"{pct}%"
        raise PydanticCustomError("pods_or_percent", "must be a pod count or a percentage like 25%")

    return check


SurgeValue = Annotated[int | str, BeforeValidator(_pods_or_percent(1))]
ScaleValue = Annotated[int | str, BeforeValidator(_pods_or_percent(0))]


class _Frozen(BaseModel):
    # the schema is built when a model is first used, not when every command imports it
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)


# -- steps ---------------------------------------------------------------------------------


class SetWeight(_Frozen):
    """Send ``weight`` percent of the traffic to the candidate (by ready-pod ratio)."""

    kind: ClassVar[Literal["setWeight"]] = "setWeight"
    weight: int = Field(alias="setWeight", strict=True)

    @field_validator("weight")
    @classmethod
    def _range(cls, value: int) -> int:
        if not 0 <= value <= 100:
            raise PydanticCustomError("weight_range", "must be between 0 and 100")
        return value


class PauseSpec(_Frozen):
    duration: Duration = None  # seconds; None: wait until `kprism promote`


class Pause(_Frozen):
    """Hold the current weight for ``duration`` seconds, or until promoted."""

    kind: ClassVar[Literal["pause"]] = "pause"
    pause: PauseSpec

    @field_validator("pause", mode="before")
    @classmethod
    def _null_is_indefinite(cls, value: Any) -> Any:
        return {} if value is None else value

    @property
    def duration(self) -> int | None:
        return self.pause.duration


AnalysisSpec = AnalysisRef  # a step's templates and arguments (see kprism.model.analysis)


class Analysis(_Frozen):
    """Run an analysis at the current weight (a blocking gate): the release goes on when
    it succeeds, aborts when it fails, and pauses for a human when it is inconclusive."""

    kind: ClassVar[Literal["analysis"]] = "analysis"
    analysis: AnalysisSpec


class CandidateScale(_Frozen):
    replicas: ScaleValue


class SetCandidateScale(_Frozen):
    """Give the candidate exactly ``replicas`` pods (or a percentage of the stable size).

    Stable keeps its pods, growing only as far as needed to keep the ready capacity; the
    traffic share is whatever that pod ratio gives.
    """

    kind: ClassVar[Literal["setCandidateScale"]] = "setCandidateScale"
    scale: CandidateScale = Field(alias="setCandidateScale")


STEP_KINDS: tuple[str, ...] = ("setWeight", "pause", "analysis", "setCandidateScale")
_STEP_TYPES: dict[type[BaseModel], str] = {
    SetWeight: "setWeight",
    Pause: "pause",
    Analysis: "analysis",
    SetCandidateScale: "setCandidateScale",
}


def _step_tag(value: Any) -> str | None:
    if isinstance(value, Mapping):
        keys = [k for k in STEP_KINDS if k in value]
        return keys[0] if len(keys) == 1 else None
    return _STEP_TYPES.get(type(value))


Step = Annotated[
    Annotated[SetWeight, Tag("setWeight")]
    | Annotated[Pause, Tag("pause")]
    | Annotated[Analysis, Tag("analysis")]
    | Annotated[SetCandidateScale, Tag("setCandidateScale")],
    Discriminator(
        _step_tag,
        custom_error_type="step_kind",
        custom_error_message="a step needs exactly one of setWeight, pause, analysis, "
        "setCandidateScale",
    ),
]


class _Problems(ValueError):
    """Cross-step problems, each with its own location (pydantic would give them all loc ())."""

    def __init__(self, problems: Sequence[tuple[Loc, str]]) -> None:
        super().__init__("; ".join(msg for _, msg in problems))
        self.problems = tuple(problems)


class CanarySpec(_Frozen):
    """A validated canary step list and its knobs."""

    steps: tuple[Step, ...] = Field(min_length=1)
    max_surge: SurgeValue = Field(default=DEFAULT_MAX_SURGE, alias="maxSurge")
    allow_decreasing_weights: bool = Field(
        default=False, alias="allowDecreasingWeights", strict=True
    )
    auto_promote: bool = Field(default=False, alias="autoPromote", strict=True)
    #: templates the analysis steps and the background analysis use by name
    analysis_templates: tuple[AnalysisTemplate, ...] = Field(default=(), alias="analysisTemplates")
    #: analysis that runs beside the steps, from its startingStep to the end
    analysis: BackgroundAnalysis | None = None
    #: the release's own notification receivers (kprism.notify.receivers checks them;
    #: the release spec takes them over: ReleaseSpec.notify)
    notify: tuple[dict[str, Any], ...] = ()

    @model_validator(mode="after")
    def _check_steps(self) -> CanarySpec:
        problems = _step_problems(self)
        if problems:
            raise _Problems(problems)
        return self

    def max_surge_pods(self, *, total: int) -> int:
        return max_surge_pods(self.max_surge, total=total)

    @property
    def weights(self) -> tuple[int, ...]:
        """The requested weights, in order."""
        return tuple(s.weight for s in self.steps if isinstance(s, SetWeight))

    @classmethod
    def from_yaml(
        cls, text: str, *, source: str = "<input>", at: Sequence[str | int] = ()
    ) -> CanarySpec:
        return load_canary_spec(text, source=source, at=at)

    @classmethod
    def from_shorthand(
        cls,
        *,
        steps: str,
        pause: str | None = None,
        max_surge: int | str = DEFAULT_MAX_SURGE,
        auto_promote: bool = False,
        allow_decreasing_weights: bool = False,
    ) -> CanarySpec:
        return canary_spec_from_shorthand(
            steps=steps,
            pause=pause,
            max_surge=max_surge,
            auto_promote=auto_promote,
            allow_decreasing_weights=allow_decreasing_weights,
        )


def _step_problems(spec: CanarySpec) -> list[tuple[Loc, str]]:
    problems: list[tuple[Loc, str]] = []
    previous: int | None = None
    last_weight_index: int | None = None
    for i, step in enumerate(spec.steps):
        if isinstance(step, SetWeight):
            if (
                previous is not None
                and step.weight <= previous
                and not spec.allow_decreasing_weights
            ):
                problems.append(
                    (
                        ("steps", i, "setWeight"),
                        f"must be greater than the previous setWeight ({previous}); "
                        "set allowDecreasingWeights: true to allow lowering it",
                    )
                )
            previous = step.weight
            last_weight_index = i
        elif isinstance(step, Pause) and step.duration is None and spec.auto_promote:
            problems.append(
                (
                    ("steps", i, "pause", "duration"),
                    "a pause without duration waits for `kprism promote`, which never comes "
                    "with autoPromote: true; give it a duration",
                )
            )
    if spec.analysis is not None and spec.analysis.starting_step > len(spec.steps):
        problems.append(
            (
                ("analysis", "startingStep"),
                f"is {spec.analysis.starting_step}, but there are {len(spec.steps)} steps",
            )
        )
    names = [t.name for t in spec.analysis_templates]
    for i, name in enumerate(names):
        if name in names[:i]:
            problems.append(
                (("analysisTemplates", i, "name"), f"template {name!r} is defined twice")
            )
    if last_weight_index is None:
        problems.append((("steps",), "no setWeight step: the steps must end with setWeight: 100"))
    elif previous != 100:
        problems.append(
            (
                ("steps", last_weight_index, "setWeight"),
                f"the last setWeight is {previous}, not 100: end the steps with setWeight: 100",
            )
        )
    else:
        for i in range(last_weight_index + 1, len(spec.steps)):
            if isinstance(spec.steps[i], SetCandidateScale):
                problems.append(
                    (
                        ("steps", i, "setCandidateScale"),
                        "comes after the final setWeight: 100; only pause and analysis may",
                    )
                )
    return problems


# -- errors with field paths and lines --------------------------------------------------------

_FRIENDLY = {
    "extra_forbidden": "unknown field",
    "missing": "required",
    "int_type": "must be a whole number",
    "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number",
    "bool_type": "must be true or false",
    "string_type": "must be a string",
    "too_short": "must not be empty",
    "tuple_type": "must be a list",
    "model_type": "must be a mapping",
    "model_attributes_type": "must be a mapping",
}


def _problems_of(err: ValidationError) -> list[tuple[Loc, str]]:
    out: list[tuple[Loc, str]] = []
    items = err.errors()
    for item in items:
        ctx = item.get("ctx") or {}
        inner = ctx.get("error")
        if isinstance(inner, _Problems):
            out.extend(inner.problems)
            continue
        loc = tuple(item["loc"])
        if item["type"] == "too_short" and any(
            len(other["loc"]) > len(loc) and tuple(other["loc"][: len(loc)]) == loc
            for other in items
        ):
            continue  # "empty after validation" only because every item failed: noise
        out.append((_strip_tags(loc), _FRIENDLY.get(item["type"], item["msg"])))
    return out


def _strip_tags(loc: Loc) -> Loc:
    """Drop the union tag pydantic puts after ``steps[i]`` (``steps.2.setWeight.setWeight``)."""
    out: list[str | int] = []
    for i, part in enumerate(loc):
        if (
            i >= 2
            and loc[i - 2] == "steps"
            and isinstance(loc[i - 1], int)
            and part in STEP_KINDS
            and i + 1 < len(loc)
        ):
            continue
        out.append(part)
    return tuple(out)


def format_path(loc: Loc) -> str:
    """``("steps", 2, "setWeight")`` → ``steps[2].setWeight``."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


def _line_of(root: Any, loc: Loc) -> int | None:
    """1-based line of the deepest node of ``loc`` that exists in the ruamel tree."""
    node, line = root, None
    lc = getattr(node, "lc", None)
    if lc is not None:
        line = lc.line + 1
    for part in loc:
        lc = getattr(node, "lc", None)
        if isinstance(part, int) and isinstance(node, list) and 0 <= part < len(node):
            if lc is not None:
                line = lc.item(part)[0] + 1
            node = node[part]
        elif isinstance(part, str) and isinstance(node, dict) and part in node:
            if lc is not None:
                line = lc.key(part)[0] + 1
            node = node[part]
        else:
            break
    return line


def _plain(node: Any) -> Any:
    """ruamel's round-trip types → plain Python, so strict fields see real ints and strs."""
    if isinstance(node, Mapping):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    if isinstance(node, bool) or node is None:
        return node
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    if isinstance(node, str):
        return str(node)
    return node


def _raise(source: str, items: Sequence[tuple[int | None, str, str]]) -> NoReturn:
    parts = []
    for line, path, msg in items:
        where = f"{source}:{line}" if line is not None else source
        parts.append(f"{where}: {path}: {msg}" if path else f"{where}: {msg}")
    raise InvalidSpecError("; ".join(parts))


def load_canary_spec(
    text: str, *, source: str = "<input>", at: Sequence[str | int] = ()
) -> CanarySpec:
    """Parse YAML ``text`` into a :class:`CanarySpec`; ``at`` selects a nested node.

    Every problem is reported as ``source:line: path: message`` in one
    :class:`~kprism.errors.InvalidSpecError` (all problems, ``; ``-separated).
    """
    return _load(CanarySpec, text, source=source, at=at)


class BlueGreenFile(_Frozen):
    """A blue-green release file (``kprism release -f`` without ``steps``): analysis
    before the switch (against the preview Service) and after it (during the scale-down
    delay), the templates they name, the release's own notification receivers, and the
    release's settings (a flag on the command line wins over the file)."""

    preview: bool = Field(default=False, strict=True)
    auto_promote: bool = Field(default=False, alias="autoPromote", strict=True)
    scale_down_delay: Delay = Field(default=None, alias="scaleDownDelay")
    analysis_templates: tuple[AnalysisTemplate, ...] = Field(default=(), alias="analysisTemplates")
    pre_promotion: AnalysisRef | None = Field(default=None, alias="prePromotion")
    post_promotion: AnalysisRef | None = Field(default=None, alias="postPromotion")
    notify: tuple[dict[str, Any], ...] = ()


#: keys only a blue-green release file has (a file with one of them and no ``steps``)
BLUEGREEN_KEYS = ("prePromotion", "postPromotion", "preview", "scaleDownDelay")


def load_bluegreen_file(text: str, *, source: str = "<input>") -> BlueGreenFile:
    """Parse YAML ``text`` into a :class:`BlueGreenFile` (errors as ``source:line: …``)."""
    return _load(BlueGreenFile, text, source=source, at=())


_M = TypeVar("_M", bound=BaseModel)


def _load(model: type[_M], text: str, *, source: str, at: Sequence[str | int]) -> _M:
    from ruamel.yaml import YAML  # a release file's reader: not loaded by every command
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    yaml = YAML(typ="rt")
    try:
        root = yaml.load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        _raise(source, [(line, "", f"not valid YAML: {exc.problem or exc.context}")])
    except YAMLError as exc:
        _raise(source, [(None, "", f"not valid YAML: {exc}")])
    prefix: Loc = tuple(at)
    node = root
    for depth, part in enumerate(prefix):
        ok = (isinstance(part, str) and isinstance(node, dict) and part in node) or (
            isinstance(part, int) and isinstance(node, list) and 0 <= part < len(node)
        )
        if not ok:
            _raise(
                source,
                [(_line_of(root, prefix[:depth]), format_path(prefix[: depth + 1]), "required")],
            )
        node = node[part]
    if not isinstance(node, dict):
        _raise(source, [(_line_of(root, prefix) or 1, format_path(prefix), "must be a mapping")])
    try:
        return model.model_validate(_plain(node))
    except ValidationError as exc:
        items = [
            (_line_of(root, prefix + loc), format_path(prefix + loc), msg)
            for loc, msg in _problems_of(exc)
        ]
        _raise(source, items)


def canary_spec_from_data(data: Any, *, source: str = "<spec>") -> CanarySpec:
    """Validate already-parsed data (JSON from an annotation, a dict from code); no lines."""
    try:
        return CanarySpec.model_validate(data)
    except ValidationError as exc:
        _raise(source, [(None, format_path(loc), msg) for loc, msg in _problems_of(exc)])


def canary_spec_from_shorthand(
    *,
    steps: str,
    pause: str | None = None,
    max_surge: int | str = DEFAULT_MAX_SURGE,
    auto_promote: bool = False,
    allow_decreasing_weights: bool = False,
) -> CanarySpec:
    """``--steps 10,25,50,100 --pause 2m`` → the same model as the YAML form.

    A pause of ``pause`` is inserted after every weight except the last; without
    ``--pause`` each step only waits for its pods to be ready. Weights may carry a ``%``.
    """
    weights: list[int] = []
    for raw in steps.split(","):
        item = raw.strip().removesuffix("%").strip()
        if not item.isdigit():
            raise InvalidSpecError(f"--steps {steps}: {raw.strip()!r} is not a whole number 0..100")
        weight = int(item)
        if weight > 100:
            raise InvalidSpecError(f"--steps {steps}: {weight}: must be between 0 and 100")
        weights.append(weight)
    seconds: int | None = None
    if pause is not None:
        try:
            seconds = parse_duration(pause)
        except ValueError as exc:
            raise InvalidSpecError(f"--pause: {exc}") from exc
    items: list[dict[str, Any]] = []
    for i, weight in enumerate(weights):
        items.append({"setWeight": weight})
        if seconds is not None and i < len(weights) - 1:
            items.append({"pause": {"duration": seconds}})
    data = {
        "steps": items,
        "maxSurge": max_surge,
        "autoPromote": auto_promote,
        "allowDecreasingWeights": allow_decreasing_weights,
    }
    try:
        return CanarySpec.model_validate(data)
    except ValidationError as exc:
        problems = _problems_of(exc)
        flag = {"maxSurge": "--max-surge"}
        msgs = []
        for loc, msg in problems:
            if loc and loc[0] in flag:
                msgs.append(f"{flag[str(loc[0])]} {max_surge}: {msg}")
            elif len(loc) >= 2 and isinstance(loc[1], int) and "setWeight" in loc:
                step = items[loc[1]]
                msgs.append(f"--steps {steps}: {step['setWeight']}: {msg}")
            else:
                msgs.append(f"--steps {steps}: {msg}")
        raise InvalidSpecError("; ".join(msgs)) from exc
