"""The session process (``python -m whatsapp_bridge session``): WhatsApp Web sessions, driven from Odoo.

* ``wa:control`` is read in its own consumer group (``wa-bridge-session``): ``start`` (pair with a QR
  code, or connect with the stored pairing), ``pair_phone`` (pairing code for "link with phone
  number"), ``stop`` (disconnect, keep the pairing), ``logout`` (unpair) for a WhatsApp Web account;
  ``verify`` (Graph ``GET /{phone_number_id}``) and ``stop`` for the Cloud API number (End: the key
  ``<p>wa:session:stopped:<account>`` parks its outbound jobs and sets its inbound messages aside
  until Start).  Each entry is
  acked once handled; one that cannot be read goes to ``wa:dead`` with the reason; template commands
  are another consumer's and are only acked here.
* Every state the driver reaches (QR code, pairing code, connected, disconnected, logged out, failed
  with the reason) is written to the hash ``<p>wa:session:state`` (what the outbound worker routes by,
  and ``/health`` shows) and reported to Odoo (``report_session_state``, retried while Odoo is down).
* Messages and receipts of a session go to ``wa:in`` as ``SessionEvent`` entries (``session_parser``):
  the inbound worker handles them exactly as Cloud API webhooks.  Media bytes wait in Redis.
  WhatsApp's internal ids (LIDs) are mapped to phone numbers from the phone's contacts, so one person
  stays one contact in Odoo.
* The phone's contacts are handed to Odoo (``ingest_contacts``) when the device is paired.
* The phone's own messages go to Odoo directly, not through ``wa:in`` (they are no customer's): the
  recent history of each chat the driver reports on pairing (``ingest_history``: past services, the
  last ``WA_SESSION_HISTORY_MESSAGES`` messages of each chat) and what the business sends from the
  phone while connected (``ingest_phone_messages``).  The calls wait in the Redis list
  ``<p>wa:session:odoo`` and are made by a thread of their own, in order, retried while Odoo is down
  (Odoo is idempotent on the message id: a replay imports nothing twice); one Odoo refuses goes to
  ``wa:dead`` with the reason.  The driver's events are never held up by Odoo.
* Sending: requests of the outbound worker on ``<p>wa:session:rpc`` (``providers.session``), at most one
  send per Odoo message id, paced per recipient (``WA_SESSION_RECIPIENT_INTERVAL``) to lower ban risk.
* Health: a connected session whose connection stops answering keepalives for
  ``WA_SESSION_KEEPALIVE_TIMEOUT`` seconds ("connected but dead") becomes ``error`` with the reason,
  and the ``session`` alert is raised (``/health``); it clears when a session connects again.
"""

from __future__ import annotations

import base64
import json
import logging
import queue
import threading
import time

import redis
import requests

from whatsapp_bridge import contract
from whatsapp_bridge.config import BridgeConfig
from whatsapp_bridge.inbound_media import media_unavailable
from whatsapp_bridge.keys import SENT_TTL
from whatsapp_bridge.odoo_client import OdooClient, OdooError, OdooPermanentError, OdooTransientError
from whatsapp_bridge.providers.base import ErrorClass, ProviderError
from whatsapp_bridge.providers.cloud_api import classify_graph_error
from whatsapp_bridge.providers.session import REPLY_TTL, load_media, store_media
from whatsapp_bridge.ratelimit import RecipientPacer
from whatsapp_bridge.retry import Stopped, retry
from whatsapp_bridge.session import driver as ev
from whatsapp_bridge.session.store import SessionStore
from whatsapp_bridge.session_parser import MEDIA_PREFIX, OBJECT, WebhookParseError, parse_any_message
from whatsapp_bridge.sharding import route_and_add
from whatsapp_bridge.streams import Streams
from whatsapp_bridge.worker_loop import run_until_stopped

log = logging.getLogger(__name__)

GROUP_SESSION = "wa-bridge-session"
ALERT = "session"
TEMPLATE_COMMANDS = ("template_submit", "template_sync")
CONTACTS_BATCH = 500
ODOO_BATCH = 50  # phone messages per Odoo call
ODOO_BATCH_BYTES = 8 * 1024 * 1024  # ... and at most this much JSON (media travel in base64)


