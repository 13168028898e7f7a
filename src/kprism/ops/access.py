"""Who a dashboard user is and what they may do, asked of the API server.

:func:`review_token` checks a bearer token with a TokenReview (the caller's own
credentials); :func:`permissions` asks, as the connection's user (impersonated when the
connection was opened with ``connect(as_user=...)``), whether they may do each verb on
each resource type in a namespace (SelfSubjectAccessReviews). The dashboard decides
with the answers (:mod:`kprism.web.auth`); the API server still authorizes every request
itself.
"""

from __future__ import annotations

from collections.abc import Iterable

from kprism.kube.client import Kube

__all__ = ["permissions", "review_token"]


def review_token(kube: Kube, token: str) -> tuple[str, tuple[str, ...]] | None:
    """(user, groups) the token authenticates as, or None when the API server refuses it."""
    return kube.review_token(token)


def permissions(
    kube: Kube, namespace: str, needs: Iterable[tuple[str, str, str]]
) -> dict[tuple[str, str, str], bool]:
    """For each (verb, resource, API group): may the connection's user do it in
    ``namespace``? One SelfSubjectAccessReview each."""
    return {
        (verb, resource, group): kube.may(verb, resource, group=group, namespace=namespace)[0]
        for verb, resource, group in needs
    }
