"""The ``kprism`` command (also installed as ``kubectl-prism``, so ``kubectl prism`` works).

A thin shell over :mod:`kprism.ops`: it parses arguments, calls the API, renders the
result and maps :class:`kprism.errors.KprismError` to one red line and an exit code
(0 ok, 1 release failed/aborted/rolled back, 2 bad input, 3 cluster unreachable or
forbidden). It never talks to the API server itself.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, ParamSpec, TypeVar

import typer
import yaml
from rich.markup import escape

from kprism import __version__, ops
from kprism.cli import render
from kprism.errors import KprismError, UsageError
from kprism.model.release import Action, ReleaseStatus, Strategy, status_to_json
from kprism.model.routing import DEFAULT_ROUTER

app = typer.Typer(
    name="kprism",
    help="Progressive delivery (blue-green, canary) for plain Kubernetes Deployments and Services.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

P = ParamSpec("P")
R = TypeVar("R")


class Output(StrEnum):
    table = "table"
    json = "json"
    yaml = "yaml"


Namespace = Annotated[
    str | None,
    typer.Option("--namespace", "-n", help="Namespace (default: the kubeconfig context's)."),
]
Context = Annotated[str | None, typer.Option("--context", help="kubeconfig context to use.")]
Kubeconfig = Annotated[
    str | None,
    typer.Option(
        "--kubeconfig", help="Path to the kubeconfig file (default: $KUBECONFIG, ~/.kube/config)."
    ),
]
OutputOpt = Annotated[Output, typer.Option("--output", "-o", help="Output format.")]
TrackLabel = Annotated[str, typer.Option("--track-label", help="Label that tells tracks apart.")]
AppArg = Annotated[
    str, typer.Argument(help="The app: the name of its Service.", show_default=False)
]
Timeout = Annotated[
    float | None,
    typer.Option("--timeout", help="Give up waiting after this many seconds (exit 1)."),
]


def handle_errors(fn: Callable[P, R]) -> Callable[P, R]:
    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except KprismError as exc:
            render.err.print(
                f"[bold red]error:[/] {escape(str(exc))}", markup=True, highlight=False
            )
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            render.err.print(
                "[yellow]interrupted: the release state is in the cluster; `kprism resume` continues it[/]"
            )
            raise typer.Exit(130) from None

    return wrapper


_globals: dict[str, str | None] = {"namespace": None, "context": None, "kubeconfig": None}


def _kube(kubeconfig: str | None, context: str | None, namespace: str | None) -> ops.Kube:
    """Connect; options given after the command win over those given before it."""
    return ops.connect(
        kubeconfig=kubeconfig or _globals["kubeconfig"],
        context=context or _globals["context"],
        namespace=namespace or _globals["namespace"],
    )


def _version(value: bool) -> None:
    if value:
        typer.echo(f"kprism {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", help="Print the version and exit.", callback=_version, is_eager=True
        ),
    ] = False,
    namespace: Namespace = None,
    context: Context = None,
    kubeconfig: Kubeconfig = None,
) -> None:
    """Progressive delivery for plain Kubernetes: no CRDs, no mesh, no controller."""
    _globals.update(namespace=namespace, context=context, kubeconfig=kubeconfig)


@app.command("version")
def version_cmd() -> None:
    """Print the version."""
    typer.echo(f"kprism {__version__}")


def _print_status(st: ReleaseStatus, fmt: Output) -> None:
    if fmt != Output.table:
        render.emit(status_to_json(st), fmt.value)
        return
    colour = {"Succeeded": "green", "Failed": "red", "Aborted": "yellow"}.get(
        st.phase.value, "cyan"
    )
    render.out.print(
        f"[bold {colour}]{st.phase.value}[/] {st.kind.value} {st.id}: {st.message}", markup=True
    )


def _finish(st: ReleaseStatus, fmt: Output) -> None:
    _print_status(st, fmt)


def _load_patch(path: Path | None) -> dict[str, Any]:
    if path is None:
        return {}
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise UsageError(f"--patch-file {path}: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise UsageError(f"--patch-file {path}: not valid YAML ({exc})".replace("\n", " ")) from exc
    if not isinstance(data, dict):
        raise UsageError(f"--patch-file {path}: must be a mapping merged into the pod template")
    return data


@app.command()
@handle_errors
def release(
    app_name: AppArg,
    image: Annotated[
        list[str] | None, typer.Option("--image", "-i", help="[CONTAINER=]IMAGE; repeatable.")
    ] = None,
    set_env: Annotated[
        list[str] | None, typer.Option("--set-env", help="[CONTAINER:]NAME=VALUE; repeatable.")
    ] = None,
    patch_file: Annotated[
        Path | None, typer.Option("--patch-file", help="YAML merged into the pod template.")
    ] = None,
    strategy: Annotated[
        Strategy, typer.Option("--strategy", help="Release strategy.")
    ] = Strategy.BLUEGREEN,
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
        float,
        typer.Option(
            "--scale-down-delay", help="Seconds to keep the old track after the verified cutover."
        ),
    ] = 30.0,
    ready_timeout: Annotated[
        float,
        typer.Option("--ready-timeout", help="Seconds the new track may take to become ready."),
    ] = 600.0,
    track: Annotated[
        str | None, typer.Option("--track", help="Track to release into (default: the idle one).")
    ] = None,
    steps: Annotated[
        str | None,
        typer.Option(
            "--steps", help="Canary weights, e.g. 10,25,50,100 (implies --strategy canary)."
        ),
    ] = None,
    pause: Annotated[
        str | None, typer.Option("--pause", help="Canary pause after each step, e.g. 2m.")
    ] = None,
    spec_file: Annotated[
        Path | None,
        typer.Option("--file", "-f", help="Canary spec YAML (steps, maxSurge, autoPromote)."),
    ] = None,
    max_surge: Annotated[
        str, typer.Option("--max-surge", help="Canary surge bound: pods or percent of stable.")
    ] = "25%",
    router: Annotated[
        str, typer.Option("--router", help="Canary traffic router: replicas, gateway or nginx.")
    ] = DEFAULT_ROUTER,
    httproute: Annotated[
        str | None, typer.Option("--httproute", help="HTTPRoute for --router gateway.")
    ] = None,
    ingress: Annotated[
        str | None, typer.Option("--ingress", help="Ingress for --router nginx.")
    ] = None,
    canary_header: Annotated[
        str | None,
        typer.Option(
            "--canary-header", help="nginx: also route requests with this header to the canary."
        ),
    ] = None,
    stable: Annotated[
        str | None,
        typer.Option("--stable", help="The serving track, when the Service does not pin one."),
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
    namespace: Namespace = None,
    context: Context = None,
    kubeconfig: Kubeconfig = None,
    output: OutputOpt = Output.table,
    track_label: TrackLabel = ops.DEFAULT_TRACK_LABEL,
) -> None:
    """Release a new version into the idle track and switch traffic to it (blue-green)."""
    canary = _canary(steps, pause, spec_file, max_surge, auto_promote)
    options = {
        k: v
        for k, v in {"httproute": httproute, "ingress": ingress, "header": canary_header}.items()
        if v
    }
    args = ops.SpecArgs(
        images=[ops.parse_image_arg(i) for i in image or []],
        env=[ops.parse_env_arg(e) for e in set_env or []],
        patch=_load_patch(patch_file),
        strategy=Strategy.CANARY if canary is not None else strategy,
        preview=preview,
        auto_promote=auto_promote,
        scale_down_delay=scale_down_delay,
        ready_timeout=ready_timeout,
        track=track,
        canary=canary,
        router=router,
        router_options=options,
    )
    if args.strategy == Strategy.CANARY and canary is None:
        raise UsageError("--strategy canary needs --steps (e.g. 10,25,50,100) or -f release.yaml")
    if scale_down_delay < 0 or ready_timeout <= 0:
        raise UsageError("--scale-down-delay must be >= 0 and --ready-timeout > 0")
    kube = _kube(kubeconfig, context, namespace)
    ref = ops.app_ref(kube, app_name, track_label=track_label)
    if dry_run:
        _show_plan(
            ops.plan_release(kube, ref, args.to_spec(), stable_track=stable, force=force), output
        )
        return
    with render.Progress(quiet=output != Output.table) as progress:
        st = ops.release(
            kube,
            ref,
            args.to_spec(),
            stable_track=stable,
            force=force,
            wait=wait,
            on_tick=progress,
            timeout=timeout,
            on_warning=_warn,
        )
    _finish(st, output)


def _warn(message: str) -> None:
    """A pre-flight warning: one line on stderr (``warning: KP001 Deployment ns/web: ...``)."""
    render.err.print(f"[yellow]warning:[/] {escape(message)}", markup=True, highlight=False)


def _canary(
    steps: str | None,
    pause: str | None,
    spec_file: Path | None,
    max_surge: str,
    auto_promote: bool,
) -> dict[str, Any] | None:
    """The canary spec from --steps/--pause or -f, as JSON for the release status."""
    from kprism.model.steps import CanarySpec

    if steps is not None and spec_file is not None:
        raise UsageError("give either --steps or -f, not both")
    if pause is not None and steps is None:
        raise UsageError(
            "--pause goes with --steps (e.g. --steps 10,50,100 --pause 2m); in -f put pause steps in the file"
        )
    if spec_file is not None and max_surge != "25%":
        raise UsageError(f"--max-surge is ignored with -f: set maxSurge in {spec_file}")
    surge: int | str = int(max_surge) if max_surge.isdigit() else max_surge
    if steps is not None:
        spec = CanarySpec.from_shorthand(
            steps=steps, pause=pause, max_surge=surge, auto_promote=auto_promote
        )
    elif spec_file is not None:
        try:
            text = spec_file.read_text()
        except OSError as exc:
            raise UsageError(f"-f {spec_file}: {exc.strerror}") from exc
        try:
            data = yaml.safe_load(text) or {}
        except yaml.YAMLError:
            data = {}  # the line-aware loader below reports it as file:line
        at: tuple[str, ...] = ("canary",) if isinstance(data, dict) and "canary" in data else ()
        spec = CanarySpec.from_yaml(text, source=str(spec_file), at=at)
        if auto_promote and not spec.auto_promote:
            spec = CanarySpec.from_yaml(text, source=str(spec_file), at=at).model_copy(
                update={"auto_promote": True}
            )
    else:
        return None
    data_out: dict[str, Any] = spec.model_dump(mode="json", by_alias=True)
    return data_out


def _show_plan(plan: ops.ReleasePlan, fmt: Output) -> None:
    if fmt != Output.table:
        render.emit(plan.to_dict(), fmt.value)
        return
    for warning in plan.warnings:
        _warn(warning)
    st = plan.status
    render.out.print(
        f"release of {st.stable_deployment} ({st.stable}) into {st.candidate} — dry run, nothing changed:"
    )
    for i, step in enumerate(plan.steps, 1):
        render.out.print(f"  {i}. {step}")


def _plan(**kwargs: Any) -> None:
    kwargs["dry_run"] = True
    release(**kwargs)


# `kprism plan` is `kprism release --dry-run` with the same options, minus the waiting ones.
_hidden = {"dry_run", "wait", "timeout"}
_release_sig = inspect.signature(release, eval_str=True)
_plan.__signature__ = _release_sig.replace(  # type: ignore[attr-defined]
    parameters=[p for name, p in _release_sig.parameters.items() if name not in _hidden]
)
_plan.__annotations__ = {
    name: p.annotation for name, p in _release_sig.parameters.items() if name not in _hidden
}
_plan.__doc__ = "Dry run: validate a release and print every step it would take (changes nothing)."
app.command("plan")(_plan)


def _intent_command(action: Action, doc: str) -> Callable[..., None]:
    @handle_errors
    def command(
        app_name: AppArg,
        reason: Annotated[str, typer.Option("--reason", help="Recorded with the intent.")] = "",
        timeout: Timeout = None,
        namespace: Namespace = None,
        context: Context = None,
        kubeconfig: Kubeconfig = None,
        output: OutputOpt = Output.table,
        track_label: TrackLabel = ops.DEFAULT_TRACK_LABEL,
    ) -> None:
        kube = _kube(kubeconfig, context, namespace)
        ref = ops.app_ref(kube, app_name, track_label=track_label)
        with render.Progress(quiet=output != Output.table) as progress:
            st = ops.send_intent(
                kube, ref, action, reason=reason, on_tick=progress, timeout=timeout
            )
        _finish(st, output)
        if action == Action.ABORT and st.phase.terminal:
            raise typer.Exit(1)

    command.__doc__ = doc
    return command


@app.command()
@handle_errors
def promote(
    app_name: AppArg,
    full: Annotated[
        bool, typer.Option("--full", help="Canary: skip the remaining steps, go to 100%.")
    ] = False,
    reason: Annotated[str, typer.Option("--reason", help="Recorded with the intent.")] = "",
    timeout: Timeout = None,
    namespace: Namespace = None,
    context: Context = None,
    kubeconfig: Kubeconfig = None,
    output: OutputOpt = Output.table,
    track_label: TrackLabel = ops.DEFAULT_TRACK_LABEL,
) -> None:
    """Promote the release in progress: switch traffic (blue-green) or go to the next step (canary)."""
    kube = _kube(kubeconfig, context, namespace)
    ref = ops.app_ref(kube, app_name, track_label=track_label)
    action = Action.PROMOTE_FULL if full else Action.PROMOTE
    with render.Progress(quiet=output != Output.table) as progress:
        st = ops.send_intent(kube, ref, action, reason=reason, on_tick=progress, timeout=timeout)
    _finish(st, output)


app.command("abort")(
    _intent_command(
        Action.ABORT, "Abort the release in progress: traffic stays on (or returns to) stable."
    )
)
app.command("pause")(_intent_command(Action.PAUSE, "Pause the release in progress where it is."))


@app.command()
@handle_errors
def resume(
    app_name: AppArg,
    wait_for_lease: Annotated[
        float,
        typer.Option(
            "--wait-for-lease", help="Seconds to wait for another engine's Lease to expire."
        ),
    ] = 20.0,
    timeout: Timeout = None,
    namespace: Namespace = None,
    context: Context = None,
    kubeconfig: Kubeconfig = None,
    output: OutputOpt = Output.table,
    track_label: TrackLabel = ops.DEFAULT_TRACK_LABEL,
) -> None:
    """Resume a paused, unattended or crashed release and drive it to the end."""
    kube = _kube(kubeconfig, context, namespace)
    ref = ops.app_ref(kube, app_name, track_label=track_label)
    with render.Progress(quiet=output != Output.table) as progress:
        st = ops.resume(kube, ref, on_tick=progress, timeout=timeout, wait_for_lease=wait_for_lease)
    _finish(st, output)
    ops.check_outcome(st)


@app.command()
@handle_errors
def rollback(
    app_name: AppArg,
    scale_down_delay: Annotated[float, typer.Option("--scale-down-delay")] = 30.0,
    timeout: Timeout = None,
    namespace: Namespace = None,
    context: Context = None,
    kubeconfig: Kubeconfig = None,
    output: OutputOpt = Output.table,
    track_label: TrackLabel = ops.DEFAULT_TRACK_LABEL,
) -> None:
    """Go back to the previous track (scaling it up and waiting until it is ready first)."""
    kube = _kube(kubeconfig, context, namespace)
    ref = ops.app_ref(kube, app_name, track_label=track_label)
    with render.Progress(quiet=output != Output.table) as progress:
        st = ops.rollback(
            kube, ref, on_tick=progress, scale_down_delay=scale_down_delay, timeout=timeout
        )
    _finish(st, output)


@app.command()
@handle_errors
def status(
    app_name: AppArg,
    watch: Annotated[
        bool, typer.Option("--watch", "-w", help="Keep printing as the release moves.")
    ] = False,
    namespace: Namespace = None,
    context: Context = None,
    kubeconfig: Kubeconfig = None,
    output: OutputOpt = Output.table,
    track_label: TrackLabel = ops.DEFAULT_TRACK_LABEL,
) -> None:
    """Show the app's tracks, endpoints, and the current or last release."""
    kube = _kube(kubeconfig, context, namespace)
    ref = ops.app_ref(kube, app_name, track_label=track_label)
    last: Any = None
    while True:
        view = ops.app_status(kube, ref)
        data = view.to_dict()
        if data != last:
            _show_status(view, output)
            last = data
        if not watch or (
            view.release is not None
            and view.release.phase.terminal
            and last is not None
            and not watch
        ):
            return
        import threading

        threading.Event().wait(1.0)


