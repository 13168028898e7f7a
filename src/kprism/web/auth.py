"""Who uses the dashboard, and what they may do: sign-in, sessions, CSRF, permissions.

``kprism web --auth MODE`` (docs/dashboard.md, "Sign-in and RBAC"):

``none``   one user, the kubeconfig's (the default; for 127.0.0.1).
``token``  users sign in with a Kubernetes bearer token; the server checks it with a
           TokenReview (its own credentials) and keeps only the identity it names.
``proxy``  an auth proxy in front (oauth2-proxy style) names the user in headers;
           they are believed only from the configured source addresses.

Either way every read and action then runs **as the user**: the server's connection
sends ``Impersonate-User``/``Impersonate-Group`` (:func:`kprism.ops.connect`), so the
API server applies the team's RBAC to each request and writes the user in its audit
log. The token itself is never stored — not in the cookie, not in memory, not in logs.

This module is pure (no I/O): the signed session cookie (:class:`Sessions`), the CSRF
check (:func:`csrf_ok`), trusted-proxy matching (:class:`TrustedProxies`), the
forwarded identity (:func:`forwarded_identity`) and what each action needs
(:data:`NEEDS`, :func:`refusal`).
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from pydantic import BaseModel, ConfigDict, Field

from kprism.errors import UsageError

#: The session cookie's name.
COOKIE = "kprism_session"
#: The header a state change carries with the session's CSRF token.
CSRF_TOKEN_HEADER = "x-kprism-csrf"  # noqa: S105 (a header name)
#: How long a session lasts (seconds) unless told otherwise.
SESSION_SECONDS = 8 * 3600


class LoginForm(BaseModel):
    """``POST /api/login``: the bearer token (never echoed back, never logged)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    token: str = Field(min_length=1, max_length=16384)


class AuthMode(StrEnum):
    NONE = "none"
    TOKEN = "token"  # noqa: S105 (a mode name)
    PROXY = "proxy"


@dataclass(frozen=True)
class Identity:
    """A user as the API server knows them (TokenReview) or the proxy names them."""

    user: str
    groups: tuple[str, ...] = ()


@dataclass(frozen=True)
class Session:
    identity: Identity
    csrf: str  # the synchronizer token state changes must send back


class SessionError(Exception):
    """A cookie that is not a valid session; ``reason`` is for the 401's message."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Sessions:
    """Signed session cookies (itsdangerous: HMAC-SHA1 over the payload and its time).

    The cookie holds the identity and a random CSRF token — nothing secret about the
    cluster: a forged or altered cookie fails the signature, an old one expires after
    ``max_age`` seconds. The secret is random per process unless given (replicas
    behind one Service must share it: ``KPRISM_WEB_SECRET``)."""

    def __init__(self, secret: str | bytes | None = None, *, max_age: int = SESSION_SECONDS):
        if max_age <= 0:
            raise UsageError(f"the session lifetime must be positive, not {max_age}")
        self.max_age = max_age
        self._signer = URLSafeTimedSerializer(
            secret or secrets.token_bytes(32), salt="kprism-session"
        )

    def issue(self, identity: Identity) -> tuple[str, Session]:
        """A new session for ``identity``: the cookie value and the session it holds."""
        session = Session(identity=identity, csrf=secrets.token_urlsafe(32))
        value = self._signer.dumps(
            {"u": identity.user, "g": list(identity.groups), "c": session.csrf}
        )
        return value, session

    def read(self, value: str | None) -> Session:
        """The session in a cookie; :class:`SessionError` if there is none, it was
        altered or forged, or it expired."""
        if not value:
            raise SessionError("not signed in")
        try:
            data = self._signer.loads(value, max_age=self.max_age)
        except SignatureExpired as exc:
            raise SessionError("the session expired: sign in again") from exc
        except BadSignature as exc:
            raise SessionError("the session cookie is not valid: sign in again") from exc
        user, groups, csrf = (data.get(k) if isinstance(data, dict) else None for k in "ugc")
        if not (isinstance(user, str) and user and isinstance(csrf, str) and csrf):
            raise SessionError("the session cookie is not valid: sign in again")
        if not isinstance(groups, list):
            raise SessionError("the session cookie is not valid: sign in again")
        identity = Identity(user=user, groups=tuple(str(g) for g in groups))
        return Session(identity=identity, csrf=csrf)


def csrf_ok(session: Session, header: str | None) -> bool:
    """Whether a state change carries its session's CSRF token (constant-time compare)."""
    return bool(header) and hmac.compare_digest(session.csrf.encode(), (header or "").encode())


