"""Input validation without a cluster: image references, tracks, env and image args."""

from __future__ import annotations

import pytest

from kprism.errors import UsageError
from kprism.model.release import Change
from kprism.plan.template import apply_change, merge, template_hash, track_deployment_name
from kprism.plan.validate import (
    check_track,
    is_image_reference,
    parse_env_arg,
    parse_image_arg,
)


@pytest.mark.parametrize(
    "ref",
    [
        "nginx",
        "nginx:1.27",
        "library/nginx:latest",
        "registry.example/team/app:1.2.3",
        "localhost:5001/py-http:2",
        "ghcr.io/org/app@sha256:" + "a" * 64,
        "ghcr.io/org/app:v1@sha256:" + "b" * 64,
        "[::1]:5000/app:1",
    ],
)
def test_valid_image_references(ref: str) -> None:
    assert is_image_reference(ref)


@pytest.mark.parametrize(
    "ref",
    ["", "Not A Ref", "app/UPPER:1", "app:", "app:tag with space", "app@sha256:123", ":1", "a//b"],
)
def test_invalid_image_references(ref: str) -> None:
    assert not is_image_reference(ref)


@pytest.mark.parametrize("track", ["green", "v2", "a-b", "x" * 63])
def test_valid_tracks(track: str) -> None:
    assert check_track(track, label="color") == track


@pytest.mark.parametrize("track", ["Green", "green_1", "-a", "a-", "x" * 64, ""])
def test_invalid_tracks(track: str) -> None:
    with pytest.raises(UsageError, match="not a valid track"):
        check_track(track, label="color")


def test_image_and_env_args() -> None:
    assert parse_image_arg("app=reg.example/app:2") == ("app", "reg.example/app:2")
    assert parse_image_arg("reg.example/app:2") == ("", "reg.example/app:2")
    assert parse_env_arg("LOG=debug") == ("", "LOG", "debug")
    assert parse_env_arg("app:LOG=a=b") == ("app", "LOG", "a=b")
    with pytest.raises(UsageError):
        parse_image_arg("=x:1")
    with pytest.raises(UsageError):
        parse_env_arg("1BAD=x")


TEMPLATE = {
    "metadata": {"labels": {"app": "hello", "color": "blue"}},
    "spec": {
        "containers": [
            {"name": "hello", "image": "h:1", "env": [{"name": "A", "value": "1"}]},
            {"name": "side", "image": "s:1"},
        ]
    },
}


def test_apply_change_images_env_patch_and_unknown_container() -> None:
    t = apply_change(
        TEMPLATE,
        Change(
            images={"hello": "h:2"},
            env={"hello": {"A": "2", "B": "3"}},
            patch={"spec": {"containers": [{"name": "side", "image": "s:9"}]}},
        ),
    )
    hello, side = t["spec"]["containers"]
    assert hello["image"] == "h:2" and side["image"] == "s:9"
    assert hello["env"] == [{"name": "A", "value": "2"}, {"name": "B", "value": "3"}]
    assert TEMPLATE["spec"]["containers"][0]["image"] == "h:1", "input mutated"
    with pytest.raises(UsageError, match="does not exist"):
        apply_change(TEMPLATE, Change(images={"nope": "x:1"}))
    with pytest.raises(UsageError, match="several containers"):
        apply_change(TEMPLATE, Change(images={"": "x:1"}))


def test_merge_deletes_with_none_and_hash_is_stable() -> None:
    assert merge({"a": 1, "b": {"c": 2}}, {"b": {"c": None, "d": 3}}) == {"a": 1, "b": {"d": 3}}
    assert template_hash({"a": 1, "b": 2}) == template_hash({"b": 2, "a": 1})
    assert template_hash({"a": 1}) != template_hash({"a": 2})


def test_track_deployment_names() -> None:
    assert track_deployment_name("py-hello-blue", "blue", "green") == "py-hello-green"
    assert track_deployment_name("web", "blue", "green") == "web-green"
