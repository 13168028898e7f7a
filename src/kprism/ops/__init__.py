"""kprism's Python API: what the CLI, the dashboard and a future controller all call.

Every function takes a connection — a :class:`~kprism.kube.client.Kube` from
:func:`connect`, or anything else that satisfies :class:`~kprism.kube.api.KubeApi`
(the unit tests' in-memory fake) — and names an app by its Service. Functions that change a release in flight (promote, abort, pause,
resume) write an *intent* onto the app; the engine that holds the app's Lease acts on
it. If no engine holds the Lease, the call takes it and drives the release itself to
the next stable point, so an intent is never left unattended.

Bad input raises :class:`kprism.errors.UsageError` (exit 2) before anything in the
cluster is changed.

This module only re-exports; the code lives in one module per concern:

``apps``      naming and reading apps: connect, app_ref, observe, status, history, list
``releases``  plan, start and drive a release
``intents``   promote / abort / pause / resume as intents, resume a crashed release, rollback
``tracks``    scale, pin, adopt, clone, split
``running``   the Lease → record → Event → engine sequence every start shares
``specs``     release options as the shells collect them
``handover``  releases handed over to the in-cluster controller (and its side of it)
``sources``   GitOps source Deployments the controller releases
``doctor``    the doctor on live apps, and the release pre-flight
``rollbacks`` rollback to any release in the history; what a release/rollback would change
``trail``     the audit trail: every operation with actor, source, reason, time, outcome
``access``    a sign-in's token checked (TokenReview), what a user may do (access reviews)
"""

from __future__ import annotations

import functools
import importlib
from typing import TYPE_CHECKING, Any

# The names below load on first use (PEP 562): a command that only reads an app
# (``kprism status``) does not import the doctor, the controller hand-over or the
# analysis runner (issue 11). Add a name by adding its import in this block (and to
# ``__all__``): ``__getattr__`` finds its module there. A unit test checks that every
# name of ``__all__`` resolves and what ``import kprism.ops`` loads.
if TYPE_CHECKING:
    from kprism.kube.api import KubeApi
    from kprism.kube.client import Kube
    from kprism.ops import doctor as doctor
    from kprism.ops.access import permissions, review_token
    from kprism.ops.apps import (
        DEFAULT_TRACK_LABEL,
        App,
        AppStatus,
        AppSummary,
        ServiceView,
        TrackView,
        app_ref,
        app_status,
        canary_steps,
        connect,
        history,
        list_apps,
        observe,
        watch_apps,
    )
    from kprism.ops.handover import HandedOver, controller_of, release_via_controller
    from kprism.ops.intents import (
        await_intent,
        check_moved_on,
        resume,
        rollback,
        send_intent,
        write_intent,
    )
    from kprism.ops.releases import (
        ReleasePlan,
        check_canary_spec,
        check_router,
        new_release_id,
        plan_release,
        release,
        start_release,
    )
    from kprism.ops.rollbacks import preview_release, preview_rollback, rollback_to
    from kprism.ops.running import (
        Tick,
        TickHandler,
        actor,
        check_outcome,
        disconnect,
        drive,
        set_source,
        stop_at_wait_points,
    )
    from kprism.ops.specs import SpecArgs, parse_env_arg, parse_image_arg, parse_patch
    from kprism.ops.tracks import (
        MAX_REPLICAS,
        abort_operation,
        adopt,
        clone,
        parse_weights,
        pin,
        scale,
        split,
    )
    from kprism.ops.trail import audit, weight_points
    from kprism.plan.preflight import fmt_labels

__all__ = [
    "DEFAULT_TRACK_LABEL",
    "MAX_REPLICAS",
    "App",
    "AppStatus",
    "AppSummary",
    "HandedOver",
    "Kube",
    "KubeApi",
    "ReleasePlan",
    "ServiceView",
    "SpecArgs",
    "Tick",
    "TickHandler",
    "TrackView",
    "abort_operation",
    "actor",
    "adopt",
    "app_ref",
    "app_status",
    "audit",
    "await_intent",
    "canary_steps",
    "check_canary_spec",
    "check_moved_on",
    "check_outcome",
    "check_router",
    "clone",
    "connect",
    "controller_of",
    "disconnect",
    "doctor",
    "drive",
    "fmt_labels",
    "history",
    "list_apps",
    "new_release_id",
    "observe",
    "parse_env_arg",
    "parse_image_arg",
    "parse_patch",
    "parse_weights",
    "permissions",
    "pin",
    "plan_release",
    "preview_release",
    "preview_rollback",
    "release",
    "release_via_controller",
    "resume",
    "review_token",
    "rollback",
    "rollback_to",
    "scale",
    "send_intent",
    "set_source",
    "split",
    "start_release",
    "stop_at_wait_points",
    "watch_apps",
    "weight_points",
    "write_intent",
]


@functools.cache
def _where() -> dict[str, tuple[str, str]]:
    """Each name of this module → (the module that defines it, its name there), read once
    from the imports of the ``if TYPE_CHECKING`` block above (written once, there)."""
    import ast
    from pathlib import Path

    found: dict[str, tuple[str, str]] = {}
    for node in ast.walk(ast.parse(Path(__file__).read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module != "__future__":
            for alias in node.names:
                found[alias.asname or alias.name] = (node.module, alias.name)
    return found


if not TYPE_CHECKING:  # mypy sees the imports above, not a catch-all __getattr__

    def __getattr__(name: str) -> Any:
        where = _where().get(name)
        if where is None:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        module, attr = where
        if module == __name__:  # ``from kprism.ops import doctor``: a submodule
            value = importlib.import_module(f"{__name__}.{attr}")
        else:
            value = getattr(importlib.import_module(module), attr)
        globals()[name] = value
        return value
