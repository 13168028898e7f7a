"""The controller's work queue: keys (apps), not events.

As client-go's workqueue: a key added many times before a worker gets to it is handled
once; a key being handled is never handed to a second worker — added meanwhile, it is
handled again once the first worker is done (so the app's events are never lost, and one
app is worked on by one worker at a time); keys can be added after a delay (the engine's
next wake-up, a Lease that will expire); failures are retried with a per-key
exponential back-off (jittered, capped) that :meth:`WorkQueue.forget` resets.
"""

from __future__ import annotations

import heapq
import itertools
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)


class WorkQueue(Generic[K]):
    def __init__(
        self,
        *,
        base_delay: float = 0.1,
        max_delay: float = 60.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._base = base_delay
        self._max = max_delay
        self._now = monotonic
        self._cond = threading.Condition()
        self._ready: deque[K] = deque()
        self._queued: set[K] = set()  # in _ready
        self._processing: set[K] = set()
        self._dirty: set[K] = set()  # added while processing: ready again when done
        self._delayed: list[tuple[float, int, K]] = []
        self._due: dict[K, float] = {}  # the earliest time each delayed key is due
        self._seq = itertools.count()
        self._failures: dict[K, int] = {}
        self._shutdown = False
        self.adds = 0
        self.retries = 0

    # -- adding -----------------------------------------------------------------------------

    def add(self, key: K) -> None:
        with self._cond:
            self._add(key)

    def _add(self, key: K) -> None:
        if self._shutdown:
            return
        self.adds += 1
        self._due.pop(key, None)
        if key in self._processing:
            self._dirty.add(key)
            return
        if key in self._queued:
            return
        self._queued.add(key)
        self._ready.append(key)
        self._cond.notify()

    def add_after(self, key: K, seconds: float) -> None:
        """Add ``key`` in ``seconds`` (at once when ≤ 0); an earlier wake-up wins."""
        if seconds <= 0:
            self.add(key)
            return
        with self._cond:
            if self._shutdown:
                return
            when = self._now() + seconds
            if key in self._due and self._due[key] <= when:
                return
            self._due[key] = when
            heapq.heappush(self._delayed, (when, next(self._seq), key))
            self._cond.notify()

    def add_rate_limited(self, key: K) -> float:
        """Add ``key`` after its back-off (which doubles with each failure); the delay."""
        with self._cond:
            n = self._failures.get(key, 0)
            self._failures[key] = n + 1
            self.retries += 1
        delay = min(self._max, self._base * (2.0**n)) * (0.5 + random.random() / 2)  # noqa: S311
        self.add_after(key, delay)
        return delay

    def forget(self, key: K) -> None:
        """The key succeeded: its next failure starts the back-off over."""
        with self._cond:
            self._failures.pop(key, None)

    def failures(self, key: K) -> int:
        with self._cond:
            return self._failures.get(key, 0)

    # -- working ----------------------------------------------------------------------------

    def _promote_due(self) -> float | None:
        """Move due delayed keys to the ready queue; seconds until the next one."""
        now = self._now()
        while self._delayed:
            when, _, key = self._delayed[0]
            if self._due.get(key) != when:
                heapq.heappop(self._delayed)  # superseded by an earlier add
                continue
            if when > now:
                return when - now
            heapq.heappop(self._delayed)
            self._due.pop(key, None)
            self._add(key)
        return None

    def get(self, timeout: float | None = None) -> K | None:
        """The next key to work on (now marked processing), or None after ``timeout`` or
        on shutdown. Call :meth:`done` with it when finished."""
        deadline = None if timeout is None else self._now() + timeout
        with self._cond:
            while True:
                if self._shutdown:
                    return None
                next_due = self._promote_due()
                if self._ready:
                    key = self._ready.popleft()
                    self._queued.discard(key)
                    self._processing.add(key)
                    return key
                wait = next_due
                if deadline is not None:
                    left = deadline - self._now()
                    if left <= 0:
                        return None
                    wait = left if wait is None else min(wait, left)
                self._cond.wait(wait)

    def done(self, key: K) -> None:
        with self._cond:
            self._processing.discard(key)
            if key in self._dirty:
                self._dirty.discard(key)
                self._queued.add(key)
                self._ready.append(key)
                self._cond.notify()

    def shutdown(self) -> None:
        with self._cond:
            self._shutdown = True
            self._cond.notify_all()

    # -- looking -----------------------------------------------------------------------------

    def depth(self) -> int:
        """Keys waiting for a worker now (not the delayed ones)."""
        with self._cond:
            self._promote_due()
            return len(self._ready)

    def stats(self) -> dict[str, int]:
        with self._cond:
            return {
                "ready": len(self._ready),
                "processing": len(self._processing),
                "delayed": len(self._due),
                "adds": self.adds,
                "retries": self.retries,
            }
