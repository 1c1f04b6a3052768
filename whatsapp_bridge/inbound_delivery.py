"""Inbound, step 3: hand a batch's items to Odoo, in order, and set aside only what Odoo cannot take.

* Each payload is checked against the contract once, here (a bad one is dead-lettered alone) and
  then sent as is (``OdooClient.call``).
* Lanes: messages are split into ``WA_INBOUND_LANES`` lanes sent in parallel, one customer per lane,
  order kept.  A customer is every message that shares an id with another one: the phone number
  (``wa_id``) or the business-scoped user id (``user_id``) of the account, so a person named both
  ways in one batch is one customer (a union-find over those ids); statuses go in one lane.
* Chunks: at most ``batch_size`` items and ``WA_ODOO_REQUEST_MB`` of media per call.
* Odoo down (transient): the same chunk is retried with backoff, forever (until stopped).
* Odoo refuses an item (``OdooPermanentError``): the item named by the error (or, without an index,
  each half of the chunk) is isolated; only the refused item is dead-lettered.
* Odoo keeps failing on a chunk with a server error (``OdooServerError``, a bug hit by one message:
  a text holding NUL, say) for ``WA_POISON_ATTEMPTS`` attempts: the chunk is bisected.  One message
  that alone keeps failing while Odoo is otherwise healthy is dead-lettered ("Odoo fails on this
  message: ..."), and the ``odoo`` alert names it; the rest is delivered.  Healthy = the probe
  passes (Odoo takes again the last payload it took for that method, kept in ``wa:probe:<method>``:
  the addon is idempotent, a replay changes nothing; when there is none yet, Odoo answers
  ``contract_info``) and the message, sent once more right after, fails again.  While the probe
  fails too, Odoo is sick, not the message (an addon upgraded without ``-u`` fails on every
  message): nothing is dropped, the batch waits.
* Odoo refuses the bridge's user (``OdooAuthError``): retried, nothing dead-lettered, the alert is raised.
"""

from __future__ import annotations

import json
import logging
import threading
import zlib
from concurrent.futures import ThreadPoolExecutor

from whatsapp_bridge import contract
from whatsapp_bridge.config import BridgeConfig
from whatsapp_bridge.inbound_parse import BatchReport, DeadLetters, Item
from whatsapp_bridge.odoo_client import OdooClient, OdooError, OdooPermanentError, OdooServerError, OdooTransientError
from whatsapp_bridge.retry import Backoff, retry
from whatsapp_bridge.sharding import IdentityUnion
from whatsapp_bridge.streams import Streams
from whatsapp_bridge.worker_loop import OdooAlert

log = logging.getLogger(__name__)

MAX_CHUNK = 500  # items per Odoo call, whatever the batch size
# (contract batch name, item validator) per method
METHODS = {
    "ingest_messages": ("messages", contract.validate_inbound_message),
    "ingest_statuses": ("statuses", contract.validate_status),
}

Delivered = list[tuple[Item, dict]]


