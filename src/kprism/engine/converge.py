"""Drive a one-shot, level-triggered plan (adopt, split) to its end while holding the
app's Lease: observe → decide → act → wait for a change, with a deadline."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from kprism.engine.clock import Clock, SystemClock
from kprism.errors import TimeoutError_
from kprism.kube.api import KubeApi, Lock
from kprism.model.actions import KubeAction
from kprism.plan.converge import ConvergeStep


def converge(
    kube: KubeApi,
    *,
    namespace: str,
    service: str,
    app_selector: Mapping[str, str],
    what: str,
    decide: Callable[[], ConvergeStep],
    apply: Callable[[KubeAction], None] | None = None,
    event_reason: str,
    timeout: float,
    on_progress: Callable[[str], None] | None = None,
    clock: Clock | None = None,
    lease: Lock | None = None,
) -> str:
    """Run ``decide`` (which observes and plans) until it says done; return its message.

    Takes the app's Lease for the run, or uses ``lease`` (held by the caller, who gives
    it back). ``decide`` may raise to stop (an abort it observed)."""
    clock = clock or SystemClock()
    own = lease is None
    if lease is None:
        lease = kube.lease(namespace=namespace, app=service)
        lease.acquire()
    deadline = clock.monotonic() + timeout
    last = ""

    def say(line: str) -> None:
        if on_progress is not None:
            on_progress(line)

    def default_apply(action: KubeAction) -> None:
        kube.apply(action, namespace=namespace, service=service)

    act = apply or default_apply
    try:
        with kube.feed(namespace=namespace, service=service, app_selector=app_selector) as feed:
            while True:
                lease.renew_if_due(clock.now())
                step = decide()
                for action in step.actions:
                    act(action)
                    last = action.describe()
                    say(f"→ {last}")
                if step.done:
                    kube.emit_event(
                        namespace=namespace,
                        service=service,
                        reason=event_reason,
                        message=step.message,
                    )
                    return step.message
                if step.waiting and step.waiting != last:
                    last = step.waiting
                    say(step.waiting)
                if clock.monotonic() > deadline:
                    raise TimeoutError_(
                        f"{what} of {service} did not finish in {timeout:.0f}s: {last}; "
                        "run it again to continue"
                    )
                feed.wait(1.0 if step.actions else 5.0)
    finally:
        if own:
            lease.release()