def _show_status(view: ops.AppStatus, fmt: Output) -> None:
    if fmt != Output.table:
        render.emit(view.to_dict(), fmt.value)
        return
    render.out.print(
        f"app [bold]{view.app.name}[/] in {view.app.namespace} — Service selector {ops.fmt_labels(view.selector)}, "
        f"{view.endpoints} ready endpoints",
        markup=True,
    )
    render.table(
        ["TRACK", "DEPLOYMENT", "READY", "IMAGES", "ENDPOINTS", "SERVING"],
        [
            [
                t.track or "-",
                t.deployment,
                f"{t.ready}/{t.replicas}",
                ops.fmt_labels(t.images),
                t.endpoints,
                "yes" if t.serving else "",
            ]
            for t in view.tracks
        ],
    )
    if view.release:
        st = view.release
        render.out.print(
            f"release {st.id} ({st.kind.value}, {st.spec.strategy.value}): {st.phase.value} at step {st.step} — {st.message}"
        )
        if st.last_error:
            render.out.print(f"  last error: {st.last_error}")
        if st.spec.strategy == Strategy.CANARY and st.spec.canary is not None:
            _show_canary_steps(st)
    if view.lease and view.lease.holder:
        render.out.print(f"lease held by {view.lease.holder}")


def _show_canary_steps(st: ReleaseStatus) -> None:
    render.out.print(
        f"weight: {st.requested_weight:g}% requested, {st.achieved_weight:g}% achieved "
        f"(router {st.spec.router})"
    )
    rows = []
    for row in ops.canary_steps(st):
        i = row["index"]
        mark = (
            "✓"
            if i < st.step_index or st.phase.value == "Succeeded"
            else ("▶" if i == st.step_index else "")
        )
        if row["kind"] == "setWeight":
            what = f"setWeight {row['weight']}%"
            pods = f"{row['candidate']} {st.candidate} / {row['stable']} {st.stable}"
            achieved = f"{row['achieved']:g}%"
        elif row["kind"] == "pause":
            what = "pause " + ("until promote" if row["untilPromote"] else f"{row['pause']}s")
            pods, achieved = "", ""
        else:
            what, pods, achieved = row["kind"], f"{row['candidate']} {st.candidate}", ""
        rows.append([mark, i + 1, what, pods, achieved])
    render.table(["", "STEP", "WHAT", "PODS", "ACHIEVABLE"], rows)


