"""The root of the ``kprism`` command: the typer app, the context every command shares,
the one error printer, and the options and arguments several commands take.

:class:`Cli` is the context object: where to connect (``--kubeconfig``, ``--context``,
``-n/--namespace``) and how to print (``-o/--output``). The root callback sets it from
the options given before the command; :func:`command` declares the same options on
every command, so they work after it too (and win there).

Every error is printed by :func:`print_error` as one line, ``kprism: error: …``, and
exits with the code of :mod:`kprism.errors` (click's usage errors: 2).

Startup stays fast: nothing here imports :mod:`kprism.ops` (the Kubernetes client,
pydantic); a command imports it when it runs.
"""

from __future__ import annotations

import functools
import inspect
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperCommand, TyperGroup

from kprism import __version__
from kprism.errors import KprismError

if TYPE_CHECKING:
    from kprism import ops

#: ``ops.DEFAULT_TRACK_LABEL``, repeated here so ``--help`` need not load ops (a unit test
#: keeps the two equal)
TRACK_LABEL = "color"


class Output(StrEnum):
    """How results are printed on stdout."""

    table = "table"
    json = "json"
    yaml = "yaml"


class StrategyName(StrEnum):
    """``--strategy``: the names of ``kprism.model.release.Strategy`` (kept equal by a test)."""

    bluegreen = "bluegreen"
    canary = "canary"


@dataclass(frozen=True, kw_only=True)
class Cli:
    """What every command shares: the connection target and the output format."""

    kubeconfig: str | None = None
    context: str | None = None
    namespace: str | None = None
    output: Output = Output.table

    @staticmethod
    def of(ctx: Any) -> Cli:
        """The context object of ``ctx`` (or its parents); defaults outside ``kprism``."""
        found = ctx.find_object(Cli)
        return found if found is not None else Cli()

    def merged(self, **given: Any) -> Cli:
        """This target with the options given (not None) replacing its fields."""
        return replace(self, **{k: v for k, v in given.items() if v is not None})

    @property
    def machine(self) -> bool:
        """JSON or YAML on stdout: no progress lines, no tables."""
        return self.output is not Output.table

    def connect(self) -> ops.Kube:
        from kprism import ops

        ops.set_source("cli")  # the audit trail names the shell
        return ops.connect(
            kubeconfig=self.kubeconfig, context=self.context, namespace=self.namespace
        )

    def open_app(self, name: str, *, track_label: str | None) -> tuple[ops.Kube, ops.App]:
        """Connect and name the app ``name`` in this target's namespace (``track_label``
        None: the one stored on the app, else the default)."""
        from kprism import ops

        kube = self.connect()
        return kube, ops.app_ref(kube, name, track_label=track_label)


# -- errors -----------------------------------------------------------------------------


def print_error(message: object) -> None:
    """The one error printer: ``kprism: error: MESSAGE`` as one line on stderr."""
    line = " ".join(part.strip() for part in str(message).splitlines() if part.strip())
    prefix = "kprism: error:"
    if sys.stderr.isatty():
        prefix = f"\x1b[1;31m{prefix}\x1b[0m"
    sys.stderr.write(f"{prefix} {line}\n")
    sys.stderr.flush()


def _is_click_error(exc: BaseException) -> bool:
    """click's (or typer's vendored click's) ClickException, by its interface."""
    return hasattr(exc, "format_message") and isinstance(getattr(exc, "exit_code", None), int)


def _click_error_line(exc: Any) -> str:
    message = str(exc.format_message()).strip().rstrip(".")
    ctx = getattr(exc, "ctx", None)
    if ctx is not None:
        message += f"; see `{ctx.command_path} --help`"
    return message


@dataclass(frozen=True)
class Lazy:
    """A command imported only when it runs (or its help is asked for): ``load`` returns
    its click command; ``summary`` is its line in ``kprism --help`` meanwhile."""

    load: Callable[[], Any]
    summary: str


#: commands loaded on first use, by name (``kprism.cli.main`` fills it); the order of
#: ``kprism --help`` (``ORDER``; commands not in it come last)
LAZY: dict[str, Lazy] = {}
ORDER: list[str] = []


