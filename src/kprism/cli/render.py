"""Rendering for the CLI: tables, JSON/YAML, and progress on long waits.

On a terminal progress is a rich spinner plus one line per step; when piped it is
plain timestamped lines on stderr, so logs stay readable and stdout stays parseable.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape
from rich.status import Status
from rich.table import Table

if TYPE_CHECKING:
    from kprism.ops import Tick

out = Console(highlight=False, soft_wrap=True)
if not out.is_terminal:
    out = Console(highlight=False, soft_wrap=True, width=200)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def emit(data: Any, fmt: str) -> None:
    if fmt == "json":
        sys.stdout.write(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")
    elif fmt == "yaml":
        import yaml

        sys.stdout.write(yaml.safe_dump(data, sort_keys=True, default_flow_style=False))
    else:
        raise ValueError(fmt)
    sys.stdout.flush()


def make_table(columns: list[str], rows: list[list[Any]]) -> Table:
    t = Table(box=None, pad_edge=False, header_style="bold")
    for c in columns:
        t.add_column(c)
    for r in rows:
        t.add_row(*[str(x) for x in r])
    return t


def table(columns: list[str], rows: list[list[Any]]) -> None:
    out.print(make_table(columns, rows))


def warn(message: str) -> None:
    """A warning (a pre-flight finding): one line on stderr, ``warning: …``."""
    err.print(f"[yellow]warning:[/] {escape(message)}", markup=True, highlight=False)


def note(message: str) -> None:
    """A line for the operator on stderr (not a warning): what kprism did instead."""
    err.print(f"kprism: {escape(message)}", markup=True, highlight=False)


def lines(*, quiet: bool) -> Callable[[str], None]:
    """A progress sink for one-shot operations (adopt, split): plain lines on stderr."""

    def say(line: str) -> None:
        if not quiet:
            err.print(line, markup=False)

    return say


class Progress:
    """Receives engine ticks; prints a line per step change and keeps a live spinner."""

    def __init__(self, *, quiet: bool = False) -> None:
        self.quiet = quiet
        self.start = time.monotonic()
        self.last: tuple[str, str] | None = None
        self.last_step = ""
        self.tty = err.is_terminal
        self.spinner: Status | None = None

    def __enter__(self) -> Progress:
        if self.tty and not self.quiet:
            self.spinner = err.status("starting…")
            self.spinner.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.spinner is not None:
            self.spinner.stop()

    def __call__(self, tick: Tick) -> None:
        if self.quiet:
            return
        st = tick.status
        t = time.monotonic() - self.start
        acted = [a for a in tick.actions if not a.startswith("event ")]
        for action in tick.actions:
            if action.startswith("event "):
                self._line(t, st.step, "✓ " + action.removeprefix("event "))
            else:
                self._line(t, st.step, f"→ {action}")
        key = (st.step, st.message)
        if key == self.last:
            return
        self.last = key
        if st.message != "; ".join(acted) and (st.step != self.last_step or not self.tty):
            self._line(t, st.step, st.message)
        self.last_step = st.step
        if self.spinner is not None:
            self.spinner.update(f"[bold]{st.step}[/] {st.message}")

    def _line(self, t: float, step: str, message: str) -> None:
        if self.tty:
            err.print(f"[dim]{t:6.1f}s[/] [bold cyan]{step:<22}[/] {message}")
        else:
            sys.stderr.write(f"{t:6.1f}s {step:<22} {message}\n")
            sys.stderr.flush()
