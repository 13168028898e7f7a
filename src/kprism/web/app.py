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
GET      /api/apps?namespace=NS                    apps of a namespace (``ops.list_apps``);
                                                   with ``limit`` (``q``, ``offset``): a page
GET      /api/apps/NS/APP                          tracks, traffic, release, timeline, jobs
GET      /api/stream?namespace=NS[&app=APP]        server-sent events: detail / apps, problem
GET      /api/apps/NS/APP/history                  ``ops.history`` (+ weight points)
GET      /api/apps/NS/APP/audit                    ``ops.audit`` (``actor``, ``kind``, ``outcome``)
POST     /api/apps/NS/APP/diff/release             what a release would change (nothing done)
GET      /api/apps/NS/APP/diff/rollback?to=REV     what a rollback would change (nothing done)
POST     /api/apps/NS/APP/release                  start a release (202; runs in a job)
POST     /api/apps/NS/APP/intent/ACTION            promote, promote-full, pause, resume, abort
POST     /api/apps/NS/APP/rollback                 roll back (202; runs in a job)
POST     /api/apps/NS/APP/scale | clone | split    scale a track, clone one, split traffic
=======  ========================================  ==========================================

Network safety: ``kprism web`` listens on 127.0.0.1 unless told otherwise, and the app
answers only requests whose Host is a loopback name (no DNS rebinding).

