"""Releases and their intents: ``release``, ``plan``, ``promote``, ``abort``, ``pause``,
``resume``, ``rollback``."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from kprism.cli.app import (
    AppArg,
    AppTrackLabel,
    Cli,
    Output,
    StrategyName,
    Timeout,
    command,
    seconds,
)
from kprism.errors import UsageError
from kprism.model.routing import DEFAULT_ROUTER

if TYPE_CHECKING:
    from kprism import ops
    from kprism.model.release import Action, ReleaseStatus

#: how long promote/abort/pause wait for an engine elsewhere to take the intent
INTENT_WAIT = 30.0

Images = Annotated[
    list[str] | None,
    typer.Option(
        "--image",
        "-i",
        metavar="[CONTAINER=]IMAGE",
        help="New image (for the only container, or the one named); repeatable.",
        show_default=False,
    ),
]
Envs = Annotated[
    list[str] | None,
    typer.Option(
        "--set-env",
        metavar="[CONTAINER:]NAME=VALUE",
        help="Set an environment variable; repeatable.",
        show_default=False,
    ),
]
PatchFile = Annotated[
    Path | None,
    typer.Option(
        "--patch-file",
        metavar="FILE",
        help="YAML merged into the pod template (metadata, spec).",
        show_default=False,
    ),
]
ScaleDownDelay = Annotated[
    float,
    typer.Option(
        "--scale-down-delay",
        metavar="SECONDS",
        parser=seconds("--scale-down-delay", minimum=0),
        help="Seconds to keep the old track after the verified cutover.",
    ),
]
Reason = Annotated[
    str,
    typer.Option("--reason", metavar="TEXT", help="Recorded with the intent.", show_default=False),
]


def read_file(path: Path, flag: str) -> str:
    """The text of a file named by ``flag``; one line naming it when it cannot be read."""
    try:
        return path.read_text()
    except OSError as exc:
        raise UsageError(f"{flag} {path}: {exc.strerror or exc}") from exc
    except ValueError as exc:  # a NUL byte in the path, or a file that is not text
        raise UsageError(f"{flag} {str(path)!r}: {exc}") from exc


def _fail_fast(text: str) -> float:
    """``--fail-fast-after``: 30s, 2m, 45, or 0/never (off); one line naming the flag."""
    from kprism.errors import KprismError
    from kprism.model.release import fail_fast_seconds

    try:
        return fail_fast_seconds(text, name="--fail-fast-after")
    except KprismError as exc:
        raise typer.BadParameter(str(exc).removeprefix("--fail-fast-after ")) from None


def spec_args(
    *,
    image: list[str] | None = None,
    set_env: list[str] | None = None,
    patch_file: Path | None = None,
    **fields: Any,
) -> ops.SpecArgs:
    """The release options as :class:`ops.SpecArgs` (whose ``to_spec`` checks them)."""
    from kprism import ops

    patch = (
        ops.parse_patch(read_file(patch_file, "--patch-file"), source=f"--patch-file {patch_file}")
        if patch_file is not None
        else {}
    )
    return ops.SpecArgs(
        images=[ops.parse_image_arg(i) for i in image or []],
        env=[ops.parse_env_arg(e) for e in set_env or []],
        patch=patch,
        **fields,
    )


def print_status(st: ReleaseStatus, fmt: Output) -> None:
    from rich.markup import escape

    from kprism.cli import render
    from kprism.model.release import status_to_json

    if fmt is not Output.table:
        render.emit(status_to_json(st), fmt.value)
        return
    colour = {"Succeeded": "green", "Failed": "red", "Aborted": "yellow"}.get(
        st.phase.value, "cyan"
    )
    render.out.print(
        f"[bold {colour}]{st.phase.value}[/] {st.kind.value} {st.id}: {escape(st.message)}",
        markup=True,
    )


def show_plan(plan: ops.ReleasePlan, fmt: Output) -> None:
    from kprism.cli import render

    if fmt is not Output.table:
        render.emit(plan.to_dict(), fmt.value)
        return
    for warning in plan.warnings:
        render.warn(warning)
    st = plan.status
    render.out.print(
        f"release of {st.stable_deployment} ({st.stable}) into {st.candidate} — dry run, nothing changed:",
        markup=False,
    )
    for i, step in enumerate(plan.steps, 1):
        render.out.print(f"  {i}. {step}", markup=False)


@command(
    "release",
    examples=[
        "kprism -n shop release web --image registry.example/web:2.4.1 --preview",
        "kprism release web -i web=registry.example/web:2.4.1 --set-env web:LOG=debug",
        "kprism release web --image web:2 --steps 10,25,50,100 --pause 2m",
        "kprism release web -f release.yaml --router gateway --httproute web",
        "kprism release web --image web:2 --steps 25,50,100 --check-prom 'QUERY' --max 0.05",
        "kprism release web --image web:2 --notify https://hooks.example/kprism",
        "kprism release web --image web:2 --auto-promote --scale-down-delay 60 -o json",
    ],
)
def release(
    cli: Cli,
    app_name: AppArg,
    image: Images = None,
    set_env: Envs = None,
    patch_file: PatchFile = None,
    strategy: Annotated[
        StrategyName,
        typer.Option("--strategy", metavar="bluegreen|canary", help="Release strategy."),
    ] = StrategyName.bluegreen,
    preview: Annotated[
        bool,
        typer.Option(
            "--preview", help="Expose the new track on Service APP-preview before promotion."
        ),
    ] = False,
    auto_promote: Annotated[
        bool,
        typer.Option("--auto-promote", help="Switch traffic as soon as the new track is ready."),
    ] = False,
    scale_down_delay: Annotated[
        float | None,
        typer.Option(
            "--scale-down-delay",
            metavar="SECONDS",
            parser=seconds("--scale-down-delay", minimum=0),
            help="Seconds to keep the old track after the verified cutover "
            "(default: the release file's scaleDownDelay, else 30).",
            show_default=False,
        ),
    ] = None,
    ready_timeout: Annotated[
        float,
        typer.Option(
            "--ready-timeout",
            metavar="SECONDS",
            parser=seconds("--ready-timeout"),
            help="Seconds the new track may take to become ready.",
        ),
    ] = 600.0,
    fail_fast_after: Annotated[
        float,
        typer.Option(
            "--fail-fast-after",
            metavar="DURATION",
            parser=_fail_fast,
            help="Fail the release once a new pod has been stuck this long (ImagePullBackOff, "
            "CrashLoopBackOff, ...) instead of waiting for --ready-timeout; 0 or never: off.",
        ),
    ] = 30.0,  # kprism.model.release.DEFAULT_FAIL_FAST_AFTER (not imported: fast --help)
    track: Annotated[
        str | None,
        typer.Option(
            "--track",
            metavar="TRACK",
            help="Track to release into (default: the idle one).",
            show_default=False,
        ),
    ] = None,
    steps: Annotated[
        str | None,
        typer.Option(
            "--steps",
            metavar="W1,W2,...,100",
            help="Canary weights, e.g. 10,25,50,100 (implies --strategy canary).",
            show_default=False,
        ),
    ] = None,
    pause: Annotated[
        str | None,
        typer.Option(
            "--pause",
            metavar="DURATION",
            help="Canary pause after each step but the last, e.g. 30s, 2m.",
            show_default=False,
        ),
    ] = None,
    spec_file: Annotated[
        Path | None,
        typer.Option(
            "--file",
            "-f",
            metavar="FILE",
            help="Release file YAML: canary steps (maxSurge, autoPromote, analysis), or "
            "blue-green prePromotion/postPromotion; analysisTemplates, notify.",
            show_default=False,
        ),
    ] = None,
    max_surge: Annotated[
        str | None,
        typer.Option(
            "--max-surge",
            metavar="PODS|PERCENT",
            help="Canary surge bound: pods, or percent of stable (default: 25%).",
            show_default=False,
        ),
    ] = None,
    router: Annotated[
        str,
        typer.Option(
            "--router", metavar="ROUTER", help="Canary traffic router: replicas, gateway or nginx."
        ),
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
    canary_header: Annotated[
        str | None,
        typer.Option(
            "--canary-header",
            metavar="HEADER",
            help="nginx: also route requests with this header to the canary.",
            show_default=False,
        ),
    ] = None,
    check_prom: Annotated[
        list[str] | None,
        typer.Option(
            "--check-prom",
            metavar="PROMQL",
            help="Analysis: gate each canary step (blue-green: the scale-down delay after the "
            "switch) on this query; its first value must stay within --max/--min. Repeatable.",
            show_default=False,
        ),
    ] = None,
    check_http: Annotated[
        list[str] | None,
        typer.Option(
            "--check-http",
            metavar="URL",
            help="Analysis: gate like --check-prom on this URL answering 2xx. Repeatable.",
            show_default=False,
        ),
    ] = None,
    check_max: Annotated[
        float | None,
        typer.Option(
            "--max", metavar="NUMBER", help="--check-prom passes up to this.", show_default=False
        ),
    ] = None,
    check_min: Annotated[
        float | None,
        typer.Option(
            "--min", metavar="NUMBER", help="--check-prom passes from this.", show_default=False
        ),
    ] = None,
    prometheus: Annotated[
        str | None,
        typer.Option(
            "--prometheus",
            metavar="URL",
            help="Prometheus for --check-prom (default: $PROMETHEUS_URL where the engine runs).",
            show_default=False,
        ),
    ] = None,
    notify: Annotated[
        list[str] | None,
        typer.Option(
            "--notify",
            metavar="URL",
            help="POST this release's events as JSON to URL (besides the namespace's "
            "receivers; more options: notify: in -f FILE). Repeatable.",
            show_default=False,
        ),
    ] = None,
    stable: Annotated[
        str | None,
        typer.Option(
            "--stable",
            metavar="TRACK",
            help="The serving track, when the Service does not pin one.",
            show_default=False,
        ),
    ] = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force", help="Release despite pre-flight errors (e.g. an HPA on the track)."
        ),
    ] = False,
    wait: Annotated[
        bool,
        typer.Option(
            "--wait/--no-wait",
            help="Wait until the release is over, or stop when it needs an operator.",
        ),
    ] = True,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the plan; change nothing.")
    ] = False,
    timeout: Timeout = None,
    track_label: AppTrackLabel = None,
) -> None:
    """Release a new version into the idle track and switch traffic to it (blue-green), or
    shift traffic to it in steps (canary: --steps or -f)."""
    from kprism import ops
    from kprism.cli import render
    from kprism.model.release import Strategy

    args = spec_args(
        image=image,
        set_env=set_env,
        patch_file=patch_file,
        strategy=Strategy(strategy.value),
        preview=preview,
        auto_promote=auto_promote,
        scale_down_delay=scale_down_delay,
        ready_timeout=ready_timeout,
        fail_fast_after=fail_fast_after,
        track=track,
        router=router,
        router_options={
            k: v
            for k, v in {
                "httproute": httproute,
                "ingress": ingress,
                "header": canary_header,
            }.items()
            if v
        },
        steps=steps,
        pause=pause,
        max_surge=max_surge,
        canary_yaml=read_file(spec_file, "-f") if spec_file is not None else None,
        canary_source=str(spec_file),
        check_prom=check_prom or (),
        check_http=check_http or (),
        check_max=check_max,
        check_min=check_min,
        prometheus_url=prometheus,
        notify=notify or (),
    )
    spec = args.to_spec()  # bad input: refused before anything is read or written
    kube, ref = cli.open_app(app_name, track_label=track_label)
    if dry_run:
        show_plan(ops.plan_release(kube, ref, spec, stable_track=stable, force=force), cli.output)
        return
    with render.Progress(quiet=cli.machine) as progress:
        # a controller covering the app drives it: hand the release over and follow it
        handed = ops.release_via_controller(
            kube,
            ref,
            spec,
            stable_track=stable,
            force=force,
            wait=wait,
            on_tick=progress,
            timeout=timeout,
            on_warning=render.warn,
            on_handover=lambda h: render.note(
                f"release {h.status.id} handed over to the controller {h.controller}"
                + ("; following it (Ctrl-C leaves it running)" if wait else "")
            ),
        )
        st = handed or ops.release(
            kube,
            ref,
            spec,
            stable_track=stable,
            force=force,
            wait=wait,
            on_tick=progress,
            timeout=timeout,
            on_warning=render.warn,
        )
    print_status(st, cli.output)


# `kprism plan` is `kprism release --dry-run` with the same options, minus the waiting ones.
_HIDDEN = {"dry_run", "wait", "timeout"}
_release_sig = inspect.signature(release, eval_str=True)


def plan(cli: Cli, **options: Any) -> None:
    """Dry run: validate a release and print every step it would take (changes nothing)."""
    release(cli, dry_run=True, **options)


plan.__signature__ = _release_sig.replace(  # type: ignore[attr-defined]
    parameters=[p for name, p in _release_sig.parameters.items() if name not in _HIDDEN]
)
command(
    "plan",
    examples=[
        "kprism plan web --image registry.example/web:2.4.1",
        "kprism plan web --image web:2 --steps 10,50,100 -o json",
    ],
)(plan)


def send(
    cli: Cli,
    app_name: str,
    action: Action,
    *,
    reason: str,
    timeout: float | None,
    track_label: str | None,
    accept_drift: bool = False,
) -> tuple[ReleaseStatus, bool]:
    """Send an intent and print the release's state after it was acted on: driven here
    when no engine holds the Lease, else once the engine holding it has taken it. Returns
    that state, and whether it was carried out here. A promote the engine refused because
    the release drifted is an error naming the change."""
    from kprism import ops
    from kprism.cli import render

    kube, ref = cli.open_app(app_name, track_label=track_label)
    with render.Progress(quiet=cli.machine) as progress:
        st = ops.send_intent(
            kube,
            ref,
            action,
            reason=reason,
            on_tick=progress,
            timeout=timeout,
            accept_drift=accept_drift,
        )
    if st.phase.terminal:
        print_status(st, cli.output)  # carried out here: no engine held the Lease
        return st, True
    after, taken = ops.await_intent(kube, ref, timeout=timeout or INTENT_WAIT)
    if after is not None and after.id == st.id:
        st = after
        ops.check_moved_on(st, action, app=app_name, accept_drift=accept_drift)
    if not taken:
        lease = ops.app_status(kube, ref).lease
        holder = lease.holder if lease is not None else "the engine holding the Lease"
        render.warn(
            f"the {action.value} intent is written; {holder} has not taken it yet "
            f"(`kprism status {app_name} -w` shows when it does)"
        )
    print_status(st, cli.output)
    return st, False


@command(
    "promote",
    examples=[
        "kprism -n shop promote web",
        "kprism promote web --full --reason 'metrics look good'",
        "kprism promote web --accept-drift",
    ],
)
def promote(
    cli: Cli,
    app_name: AppArg,
    full: Annotated[
        bool, typer.Option("--full", help="Canary: skip the remaining steps, go to 100%.")
    ] = False,
    accept_drift: Annotated[
        bool,
        typer.Option(
            "--accept-drift",
            help="The release drifted (someone changed what it set): take the cluster as "
            "it is now as the new truth, and promote.",
        ),
    ] = False,
    reason: Reason = "",
    timeout: Timeout = None,
    track_label: AppTrackLabel = None,
) -> None:
    """Promote the release in progress: switch traffic (blue-green) or go to the next step
    (canary). Prints the release's state after the promotion. A release that drifted is
    promoted only with --accept-drift."""
    from kprism.model.release import Action

    action = Action.PROMOTE_FULL if full else Action.PROMOTE
    send(
        cli,
        app_name,
        action,
        reason=reason,
        timeout=timeout,
        track_label=track_label,
        accept_drift=accept_drift,
    )


@command("abort", examples=["kprism -n shop abort web --reason 'errors on /checkout'"])
def abort(
    cli: Cli,
    app_name: AppArg,
    reason: Reason = "",
    timeout: Timeout = None,
    track_label: AppTrackLabel = None,
) -> None:
    """Abort the release in progress: traffic stays on (or returns to) stable. Handed to the
    engine driving the release, exits 0; carried out here (no engine held the Lease),
    exits 1 like the release it ended."""
    from kprism import ops
    from kprism.cli import render
    from kprism.model.operation import operation_to_json
    from kprism.model.release import Action

    kube, ref = cli.open_app(app_name, track_label=track_label)
    done = ops.abort_operation(  # a split in flight is aborted like a release
        kube,
        ref,
        reason=reason,
        timeout=timeout or 300.0,
        on_progress=render.lines(quiet=cli.machine),
    )
    if done is not None:
        op, here = done
        if cli.machine:
            render.emit(operation_to_json(op), cli.output.value)
        else:
            typer.echo(
                op.message
                if not op.in_flight
                else f"abort of {op.kind.value} {op.id} written; it has not ended yet "
                f"(`kprism status {app_name}` shows it)"
            )
        raise typer.Exit(1 if here else 0)  # carried out here: ended like the split it aborted
    st, here = send(
        cli, app_name, Action.ABORT, reason=reason, timeout=timeout, track_label=track_label
    )
    if here and st.phase.terminal:
        raise typer.Exit(1)


@command("pause", examples=["kprism -n shop pause web --reason 'investigating'"])
def pause(
    cli: Cli,
    app_name: AppArg,
    reason: Reason = "",
    timeout: Timeout = None,
    track_label: AppTrackLabel = None,
) -> None:
    """Pause the release in progress where it is."""
    from kprism.model.release import Action

    send(cli, app_name, Action.PAUSE, reason=reason, timeout=timeout, track_label=track_label)


@command("resume", examples=["kprism -n shop resume web", "kprism resume web --wait-for-lease 60"])
def resume(
    cli: Cli,
    app_name: AppArg,
    wait_for_lease: Annotated[
        float,
        typer.Option(
            "--wait-for-lease",
            metavar="SECONDS",
            parser=seconds("--wait-for-lease", minimum=0),
            help="Seconds to wait for another engine's Lease to expire.",
        ),
    ] = 20.0,
    timeout: Timeout = None,
    track_label: AppTrackLabel = None,
) -> None:
    """Resume a paused, unattended or crashed release and drive it to the end."""
    from kprism import ops
    from kprism.cli import render

    kube, ref = cli.open_app(app_name, track_label=track_label)
    with render.Progress(quiet=cli.machine) as progress:
        st = ops.resume(kube, ref, on_tick=progress, timeout=timeout, wait_for_lease=wait_for_lease)
    print_status(st, cli.output)
    ops.check_outcome(st)


@command(
    "rollback",
    examples=[
        "kprism -n shop rollback web",
        "kprism rollback web --scale-down-delay 0 -o json",
        "kprism rollback web --to 20261130-071500-ab12",
    ],
)
def rollback(
    cli: Cli,
    app_name: AppArg,
    scale_down_delay: ScaleDownDelay = 30.0,
    timeout: Timeout = None,
    track_label: AppTrackLabel = None,
    to: Annotated[
        str | None,
        typer.Option(
            "--to",
            metavar="RELEASE",
            help="Roll back to this earlier release of `kprism history` (its track if it "
            "still runs its images, else its images released onto the serving template).",
        ),
    ] = None,
) -> None:
    """Go back to the previous track (scaling it up and waiting until it is ready first)."""
    from kprism import ops
    from kprism.cli import render

    kube, ref = cli.open_app(app_name, track_label=track_label)
    with render.Progress(quiet=cli.machine) as progress:
        if to is not None:
            st = ops.rollback_to(
                kube, ref, to, on_tick=progress, scale_down_delay=scale_down_delay, timeout=timeout
            )
        else:
            st = ops.rollback(
                kube, ref, on_tick=progress, scale_down_delay=scale_down_delay, timeout=timeout
            )
    print_status(st, cli.output)
