"""Receivers of a namespace: ConfigMaps labelled ``kprism.dev/notifications=true``.

Each such ConfigMap has a ``receivers`` key holding a YAML list::

    - name: chat                       # names the receiver in Events
      url: https://hooks.example/abc   # or urlFrom: {secret: NAME, key: KEY}
      format: slack                    # json (default) | slack | teams
      events: [started, failed, succeeded]   # default: every event
      apps: [web]                      # default: every app of the namespace
      timeout: 5                       # seconds per attempt (default 5, at most 60)
      retries: 3                       # attempts after the first (default 3, at most 10)
      headers:
        X-Team: shop
        Authorization: {secret: NAME, key: KEY}

A receiver that does not parse is reported (NotificationFailed) and skipped; the others
are delivered. A release may bring receivers of its own in the same format
(``ReleaseSpec.notify``: the release file's ``notify:``, ``--notify URL``), checked
before it starts (:func:`parse_release`).
"""

from __future__ import annotations

import base64
import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from kprism.notify.events import EVENTS

LABEL = "kprism.dev/notifications"
FORMATS = ("json", "slack", "teams")


class ReceiverError(ValueError):
    """A receiver that cannot be used; the message names it and the fix."""


@dataclass(frozen=True, kw_only=True)
class SecretRef:
    secret: str
    key: str


Value = str | SecretRef


@dataclass(frozen=True, kw_only=True)
class Receiver:
    name: str
    url: Value
    format: str = "json"
    events: frozenset[str] = frozenset(EVENTS)
    apps: frozenset[str] = frozenset()  # empty: every app
    headers: Mapping[str, Value] = field(default_factory=dict)
    timeout: float = 5.0
    retries: int = 3

    def wants(self, event: str, app: str) -> bool:
        return event in self.events and (not self.apps or app in self.apps)


def _value(raw: Any, where: str) -> Value:
    if isinstance(raw, str) and raw:
        return raw
    if (
        isinstance(raw, Mapping)
        and set(raw) == {"secret", "key"}
        and all(isinstance(raw[k], str) and raw[k] for k in ("secret", "key"))
    ):
        return SecretRef(secret=raw["secret"], key=raw["key"])
    raise ReceiverError(f"{where}: must be a string or {{secret: NAME, key: KEY}}")


def _number(raw: Any, where: str, *, low: float, high: float) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not low <= raw <= high:
        raise ReceiverError(f"{where}: must be a number from {low:g} to {high:g}")
    return float(raw)


def parse_receiver(raw: Any, where: str) -> Receiver:
    if not isinstance(raw, Mapping):
        raise ReceiverError(f"{where}: must be a mapping with a url")
    known = {"name", "url", "urlFrom", "format", "events", "apps", "headers", "timeout", "retries"}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ReceiverError(
            f"{where}: unknown field {unknown[0]!r} (known: {', '.join(sorted(known))})"
        )
    name = raw.get("name", where)
    if not isinstance(name, str) or not name:
        raise ReceiverError(f"{where}.name: must be a non-empty string")
    where = f"{where} ({name})" if "name" in raw else where
    if ("url" in raw) == ("urlFrom" in raw):
        raise ReceiverError(f"{where}: give exactly one of url or urlFrom: {{secret, key}}")
    url = _value(raw["url"], f"{where}.url") if "url" in raw else None
    if url is None:
        ref = _value(raw["urlFrom"], f"{where}.urlFrom")
        if not isinstance(ref, SecretRef):
            raise ReceiverError(f"{where}.urlFrom: must be {{secret: NAME, key: KEY}}")
        url = ref
    if isinstance(url, str) and not url.startswith(("http://", "https://")):
        raise ReceiverError(f"{where}.url: {url!r} is not an http(s) URL")
    fmt = raw.get("format", "json")
    if fmt not in FORMATS:
        raise ReceiverError(f"{where}.format: {fmt!r}: must be one of {', '.join(FORMATS)}")
    events = raw.get("events", list(EVENTS))
    if not isinstance(events, list) or not all(isinstance(e, str) for e in events):
        raise ReceiverError(f"{where}.events: must be a list of {', '.join(EVENTS)}")
    bad = [e for e in events if e not in EVENTS]
    if bad:
        raise ReceiverError(
            f"{where}.events: unknown event {bad[0]!r} (known: {', '.join(EVENTS)})"
        )
    apps = raw.get("apps", [])
    if not isinstance(apps, list) or not all(isinstance(a, str) for a in apps):
        raise ReceiverError(f"{where}.apps: must be a list of app (Service) names")
    headers = raw.get("headers", {})
    if not isinstance(headers, Mapping):
        raise ReceiverError(f"{where}.headers: must be a mapping of header name to value")
    return Receiver(
        name=name,
        url=url,
        format=fmt,
        events=frozenset(events),
        apps=frozenset(apps),
        headers={str(k): _value(v, f"{where}.headers.{k}") for k, v in headers.items()},
        timeout=_number(raw.get("timeout", 5), f"{where}.timeout", low=0.1, high=60),
        retries=int(_number(raw.get("retries", 3), f"{where}.retries", low=0, high=10)),
    )


def parse_release(raw: Sequence[Any], *, where: str = "notify") -> list[Receiver]:
    """A release's own receivers (``ReleaseSpec.notify``, the same format as a
    ConfigMap's); ReceiverError naming the first that does not parse. Each is named
    ``release`` (or ``release-2`` …) unless it has a name, and wants every app."""
    found: list[Receiver] = []
    for i, item in enumerate(raw):
        at = f"{where}[{i}]"
        if isinstance(item, Mapping) and "apps" in item:
            raise ReceiverError(f"{at}: apps is for a namespace's receivers, not a release's")
        receiver = parse_receiver(item, at)
        if not isinstance(item, Mapping) or "name" not in item:
            receiver = dataclasses.replace(
                receiver, name="release" if i == 0 else f"release-{i + 1}"
            )
        found.append(receiver)
    return found


def parse_configmap(cm: Mapping[str, Any]) -> tuple[list[Receiver], list[str]]:
    """The receivers of one ConfigMap, and one line per receiver that does not parse."""
    name = cm.get("metadata", {}).get("name", "?")
    text = (cm.get("data") or {}).get("receivers")
    where = f"ConfigMap {name} receivers"
    if not isinstance(text, str):
        return [], [f"ConfigMap {name}: no 'receivers' key (a YAML list of receivers)"]
    try:
        items = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        return [], [f"{where}: not YAML: {str(exc).splitlines()[0]}"]
    if not isinstance(items, list):
        return [], [f"{where}: must be a YAML list of receivers"]
    found: list[Receiver] = []
    errors: list[str] = []
    for i, item in enumerate(items):
        try:
            found.append(parse_receiver(item, f"{where}[{i}]"))
        except ReceiverError as exc:
            errors.append(str(exc))
    return found, errors


def secret_value(secret: Mapping[str, Any], key: str) -> str | None:
    data = secret.get("data") or {}
    if key in data:
        return base64.b64decode(data[key]).decode().strip()
    plain = secret.get("stringData") or {}
    return plain.get(key)


def resolve(value: Value, read_secret: Callable[[str], Mapping[str, Any] | None]) -> str:
    """The value itself, or the Secret key it points at; ReceiverError naming what is missing."""
    if isinstance(value, str):
        return value
    secret = read_secret(value.secret)
    if secret is None:
        raise ReceiverError(f"Secret {value.secret} not found")
    found = secret_value(secret, value.key)
    if found is None:
        raise ReceiverError(f"Secret {value.secret} has no key {value.key!r}")
    return found
