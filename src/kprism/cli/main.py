"""The ``kprism`` command (also installed as ``kubectl-prism``).

A thin shell: it parses arguments, calls :mod:`kprism.ops`, renders the result, and
maps :class:`kprism.errors.KprismError` to one red line and an exit code. It never
talks to the API server itself.
"""

from __future__ import annotations

import typer

from kprism import __version__
from kprism.cli import doctor as _doctor

app = typer.Typer(
    name="kprism",
    help="Progressive delivery (blue-green, canary) for plain Kubernetes Deployments and Services.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"kprism {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", help="Print the version and exit.", callback=_version, is_eager=True
    ),
) -> None:
    """Progressive delivery for plain Kubernetes: no CRDs, no mesh, no controller."""


@app.command("version")
def version_cmd() -> None:
    """Print the version."""
    typer.echo(f"kprism {__version__}")


_doctor.register(app)


def main(argv: list[str] | None = None) -> None:
    """Run the CLI. Usage errors exit 2 (click's convention); kprism errors carry their code."""
    app(args=argv, prog_name="kprism")


if __name__ == "__main__":
    main()
