"""The dashboard's HTTP API and the page, on FastAPI; ``kprism web`` serves it.

Every route is one :mod:`kprism.ops` call (the same the CLI makes), so the dashboard
can do nothing the CLI cannot, and release state stays in the cluster. Errors from
``ops`` come back as ``{"error": "<the CLI's one-line message>"}`` with the status
:func:`kprism.web.forms.http_status` picks; nothing in the cluster has changed when the
status is 400.

API (JSON; POSTs need the header ``X-Kprism: 1``, which a cross-site form cannot send):

=======  ========================================  ==========================================
GET      /api/config                               default namespace, context, version
GET      /api/namespaces                           namespaces that have apps (+ the default)
GET      /api/apps?namespace=NS                    apps of a namespace (``ops.list_apps``)
GET      /api/apps/NS/APP                          tracks, release, canary steps, jobs (1 poll)
GET      /api/apps/NS/APP/history                  ``ops.history``
POST     /api/apps/NS/APP/release                  start a release (202; runs in a job)
POST     /api/apps/NS/APP/intent/ACTION            promote, promote-full, pause, resume, abort
POST     /api/apps/NS/APP/rollback                 roll back (202; runs in a job)
POST     /api/apps/NS/APP/scale | clone | split    scale a track, clone one, split traffic
=======  ========================================  ==========================================

Network safety: ``kprism web`` listens on 127.0.0.1 unless told otherwise, and the app
answers only requests whose Host is a loopback name (no DNS rebinding).
"""

from __future__ import annotations

import ipaddress
import socket
import sys
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager, suppress
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response

from kprism import __version__, ops
from kprism.errors import KprismError, NotFoundError, UsageError
from kprism.model.release import Action
from kprism.ops.apps import namespace_missing
from kprism.web import forms, page, views
from kprism.web.forms import (
    CloneForm,
    IntentForm,
    ReleaseForm,
    RollbackForm,
    ScaleForm,
    SplitForm,
)
from kprism.web.jobs import Job, Jobs

if TYPE_CHECKING:  # the type ops.connect returns; the dashboard only passes it to ops
    import uvicorn

    from kprism.ops import Kube

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
#: Seconds a POST waits for its job to pass validation before answering 202.
START_WAIT = 10.0
CSRF_HEADER = "x-kprism"


