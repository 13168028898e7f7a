"""One error tree for everything kprism raises on purpose.

Callers (the CLI, the dashboard, user code) catch :class:`KprismError` and show
``str(err)``: every message is one line that names the object and the fix. Each class
carries the CLI exit code so that CI pipelines can gate on it::

    KprismError                    exit 1   base; never raised bare
    ├── UsageError                 exit 2   bad input: nothing in the cluster was changed
    │   ├── NotFoundError          exit 2   unknown app / Service / Deployment / namespace
    │   ├── LockedError            exit 2   another engine holds the app's Lease
    │   └── InvalidSpecError       exit 2   a release spec or manifest that does not validate
    ├── ClusterError               exit 3   API server unreachable, TLS, kubeconfig
    │   └── ForbiddenError         exit 3   RBAC denied a verb on a resource
    ├── ConflictError              exit 1   optimistic-concurrency conflict that retries did not clear
    ├── TimeoutError_              exit 1   a wait passed its deadline
    └── ReleaseFailed              exit 1   the release ended failed, aborted or rolled back

Errors from the HTTP / Kubernetes client are chained (``raise ... from exc``) and never
shown raw.
"""

from __future__ import annotations


class KprismError(Exception):
    """Base of every error kprism raises on purpose."""

    exit_code = 1


class UsageError(KprismError):
    """The input is wrong; nothing in the cluster was changed."""

    exit_code = 2


class NotFoundError(UsageError):
    """A named object (app, Service, Deployment, namespace, context) does not exist.

    ``kind``, ``name`` and ``namespace`` say which object, when the adapter knows it
    (empty otherwise): callers decide on these fields, never on the message.
    """

    def __init__(
        self, message: str, *, kind: str = "", name: str = "", namespace: str = ""
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.name = name
        self.namespace = namespace


class LockedError(UsageError):
    """Another engine holds the app's Lease."""

    def __init__(self, message: str, *, holder: str = "") -> None:
        super().__init__(message)
        self.holder = holder


class InvalidSpecError(UsageError):
    """A release spec, step list or manifest does not validate."""


class ClusterError(KprismError):
    """The cluster cannot be reached or refused us."""

    exit_code = 3


class ForbiddenError(ClusterError):
    """RBAC denied a verb on a resource (``kind``, when the adapter knows it)."""

    def __init__(self, message: str, *, kind: str = "") -> None:
        super().__init__(message)
        self.kind = kind


class ConflictError(KprismError):
    """A write conflicted (HTTP 409) more often than the retry budget allows."""


class TimeoutError_(KprismError):
    """A wait passed its deadline."""


class ReleaseFailed(KprismError):
    """The release ended failed, aborted or rolled back."""

    def __init__(self, message: str, *, phase: str = "Failed") -> None:
        super().__init__(message)
        self.phase = phase