@app.command()
@handle_errors
def history(
    app_name: AppArg,
    namespace: Namespace = None,
    context: Context = None,
    kubeconfig: Kubeconfig = None,
    output: OutputOpt = Output.table,
    track_label: TrackLabel = ops.DEFAULT_TRACK_LABEL,
) -> None:
    """Show the app's last releases, newest first."""
    kube = _kube(kubeconfig, context, namespace)
    ref = ops.app_ref(kube, app_name, track_label=track_label)
    entries = ops.history(kube, ref)
    if output != Output.table:
        render.emit(entries, output.value)
        return
    render.table(
        ["ID", "KIND", "PHASE", "FROM", "TO", "IMAGES", "STARTED", "FINISHED"],
        [
            [
                e["id"],
                e["kind"],
                e["phase"],
                e["stable"],
                e["candidate"],
                ops.fmt_labels(e.get("candidate_images", {})),
                e.get("started_at", ""),
                e.get("finished_at", ""),
            ]
            for e in entries
        ],
    )


@app.command("list")
@handle_errors
def list_cmd(
    all_namespaces: Annotated[
        bool, typer.Option("--all-namespaces", "-A", help="List apps in every namespace.")
    ] = False,
    namespace: Namespace = None,
    context: Context = None,
    kubeconfig: Kubeconfig = None,
    output: OutputOpt = Output.table,
    track_label: TrackLabel = ops.DEFAULT_TRACK_LABEL,
) -> None:
    """List apps: Services that select a track or carry a kprism release."""
    kube = _kube(kubeconfig, context, namespace)
    apps = ops.list_apps(
        kube,
        namespace=None if all_namespaces else (namespace or kube.namespace),
        track_label=track_label,
    )
    if output != Output.table:
        render.emit([a.__dict__ for a in apps], output.value)
        return
    render.table(
        ["NAMESPACE", "APP", "SERVING", "PHASE", "STEP", "LAST"],
        [[a.namespace, a.name, a.serving or "-", a.phase, a.step, a.tracks] for a in apps],
    )