Sign-in (``--auth token|proxy``, :mod:`kprism.web.auth`): ``GET /api/session`` says who is
signed in (401 when nobody is), ``POST /api/login`` takes ``{"token": ...}``, ``POST
/api/logout`` ends the session, ``GET /api/permissions?namespace=NS`` says which actions the
user may take there and why not. Every other ``/api`` route then runs as the signed-in user
(:class:`UserDashboards`: a :class:`Dashboard` per user whose connection impersonates
them), state changes also need the session's CSRF token (``X-Kprism-Csrf``), and an
action the user may not take is refused with 403 before anything is asked of the cluster.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import ipaddress
import json
import socket
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import unquote, urlsplit

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from kprism import __version__, ops
from kprism.errors import ForbiddenError, KprismError, NotFoundError, UsageError
from kprism.model.release import Action
from kprism.ops.apps import namespace_missing
from kprism.web import auth, forms, page, views
from kprism.web.auth import AuthMode, Identity
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
        identity: Identity | None = None,
        jobs: Jobs | None = None,
    ) -> None:
        self._target: dict[str, str | None] = {
            "kubeconfig": kubeconfig,
            "context": context,
            "namespace": namespace,
        }
        self.identity = identity  # the signed-in user every request impersonates
        ops.set_source("web")  # the audit trail names the shell
        self.context = context
        self.kube = self.connect()  # fails fast on a missing kubeconfig or context
        self.namespace = self.kube.namespace
        self.jobs = jobs or Jobs()
        self.start_wait = start_wait
        self._unwatch: Callable[[], None] | None = None
        self._allowed: dict[str, tuple[float, dict[auth.Need, bool]]] = {}
        self._watch_again_at = 0.0  # a refused watch of every namespace is asked again then

    def connect(self) -> Kube:
        who = self.identity
        return ops.connect(
            **self._target,
            as_user=who.user if who else None,
            as_groups=who.groups if who else (),
        )

    def allowed(self, namespace: str) -> dict[auth.Need, bool]:
        """What this user may do in ``namespace`` (access reviews as the user; kept for
        :data:`PERMISSIONS_TTL` seconds)."""
        now = time.monotonic()
        cached = self._allowed.get(namespace)
        if cached is not None and now - cached[0] < PERMISSIONS_TTL:
            return cached[1]
        needs = auth.all_needs()
        answers = ops.permissions(
            self.kube, namespace, [(n.verb, n.resource, n.group) for n in needs]
        )
        allowed = {n: answers[(n.verb, n.resource, n.group)] for n in needs}
        self._allowed[namespace] = (now, allowed)
        return allowed

    def permissions(self, namespace: str) -> dict[str, Any]:
        allowed = self.allowed(namespace)
        actions = {}
        for action in auth.NEEDS:
            why = auth.refusal(action, namespace, allowed)
            actions[action] = {"allowed": why is None, "reason": why or ""}
        return {"namespace": namespace, "actions": actions}

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
        if self._unwatch is None and time.monotonic() >= self._watch_again_at:
            try:
                self._unwatch = ops.watch_apps(self.kube, namespace=None)
            except ForbiddenError:  # a signed-in user who may not list Services everywhere
                self._watch_again_at = time.monotonic() + WATCH_AGAIN
            except KprismError:
                pass

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
        return [ALL_NAMESPACES, *sorted(found | {self.namespace})]

    def apps(self, namespace: str) -> list[dict[str, Any]]:
        """The apps of ``namespace`` (:data:`ALL_NAMESPACES`: of every namespace the user
        may list Services in); an unknown namespace is a NotFoundError (400)."""
        self._watch_apps()
        if namespace == ALL_NAMESPACES:
            try:
                summaries = ops.list_apps(self.kube, namespace=None)
            except ForbiddenError as exc:
                raise ForbiddenError(
                    "you may not list Services in every namespace: pick a namespace"
                ) from exc
        else:
            summaries = ops.list_apps(self.kube, namespace=namespace)
        if (
            not summaries
            and namespace != ALL_NAMESPACES
            and namespace_missing(self.kube, namespace)
        ):
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
        ref = self.ref(namespace, name)
        status = ops.app_status(self.kube, ref).to_dict()
        jobs = [j.view() for j in self.jobs.for_app(f"{namespace}/{name}")]
        release = status.get("release")
        plot = ops.weight_points(release) if release else []
        return views.detail(status, jobs, ops.history(self.kube, ref), plot)

    def page_of_apps(self, namespace: str, *, q: str, offset: int, limit: int) -> dict[str, Any]:
        """One page of the app list (``q``: part of the name), each app with its traffic
        bar: the list stays fast with hundreds of apps."""
        key = "namespace/name" if namespace == ALL_NAMESPACES else "name"
        found = [a for a in self.apps(namespace) if q.lower() in _app_key(a, key)]
        page = found[offset : offset + limit]
        for a in page:
            a["traffic"] = views.list_traffic(a)
        return {"namespace": namespace, "apps": page, "total": len(found), "offset": offset}

    def audit(
        self, namespace: str, name: str, *, actor: str, kind: str, outcome: str
    ) -> list[dict[str, Any]]:
        rows = ops.audit(
            self.kube,
            self.ref(namespace, name),
            actor=actor or None,
            kind=kind or None,
            outcome=outcome or None,
        )
        return [dict(r) for r in rows]

    def release_diff(self, namespace: str, name: str, form: ReleaseForm) -> dict[str, Any]:
        spec = forms.release_args(form).to_spec()
        return ops.preview_release(self.kube, self.ref(namespace, name), spec)

    def rollback_diff(self, namespace: str, name: str, to: str) -> dict[str, Any]:
        return ops.preview_rollback(self.kube, self.ref(namespace, name), to=to or None)

    def history(self, namespace: str, name: str) -> list[dict[str, Any]]:
        """The history, each entry with its timeline's rows and weight points (``rows``,
        ``plot``: the page shows them for a history row picked)."""
        entries = ops.history(self.kube, self.ref(namespace, name))
        return [
            {**e, "rows": views.timeline_rows(e), "plot": ops.weight_points(e)} for e in entries
        ]

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
        how = (
            f"handed over to the controller {job.handed_to}: this page follows it"
            if job.handed_to
            else "started: this dashboard drives it"
        )
        return JSONResponse(
            {"message": f"{what} {how}", "job": job.view()},
            status_code=202,
        )

    def release(self, namespace: str, name: str, form: ReleaseForm) -> Response:
        spec = forms.release_args(form).to_spec()  # bad input: 400 before anything starts
        ref = self.ref(namespace, name)

        def work(job: Job) -> str:
            with self.connection() as kube:
                # a controller covering the app drives it (as with the CLI): hand over, follow
                handed = ops.release_via_controller(
                    kube,
                    ref,
                    spec,
                    force=form.force,
                    on_tick=job.on_tick,
                    on_warning=job.on_warning,
                    on_handover=job.on_handover,
                    check=False,
                )
                if handed is not None:
                    return f"release {handed.id} {handed.phase.value.lower()}: {handed.message}"
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
                st = ops.send_intent(
                    kube,
                    ref,
                    action,
                    reason=form.reason,
                    on_tick=job.on_tick,
                    on_handover=job.on_handover,
                )
            if job.handed_to:  # a controller drives it: this job followed it
                return f"{action.value}: release {st.id} {st.phase.value.lower()} at {st.step}: {st.message}"
            if job.ticked.is_set():  # nobody drove the release: this job did
                return f"{action.value}: release {st.id} {st.phase.value.lower()} at {st.step}: {st.message}"
            return f"{action.value} sent to release {st.id}: the engine holding the app's Lease acts on it"

        return self.run(namespace, name, action.value, work)

    def rollback(self, namespace: str, name: str, form: RollbackForm) -> Response:
        ref = self.ref(namespace, name)

        def work(job: Job) -> str:
            with self.connection() as kube:
                if form.to:
                    st = ops.rollback_to(
                        kube,
                        ref,
                        form.to,
                        on_tick=job.on_tick,
                        scale_down_delay=form.scale_down_delay,
                    )
                else:
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


