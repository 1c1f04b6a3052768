"""What both workers share: the run loop that rides out Redis outages and lost shard leases, and the Odoo alert."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import redis

from whatsapp_bridge.odoo_client import OdooAuthError, OdooServerError, OdooTransientError
from whatsapp_bridge.retry import Backoff, Stopped
from whatsapp_bridge.sharding import LeaseLost
from whatsapp_bridge.streams import Streams

log = logging.getLogger(__name__)

SERVER_ERROR_ALERT_ATTEMPTS = 5  # the same call failing this often with a server error raises an alert


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
    backoff = Backoff(stop, backoff_max)
    try:
        while not stop.is_set():
            try:
                if not prepared:
                    prepare()
                    prepared = True
                step()
                backoff.reset()
            except LeaseLost as exc:  # another consumer serves the shard now: stand by again
                prepared = False
                log.error("shard lease lost, standing by", extra={"fields": {
                    "worker": name, "consumer": consumer, "error": str(exc)}})
            except redis.exceptions.RedisError as exc:
                prepared = False
                log.error("Redis unavailable, worker retrying", extra={"fields": {
                    "worker": name, "consumer": consumer, "error": str(exc), "retry_in": round(backoff.delay, 2)}})
                backoff.wait()
    except Stopped:
        pass
    log.info(f"{name} worker stopped", extra={"fields": {"consumer": consumer}})


def stand_by(stream: str, holder: str | None) -> None:
    """Logged while a worker waits for a shard another consumer serves."""
    log.info("shard served by another consumer, standing by", extra={"fields": {
        "stream": stream, "holder": holder}})


class OdooAlert:
    """The ``odoo`` alert (``/health``) a worker raises while Odoo keeps refusing it, cleared by the
    next call that goes through.

    Raised at once when Odoo refuses the bridge's user (API key, rights); raised after
    ``server_error_attempts`` attempts of one call failing with an unexpected server error
    (a bug hit by one message, say: an operator is told where to look).  ``dead_lettered`` raises it
    for a message set aside because Odoo fails on it alone; that one stays until an operator
    clears it (the next call that goes through does not: the message is still lost to Odoo).
    """

    def __init__(self, streams: Streams, server_error_attempts: int = SERVER_ERROR_ALERT_ATTEMPTS):
        self.streams = streams
        self.server_error_attempts = server_error_attempts
        self.raised = False

    def failed(self, exc: OdooTransientError, attempt: int, what: str) -> None:
        if isinstance(exc, OdooAuthError):
            reason, action = str(exc), exc.action
        elif isinstance(exc, OdooServerError) and attempt >= self.server_error_attempts:
            reason = f"Odoo fails on every attempt of this {what} batch: {exc}"
            action = ("read Odoo's log for this error; the batch is retried meanwhile (the inbound worker "
                      "sets aside, in wa:dead, a message Odoo fails on alone while it answers otherwise)")
        else:
            return
        self.streams.set_alert("odoo", reason, action=action)
        self.raised = True

    def dead_lettered(self, reason: str) -> None:
        self.streams.set_alert("odoo", reason, action=(
            "read Odoo's log for this error and fix the addon; the message is in wa:dead with its webhook "
            f"body, to replay once fixed; delete {self.streams.keys.alert('odoo')} to clear this alert"))
        self.raised = False  # not cleared by the next call that goes through

    def succeeded(self) -> None:
        if self.raised:
            self.streams.clear_alert("odoo")
            self.raised = False
