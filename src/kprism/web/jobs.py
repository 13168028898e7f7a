"""Long operations of the dashboard, each in a background thread of its process.

A release, a rollback or an intent sent to an unattended release is driven by
:func:`kprism.ops.drive` until it is over (or waits for an operator). The HTTP request
that started it must not wait that long, yet must still answer "bad input" when
``ops`` refuses before changing anything. So a request starts a :class:`Job` and waits
until the job either finishes or reports its first engine tick (validation passed, the
engine is driving), whichever comes first, then answers 200, 202 or the error.

While a job drives a release this process holds the app's Lease, exactly like a CLI
waiting on ``kprism release``; an operator elsewhere can still ``kprism promote`` or
``abort`` (the engine here sees the intent through its watch). Stopping the dashboard
mid-release leaves the release in the cluster; ``kprism resume`` (or the Resume button
of a new dashboard) takes over once the Lease expires.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from kprism.errors import KprismError
from kprism.web.forms import http_status

log = logging.getLogger("kprism.web")

#: Lines of progress kept per job (the page shows the newest ones).
KEEP_LINES = 200
#: Finished jobs kept per app, newest last.
KEEP_JOBS = 5


class TickLike(Protocol):
    """What a job reads from an engine tick (:class:`kprism.engine.loop.Tick`)."""

    @property
    def status(self) -> Any: ...

    @property
    def actions(self) -> tuple[str, ...]: ...


def _iso(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


class ProgressLog:
    """Turns engine ticks into progress lines, as the CLI does when its output is piped:
    one line per action taken (``→``) and event (``✓``), and one when the step's
    message changes."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.start = clock()
        self.lines: deque[str] = deque(maxlen=KEEP_LINES)
        self.last: tuple[str, str] | None = None

    def add(self, text: str, *, step: str = "") -> None:
        t = self.clock() - self.start
        self.lines.append(f"{t:6.1f}s  {step}  {text}" if step else f"{t:6.1f}s  {text}")

    def tick(self, tick: TickLike) -> None:
        st = tick.status
        acted = [a for a in tick.actions if not a.startswith("event ")]
        for action in tick.actions:
            if action.startswith("event "):
                self.add("✓ " + action.removeprefix("event "), step=st.step)
            else:
                self.add(f"→ {action}", step=st.step)
        key = (st.step, st.message)
        if key == self.last:
            return
        self.last = key
        if st.message != "; ".join(acted):
            self.add(st.message, step=st.step)


@dataclass(eq=False)
class Job:
    """One long operation on one app."""

    id: int
    app: str  # "namespace/app"
    kind: str  # release, rollback, promote, abort, split, ...
    started_at: str
    progress: ProgressLog = field(default_factory=ProgressLog)
    finished_at: str = ""
    result: str = ""  # one line: how it ended
    error: str = ""
    error_status: int = 0
    reported: bool = False  # the error went back as the HTTP response already
    release_id: str = ""
    handed_to: str = ""  # the controller driving it: this job only follows
    warnings: list[str] = field(default_factory=list)
    ticked: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None

    def on_tick(self, tick: TickLike) -> None:
        """An engine tick (``ops`` ``on_tick=``): the job is past validation and driving."""
        self.release_id = str(getattr(tick.status, "id", "") or self.release_id)
        self.progress.tick(tick)
        self.ticked.set()

    def on_progress(self, line: str) -> None:
        """A progress line (``ops`` ``on_progress=``, used by split)."""
        self.progress.add(line)
        self.ticked.set()

    def on_handover(self, handed: Any) -> None:
        """A controller drives the release (``ops`` ``on_handover=``): the job follows it."""
        self.release_id = str(handed.status.id)
        self.handed_to = str(handed.controller)
        self.progress.add(
            f"{self.kind} of release {self.release_id} handed over to the controller "
            f"{self.handed_to}; following it",
            step=str(handed.status.step),
        )
        self.ticked.set()

    def on_warning(self, message: str) -> None:
        self.warnings.append(message)
        self.progress.add(f"warning: {message}")

    @property
    def running(self) -> bool:
        return not self.done.is_set()

    def wait_started(self, timeout: float) -> bool:
        """Wait until the job ticked or finished; True if it did within ``timeout``."""
        deadline = time.monotonic() + timeout
        while not (self.ticked.is_set() or self.done.is_set()):
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self.ticked.wait(min(left, 0.05))
        return True

    def view(self, *, lines: int = 40) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "state": "running" if self.running else ("failed" if self.error else "done"),
            "startedAt": self.started_at,
            "finishedAt": self.finished_at,
            "release": self.release_id,
            "controller": self.handed_to,
            "result": self.result,
            "error": "" if self.reported else self.error,
            "warnings": list(self.warnings),
            "lines": list(self.progress.lines)[-lines:],
        }


Work = Callable[[Job], str]


class Jobs:
    """The registry of this process's jobs, per app (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._by_app: dict[str, list[Job]] = {}

    def start(self, app: str, kind: str, work: Work) -> Job:
        """Run ``work(job)`` in a daemon thread; it returns a one-line result."""
        job = Job(id=next(self._ids), app=app, kind=kind, started_at=_iso(datetime.now(UTC)))
        with self._lock:
            jobs = self._by_app.setdefault(app, [])
            jobs.append(job)
            finished = [j for j in jobs if not j.running and j is not job]
            for old in finished[: max(0, len(jobs) - KEEP_JOBS)]:
                jobs.remove(old)
        job.thread = threading.Thread(
            target=self._run, args=(job, work), name=f"kprism-{kind}-{app}", daemon=True
        )
        job.thread.start()
        return job

    @staticmethod
    def _run(job: Job, work: Work) -> None:
        try:
            job.result = work(job)
        except KprismError as exc:
            job.error, job.error_status = str(exc), http_status(exc)
        except Exception as exc:  # a bug: keep the dashboard up, show it on the page
            log.exception("%s of %s failed", job.kind, job.app)
            job.error, job.error_status = f"internal error: {type(exc).__name__}: {exc}", 500
        finally:
            job.finished_at = _iso(datetime.now(UTC))
            if job.result:
                job.progress.add(job.result)
            elif job.error:
                job.progress.add(f"error: {job.error}")
            job.done.set()

    def forget(self, job: Job) -> None:
        """Drop a finished job (its outcome went back as the HTTP response)."""
        with self._lock:
            jobs = self._by_app.get(job.app, [])
            if job in jobs and not job.running:
                jobs.remove(job)

    def for_app(self, app: str) -> list[Job]:
        with self._lock:
            return list(self._by_app.get(app, ()))

    def running(self, app: str | None = None) -> list[Job]:
        with self._lock:
            keys = [app] if app is not None else list(self._by_app)
            return [j for k in keys for j in self._by_app.get(k, ()) if j.running]

    def wait_all(self, timeout: float) -> bool:
        """Wait until no job runs (tests, shutdown); True if none is left."""
        deadline = time.monotonic() + timeout
        return all(job.done.wait(max(0.0, deadline - time.monotonic())) for job in self.running())
