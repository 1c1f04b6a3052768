"""Inbound worker: ``wa:in`` -> parse -> download media -> ``ingest_messages``/``ingest_statuses`` -> XACK.

Delivery guarantees
-------------------
* At least once: an entry is acked (and deleted) only after Odoo accepted everything it
  carried, or the bad parts were written to ``wa:dead`` with the reason.  Nothing is acked
  before Odoo returned success.
* Dedup: a message already ingested (key ``<prefix>wa:seen:<account>:<wamid>``, set after
  Odoo's success, kept ``DEDUP_TTL`` seconds) is dropped before media download; duplicates
  inside one batch are dropped too.  The addon is idempotent as well (a replay that slips
  through returns the same records).
* Per-customer order: one consumer per deployment processes batches strictly one after
  the other.  A batch is what arrived within ``WA_BATCH_LINGER_MS`` (up to ``WA_BATCH_SIZE``
  webhook bodies); inside it messages are sorted by WhatsApp timestamp, then arrival order
  (stable), and Odoo writes them in list order.  A failed batch is retried unchanged (same
  items, same order) before anything newer is read.  A restarted worker first re-reads its
  own pending entries (``XREADGROUP ... 0``), then claims idle entries of dead consumers
  (``XAUTOCLAIM``), then reads new ones.
* Odoo down (connection refused, 5xx, serialization failure): exponential backoff capped at
  ``WA_BACKOFF_MAX_SECONDS``, retrying the same batch forever (until stopped; the entries stay
  pending and are re-read on restart).  So too when Odoo refuses the bridge user itself (API key
  refused, ``AccessError``: missing rights), with an alert in ``<prefix>wa:alert:odoo``.
* Redis down or restarted: the worker logs it, waits (backoff capped at ``WA_BACKOFF_MAX_SECONDS``),
  re-creates its consumer group if needed and re-reads its own pending entries.
* Odoo refuses a batch (``ValidationError`` ...): the item named by the error (or, without an
  index, halves of the batch) is isolated and only the bad item is dead-lettered.
* Status result ``unknown`` (Odoo does not know the wamid yet: the send result may not be
  reported yet): retried ``WA_STATUS_UNKNOWN_RETRIES`` times, ``WA_STATUS_UNKNOWN_DELAY_SECONDS``
  apart (kept in the sorted set ``<prefix>wa:retry:statuses``), then dead-lettered.
"""

from __future__ import annotations

import base64
import json
import logging
import mimetypes
import threading
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import redis

from whatsapp_bridge import contract
from whatsapp_bridge.config import BridgeConfig
from whatsapp_bridge.events import InboundMessage
from whatsapp_bridge.meta_parser import WebhookParseError, parse_webhook
from whatsapp_bridge.odoo_client import (
    OdooClient,
    OdooPermanentError,
    OdooTransientError,
)
from whatsapp_bridge.providers.base import ErrorClass, Provider, ProviderError
from whatsapp_bridge.streams import GROUP_IN, Entry, Streams
from whatsapp_bridge.worker_loop import OdooAlert, Stopped, run_until_stopped

log = logging.getLogger(__name__)

DEDUP_TTL = 3 * 24 * 3600
RETRY_STATUSES_KEY = "wa:retry:statuses"


@dataclass
class _Item:
    """One message or status of a batch, with where it came from."""

    entry_id: str
    seq: int
    payload: dict
    raw: str = ""
    attempt: int = 0  # for retried statuses
    retry_member: str | None = None


@dataclass
class BatchReport:
    entries: int = 0
    messages: int = 0
    statuses: int = 0
    duplicates: int = 0
    dead: int = 0
    unknown_rescheduled: int = 0
    acked: list[str] = field(default_factory=list)


def _seen_key(config: BridgeConfig, account: str, wamid: str) -> str:
    return config.key(f"wa:seen:{account}:{wamid}")