class TrustedProxies:
    """The source addresses whose identity headers are believed (``--trusted-proxy``)."""

    def __init__(self, cidrs: Iterable[str]) -> None:
        nets = []
        for cidr in cidrs:
            try:
                nets.append(ipaddress.ip_network(cidr.strip(), strict=False))
            except ValueError as exc:
                raise UsageError(
                    f"--trusted-proxy {cidr!r} is not an address or network (e.g. 127.0.0.1/32)"
                ) from exc
        self.networks = tuple(nets)

    def trusts(self, address: str | None) -> bool:
        if not address:
            return False
        try:
            ip = ipaddress.ip_address(address.strip("[]"))
        except ValueError:
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return any(ip.version == net.version and ip in net for net in self.networks)


def forwarded_identity(
    headers: Mapping[str, str], *, user_header: str, groups_header: str
) -> Identity | None:
    """The user an auth proxy names (``X-Forwarded-User``, comma-separated groups);
    None when it names nobody. Only call it for a trusted source."""
    user = (headers.get(user_header) or "").strip()
    if not user:
        return None
    groups = tuple(g.strip() for g in (headers.get(groups_header) or "").split(",") if g.strip())
    return Identity(user=user, groups=groups)


# -- what an action needs ---------------------------------------------------------------


@dataclass(frozen=True)
class Need:
    """One verb on one resource type, in the app's namespace."""

    verb: str
    resource: str
    group: str = ""

    def text(self) -> str:
        return f"{self.verb} {self.resource}"


_SERVICES = Need("patch", "services")
_DEPLOYMENTS = Need("patch", "deployments", "apps")
_LEASES = Need("update", "leases", "coordination.k8s.io")

#: What each dashboard action needs in the app's namespace (asked with
#: SelfSubjectAccessReviews as the user). Intents write an annotation on the Service;
#: what the dashboard then drives itself (a release, a rollback, a resumed release,
#: a split) also takes the app's Lease and changes Deployments.
NEEDS: dict[str, tuple[Need, ...]] = {
    "release": (_SERVICES, Need("create", "deployments", "apps"), _DEPLOYMENTS, _LEASES),
    "promote": (_SERVICES,),
    "promote-full": (_SERVICES,),
    "pause": (_SERVICES,),
    "abort": (_SERVICES,),
    "resume": (_SERVICES, _DEPLOYMENTS, _LEASES),
    "rollback": (_SERVICES, _DEPLOYMENTS, _LEASES),
    "split": (_SERVICES, _DEPLOYMENTS, _LEASES),
    "scale": (_DEPLOYMENTS,),
    "clone": (Need("create", "deployments", "apps"),),
}


def all_needs() -> list[Need]:
    """Every distinct need of :data:`NEEDS`, in a stable order (one review each)."""
    seen: dict[Need, None] = {}
    for needs in NEEDS.values():
        for need in needs:
            seen.setdefault(need)
    return list(seen)


def refusal(action: str, namespace: str, allowed: Mapping[Need, bool]) -> str | None:
    """Why the user may not do ``action`` in ``namespace`` (the first need refused),
    or None if they may: ``you may not patch services in shop``."""
    for need in NEEDS[action]:
        if not allowed.get(need, False):
            return f"you may not {need.text()} in {namespace}"
    return None
