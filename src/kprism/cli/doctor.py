"""``kprism doctor``: find (and fix) what makes a release drop requests.

A thin shell over :mod:`kprism.ops.doctor` with two sources. Files: it audits manifests
(and with ``--fix`` rewrites them). The cluster (``kprism doctor APP``, ``-A``): ops
reads the app's objects and patches them. Either way the findings are rendered by
:mod:`kprism.cli.doctor_report` (a table for live apps). Exit codes gate CI: 0 clean, 1
something at or above ``--fail-on`` was found, 2 bad input (missing file, bad YAML,
unknown rule or app), 3 cluster unreachable or forbidden.

The command is attached to the root app with :func:`register` (``kprism.cli.main`` loads
it when it is used). Where to connect (``--kubeconfig``, ``--context``, ``-n``) and ``-o
json`` come from the CLI's context object (:class:`kprism.cli.app.Cli`): given before the
command or after it.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Sequence
from typing import Annotated, Any

import typer
from rich.table import Table

from kprism import ops
from kprism.cli import render
from kprism.cli.app import Cli, ContextOpt, KubeconfigOpt, _epilog
from kprism.cli.doctor_report import (
    Located,
    render_json,
    render_sarif,
    render_text,
    summary,
)
from kprism.errors import KprismError, UsageError
from kprism.ops import Kube
from kprism.ops import doctor as live
from kprism.ops.doctor import DoctorConfig, Finding, Severity


class FailOn(enum.StrEnum):
    """The lowest severity that makes ``kprism doctor`` exit 1."""

    error = "error"
    warning = "warning"
    info = "info"
    none = "none"


class Output(enum.StrEnum):
    """Report format."""

    text = "text"
    json = "json"
    sarif = "sarif"


def _fail(findings: Sequence[Finding], fail_on: FailOn) -> int:
    if fail_on is FailOn.none:
        return 0
    threshold = Severity.parse(fail_on.value)
    return 1 if any(f.severity.at_least(threshold) for f in findings) else 0


def _run(
    *,
    files: list[str],
    fix: bool,
    fail_on: FailOn,
    output: Output,
    config: DoctorConfig,
) -> int:
    report = live.doctor_files(files, config=config, fix=fix)
    for warning in report.audit.warnings:
        typer.echo(f"kprism: warning: {warning}", err=True)
    for item in report.fixed:
        typer.echo(f"fixed {item.where}: {item.finding.rule_id} {item.finding.slug}", err=True)
    for name in report.written:
        typer.echo(f"wrote {name}", err=True)
    objects, items = len(report.audit.manifests), report.audit.located
    warnings = report.audit.warnings
    if output is Output.json:
        typer.echo(
            render_json(items, objects=objects, fixed=report.fixed, warnings=warnings), nl=False
        )
    elif output is Output.sarif:
        typer.echo(render_sarif(items, warnings=warnings), nl=False)
    else:
        typer.echo(render_text(items, objects=objects), nl=False)
    return _fail(report.audit.findings, fail_on)


def _patch_json(p: live.LivePatch) -> dict[str, Any]:
    ref = p.object_ref
    return {
        "object": {"kind": ref.kind, "namespace": ref.namespace, "name": ref.name},
        "rules": list(p.rule_ids),
        "patch": list(p.patch),
        "diff": p.diff,
    }


def _run_live(
    *,
    kube: Kube,
    app_name: str | None,
    track_label: str,
    fix: bool,
    dry_run: bool,
    fail_on: FailOn,
    output: Output,
    config: DoctorConfig,
) -> int:
    app = None if app_name is None else ops.app_ref(kube, app_name, track_label=track_label)
    report = live.doctor_live(
        kube, app, config=config, track_label=track_label, fix=fix, dry_run=dry_run
    )
    result, patches = report.audit, report.patches
    fixed = [Located(finding=f) for f in report.fixed]
    for p in patches if not dry_run else ():
        typer.echo(f"patched {p.object_ref}: {', '.join(p.rule_ids)}", err=True)
    for item in fixed:
        typer.echo(f"fixed {item.where}: {item.finding.rule_id} {item.finding.slug}", err=True)
    items = [Located(finding=f) for f in result.findings]
    if output is Output.json:
        doc = json.loads(render_json(items, objects=result.checked, fixed=fixed))
        doc["apps"] = list(result.apps)
        if fix:
            doc["dry_run"] = dry_run
            doc["patches"] = [_patch_json(p) for p in patches]
        typer.echo(json.dumps(doc, indent=2))
    elif output is Output.sarif:
        for p in patches if dry_run else ():
            typer.echo(p.diff, err=True, nl=False)
        typer.echo(render_sarif(items), nl=False)
    else:
        for p in patches if dry_run else ():
            typer.echo(p.diff, nl=False)
        if dry_run:
            what = f"would patch {len(patches)} Deployment{'s' if len(patches) != 1 else ''}"
            typer.echo(f"dry run: {what}; nothing changed", err=True)
        _table(items, checked=result.checked, apps=len(result.apps), every=app_name is None)
    return _fail(result.findings, fail_on)


_COLUMNS = ("SEVERITY", "ID", "OBJECT", "MESSAGE", "FIX")


def _table(items: Sequence[Located], *, checked: int, apps: int, every: bool) -> None:
    """Findings as a table, then the summary line.

    On a terminal MESSAGE and FIX wrap; piped, every finding is one line (for grep and
    CI logs), columns aligned, no trailing blanks. The OBJECT column is never shortened.
    """
    rows = [
        [
            i.finding.severity.value,
            i.finding.rule_id,
            str(i.finding.object_ref),
            i.finding.message,
            i.finding.fix + (" (--fix)" if i.finding.fixable else ""),
        ]
        for i in items
    ]
    if rows and render.out.is_terminal:
        table = Table(box=None, pad_edge=False, header_style="bold")
        for name in _COLUMNS[:3]:
            table.add_column(name, no_wrap=True)
        table.add_column("MESSAGE", ratio=3, overflow="fold")
        table.add_column("FIX", ratio=2, overflow="fold")
        for row in rows:
            table.add_row(*row)
        render.out.print(table, markup=False)
    elif rows:
        widths = [max(len(r[n]) for r in [list(_COLUMNS), *rows]) for n in range(4)]
        for row in [list(_COLUMNS), *rows]:
            cells = [cell.ljust(w) for cell, w in zip(row, widths, strict=False)]
            typer.echo("  ".join([*cells, row[4]]))
    tail = f" of {apps} app{'s' if apps != 1 else ''}" if every else ""
    typer.echo(summary(items, objects=checked) + tail)


def doctor(  # keyword-only: typer passes every parameter by name
    *,
    ctx: typer.Context,
    app_name: Annotated[
        str | None,
        typer.Argument(
            metavar="APP",
            help="An app in the cluster (the name of its Service): check its Service, "
            "Deployments of every track, PDBs and HPAs as they are live.",
            show_default=False,
        ),
    ] = None,
    all_namespaces: Annotated[
        bool,
        typer.Option(
            "--all-namespaces", "-A", help="Check every app in every namespace of the cluster."
        ),
    ] = False,
    filename: Annotated[
        list[str] | None,
        typer.Option(
            "-f",
            "--filename",
            metavar="FILE|DIR|-",
            help="Manifests to check: a file, a directory (*.yaml, *.yml, recursively) or - "
            "for stdin. Repeatable.",
            show_default=False,
        ),
    ] = None,
    fix: Annotated[
        bool,
        typer.Option(
            "--fix",
            help="Rewrite the files in place for the fixable rules (comments survive), or "
            "patch the live app's Deployments (one JSON patch each), then report what remains.",
        ),
    ] = False,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run", help="With APP --fix: print the diff of each patch; change nothing."
        ),
    ] = False,
    fail_on: Annotated[
        FailOn,
        typer.Option(
            "--fail-on",
            metavar="error|warning|info|none",
            help="Exit 1 when a finding is at least this severe.",
        ),
    ] = FailOn.error,
    output: Annotated[
        Output | None,
        typer.Option(
            "-o",
            "--output",
            metavar="text|json|sarif",
            help="Report format (default: text; json after a global -o json).",
            show_default=False,
        ),
    ] = None,
    select: Annotated[
        list[str] | None,
        typer.Option(
            "--select",
            metavar="IDS",
            help="Only these rules (ids or slugs, comma-separated; repeatable).",
            show_default=False,
        ),
    ] = None,
    ignore: Annotated[
        list[str] | None,
        typer.Option(
            "--ignore",
            metavar="IDS",
            help="Skip these rules (ids or slugs, comma-separated; repeatable).",
            show_default=False,
        ),
    ] = None,
    propagation_seconds: Annotated[
        int,
        typer.Option(
            "--propagation-seconds",
            metavar="SECONDS",
            min=0,
            help="How long endpoint removal takes to reach every proxy; preStop must sleep "
            "at least this long.",
        ),
    ] = 5,
    drain_seconds: Annotated[
        int,
        typer.Option(
            "--drain-seconds",
            metavar="SECONDS",
            min=0,
            help="How long the app needs after SIGTERM to finish in-flight requests.",
        ),
    ] = 5,
    namespace: Annotated[
        str | None,
        typer.Option(
            "--namespace",
            "-n",
            metavar="NAMESPACE",
            help="Namespace (default: the kubeconfig context's). With -f: the namespace of "
            "objects that name none (default: default).",
            show_default=False,
        ),
    ] = None,
    context: ContextOpt = None,
    kubeconfig: KubeconfigOpt = None,
    track_label: Annotated[
        str,
        typer.Option("--track-label", metavar="LABEL", help="Label that tells tracks apart."),
    ] = ops.DEFAULT_TRACK_LABEL,
) -> None:
    """Check Deployments, Services, PDBs and HPAs for what drops requests during a release.

    Manifests with -f, a live app with APP, every app in the cluster with -A. Every rule,
    and why pods get requests after SIGTERM, is explained in docs/doctor.md.
    """
    target = Cli.of(ctx).merged(kubeconfig=kubeconfig, context=context, namespace=namespace)
    if output is None:
        output = Output.json if target.output.value == "json" else Output.text
    try:
        on_cluster = app_name is not None or all_namespaces
        if filename and on_cluster:
            raise UsageError(
                "kprism doctor: check manifests (-f) or the cluster (APP or -A), not both"
            )
        if app_name is not None and all_namespaces:
            raise UsageError("kprism doctor: name one APP or pass -A for every app, not both")
        if not filename and not on_cluster:
            raise UsageError(
                "kprism doctor: name an APP, pass -A for every app in the cluster, or check "
                "manifests with -f FILE|DIR|- (repeatable)"
            )
        if dry_run and not (fix and app_name is not None):
            raise UsageError(
                "--dry-run goes with APP --fix: it prints the patches --fix would send "
                "(for files, review the rewrite with git diff)"
            )
        if fix and all_namespaces:
            raise UsageError("--fix patches one app at a time: kprism doctor APP --fix")
        config = DoctorConfig(
            propagation_seconds=propagation_seconds,
            drain_seconds=drain_seconds,
            select=frozenset(select or ()),
            ignore=frozenset(ignore or ()),
            track_label=track_label,
            # with -f: the namespace of objects that name none, as for kubectl apply -n
            default_namespace=target.namespace or "default",
        )
        if on_cluster:
            code = _run_live(
                kube=target.connect(),
                app_name=app_name,
                track_label=track_label,
                fix=fix,
                dry_run=dry_run,
                fail_on=fail_on,
                output=output,
                config=config,
            )
        else:
            code = _run(
                files=filename or [], fix=fix, fail_on=fail_on, output=output, config=config
            )
    except KprismError as err:
        typer.echo(f"kprism: error: {err}", err=True)
        raise typer.Exit(err.exit_code) from None
    raise typer.Exit(code)


EXAMPLES = [
    "kprism doctor -f k8s/ --fix",
    "helm template shop ./chart | kprism doctor -f - -o sarif",
    "kprism -n shop doctor web --fix --dry-run",
    "kprism doctor -A --fail-on warning -o json",
]


def register(app: typer.Typer) -> None:
    """Attach ``doctor`` to the root ``kprism`` app."""
    app.command("doctor", epilog=_epilog(EXAMPLES))(doctor)


__all__ = ["FailOn", "Output", "doctor", "register"]
