"""The one spec builder (ops.SpecArgs.to_spec) and the spec's own validation: bad
numbers, bad patches and canary options get the same one-line refusal from the CLI,
spec files and the dashboard."""

from __future__ import annotations

import math
import re

import pytest

from kprism import ops
from kprism.errors import InvalidSpecError, UsageError
from kprism.model.release import MAX_SECONDS, ReleaseSpec, Strategy, check_seconds


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("scale_down_delay", math.nan),
        ("scale_down_delay", math.inf),
        ("scale_down_delay", -1.0),
        ("scale_down_delay", MAX_SECONDS + 1.0),
        ("ready_timeout", math.inf),
        ("ready_timeout", -math.inf),
        ("ready_timeout", 0.0),
        ("ready_timeout", math.nan),
        ("verify_timeout", 1e300),
    ],
)
def test_release_spec_refuses_non_finite_and_out_of_range_seconds(field: str, value: float) -> None:
    with pytest.raises(InvalidSpecError, match="must be a number of seconds") as err:
        ReleaseSpec(**{field: value})  # type: ignore[arg-type]
    assert "\n" not in str(err.value)
    if field != "verify_timeout":  # the shells' builder gives the same answer
        with pytest.raises(InvalidSpecError, match=re.escape(str(err.value))):
            ops.SpecArgs(**{field: value}).to_spec()  # type: ignore[arg-type]


def test_release_spec_takes_the_edges_of_the_ranges() -> None:
    spec = ReleaseSpec(scale_down_delay=0, ready_timeout=MAX_SECONDS, verify_timeout=0.5)
    assert (spec.scale_down_delay, spec.ready_timeout) == (0, MAX_SECONDS)
    with pytest.raises(InvalidSpecError, match=r"scale-down delay nan: .*at least 0"):
        check_seconds("scale-down delay", math.nan, minimum=0)


@pytest.mark.parametrize(
    ("patch", "needle"),
    [
        ({"spec": {"containers": 5}}, "spec.containers must be a list of containers, not 5"),
        ({"spec": {"containers": [5]}}, "spec.containers[0] must be a container"),
        ({"spec": {"containers": [{"image": "x"}]}}, "spec.containers[0] needs a name"),
        ({"spec": {"initContainers": "x"}}, "spec.initContainers must be a list"),
        ({"spec": 5}, "spec must be a mapping, not 5"),
        ({"spec": None}, "spec must be a mapping, not null"),
        ({"metadata": {"labels": ["a"]}}, "metadata.labels must be a mapping"),
        ({"containers": 5}, "unknown key 'containers'"),
    ],
)
def test_a_patch_of_the_wrong_shape_is_refused_before_anything_starts(
    patch: dict[str, object], needle: str
) -> None:
    with pytest.raises(UsageError, match="the pod-template patch: ") as err:
        ops.SpecArgs(images=[("", "hello:2")], patch=patch).to_spec()
    assert needle in str(err.value)


def test_parse_patch_names_its_source() -> None:
    with pytest.raises(UsageError, match=r"^--patch-file p.yaml: unknown key 'containers'"):
        ops.parse_patch("containers: 5\n", source="--patch-file p.yaml")
    with pytest.raises(UsageError, match=r"^--patch-file p.yaml: must be a mapping"):
        ops.parse_patch("- a\n", source="--patch-file p.yaml")
    with pytest.raises(UsageError, match=r"^--patch-file p.yaml: not valid YAML \(.*\)$") as err:
        ops.parse_patch("spec: [unclosed\n", source="--patch-file p.yaml")
    assert "\n" not in str(err.value)
    patch = {"spec": {"containers": [{"name": "hello", "resources": {"limits": {"cpu": "1"}}}]}}
    assert (
        ops.parse_patch(
            "spec: {containers: [{name: hello, resources: {limits: {cpu: '1'}}}]}", source="p"
        )
        == patch
    )


CANARY_FILE = """\
canary:
  steps:
    - setWeight: 20
    - pause: {}
    - setWeight: 100
  maxSurge: 2
"""


def test_one_builder_for_every_way_to_give_a_canary() -> None:
    shorthand = ops.SpecArgs(steps="20,100", pause="1m", max_surge="2").to_spec()
    assert shorthand.strategy == Strategy.CANARY
    assert shorthand.canary is not None and shorthand.canary.max_surge == 2
    from_file = ops.SpecArgs(canary_yaml=CANARY_FILE, canary_source="r.yaml").to_spec()
    assert from_file.strategy == Strategy.CANARY
    assert from_file.canary is not None
    assert from_file.canary.steps[0].model_dump(by_alias=True) == {"setWeight": 20}
    ready_made = ops.SpecArgs(
        canary=from_file.canary.model_dump(mode="json", by_alias=True)
    ).to_spec()
    assert ready_made.canary == from_file.canary
    promoted = ops.SpecArgs(
        canary_yaml=CANARY_FILE.replace("    - pause: {}\n", ""), auto_promote=True
    ).to_spec()
    assert promoted.canary is not None and promoted.canary.auto_promote


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"steps": "10,100", "canary_yaml": CANARY_FILE}, "give either --steps or -f, not both"),
        ({"pause": "1m"}, "--pause goes with --steps"),
        ({"canary_yaml": CANARY_FILE, "max_surge": "3"}, "--max-surge is ignored with -f"),
        ({"strategy": Strategy.CANARY}, "--strategy canary needs --steps"),
        (
            {"canary_yaml": "canary: {steps: [{setWeight: 101}]}", "canary_source": "r.yaml"},
            "r.yaml:1",
        ),
    ],
)
def test_canary_options_that_do_not_go_together(args: dict[str, object], message: str) -> None:
    with pytest.raises(UsageError, match=None) as err:
        ops.SpecArgs(**args).to_spec()  # type: ignore[arg-type]
    assert message in str(err.value)
