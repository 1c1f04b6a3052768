"""The WhatsApp Web client of a real number: whatsmeow through neonize (``WA_SESSION_DRIVER=neonize``).

neonize (PyPI, Apache-2.0) is the Python binding of whatsmeow, the Go library of WhatsApp's
multi-device protocol; its wheel carries the compiled Go core, so nothing is built here.  It is an
*unofficial* client: WhatsApp may ban a number driven by it (see the README).  Install it with
``pip install --no-deps -r requirements-whatsapp-web.txt``; without it ``session.driver_factory``
falls back to ``UnavailableDriver`` and every Start says so on the account form.

One ``NeonizeDriver`` per account, in the session process.  whatsmeow keeps the device's keys in a
SQLite database of its own, ``<WA_DATA_DIR>/sessions/<account>.sqlite3``, beside the pairing file
of ``SessionStore`` (so a restart reconnects without a QR code, a logout deletes both).

The module has two halves:

* pure mapping functions from neonize's protobuf types to the session's events and payloads
  (``map_message``, ``map_receipt``, ``map_history``, ``failure_reason``, ``build_message``): every
  kind of message becomes the provider-neutral ``SessionMessage`` of ``session_parser``, which the
  inbound worker turns into the very payload a Cloud API webhook gives (one pipeline);
* ``NeonizeDriver``, the ``SessionDriver``: it registers the event handlers on a ``NewClient``, runs
  its blocking ``connect()`` in a thread, and downloads/uploads media.  Its client is made by
  ``client_factory`` (tests give a recording double; the mapping is tested on real neonize types).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from neonize.client import NewClient
from neonize.events import (
    ClientOutdatedEv,
    ConnectedEv,
    ConnectFailureEv,
    DisconnectedEv,
    HistorySyncEv,
    KeepAliveRestoredEv,
    KeepAliveTimeoutEv,
    LoggedOutEv,
    MessageEv,
    PairStatusEv,
    ReceiptEv,
    StreamErrorEv,
    StreamReplacedEv,
    TemporaryBanEv,
)
from neonize.exc import NeonizeError
from neonize.proto import Neonize_pb2 as nz
from neonize.proto.waE2E import WAWebProtobufsE2E_pb2 as e2e
from neonize.utils.enum import MediaType

from whatsapp_bridge import contract
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

PHONE_SERVER = "s.whatsapp.net"
LID_SERVER = "lid"
UNOFFICIAL = "WhatsApp Web is an unofficial client: use the Cloud API for this number"

# -- mapping: neonize's protobuf types -> the session's payloads ---------------------------------------------


def seconds(value: int) -> int:
    """Unix seconds from whatsmeow's timestamps (seconds; milliseconds in some events)."""
    value = int(value or 0)
    return value // 1000 if value > 10**11 else value


def jid_phone(jid: nz.JID) -> str:
    return jid.User if jid.Server == PHONE_SERVER and jid.User.isdigit() else ""


def jid_lid(jid: nz.JID) -> str:
    return f"{jid.User}@{LID_SERVER}" if jid.Server == LID_SERVER and jid.User else ""


def parse_jid(text: str) -> nz.JID:
    """``"5511987654321@s.whatsapp.net"`` / ``"1234@lid"`` / ``"5511...:12@s.whatsapp.net"`` -> JID."""
    user, _, server = (text or "").partition("@")
    user, _, device = user.partition(":")
    return nz.JID(User=user, Server=server, Device=int(device) if device.isdigit() else 0)


def _party(primary: nz.JID, alt: nz.JID | None = None) -> dict:
    """The customer of a chat as the session knows people: phone digits and/or LID."""
    out = {}
    phone = jid_phone(primary) or (jid_phone(alt) if alt is not None else "")
    lid = jid_lid(primary) or (jid_lid(alt) if alt is not None else "")
    if phone:
        out["phone"] = phone
    if lid:
        out["lid"] = lid
    return out


def _is_customer_chat(chat: nz.JID) -> bool:
    """1:1 chats only: groups, status broadcasts and newsletters are no customer's conversation."""
    return chat.Server in (PHONE_SERVER, LID_SERVER) and bool(chat.User)