@app.command()
@handle_errors
def adopt(
    app_name: AppArg,
    track: Annotated[
        str, typer.Option("--track", help="Track name the live version gets.")
    ] = "blue",
    timeout: Annotated[float, typer.Option("--timeout")] = 300.0,
    namespace: Namespace = None,
    context: Context = None,
    kubeconfig: Kubeconfig = None,
    output: OutputOpt = Output.table,
    track_label: TrackLabel = ops.DEFAULT_TRACK_LABEL,
) -> None:
    """Bring an existing Deployment + Service into track form with zero downtime."""
    kube = _kube(kubeconfig, context, namespace)
    ref = ops.app_ref(kube, app_name, track_label=track_label)
    quiet = output != Output.table

    progress = render.lines(quiet=quiet)
    message = ops.adopt(kube, ref, track=track, timeout=timeout, on_progress=progress)
    if quiet:
        render.emit({"app": app_name, "track": track, "message": message}, output.value)
    else:
        render.out.print(message, markup=False)


@app.command()
@handle_errors
def clone(
    app_name: AppArg,
    track: Annotated[str, typer.Option("--track", help="New track name, e.g. red.")],
    image: Annotated[
        list[str] | None, typer.Option("--image", "-i", help="[CONTAINER=]IMAGE; repeatable.")
    ] = None,
    set_env: Annotated[
        list[str] | None, typer.Option("--set-env", help="[CONTAINER:]NAME=VALUE; repeatable.")
    ] = None,
    patch_file: Annotated[Path | None, typer.Option("--patch-file")] = None,
    replicas: Annotated[int, typer.Option("--replicas")] = 1,
    namespace: Namespace = None,
    context: Context = None,
    kubeconfig: Kubeconfig = None,
    output: OutputOpt = Output.table,
    track_label: TrackLabel = ops.DEFAULT_TRACK_LABEL,
) -> None:
    """Clone the serving track into a new track with a change, without traffic."""
    args = ops.SpecArgs(
        images=[ops.parse_image_arg(i) for i in image or []],
        env=[ops.parse_env_arg(e) for e in set_env or []],
        patch=_load_patch(patch_file),
    )
    kube = _kube(kubeconfig, context, namespace)
    ref = ops.app_ref(kube, app_name, track_label=track_label)
    msg = ops.clone(kube, ref, track=track, change=args.to_spec().change, replicas=replicas)
    if output != Output.table:
        render.emit({"app": app_name, "track": track, "message": msg}, output.value)
    else:
        render.out.print(msg, markup=False)