#: The namespace that stands for all of them in the app list (``/api/apps?namespace=*``,
#: the page's ``#/*``): the overview of every app the user may see.
ALL_NAMESPACES = "*"


def _app_key(app: dict[str, Any], key: str) -> str:
    """What the list's find box matches: the name, or ``namespace/name`` across namespaces."""
    return (f"{app['namespace']}/{app['name']}" if "/" in key else str(app["name"])).lower()


#: Seconds before a user refused the watch of every namespace's Services is tried again
#: (meanwhile their lists are one request per namespace, as without the watch).
WATCH_AGAIN = 300.0
#: Seconds the answers of a user's access reviews are kept per namespace.
PERMISSIONS_TTL = 30.0
#: Signed-in users whose connections are kept open at once (the least recently used
#: one is closed beyond that; the next request opens it again).
KEEP_USERS = 64


class UserDashboards:
    """One :class:`Dashboard` per signed-in user, its connection impersonating them; all
    share the base dashboard's jobs, so everyone sees what runs in this process."""

    def __init__(self, base: Dashboard, *, keep: int = KEEP_USERS) -> None:
        self.base = base
        self.keep = keep
        self._lock = threading.Lock()
        self._users: OrderedDict[Identity, Dashboard] = OrderedDict()

    def get(self, identity: Identity) -> Dashboard:
        with self._lock:
            dash = self._users.get(identity)
            if dash is None:
                dash = Dashboard(
                    kubeconfig=self.base._target["kubeconfig"],
                    context=self.base.context,
                    namespace=self.base._target["namespace"],
                    start_wait=self.base.start_wait,
                    identity=identity,
                    jobs=self.base.jobs,
                )
                self._users[identity] = dash
            self._users.move_to_end(identity)
            evicted = []
            while len(self._users) > self.keep:
                evicted.append(self._users.popitem(last=False)[1])
        for old in evicted:
            old.close()
        return dash

    def close(self) -> None:
        with self._lock:
            users, self._users = list(self._users.values()), OrderedDict()
        for dash in users:
            dash.close()


@dataclass(frozen=True, kw_only=True)
class AuthConfig:
    """How ``kprism web`` signs users in (``--auth`` and its options)."""

    mode: AuthMode = AuthMode.NONE
    secret: str | None = None  # signs the session cookies (random per process if None)
    session_seconds: int = auth.SESSION_SECONDS
    secure_cookie: bool | None = None  # None: Secure when the request came over https
    trusted_proxies: tuple[str, ...] = ("127.0.0.1/32", "::1/128")
    user_header: str = "X-Forwarded-User"
    groups_header: str = "X-Forwarded-Groups"
    sessions: auth.Sessions = field(init=False, repr=False)
    proxies: auth.TrustedProxies = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "sessions", auth.Sessions(self.secret, max_age=self.session_seconds)
        )
        object.__setattr__(self, "proxies", auth.TrustedProxies(self.trusted_proxies))


#: The dashboard the current request acts through (its user's, or the one of --auth none).
_current: contextvars.ContextVar[Dashboard] = contextvars.ContextVar("kprism_dashboard")


class _CurrentDashboard:
    """Stands for the dashboard of the request being served (set by the guard), so the
    routes' ``dash.…`` calls act as the signed-in user without each route asking."""

    def __getattr__(self, name: str) -> Any:
        return getattr(_current.get(), name)


