"""``kprism controller``: the engine in the cluster, for every app, with no CRDs.

State stays where the CLI keeps it (Service annotations, Leases, Events): the
controller is one more engine, which happens never to sleep. See docs/controller.md.

``run`` is the entry point (the CLI command calls it); :class:`Controller` is the
object tests and embedders start and stop themselves.
"""

from __future__ import annotations

from kprism.controller.manager import Config, Controller
from kprism.controller.run import default_lease_namespace, run

__all__ = ["Config", "Controller", "default_lease_namespace", "run"]