@app.command()
@handle_errors
def split(
    app_name: AppArg,
    weights: Annotated[list[str], typer.Argument(help="TRACK=PERCENT ..., summing to 100.")],
    router: Annotated[
        str, typer.Option("--router", help="replicas (pod ratio), gateway or nginx.")
    ] = DEFAULT_ROUTER,
    httproute: Annotated[str | None, typer.Option("--httproute")] = None,
    ingress: Annotated[str | None, typer.Option("--ingress")] = None,
    timeout: Annotated[float, typer.Option("--timeout")] = 300.0,
    namespace: Namespace = None,
    context: Context = None,
    kubeconfig: Kubeconfig = None,
    output: OutputOpt = Output.table,
    track_label: TrackLabel = ops.DEFAULT_TRACK_LABEL,
) -> None:
    """Rainbow: split traffic over several live tracks, e.g. blue=80 green=15 red=5."""
    parsed = ops.parse_weights(weights)
    kube = _kube(kubeconfig, context, namespace)
    ref = ops.app_ref(kube, app_name, track_label=track_label)
    options = {k: v for k, v in {"httproute": httproute, "ingress": ingress}.items() if v}
    quiet = output != Output.table

    progress = render.lines(quiet=quiet)
    message = ops.split(
        kube,
        ref,
        parsed,
        router=router,
        router_options=options,
        timeout=timeout,
        on_progress=progress,
    )
    if quiet:
        render.emit({"app": app_name, "weights": parsed, "message": message}, output.value)
    else:
        render.out.print(message, markup=False)