_WRAPPERS = ("ephemeralMessage", "viewOnceMessage", "viewOnceMessageV2", "viewOnceMessageV2Extension",
             "documentWithCaptionMessage")


def unwrap(message: e2e.Message) -> e2e.Message:
    """The content inside disappearing / view-once / document-with-caption wrappers."""
    for _ in range(5):
        for name in _WRAPPERS:
            if message.HasField(name) and getattr(message, name).HasField("message"):
                message = getattr(message, name).message
                break
        else:
            return message
    return message


def _vcard(card: str) -> dict:
    phones, emails, name = [], [], ""
    for line in (card or "").splitlines():
        key, _, value = line.partition(":")
        head = key.split(";")[0].upper()
        if head == "FN":
            name = value.strip()
        elif head == "TEL" and value.strip():
            phones.append(value.strip())
        elif head == "EMAIL" and value.strip():
            emails.append(value.strip())
    return {"name": name, "phones": phones, "emails": emails}


# message field -> (session type, MediaType of its download)
_MEDIA_FIELDS = {
    "imageMessage": ("image", MediaType.MediaImage),
    "videoMessage": ("video", MediaType.MediaVideo),
    "ptvMessage": ("video", MediaType.MediaVideo),
    "audioMessage": ("audio", MediaType.MediaAudio),
    "documentMessage": ("document", MediaType.MediaDocument),
    "stickerMessage": ("sticker", MediaType.MediaImage),
}


def content(message: e2e.Message) -> dict | None:
    """The ``SessionMessage`` fields of a WhatsApp message's content (type, text, media, ...), or ``None``
    for what is no conversation message (protocol messages: revokes, edits, key shares; poll votes)."""
    message = unwrap(message)
    context = None
    if message.HasField("conversation") or message.conversation:
        out = {"type": "text", "text": message.conversation}
    elif message.HasField("extendedTextMessage"):
        out = {"type": "text", "text": message.extendedTextMessage.text}
        context = message.extendedTextMessage.contextInfo
    elif any(message.HasField(name) for name in _MEDIA_FIELDS):
        name = next(n for n in _MEDIA_FIELDS if message.HasField(n))
        body = getattr(message, name)
        kind = _MEDIA_FIELDS[name][0]
        caption = getattr(body, "caption", "") if name not in ("audioMessage", "stickerMessage") else ""
        media = {"mimetype": body.mimetype or "application/octet-stream", "caption": caption or None,
                 "voice": bool(getattr(body, "PTT", False))}
        if name == "documentMessage":
            media["filename"] = body.fileName or body.title or None
        out = {"type": kind, "text": caption or "", "media": media, "_media_field": name}
        context = body.contextInfo
    elif message.HasField("locationMessage") or message.HasField("liveLocationMessage"):
        body = message.locationMessage if message.HasField("locationMessage") else message.liveLocationMessage
        out = {"type": "location", "text": "", "location": {
            "latitude": body.degreesLatitude, "longitude": body.degreesLongitude,
            "name": getattr(body, "name", "") or None, "address": getattr(body, "address", "") or None}}
        context = body.contextInfo
    elif message.HasField("reactionMessage"):
        body = message.reactionMessage
        out = {"type": "reaction", "text": "", "reaction": {"id": body.key.ID, "emoji": body.text}}
    elif message.HasField("contactMessage"):
        card = _vcard(message.contactMessage.vcard)
        card["name"] = message.contactMessage.displayName or card["name"]
        out = {"type": "contacts", "text": "", "contacts": [card]}
        context = message.contactMessage.contextInfo
    elif message.HasField("contactsArrayMessage"):
        cards = []
        for item in message.contactsArrayMessage.contacts:
            card = _vcard(item.vcard)
            card["name"] = item.displayName or card["name"]
            cards.append(card)
        out = {"type": "contacts", "text": "", "contacts": cards}
        context = message.contactsArrayMessage.contextInfo
    elif message.HasField("buttonsResponseMessage"):
        body = message.buttonsResponseMessage
        out = {"type": "interactive", "text": body.selectedDisplayText,
               "interactive": {"id": body.selectedButtonID, "title": body.selectedDisplayText}}
        context = body.contextInfo
    elif message.HasField("templateButtonReplyMessage"):
        body = message.templateButtonReplyMessage
        out = {"type": "interactive", "text": body.selectedDisplayText,
               "interactive": {"id": body.selectedID, "title": body.selectedDisplayText}}
        context = body.contextInfo
    elif message.HasField("listResponseMessage"):
        body = message.listResponseMessage
        out = {"type": "interactive", "text": body.title,
               "interactive": {"id": body.singleSelectReply.selectedRowID, "title": body.title}}
        context = body.contextInfo
    elif message.HasField("protocolMessage") or message.HasField("pollUpdateMessage") \
            or message.HasField("senderKeyDistributionMessage") and len(message.ListFields()) == 1:
        return None
    else:
        fields = [f.name for f, _ in message.ListFields() if f.name != "messageContextInfo"]
        if not fields:
            return None
        what = fields[0]
        text = ""
        for poll in ("pollCreationMessage", "pollCreationMessageV2", "pollCreationMessageV3"):
            if message.HasField(poll):
                text = getattr(message, poll).name
        out = {"type": "unsupported", "text": text, "errors": [{
            "title": "Not supported by WhatsApp Web in Odoo",
            "message": f"The customer sent a {what} (open WhatsApp on the phone to see it)"}]}
    if out["type"] == "text" and not out["text"].strip():
        return None
    if context is not None:
        if context.stanzaID:
            out["reply_to"] = context.stanzaID
        if context.isForwarded:
            out["forwarded"] = True
    return out


