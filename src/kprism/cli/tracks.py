"""Tracks outside a release: ``adopt``, ``clone``, ``split``, ``scale``."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from kprism.cli.app import AppArg, AppTrackLabel, Cli, command, seconds
from kprism.cli.release import Envs, Images, PatchFile, spec_args
from kprism.model.routing import DEFAULT_ROUTER

#: ``ops.MAX_REPLICAS`` (a Deployment's replicas is an int32; a unit test keeps them equal)
MAX_REPLICAS = 2**31 - 1

OpTimeout = Annotated[
    float,
    typer.Option(
        "--timeout",
        metavar="SECONDS",
        parser=seconds("--timeout"),
        help="Give up after this many seconds (exit 1).",
    ),
]


def _replicas(help_text: str) -> Any:
    return typer.Option("--replicas", metavar="N", min=0, max=MAX_REPLICAS, help=help_text)


def _done(cli: Cli, message: str, **data: object) -> None:
    from kprism.cli import render

    if cli.machine:
        render.emit({**data, "message": message}, cli.output.value)
    else:
        render.out.print(message, markup=False)


@command(
    "adopt",
    examples=["kprism -n shop adopt web", "kprism adopt web --track stable --track-label version"],
)
def adopt(
    cli: Cli,
    app_name: AppArg,
    track: Annotated[
        str, typer.Option("--track", metavar="TRACK", help="Track name the live version gets.")
    ] = "blue",
    timeout: OpTimeout = 300.0,
    track_label: AppTrackLabel = None,
) -> None:
    """Bring an existing Deployment + Service into track form with zero downtime."""
    from kprism import ops
    from kprism.cli import render

    kube, ref = cli.open_app(app_name, track_label=track_label)
    message = ops.adopt(
        kube, ref, track=track, timeout=timeout, on_progress=render.lines(quiet=cli.machine)
    )
    _done(cli, message, app=app_name, track=track)


@command(
    "clone",
    examples=[
        "kprism -n shop clone web --track red --image registry.example/web:2.5.0-rc1",
        "kprism clone web --track canary -i web=web:2 --replicas 2",
    ],
)
def clone(
    cli: Cli,
    app_name: AppArg,
    track: Annotated[
        str, typer.Option("--track", metavar="TRACK", help="New track name, e.g. red.")
    ],
    image: Images = None,
    set_env: Envs = None,
    patch_file: PatchFile = None,
    replicas: Annotated[int, _replicas("Replicas of the new track.")] = 1,
    track_label: AppTrackLabel = None,
) -> None:
    """Clone the serving track into a new track with a change, without traffic."""
    from kprism import ops

    change = spec_args(image=image, set_env=set_env, patch_file=patch_file).to_spec().change
    kube, ref = cli.open_app(app_name, track_label=track_label)
    message = ops.clone(kube, ref, track=track, change=change, replicas=replicas)
    _done(cli, message, app=app_name, track=track)


@command(
    "split",
    examples=[
        "kprism -n shop split web blue=80 green=15 red=5",
        "kprism split web blue=50 red=50 --router gateway --httproute web",
    ],
)
def split(
    cli: Cli,
    app_name: AppArg,
    weights: Annotated[
        list[str],
        typer.Argument(
            metavar="TRACK=PERCENT...",
            help="Weight per track, summing to 100.",
            show_default=False,
        ),
    ],
    router: Annotated[
        str,
        typer.Option("--router", metavar="ROUTER", help="replicas (pod ratio), gateway or nginx."),
    ] = DEFAULT_ROUTER,
    httproute: Annotated[
        str | None,
        typer.Option(
            "--httproute",
            metavar="NAME",
            help="HTTPRoute for --router gateway.",
            show_default=False,
        ),
    ] = None,
    ingress: Annotated[
        str | None,
        typer.Option(
            "--ingress", metavar="NAME", help="Ingress for --router nginx.", show_default=False
        ),
    ] = None,
    timeout: OpTimeout = 300.0,
    track_label: AppTrackLabel = None,
) -> None:
    """Rainbow: split traffic over several live tracks, e.g. blue=80 green=15 red=5."""
    from kprism import ops
    from kprism.cli import render

    parsed = ops.parse_weights(weights)
    kube, ref = cli.open_app(app_name, track_label=track_label)
    options = {k: v for k, v in {"httproute": httproute, "ingress": ingress}.items() if v}
    message = ops.split(
        kube,
        ref,
        parsed,
        router=router,
        router_options=options,
        timeout=timeout,
        on_progress=render.lines(quiet=cli.machine),
    )
    _done(cli, message, app=app_name, weights=parsed)


@command(
    "scale",
    examples=[
        "kprism -n shop scale web --track red --replicas 3",
        "kprism scale web --track green --replicas 0",
    ],
)
def scale(
    cli: Cli,
    app_name: AppArg,
    track: Annotated[str, typer.Option("--track", metavar="TRACK", help="Track to scale.")],
    replicas: Annotated[int, _replicas("New replica count.")],
    track_label: AppTrackLabel = None,
) -> None:
    """Scale one track of the app (not one a release in progress uses)."""
    from kprism import ops
    from kprism.cli import render

    kube, ref = cli.open_app(app_name, track_label=track_label)
    dep = ops.scale(kube, ref, track=track, replicas=replicas)
    if cli.machine:
        render.emit(
            {"deployment": dep.name, "track": track, "replicas": replicas}, cli.output.value
        )
    else:
        render.out.print(
            f"scaled {dep.name} ({ref.track_label}={track}) to {replicas}", markup=False
        )
