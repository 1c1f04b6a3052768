"""A scripted WhatsApp Web phone: the ``SessionDriver`` of the tests and of the demo (``WA_SESSION_DRIVER=fake``).

WhatsApp cannot be reached from a test, so this driver plays it: ``start()`` shows QR codes that rotate
every ``WA_FAKE_QR_SECONDS`` and gives up after ``WA_FAKE_QR_ROTATIONS`` of them (nobody scanned), and
"the phone" is a Redis list, ``<p>wa:fake:<account>``, of JSON actions anyone can push (the tests, the
simulator page's "Scan the QR code shown in Odoo" button through ``/_sim/session/...``)::

    {"action": "scan", "phone"?: "5511...", "contacts"?: [{"phone", "lid"?, "name"?}],
     "history"?: [chat, ...]}            pair (QR or code); the phone's contacts and chats come along
    {"action": "history", "chats": [chat, ...]}   WhatsApp's history sync (sent again: a replay)
        chat: {"phone"?: "5511...", "lid"?: "...@lid", "name"?,
               "messages": [{"id", "timestamp", "text", "from_me"?, "type"?, "data"?, "mimetype"?}]}
    {"action": "message", "from": "5511..." | "lid"?: "...@lid", "name"?, "text", "id"?,
     "type"?: "text"|"image"|..., "data"?: base64, "mimetype"?, "filename"?, "from_me"?: bool}
                                         a message of the chat with "from" (from_me: the business
                                         wrote it on the phone itself, to "from")
    {"action": "receipt", "id": "<sent message id>", "status": "read"}
    {"action": "phone_logout"}           the device is removed from the phone (Linked devices > Log out)
    {"action": "ban"}                    WhatsApp bans the number
    {"action": "dead"}                   the connection goes silent: no keepalive answer any more
    {"action": "stream_error", "reason"?: "..."}

What the driver "sends" is appended to ``<p>wa:fake:sent:<account>`` (JSON, with its id), followed by a
``delivered`` receipt.  A pairing is stored (``SessionStore``) so a restarted session process connects
again without a QR code, as whatsmeow does with its device store.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import secrets
import threading
import time

import redis

from whatsapp_bridge import contract
from whatsapp_bridge.keys import Keys
from whatsapp_bridge.providers.base import ErrorClass, ProviderError
from whatsapp_bridge.session.driver import (
    Connected,
    Contacts,
    Disconnected,
    Emit,
    Failed,
    History,
    Keepalive,
    LoggedOut,
    Message,
    Outgoing,
    PairCode,
    QrCode,
    Receipt,
)
from whatsapp_bridge.session.store import SessionStore

log = logging.getLogger(__name__)

DEFAULT_PHONE = "5511940000000"
DEMO_CONTACTS = (
    {"phone": "5511987654321", "lid": "120000000000001@lid", "name": "Maria Silva"},
    {"phone": "5521998877665", "lid": "120000000000002@lid", "name": "João Pereira"},
    {"phone": "5531991234567", "lid": "120000000000003@lid", "name": "Ana Costa"},
)
# the demo phone's recent chats (imported as past services on pairing): minutes before pairing
DEMO_HISTORY = (
    {"phone": "5511987654321", "name": "Maria Silva", "messages": [
        {"ago": 3 * 86400, "text": "Boa tarde! Vocês entregam em Campinas?"},
        {"ago": 3 * 86400 - 120, "text": "Entregamos sim, Maria: frete grátis acima de R$ 200.", "from_me": True},
        {"ago": 3 * 86400 - 300, "text": "Perfeito, obrigada!"}]},
    {"phone": "5521998877665", "name": "João Pereira", "messages": [
        {"ago": 86400, "text": "Meu pedido 4521 já foi enviado?"},
        {"ago": 86400 - 600, "text": "Foi enviado hoje de manhã, João. Código de rastreio: BR123456789.",
         "from_me": True}]},
)
_PAIR_ALPHABET = "ABCDEFGHJKLMNPQRSTVWXYZ0123456789"
SENT_TTL = 24 * 3600


def fake_qr() -> str:
    """A string shaped like WhatsApp's QR payload: ref, noise key, identity key, adv secret."""
    parts = [secrets.token_urlsafe(30), base64.b64encode(secrets.token_bytes(32)).decode(),
             base64.b64encode(secrets.token_bytes(32)).decode(), base64.b64encode(secrets.token_bytes(32)).decode()]
    return "2@" + ",".join(parts)


