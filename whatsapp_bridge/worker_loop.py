"""The run loop both workers share: work until asked to stop, riding out Redis outages."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import redis

log = logging.getLogger(__name__)


class Stopped(Exception):
    """The worker was asked to stop while waiting; what it held stays pending."""


def run_until_stopped(stop: threading.Event, prepare: Callable[[], None], step: Callable[[], None],
                      backoff_max: float, name: str, consumer: str) -> None:
    """``prepare()`` then ``step()`` repeatedly until ``stop`` is set.

    A Redis error (outage, restart) is logged and waited out with a capped exponential backoff;
    ``prepare()`` runs again afterwards (a restarted Redis may have lost the consumer group, and
    the entries in flight are pending, to be re-read). Workers ack nothing before it is done, so
    doing a step again is safe.
    """
    prepared = False
    delay = min(0.5, backoff_max)
    while not stop.is_set():
        try:
            if not prepared:
                prepare()
                prepared = True
            step()
            delay = min(0.5, backoff_max)
        except Stopped:
            break
        except redis.exceptions.RedisError as exc:
            prepared = False
            log.error("Redis unavailable, worker retrying", extra={"fields": {
                "worker": name, "consumer": consumer, "error": str(exc), "retry_in": round(delay, 2)}})
            if stop.wait(delay):
                break
            delay = min(delay * 2, backoff_max)
