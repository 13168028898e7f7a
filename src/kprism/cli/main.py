"""The ``kprism`` command (also installed as ``kubectl-prism``, so ``kubectl prism`` works).

A thin shell over :mod:`kprism.ops`: it parses arguments, calls the API, renders the
result and prints every :class:`kprism.errors.KprismError` as one line
(``kprism: error: …``) with its exit code (0 ok, 1 release failed/aborted/rolled back,
2 bad input, 3 cluster unreachable or forbidden). It never talks to the API server
itself.

The command groups live in their own modules, each registering its commands on the one
app of :mod:`kprism.cli.app` when imported; the order of the imports is the order of
``kprism --help``:

``cli/app.py``      the app, the shared context object (:class:`~kprism.cli.app.Cli`),
                    the error printer, the shared options
``cli/release.py``  release, plan, promote, abort, pause, resume, rollback
``cli/inspect.py``  status, history, list
``cli/tracks.py``   adopt, clone, split, scale
``cli/doctor.py``   doctor
``cli/web.py``      web
"""

from __future__ import annotations

from typing import Any

from typer.core import TyperCommand

from kprism.cli import inspect, release, tracks, web
from kprism.cli.app import Cli, KprismCommand, app

__all__ = ["app", "main"]

#: the order of ``kprism --help``
ORDER = (
    "version",
    "release",
    "plan",
    "promote",
    "abort",
    "pause",
    "resume",
    "rollback",
    "status",
    "history",
    "list",
    "adopt",
    "clone",
    "split",
    "scale",
    "doctor",
    "web",
)
_GROUPS = (release, inspect, tracks, web)  # imported for the commands they register


def _doctor_connect(kubeconfig: str | None, context: str | None, namespace: str | None) -> Any:
    """``kprism doctor``'s connection: its own options over the global ones."""
    from typer._click.globals import get_current_context

    cli = Cli.of(get_current_context()).merged(
        kubeconfig=kubeconfig, context=context, namespace=namespace
    )
    return cli.connect()


def _register() -> None:
    if not any(c.name == "doctor" for c in app.registered_commands):
        from kprism.cli import doctor

        doctor.register(app, connect=_doctor_connect)
    for info in app.registered_commands:
        if info.cls in (None, TyperCommand):
            info.cls = KprismCommand  # the same help layout for every command
    app.registered_commands.sort(key=lambda c: ORDER.index(c.name or ""))


_register()  # here, so that `python -m kprism.cli.main` has every command too


def main(argv: list[str] | None = None) -> None:
    """Run the CLI: exits with the command's code (usage errors 2, kprism errors theirs)."""
    app(args=argv, prog_name="kprism")


if __name__ == "__main__":
    main()