def map_message(event: nz.Message) -> dict | None:
    """A live message (``MessageEv``) as a ``SessionMessage``; ``None`` for what is not a 1:1 chat message.

    ``from`` is the chat's customer: the sender, or the recipient when the business wrote it on the
    phone (``from_me``).  The name is the customer's push name (never the business's own)."""
    info = event.Info
    source = info.MessageSource
    if source.IsGroup or not _is_customer_chat(source.Chat):
        return None
    body = content(event.Message)
    if body is None:
        return None
    if source.IsFromMe:
        who = _party(source.Chat, source.RecipientAlt if source.HasField("RecipientAlt") else None)
    else:
        who = _party(source.Sender if source.Sender.User else source.Chat,
                     source.SenderAlt if source.HasField("SenderAlt") else None)
        if info.Pushname:
            who["name"] = info.Pushname
    if not who:
        return None
    return dict(body, id=info.ID, timestamp=seconds(info.Timestamp) or int(time.time()), **{"from": who},
                from_me=bool(source.IsFromMe))


_RECEIPTS = {
    nz.Receipt.DELIVERED: "delivered",
    nz.Receipt.READ: "read",
    nz.Receipt.PLAYED: "read",
    nz.Receipt.SERVER_ERROR: "failed",
}


def map_receipt(event: nz.Receipt) -> list[dict]:
    """The ``SessionReceipt``s of a receipt of messages the business sent (one per message id)."""
    status = _RECEIPTS.get(event.Type)
    source = event.MessageSource
    if status is None or source.IsGroup or not _is_customer_chat(source.Chat):
        return []
    recipient = jid_phone(source.Chat) or (jid_phone(source.SenderAlt) if source.HasField("SenderAlt") else "")
    out = []
    for message_id in event.MessageIDs:
        receipt = {"id": message_id, "status": status, "timestamp": seconds(event.Timestamp) or int(time.time())}
        if recipient:
            receipt["recipient"] = recipient
        out.append(receipt)
    return out