class Delivery:
    def __init__(self, config: BridgeConfig, odoo: OdooClient, streams: Streams, alert: OdooAlert,
                 dead: DeadLetters, stop: threading.Event):
        self.config = config
        self.odoo = odoo
        self.streams = streams
        self.alert = alert
        self.dead = dead
        self.stop = stop
        self._lane_pool = ThreadPoolExecutor(max_workers=config.inbound_lanes, thread_name_prefix="ingest-lane")

    def deliver(self, method: str, items: list[Item], report: BatchReport) -> Delivered:
        """Send ``items`` in order; returns (item, Odoo's result) of what Odoo took."""
        valid = self._valid(method, items, report)
        lanes = customer_lanes(valid, self.config.inbound_lanes) if method == "ingest_messages" else [valid]
        if len(lanes) <= 1:
            return self._deliver_lane(method, valid, report)
        # Customers never share a lane and a lane keeps its order, so per-customer order holds
        # while Odoo works on several customers at once; the batch is acked after all lanes.
        lane_reports = [BatchReport() for _ in lanes]
        parts = list(self._lane_pool.map(self._deliver_lane, [method] * len(lanes), lanes, lane_reports))
        report.dead += sum(r.dead for r in lane_reports)
        return [pair for part in parts for pair in part]

    def _valid(self, method: str, items: list[Item], report: BatchReport) -> list[Item]:
        name, validator = METHODS[method]
        valid = []
        for item in items:
            try:
                validator(item.payload, name)
            except contract.ContractError as exc:
                self.dead.item(item, f"bridge produced an invalid payload: {exc}", report)
                continue
            valid.append(item)
        return valid

    def _deliver_lane(self, method: str, items: list[Item], report: BatchReport) -> Delivered:
        done: Delivered = []
        for chunk in chunks(items, min(self.config.batch_size, MAX_CHUNK), self.config.odoo_request_bytes):
            done.extend(self._deliver_chunk(method, chunk, report))
        return done

    def _deliver_chunk(self, method: str, chunk: list[Item], report: BatchReport) -> Delivered:
        if not chunk:
            return []
        sick = Backoff(self.stop, self.config.backoff_max_seconds)  # between rounds while Odoo fails on everything
        probed = False  # Odoo just passed the probe: one more attempt tells whether it is this message
        while True:
            try:
                results = self._call(method, chunk, 1 if probed else self.config.poison_attempts)
                break
            except OdooPermanentError as exc:
                return self._isolate_refused(method, chunk, exc, report)
            except OdooServerError as exc:  # failed that many times in a row on this chunk
                if len(chunk) > 1:
                    log.warning("Odoo keeps failing on a batch, splitting it to find the message that breaks it",
                                extra={"fields": {"method": method, "items": len(chunk), "error": str(exc)}})
                    return self._deliver_halves(method, chunk, report)
                if probed:  # it failed again right after Odoo took another call: it is this message
                    self._dead_letter_poison(chunk[0], exc, report)
                    return []
                probed = self._odoo_ingests(method)
                if not probed:
                    # Odoo fails on everything, not on this message: nothing is dropped on a guess, it waits
                    log.warning("Odoo fails on other messages too, the message waits", extra={"fields": {
                        "method": method, "wamid": chunk[0].payload.get("wamid"), "error": str(exc),
                        "retry_in": round(sick.delay, 2)}})
                    sick.wait()
        self._remember(method, chunk)
        if not isinstance(results, list) or len(results) != len(chunk):
            results = list(results) if isinstance(results, list) else []
            results += [{}] * (len(chunk) - len(results))
        return list(zip(chunk, results, strict=False))

    def _call(self, method: str, chunk: list[Item], attempts: int):
        """Odoo's answer; transient errors are retried forever, a server error ``attempts`` times."""

        def on_retry(exc, attempt, delay):
            log.warning("Odoo unavailable, retrying the same batch", extra={"fields": {
                "method": method, "attempt": attempt, "retry_in": round(delay, 2), "error": str(exc)}})
            self.alert.failed(exc, attempt, method)

        def give_up(exc, attempt):
            if isinstance(exc, OdooServerError) and attempt >= attempts:
                self.alert.failed(exc, attempt, method)
                return True
            return False

        payloads = [i.payload for i in chunk]
        result = retry(lambda: self.odoo.call(method, payloads), self.stop, self.config.backoff_max_seconds,
                       retry_on=OdooTransientError, on_retry=on_retry, give_up=give_up)
        self.alert.succeeded()
        return result

    def _remember(self, method: str, chunk: list[Item]) -> None:
        """Keep a payload Odoo took (one without media: small) for the probe."""
        payload = next((i.payload for i in reversed(chunk) if "media" not in i.payload), None)
        if payload is not None:
            self.streams.redis.set(self.streams.keys.probe(method), json.dumps(payload),
                                  ex=self.config.dedup_ttl_seconds)

    def _odoo_ingests(self, method: str) -> bool:
        """The probe: does Odoo take a call without the suspect message?"""
        key = self.streams.keys.probe(method)
        known = self.streams.redis.get(key)
        try:
            if known:
                try:
                    self.odoo.call(method, [json.loads(known)])
                    return True
                except OdooPermanentError:  # refused now (its account was removed...): no use as a probe
                    self.streams.redis.delete(key)
            self.odoo.contract_info()
        except OdooError as exc:
            log.warning("Odoo fails its probe", extra={"fields": {"method": method, "error": str(exc)}})
            return False
        return True

    def _dead_letter_poison(self, item: Item, exc: OdooServerError, report: BatchReport) -> None:
        self.dead.item(item, f"Odoo fails on this message: {exc}", report)
        self.alert.dead_lettered(f"Odoo fails on message {item.payload.get('wamid')} (entry {item.entry_id}), "
                                 f"set aside in wa:dead: {exc}")

    def _isolate_refused(self, method: str, chunk: list[Item], exc: OdooPermanentError,
                         report: BatchReport) -> Delivered:
        reason = f"Odoo refused it: {exc.name or 'error'}: {exc.message}"
        if len(chunk) == 1:
            self.dead.item(chunk[0], reason, report)
            return []
        index = exc.item_index
        if index is not None and 0 <= index < len(chunk):
            self.dead.item(chunk[index], reason, report)
            return self._deliver_chunk(method, chunk[:index] + chunk[index + 1:], report)
        return self._deliver_halves(method, chunk, report)

    def _deliver_halves(self, method: str, chunk: list[Item], report: BatchReport) -> Delivered:
        middle = len(chunk) // 2
        return self._deliver_chunk(method, chunk[:middle], report) + self._deliver_chunk(method, chunk[middle:], report)


