"""Translate lightkube / HTTP errors into kprism's error tree (see kprism.errors).

Every adapter call goes through :func:`translating`, so callers only ever see
:class:`kprism.errors.KprismError` subclasses with one-line messages.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import httpx2
from lightkube.core.exceptions import ApiError

from kprism.errors import (
    ClusterError,
    ConflictError,
    ForbiddenError,
    KprismError,
    NotFoundError,
    UsageError,
)


class TransientError(ClusterError):
    """A failure worth retrying: connection reset, 429, 5xx, timeouts."""


class ResourceTypeMissing(UsageError):
    """The API server does not serve this resource type at all (a plain-text 404, which
    lightkube does not turn into an ApiError): its CRD is not installed."""

    def __init__(self, message: str, *, kind: str = "") -> None:
        super().__init__(message)
        self.kind = kind


def _describe(exc: ApiError) -> str:
    msg = (exc.status.message or "").strip()
    return msg.split("\n", 1)[0]


@contextmanager
def translating(
    what: str, *, kind: str = "", name: str = "", namespace: str = ""
) -> Iterator[None]:
    """Run one API call; map its errors. ``what`` reads like "get Service hello in ns web".

    ``kind``, ``name`` and ``namespace`` name the object (or, for a list, the kind) on the
    :class:`NotFoundError` and :class:`ForbiddenError` raised, so callers can tell which
    object was missing or refused without reading the message.
    """
    try:
        yield
    except KprismError:
        raise
    except ApiError as exc:
        code = exc.status.code or 0
        detail = _describe(exc)
        if code == 404:
            raise NotFoundError(
                f"cannot {what}: not found ({detail})", kind=kind, name=name, namespace=namespace
            ) from exc
        if code == 403:
            raise ForbiddenError(
                f"forbidden: cannot {what}: {detail} — grant this verb in the app's Role "
                "(see docs/rbac.md)",
                kind=kind,
            ) from exc
        if code == 401:
            raise ClusterError(
                f"unauthorized: cannot {what}: check your kubeconfig credentials"
            ) from exc
        if code == 409:
            raise ConflictError(f"conflict: cannot {what}: {detail}") from exc
        if code in (400, 422):
            raise UsageError(f"the API server rejected: {what}: {detail}") from exc
        if code == 429 or code >= 500:
            raise TransientError(f"cannot {what}: HTTP {code}: {detail}") from exc
        raise ClusterError(f"cannot {what}: HTTP {code}: {detail}") from exc
    except httpx2.HTTPStatusError as exc:
        code = exc.response.status_code
        if code == 404:
            raise ResourceTypeMissing(
                f"cannot {what}: the API server does not serve {kind or 'this resource type'}",
                kind=kind,
            ) from exc
        raise UsageError(f"cannot {what}: HTTP {code} from the API server") from exc
    except httpx2.TransportError as exc:
        raise TransientError(f"cannot {what}: the API server is unreachable ({exc})") from exc
