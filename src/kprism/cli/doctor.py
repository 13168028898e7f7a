"""``kprism doctor``: find (and fix) what makes a release drop requests.

A thin shell: it loads manifests (:mod:`kprism.manifests`), runs the pure rules
(:mod:`kprism.plan.doctor`), optionally rewrites the files, and renders the findings
(:mod:`kprism.doctor_report`). Exit codes gate CI: 0 clean, 1 something at or above
``--fail-on`` was found, 2 bad input (missing file, bad YAML, unknown rule).

The command is attached to the root app with :func:`register` rather than by importing
``kprism.cli.main`` here, so ``python -m kprism.cli.main`` (where that module is
``__main__``) gets it too.
"""

from __future__ import annotations

import enum
from typing import Annotated

import typer

from kprism.doctor_report import Located, locate, render_json, render_sarif, render_text
from kprism.errors import KprismError, UsageError
from kprism.manifests import STDIN, Manifest, apply_fixes, load
from kprism.plan.doctor import DoctorConfig, Finding, Severity, audit, plan_fixes


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


def _key(f: Finding) -> tuple[int, str, str, str]:
    return f.index, f.rule_id, f.container or "", f.path


def _audit(files: list[str], config: DoctorConfig) -> tuple[list[Manifest], list[Finding]]:
    manifests = load(files)
    return manifests, audit([m.obj for m in manifests], config=config)


def _run(
    *,
    files: list[str],
    fix: bool,
    fail_on: FailOn,
    output: Output,
    config: DoctorConfig,
) -> int:
    if fix and STDIN in files:
        raise UsageError("--fix rewrites files in place and cannot rewrite stdin (-f -)")
    manifests, findings = _audit(files, config)
    fixed: list[Located] = []
    if fix:
        plans = plan_fixes([m.obj for m in manifests], findings, config=config)
        if plans:
            before = locate(findings, manifests)  # lines of the files as they were
            written = apply_fixes(manifests, plans)
            manifests, findings = _audit(files, config)
            remaining = {_key(f) for f in findings}
            fixed = [i for i in before if _key(i.finding) not in remaining]
            for item in fixed:
                f = item.finding
                typer.echo(f"fixed {item.where}: {f.rule_id} {f.slug}", err=True)
            for name in written:
                typer.echo(f"wrote {name}", err=True)
    items = locate(findings, manifests)
    if output is Output.json:
        typer.echo(render_json(items, objects=len(manifests), fixed=fixed), nl=False)
    elif output is Output.sarif:
        typer.echo(render_sarif(items), nl=False)
    else:
        typer.echo(render_text(items, objects=len(manifests)), nl=False)
    if fail_on is FailOn.none:
        return 0
    threshold = Severity.parse(fail_on.value)
    return 1 if any(f.severity.at_least(threshold) for f in findings) else 0


def doctor(  # keyword-only: typer passes every parameter by name
    *,
    app_name: Annotated[
        str | None,
        typer.Argument(
            metavar="APP",
            help="An app in the cluster (not available yet: use -f).",
            show_default=False,
        ),
    ] = None,
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
            help="Rewrite the files in place for the fixable rules (comments survive), "
            "then report what remains.",
        ),
    ] = False,
    fail_on: Annotated[
        FailOn,
        typer.Option("--fail-on", help="Exit 1 when a finding is at least this severe."),
    ] = FailOn.error,
    output: Annotated[Output, typer.Option("-o", "--output", help="Report format.")] = (
        Output.text
    ),
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
            min=0,
            help="How long endpoint removal takes to reach every proxy; preStop must sleep "
            "at least this long.",
        ),
    ] = 5,
    drain_seconds: Annotated[
        int,
        typer.Option(
            "--drain-seconds",
            min=0,
            help="How long the app needs after SIGTERM to finish in-flight requests.",
        ),
    ] = 5,
) -> None:
    """Check Deployments, Services, PDBs and HPAs for what drops requests during a release.

    Every rule, and why pods get requests after SIGTERM, is explained in docs/doctor.md.
    """
    try:
        if app_name is not None:
            raise UsageError(
                f"kprism doctor {app_name}: checking a live app is not available yet; "
                "pass its manifests with -f FILE|DIR|-"
            )
        if not filename:
            raise UsageError("kprism doctor: pass manifests with -f FILE|DIR|- (repeatable)")
        config = DoctorConfig(
            propagation_seconds=propagation_seconds,
            drain_seconds=drain_seconds,
            select=frozenset(select or ()),
            ignore=frozenset(ignore or ()),
        )
        code = _run(files=filename, fix=fix, fail_on=fail_on, output=output, config=config)
    except KprismError as err:
        typer.echo(f"kprism: error: {err}", err=True)
        raise typer.Exit(err.exit_code) from None
    raise typer.Exit(code)


def register(app: typer.Typer) -> None:
    """Attach ``doctor`` to the root ``kprism`` app."""
    app.command("doctor")(doctor)


__all__ = ["FailOn", "Output", "doctor", "register"]