class KprismGroup(TyperGroup):
    """The root command: runs click in non-standalone mode and prints every error, its
    own or click's, through :func:`print_error`; loads :data:`LAZY` commands on use."""

    def list_commands(self, ctx: Any) -> list[str]:
        names = list(dict.fromkeys([*self.commands, *LAZY]))
        return sorted(names, key=lambda n: ORDER.index(n) if n in ORDER else len(ORDER))

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name not in self.commands and cmd_name in LAZY:
            self.commands[cmd_name] = LAZY[cmd_name].load()
        return self.commands.get(cmd_name)

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        names = self.list_commands(ctx)
        limit = formatter.width - 6 - max(map(len, names), default=0)
        rows = []
        for name in names:
            if name in self.commands:
                if not self.commands[name].hidden:
                    rows.append((name, self.commands[name].get_short_help_str(limit)))
            elif name in LAZY:
                rows.append((name, LAZY[name].summary))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        try:
            rv = super().main(
                args=args,
                prog_name=prog_name,
                complete_var=complete_var,
                standalone_mode=False,
                **extra,
            )
            code = rv if isinstance(rv, int) else 0
        except KprismError as exc:
            print_error(exc)
            code = exc.exit_code
        except typer.Abort:
            print_error("aborted")
            code = 1
        except Exception as exc:
            if not _is_click_error(exc):
                raise
            if type(exc).__name__ == "NoArgsIsHelpError":  # bare `kprism`: the help
                exc.show()  # type: ignore[attr-defined]
            else:
                print_error(_click_error_line(exc))
            code = int(exc.exit_code)  # type: ignore[attr-defined]
        if standalone_mode:
            sys.exit(code)
        return code

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            sys.stderr.write(
                "interrupted: the release state is in the cluster; `kprism resume` continues it\n"
            )
            raise typer.Exit(130) from None


def _argument_name(param: Any) -> str:
    name = str(param.metavar or (param.name or "").upper())
    return name if param.nargs == 1 or name.endswith("...") else f"{name}..."


class KprismCommand(TyperCommand):
    """A command whose help shows arguments by their metavar (``APP``), as options are:
    not ``{APP}`` in the usage line, nor ``APP <str>`` in the list."""

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            if param.param_type_name == "argument":
                name = _argument_name(param)
                pieces.append(name if param.required else f"[{name}]")
        return pieces

    def format_options(self, ctx: Any, formatter: Any) -> None:
        sections: dict[str, list[tuple[str, str]]] = {"Arguments": [], "Options": []}
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is None:
                continue
            if param.param_type_name == "argument":
                sections["Arguments"].append((_argument_name(param), record[1]))
            else:
                sections["Options"].append(record)
        for title, rows in sections.items():
            if rows:
                with formatter.section(title):
                    formatter.write_dl(rows)


