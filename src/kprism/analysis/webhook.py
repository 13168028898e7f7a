"""``webhook``: POST the release context as JSON; the answer decides.

The hook for load testers, approvals and chat-ops: the receiver gets ::

    {"app": "web", "namespace": "shop", "release": "20260101-120000-ab12",
     "track": "green", "stable": "blue", "service": "web", "run": "step-3",
     "metric": "approval", "measurement": 1, "args": {...}}

(``args`` are the provider's ``args``, e.g. a load profile), and answers with a status
code in ``expectedCodes`` (default 2xx) — and, when the metric has conditions, a JSON body
they are evaluated on (``jsonPath`` picks a part of it). Every other setting is the
``http`` provider's (headers, timeout, jsonPath, regex); the method is always POST.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from kprism.analysis.base import MeasureContext
from kprism.analysis.web import HttpProvider, HttpSettings


class WebhookProvider(HttpProvider):
    name = "webhook"

    def _defaults(self, config: Mapping[str, Any]) -> dict[str, Any]:
        data = {k: v for k, v in config.items() if k != "args"}
        data["method"] = "POST"
        data.setdefault("body", "{}")  # replaced by the context in request_body
        return data

    def check(self, config: Mapping[str, Any], *, where: str) -> None:
        args = config.get("args", {})
        if not isinstance(args, Mapping):
            from kprism.errors import InvalidSpecError

            raise InvalidSpecError(f"{where}.args: must be a mapping")
        super().check(config, where=where)

    def request_body(self, ctx: MeasureContext, settings: HttpSettings) -> bytes | None:
        payload = {**ctx.release_context(), "args": dict(ctx.config.get("args") or {})}
        return json.dumps(payload, sort_keys=True).encode()
