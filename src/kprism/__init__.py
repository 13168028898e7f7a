"""kprism — progressive delivery for plain Kubernetes Deployments and Services.

An *app* is one Service plus two or more *tracks*: Deployments that share the app's
labels and differ in one track label (``color: blue`` / ``color: green``). kprism
releases a new version into the idle track and moves traffic to it (blue-green) or
shifts it in steps (canary), keeping every bit of release state in the cluster.

The public Python API lives in :mod:`kprism.ops`; the CLI and the dashboard are thin
shells over it.
"""

from kprism.errors import (
    ClusterError,
    ConflictError,
    ForbiddenError,
    KprismError,
    LockedError,
    NotFoundError,
    ReleaseFailed,
    UsageError,
)

__version__ = "0.1.0"

__all__ = [
    "ClusterError",
    "ConflictError",
    "ForbiddenError",
    "KprismError",
    "LockedError",
    "NotFoundError",
    "ReleaseFailed",
    "UsageError",
    "__version__",
]
