"""Input validation that needs no cluster: image references, label values, names."""

from __future__ import annotations

import re

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
