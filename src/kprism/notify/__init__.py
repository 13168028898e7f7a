"""Notifications: release events POSTed to webhooks (JSON, Slack, Teams).

An I/O layer beside :mod:`kprism.analysis`. The engine (and ``ops.running`` for the
first Event of a release) hands every Event it emits to :func:`publish`; events that
matter to people (:data:`EVENTS`) are queued for one background worker per process,
which reads the namespace's receivers (ConfigMaps labelled
``kprism.dev/notifications=true``, URLs and headers possibly from Secrets), POSTs with
retries and timeouts, and records each delivery as an Event on the app's Service
(``NotificationSent`` / ``NotificationFailed``). Nothing here ever blocks or fails a
release: the queue is bounded and dropped events are logged.
"""

from __future__ import annotations

from kprism.notify.events import EVENTS, Notification, notification_for
from kprism.notify.worker import Notifier, notifier, publish

__all__ = ["EVENTS", "Notification", "Notifier", "notification_for", "notifier", "publish"]