class InboundWorker:
    def __init__(
        self,
        config: BridgeConfig,
        redis_client: redis.Redis,
        odoo: OdooClient,
        provider: Provider,
        stop: threading.Event | None = None,
        clock=time.time,
    ):
        self.config = config
        self.redis = redis_client
        self.streams = Streams(redis_client, config.stream_prefix)
        self.odoo = odoo
        self.provider = provider
        self.stop = stop or threading.Event()
        self.clock = clock
        self.consumer = f"{config.consumer_name}-in"
        self._media_cache: dict[str, dict] = {}
        self._last_claim = 0.0
        self.odoo_alert = OdooAlert(self.streams)
        self._lane_pool = ThreadPoolExecutor(max_workers=config.inbound_lanes, thread_name_prefix="ingest-lane")

    # -- lifecycle -------------------------------------------------------------------------
    def setup(self) -> None:
        self.streams.ensure_group(contract.STREAM_IN, GROUP_IN)

    def recover(self) -> int:
        """Re-process own pending entries, then entries of crashed consumers.  Returns entries handled."""
        handled = 0
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
        run_until_stopped(self.stop, self._prepare, self._step, self.config.backoff_max_seconds,
                          "inbound", self.consumer, self.streams.name(contract.STREAM_IN))

    def _prepare(self) -> None:
        """At start and after a Redis outage: the batch in flight is pending, ours, read it first."""
        self.setup()
        self.recover()

    def _step(self) -> None:
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
    def process(self, entries: list[Entry], status_retries: list[_Item] | None = None) -> BatchReport:
        report = BatchReport(entries=len(entries))
        messages: list[tuple[_Item, InboundMessage]] = []
        statuses: list[_Item] = list(status_retries or [])
        seq = 0
        for entry in entries:
            if not entry.payload:
                continue  # deleted while pending: nothing left to do but ack
            try:
                body = json.loads(entry.payload)
                parsed = parse_webhook(body)
            except (ValueError, WebhookParseError) as exc:
                self.streams.dead_letter(contract.STREAM_IN, f"unreadable webhook body: {exc}", entry.payload, entry.id)
                report.dead += 1
                log.error("dead-lettered unreadable webhook", extra={"fields": {"entry": entry.id, "reason": str(exc)}})
                continue
            for part in parsed.rejected:  # only this message/status is lost, the rest of the body goes on
                self.streams.dead_letter(contract.STREAM_IN, f"unreadable webhook part: {part.reason}",
                                         entry.payload, entry.id, item=part.raw)
                report.dead += 1
                log.error("dead-lettered an unreadable part of a webhook", extra={"fields": {
                    "entry": entry.id, "path": part.path, "reason": part.reason}})
            for err in parsed.errors:
                log.error(
                    "WhatsApp reported an account error",
                    extra={
                        "fields": {
                            "account": err.account,
                            "code": err.error.code,
                            "error": err.error.details or err.error.message,
                        }
                    },
                )
            for msg in parsed.messages:
                seq += 1
                messages.append((_Item(entry.id, seq, {}, entry.payload), msg))
            for status in parsed.statuses:
                seq += 1
                statuses.append(_Item(entry.id, seq, status.to_contract(), entry.payload))

        items = self._dedup_and_order(messages, report)
        ready = self._with_media_retrying(items, report)
        delivered = self._deliver("ingest_messages", ready, "messages", contract.validate_inbound_message, report)
        self._mark_seen(delivered)
        report.messages = len(delivered)

        status_items = self._dedup_statuses(statuses)
        results = self._deliver("ingest_statuses", status_items, "statuses", contract.validate_status, report)
        self._handle_status_results(results, status_items, report)
        report.statuses = len(results)

        self._media_cache.clear()  # the batch is settled: nothing will be retried from it
        ids = [e.id for e in entries]
        self.streams.ack(contract.STREAM_IN, GROUP_IN, ids)
        report.acked = ids
        if entries or statuses:
            log.info(
                "inbound batch done",
                extra={
                    "fields": {
                        "entries": report.entries,
                        "messages": report.messages,
                        "statuses": report.statuses,
                        "duplicates": report.duplicates,
                        "dead": report.dead,
                    }
                },
            )
        return report

    def _dedup_and_order(self, messages, report: BatchReport) -> list[tuple[_Item, InboundMessage]]:
        unique: dict[tuple[str, str], tuple[_Item, InboundMessage]] = {}
        for item, msg in messages:
            key = (msg.account, msg.wamid)
            if key in unique:
                report.duplicates += 1
                continue
            unique[key] = (item, msg)
        candidates = list(unique.values())
        if candidates:
            seen = self.redis.mget([_seen_key(self.config, m.account, m.wamid) for _, m in candidates])
            fresh = [c for c, s in zip(candidates, seen, strict=True) if not s]
            report.duplicates += len(candidates) - len(fresh)
            candidates = fresh
        # per customer order: WhatsApp timestamp, then arrival (the sort is stable)
        candidates.sort(key=lambda pair: (pair[1].timestamp, pair[0].seq))
        return candidates

    def _with_media_retrying(self, items, report: BatchReport) -> list[_Item]:
        delay = 0.5
        while True:
            try:
                return self._with_media(items, report)
            except _MediaRetry as exc:
                log.warning(
                    "media download failed, retrying the same batch",
                    extra={"fields": {"retry_in": round(delay, 2), "error": str(exc.error)}},
                )
                if self.stop.wait(delay):
                    raise Stopped() from exc
                delay = min(delay * 2, self.config.backoff_max_seconds)

    def _with_media(self, items, report: BatchReport) -> list[_Item]:
        to_fetch = [m for _, m in items if m.media and m.wamid not in self._media_cache]
        failures: dict[str, ProviderError] = {}
        if to_fetch:
            with ThreadPoolExecutor(max_workers=min(4, len(to_fetch))) as pool:
                for msg, outcome in zip(to_fetch, pool.map(self._fetch_media, to_fetch), strict=True):
                    if isinstance(outcome, ProviderError):
                        failures[msg.wamid] = outcome
                    else:
                        self._media_cache[msg.wamid] = outcome
        transient = [e for e in failures.values() if e.error_class is not ErrorClass.FAIL]
        if transient:
            # retry the whole batch later: order is kept and nothing is acked
            raise _MediaRetry(transient[0])
        ready = []
        for item, msg in items:
            if msg.wamid in failures:
                # the file is gone for good (expired or unknown media id): the message still reaches
                # the attendant, saying what the customer sent and why it cannot be shown
                item.payload = self._media_unavailable(msg, failures[msg.wamid])
                log.warning("media unavailable, message delivered without it", extra={"fields": {
                    "wamid": msg.wamid, "type": msg.type, "error": str(failures[msg.wamid])}})
                ready.append(item)
                continue
            item.payload = msg.to_contract(self._media_cache.get(msg.wamid))
            ready.append(item)
        return ready

    @staticmethod
    def _media_unavailable(msg: InboundMessage, error: ProviderError) -> dict:
        payload = msg.to_contract({"data": ""})
        caption = (payload.pop("media", None) or {}).get("caption") or ""
        payload.update(type="unsupported", text=caption, errors=[{
            "code": error.code or 0, "title": "Media unavailable",
            "message": f"The customer's {msg.type} could not be downloaded from WhatsApp: {error.message}",
        }])
        return payload

    def _fetch_media(self, msg: InboundMessage):
        try:
            fetched = self.provider.fetch_media(msg.media.media_id)
        except ProviderError as exc:
            return exc
        mimetype = msg.media.mimetype or fetched.mimetype
        filename = msg.media.filename or fetched.filename
        if not filename:
            ext = mimetypes.guess_extension(mimetype.split(";")[0].strip()) or ".bin"
            if mimetype.startswith("audio/ogg"):
                ext = ".ogg"
            filename = f"{msg.type}-{msg.wamid[-12:].replace('/', '_')}{ext}"
        return {"mimetype": mimetype, "filename": filename, "data": base64.b64encode(fetched.data).decode("ascii")}

    def _dedup_statuses(self, statuses: list[_Item]) -> list[_Item]:
        unique: dict[tuple, _Item] = {}
        for item in statuses:
            key = (item.payload["account"], item.payload["wamid"], item.payload["status"])
            if key not in unique or item.retry_member:
                unique[key] = item
        return list(unique.values())

    # -- Odoo calls --------------------------------------------------------------------------
    def _deliver(self, method, items: list[_Item], name, validator, report) -> list[tuple[_Item, dict]]:
        """Send ``items`` in order, in chunks; isolate and dead-letter refused items.  Returns (item, result)."""
        valid = []
        for item in items:
            try:
                validator(item.payload, name)
            except contract.ContractError as exc:
                self._dead_item(item, item.payload, f"bridge produced an invalid payload: {exc}")
                report.dead += 1
                continue
            valid.append(item)
        lanes = self._lanes(valid) if method == "ingest_messages" else [valid]
        if len(lanes) <= 1:
            return self._deliver_lane(method, valid, report)
        # Customers never share a lane and a lane keeps its order, so per-customer order holds
        # while Odoo works on several customers at once; the batch is acked after all lanes.
        lane_reports = [BatchReport() for _ in lanes]
        parts = list(self._lane_pool.map(self._deliver_lane, [method] * len(lanes), lanes, lane_reports))
        report.dead += sum(r.dead for r in lane_reports)
        return [pair for part in parts for pair in part]

    def _lanes(self, items: list[_Item]) -> list[list[_Item]]:
        """Split ``items`` into at most ``inbound_lanes`` lists, one customer per lane, order kept."""
        count = self.config.inbound_lanes
        if count <= 1:
            return [items]
        lanes: list[list[_Item]] = [[] for _ in range(count)]
        for item in items:
            sender = item.payload.get("from") or {}
            customer = f"{item.payload.get('account')}:{sender.get('user_id') or sender.get('wa_id')}"
            lanes[zlib.crc32(customer.encode()) % count].append(item)
        return [lane for lane in lanes if lane]

    def _deliver_lane(self, method, items: list[_Item], report) -> list[tuple[_Item, dict]]:
        done: list[tuple[_Item, dict]] = []
        for chunk in self._chunks(items):
            done.extend(self._deliver_chunk(method, chunk, report))
        return done

    def _chunks(self, items: list[_Item]) -> list[list[_Item]]:
        """Consecutive chunks of at most ``batch_size`` items and ``odoo_request_bytes`` of media each
        (a message whose media alone is larger goes in a chunk of its own)."""
        size, budget = min(self.config.batch_size, 500), self.config.odoo_request_bytes
        chunks: list[list[_Item]] = []
        current: list[_Item] = []
        weight = 0
        for item in items:
            media = item.payload.get("media") or {}
            item_bytes = len(media.get("data") or "")
            if current and (len(current) >= size or weight + item_bytes > budget):
                chunks.append(current)
                current, weight = [], 0
            current.append(item)
            weight += item_bytes
        if current:
            chunks.append(current)
        return chunks

    def _deliver_chunk(self, method, chunk: list[_Item], report) -> list[tuple[_Item, dict]]:
        if not chunk:
            return []
        try:
            results = self._call_with_backoff(method, [i.payload for i in chunk])
        except OdooPermanentError as exc:
            if len(chunk) == 1:
                self._dead_item(chunk[0], chunk[0].payload, f"Odoo refused it: {exc.name or 'error'}: {exc.message}")
                report.dead += 1
                return []
            index = exc.item_index
            if index is not None and 0 <= index < len(chunk):
                self._dead_item(
                    chunk[index], chunk[index].payload, f"Odoo refused it: {exc.name or 'error'}: {exc.message}"
                )
                report.dead += 1
                return self._deliver_chunk(method, chunk[:index] + chunk[index + 1 :], report)
            middle = len(chunk) // 2
            return self._deliver_chunk(method, chunk[:middle], report) + self._deliver_chunk(
                method, chunk[middle:], report
            )
        if not isinstance(results, list) or len(results) != len(chunk):
            results = list(results) if isinstance(results, list) else []
            results += [{}] * (len(chunk) - len(results))
        return list(zip(chunk, results, strict=False))

    def _call_with_backoff(self, method: str, payloads: list[dict]):
        delay = 0.5
        attempt = 0
        while True:
            attempt += 1
            try:
                result = getattr(self.odoo, method)(payloads)
            except contract.ContractError as exc:
                raise OdooPermanentError(str(exc), name="ContractError", method=method) from exc
            except OdooTransientError as exc:
                log.warning("Odoo unavailable, retrying the same batch", extra={"fields": {
                    "method": method, "attempt": attempt, "retry_in": round(delay, 2), "error": str(exc)}})
                self.odoo_alert.failed(exc, attempt, method)
                if self.stop.wait(delay):
                    raise Stopped() from exc
                delay = min(delay * 2, self.config.backoff_max_seconds)
                continue
            self.odoo_alert.succeeded()
            return result

    def _mark_seen(self, delivered: list[tuple[_Item, dict]]) -> None:
        if not delivered:
            return
        pipe = self.redis.pipeline(transaction=False)
        for item, _ in delivered:
            pipe.set(_seen_key(self.config, item.payload["account"], item.payload["wamid"]), "1", ex=DEDUP_TTL)
            self._media_cache.pop(item.payload["wamid"], None)
        pipe.execute()

    def _handle_status_results(self, results, items: list[_Item], report: BatchReport) -> None:
        key = self.config.key(RETRY_STATUSES_KEY)
        pipe = self.redis.pipeline(transaction=True)
        for item in items:
            if item.retry_member:
                pipe.zrem(key, item.retry_member)  # re-added below if still unknown
        for item, result in results:
            if not isinstance(result, dict) or result.get("result") != "unknown":
                continue
            attempt = item.attempt + 1
            if attempt > self.config.status_unknown_retries:
                self._dead_item(
                    item,
                    item.payload,
                    f"Odoo does not know message {item.payload['wamid']} after {item.attempt} retries",
                )
                report.dead += 1
                continue
            member = json.dumps({"status": item.payload, "attempt": attempt, "entry_id": item.entry_id})
            pipe.zadd(key, {member: self.clock() + self.config.status_unknown_delay_seconds})
            report.unknown_rescheduled += 1
        pipe.execute()

    def _due_status_retries(self) -> list[_Item]:
        key = self.config.key(RETRY_STATUSES_KEY)
        members = self.redis.zrangebyscore(key, "-inf", self.clock(), start=0, num=self.config.batch_size)
        items = []
        for member in members:
            member = member.decode() if isinstance(member, bytes) else member
            data = json.loads(member)
            items.append(
                _Item(data.get("entry_id") or "", 0, data["status"], attempt=int(data["attempt"]), retry_member=member)
            )
        return items

    def _dead_item(self, item: _Item, payload: dict, reason: str) -> None:
        shown = dict(payload)
        if isinstance(shown.get("media"), dict) and shown["media"].get("data"):
            shown["media"] = dict(shown["media"], data=f"<{len(shown['media']['data'])} base64 chars omitted>")
        self.streams.dead_letter(contract.STREAM_IN, reason, item.raw or shown, item.entry_id or None, item=shown)
        log.error(
            "dead-lettered an inbound item",
            extra={"fields": {"entry": item.entry_id, "wamid": payload.get("wamid"), "reason": reason}},
        )


class _MediaRetry(Exception):
    def __init__(self, error: ProviderError):
        super().__init__(f"media download failed, will retry: {error}")
        self.error = error
