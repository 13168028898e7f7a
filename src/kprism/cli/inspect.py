"""Reading apps: ``status`` (and ``status --watch``), ``history``, ``list``."""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any

import typer

from kprism.cli.app import AppArg, AppTrackLabel, Cli, Output, command

if TYPE_CHECKING:
    from rich.console import Console, RenderableType

    from kprism import ops
    from kprism.model.release import ReleaseStatus

WATCH_INTERVAL = 1.0  # seconds between two looks at the app in `status --watch`


def status_view(view: ops.AppStatus) -> RenderableType:
    """The table form of ``kprism status``: the Service, one row per track, the release."""
    from rich.console import Group
    from rich.text import Text

    from kprism import ops
    from kprism.cli import render
    from kprism.cli.analysis import analysis_view
    from kprism.model.release import Strategy

    parts: list[RenderableType] = [
        Text.assemble(
            "app ",
            (view.app.name, "bold"),
            f" in {view.app.namespace} — Service selector {ops.fmt_labels(view.selector)}, "
            f"{view.endpoints} ready endpoints",
        ),
        render.make_table(
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
        ),
    ]
    parts.extend(Text(line) for line in not_ready_lines(view))
    for svc in view.services:
        parts.append(Text(_service_line(view, svc)))
    if view.release:
        st = view.release
        parts.append(
            Text(
                f"release {st.id} ({st.kind.value}, {st.spec.strategy.value}): {st.phase.value} "
                f"at step {st.step} — {st.message}"
            )
        )
        if st.last_error:
            parts.append(Text(f"  last error: {st.last_error}"))
        for d in view.drift:
            parts.append(Text(f"  drifted: {d.describe()}"))
        if view.drift:
            parts.append(
                Text(
                    f"  `kprism promote {view.app.name} --accept-drift` takes the cluster as it "
                    f"is now as the new truth; `kprism abort {view.app.name}` goes back"
                )
            )
        if st.spec.strategy == Strategy.CANARY and st.spec.canary is not None:
            parts.extend(_canary_steps(st))
        parts.extend(analysis_view(st))
    op = view.operation
    if op is not None and op.in_flight:
        state = "restoring" if op.restoring else "in progress"
        parts.append(
            Text(
                f"{op.kind.value} {op.id} {state}: {op.from_text()} → {op.to_text()} (by {op.by}); "
                f"`kprism abort {view.app.name}` restores {op.from_text()}"
            )
        )
    if view.lease and view.lease.holder:
        parts.append(Text(f"lease held by {view.lease.holder}"))
    return Group(*parts)


#: at most this many not-ready pods are explained per track (the rest are counted)
NOT_READY_SHOWN = 5


def not_ready_lines(view: ops.AppStatus) -> list[str]:
    """Why pods are not ready, per track: each pod's container reasons (waiting or
    terminated, exit code, restarts), unschedulable pods, and their recent Warning
    Events (failing readiness probes, FailedScheduling)."""
    lines: list[str] = []
    for t in view.tracks:
        if not t.not_ready:
            continue
        pods = list(dict.fromkeys(i.pod for i in t.not_ready))
        lines.append(f"{t.track or t.deployment}: {len(pods)} pods not ready")
        for issue in t.not_ready:
            if issue.pod in pods[:NOT_READY_SHOWN]:
                lines.append(f"  {issue.describe()}")
        if len(pods) > NOT_READY_SHOWN:
            lines.append(f"  … and {len(pods) - NOT_READY_SHOWN} more pods")
        shown = set(pods[:NOT_READY_SHOWN])
        for event in view.pod_events:
            if event.pod in shown:
                lines.append(f"  event {event.describe()}")
    return lines


def _service_line(view: ops.AppStatus, svc: ops.ServiceView) -> str:
    """``also selected by Service web-external (app=web,color=blue, 3 ready endpoints): moves
    with web`` — another Service over the app's pods, and whether it moves with the app."""
    from kprism import ops

    head = (
        f"also selected by Service {svc.name} ({ops.fmt_labels(svc.selector)}, "
        f"{svc.endpoints} ready endpoints): "
    )
    if svc.problem:
        return head + "kprism cannot move it — " + svc.problem
    if svc.in_line:
        return head + f"moves with {view.app.name}"
    return head + f"selects other pods than {view.app.name}: the next release or adopt pins it"


def _canary_steps(st: ReleaseStatus) -> list[RenderableType]:
    from rich.text import Text

    from kprism import ops
    from kprism.cli import render

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
    return [
        Text(
            f"weight: {st.requested_weight:g}% requested, {st.achieved_weight:g}% achieved "
            f"(router {st.spec.router})"
        ),
        render.make_table(["", "STEP", "WHAT", "PODS", "ACHIEVABLE"], rows),
    ]


def show_status(view: ops.AppStatus, fmt: Output) -> None:
    from kprism.cli import render

    if fmt is not Output.table:
        render.emit(view.to_dict(), fmt.value)
    else:
        render.out.print(status_view(view))


def _text_lines(view: ops.AppStatus, width: int) -> list[str]:
    from rich.console import Console

    buf = io.StringIO()
    Console(file=buf, width=width, highlight=False, soft_wrap=True, color_system=None).print(
        status_view(view)
    )
    return [line.rstrip() for line in buf.getvalue().splitlines()]


def release_exit_code(st: ReleaseStatus | None) -> int:
    """0 when the release succeeded (or there is none), 1 when it failed or was aborted."""
    return 1 if st is not None and st.phase.value in ("Failed", "Aborted") else 0


