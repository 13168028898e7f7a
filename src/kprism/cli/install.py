"""``kprism install``: print the controller's manifests (docs/controller.md § Install)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from kprism.cli.app import Cli, KprismCommand, Output, _epilog, app

EXAMPLES = [
    "kprism install | kubectl apply -f -                 # every namespace (a ClusterRole)",
    "kprism install -n shop -n web | kubectl apply -f -  # a Role in each",
    "kprism install --shards 3 --replicas 2 --image registry.example/kprism:0.1.0 -o json",
    "kprism install --dashboard | kubectl apply -f -     # and the dashboard: users sign in",
]


# Registered by hand: -n/--namespace is repeatable and names the namespaces to watch.
@app.command("install", cls=KprismCommand, epilog=_epilog(EXAMPLES))
def install(
    ctx: typer.Context,
    namespaces: Annotated[
        list[str] | None,
        typer.Option(
            "--namespace",
            "-n",
            metavar="NAMESPACE",
            help="Watch only this namespace (a Role and RoleBinding in it); repeatable "
            "(default: every namespace, a ClusterRole).",
            show_default=False,
        ),
    ] = None,
    controller_namespace: Annotated[
        str,
        typer.Option(
            "--controller-namespace",
            metavar="NAMESPACE",
            help="Namespace the controller runs in (and its Leases).",
        ),
    ] = "kprism-system",
    image: Annotated[
        str | None,
        typer.Option(
            "--image",
            metavar="IMAGE",
            help="The controller's image (built from deploy/Dockerfile).",
            show_default=False,
        ),
    ] = None,
    replicas: Annotated[
        int,
        typer.Option("--replicas", metavar="N", help="Replicas per shard: one leads."),
    ] = 2,
    shards: Annotated[
        int,
        typer.Option("--shards", metavar="N", help="Split the apps into N shards."),
    ] = 1,
    dashboard: Annotated[
        bool,
        typer.Option(
            "--dashboard",
            help="Also the dashboard (kprism web --auth token: users sign in, their RBAC "
            "decides), its ServiceAccount (TokenReview, impersonation) and a Service.",
        ),
    ] = False,
    output: Annotated[
        str | None,
        typer.Option("--output", "-o", metavar="yaml|json", help="Output format (default: yaml)."),
    ] = None,
) -> None:
    """Print the in-cluster controller's manifests (for kubectl apply).

    Namespace, ServiceAccount, RBAC (a ClusterRole, or a Role per --namespace), a
    Deployment per shard and a PodDisruptionBudget (with --dashboard: the dashboard's
    Deployment, Service and RBAC); nothing is sent to the cluster."""
    from kprism.errors import UsageError
    from kprism.ops import install as ops

    cli = Cli.of(ctx)
    fmt = output or ("json" if cli.output is Output.json else "yaml")
    if fmt not in ("yaml", "json"):
        raise UsageError(f"-o {fmt}: use yaml or json")
    watched = list(namespaces or [])
    if cli.namespace and not watched:  # `kprism -n shop install`
        watched = [cli.namespace]
    defaults = ops.InstallOptions()
    options = ops.InstallOptions(
        namespace=controller_namespace,
        namespaces=tuple(watched),
        image=image or defaults.image,
        replicas=replicas,
        shards=shards,
        dashboard=dashboard,
    )
    sys.stdout.write(ops.install_manifests(options, fmt))