def map_history(event: nz.HistorySync, keep: int = 50) -> tuple[list[tuple[dict, e2e.Message]], dict[str, str]]:
    """WhatsApp's history sync: ``([(SessionMessage, its E2E message for the media download)], {lid: phone})``.

    The last ``keep`` messages of each 1:1 chat, oldest first; ``from`` is the chat's customer."""
    data = event.Data
    lids = {}
    for mapping in data.phoneNumberToLidMappings:
        phone, lid = jid_phone(parse_jid(mapping.pnJID)), jid_lid(parse_jid(mapping.lidJID))
        if phone and lid:
            lids[lid] = phone
    names = {p.ID: p.pushname for p in data.pushnames if p.pushname}
    out = []
    for conversation in data.conversations:
        chat = parse_jid(conversation.ID)
        if not _is_customer_chat(chat):
            continue
        who = _party(chat)
        for alternative in (conversation.pnJID, conversation.lidJID):
            who = dict(_party(parse_jid(alternative)), **who) if alternative else who
        if who.get("lid") and not who.get("phone") and lids.get(who["lid"]):
            who["phone"] = lids[who["lid"]]
        if who.get("lid") and who.get("phone"):
            lids[who["lid"]] = who["phone"]
        name = conversation.name or conversation.displayName or names.get(conversation.ID) or None
        messages = []
        for item in conversation.messages:
            web = item.message
            body = content(web.message) if web.HasField("message") else None
            if body is None or not web.key.ID:
                continue
            sender = dict(who)
            if name and not web.key.fromMe:
                sender["name"] = web.pushName or name
            messages.append((dict(body, id=web.key.ID, timestamp=seconds(web.messageTimestamp), **{"from": sender},
                                  from_me=bool(web.key.fromMe)), web.message))
        messages.sort(key=lambda pair: pair[0]["timestamp"])
        out.extend(messages[-keep:] if keep else [])
    return out, lids


_FAILURE_REASONS = {
    nz.LOGGED_OUT: contract.SESSION_LOGGED_OUT_FROM_PHONE,
    nz.MAIN_DEVICE_GONE: contract.SESSION_PHONE_GONE,
    nz.UNKNOWN_LOGOUT: contract.SESSION_DEVICE_LOGGED_OUT,
    nz.TEMP_BANNED: f"WhatsApp temporarily banned this number. {UNOFFICIAL}",
    nz.CLIENT_OUTDATED: "WhatsApp says this client is outdated: upgrade neonize (requirements-whatsapp-web.txt)",
    nz.BAD_USER_AGENT: "WhatsApp refused this client's user agent: upgrade neonize",
    nz.SERVICE_UNAVAILABLE: contract.SESSION_WHATSAPP_UNAVAILABLE,
    nz.INTERNAL_SERVER_ERROR: contract.SESSION_WHATSAPP_FAILED,
}
LOGOUT_REASONS = (nz.LOGGED_OUT, nz.MAIN_DEVICE_GONE, nz.UNKNOWN_LOGOUT)
_BAN_REASONS = {
    nz.TemporaryBan.SEND_TO_TOO_MANY_PEOPLE: "too many messages to people who do not know the number",
    nz.TemporaryBan.BLOCKED_BY_USERS: "too many people blocked it",
    nz.TemporaryBan.CREATED_TOO_MANY_GROUPS: "too many groups created",
    nz.TemporaryBan.SENT_TOO_MANY_SAME_MESSAGE: "the same message sent to too many people",
    nz.TemporaryBan.BROADCAST_LIST: "broadcast lists",
}


def failure_reason(event) -> str:
    """The reason the account form shows for an event that ends or breaks the session."""
    if isinstance(event, nz.LoggedOut):
        return _FAILURE_REASONS.get(event.Reason, contract.SESSION_DEVICE_LOGGED_OUT)
    if isinstance(event, nz.TemporaryBan):
        until = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(seconds(event.Expire))) if event.Expire else ""
        why = _BAN_REASONS.get(event.Code, "")
        return (f"WhatsApp temporarily banned this number{' (' + why + ')' if why else ''}"
                f"{', until ' + until if until else ''}. {UNOFFICIAL}")
    if isinstance(event, nz.ConnectFailure):
        reason = _FAILURE_REASONS.get(
            event.Reason, f"WhatsApp refused the connection ({nz.ConnectFailureReason.Name(event.Reason)})")
        return f"{reason}{': ' + event.Message if event.Message else ''}"
    if isinstance(event, nz.StreamError):
        return f"WhatsApp closed the connection (stream error {event.Code or 'unknown'})"
    if isinstance(event, nz.StreamReplaced):
        return "Another client connected with this pairing (stream replaced): only one bridge may run it"
    if isinstance(event, nz.ClientOutdated):
        return _FAILURE_REASONS[nz.CLIENT_OUTDATED]
    return "WhatsApp Web failed"


