"""Release state stored on the app's Service: current release, intent, history.

All three live in annotations of one object so that one PATCH (with the Service's
resourceVersion as precondition) records a new status *and* consumes the intent it
acted on, atomically: an intent written concurrently makes the PATCH fail with 409,
and the engine re-observes and sees it.
"""

from __future__ import annotations

import json
from typing import Any

from kprism.errors import UsageError
from kprism.model.observed import ServiceObs
from kprism.model.operation import (
    ANNOTATION_OPERATION,
    Operation,
    operation_from_json,
    operation_history_entry,
    operation_to_json,
)
from kprism.model.release import (
    ANNOTATION_HISTORY,
    ANNOTATION_INTENT,
    ANNOTATION_RELEASE,
    HISTORY_LIMIT,
    Intent,
    ReleaseStatus,
    history_entry,
    intent_from_json,
    intent_to_json,
    status_from_json,
    status_to_json,
)


def read_release(svc: ServiceObs) -> ReleaseStatus | None:
    raw = svc.annotations.get(ANNOTATION_RELEASE)
    if not raw:
        return None
    try:
        return status_from_json(json.loads(raw))
    except (ValueError, KeyError, TypeError) as exc:
        raise UsageError(
            f"annotation {ANNOTATION_RELEASE} on Service {svc.name} is not a kprism release status "
            f"({exc}): remove it with `kubectl annotate service {svc.name} {ANNOTATION_RELEASE}-`"
        ) from exc


def read_intent(svc: ServiceObs) -> Intent | None:
    raw = svc.annotations.get(ANNOTATION_INTENT)
    if not raw:
        return None
    try:
        return intent_from_json(json.loads(raw))
    except (ValueError, KeyError, TypeError):
        return None


def read_history(svc: ServiceObs) -> list[dict[str, Any]]:
    raw = svc.annotations.get(ANNOTATION_HISTORY)
    if not raw:
        return []
    try:
        data = json.loads(raw)
    except ValueError:
        return []
    return [d for d in data if isinstance(d, dict)] if isinstance(data, list) else []


def _dumps(data: Any) -> str:
    return json.dumps(data, separators=(",", ":"), sort_keys=True)


#: the history annotation's size above which the oldest entries lose their timelines
#: (a Service's annotations are limited to 256 KiB in all)
HISTORY_BYTES = 96 * 1024


def _history(entries: list[dict[str, Any]]) -> str:
    """The history annotation: the newest entries, the oldest timelines dropped first
    while it is larger than :data:`HISTORY_BYTES`."""
    kept = [dict(e) for e in entries[-HISTORY_LIMIT:]]
    text = _dumps(kept)
    for entry in kept:
        if len(text) <= HISTORY_BYTES:
            break
        if entry.pop("timeline", None) is not None:
            text = _dumps(kept)
    return text


def status_patch(
    svc: ServiceObs,
    status: ReleaseStatus,
    *,
    consume_intent: bool = False,
    previous: ReleaseStatus | None = None,
) -> dict[str, Any]:
    """A merge patch recording ``status`` (and history when it just finished)."""
    annotations: dict[str, Any] = {ANNOTATION_RELEASE: _dumps(status_to_json(status))}
    if consume_intent:
        annotations[ANNOTATION_INTENT] = None
    newly_finished = status.phase.terminal and (previous is None or not previous.phase.terminal)
    if newly_finished:
        history = [h for h in read_history(svc) if h.get("id") != status.id]
        history.append(history_entry(status))
        annotations[ANNOTATION_HISTORY] = _history(history)
    return {"metadata": {"resourceVersion": svc.resource_version, "annotations": annotations}}


def intent_patch(svc: ServiceObs, intent: Intent) -> dict[str, Any]:
    return {
        "metadata": {
            "resourceVersion": svc.resource_version,
            "annotations": {ANNOTATION_INTENT: _dumps(intent_to_json(intent))},
        }
    }


def read_operation(svc: ServiceObs) -> Operation | None:
    """The split/scale/clone recorded on the app (the last one; in flight or ended)."""
    raw = svc.annotations.get(ANNOTATION_OPERATION)
    if not raw:
        return None
    try:
        return operation_from_json(json.loads(raw))
    except (ValueError, KeyError, TypeError) as exc:
        raise UsageError(
            f"annotation {ANNOTATION_OPERATION} on Service {svc.name} is not a kprism operation "
            f"({exc}): remove it with `kubectl annotate service {svc.name} {ANNOTATION_OPERATION}-`"
        ) from exc


def operation_patch(svc: ServiceObs, op: Operation) -> dict[str, Any]:
    """A merge patch recording ``op`` (and, once it ended, its history entry)."""
    annotations: dict[str, Any] = {ANNOTATION_OPERATION: _dumps(operation_to_json(op))}
    if op.phase.terminal:
        history = [h for h in read_history(svc) if h.get("id") != op.id]
        history.append(operation_history_entry(op))
        annotations[ANNOTATION_HISTORY] = _history(history)
    return {"metadata": {"resourceVersion": svc.resource_version, "annotations": annotations}}