def watch_status(
    read: Callable[[], ops.AppStatus],
    fmt: Output,
    *,
    console: Console | None = None,
    interval: float = WATCH_INTERVAL,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Show the app until the release in progress ends; the exit code of its outcome.

    On a terminal the table is redrawn in place; piped, the first view is printed whole
    and then only the lines that changed; JSON and YAML print a document per change.
    With no release in progress the status is printed once.
    """
    from rich.live import Live

    from kprism.cli import render

    console = console or render.out
    view = read()
    st = view.release
    if st is None or st.phase.terminal:
        if fmt is Output.table:
            console.print(status_view(view))
        else:
            render.emit(view.to_dict(), fmt.value)
        return release_exit_code(st)
    watched = st.id

    def ended(v: ops.AppStatus) -> bool:
        return v.release is None or v.release.id != watched or v.release.phase.terminal

    if fmt is Output.table and console.is_terminal:
        with Live(status_view(view), console=console, auto_refresh=False) as live:
            while not ended(view):
                sleep(interval)
                view = read()
                live.update(status_view(view), refresh=True)
    else:
        last: Any = None
        shown: list[str] = []
        while True:
            data = view.to_dict()
            if data != last:
                last = data
                if fmt is not Output.table:
                    render.emit(data, fmt.value)
                else:
                    lines = _text_lines(view, console.width)
                    for line in lines if not shown else [x for x in lines if x not in shown]:
                        console.print(line, markup=False, highlight=False)
                    shown = lines
            if ended(view):
                break
            sleep(interval)
            view = read()
    final = view.release if view.release is not None and view.release.id == watched else None
    return release_exit_code(final)


@command(
    "status",
    examples=[
        "kprism -n shop status web",
        "kprism status web -w            # until the release in progress ends (exit 0/1)",
        "kprism status web -o json",
    ],
)
def status(
    cli: Cli,
    app_name: AppArg,
    watch: Annotated[
        bool,
        typer.Option(
            "--watch",
            "-w",
            help="Follow the release in progress until it ends: exit 0 when it succeeded, "
            "1 when it failed or was aborted.",
        ),
    ] = False,
    track_label: AppTrackLabel = None,
) -> None:
    """Show the app's tracks, endpoints, and the current or last release."""
    from kprism import ops

    kube, ref = cli.open_app(app_name, track_label=track_label)
    if not watch:
        show_status(ops.app_status(kube, ref), cli.output)
        return
    code = watch_status(lambda: ops.app_status(kube, ref), cli.output)
    if code:
        raise typer.Exit(code)


@command(
    "history",
    examples=[
        "kprism -n shop history web",
        "kprism history web -o yaml",
        "kprism history web --actor alice --kind abort,rollback",
    ],
)
def history(
    cli: Cli,
    app_name: AppArg,
    track_label: AppTrackLabel = None,
    actor: Annotated[
        str | None,
        typer.Option(
            "--actor",
            metavar="USER",
            help="Only what this user did (part of the name); lists every operation.",
        ),
    ] = None,
    kind: Annotated[
        str | None,
        typer.Option(
            "--kind",
            metavar="KINDS",
            help="Only these operations (comma-separated: release, rollback, promote, abort, "
            "pause, resume, split, scale, clone); lists every operation.",
        ),
    ] = None,
    outcome: Annotated[
        str | None,
        typer.Option(
            "--outcome",
            metavar="OUTCOME",
            help="Only operations whose outcome starts with this (Succeeded, Failed, applied, "
            "refused, ...); lists every operation.",
        ),
    ] = None,
) -> None:
    """Show the app's last releases, newest first.

    With --actor, --kind or --outcome: its audit trail, every operation (promote, abort,
    pause and resume too) with who, from where, why, when and what came of it."""
    from kprism import ops
    from kprism.cli import render
    from kprism.cli.analysis import history_summary

    kube, ref = cli.open_app(app_name, track_label=track_label)
    if actor is not None or kind is not None or outcome is not None:
        rows = ops.audit(kube, ref, actor=actor, kind=kind, outcome=outcome)
        if cli.machine:
            render.emit(rows, cli.output.value)
            return
        render.table(
            ["AT", "KIND", "RELEASE", "OUTCOME", "BY", "REASON", "WHAT"],
            [
                [r["at"], r["kind"], r["release"], r["outcome"], r["by"], r["reason"], r["text"]]
                for r in rows
            ],
        )
        return
    entries = ops.history(kube, ref)
    if cli.machine:
        render.emit(entries, cli.output.value)
        return
    render.table(
        ["ID", "KIND", "PHASE", "FROM", "TO", "IMAGES", "STARTED", "FINISHED", "ANALYSIS", "BY"],
        [
            [
                e["id"],
                e["kind"],
                e["phase"],
                e["stable"],
                e["candidate"],
                ops.fmt_labels(e["candidate_images"]) if e.get("candidate_images") else "-",
                e.get("started_at", ""),
                e.get("finished_at", ""),
                history_summary(e),
                e.get("by", ""),
            ]
            for e in entries
        ],
    )


@command("list", examples=["kprism -n shop list", "kprism -o json list -A"])
def list_apps(
    cli: Cli,
    all_namespaces: Annotated[
        bool, typer.Option("--all-namespaces", "-A", help="List apps in every namespace.")
    ] = False,
    track_label: AppTrackLabel = None,
) -> None:
    """List apps: Services that select a track or carry a kprism release."""
    from kprism import ops
    from kprism.cli import render

    kube = cli.connect()
    apps = ops.list_apps(
        kube,
        namespace=None if all_namespaces else (cli.namespace or kube.namespace),
        track_label=track_label,
    )
    if cli.machine:
        render.emit([a.__dict__ for a in apps], cli.output.value)
        return
    render.table(
        ["NAMESPACE", "APP", "SERVING", "PHASE", "STEP", "LAST"],
        [[a.namespace, a.name, a.serving or "-", a.phase, a.step, a.tracks] for a in apps],
    )