def build_message(out: Outgoing, upload: Callable[[bytes, MediaType], nz.UploadResponse],
                  to_jid: str) -> e2e.Message:
    """The WhatsApp message of an ``Outgoing`` (media uploaded with ``upload`` first)."""
    context = e2e.ContextInfo(stanzaID=out.reply_to, participant=to_jid) if out.reply_to else None
    if out.kind == "text":
        if context is None:
            return e2e.Message(conversation=out.text)
        return e2e.Message(extendedTextMessage=e2e.ExtendedTextMessage(text=out.text, contextInfo=context))
    kinds = {"image": ("imageMessage", e2e.ImageMessage, MediaType.MediaImage),
             "video": ("videoMessage", e2e.VideoMessage, MediaType.MediaVideo),
             "audio": ("audioMessage", e2e.AudioMessage, MediaType.MediaAudio),
             "document": ("documentMessage", e2e.DocumentMessage, MediaType.MediaDocument),
             "sticker": ("stickerMessage", e2e.StickerMessage, MediaType.MediaImage)}
    if out.kind not in kinds or out.media is None:
        raise ProviderError(ErrorClass.FAIL, f"WhatsApp Web cannot send a {out.kind} message without its file",
                            title="Unsupported message")
    field, cls, media_type = kinds[out.kind]
    up = upload(out.media, media_type)
    values = {"URL": up.url, "directPath": up.DirectPath, "mediaKey": up.MediaKey, "fileEncSHA256": up.FileEncSHA256,
              "fileSHA256": up.FileSHA256, "fileLength": up.FileLength, "mimetype": out.mimetype}
    if out.kind in ("image", "video", "document") and out.text:
        values["caption"] = out.text
    if out.kind == "document":
        values["fileName"] = out.filename or "document"
        values["title"] = out.filename or "document"
    if out.kind == "audio":
        values["PTT"] = bool(out.voice)
    if context is not None:
        values["contextInfo"] = context
    return e2e.Message(**{field: cls(**values)})


# -- the driver ----------------------------------------------------------------------------------------------


