"""The body a receiver gets: kprism's JSON, a Slack message or a Teams MessageCard."""

from __future__ import annotations

from typing import Any

from kprism.notify.events import Notification

_COLOR = {"succeeded": "2eb67d", "promoted": "2eb67d"}
_BAD = {"failed", "analysis-failed", "aborted", "aborting", "rolled-back"}


def _color(n: Notification) -> str:
    if n.event in _BAD or n.warning:
        return "e01e5a"
    return _COLOR.get(n.event, "36a2eb")


def _title(n: Notification) -> str:
    rel = n.release.get("id")
    return f"kprism {n.namespace}/{n.app}: {n.event}" + (f" (release {rel})" if rel else "")


def _facts(n: Notification) -> list[tuple[str, str]]:
    r = n.release
    facts = [("phase", r.get("phase", "")), ("step", r.get("step", ""))]
    if "weight" in r:
        facts.append(("weight", f"{r['weight']:g}%"))
    facts.append(("stable → candidate", f"{r.get('stable', '')} → {r.get('candidate', '')}"))
    images = r.get("images") or {}
    if images:
        facts.append(("images", ", ".join(f"{c}={i}" for c, i in sorted(images.items()))))
    return [(k, str(v)) for k, v in facts if v]


def body(n: Notification, fmt: str) -> dict[str, Any]:
    match fmt:
        case "slack":
            return {
                "text": f"*{_title(n)}*: {n.message}",
                "attachments": [
                    {
                        "color": f"#{_color(n)}",
                        "fields": [{"title": k, "value": v, "short": True} for k, v in _facts(n)],
                    }
                ],
            }
        case "teams":
            return {
                "@type": "MessageCard",
                "@context": "https://schema.org/extensions",
                "summary": _title(n),
                "themeColor": _color(n),
                "title": _title(n),
                "text": n.message,
                "sections": [{"facts": [{"name": k, "value": v} for k, v in _facts(n)]}],
            }
        case _:
            return n.as_json()
