"""KP010: a mutable image tag pulled on every start."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Final

from kprism.plan.doctor.base import Rule, Severity
from kprism.plan.doctor.checks import Hit, RuleDef, cname, container_path, containers
from kprism.plan.doctor.objects import Objects

if TYPE_CHECKING:
    from kprism.plan.doctor.config import DoctorConfig


def image_tag(image: str) -> tuple[str | None, bool]:
    """(tag, has_digest) of an image reference; the tag is None when absent."""
    if "@" in image:
        return None, True
    last = image.rsplit("/", 1)[-1]
    return (last.rsplit(":", 1)[1] if ":" in last else None), False


#: Tags that name a branch or a channel, not a build: they move to every new build.
MOVING_TAGS: Final = frozenset(
    {"latest", "main", "master", "develop", "dev", "trunk", "head", "edge", "nightly", "stable"}
)


def _pulled(tag: str | None, policy: object) -> str | None:
    """How a moving tag ends up on the nodes, or None when the user chose the policy that
    keeps whatever is there (``IfNotPresent``, ``Never``: images loaded by hand)."""
    if policy == "Always":
        return "is pulled again with imagePullPolicy Always"
    if policy:
        return None
    if tag is None or tag == "latest":
        return "is pulled again with imagePullPolicy Always (the default for it)"
    return "is pulled with imagePullPolicy IfNotPresent (the default): each node keeps the build it pulled first"


def check(objs: Objects, config: DoctorConfig) -> Iterator[Hit]:
    """Containers whose image names a moving tag (``:latest``, ``:main``, none) without
    a digest."""
    for d, i, c, _ in containers(objs):
        image = str(c.get("image") or "")
        if not image:
            continue
        tag, digest = image_tag(image)
        if digest or (tag is not None and tag.lower() not in MOVING_TAGS):
            continue
        how = _pulled(tag, c.get("imagePullPolicy"))
        if how is not None:
            what = "no tag" if tag is None else f'the moving tag ":{tag}"'
            yield Hit(
                obj=d,
                container=cname(c),
                path=container_path(i, "image"),
                message=f'image "{image}" has {what} and {how}: pods may run different code, '
                "and rolling back does not bring the old code back",
            )


RULES = (
    RuleDef(
        rule=Rule(
            id="KP010",
            slug="mutable-image-tag",
            severity=Severity.WARNING,
            title='a moving image tag (":latest", ":main", none) that nodes may pull in '
            "different builds",
            protects="pods of one track running different code; a rollback that does not roll back",
            fix="pin a version tag or a digest (image@sha256:...)",
            fixable=False,
        ),
        check=check,
    ),
)
