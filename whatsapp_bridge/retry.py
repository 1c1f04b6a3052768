"""The one retry rule of the bridge: capped exponential backoff that waits on the worker's stop event.

Every wait is ``stop.wait(delay)``: a worker asked to stop wakes at once and raises ``Stopped``, so
whatever it held stays pending (acked only when done) and is read again at the next start.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

FIRST_DELAY = 0.5  # seconds; doubled after every failed attempt, up to the cap (WA_BACKOFF_MAX_SECONDS)


class Stopped(Exception):
    """The worker was asked to stop while waiting; what it held stays pending."""


class Backoff:
    """Delays ``first``, ``2 * first``, ... capped at ``cap``; ``wait()`` sleeps the current one on ``stop``."""

    def __init__(self, stop: threading.Event, cap: float, first: float = FIRST_DELAY):
        self.stop = stop
        self.cap = cap
        self.first = min(first, cap)
        self.delay = self.first

    def wait(self) -> None:
        """Wait the current delay (raises ``Stopped`` when ``stop`` is set meanwhile), then double it."""
        if self.stop.wait(self.delay):
            raise Stopped()
        self.delay = min(self.delay * 2, self.cap)

    def reset(self) -> None:
        self.delay = self.first


def retry(call: Callable[[], T], stop: threading.Event, cap: float, *,
          retry_on: type[BaseException] | tuple[type[BaseException], ...],
          on_retry: Callable[[BaseException, int, float], None] | None = None,
          give_up: Callable[[BaseException, int], bool] | None = None) -> T:
    """``call()`` until it returns.  An exception of ``retry_on`` is waited out and the call made again,
    unless ``give_up(exc, attempt)`` is true: then it is raised.  ``on_retry(exc, attempt, delay)`` is
    told before each wait (to log it, raise an alert).  Raises ``Stopped`` when stopped while waiting."""
    backoff = Backoff(stop, cap)
    attempt = 0
    while True:
        attempt += 1
        try:
            return call()
        except retry_on as exc:
            if give_up is not None and give_up(exc, attempt):
                raise
            if on_retry is not None:
                on_retry(exc, attempt, backoff.delay)
            backoff.wait()
