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
``cli/controller.py`` controller (the in-cluster controller, loaded by name)
``cli/install.py``  install (the controller's manifests)
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from kprism import __version__

if TYPE_CHECKING:
    from kprism.cli.app import app

__all__ = ["ORDER", "app", "main"]

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
    "controller",
    "install",
)


def _load_doctor() -> Any:
    """``kprism doctor``, imported when used: it loads the rule engine and the manifest
    reader, which ``kprism --help`` and the other commands need not wait for."""
    import typer

    from kprism.cli import doctor
    from kprism.cli.app import KprismCommand

    sub = typer.Typer(add_completion=False, pretty_exceptions_enable=False, rich_markup_mode=None)
    sub.callback()(lambda: None)
    doctor.register(sub)
    sub.registered_commands[0].cls = KprismCommand
    return typer.main.get_group(sub).commands["doctor"]


def _build() -> Any:
    """The root app with every command registered (once)."""
    from typer.core import TyperCommand

    from kprism.cli import app as root
    from kprism.cli import (  # noqa: F401  (they register commands)
        controller,
        inspect,
        install,
        release,
        tracks,
        web,
    )

    if not root.ORDER:
        root.ORDER[:] = ORDER
        root.LAZY["doctor"] = root.Lazy(
            _load_doctor, "Check manifests or live apps for what drops requests (--fix)."
        )
        for info in root.app.registered_commands:
            if info.cls in (None, TyperCommand):
                info.cls = root.KprismCommand  # the same help layout for every command
    return root.app


def __getattr__(name: str) -> Any:
    if name == "app":
        return _build()
    raise AttributeError(name)


def main(argv: list[str] | None = None) -> None:
    """Run the CLI: exits with the command's code (usage errors 2, kprism errors theirs)."""
    args = sys.argv[1:] if argv is None else list(argv)
    if args == ["--version"]:  # answered before loading the command line library
        sys.stdout.write(f"kprism {__version__}\n")
        raise SystemExit(0)
    _build()(args=args, prog_name="kprism")


if __name__ == "__main__":
    main()