class NeonizeDriver:
    """``SessionDriver`` of a real number (see the module's docstring)."""

    def __init__(self, account: str, emit: Emit, *, store: SessionStore, keepalive_seconds: float = 10.0,
                 history_messages: int = 50, client_factory: Callable[..., NewClient] = NewClient):
        self.account = account
        self.emit = emit
        self.store = store
        self.keepalive_seconds = keepalive_seconds
        self.history_messages = history_messages
        self.client_factory = client_factory
        self.client = None
        self.connected = False
        self.keepalive_failing = False
        self.paired_now = False
        self._socket_ready = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.RLock()
        self._closed = threading.Event()
        self._ticker = threading.Thread(target=self._tick, name=f"neonize-keepalive-{account}", daemon=True)
        self._ticker.start()

    # -- SessionDriver ------------------------------------------------------------------------
    def start(self) -> None:
        with self._lock:
            if self._thread and self._thread.is_alive():
                if self.connected:
                    self.emit(Connected(phone=self._own_phone(), since=int(time.time())))
                return
            self.client = self._new_client()
            self._socket_ready.clear()
            self._thread = threading.Thread(target=self._run, args=(self.client,), name=f"neonize-{self.account}",
                                            daemon=True)
            self._thread.start()

    def pair_phone(self, phone: str) -> None:
        self.start()
        threading.Thread(target=self._pair_phone, args=(phone,), daemon=True).start()

    def logout(self) -> None:
        with self._lock:
            client, was_connected = self.client, self.connected
            self.connected = False
        try:
            if client is not None and was_connected:
                client.logout()
        except NeonizeError as exc:
            log.warning("WhatsApp Web logout failed, the pairing is deleted anyway", extra={"fields": {
                "account": self.account, "error": str(exc)}})
        self._shutdown(client)
        self.store.delete(self.account)
        self.emit(LoggedOut(contract.SESSION_LOGGED_OUT_FROM_ODOO))

    def stop(self) -> None:
        with self._lock:
            client, self.connected = self.client, False
        self._shutdown(client)
        self.emit(Disconnected(contract.SESSION_STOPPED_FROM_ODOO))

    def stop_silently(self) -> None:
        """The watchdog found the connection dead: drop it (the state already says why)."""
        with self._lock:
            client, self.connected = self.client, False
        self._shutdown(client)

    def close(self) -> None:
        self._closed.set()
        self.stop_silently()

    def send(self, message: Outgoing) -> str:
        with self._lock:
            client = self.client
            if client is None or not self.connected:
                raise ProviderError(ErrorClass.RETRY, "the WhatsApp Web session is not connected",
                                    title="Session disconnected")
        to = f"{message.to}@{PHONE_SERVER}"
        try:
            built = build_message(message, client.upload, to)
            response = client.send_message(parse_jid(to), built)
        except NeonizeError as exc:
            raise ProviderError(ErrorClass.RETRY, f"WhatsApp Web could not send: {exc}",
                                title="WhatsApp Web send failed") from exc
        return response.ID

    # -- the client ---------------------------------------------------------------------------
    def _new_client(self):
        self.store.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        client = self.client_factory(str(self.store.path(self.account, ".sqlite3")), uuid=self.account)
        client.event.qr(self._on_qr)
        for kind, handler in ((ConnectedEv, self._on_connected), (PairStatusEv, self._on_pair_status),
                              (LoggedOutEv, self._on_logged_out), (TemporaryBanEv, self._on_failure),
                              (ConnectFailureEv, self._on_connect_failure), (StreamErrorEv, self._on_failure),
                              (StreamReplacedEv, self._on_failure), (ClientOutdatedEv, self._on_failure),
                              (DisconnectedEv, self._on_disconnected), (KeepAliveTimeoutEv, self._on_keepalive_timeout),
                              (KeepAliveRestoredEv, self._on_keepalive_restored), (MessageEv, self._on_message),
                              (ReceiptEv, self._on_receipt), (HistorySyncEv, self._on_history)):
            client.event(kind)(handler)
        return client

    def _run(self, client) -> None:
        try:
            client.connect()  # blocks until stopped
        except Exception as exc:  # noqa: BLE001 - the native client failed: the form says why, the process lives
            log.exception("WhatsApp Web client stopped", extra={"fields": {"account": self.account}})
            if self.client is client:
                self.connected = False
                self.emit(Failed(f"The WhatsApp Web client stopped: {exc}"))

    def _shutdown(self, client) -> None:
        if client is None:
            return
        try:
            client.stop()
        except Exception:  # noqa: BLE001 - already gone
            log.debug("stopping the WhatsApp Web client failed", exc_info=True)
        with self._lock:
            if self.client is client:
                self.client = None

    def _own_phone(self) -> str:
        try:
            me = self.client.get_me() if self.client is not None else None
        except NeonizeError:
            me = None
        phone = jid_phone(me.JID) if me is not None else ""
        return phone or (self.store.load(self.account) or {}).get("phone") or ""

    def _pair_phone(self, phone: str) -> None:
        if not self._socket_ready.wait(30):
            self.emit(Failed("WhatsApp did not answer: pairing by phone number could not begin"))
            return
        try:
            code = self.client.PairPhone(phone, show_push_notification=True)
        except (NeonizeError, AttributeError) as exc:
            self.emit(Failed(f"Pairing by phone number failed: {exc}"))
            return
        code = "".join(ch for ch in code if ch.isalnum()).upper()
        self.emit(PairCode(f"{code[:4]}-{code[4:8]}"))

    def _tick(self) -> None:
        """whatsmeow only reports keepalive failures: while it does not, the connection answers."""
        while not self._closed.wait(self.keepalive_seconds):
            if self.connected and not self.keepalive_failing:
                self.emit(Keepalive())

    def _download(self, message: e2e.Message) -> bytes | None:
        try:
            return self.client.download_any(message) if self.client is not None else None
        except NeonizeError as exc:
            log.warning("WhatsApp Web media download failed", extra={"fields": {
                "account": self.account, "error": str(exc)}})
            return None

    def _complete(self, data: dict) -> dict:
        """A message from a LID only: its phone number from whatsmeow's LID store when it knows it."""
        who = data.get("from") or {}
        if who.get("lid") and not who.get("phone") and self.client is not None:
            try:
                phone = jid_phone(self.client.get_pn_from_lid(parse_jid(who["lid"])))
            except NeonizeError:
                phone = ""
            if phone:
                data = dict(data, **{"from": dict(who, phone=phone)})
        return data

    def _as_event(self, data: dict, message: e2e.Message) -> Message:
        field = data.pop("_media_field", None)
        media = self._download(message) if field else None
        return Message(self._complete(data), media)

    # -- events (called from neonize's threads) ---------------------------------------------------
    def _on_qr(self, _client, code: bytes) -> None:
        self._socket_ready.set()
        self.emit(QrCode(code.decode() if isinstance(code, bytes) else str(code)))

    def _on_pair_status(self, _client, event: nz.PairStatus) -> None:
        if event.Status == nz.PairStatus.SUCCESS:
            self.paired_now = True
            self.store.save(self.account, {"driver": "neonize", "phone": jid_phone(event.ID),
                                           "paired_at": int(time.time()), "business_name": event.BusinessName})
        else:
            self.emit(Failed(f"Pairing failed: {event.Error or 'WhatsApp refused it'}"))

    def _on_connected(self, _client, _event: nz.Connected) -> None:
        self._socket_ready.set()
        self.connected, self.keepalive_failing = True, False
        phone = self._own_phone()
        if self.store.load(self.account) is None:
            self.store.save(self.account, {"driver": "neonize", "phone": phone, "paired_at": int(time.time())})
        self.emit(Connected(phone=phone, since=int(time.time())))
        if self.paired_now:  # a new pairing: the phone's contacts (whatsmeow syncs them from the phone)
            self.paired_now = False
            try:
                contacts = self.client.contact.get_all_contacts()
            except (NeonizeError, AttributeError) as exc:
                log.warning("contacts not readable", extra={"fields": {"account": self.account, "error": str(exc)}})
                return
            items = []
            for contact in contacts:
                phone = jid_phone(contact.JID)
                if phone:
                    items.append({"phone": phone, "lid": "",
                                  "name": contact.Info.FullName or contact.Info.PushName or contact.Info.FirstName})
            if items:
                self.emit(Contacts(tuple(items)))

    def _on_logged_out(self, _client, event: nz.LoggedOut) -> None:
        self.connected = False
        self.store.delete(self.account)
        self.emit(LoggedOut(failure_reason(event)))

    def _on_connect_failure(self, client, event: nz.ConnectFailure) -> None:
        if event.Reason in LOGOUT_REASONS:
            self._on_logged_out(client, nz.LoggedOut(Reason=event.Reason))
            return
        self._on_failure(client, event)

    def _on_failure(self, _client, event) -> None:
        self.connected = False
        if isinstance(event, nz.TemporaryBan):
            self.store.delete(self.account)
        self.emit(Failed(failure_reason(event)))

    def _on_disconnected(self, _client, _event: nz.Disconnected) -> None:
        if self.connected:
            self.connected = False
            self.emit(Disconnected(contract.SESSION_CONNECTION_DROPPED))

    def _on_keepalive_timeout(self, _client, event: nz.KeepAliveTimeout) -> None:
        self.keepalive_failing = True
        log.warning("WhatsApp Web keepalive failed", extra={"fields": {
            "account": self.account, "errors": event.ErrorCount}})

    def _on_keepalive_restored(self, _client, _event) -> None:
        self.keepalive_failing = False
        self.emit(Keepalive())

    def _on_message(self, _client, event: nz.Message) -> None:
        data = map_message(event)
        if data is not None:
            self.emit(self._as_event(data, event.Message))

    def _on_receipt(self, _client, event: nz.Receipt) -> None:
        for receipt in map_receipt(event):
            self.emit(Receipt(receipt))

    def _on_history(self, _client, event: nz.HistorySync) -> None:
        messages, lids = map_history(event, self.history_messages)
        if messages or lids:
            self.emit(History(tuple(self._as_event(data, message) for data, message in messages),
                              tuple(lids.items())))