#: ``POST /api/apps/NS/APP/<what>``: the action of :data:`kprism.web.auth.NEEDS` it is.
def action_of(path: str) -> tuple[str, str] | None:
    """(namespace, action) of a state-changing app route, None for any other path."""
    parts = [unquote(p) for p in path.split("/")]
    if len(parts) < 6 or parts[:3] != ["", "api", "apps"]:
        return None
    rest = parts[5:]
    if rest[:1] == ["intent"] and len(rest) == 2:
        what = rest[1]
    elif len(rest) == 1:
        what = rest[0]
    else:
        return None
    return (parts[3], what) if what in auth.NEEDS else None


#: apps per page of the dashboard's list
LIST_PAGE = 50
#: seconds between two reads of what an event stream shows (from the watch cache)
STREAM_EVERY = 1.0
#: seconds between keep-alive comments on a quiet stream
STREAM_KEEPALIVE = 15.0
#: seconds the server waits at most for open responses when it stops
SHUTDOWN_GRACE = 10


async def sse(
    request: Request,
    read: Callable[[], dict[str, Any]],
    name: str,
    stopping: threading.Event,
) -> AsyncIterator[str]:
    """``read()`` as server-sent events, sent when it changed; ``problem`` events while it
    fails (with the one-line error), a comment now and then to keep proxies open. Ends
    when the browser goes away or the server stops (``stopping``)."""
    last = ""
    quiet = 0.0
    yield "retry: 2000\n\n"
    while not stopping.is_set() and not await request.is_disconnected():
        try:
            data = await run_in_threadpool(read)
            text = json.dumps(data, separators=(",", ":"), default=str)
            event = name
        except KprismError as exc:
            text = json.dumps({"error": str(exc), "status": forms.http_status(exc)})
            event = "problem"
        if text != last:
            last = text
            quiet = 0.0
            yield f"event: {event}\ndata: {text}\n\n"
        elif quiet >= STREAM_KEEPALIVE:
            quiet = 0.0
            yield ": keep-alive\n\n"
        await asyncio.sleep(STREAM_EVERY)
        quiet += STREAM_EVERY


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
    auth_config: AuthConfig | None = None,
) -> FastAPI:
    """The dashboard app. Connects at once, so a bad kubeconfig or context raises here.

    ``allowed_hosts``: names the Host header may carry (None: any — only for a dashboard
    deliberately served beyond loopback). ``auth_config``: how users sign in (default:
    nobody does; everything runs with the kubeconfig's user)."""
    dashboard_page = page.load()  # the static files, and the CSP hashes computed from them
    cfg = auth_config or AuthConfig()
    base = Dashboard(
        kubeconfig=kubeconfig, context=context, namespace=namespace, start_wait=start_wait
    )
    users = UserDashboards(base)
    dash = cast(Dashboard, _CurrentDashboard())  # the request's user's (see guard)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        users.close()
        base.close()

    api = FastAPI(
        title="kprism dashboard",
        version=__version__,
        docs_url=None,  # the docs pages load scripts from a CDN: nothing external here
        redoc_url=None,
        openapi_url="/api/openapi.json",
        lifespan=lifespan,
    )
    api.state.dashboard = base
    api.state.stopping = threading.Event()  # set when the server stops (make_server)
    api.state.users = users
    api.state.auth = cfg
    hosts = {h.strip("[]").lower() for h in allowed_hosts} if allowed_hosts is not None else None
    signed_out = ("/", "/healthz", "/api/session", "/api/login", "/api/logout")

    def identify(request: Request) -> tuple[Identity | None, auth.Session | None, str]:
        """Who sends ``request``: (identity, their session, why nobody if None)."""
        cookie = request.cookies.get(auth.COOKIE)
        if cfg.mode == AuthMode.PROXY:
            peer = request.client.host if request.client else ""
            if not cfg.proxies.trusts(peer):
                return (
                    None,
                    None,
                    f"requests from {peer or 'an unknown address'} are not from a trusted proxy",
                )
            who = auth.forwarded_identity(
                request.headers, user_header=cfg.user_header, groups_header=cfg.groups_header
            )
            if who is None:
                return None, None, f"the proxy named no user ({cfg.user_header})"
            try:
                session: auth.Session | None = cfg.sessions.read(cookie)
            except auth.SessionError:
                session = None
            if session is not None and session.identity != who:
                session = None  # a session of someone else: only for the CSRF token anyway
            return who, session, ""
        try:
            session = cfg.sessions.read(cookie)
        except auth.SessionError as exc:
            return None, None, exc.reason
        return session.identity, session, ""

    @api.middleware("http")
    async def guard(request: Request, call_next: Callable[[Request], Any]) -> Response:
        if hosts is not None and _hostname(request.headers.get("host", "")) not in hosts:
            return error_response(
                f"host {request.headers.get('host', '')!r} is not served here: open the dashboard "
                "on 127.0.0.1 or localhost",
                400,
            )
        changes = request.method not in ("GET", "HEAD")
        if changes and request.headers.get(CSRF_HEADER) != "1":
            return error_response(f"{request.method} needs the header X-Kprism: 1", 403)
        path = request.url.path
        if cfg.mode == AuthMode.NONE:
            _current.set(base)
        elif path not in signed_out:
            identity, session, why = identify(request)
            if identity is None:
                return JSONResponse(
                    {"error": f"sign in first: {why}", "login": cfg.mode.value}, status_code=401
                )
            if changes and (
                session is None
                or not auth.csrf_ok(session, request.headers.get(auth.CSRF_TOKEN_HEADER))
            ):
                return error_response(
                    f"{request.method} needs the session's CSRF token (header X-Kprism-Csrf): "
                    "reload the page",
                    403,
                )
            user = users.get(identity)
            _current.set(user)
            target = action_of(path) if changes else None
            if target is not None:
                namespace, action = target
                try:
                    refused = auth.refusal(action, namespace, user.allowed(namespace))
                except KprismError as exc:
                    return error_response(str(exc), forms.http_status(exc))
                if refused is not None:
                    return error_response(f"{refused}: {identity.user} may not {action} here", 403)
        response: Response = await call_next(request)
        return response

    def cookie_secure(request: Request) -> bool:
        if cfg.secure_cookie is not None:
            return cfg.secure_cookie
        proto = request.headers.get("x-forwarded-proto", "") if cfg.mode == AuthMode.PROXY else ""
        return request.url.scheme == "https" or proto == "https"

    def set_session(request: Request, response: Response, value: str) -> None:
        response.set_cookie(
            auth.COOKIE,
            value,
            max_age=cfg.session_seconds,
            path="/",
            httponly=True,
            samesite="strict",
            secure=cookie_secure(request),
        )

    def session_view(identity: Identity, session: auth.Session) -> dict[str, Any]:
        return {
            "mode": cfg.mode.value,
            "user": identity.user,
            "groups": list(identity.groups),
            "csrf": session.csrf,
        }

    @api.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, bool]:
        """The process answers (the in-cluster Deployment's readiness probe); no cluster call."""
        return {"ok": True}

    @api.get("/api/session")
    def session_info(request: Request) -> Response:
        """Who is signed in (401 when nobody): the page asks first."""
        if cfg.mode == AuthMode.NONE:
            return JSONResponse({"mode": "none", "user": "", "groups": [], "csrf": ""})
        identity, session, why = identify(request)
        if identity is None:
            return JSONResponse(
                {"error": f"sign in first: {why}", "login": cfg.mode.value}, status_code=401
            )
        if session is None:  # proxy mode: the first visit gets its CSRF token
            value, session = cfg.sessions.issue(identity)
            response = JSONResponse(session_view(identity, session))
            set_session(request, response, value)
            return response
        return JSONResponse(session_view(identity, session))

    @api.post("/api/login")
    def login(request: Request, form: auth.LoginForm) -> Response:
        """Sign in with a Kubernetes bearer token (``--auth token``): a TokenReview with the
        server's own credentials names the user; only that identity is kept."""
        if cfg.mode != AuthMode.TOKEN:
            raise UsageError(
                f"this dashboard signs users in with --auth {cfg.mode.value}, not tokens"
            )
        reviewed = ops.review_token(base.kube, form.token.strip())
        if reviewed is None:
            return JSONResponse(
                {
                    "error": "the API server did not accept this token (expired, revoked or not a token)",
                    "login": "token",
                },
                status_code=401,
            )
        identity = Identity(user=reviewed[0], groups=reviewed[1])
        value, session = cfg.sessions.issue(identity)
        response = JSONResponse(session_view(identity, session))
        set_session(request, response, value)
        return response

    @api.post("/api/logout")
    def logout(request: Request) -> Response:
        response = JSONResponse({"message": "signed out"})
        response.delete_cookie(
            auth.COOKIE, path="/", httponly=True, samesite="strict", secure=cookie_secure(request)
        )
        return response

    @api.get("/api/permissions")
    def permissions(namespace: str | None = None) -> dict[str, Any]:
        """Which actions the user may take in ``namespace`` (and why not)."""
        return dash.permissions(namespace or dash.namespace)

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
    def apps(
        namespace: str | None = None, q: str = "", offset: int = 0, limit: int | None = None
    ) -> dict[str, Any]:
        if limit is not None:  # one page, with traffic bars (the page's list)
            ns = namespace or dash.namespace
            return dash.page_of_apps(ns, q=q, offset=max(offset, 0), limit=min(max(limit, 1), 500))
        ns = namespace or dash.namespace
        return {"namespace": ns, "apps": dash.apps(ns)}

    @api.get("/api/apps/{namespace}/{name}")
    def detail(namespace: str, name: str) -> dict[str, Any]:
        return dash.detail(namespace, name)

    @api.get("/api/apps/{namespace}/{name}/audit")
    def audit(
        namespace: str, name: str, actor: str = "", kind: str = "", outcome: str = ""
    ) -> dict[str, Any]:
        return {"audit": dash.audit(namespace, name, actor=actor, kind=kind, outcome=outcome)}

    @api.post("/api/apps/{namespace}/{name}/diff/release")
    def release_diff(namespace: str, name: str, form: ReleaseForm) -> dict[str, Any]:
        return dash.release_diff(namespace, name, form)

    @api.get("/api/apps/{namespace}/{name}/diff/rollback")
    def rollback_diff(namespace: str, name: str, to: str = "") -> dict[str, Any]:
        return dash.rollback_diff(namespace, name, to)

    @api.get("/api/stream")
    async def stream(
        request: Request,
        namespace: str = "",
        app: str = "",
        q: str = "",
        offset: int = 0,
        limit: int = LIST_PAGE,
    ) -> StreamingResponse:
        """Server-sent events: the app page's ``detail`` (or the list's ``apps``) each time
        it changes, a ``problem`` while it cannot be read (the page says so and recovers)."""
        ns = namespace or dash.namespace
        offset, limit = max(offset, 0), min(max(limit, 1), 500)
        if app:
            read: Callable[[], dict[str, Any]] = functools.partial(dash.detail, ns, app)
            name = "detail"
        else:
            read = functools.partial(dash.page_of_apps, ns, q=q, offset=offset, limit=limit)
            name = "apps"
        return StreamingResponse(
            sse(request, read, name, api.state.stopping),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

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
    auth_config: AuthConfig | None = None,
) -> None:
    """Serve the dashboard until interrupted (``kprism web``)."""
    loopback = is_loopback(host)
    cfg = auth_config or AuthConfig()
    app = create_app(
        kubeconfig=kubeconfig,
        context=context,
        namespace=namespace,
        allowed_hosts=LOOPBACK_HOSTS if loopback else None,
        auth_config=cfg,
    )
    sock = bind(host, port)
    shown = f"[{host}]" if ":" in host else host
    dash: Dashboard = app.state.dashboard
    print(
        f"kprism dashboard on http://{shown}:{sock.getsockname()[1]}/ "
        f"(namespace {dash.namespace}; sign-in: {cfg.mode.value}; Ctrl-C to stop)",
        file=sys.stderr,
        flush=True,
    )
    if not loopback and cfg.mode == AuthMode.NONE:
        print(
            f"warning: listening on {host}: the dashboard has no authentication; anyone who can "
            "reach this address can release, promote and roll back with your kubeconfig "
            "(--auth token or --auth proxy signs users in)",
            file=sys.stderr,
            flush=True,
        )
    make_server(app).run(sockets=[sock])


def make_server(app: FastAPI) -> uvicorn.Server:
    """The uvicorn server ``kprism web`` runs ``app`` with (on a socket from :func:`bind`)."""
    import uvicorn

    stopping: threading.Event = app.state.stopping

    class Server(uvicorn.Server):
        async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
            # The page's event streams never end by themselves: told here, each ends at
            # its next tick, so Ctrl-C (SIGTERM in a pod) does not wait for the browser.
            stopping.set()
            await super().shutdown(sockets=sockets)

    return Server(
        uvicorn.Config(
            app,
            log_level="warning",
            access_log=False,
            proxy_headers=False,
            timeout_graceful_shutdown=SHUTDOWN_GRACE,
        )
    )
