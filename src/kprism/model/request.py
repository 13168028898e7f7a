"""A release handed over to the controller: the request the CLI writes on the Service.

``kprism release`` writes it (annotation ``kprism.dev/release-request``) when a
controller covers the app; the controller validates it as the CLI would, records the
release under the request's id (so the CLI can follow it) and removes the request, or
marks it ``refused`` with the one-line reason, which the CLI prints.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from kprism.errors import KprismError
from kprism.model.release import ReleaseSpec, spec_from_json, spec_to_json


@dataclass(frozen=True, kw_only=True)
class ReleaseRequest:
    id: str  # the id the release will have
    spec: ReleaseSpec
    stable_track: str | None = None
    force: bool = False
    by: str = ""
    at: str = ""
    refused: str = ""  # set by the controller: why it did not start the release

    def refuse(self, reason: str) -> ReleaseRequest:
        return replace(self, refused=reason)


def request_to_json(req: ReleaseRequest) -> str:
    data: dict[str, Any] = {
        "id": req.id,
        "spec": spec_to_json(req.spec),
        "stableTrack": req.stable_track,
        "force": req.force,
        "by": req.by,
        "at": req.at,
    }
    if req.refused:
        data["refused"] = req.refused
    return json.dumps(data, separators=(",", ":"), sort_keys=True)


def request_from_json(text: str) -> ReleaseRequest | None:
    """The request in an annotation; None when it is not one (then it is ignored)."""
    try:
        data = json.loads(text)
        if not isinstance(data, Mapping) or not data.get("id"):
            return None
        return ReleaseRequest(
            id=str(data["id"]),
            spec=spec_from_json(data.get("spec") or {}),
            stable_track=data.get("stableTrack") or None,
            force=bool(data.get("force", False)),
            by=str(data.get("by", "")),
            at=str(data.get("at", "")),
            refused=str(data.get("refused", "")),
        )
    except (ValueError, KeyError, TypeError, AttributeError, KprismError):
        return None
