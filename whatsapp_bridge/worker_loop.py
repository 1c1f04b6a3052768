"""What both workers share: the run loop that rides out Redis outages, and the Odoo alert."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import redis

from whatsapp_bridge.odoo_client import OdooAuthError, OdooServerError, OdooTransientError
from whatsapp_bridge.streams import Streams

log = logging.getLogger(__name__)

SERVER_ERROR_ALERT_ATTEMPTS = 5  # the same call failing this often with a server error raises an alert


class Stopped(Exception):
    """The worker was asked to stop while waiting; what it held stays pending."""


def run_until_stopped(stop: threading.Event, prepare: Callable[[], None], step: Callable[[], None],
                      backoff_max: float, name: str, consumer: str, stream: str) -> None:
    """``prepare()`` then ``step()`` repeatedly until ``stop`` is set.

    A Redis error (outage, restart) is logged and waited out with a capped exponential backoff;
    ``prepare()`` runs again afterwards (a restarted Redis may have lost the consumer group, and
    the entries in flight are pending, to be re-read). Workers ack nothing before it is done, so
    doing a step again is safe.
    """
    log.info(f"{name} worker started", extra={"fields": {"consumer": consumer, "stream": stream}})
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
    log.info(f"{name} worker stopped", extra={"fields": {"consumer": consumer}})


class OdooAlert:
    """The ``odoo`` alert (``/health``) a worker raises while Odoo keeps refusing it, cleared by the
    next call that goes through.

    Raised at once when Odoo refuses the bridge's user (API key, rights); raised after
    ``SERVER_ERROR_ALERT_ATTEMPTS`` attempts of one call failing with an unexpected server error
    (a bug hit by one message, say: nothing is dropped on a guess, an operator is told where to look).
    """

    def __init__(self, streams: Streams):
        self.streams = streams
        self.raised = False

    def failed(self, exc: OdooTransientError, attempt: int, what: str) -> None:
        if isinstance(exc, OdooAuthError):
            reason, action = str(exc), exc.action
        elif isinstance(exc, OdooServerError) and attempt >= SERVER_ERROR_ALERT_ATTEMPTS:
            reason = f"Odoo fails on every attempt of this {what} batch: {exc}"
            action = ("read Odoo's log for this error; if one message causes it, fix the addon or "
                      "move that entry to wa:dead; the batch is retried meanwhile")
        else:
            return
        self.streams.set_alert("odoo", reason, action=action)
        self.raised = True

    def succeeded(self) -> None:
        if self.raised:
            self.streams.clear_alert("odoo")
            self.raised = False
