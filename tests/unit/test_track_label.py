"""The track label is remembered on the app's Service (issue 9 item 8): an app adopted or
released with ``--track-label version`` needs no flag again."""

from __future__ import annotations

import pytest

from kprism import ops
from kprism.errors import UsageError
from kprism.model.release import ANNOTATION_TRACK_LABEL, Change, ReleaseSpec
from tests.unit.bgsim import blue_app
from tests.unit.fakekube import NS, SERVICE, fake

V2 = ReleaseSpec(change=Change(images={"hello": "hello:2"}), scale_down_delay=0)


def test_app_ref_reads_the_label_the_app_was_adopted_with() -> None:
    kube = fake(blue_app())
    assert ops.app_ref(kube, SERVICE).track_label == ops.DEFAULT_TRACK_LABEL
    kube.annotations[ANNOTATION_TRACK_LABEL] = "version"
    assert ops.app_ref(kube, SERVICE).track_label == "version"
    # given explicitly, the caller's label wins
    assert ops.app_ref(kube, SERVICE, track_label="tier").track_label == "tier"
    # an app that does not exist (yet) gets the default; observing it says it is missing
    assert ops.app_ref(kube, "web").track_label == ops.DEFAULT_TRACK_LABEL


def test_a_stored_label_that_is_not_a_label_key_is_named() -> None:
    kube = fake(blue_app())
    kube.annotations[ANNOTATION_TRACK_LABEL] = "not a label!"
    with pytest.raises(UsageError, match=f"annotation {ANNOTATION_TRACK_LABEL} on Service hello"):
        ops.app_ref(kube, SERVICE)


def test_adopt_and_release_store_the_label_on_the_service() -> None:
    kube = fake(blue_app())
    ops.adopt(kube, ops.App(name=SERVICE, namespace=NS), timeout=10)
    assert kube.annotations[ANNOTATION_TRACK_LABEL] == "color"
    del kube.annotations[ANNOTATION_TRACK_LABEL]
    _, lease = ops.start_release(kube, ops.App(name=SERVICE, namespace=NS), V2)
    lease.release()
    assert kube.annotations[ANNOTATION_TRACK_LABEL] == "color"


def test_list_uses_each_apps_own_label() -> None:
    sim = blue_app()
    sim.selector = {"app": "hello", "version": "blue"}
    kube = fake(sim)
    assert ops.list_apps(kube, namespace=None) == []  # by the default label: not an app
    kube.annotations[ANNOTATION_TRACK_LABEL] = "version"
    (app,) = ops.list_apps(kube, namespace=None)
    assert (app.name, app.serving) == (SERVICE, "blue")


def test_the_cli_uses_the_stored_label_unless_one_is_given(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import json

    from typer.testing import CliRunner

    from kprism.cli.main import app

    kube = fake(blue_app())
    kube.annotations[ANNOTATION_TRACK_LABEL] = "version"
    monkeypatch.setattr(ops, "connect", lambda **_: kube)

    def status(*extra: str) -> str:
        result = CliRunner().invoke(app, ["-o", "json", "status", SERVICE, *extra])
        assert result.exit_code == 0, result.output
        label: str = json.loads(result.stdout)["trackLabel"]
        return label

    assert status() == "version"
    assert status("--track-label", "color") == "color"
