"""Input validation that needs no cluster: image references, label values, names, the
shape of a pod-template patch."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from kprism.errors import UsageError

# The distribution/reference grammar (docker/distribution reference/regexp.go), compact.
_ALNUM = r"[a-z0-9]+"
_SEP = r"(?:[._]|__|[-]+)"
_COMPONENT = rf"{_ALNUM}(?:{_SEP}{_ALNUM})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
_IMAGE = re.compile(rf"^(?:{_DOMAIN}/)?{_COMPONENT}(?:/{_COMPONENT})*(?::{_TAG})?(?:@{_DIGEST})?$")
_LABEL_VALUE = re.compile(r"^(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$")
_DNS_LABEL = re.compile(r"^[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?$")
_LABEL_NAME = re.compile(
    r"^(?:[a-z0-9](?:[-a-z0-9.]{0,251}[a-z0-9])?/)?[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
)


def is_image_reference(ref: str) -> bool:
    """True when ``ref`` is a valid container image reference (name[:tag][@digest])."""
    return len(ref) <= 255 and bool(_IMAGE.match(ref))


def check_image(ref: str) -> str:
    if not is_image_reference(ref):
        raise UsageError(
            f"image {ref!r} is not a valid image reference: use [registry/]name[:tag][@digest], "
            "lowercase name, e.g. registry.example/team/app:1.2.3"
        )
    return ref


def check_track(value: str, *, label: str) -> str:
    """A track value must be a label value and usable as a Deployment-name suffix."""
    if not _LABEL_VALUE.match(value) or not _DNS_LABEL.match(value):
        raise UsageError(
            f"track {label}={value!r} is not a valid track: use lowercase letters, digits and "
            "'-' (at most 63, starting and ending with a letter or digit), e.g. green"
        )
    return value


def check_label_key(key: str) -> str:
    if not _LABEL_NAME.match(key):
        raise UsageError(f"{key!r} is not a valid label key, e.g. color or example.com/track")
    return key


def parse_image_arg(arg: str) -> tuple[str, str]:
    """``[CONTAINER=]IMAGE`` → (container or "", image)."""
    container, sep, image = arg.partition("=")
    if not sep:
        container, image = "", arg
    if sep and not container:
        raise UsageError(f"--image {arg!r}: container name before '=' is empty")
    return container, check_image(image)


def parse_env_arg(arg: str) -> tuple[str, str, str]:
    """``[CONTAINER:]NAME=VALUE`` → (container or "", name, value)."""
    head, sep, value = arg.partition("=")
    if not sep or not head:
        raise UsageError(f"--set-env {arg!r}: use NAME=VALUE or CONTAINER:NAME=VALUE")
    container, colon, name = head.rpartition(":")
    if not colon:
        container, name = "", head
    if not re.match(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$", name):
        raise UsageError(f"--set-env {arg!r}: {name!r} is not a valid environment variable name")
    return container, name, value


_PATCH_KEYS = ("metadata", "spec")
_CONTAINER_LISTS = ("containers", "initContainers", "ephemeralContainers")


def _type_name(value: object) -> str:
    return "null" if value is None else type(value).__name__


def check_pod_patch(patch: Mapping[str, Any], *, source: str) -> None:
    """A patch merged into the pod template (``--patch-file``) has the template's shape:
    ``metadata`` and ``spec`` mappings, label and annotation mappings, container lists
    of mappings each with a name. Refused with one line naming the field otherwise."""

    def bad(path: str, want: str, value: object) -> UsageError:
        shown = repr(value) if isinstance(value, int | float | str | bool) else _type_name(value)
        return UsageError(f"{source}: {path} must be {want}, not {shown}")

    unknown = [k for k in patch if k not in _PATCH_KEYS]
    if unknown:
        raise UsageError(
            f"{source}: unknown key {unknown[0]!r}: a pod-template patch has metadata and spec "
            f"(e.g. spec: {{containers: [{{name: app, ...}}]}})"
        )
    meta, spec = patch.get("metadata", {}), patch.get("spec", {})
    if not isinstance(meta, Mapping):
        raise bad("metadata", "a mapping", meta)
    for key in ("labels", "annotations"):
        value = meta.get(key, {})
        if not isinstance(value, Mapping):
            raise bad(f"metadata.{key}", "a mapping of names to strings", value)
    if not isinstance(spec, Mapping):
        raise bad("spec", "a mapping", spec)
    for key in _CONTAINER_LISTS:
        containers = spec.get(key, [])
        if not isinstance(containers, list):
            raise bad(f"spec.{key}", "a list of containers", containers)
        for i, c in enumerate(containers):
            if not isinstance(c, Mapping):
                raise bad(f"spec.{key}[{i}]", "a container (a mapping with a name)", c)
            if not isinstance(c.get("name"), str) or not c.get("name"):
                raise UsageError(f"{source}: spec.{key}[{i}] needs a name (the container's)")
