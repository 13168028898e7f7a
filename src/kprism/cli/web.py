"""``kprism web``: the dashboard, loaded by module path so the two shells stay
independent (the dashboard never imports the CLI) and the CLI works without the ``web``
extra installed."""

from __future__ import annotations

import importlib
import os
from typing import Annotated

import typer

from kprism.cli.app import Cli, command
from kprism.errors import UsageError


@command(
    "web",
    output=False,
    examples=[
        "kprism -n shop web",
        "kprism web --port 9000 --context staging",
        "kprism web --host 0.0.0.0 --auth token  # in the cluster: users sign in",
    ],
)
def web(
    cli: Cli,
    host: Annotated[
        str,
        typer.Option(
            "--host", metavar="ADDRESS", help="Address to listen on (loopback unless you say so)."
        ),
    ] = "127.0.0.1",
    port: Annotated[
        int,
        typer.Option(
            "--port", metavar="PORT", min=0, max=65535, help="Port to listen on (0: any free one)."
        ),
    ] = 8080,
    auth: Annotated[
        str,
        typer.Option(
            "--auth",
            metavar="MODE",
            help="Who may use it: none (the kubeconfig's user; local use), token (sign in with "
            "a Kubernetes bearer token, checked by TokenReview), proxy (an auth proxy's "
            "X-Forwarded-User/-Groups). With token/proxy everything runs as the user "
            "(impersonation): their RBAC decides.",
        ),
    ] = "none",
    trusted_proxy: Annotated[
        list[str] | None,
        typer.Option(
            "--trusted-proxy",
            metavar="CIDR",
            help="--auth proxy: source addresses whose identity headers are believed "
            "(repeatable; default 127.0.0.1/32 and ::1/128).",
        ),
    ] = None,
    user_header: Annotated[
        str, typer.Option("--user-header", metavar="NAME", help="--auth proxy: the user header.")
    ] = "X-Forwarded-User",
    groups_header: Annotated[
        str,
        typer.Option(
            "--groups-header", metavar="NAME", help="--auth proxy: the groups header (commas)."
        ),
    ] = "X-Forwarded-Groups",
    secure_cookie: Annotated[
        str,
        typer.Option(
            "--secure-cookie",
            metavar="auto|yes|no",
            help="Mark the session cookie Secure: auto (when served over https, or the proxy "
            "says https), yes (behind TLS termination), no.",
        ),
    ] = "auto",
    session_hours: Annotated[
        float,
        typer.Option(
            "--session-hours", metavar="HOURS", help="How long a sign-in lasts.", min=0.01
        ),
    ] = 8.0,
) -> None:
    """Serve the web dashboard (the release platform) until Ctrl-C.

    The session cookies are signed with $KPRISM_WEB_SECRET (random per process if unset;
    set it when several replicas serve one dashboard)."""
    try:
        web_app = importlib.import_module("kprism.web.app")
    except ImportError as exc:
        raise UsageError(
            f"the dashboard needs the web extra: pip install 'kprism[web]' ({exc})"
        ) from exc
    modes = ("none", "token", "proxy")
    if auth not in modes:
        raise UsageError(f"--auth {auth!r}: use one of {', '.join(modes)}")
    secure = {"auto": None, "yes": True, "no": False}
    if secure_cookie not in secure:
        raise UsageError(f"--secure-cookie {secure_cookie!r}: use auto, yes or no")
    if trusted_proxy and auth != "proxy":
        raise UsageError("--trusted-proxy only applies with --auth proxy")
    config = web_app.AuthConfig(
        mode=web_app.AuthMode(auth),
        secret=os.environ.get("KPRISM_WEB_SECRET") or None,
        session_seconds=max(1, int(session_hours * 3600)),
        secure_cookie=secure[secure_cookie],
        trusted_proxies=tuple(trusted_proxy or ("127.0.0.1/32", "::1/128")),
        user_header=user_header,
        groups_header=groups_header,
    )
    web_app.serve(
        host=host,
        port=port,
        kubeconfig=cli.kubeconfig,
        context=cli.context,
        namespace=cli.namespace,
        auth_config=config,
    )
