"""Inbound worker: ``wa:in`` -> parse -> download media -> ``ingest_messages``/``ingest_statuses`` -> XACK.

The steps live in their own modules: ``inbound_parse`` (entries -> items, what cannot be read ->
``wa:dead``), ``inbound_media`` (downloads, payloads), ``inbound_delivery`` (lanes, chunks, Odoo
calls, isolation).  This module reads the stream, runs the steps and keeps the worker's Redis
bookkeeping: what was already ingested, and statuses to retry.

Delivery guarantees
-------------------
* At least once: an entry is acked (and deleted) only after Odoo accepted everything it
  carried, or the bad parts were written to ``wa:dead`` with the reason.  Nothing is acked
  before Odoo returned success.
* Nothing in an entry stops the worker: whatever fails while reading one entry, or building one
  item's payload, dead-letters that entry or item and the batch goes on.
* Dedup: a message already ingested (key ``<prefix>wa:seen:<account>:<wamid>``, set after
  Odoo's success, kept 3 days) is dropped before media download; duplicates inside one batch
  are dropped too.  The addon is idempotent as well (a replay that slips through returns the
  same records).
* Per-customer order: one consumer per shard (``sharding``: a customer always maps to one shard
  of ``wa:in``, and a shard is served by the one worker holding its lease) processes batches strictly
  one after the other.  A batch is what arrived within ``WA_BATCH_LINGER_MS`` (up to ``WA_BATCH_SIZE``
  webhook bodies); inside it messages are sorted by WhatsApp timestamp, then arrival order
  (stable), and Odoo writes them in list order, one customer in one lane.  A failed batch is
  retried unchanged (same items, same order) before anything newer is read.  A restarted worker
  first re-reads its own pending entries (``XREADGROUP ... 0``), then claims idle entries of dead
  consumers (``XAUTOCLAIM``), then reads new ones.
* Odoo down (connection refused, 5xx, serialization failure): exponential backoff capped at
  ``WA_BACKOFF_MAX_SECONDS``, retrying the same batch forever (until stopped; the entries stay
  pending and are re-read on restart).  So too when Odoo refuses the bridge user itself (API key
  refused, ``AccessError``: missing rights), with an alert in ``<prefix>wa:alert:odoo``.
* Odoo refuses an item, or keeps failing on one message alone: see ``inbound_delivery``.
* Redis down or restarted: the worker logs it, waits (backoff capped at ``WA_BACKOFF_MAX_SECONDS``),
  re-creates its consumer group if needed and re-reads its own pending entries.
* Status result ``unknown`` (Odoo does not know the wamid yet: the send result may not be
  reported yet): retried ``WA_STATUS_UNKNOWN_RETRIES`` times, ``WA_STATUS_UNKNOWN_DELAY_SECONDS``
  apart (kept in the sorted set ``<prefix>wa:retry:statuses``), then dead-lettered.
"""

from __future__ import annotations

import json
import logging
import threading
import time

import redis

from whatsapp_bridge import contract
from whatsapp_bridge.config import BridgeConfig
from whatsapp_bridge.inbound_delivery import Delivered, Delivery
from whatsapp_bridge.inbound_media import MediaFetcher
from whatsapp_bridge.inbound_parse import BatchReport, DeadLetters, Item, parse_entries
from whatsapp_bridge.odoo_client import OdooClient
from whatsapp_bridge.providers.base import Provider
from whatsapp_bridge.sharding import ShardLease
from whatsapp_bridge.streams import GROUP_IN, Entry, Streams
from whatsapp_bridge.worker_loop import OdooAlert, run_until_stopped, stand_by

__all__ = ["BatchReport", "InboundWorker"]

log = logging.getLogger(__name__)