class Dashboard:
    """The operations behind the routes: ``ops`` calls, jobs for the long ones."""

    def __init__(
        self,
        *,
        kubeconfig: str | None,
        context: str | None,
        namespace: str | None,
        start_wait: float = START_WAIT,
    ) -> None:
        self._target = {"kubeconfig": kubeconfig, "context": context, "namespace": namespace}
        ops.set_source("web")  # the audit trail names the shell
        self.context = context
        self.kube = self.connect()  # fails fast on a missing kubeconfig or context
        self.namespace = self.kube.namespace
        self.jobs = Jobs()
        self.start_wait = start_wait
        self._unwatch: Callable[[], None] | None = None

    def connect(self) -> Kube:
        return ops.connect(**self._target)

    @contextmanager
    def connection(self) -> Iterator[Kube]:
        """A connection of its own for a job (closed when the job ends)."""
        kube = self.connect()
        try:
            yield kube
        finally:
            ops.disconnect(kube)  # after its notifications went out

    def close(self) -> None:
        if self._unwatch is not None:
            self._unwatch()
        self.kube.close()

    def _watch_apps(self) -> None:
        """One watch of the Services for every browser session: the app lists and the
        namespace picker answer from it instead of a LIST per poll. Started on first use;
        while the cluster cannot be reached, lists go to it (and say why they fail)."""
        if self._unwatch is None:
            with suppress(KprismError):
                self._unwatch = ops.watch_apps(self.kube, namespace=None)

    def ref(self, namespace: str, name: str) -> ops.App:
        return ops.app_ref(self.kube, name, namespace=namespace)

    # -- reading ------------------------------------------------------------------------

    def config(self) -> dict[str, Any]:
        return {"namespace": self.namespace, "context": self.context, "version": __version__}

    def namespaces(self) -> list[str]:
        self._watch_apps()
        try:
            found = {a.namespace for a in ops.list_apps(self.kube, namespace=None)}
        except KprismError:  # not allowed to list across namespaces: offer the default
            found = set()
        return sorted(found | {self.namespace})

    def apps(self, namespace: str) -> list[dict[str, Any]]:
        """The apps of ``namespace``; an unknown namespace is a NotFoundError (400)."""
        self._watch_apps()
        summaries = ops.list_apps(self.kube, namespace=namespace)
        if not summaries and namespace_missing(self.kube, namespace):
            raise NotFoundError(
                f"namespace {namespace!r} does not exist: pick an existing namespace",
                kind="Namespace",
                name=namespace,
            )
        out = []
        for a in summaries:
            running = self.jobs.running(f"{a.namespace}/{a.name}")
            out.append({**a.__dict__, "job": running[-1].kind if running else None})
        return out

    def detail(self, namespace: str, name: str) -> dict[str, Any]:
        status = ops.app_status(self.kube, self.ref(namespace, name)).to_dict()
        jobs = [j.view() for j in self.jobs.for_app(f"{namespace}/{name}")]
        return views.detail(status, jobs)

    def history(self, namespace: str, name: str) -> list[dict[str, Any]]:
        return ops.history(self.kube, self.ref(namespace, name))

    # -- acting ---------------------------------------------------------------------------

    def run(self, namespace: str, name: str, kind: str, work: Callable[[Job], str]) -> Response:
        """Start ``work`` as a job and answer once it passed validation (202) or ended."""
        job = self.jobs.start(f"{namespace}/{name}", kind, work)
        job.wait_started(self.start_wait)
        if job.done.is_set():  # refused, or an intent the engine elsewhere acts on
            job.reported = True
            self.jobs.forget(job)
            if job.error:
                return error_response(job.error, job.error_status)
            return JSONResponse({"message": job.result, "job": job.view()})
        what = f"{kind} {job.release_id}".strip()
        return JSONResponse(
            {"message": f"{what} started: this dashboard drives it", "job": job.view()},
            status_code=202,
        )

    def release(self, namespace: str, name: str, form: ReleaseForm) -> Response:
        spec = forms.release_args(form).to_spec()  # bad input: 400 before anything starts
        ref = self.ref(namespace, name)

        def work(job: Job) -> str:
            with self.connection() as kube:
                st, lease = ops.start_release(
                    kube, ref, spec, force=form.force, on_warning=job.on_warning
                )
                job.release_id = st.id
                job.progress.add(
                    f"release {st.id}: {st.stable} → {st.candidate} ({st.spec.strategy.value})",
                    step=st.step,
                )
                job.ticked.set()
                final = ops.drive(kube, ref, lease=lease, on_tick=job.on_tick)
            return f"release {final.id} {final.phase.value.lower()}: {final.message}"

        return self.run(namespace, name, "release", work)

    def intent(self, namespace: str, name: str, action: Action, form: IntentForm) -> Response:
        ref = self.ref(namespace, name)
        if action == Action.PROMOTE_FULL:
            # ops.send_intent words the other actions' "nothing to ..." refusal itself
            release = ops.app_status(self.kube, ref).release
            if release is None or release.phase.terminal:
                last = (
                    f" (last release {release.id} {release.phase.value.lower()})" if release else ""
                )
                raise UsageError(f"nothing to promote: app {name} has no release in progress{last}")

        def work(job: Job) -> str:
            with self.connection() as kube:
                if action == Action.ABORT:  # a split in flight is aborted like a release
                    done = ops.abort_operation(
                        kube, ref, reason=form.reason, on_progress=job.on_progress
                    )
                    if done is not None:
                        op, _ = done
                        if not op.in_flight:
                            return op.message
                        return f"abort sent to {op.kind.value} {op.id}: the process driving it restores the traffic"
                st = ops.send_intent(kube, ref, action, reason=form.reason, on_tick=job.on_tick)
            if job.ticked.is_set():  # nobody drove the release: this job did
                return f"{action.value}: release {st.id} {st.phase.value.lower()} at {st.step}: {st.message}"
            return f"{action.value} sent to release {st.id}: the engine holding the app's Lease acts on it"

        return self.run(namespace, name, action.value, work)

    def rollback(self, namespace: str, name: str, form: RollbackForm) -> Response:
        ref = self.ref(namespace, name)

        def work(job: Job) -> str:
            with self.connection() as kube:
                st = ops.rollback(
                    kube, ref, on_tick=job.on_tick, scale_down_delay=form.scale_down_delay
                )
            return f"{st.kind.value} {st.id} {st.phase.value.lower()}: {st.message}"

        return self.run(namespace, name, "rollback", work)

    def split(self, namespace: str, name: str, form: SplitForm) -> Response:
        weights = forms.parse_weights(form.weights)
        ref = self.ref(namespace, name)

        def work(job: Job) -> str:
            with self.connection() as kube:
                return ops.split(kube, ref, weights, on_progress=job.on_progress)

        return self.run(namespace, name, "split", work)

    def scale(self, namespace: str, name: str, form: ScaleForm) -> dict[str, Any]:
        ref = self.ref(namespace, name)
        dep = ops.scale(self.kube, ref, track=form.track, replicas=form.replicas)
        return {"message": f"scaled {dep.name} ({ref.track_label}={form.track}) to {form.replicas}"}

    def clone(self, namespace: str, name: str, form: CloneForm) -> dict[str, Any]:
        args = ops.SpecArgs(images=forms.parse_images(form.image))
        ref = self.ref(namespace, name)
        message = ops.clone(
            self.kube, ref, track=form.track, change=args.to_spec().change, replicas=form.replicas
        )
        return {"message": message}


