"""KP010: a mutable image tag pulled on every start."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

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


def check(objs: Objects, config: DoctorConfig) -> Iterator[Hit]:
    """Containers whose image has no fixed tag and is pulled with policy Always."""
    for d, i, c, _ in containers(objs):
        image = str(c.get("image") or "")
        if not image:
            continue
        tag, digest = image_tag(image)
        mutable = not digest and tag in (None, "latest")
        policy = c.get("imagePullPolicy")
        if mutable and (policy or "Always") == "Always":
            how = "imagePullPolicy Always" if policy else "imagePullPolicy Always (the default)"
            yield Hit(
                obj=d,
                container=cname(c),
                path=container_path(i, "image"),
                message=f'image "{image}" has no fixed tag and is pulled with {how}: pods may '
                "run different code, and rolling back does not bring the old code back",
            )


RULES = (
    RuleDef(
        rule=Rule(
            id="KP010",
            slug="mutable-image-tag",
            severity=Severity.WARNING,
            title='a mutable image tag (":latest" or none) is pulled with imagePullPolicy Always',
            protects="pods of one track running different code; a rollback that does not roll back",
            fix="pin a version tag or a digest (image@sha256:...)",
            fixable=False,
        ),
        check=check,
    ),
)