@app.command()
@handle_errors
def scale(
    app_name: AppArg,
    track: Annotated[str, typer.Option("--track", help="Track to scale.")],
    replicas: Annotated[int, typer.Option("--replicas", help="New replica count.")],
    namespace: Namespace = None,
    context: Context = None,
    kubeconfig: Kubeconfig = None,
    output: OutputOpt = Output.table,
    track_label: TrackLabel = ops.DEFAULT_TRACK_LABEL,
) -> None:
    """Scale one track of the app."""
    kube = _kube(kubeconfig, context, namespace)
    ref = ops.app_ref(kube, app_name, track_label=track_label)
    dep = ops.scale(kube, ref, track=track, replicas=replicas)
    if output != Output.table:
        render.emit({"deployment": dep.name, "track": track, "replicas": replicas}, output.value)
    else:
        render.out.print(f"scaled {dep.name} ({track_label}={track}) to {replicas}")


# Before main() so that `python -m kprism.cli.main doctor` finds it too.
from kprism.cli import doctor as _doctor  # noqa: E402  (registers `kprism doctor`)

_doctor.register(app, connect=_kube)


@app.command()
@handle_errors
def web(
    host: Annotated[
        str, typer.Option("--host", help="Address to listen on (loopback unless you say so).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to listen on.")] = 8080,
    namespace: Namespace = None,
    context: Context = None,
    kubeconfig: Kubeconfig = None,
) -> None:
    """Serve the web dashboard (the release platform) until Ctrl-C."""
    import importlib

    # Loaded by module path, like `uvicorn kprism.web.app:...`: the two shells stay
    # independent layers (the dashboard can never import the CLI), and the CLI works
    # without the `web` extra installed.
    try:
        web_app = importlib.import_module("kprism.web.app")
    except ImportError as exc:
        raise UsageError(
            f"the dashboard needs the web extra: pip install 'kprism[web]' ({exc})"
        ) from exc
    web_app.serve(
        host=host,
        port=port,
        kubeconfig=kubeconfig or _globals["kubeconfig"],
        context=context or _globals["context"],
        namespace=namespace or _globals["namespace"],
    )


def main(argv: list[str] | None = None) -> None:
    """Run the CLI. Usage errors exit 2 (click's convention); kprism errors carry their code."""
    app(args=argv, prog_name="kprism")


if __name__ == "__main__":
    main()