class FakeDriver:
    def __init__(self, account: str, emit: Emit, *, client: redis.Redis, keys: Keys, store: SessionStore,
                 qr_seconds: float = 20.0, qr_rotations: int = 6, keepalive_seconds: float = 1.0):
        self.account = account
        self.emit = emit
        self.redis = client
        self.keys = keys
        self.store = store
        self.qr_seconds = qr_seconds
        self.qr_rotations = qr_rotations
        self.keepalive_seconds = keepalive_seconds
        self.mode = "idle"  # idle | pairing | connected
        self.silent = False  # "dead": connected, but no keepalive answer
        self.phone = ""
        self._qr_count = 0
        self._next_qr = 0.0
        self._next_keepalive = 0.0
        self._receipts: list[tuple[float, dict]] = []
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"fake-phone-{account}", daemon=True)
        self._thread.start()

    # -- SessionDriver ------------------------------------------------------------------------
    def start(self) -> None:
        with self._lock:
            stored = self.store.load(self.account)
            if stored:
                self._connected(stored.get("phone") or DEFAULT_PHONE, resumed=True)
                return
            self.mode, self._qr_count, self._next_qr = "pairing", 0, 0.0

    def pair_phone(self, phone: str) -> None:
        with self._lock:
            self.mode, self.phone = "pairing", phone
            self._qr_count, self._next_qr = 0, time.monotonic() + self.qr_seconds * self.qr_rotations
            code = "".join(secrets.choice(_PAIR_ALPHABET) for _ in range(8))
        self.emit(PairCode(f"{code[:4]}-{code[4:]}"))

    def logout(self) -> None:
        with self._lock:
            self.store.delete(self.account)
            self.mode = "idle"
        self.emit(LoggedOut(contract.SESSION_LOGGED_OUT_FROM_ODOO))

    def stop(self) -> None:
        with self._lock:
            was = self.mode
            self.mode = "idle"
        if was != "idle":
            self.emit(Disconnected(contract.SESSION_STOPPED_FROM_ODOO))

    def close(self) -> None:
        self._stop.set()

    def send(self, message: Outgoing) -> str:
        with self._lock:
            if self.mode != "connected" or self.silent:
                raise ProviderError(ErrorClass.RETRY, "the WhatsApp Web session is not connected",
                                    title="Session disconnected")
            wamid = "3EB0" + secrets.token_hex(8).upper()
            record = {"id": wamid, "to": message.to, "type": message.kind, "text": message.text,
                      "reply_to": message.reply_to, "filename": message.filename, "mimetype": message.mimetype,
                      "size": len(message.media or b""), "voice": message.voice, "at": int(time.time())}
            pipe = self.redis.pipeline(transaction=True)
            pipe.rpush(self.keys.fake_sent(self.account), json.dumps(record))
            pipe.expire(self.keys.fake_sent(self.account), SENT_TTL)
            pipe.execute()
            self._receipts.append((time.monotonic() + 0.2, {"id": wamid, "status": "delivered",
                                                            "timestamp": int(time.time()), "recipient": message.to}))
        return wamid

    # -- the phone ----------------------------------------------------------------------------
    def _connected(self, phone: str, resumed: bool = False, contacts=None, history=None) -> None:
        self.mode, self.phone, self.silent = "connected", phone, False
        since = int(time.time())
        if not resumed:
            self.store.save(self.account, {"driver": "fake", "phone": phone, "paired_at": since})
        self._next_keepalive = 0.0
        self.emit(Connected(phone=phone, since=since))
        if not resumed:
            items = DEMO_CONTACTS if contacts is None else contacts
            if items:
                self.emit(Contacts(tuple(items)))
            chats = (DEMO_HISTORY if contacts is None else ()) if history is None else history
            if chats:
                self._history(chats)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                popped = self.redis.blpop([self.keys.fake_phone(self.account)], timeout=0.2)
            except redis.RedisError as exc:
                log.warning("fake phone: Redis unavailable", extra={"fields": {"error": str(exc)}})
                self._stop.wait(1.0)
                continue
            try:
                if popped:
                    self._act(json.loads(popped[1]))
                self._tick()
            except Exception:  # noqa: BLE001 - a bad scripted action must not kill the phone
                log.exception("fake phone: action failed")

    def _tick(self) -> None:
        now = time.monotonic()
        with self._lock:
            if self.mode == "pairing" and now >= self._next_qr:
                if self._qr_count >= self.qr_rotations:
                    self.mode = "idle"
                    self.emit(Disconnected(contract.SESSION_QR_TIMEOUT))
                    return
                self._qr_count += 1
                self._next_qr = now + self.qr_seconds
                self.emit(QrCode(fake_qr()))
            elif self.mode == "connected" and not self.silent and now >= self._next_keepalive:
                self._next_keepalive = now + self.keepalive_seconds
                self.emit(Keepalive())
            due = [r for r in self._receipts if r[0] <= now]
            self._receipts = [r for r in self._receipts if r[0] > now]
        for _, receipt in due:
            self.emit(Receipt(receipt))

    def _act(self, action: dict) -> None:
        kind = action.get("action")
        with self._lock:
            if kind == "scan":
                if self.mode != "pairing":
                    log.warning("fake phone: scan while not pairing", extra={"fields": {"mode": self.mode}})
                    return
                self._connected(action.get("phone") or self.phone or DEFAULT_PHONE, contacts=action.get("contacts"),
                                history=action.get("history"))
            elif kind == "history":
                self._history(action.get("chats") or ())
            elif kind == "phone_logout":
                self.store.delete(self.account)
                self.mode = "idle"
                self.emit(LoggedOut(contract.SESSION_LOGGED_OUT_FROM_PHONE))
            elif kind == "ban":
                self.store.delete(self.account)
                self.mode = "idle"
                self.emit(Failed("WhatsApp banned this number (unofficial client): use the Cloud API"))
            elif kind == "dead":
                self.silent = True
            elif kind == "stream_error":
                self.mode = "idle"
                self.emit(Failed(action.get("reason") or "WhatsApp closed the connection (stream error)"))
            elif kind == "message":
                self._incoming(action)
            elif kind == "receipt":
                self.emit(Receipt({"id": action["id"], "status": action.get("status", "read"),
                                   "timestamp": int(time.time()), "recipient": action.get("recipient")}))
            else:
                log.warning("fake phone: unknown action", extra={"fields": {"action": kind}})

    def _history(self, chats) -> None:
        now = int(time.time())
        messages = []
        for chat in chats:
            for n, item in enumerate(chat.get("messages") or ()):
                action = dict(item, name=chat.get("name"))
                action["from"], action["lid"] = chat.get("phone"), chat.get("lid")
                seed = f"{chat.get('phone')}|{chat.get('lid')}|{n}|{item.get('text')}".encode()
                action.setdefault("id", "3AH" + hashlib.sha1(seed).hexdigest()[:17].upper())  # same on a replay
                action.setdefault("timestamp", now - int(item.get("ago") or 0))
                messages.append(self._message(action))
        self.emit(History(tuple(messages)))

    def _incoming(self, action: dict) -> None:
        self.emit(self._message(action))

    def _message(self, action: dict) -> Message:
        sender = {"name": action.get("name")}
        if action.get("from"):
            sender["phone"] = action["from"]
        if action.get("lid"):
            sender["lid"] = action["lid"]
        data = {"id": action.get("id") or "3A" + secrets.token_hex(9).upper(),
                "timestamp": int(action.get("timestamp") or time.time()), "from": sender,
                "type": action.get("type") or "text", "text": action.get("text") or "",
                "from_me": bool(action.get("from_me"))}
        media = None
        if action.get("data"):
            media = base64.b64decode(action["data"])
            data["media"] = {"mimetype": action.get("mimetype") or "application/octet-stream",
                             "filename": action.get("filename"), "caption": action.get("text") or None,
                             "voice": bool(action.get("voice"))}
        return Message(data, media)