class SessionService:
    def __init__(self, config: BridgeConfig, redis_client: redis.Redis, odoo: OdooClient, driver_factory,
                 stop: threading.Event | None = None, graph: requests.Session | None = None):
        self.config = config
        self.redis = redis_client
        self.streams = Streams.of(config, redis_client)
        self.keys = self.streams.keys
        self.odoo = odoo
        self.driver_factory = driver_factory  # (account, emit) -> SessionDriver
        self.stop = stop or threading.Event()
        self.store = SessionStore(config.data_dir)
        self.graph = graph or requests.Session()
        self.consumer = f"{config.consumer_name}-session"
        self.drivers: dict = {}
        self.states: dict[str, dict] = {}
        self.alive_at: dict[str, float] = {}
        self.pacer = RecipientPacer(config.session_recipient_interval)
        self._events: queue.Queue = queue.Queue()
        self._threads: list[threading.Thread] = []

    # -- lifecycle -----------------------------------------------------------------------------
    def run(self) -> None:
        self._threads = [threading.Thread(target=self._events_loop, name="session-events", daemon=True),
                         threading.Thread(target=self._rpc_loop, name="session-rpc", daemon=True),
                         threading.Thread(target=self._odoo_loop, name="session-odoo", daemon=True)]
        for thread in self._threads:
            thread.start()
        try:
            run_until_stopped(self.stop, self.setup, self.step, self.config.backoff_max_seconds, "session",
                              self.consumer, self.streams.name(contract.STREAM_CONTROL))
        finally:
            self.stop.set()
            for driver in list(self.drivers.values()):
                close = getattr(driver, "close", None)
                if close:
                    close()
            for thread in self._threads:
                thread.join(5)

    def setup(self) -> None:
        self.streams.ensure_group(contract.STREAM_CONTROL, GROUP_SESSION)
        for account in self.store.paired_accounts():
            if account not in self.drivers:  # a restart keeps the number connected
                log.info("resuming a paired WhatsApp Web session", extra={"fields": {"account": account}})
                self.driver(account).start()

    def step(self, block_ms: int = 1000) -> int:
        entries = self.streams.read_own_pending(contract.STREAM_CONTROL, GROUP_SESSION, self.consumer, 50)
        if not entries:
            entries = self.streams.read_new(contract.STREAM_CONTROL, GROUP_SESSION, self.consumer, 50, block_ms)
        for entry in entries:
            self.handle_entry(entry)
            self.streams.ack(contract.STREAM_CONTROL, GROUP_SESSION, [entry.id], delete=False)
        return len(entries)

    def driver(self, account: str):
        if account not in self.drivers:
            self.drivers[account] = self.driver_factory(account, lambda event, a=account: self._events.put((a, event)))
        return self.drivers[account]

    # -- wa:control ----------------------------------------------------------------------------
    def handle_entry(self, entry) -> None:
        try:
            command = contract.validate_control_command(json.loads(entry.payload))
        except (ValueError, contract.ContractError) as exc:
            self.streams.dead_letter(contract.STREAM_CONTROL, f"unreadable control command: {exc}", entry.payload,
                                     entry.id)
            log.error("dead-lettered a control command", extra={"fields": {"entry": entry.id, "reason": str(exc)}})
            return
        name, account = command["command"], command["account"]
        if name in TEMPLATE_COMMANDS:
            return  # the template worker's (its own consumer group reads them too)
        log.info("session command", extra={"fields": {"command": name, "account": account}})
        cloud = account == self.config.phone_number_id
        if cloud:
            self._cloud_command(name, account)
        elif name == "verify":
            self.report(account, "error", detail=f"{account} is not the Cloud API number of this bridge "
                                                  f"(WA_PHONE_NUMBER_ID={self.config.phone_number_id})")
        elif name == "start":
            self.driver(account).start()
        elif name == "pair_phone":
            self.driver(account).pair_phone(command["phone"])
        elif name == "stop":
            self.driver(account).stop()
        elif name == "logout":
            if account in self.drivers or self.store.load(account):
                self.driver(account).logout()
            else:
                self.store.delete(account)
                self.report(account, "logged_out", detail=contract.SESSION_LOGGED_OUT_FROM_ODOO)

    def _cloud_command(self, name: str, account: str) -> None:
        if name in ("start", "verify"):
            self.redis.delete(self.keys.session_stopped(account))
            ok, detail, phone = self.verify_cloud()
            self._report_odoo(self._payload(account, "connected" if ok else "error", detail=detail,
                                            connected_since=int(time.time()) if ok else None, phone=phone))
        elif name in ("stop", "logout"):
            self.redis.set(self.keys.session_stopped(account), str(int(time.time())))
            self._report_odoo(self._payload(account, "disconnected",
                                            detail=contract.SESSION_ENDED_FROM_ODOO))
        else:
            log.warning("command not available for a Cloud API account", extra={"fields": {"command": name}})

    def verify_cloud(self) -> tuple[bool, str, str]:
        """Graph ``GET /{phone_number_id}``: ``(ok, detail, display phone digits)``."""
        url = self.config.graph_url(self.config.phone_number_id)
        try:
            response = self.graph.get(url, headers={"Authorization": f"Bearer {self.config.access_token}"},
                                      params={"fields": "display_phone_number,verified_name"},
                                      timeout=min(self.config.graph_timeout, 10.0))
        except requests.RequestException as exc:
            return False, f"Graph API unreachable at {self.config.graph_base_url}: {exc}", ""
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code >= 400:
            return False, f"Graph API refused the credentials: {classify_graph_error(response.status_code, body)}", ""
        body = body if isinstance(body, dict) else {}
        phone = "".join(ch for ch in str(body.get("display_phone_number") or "") if ch.isdigit())
        name = body.get("verified_name") or ""
        return True, f"Credentials verified with the Graph API{': ' + name if name else ''}", phone[:20]

    # -- driver events -------------------------------------------------------------------------
    def _events_loop(self) -> None:
        while not self.stop.is_set():
            try:
                account, event = self._events.get(timeout=0.5)
            except queue.Empty:
                account = event = None
            try:
                if event is not None:
                    self.handle_event(account, event)
                self.watchdog()
            except Stopped:
                return
            except Exception:  # noqa: BLE001 - one event must not stop the sessions
                log.exception("session event failed", extra={"fields": {"account": account}})
                self.stop.wait(0.5)

    def handle_event(self, account: str, event) -> None:
        if isinstance(event, ev.Keepalive):
            self.alive_at[account] = time.monotonic()
        elif isinstance(event, ev.QrCode):
            self.report(account, "pairing", qr=event.code, detail=contract.SESSION_SCAN_QR)
        elif isinstance(event, ev.PairCode):
            self.report(account, "pairing", pair_code=event.code,
                        detail=contract.SESSION_TYPE_CODE)
        elif isinstance(event, ev.Connected):
            self.alive_at[account] = time.monotonic()
            self.report(account, "connected", connected_since=event.since or int(time.time()), phone=event.phone,
                        detail="")
            self._clear_alert_if_healthy()
        elif isinstance(event, ev.Disconnected):
            self.report(account, "disconnected", detail=event.reason)
        elif isinstance(event, ev.LoggedOut):
            self.report(account, "logged_out", detail=event.reason)
        elif isinstance(event, ev.Failed):
            self.fail(account, event.reason)
        elif isinstance(event, ev.Message):
            self.inbound_message(account, event)
        elif isinstance(event, ev.Receipt):
            self.publish({"object": OBJECT, "v": contract.CONTRACT_VERSION, "account": account,
                          "statuses": [event.data]})
        elif isinstance(event, ev.Contacts):
            self.contacts(account, list(event.items))
        elif isinstance(event, ev.History):
            self.history(account, event)

    def watchdog(self) -> None:
        limit = self.config.session_keepalive_timeout
        now = time.monotonic()
        for account, state in list(self.states.items()):
            if state.get("state") == "connected" and now - self.alive_at.get(account, now) > limit:
                self.fail(account, f"Connected but dead: no keepalive answer for {int(limit)} seconds")
                stop = getattr(self.drivers.get(account), "stop_silently", None)
                if stop:
                    stop()

    def fail(self, account: str, reason: str) -> None:
        self.report(account, "error", detail=reason)
        self.streams.set_alert(ALERT, f"WhatsApp Web {account}: {reason}", action=(
            "see the account in Odoo (WhatsApp > Configuration > Accounts): start the session again"))
        log.critical("ALERT: WhatsApp Web session failed", extra={"fields": {"account": account, "reason": reason}})

    def _clear_alert_if_healthy(self) -> None:
        if all(s.get("state") != "error" for s in self.states.values()):
            self.streams.clear_alert(ALERT)

    def _payload(self, account: str, state: str, **fields) -> dict:
        payload = {"v": contract.CONTRACT_VERSION, "account": account, "state": state}
        payload.update({k: v for k, v in fields.items() if v is not None and v != ""})
        if fields.get("detail") == "":
            payload["detail"] = ""
        return payload

    def report(self, account: str, state: str, **fields) -> None:
        payload = self._payload(account, state, **fields)
        previous = self.states.get(account, {})
        record = {"state": state, "detail": fields.get("detail") or "", "updated": int(time.time()),
                  "connected_since": fields.get("connected_since") if state == "connected" else None,
                  "phone": fields.get("phone") or previous.get("phone") or ""}
        self.states[account] = record
        self.redis.hset(self.keys.session_state, account, json.dumps(record))  # first: what sending follows
        self._report_odoo(payload)

    def _report_odoo(self, payload: dict) -> None:
        try:
            contract.validate_session_state(payload)
        except contract.ContractError as exc:
            log.error("session state not reportable", extra={"fields": {"error": str(exc)}})
            return
        try:
            retry(lambda: self.odoo.report_session_state(payload), self.stop, self.config.backoff_max_seconds,
                  retry_on=OdooTransientError, on_retry=lambda exc, attempt, delay: log.warning(
                      "Odoo unavailable, session state kept", extra={"fields": {"error": str(exc), "retry_in": delay}}))
        except OdooPermanentError as exc:
            log.error("Odoo refused the session state", extra={"fields": {
                "account": payload["account"], "state": payload["state"], "error": str(exc)}})

    def _resolve_sender(self, account: str, data: dict) -> dict | None:
        """``data`` with ``from.phone`` known (a LID mapped to its phone number), or ``None`` (dead-lettered)."""
        sender = dict(data.get("from") or {})
        lid = sender.pop("lid", None)
        if lid and sender.get("phone"):
            self._learn_lids(account, {lid: sender["phone"]})
        elif lid:
            phone = (self.store.load(account) or {}).get("lids", {}).get(lid)
            if not phone:
                self.streams.dead_letter(contract.STREAM_IN, f"WhatsApp Web message from {lid}: no phone number "
                                         "known for this LID yet", data)
                return None
            sender["phone"] = phone
        return dict(data, **{"from": sender})

    def _learn_lids(self, account: str, lids: dict) -> None:
        stored = self.store.load(account)
        if stored is None:
            return
        known = dict(stored.get("lids") or {})
        if any(known.get(lid) != phone for lid, phone in lids.items()):
            self.store.update(account, lids=dict(known, **lids))

    def inbound_message(self, account: str, event: ev.Message) -> None:
        data = self._resolve_sender(account, dict(event.data))
        if data is None:
            return
        if data.get("from_me"):  # the business wrote it on the phone: its message, not a customer's
            self.to_odoo("ingest_phone_messages", account, [(data, event.media)])
            return
        if event.media is not None:
            media = dict(data.get("media") or {})
            media["id"] = store_media(self.redis, self.keys, event.media, media.get("mimetype") or "",
                                      media.get("filename") or "")
            data["media"] = media
        self.publish({"object": OBJECT, "v": contract.CONTRACT_VERSION, "account": account, "messages": [data]})

    def publish(self, event: dict) -> None:
        """Append a session event to its customer's ``wa:in`` shard (the webhook's routing, ``sharding``)."""
        route_and_add(self.redis, self.keys, self.config.inbound_shards, json.dumps(event, ensure_ascii=False))

    def history(self, account: str, event: ev.History) -> None:
        """The recent history of the phone's chats: the last messages of each, oldest first, to Odoo."""
        if event.lids:
            self._learn_lids(account, dict(event.lids))
        chats: dict[str, list] = {}
        for message in event.messages:
            data = self._resolve_sender(account, dict(message.data))
            if data is not None:
                chats.setdefault(data["from"].get("phone") or "", []).append((data, message.media))
        keep = self.config.session_history_messages
        items = []
        for chat in chats.values():
            chat.sort(key=lambda pair: pair[0].get("timestamp") or 0)
            items.extend(chat[-keep:] if keep else [])
        log.info("history of the phone's chats", extra={"fields": {
            "account": account, "chats": len(chats), "messages": len(items)}})
        self.to_odoo("ingest_history", account, items)

    def to_odoo(self, method: str, account: str, items: list[tuple[dict, bytes | None]]) -> None:
        """Queue ``method`` calls for ``items`` (batches of ``ODOO_BATCH``); unreadable ones are dead-lettered."""
        batch: list[dict] = []
        size = 0
        for data, media in items:
            try:
                payload = phone_payload(account, data, media)
            except (WebhookParseError, contract.ContractError) as exc:
                self.streams.dead_letter(contract.STREAM_IN, f"unreadable WhatsApp Web message of the phone: {exc}",
                                         data)
                continue
            length = len(json.dumps(payload))
            if batch and (len(batch) >= ODOO_BATCH or size + length > ODOO_BATCH_BYTES):
                self.redis.rpush(self.keys.session_odoo, json.dumps({"method": method, "items": batch}))
                batch, size = [], 0
            batch.append(payload)
            size += length
        if batch:
            self.redis.rpush(self.keys.session_odoo, json.dumps({"method": method, "items": batch}))

    def _odoo_loop(self) -> None:
        while not self.stop.is_set():
            try:
                raw = self.redis.lindex(self.keys.session_odoo, 0)
                if raw is None:
                    self.stop.wait(0.2)
                    continue
                self._call_odoo(json.loads(raw))
                self.redis.lpop(self.keys.session_odoo)  # after Odoo's answer: a crash before it replays the call
            except Stopped:
                return
            except redis.RedisError as exc:
                log.warning("session odoo calls: Redis unavailable", extra={"fields": {"error": str(exc)}})
                self.stop.wait(1.0)
            except Exception:  # noqa: BLE001 - one bad call must not stop the others
                log.exception("session odoo call failed")
                self.redis.lpop(self.keys.session_odoo)

    def _call_odoo(self, call: dict) -> None:
        method, items = call["method"], call["items"]
        try:
            results = retry(lambda: self.odoo.call(method, items), self.stop, self.config.backoff_max_seconds,
                            retry_on=OdooTransientError, on_retry=lambda exc, attempt, delay: log.warning(
                                "Odoo unavailable, phone messages kept", extra={"fields": {
                                    "method": method, "error": str(exc), "retry_in": delay}}))
        except OdooPermanentError as exc:
            shown = [dict(i, media=dict(i["media"], data="<omitted>")) if (i.get("media") or {}).get("data") else i
                     for i in items]
            self.streams.dead_letter(contract.STREAM_IN, f"Odoo refused {method}: {exc}", {"method": method,
                                                                                            "items": shown})
            log.error("Odoo refused the phone's messages", extra={"fields": {"method": method, "error": str(exc)}})
            return
        log.info("phone messages handed to Odoo", extra={"fields": {
            "method": method, "count": len(items), "new": sum(1 for r in results or () if not r.get("duplicate"))}})

    def contacts(self, account: str, items: list[dict]) -> None:
        lids = {c["lid"]: c["phone"] for c in items if c.get("lid") and c.get("phone")}
        if lids and self.store.load(account) is not None:
            stored = self.store.load(account) or {}
            self.store.update(account, lids=dict(stored.get("lids") or {}, **lids))
        payloads = []
        for item in items:
            payload = {"v": contract.CONTRACT_VERSION, "account": account, "phone": item.get("phone") or "",
                       "lid": item.get("lid") or "", "name": item.get("name") or ""}
            try:
                payloads.append(contract.validate_session_contact(payload))
            except contract.ContractError as exc:
                log.warning("contact skipped", extra={"fields": {"account": account, "reason": str(exc)}})
        for start in range(0, len(payloads), CONTACTS_BATCH):
            batch = payloads[start:start + CONTACTS_BATCH]
            try:
                results = retry(lambda b=batch: self.odoo.call("ingest_contacts", b), self.stop,
                                self.config.backoff_max_seconds, retry_on=OdooTransientError)
            except OdooError as exc:
                log.error("Odoo refused the contacts", extra={"fields": {"account": account, "error": str(exc)}})
                return
            log.info("contacts handed to Odoo", extra={"fields": {"account": account, "count": len(results or [])}})

    # -- sending (requests of the outbound worker) -----------------------------------------------
    def _rpc_loop(self) -> None:
        while not self.stop.is_set():
            try:
                popped = self.redis.blpop([self.keys.session_rpc], timeout=1)
                if popped:
                    request = json.loads(popped[1])
                    self._reply(request, self.handle_send(request))
            except redis.RedisError as exc:
                log.warning("session rpc: Redis unavailable", extra={"fields": {"error": str(exc)}})
                self.stop.wait(1.0)
            except Exception:  # noqa: BLE001 - a bad request must not stop sending
                log.exception("session rpc failed")

    def _reply(self, request: dict, answer: dict) -> None:
        key = self.keys.session_reply(request.get("id") or "none")
        pipe = self.redis.pipeline(transaction=True)
        pipe.rpush(key, json.dumps(answer))
        pipe.expire(key, REPLY_TTL)
        pipe.execute()

    def handle_send(self, request: dict) -> dict:
        account, message_id = request.get("account"), request.get("message_id")
        sent_key = self.keys.sent(message_id) if message_id else None
        if sent_key:
            already = self.redis.get(sent_key)
            if already:  # a retried request: never send the same Odoo message twice
                return {"ok": True, "wamid": already.decode() if isinstance(already, bytes) else already}
        driver = self.drivers.get(account)
        if driver is None or self.states.get(account, {}).get("state") != "connected":
            return _error(ProviderError(ErrorClass.RETRY, "the WhatsApp Web session is not connected",
                                        title="Session disconnected"))
        to = request.get("to") or ""
        wait = self.pacer.wait_time(to)
        if wait > 0:  # per-recipient pacing: bursts to one chat are what gets unofficial clients banned
            self.stop.wait(wait)
        text, kind = request.get("text") or "", request.get("kind") or "text"
        buttons = tuple(tuple(b) for b in request.get("buttons") or ())
        if kind == "interactive":  # no buttons on WhatsApp Web: a numbered menu in the text
            text = text + "\n\n" + "\n".join(f"{i}. {title}" for i, (_, title) in enumerate(buttons, 1))
            kind = "text"
        media = mimetype = None
        filename = request.get("filename") or ""
        if request.get("media_id"):
            try:
                fetched = load_media(self.redis, self.keys, request["media_id"])
            except ProviderError as exc:
                return _error(exc)
            media, mimetype = fetched.data, fetched.mimetype
            filename = filename or fetched.filename or ""
        outgoing = ev.Outgoing(to=to, kind=kind, text=text, media=media, mimetype=mimetype or "",
                               filename=filename, voice=kind == "audio" and (mimetype or "").startswith("audio/ogg"),
                               reply_to=request.get("reply_to"), buttons=buttons)
        try:
            wamid = driver.send(outgoing)
        except ProviderError as exc:
            return _error(exc)
        self.pacer.sent(to)
        if sent_key:
            self.redis.set(sent_key, wamid, ex=SENT_TTL)
        return {"ok": True, "wamid": wamid}


def phone_payload(account: str, data: dict, media: bytes | None) -> dict:
    """The contract's HistoryMessage of one chat message of the phone (raises ``WebhookParseError`` /
    ``ContractError``): the same payload as the inbound path's, plus ``from_me``."""
    raw = dict(data)
    if raw.get("type") in contract.MEDIA_TYPES and isinstance(raw.get("media") or {}, dict):
        raw["media"] = dict(raw.get("media") or {}, id=f"{MEDIA_PREFIX}inline")  # the bytes travel beside it
    msg = parse_any_message(raw, account)
    if msg.type not in contract.MEDIA_TYPES:
        payload = msg.to_contract()
    elif media is None:
        payload = media_unavailable(msg, ProviderError(ErrorClass.FAIL, "it was not downloaded from the phone"))
    else:
        payload = msg.to_contract({"data": base64.b64encode(media).decode("ascii")})
    payload["from_me"] = bool(data.get("from_me"))
    return contract.validate_history_message(payload)


def _error(exc: ProviderError) -> dict:
    return {"ok": False, "class": exc.error_class.value, "message": exc.message, "code": exc.code,
            "title": exc.title, "retry_after": exc.retry_after}