class InboundWorker:
    def __init__(
        self,
        config: BridgeConfig,
        redis_client: redis.Redis,
        odoo: OdooClient,
        provider: Provider,
        stop: threading.Event | None = None,
        clock=time.time,
        shard: int = 0,
    ):
        self.config = config
        self.redis = redis_client
        self.shard = shard
        self.streams = Streams.of(config, redis_client, shard)
        self.keys = self.streams.keys
        self.stop = stop or threading.Event()
        self.clock = clock
        self.consumer = f"{config.consumer_name}-in"
        self.lease = ShardLease(redis_client, self.keys.lease(contract.STREAM_IN), self.consumer,
                                config.shard_lease_seconds, self.stop)
        self._last_claim = 0.0
        self.odoo_alert = OdooAlert(self.streams, server_error_attempts=config.poison_attempts)
        self.dead = DeadLetters(self.streams)
        self.media = MediaFetcher(provider, self.stop, config.backoff_max_seconds)
        self.delivery = Delivery(config, odoo, self.streams, self.odoo_alert, self.dead, self.stop)

    @property
    def odoo(self) -> OdooClient:
        return self.delivery.odoo

    @odoo.setter
    def odoo(self, client: OdooClient) -> None:
        self.delivery.odoo = client

    # -- lifecycle -------------------------------------------------------------------------
    def setup(self) -> None:
        self.streams.ensure_group(contract.STREAM_IN, GROUP_IN)

    def recover(self, take_over: bool = False) -> int:
        """Re-process own pending entries, then entries of crashed consumers.  Returns entries handled.

        ``take_over``: the shard's lease was just acquired, so no other consumer reads this stream: every
        entry another one left pending is taken first, whatever its idle time, and processed with ours
        in stream order, before anything newer."""
        handled = 0
        if take_over:
            self.streams.claim_all(contract.STREAM_IN, GROUP_IN, self.consumer)
        while not self.stop.is_set():
            pending = self.streams.read_own_pending(contract.STREAM_IN, GROUP_IN, self.consumer, self.config.batch_size)
            if not pending:
                break
            log.info("re-processing own pending entries", extra={"fields": {"count": len(pending)}})
            self.process(pending)
            handled += len(pending)
        handled += self.claim_idle()
        return handled

    def claim_idle(self) -> int:
        self._last_claim = time.monotonic()
        handled = 0
        while not self.stop.is_set():
            claimed = self.streams.autoclaim(
                contract.STREAM_IN, GROUP_IN, self.consumer, self.config.claim_idle_ms, self.config.batch_size
            )
            if not claimed:
                break
            log.warning("claimed entries of a stopped consumer", extra={"fields": {"count": len(claimed)}})
            self.process(claimed)
            handled += len(claimed)
        return handled

    def run(self) -> None:
        try:
            run_until_stopped(self.stop, self._prepare, self._step, self.config.backoff_max_seconds,
                              "inbound", self.consumer, self.streams.name(contract.STREAM_IN))
        finally:
            self.lease.release()

    def _prepare(self) -> None:
        """At start, after a Redis outage or a lost lease: serve the shard once its lease is ours (standing
        by meanwhile); the batch in flight is pending, read it first, then what a previous owner left."""
        self.lease.acquire(on_wait=lambda holder: stand_by(self.streams.name(contract.STREAM_IN), holder))
        self.setup()
        self.recover(take_over=True)

    def _step(self) -> None:
        self.lease.check()
        self.run_once()
        if time.monotonic() - self._last_claim > self.config.claim_idle_ms / 1000 / 2:
            self.claim_idle()

    def run_once(self, block_ms: int = 1000) -> BatchReport | None:
        """Read one batch (waiting up to ``block_ms`` for the first entry) and process it."""
        entries = self.collect(block_ms)
        retries = self._due_status_retries()
        if not entries and not retries:
            return None
        return self.process(entries, retries)

    def collect(self, block_ms: int) -> list[Entry]:
        size = self.config.batch_size
        entries = self.streams.read_new(contract.STREAM_IN, GROUP_IN, self.consumer, size, block_ms)
        if not entries:
            return []
        deadline = time.monotonic() + self.config.batch_linger_ms / 1000
        while len(entries) < size:
            left_ms = int((deadline - time.monotonic()) * 1000)
            if left_ms <= 0:
                break
            more = self.streams.read_new(contract.STREAM_IN, GROUP_IN, self.consumer, size - len(entries), left_ms)
            if not more:
                break
            entries.extend(more)
        return entries

    # -- processing ------------------------------------------------------------------------
    def process(self, entries: list[Entry], status_retries: list[Item] | None = None) -> BatchReport:
        report = BatchReport(entries=len(entries))
        messages, statuses = parse_entries(entries, self.dead, report)

        ready = self.media.attach(self._fresh(messages, report), self.dead, report)
        delivered = self.delivery.deliver("ingest_messages", ready, report)
        self._mark_seen(delivered)
        report.messages = len(delivered)

        status_items = _dedup_statuses(list(status_retries or []) + statuses)
        results = self.delivery.deliver("ingest_statuses", status_items, report)
        self._handle_status_results(results, status_items, report)
        report.statuses = len(results)

        self.media.clear()  # the batch is settled: nothing will be retried from it
        ids = [e.id for e in entries]
        self.streams.ack(contract.STREAM_IN, GROUP_IN, ids)
        report.acked = ids
        if entries or status_items:
            log.info("inbound batch done", extra={"fields": {
                "entries": report.entries, "messages": report.messages, "statuses": report.statuses,
                "duplicates": report.duplicates, "dead": report.dead}})
        return report

    def _fresh(self, messages: list[Item], report: BatchReport) -> list[Item]:
        """The messages not ingested yet, once each, in per-customer order (WhatsApp timestamp, then arrival)."""
        unique: dict[tuple[str, str], Item] = {}
        for item in messages:
            key = (item.event.account, item.event.wamid)
            if key in unique:
                report.duplicates += 1
                continue
            unique[key] = item
        candidates = list(unique.values())
        if candidates:
            seen = self.redis.mget([self.keys.seen(*key) for key in unique])
            fresh = [c for c, s in zip(candidates, seen, strict=True) if not s]
            report.duplicates += len(candidates) - len(fresh)
            candidates = fresh
        candidates.sort(key=lambda item: (item.event.timestamp, item.seq))  # stable
        return candidates

    def _mark_seen(self, delivered: Delivered) -> None:
        if not delivered:
            return
        pipe = self.redis.pipeline(transaction=False)
        for item, _ in delivered:
            pipe.set(self.keys.seen(item.payload["account"], item.payload["wamid"]), "1",
                     ex=self.config.dedup_ttl_seconds)
            self.media.forget(item.payload["wamid"])
        pipe.execute()

    # -- statuses Odoo does not know yet -----------------------------------------------------
    def _handle_status_results(self, results: Delivered, items: list[Item], report: BatchReport) -> None:
        key = self.keys.retry_statuses
        pipe = self.redis.pipeline(transaction=True)
        for item in items:
            if item.retry_member:
                pipe.zrem(key, item.retry_member)  # re-added below if still unknown
        for item, result in results:
            if not isinstance(result, dict) or result.get("result") != "unknown":
                continue
            attempt = item.attempt + 1
            if attempt > self.config.status_unknown_retries:
                self.dead.item(item, f"Odoo does not know message {item.payload['wamid']} after {item.attempt} "
                                     "retries", report)
                continue
            member = json.dumps({"status": item.payload, "attempt": attempt, "entry_id": item.entry_id})
            pipe.zadd(key, {member: self.clock() + self.config.status_unknown_delay_seconds})
            report.unknown_rescheduled += 1
        pipe.execute()

    def _due_status_retries(self) -> list[Item]:
        members = self.redis.zrangebyscore(self.keys.retry_statuses, "-inf", self.clock(), start=0,
                                           num=self.config.batch_size)
        items = []
        for member in members:
            member = member.decode() if isinstance(member, bytes) else member
            data = json.loads(member)
            items.append(
                Item(data.get("entry_id") or "", 0, data["status"], attempt=int(data["attempt"]), retry_member=member)
            )
        return items


def _dedup_statuses(statuses: list[Item]) -> list[Item]:
    unique: dict[tuple, Item] = {}
    for item in statuses:
        key = (item.payload["account"], item.payload["wamid"], item.payload["status"])
        if key not in unique or item.retry_member:
            unique[key] = item
    return list(unique.values())
