"""``kprism web``: the dashboard, loaded by module path so the two shells stay
independent (the dashboard never imports the CLI) and the CLI works without the ``web``
extra installed."""

from __future__ import annotations

import importlib
from typing import Annotated

import typer

from kprism.cli.app import Cli, command
from kprism.errors import UsageError


@command(
    "web",
    output=False,
    examples=["kprism -n shop web", "kprism web --port 9000 --context staging"],
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
) -> None:
    """Serve the web dashboard (the release platform) until Ctrl-C."""
    try:
        web_app = importlib.import_module("kprism.web.app")
    except ImportError as exc:
        raise UsageError(
            f"the dashboard needs the web extra: pip install 'kprism[web]' ({exc})"
        ) from exc
    web_app.serve(
        host=host,
        port=port,
        kubeconfig=cli.kubeconfig,
        context=cli.context,
        namespace=cli.namespace,
    )