def error_response(message: str, status: int) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _hostname(host_header: str) -> str:
    return (urlsplit(f"//{host_header}").hostname or "").lower()


def create_app(
    *,
    kubeconfig: str | None = None,
    context: str | None = None,
    namespace: str | None = None,
    allowed_hosts: Sequence[str] | None = LOOPBACK_HOSTS,
    start_wait: float = START_WAIT,
) -> FastAPI:
    """The dashboard app. Connects at once, so a bad kubeconfig or context raises here.

    ``allowed_hosts``: names the Host header may carry (None: any — only for a dashboard
    deliberately served beyond loopback)."""
    dashboard_page = page.load()  # the static files, and the CSP hashes computed from them
    dash = Dashboard(
        kubeconfig=kubeconfig, context=context, namespace=namespace, start_wait=start_wait
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        dash.close()

    api = FastAPI(
        title="kprism dashboard",
        version=__version__,
        docs_url=None,  # the docs pages load scripts from a CDN: nothing external here
        redoc_url=None,
        openapi_url="/api/openapi.json",
        lifespan=lifespan,
    )
    api.state.dashboard = dash
    hosts = {h.strip("[]").lower() for h in allowed_hosts} if allowed_hosts is not None else None

    @api.middleware("http")
    async def guard(request: Request, call_next: Callable[[Request], Any]) -> Response:
        if hosts is not None and _hostname(request.headers.get("host", "")) not in hosts:
            return error_response(
                f"host {request.headers.get('host', '')!r} is not served here: open the dashboard "
                "on 127.0.0.1 or localhost",
                400,
            )
        if request.method not in ("GET", "HEAD") and request.headers.get(CSRF_HEADER) != "1":
            return error_response(f"{request.method} needs the header X-Kprism: 1", 403)
        response: Response = await call_next(request)
        return response

    @api.exception_handler(KprismError)
    async def kprism_error(_: Request, exc: KprismError) -> JSONResponse:
        return error_response(str(exc), forms.http_status(exc))

    @api.exception_handler(RequestValidationError)
    async def bad_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(forms.validation_message(list(exc.errors())), 400)

    @api.get("/", include_in_schema=False)
    def index() -> HTMLResponse:
        return HTMLResponse(
            dashboard_page.html, headers={"Content-Security-Policy": dashboard_page.csp}
        )

    @api.get("/api/config")
    def config() -> dict[str, Any]:
        return dash.config()

    @api.get("/api/namespaces")
    def namespaces() -> dict[str, Any]:
        return {"namespaces": dash.namespaces()}

    @api.get("/api/apps")
    def apps(namespace: str | None = None) -> dict[str, Any]:
        ns = namespace or dash.namespace
        return {"namespace": ns, "apps": dash.apps(ns)}

    @api.get("/api/apps/{namespace}/{name}")
    def detail(namespace: str, name: str) -> dict[str, Any]:
        return dash.detail(namespace, name)

    @api.get("/api/apps/{namespace}/{name}/history")
    def history(namespace: str, name: str) -> dict[str, Any]:
        return {"history": dash.history(namespace, name)}

    @api.post("/api/apps/{namespace}/{name}/release")
    def release(namespace: str, name: str, form: ReleaseForm) -> Response:
        return dash.release(namespace, name, form)

    @api.post("/api/apps/{namespace}/{name}/intent/{action}")
    def intent(namespace: str, name: str, action: str, form: IntentForm | None = None) -> Response:
        return dash.intent(namespace, name, forms.parse_action(action), form or IntentForm())

    @api.post("/api/apps/{namespace}/{name}/rollback")
    def rollback(namespace: str, name: str, form: RollbackForm | None = None) -> Response:
        return dash.rollback(namespace, name, form or RollbackForm())

    @api.post("/api/apps/{namespace}/{name}/split")
    def split(namespace: str, name: str, form: SplitForm) -> Response:
        return dash.split(namespace, name, form)

    @api.post("/api/apps/{namespace}/{name}/scale")
    def scale(namespace: str, name: str, form: ScaleForm) -> dict[str, Any]:
        return dash.scale(namespace, name, form)

    @api.post("/api/apps/{namespace}/{name}/clone")
    def clone(namespace: str, name: str, form: CloneForm) -> dict[str, Any]:
        return dash.clone(namespace, name, form)

    return api


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def bind(host: str, port: int) -> socket.socket:
    """A listening socket, so that a busy port is one clear error (exit 2).

    The socket names its protocol (``IPPROTO_TCP``): asyncio turns Nagle's algorithm off
    (``TCP_NODELAY``) only on accepted sockets whose protocol says TCP. Without it every
    response after the first on a keep-alive connection waited ≈40 ms for the browser's
    delayed ACK."""
    if not 0 <= port <= 65535:
        raise UsageError(f"cannot listen on {host}:{port}: the port must be from 0 to 65535")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as exc:
        sock.close()
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def serve(
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    kubeconfig: str | None = None,
    context: str | None = None,
    namespace: str | None = None,
) -> None:
    """Serve the dashboard until interrupted (``kprism web``)."""
    loopback = is_loopback(host)
    app = create_app(
        kubeconfig=kubeconfig,
        context=context,
        namespace=namespace,
        allowed_hosts=LOOPBACK_HOSTS if loopback else None,
    )
    sock = bind(host, port)
    shown = f"[{host}]" if ":" in host else host
    dash: Dashboard = app.state.dashboard
    print(
        f"kprism dashboard on http://{shown}:{sock.getsockname()[1]}/ "
        f"(namespace {dash.namespace}; Ctrl-C to stop)",
        file=sys.stderr,
        flush=True,
    )
    if not loopback:
        print(
            f"warning: listening on {host}: the dashboard has no authentication; anyone who can "
            "reach this address can release, promote and roll back with your kubeconfig",
            file=sys.stderr,
            flush=True,
        )
    make_server(app).run(sockets=[sock])


def make_server(app: FastAPI) -> uvicorn.Server:
    """The uvicorn server ``kprism web`` runs ``app`` with (on a socket from :func:`bind`)."""
    import uvicorn

    return uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