def customer_lanes(items: list[Item], count: int) -> list[list[Item]]:
    """Split ``items`` into at most ``count`` lists, one customer per lane, order kept.

    Two messages are one customer when they share the account's phone number (``wa_id``) or
    business-scoped user id (``user_id``), directly or through other messages (a number change
    links the old ids to the new ones too)."""
    if count <= 1:
        return [items]
    union = IdentityUnion()  # the smallest id names the customer: the lane is deterministic
    item_ids = [_identities(item.payload) for item in items]
    for ids in item_ids:
        union.union_all(ids)
    lanes: list[list[Item]] = [[] for _ in range(count)]
    for item, ids in zip(items, item_ids, strict=True):
        customer = union.find(ids[0]) if ids else ("", "")
        lanes[zlib.crc32(repr(customer).encode()) % count].append(item)
    return [lane for lane in lanes if lane]


def _identities(payload: dict) -> list[tuple]:
    """The (account, kind, id) names of the customer who sent ``payload``."""
    account = payload.get("account")
    sender = payload.get("from") or {}
    system = payload.get("system") or {}
    found = [("wa_id", sender.get("wa_id")), ("user_id", sender.get("user_id")),
             ("wa_id", system.get("wa_id")), ("wa_id", system.get("new_wa_id")),
             ("user_id", system.get("user_id")), ("user_id", system.get("new_user_id"))]
    return [(account, kind, value) for kind, value in found if value]


def chunks(items: list[Item], size: int, budget: int) -> list[list[Item]]:
    """Consecutive chunks of at most ``size`` items and ``budget`` bytes of media each
    (a message whose media alone is larger goes in a chunk of its own)."""
    out: list[list[Item]] = []
    current: list[Item] = []
    weight = 0
    for item in items:
        media = item.payload.get("media") or {}
        item_bytes = len(media.get("data") or "")
        if current and (len(current) >= size or weight + item_bytes > budget):
            out.append(current)
            current, weight = [], 0
        current.append(item)
        weight += item_bytes
    if current:
        out.append(current)
    return out