app = typer.Typer(
    name="kprism",
    cls=KprismGroup,
    help="Progressive delivery (blue-green, canary) for plain Kubernetes Deployments and Services.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


# -- shared options ---------------------------------------------------------------------

AppArg = Annotated[
    str,
    typer.Argument(metavar="APP", help="The app: the name of its Service.", show_default=False),
]
TrackLabel = Annotated[
    str,
    typer.Option("--track-label", metavar="LABEL", help="Label that tells tracks apart."),
]
#: ``--track-label`` on a command about one app: None when not given, and then the label
#: stored on the app's Service at adopt or release is used (else ``color``)
AppTrackLabel = Annotated[
    str | None,
    typer.Option(
        "--track-label",
        metavar="LABEL",
        help="Label that tells tracks apart (default: the one the app was adopted or "
        f"released with, else {TRACK_LABEL}).",
        show_default=False,
    ),
]


def seconds(flag: str, *, minimum: float | None = None) -> Callable[[str], float]:
    """A parser for a seconds option: a finite number in the range a release spec takes
    (``kprism.model.release.check_seconds``), or one line naming the flag."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise typer.BadParameter(f"{text!r} is not a number of seconds") from None
        from kprism.model.release import check_seconds

        try:
            return check_seconds(flag, value, minimum=minimum)
        except KprismError as exc:
            raise typer.BadParameter(str(exc).removeprefix(f"{flag} ")) from None

    return parse


Timeout = Annotated[
    float | None,
    typer.Option(
        "--timeout",
        metavar="SECONDS",
        parser=seconds("--timeout"),
        help="Give up waiting after this many seconds (exit 1).",
        show_default=False,
    ),
]

_TARGET: dict[str, Any] = {
    "namespace": Annotated[
        str | None,
        typer.Option(
            "--namespace",
            "-n",
            metavar="NAMESPACE",
            help="Namespace (default: the kubeconfig context's).",
            show_default=False,
        ),
    ],
    "context": Annotated[
        str | None,
        typer.Option(
            "--context", metavar="CONTEXT", help="kubeconfig context to use.", show_default=False
        ),
    ],
    "kubeconfig": Annotated[
        str | None,
        typer.Option(
            "--kubeconfig",
            metavar="PATH",
            help="Path to the kubeconfig file (default: $KUBECONFIG, ~/.kube/config).",
            show_default=False,
        ),
    ],
}
ContextOpt = _TARGET["context"]
KubeconfigOpt = _TARGET["kubeconfig"]
_OUTPUT: dict[str, Any] = {
    "output": Annotated[
        Output | None,
        typer.Option(
            "--output",
            "-o",
            metavar="table|json|yaml",
            help="Output format (default: table).",
            show_default=False,
        ),
    ],
}
_CTX = inspect.Parameter("ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=typer.Context)


def _shared(*, output: bool) -> list[inspect.Parameter]:
    options = {**_TARGET, **(_OUTPUT if output else {})}
    return [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=kind, default=None)
        for name, kind in options.items()
    ]


def _epilog(examples: Sequence[str]) -> str | None:
    if not examples:
        return None
    # \b keeps click from re-wrapping the lines of the paragraph
    return "Examples:\n\n\b\n" + "\n".join(f"  {line}" for line in examples)


def command(
    name: str | None = None, *, examples: Sequence[str] = (), output: bool = True
) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Register ``fn(cli, ...)`` as a ``kprism`` command: its own parameters, plus the
    connection options (and ``-o`` unless ``output=False``) declared here once. Given
    after the command, they override those given before it; ``fn`` gets the merged
    :class:`Cli`."""

    def register(fn: Callable[..., None]) -> Callable[..., None]:
        sig = inspect.signature(fn, eval_str=True)
        shared = _shared(output=output)
        names = [p.name for p in shared]
        # typer passes every parameter by name: keyword-only, in any order of defaults
        own = [
            p.replace(kind=inspect.Parameter.KEYWORD_ONLY)
            for p in list(sig.parameters.values())[1:]
        ]

        @functools.wraps(fn)
        def run(ctx: typer.Context, **kwargs: Any) -> None:
            cli = Cli.of(ctx).merged(**{n: kwargs.pop(n) for n in names})
            ctx.obj = cli
            fn(cli, **kwargs)

        every = [_CTX, *own, *shared]
        run.__signature__ = sig.replace(  # type: ignore[attr-defined]
            parameters=every, return_annotation=None
        )
        run.__annotations__ = {p.name: p.annotation for p in every}
        app.command(name, cls=KprismCommand, epilog=_epilog(examples))(run)
        return fn

    return register


def _version(value: bool) -> None:
    if value:
        typer.echo(f"kprism {__version__}")
        raise typer.Exit(0)


def _root(ctx: typer.Context, **given: Any) -> None:
    """Progressive delivery for plain Kubernetes: no CRDs, no mesh, no controller."""
    given.pop("version", None)
    ctx.obj = Cli().merged(**given)


_VERSION = inspect.Parameter(
    "version",
    inspect.Parameter.KEYWORD_ONLY,
    default=False,
    annotation=Annotated[
        bool,
        typer.Option(
            "--version", help="Print the version and exit.", callback=_version, is_eager=True
        ),
    ],
)
_root_params = [_CTX, _VERSION, *_shared(output=True)]
_root.__signature__ = inspect.Signature(_root_params)  # type: ignore[attr-defined]
_root.__annotations__ = {p.name: p.annotation for p in _root_params}
app.callback()(_root)


@app.command("version")
def version_cmd() -> None:
    """Print the version."""
    typer.echo(f"kprism {__version__}")
