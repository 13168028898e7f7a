"""``kprism controller``: run the in-cluster controller (docs/controller.md).

Loaded by module path, as the dashboard is: the CLI never imports the controller's
package, so ``kprism --help`` stays fast and the layers stay apart.
"""

from __future__ import annotations

import importlib
from typing import Annotated

import typer

from kprism.cli.app import TRACK_LABEL, Cli, KprismCommand, TrackLabel, _epilog, app

EXAMPLES = [
    "kprism controller                                  # every namespace",
    "kprism controller --namespace shop --namespace web --selector tier=frontend",
    "kprism controller --exclude-namespace kube-system --shards 3 --shard-index 0",
]


# Registered by hand, not with cli.app.command: here -n/--namespace is repeatable and
# names the namespaces to drive (the connection has no default namespace to set).
@app.command("controller", cls=KprismCommand, epilog=_epilog(EXAMPLES))
def controller(
    ctx: typer.Context,
    namespaces: Annotated[
        list[str] | None,
        typer.Option(
            "--namespace",
            "-n",
            metavar="NAMESPACE",
            help="Only drive apps in this namespace; repeatable (default: every namespace).",
            show_default=False,
        ),
    ] = None,
    exclude: Annotated[
        list[str] | None,
        typer.Option(
            "--exclude-namespace",
            metavar="NAMESPACE",
            help="Never drive apps in this namespace; repeatable.",
            show_default=False,
        ),
    ] = None,
    selector: Annotated[
        str,
        typer.Option(
            "--selector",
            "-l",
            metavar="SELECTOR",
            help="Only apps whose Service labels match, e.g. tier=web,team in (a,b).",
            show_default=False,
        ),
    ] = "",
    shards: Annotated[
        int,
        typer.Option("--shards", metavar="N", min=1, help="Split the apps into N shards."),
    ] = 1,
    shard_index: Annotated[
        int,
        typer.Option(
            "--shard-index", metavar="I", min=0, help="The shard this replica drives (0…N-1)."
        ),
    ] = 0,
    lease_namespace: Annotated[
        str | None,
        typer.Option(
            "--lease-namespace",
            metavar="NAMESPACE",
            help="Namespace of the leader-election Lease (default: the pod's, or kprism-system).",
            show_default=False,
        ),
    ] = None,
    workers: Annotated[
        int,
        typer.Option(
            "--workers", metavar="N", min=1, max=256, help="Apps handled at the same time."
        ),
    ] = 4,
    log_format: Annotated[
        str,
        typer.Option("--log-format", metavar="json|text", help="Log lines on stderr."),
    ] = "json",
    health_port: Annotated[
        int,
        typer.Option(
            "--health-port",
            metavar="PORT",
            min=0,
            max=65535,
            help="Serve /healthz, /readyz and /metrics on this port (0: not at all).",
        ),
    ] = 0,
    health_address: Annotated[
        str,
        typer.Option(
            "--health-address",
            metavar="ADDRESS",
            help="Address for --health-port (in a pod: 0.0.0.0).",
        ),
    ] = "127.0.0.1",
    track_label: TrackLabel = TRACK_LABEL,
    kubeconfig: Annotated[
        str | None,
        typer.Option(
            "--kubeconfig",
            metavar="PATH",
            help="Path to the kubeconfig file (default: in-cluster, $KUBECONFIG, ~/.kube/config).",
            show_default=False,
        ),
    ] = None,
    context: Annotated[
        str | None,
        typer.Option(
            "--context", metavar="CONTEXT", help="kubeconfig context to use.", show_default=False
        ),
    ] = None,
) -> None:
    """Drive every release in the cluster (or in the namespaces given): resume abandoned
    ones, act on intents, take releases handed over by `kprism release`, and release
    GitOps source Deployments. Runs until SIGTERM."""
    from kprism.errors import UsageError

    if log_format not in ("json", "text"):
        raise UsageError(f"--log-format {log_format!r}: use json or text")
    cli = Cli.of(ctx).merged(kubeconfig=kubeconfig, context=context)
    watched = list(namespaces or [])
    if cli.namespace and not watched:  # `kprism -n shop controller`
        watched = [cli.namespace]
    runner = importlib.import_module("kprism.controller.run")
    runner.run(
        kubeconfig=cli.kubeconfig,
        context=cli.context,
        namespaces=watched,
        exclude=list(exclude or []),
        selector=selector,
        shards=shards,
        shard_index=shard_index,
        lease_namespace=lease_namespace,
        workers=workers,
        track_label=track_label,
        health_address=health_address,
        health_port=health_port,
        log_format=log_format,
    )
