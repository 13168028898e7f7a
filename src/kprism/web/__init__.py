"""The web dashboard ("release platform"): a second thin shell over :mod:`kprism.ops`.

It does what the CLI does — release, promote, pause, resume, abort, roll back, scale,
clone, split, show status and history — from a browser. Like the CLI it never talks to
the API server itself: every button is one :mod:`kprism.ops` call, so a release started
here can be promoted or aborted with ``kprism`` from any other machine and vice versa.

Long operations (a release, a rollback, driving an unattended release after an intent)
run in a background thread of the dashboard's process, which then holds the app's Lease
like a waiting CLI would (:mod:`kprism.web.jobs`). The page listens to server-sent
events (``GET /api/stream``): what it shows, sent when it changed.

Modules: :mod:`~kprism.web.app` (FastAPI app, ``create_app``, ``serve``),
:mod:`~kprism.web.forms` (request bodies → ops arguments, error → HTTP status; pure),
:mod:`~kprism.web.views` (status JSON → what the page shows; pure),
:mod:`~kprism.web.jobs` (background jobs and their progress lines),
:mod:`~kprism.web.page` (the page, from the static files in ``static/``, and its CSP).
"""
