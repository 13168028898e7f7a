"""The release spec keeps its canary steps typed, and its JSON form round-trips."""

from __future__ import annotations

from kprism.model.release import (
    Kind,
    Phase,
    ReleaseSpec,
    ReleaseStatus,
    Strategy,
    spec_from_json,
    status_from_json,
    status_to_json,
)
from kprism.model.steps import CanarySpec, Pause, SetWeight


def status_for(spec: ReleaseSpec) -> ReleaseStatus:
    return ReleaseStatus(
        id="r1",
        kind=Kind.RELEASE,
        spec=spec,
        phase=Phase.PROGRESSING,
        step="canary-step",
        stable="blue",
        candidate="green",
        stable_deployment="web-blue",
        candidate_deployment="web-green",
        replicas=4,
    )


def test_a_canary_given_as_json_is_stored_typed_and_validated_once() -> None:
    spec = ReleaseSpec(
        strategy=Strategy.CANARY,
        canary={"steps": [{"setWeight": 20}, {"pause": {}}, {"setWeight": 100}]},
    )
    assert isinstance(spec.canary, CanarySpec)
    assert [type(s) for s in spec.canary.steps] == [SetWeight, Pause, SetWeight]


def test_the_stored_json_keeps_the_aliases_and_reads_back_equal() -> None:
    spec = ReleaseSpec(
        strategy=Strategy.CANARY,
        canary={"steps": [{"setWeight": 50}, {"setWeight": 100}], "maxSurge": 2},
    )
    data = status_to_json(status_for(spec))["spec"]
    assert data["canary"]["maxSurge"] == 2
    assert data["canary"]["steps"][0] == {"setWeight": 50}
    assert spec_from_json(data) == spec
    st = status_for(spec)
    assert status_from_json(status_to_json(st)) == st
