"""Outbound worker: ``wa:out`` (jobs written by Odoo after commit) -> provider -> ``report_send_results`` -> XACK.

* Idempotent on Odoo's message id: after a successful send the wamid is kept in
  ``<prefix>wa:sent:<message_id>`` (30 days, see ``keys``); a job pushed again (Odoo's cron re-pushes
  queued messages, a crash before the ack) is not sent twice, only its result is reported
  again.  A final failure is kept likewise in ``<prefix>wa:sendfail:<message_id>``.
* Shards: Odoo appends a job to its recipient's shard of ``wa:out`` (``contract.outbound_route_key``);
  a shard is served by the one worker holding its lease (``sharding``), so several processes share
  the sending while each recipient's jobs stay in one stream.
* Order per recipient: jobs of one recipient are sent one after the other, in stream order;
  when one must wait (pair-rate backoff, transient error) the later ones of that recipient
  wait too.  Different recipients are sent concurrently, all under one token bucket
  (``WA_RATE_PER_SECOND``).
* Errors (see ``providers.base.ErrorClass``): RETRY keeps the job pending and retries it after
  a per-recipient backoff (after the number's throughput limit, 130429, the token bucket pauses
  all sending instead), at most ``WA_SEND_MAX_ATTEMPTS`` times, then reports it failed;
  FAIL reports it failed with the readable reason; PAUSE stops all sending, keeps every job
  pending, writes the alert to ``<prefix>wa:alert:outbound`` (shown by ``/health``) and probes
  again every ``WA_PAUSE_PROBE_SECONDS``.
* A job is acked only after Odoo accepted its result (``report_send_results``).
* Two providers, one pipeline: a job whose account is a WhatsApp Web session served by the session
  process (hash ``<prefix>wa:session:state``) is sent through it (``providers.session``); while that
  session is not connected its jobs wait, pending, unattempted, and go out once it is connected again.
  A Cloud API number ended from Odoo (``<prefix>wa:session:stopped:<account>``) waits likewise.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import redis

from whatsapp_bridge import audio, contract
from whatsapp_bridge.config import BridgeConfig
from whatsapp_bridge.keys import SENT_TTL
from whatsapp_bridge.odoo_client import OdooClient, OdooPermanentError, OdooTransientError
from whatsapp_bridge.providers.base import Button, ErrorClass, ListRow, Provider, ProviderError, Recipient
from whatsapp_bridge.providers.session import SessionAccountProvider
from whatsapp_bridge.ratelimit import RecipientBackoff, TokenBucket
from whatsapp_bridge.retry import Stopped, retry
from whatsapp_bridge.sharding import ShardLease
from whatsapp_bridge.streams import GROUP_OUT, Entry, Streams
from whatsapp_bridge.worker_loop import OdooAlert, run_until_stopped, stand_by

log = logging.getLogger(__name__)

ALERT = "outbound"  # the alert (``keys.Keys.alert``) raised while sending is paused
THROUGHPUT_LIMIT = 130429  # Cloud API: the number's messages per second were exceeded
THROTTLE_PAUSE_SECONDS = 1.0  # all sending pauses this long after a 130429 without Retry-After
SESSION_HOLD_SECONDS = 1.0  # a recipient of a session that is down is looked at again this often


@dataclass
class _Job:
    entry: Entry
    job: dict

    @property
    def message_id(self) -> int:
        return self.job["message_id"]

    @property
    def recipient(self) -> Recipient:
        to = self.job.get("to") or {}
        return Recipient(wa_id=to.get("wa_id") or None, user_id=to.get("user_id") or None)


@dataclass
class OutboundReport:
    sent: int = 0
    failed: int = 0
    resent_results: int = 0  # already sent before: only the result was reported again
    waiting: int = 0
    dead: int = 0
    acked: list[str] = field(default_factory=list)
    results: list[dict] = field(default_factory=list)


_WAIT = object()


class OutboundWorker:
    def __init__(
        self,
        config: BridgeConfig,
        redis_client: redis.Redis,
        odoo: OdooClient,
        provider: Provider,
        stop: threading.Event | None = None,
        bucket: TokenBucket | None = None,
        backoff: RecipientBackoff | None = None,
        concurrency: int = 8,
        shard: int = 0,
    ):
        self.config = config
        self.redis = redis_client
        self.shard = shard
        self.streams = Streams.of(config, redis_client, shard)
        self.keys = self.streams.keys
        self.odoo = odoo
        self.provider = provider
        self.stop = stop or threading.Event()
        # the number's rate is shared by its shards' workers
        self.bucket = bucket or TokenBucket(config.rate_per_second / config.inbound_shards)
        self.backoff = backoff or RecipientBackoff(base=1.0, cap=min(300.0, max(1.0, config.backoff_max_seconds * 4)))
        self.concurrency = concurrency
        self.consumer = f"{config.consumer_name}-out"
        self.lease = ShardLease(redis_client, self.keys.lease(contract.STREAM_OUT), self.consumer,
                                config.shard_lease_seconds, self.stop)
        self._pause_lock = threading.Lock()
        self.paused: dict | None = None
        self._probe_at = 0.0
        self._last_claim = 0.0
        self.odoo_alert = OdooAlert(self.streams)

    # -- lifecycle -------------------------------------------------------------------------
    def setup(self) -> None:
        self.streams.ensure_group(contract.STREAM_OUT, GROUP_OUT)
        alert = self.streams.alert(ALERT)
        if alert:  # paused by a previous run: probe at once (the operator may have fixed the token)
            self.paused = alert
            self._probe_at = 0.0

    def run(self) -> None:
        try:
            run_until_stopped(self.stop, self._prepare, self._step, self.config.backoff_max_seconds,
                              "outbound", self.consumer, self.streams.name(contract.STREAM_OUT))
        finally:
            self.lease.release()

    def _prepare(self) -> None:
        """Serve the shard once its lease is ours; jobs a previous owner left pending become ours, first."""
        self.lease.acquire(on_wait=lambda holder: stand_by(self.streams.name(contract.STREAM_OUT), holder))
        self.setup()
        self.streams.claim_all(contract.STREAM_OUT, GROUP_OUT, self.consumer)

    def _step(self) -> None:
        self.lease.check()
        if time.monotonic() - self._last_claim > self.config.claim_idle_ms / 1000 / 2:
            self._claim_idle()
        self.run_once()

    def _claim_idle(self) -> None:
        self._last_claim = time.monotonic()
        claimed = self.streams.autoclaim(
            contract.STREAM_OUT, GROUP_OUT, self.consumer, self.config.claim_idle_ms, self.config.batch_size
        )
        if claimed:  # now ours: the next read of own pending entries picks them up
            log.warning("claimed outbound jobs of a stopped consumer", extra={"fields": {"count": len(claimed)}})

    def run_once(self, block_ms: int = 1000) -> OutboundReport | None:
        if self.paused and time.monotonic() < self._probe_at:
            self.stop.wait(min(1.0, self._probe_at - time.monotonic()))
            return None
        size = self.config.batch_size
        pending = self.streams.read_own_pending(contract.STREAM_OUT, GROUP_OUT, self.consumer, size)
        can_send_pending = any(self._ready(e) for e in pending)
        block = None if can_send_pending else self._block_time(block_ms, pending)
        new = [] if self.paused else self.streams.read_new(contract.STREAM_OUT, GROUP_OUT, self.consumer, size, block)
        if not new and not can_send_pending:
            if pending and block is None:
                self.stop.wait(0.05)
            return None
        return self.process(pending + new)

    def _block_time(self, block_ms: int, pending: list[Entry]) -> int | None:
        if not pending:
            return block_ms
        waits = [w for w in (self._wait_of(e) for e in pending) if w > 0]
        return max(10, min(block_ms, int(min(waits) * 1000))) if waits else block_ms

    def _wait_of(self, entry: Entry) -> float:
        try:
            to = json.loads(entry.payload).get("to") or {}
            key = to.get("wa_id") or to.get("user_id") or ""
        except (ValueError, AttributeError):
            return 0.0
        return self.backoff.wait_time(key)

    def _ready(self, entry: Entry) -> bool:
        return self._wait_of(entry) <= 0

    # -- processing ------------------------------------------------------------------------
    def process(self, entries: list[Entry]) -> OutboundReport:
        report = OutboundReport()
        jobs: list[_Job] = []
        dead_ids: list[str] = []
        for entry in entries:
            try:
                job = contract.validate_outbound_job(json.loads(entry.payload))
            except (ValueError, contract.ContractError) as exc:
                self.streams.dead_letter(contract.STREAM_OUT, f"invalid outbound job: {exc}", entry.payload, entry.id)
                log.error("dead-lettered an invalid outbound job", extra={"fields": {"entry": entry.id,
                                                                                     "reason": str(exc)}})
                dead_ids.append(entry.id)
                report.dead += 1
                continue
            jobs.append(_Job(entry, job))

        groups: dict[str, list[_Job]] = {}
        for job in jobs:
            groups.setdefault(job.recipient.key, []).append(job)
        outcomes: list[tuple[_Job, dict]] = []
        lock = threading.Lock()

        def run_group(group: list[_Job]) -> None:
            for job in group:
                if self.stop.is_set():
                    return
                result = self._handle(job, report)
                if result is _WAIT:
                    with lock:
                        report.waiting += 1 + (len(group) - group.index(job) - 1)
                    return
                with lock:
                    outcomes.append((job, result))

        if len(groups) <= 1 or self.concurrency <= 1:
            for group in groups.values():
                run_group(group)
        else:
            with ThreadPoolExecutor(max_workers=min(self.concurrency, len(groups))) as pool:
                list(pool.map(run_group, groups.values()))

        acked = self._report(outcomes, report)
        ids = dead_ids + acked
        self.streams.ack(contract.STREAM_OUT, GROUP_OUT, ids)
        report.acked = ids
        if outcomes or dead_ids:
            log.info("outbound batch done", extra={"fields": {
                "sent": report.sent, "failed": report.failed, "resent_results": report.resent_results,
                "waiting": report.waiting, "dead": report.dead}})
        return report

    def _handle(self, job: _Job, report: OutboundReport):
        """Send one job (or recall its earlier result).  Returns a SendResult dict or ``_WAIT``."""
        message_id = job.message_id
        sent_key = self.keys.sent(message_id)
        fail_key = self.keys.send_failure(message_id)
        wamid, failure = self.redis.mget([sent_key, fail_key])
        if wamid:
            report.resent_results += 1
            return self._result(message_id, wamid=wamid.decode() if isinstance(wamid, bytes) else wamid)
        if failure:
            report.resent_results += 1
            return self._result(message_id, error=json.loads(failure))
        recipient = job.recipient
        provider = self._provider_for(job)
        if provider is _WAIT:  # a WhatsApp Web session that is down, a stopped number: kept until it is back
            self.backoff.hold(recipient.key, SESSION_HOLD_SECONDS)
            return _WAIT
        if provider is None:
            return self._fail(job, report, fail_key, ProviderError(
                ErrorClass.FAIL,
                f"account {job.job['account']!r} is not served by this bridge "
                f"(WA_PHONE_NUMBER_ID={self.config.phone_number_id}, and no WhatsApp Web session has it)",
                title="Unknown WhatsApp account"))
        if self.paused and not self._claim_probe():
            return _WAIT
        if self.backoff.wait_time(recipient.key) > 0:
            return _WAIT
        if not self.bucket.acquire(self.stop):
            return _WAIT
        try:
            wamid = self._send(job, provider)
        except _OdooUnavailable as exc:
            log.warning("attachment not readable now, job kept", extra={"fields": {
                "message_id": message_id, "error": str(exc)}})
            self.backoff.penalize(recipient.key)
            return _WAIT
        except ProviderError as exc:
            return self._on_error(job, report, fail_key, exc)
        self.redis.set(sent_key, wamid, ex=SENT_TTL)
        self.redis.delete(self.keys.send_tries(message_id))
        self.backoff.clear(recipient.key)
        self._resume()
        report.sent += 1
        log.info("message sent", extra={"fields": {"message_id": message_id, "wamid": wamid,
                                                    "type": job.job["type"]}})
        return self._result(message_id, wamid=wamid)

    def _provider_for(self, job: _Job):
        """The provider of the job's account: the session process for a WhatsApp Web account it serves
        (``_WAIT`` while that session is not connected), the Cloud API for ``WA_PHONE_NUMBER_ID`` (``_WAIT``
        while ended from Odoo), else ``None``."""
        account = job.job["account"]
        raw = self.redis.hget(self.keys.session_state, account)
        if raw:
            try:
                state = json.loads(raw).get("state")
            except (ValueError, AttributeError):
                state = None
            if state != "connected":
                return _WAIT
            provider = SessionAccountProvider(self.redis, self.keys, account)
            provider.message_id = job.message_id
            return provider
        if account != self.config.phone_number_id:
            return None
        if self.redis.exists(self.keys.session_stopped(account)):
            return _WAIT
        return self.provider

    def _send(self, job: _Job, provider: Provider | None = None) -> str:
        provider = provider or self.provider
        data, to, kind = job.job, job.recipient, job.job["type"]
        reply_to = data.get("reply_to") or None
        if kind == "text":
            return provider.send_text(to, data["text"], reply_to).wamid
        if kind == "interactive" and data.get("list"):
            menu = data["list"]
            rows = [ListRow(id=r["id"], title=r["title"], description=r.get("description") or "")
                    for r in menu["rows"]]
            return provider.send_list(to, data["text"], menu["button"], rows, reply_to).wamid
        if kind == "interactive":
            buttons = [Button(id=b["id"], title=b["title"]) for b in data["buttons"]]
            return provider.send_interactive(to, data["text"], buttons, reply_to).wamid
        if kind == "template":
            return self._send_template(job)
        attachment = data["attachment"]
        try:
            file = self.odoo.read_attachment(data["message_id"])
        except OdooTransientError as exc:
            raise _OdooUnavailable(str(exc)) from exc
        except OdooPermanentError as exc:
            raise ProviderError(ErrorClass.FAIL, f"attachment unavailable in Odoo: {exc.message}",
                                title="Attachment unavailable") from exc
        try:
            content = base64.b64decode(file.get("data") or "", validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ProviderError(ErrorClass.FAIL, "attachment data from Odoo is not valid base64",
                                title="Attachment unreadable") from exc
        if not content:
            raise ProviderError(ErrorClass.FAIL, "attachment is empty", title="Attachment empty")
        mimetype = file.get("mimetype") or attachment["mimetype"]
        filename = file.get("filename") or attachment.get("filename") or f"attachment-{attachment['id']}"
        if attachment.get("voice") or kind == "audio":
            kind = "audio"  # a voice note is an audio message (ogg/opus plays as a voice note)
            try:
                converted = audio.for_whatsapp(content, mimetype, filename, voice=bool(attachment.get("voice")))
            except audio.AudioError as exc:
                raise ProviderError(ErrorClass.FAIL, f"{filename}: {exc}", title="Audio unreadable") from exc
            content, mimetype, filename = converted.content, converted.mimetype, converted.filename
        media_id = provider.upload_media(content, mimetype, filename)
        caption = data.get("text") or None
        return provider.send_media(to, kind, media_id, caption=caption, filename=filename,
                                        reply_to=reply_to).wamid

    def _send_template(self, job: _Job) -> str:
        """A template (allowed outside the 24-hour window): a Cloud API message, whatever the job's account."""
        send_template = getattr(self.provider, "send_template", None)
        if send_template is None:
            raise ProviderError(ErrorClass.FAIL, f"the {self.provider.name} provider cannot send templates",
                                code=131051, title="Templates are not supported")
        return send_template(job.recipient, job.job["template"], job.job.get("reply_to") or None).wamid

    def _on_error(self, job: _Job, report: OutboundReport, fail_key: str, exc: ProviderError):
        recipient = job.recipient.key
        if exc.error_class is ErrorClass.PAUSE:
            self._pause(exc)
            return _WAIT
        if exc.error_class is ErrorClass.FAIL:
            return self._fail(job, report, fail_key, exc)
        tries_key = self.keys.send_tries(job.message_id)
        attempts = int(self.redis.incr(tries_key))
        self.redis.expire(tries_key, SENT_TTL)
        if attempts >= self.config.send_max_attempts:
            self.redis.delete(tries_key)
            final = ProviderError(ErrorClass.FAIL, f"gave up after {attempts} attempts: {exc.message}",
                                  code=exc.code, title=exc.title)
            return self._fail(job, report, fail_key, final)
        number_wide = exc.code == THROUGHPUT_LIMIT
        if number_wide:  # the number's messages per second: every recipient waits, not only this one
            delay = self.bucket.pause_for(exc.retry_after or THROTTLE_PAUSE_SECONDS)
        else:
            delay = self.backoff.penalize(recipient, exc.retry_after)
        log.warning("send failed, will retry", extra={"fields": {
            "message_id": job.message_id, "code": exc.code, "attempt": attempts, "retry_in": round(delay, 2),
            "error": exc.message, "pair_rate": exc.recipient_backoff, "number_throttled": number_wide}})
        return _WAIT

    def _fail(self, job: _Job, report: OutboundReport, fail_key: str, exc: ProviderError) -> dict:
        error = exc.to_contract()
        self.redis.set(fail_key, json.dumps(error), ex=SENT_TTL)
        report.failed += 1
        log.warning("message failed", extra={"fields": {"message_id": job.message_id, "code": exc.code,
                                                         "error": exc.message}})
        return self._result(job.message_id, error=error)

    @staticmethod
    def _result(message_id: int, wamid: str | None = None, error: dict | None = None) -> dict:
        if wamid:
            return {"v": contract.CONTRACT_VERSION, "message_id": message_id, "state": "sent", "wamid": wamid}
        return {"v": contract.CONTRACT_VERSION, "message_id": message_id, "state": "failed", "error": error}

    # -- pause / resume ----------------------------------------------------------------------
    def _pause(self, exc: ProviderError) -> None:
        alert = self.streams.set_alert(ALERT, exc.message, code=exc.code, action=(
            "sending paused: fix the WhatsApp account/token, the bridge retries by itself"))
        with self._pause_lock:
            first = self.paused is None
            self.paused = alert
            self._probe_at = time.monotonic() + self.config.pause_probe_seconds
        log.critical("ALERT: outbound sending paused", extra={"fields": {
            "code": exc.code, "reason": exc.message, "first": first,
            "probe_in_seconds": self.config.pause_probe_seconds}})

    def _claim_probe(self) -> bool:
        """While paused, let exactly one job through once the probe time has come."""
        with self._pause_lock:
            if self.paused is None:
                return True
            if time.monotonic() >= self._probe_at:
                self._probe_at = time.monotonic() + self.config.pause_probe_seconds
                return True
            return False

    def _resume(self) -> None:
        if self.paused is None:
            return
        with self._pause_lock:
            self.paused = None
        self.streams.clear_alert(ALERT)
        log.warning("outbound sending resumed")

    # -- reporting ---------------------------------------------------------------------------
    def _report(self, outcomes: list[tuple[_Job, dict]], report: OutboundReport) -> list[str]:
        """Report results to Odoo (retrying while it is down); returns the entry ids that may be acked."""
        acked: list[str] = []
        pending = list(outcomes)
        while pending:
            results = [r for _, r in pending]
            try:
                retry(lambda sent=results: self.odoo.report_send_results(sent), self.stop,
                      self.config.backoff_max_seconds, retry_on=OdooTransientError,
                      on_retry=self._report_failed(len(pending)))
            except Stopped:
                return acked  # not acked: re-reported (not re-sent) after restart
            except (OdooPermanentError, contract.ContractError) as exc:
                index = getattr(exc, "item_index", None)
                if index is None and isinstance(exc, contract.ContractError):
                    index = OdooPermanentError(str(exc)).item_index
                if len(pending) == 1 or index is None or not 0 <= index < len(pending):
                    if len(pending) > 1:  # no index: report one by one
                        for item in pending:
                            acked.extend(self._report([item], report))
                        return acked
                    index = 0
                job, result = pending.pop(index)
                self.streams.dead_letter(contract.STREAM_OUT, f"Odoo refused the send result: {exc}",
                                         job.entry.payload, job.entry.id, result=result)
                report.dead += 1
                acked.append(job.entry.id)
                continue
            self.odoo_alert.succeeded()
            acked.extend(job.entry.id for job, _ in pending)
            report.results.extend(results)
            pending = []
        return acked

    def _report_failed(self, count: int):
        def on_retry(exc, attempt: int, delay: float) -> None:
            log.warning("Odoo unavailable, send results kept", extra={"fields": {
                "count": count, "retry_in": round(delay, 2), "error": str(exc)}})
            self.odoo_alert.failed(exc, attempt, "report_send_results")
        return on_retry


class _OdooUnavailable(Exception):
    pass
