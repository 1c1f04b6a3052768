"""Parse the session process's entries of ``wa:in`` (WhatsApp Web) into the same events as Meta's webhooks.

One pipeline, two providers: the session process (``whatsapp_bridge.session``) writes what its
driver receives to ``wa:in`` in the provider-neutral shape below; the inbound worker recognises it by
``"object": "whatsapp_session"`` and parses it here into ``InboundMessage`` / ``StatusEvent``,
exactly what ``meta_parser`` makes of a Cloud API webhook; from there on (dedup, media, lanes, Odoo,
dead letters) nothing differs.

SessionEvent (bridge internal, ``wa:in``)::

    {"object": "whatsapp_session", "v": 1, "account": "<account key>",
     "messages": [SessionMessage, ...], "statuses": [SessionReceipt, ...]}

SessionMessage::

    {"id": "3EB0C767D26A1D8E4C", "timestamp": 1732240000,
     "from": {"phone": "5511987654321", "name": "Maria"},     # the session process maps LIDs to phones
     "type": "text" | "image" | "audio" | "video" | "document" | "sticker" | "location" | "reaction"
           | "contacts" | "interactive" | "unsupported",
     "text": "hello",
     "media": {"id": "wasess:<id>", "mimetype": "image/jpeg", "filename"?, "caption"?, "voice"?: bool},
     "location": {"latitude", "longitude", "name"?, "address"?},
     "reaction": {"id": "<message id>", "emoji": "👍"},
     "contacts": [{"name", "phones": [...], "emails": [...]}],      # shared contact cards
     "interactive": {"id": "<button id>", "title": "..."},          # a button / list reply
     "errors": [{"title", "message"}],                              # unsupported: what it was
     "reply_to": "<message id>" | null, "forwarded": bool,
     "from_me": bool}         # sent by the business from the phone itself: not a customer message;
                              # "from" is then the chat's customer (the session process hands
                              # these to Odoo's ingest_phone_messages, never to wa:in)

SessionReceipt::

    {"id": "<message id>", "status": "delivered" | "read" | "failed", "timestamp": 1732240000,
     "recipient": "5511987654321"}

Like ``meta_parser`` it is total: any input gives a ``ParsedWebhook`` or a ``WebhookParseError``;
one unreadable message or receipt is a ``RejectedPart``, the rest of the entry still counts.
"""

from __future__ import annotations

from whatsapp_bridge import contract
from whatsapp_bridge.events import (
    Context,
    InboundMessage,
    Location,
    MediaRef,
    ParsedWebhook,
    ProviderErrorInfo,
    Reaction,
    RejectedPart,
    Reply,
    Sender,
    SharedContact,
    StatusEvent,
)
from whatsapp_bridge.meta_parser import (
    _LIMITS,
    WebhookParseError,
    _coordinate,
    _dict,
    _id,
    _opt_bool,
    _opt_dict,
    _opt_id,
    _opt_list,
    _opt_phone,
    _opt_text,
    _show,
    _timestamp,
    clean_text,
)

OBJECT = "whatsapp_session"
MEDIA_PREFIX = "wasess:"  # media ids of WhatsApp Web media: bytes kept in Redis by the session process
MAX_ITEMS = 1000
_MEDIA = ("image", "audio", "video", "document", "sticker")
_TYPES = ("text", *_MEDIA, "location", "reaction", "contacts", "interactive", "unsupported")


def is_session_event(body) -> bool:
    return isinstance(body, dict) and body.get("object") == OBJECT


def parse_session_event(body) -> ParsedWebhook:
    body = _dict(body, "body")
    if body.get("object") != OBJECT:
        raise WebhookParseError(f"body.object: expected {OBJECT!r}, got {_show(body.get('object'))}")
    version = body.get("v")
    if version != contract.CONTRACT_VERSION or isinstance(version, bool):
        raise WebhookParseError(f"body.v: unsupported version {_show(version)}")
    account = _id(body, "account", "body", "account")
    messages, statuses, rejected, ignored = [], [], [], []
    for i, raw in enumerate(_opt_list(body, "messages", "body", MAX_ITEMS)):
        path = f"body.messages[{i}]"
        try:
            msg = parse_message(raw, account, path)
        except WebhookParseError as exc:
            rejected.append(RejectedPart(path, str(exc), raw))
            continue
        if msg is None:
            ignored.append(f"{path}: sent by the business from the phone")
            continue
        messages.append(msg)
    for i, raw in enumerate(_opt_list(body, "statuses", "body", MAX_ITEMS)):
        path = f"body.statuses[{i}]"
        try:
            statuses.append(parse_receipt(raw, account, path))
        except WebhookParseError as exc:
            rejected.append(RejectedPart(path, str(exc), raw))
    return ParsedWebhook(messages=tuple(messages), statuses=tuple(statuses), ignored=tuple(ignored),
                         rejected=tuple(rejected))


def parse_message(raw, account: str, path: str = "message") -> InboundMessage | None:
    """An ``InboundMessage``, or ``None`` for a message the business sent from the phone (``from_me``)."""
    msg = _dict(raw, path)
    if _opt_bool(msg, "from_me", path):
        return None
    return parse_any_message(msg, account, path)


def parse_any_message(raw, account: str, path: str = "message") -> InboundMessage:
    """The ``InboundMessage`` of a chat message whoever wrote it (``sender`` is the chat's customer)."""
    msg = _dict(raw, path)
    wamid = _id(msg, "id", path, "message id")
    timestamp = _timestamp(msg, path)
    who = _opt_dict(msg, "from", path) or {}
    phone = _opt_phone(who, "phone", f"{path}.from")
    if not phone:
        raise WebhookParseError(f"{path}.from.phone: missing or not a phone number")
    sender = Sender(wa_id=phone, name=_opt_text(who, "name", f"{path}.from", _LIMITS["name"]))
    kind = msg.get("type")
    if kind not in _TYPES:
        raise WebhookParseError(f"{path}.type: expected one of {', '.join(_TYPES)}, got {_show(kind)}")
    text = _opt_text(msg, "text", path, _LIMITS["text"]) or ""
    media = location = reaction = reply = None
    contacts: tuple[SharedContact, ...] = ()
    errors: tuple[ProviderErrorInfo, ...] = ()
    if kind == "text" and not text.strip():
        raise WebhookParseError(f"{path}.text: a text message without text")
    if kind in _MEDIA:
        body = _opt_dict(msg, "media", path)
        if body is None:
            raise WebhookParseError(f"{path}.media: missing for a {kind} message")
        media_id = _id(body, "id", f"{path}.media", "media id")
        if not media_id.startswith(MEDIA_PREFIX):
            raise WebhookParseError(f"{path}.media.id: expected a {MEDIA_PREFIX} id, got {_show(media_id)}")
        mimetype = _opt_id(body, "mimetype", f"{path}.media", max_len=128, numeric=False)
        if not mimetype:
            raise WebhookParseError(f"{path}.media.mimetype: missing")
        media = MediaRef(media_id=media_id, mimetype=mimetype,
                         filename=_opt_text(body, "filename", f"{path}.media", _LIMITS["name"]),
                         caption=_opt_text(body, "caption", f"{path}.media", _LIMITS["text"]),
                         voice=_opt_bool(body, "voice", f"{path}.media"))
        text = text or (media.caption or "")
    elif kind == "location":
        loc = _opt_dict(msg, "location", path)
        if loc is None:
            raise WebhookParseError(f"{path}.location: missing")
        location = Location(latitude=_coordinate(loc, "latitude", f"{path}.location", 90),
                            longitude=_coordinate(loc, "longitude", f"{path}.location", 180),
                            name=_opt_text(loc, "name", f"{path}.location", _LIMITS["location"]),
                            address=_opt_text(loc, "address", f"{path}.location", _LIMITS["location"]))
    elif kind == "reaction":
        body = _opt_dict(msg, "reaction", path)
        if body is None:
            raise WebhookParseError(f"{path}.reaction: missing")
        emoji = _opt_text(body, "emoji", f"{path}.reaction", _LIMITS["emoji"]) or ""
        reaction = Reaction(wamid=_id(body, "id", f"{path}.reaction", "message id"), emoji=emoji)
    elif kind == "contacts":
        contacts = _contacts(msg, path)
    elif kind == "interactive":
        body = _opt_dict(msg, "interactive", path)
        if body is None:
            raise WebhookParseError(f"{path}.interactive: missing")
        reply = Reply(kind="button_reply", id=_id(body, "id", f"{path}.interactive", "button id"),
                      title=_opt_text(body, "title", f"{path}.interactive", _LIMITS["title"]) or "")
    elif kind == "unsupported":
        errors = tuple(
            ProviderErrorInfo(code=None, title=_opt_text(_dict(e, f"{path}.errors[{i}]"), "title",
                                                         f"{path}.errors[{i}]", _LIMITS["title"]) or "",
                              message=_opt_text(e, "message", f"{path}.errors[{i}]", _LIMITS["error_message"]) or "")
            for i, e in enumerate(_opt_list(msg, "errors", path, _LIMITS["errors"])))
    reply_to = _opt_id(msg, "reply_to", path, numeric=False)
    forwarded = _opt_bool(msg, "forwarded", path)
    context = Context(wamid=reply_to, forwarded=forwarded) if reply_to or forwarded else None
    return InboundMessage(account=account, wamid=wamid, timestamp=timestamp, sender=sender, type=kind, text=text,
                          media=media, location=location, reaction=reaction, contacts=contacts, reply=reply,
                          context=context, errors=errors, provider_type="whatsapp_web")


def _contacts(msg: dict, path: str) -> tuple[SharedContact, ...]:
    cards = _opt_list(msg, "contacts", path, _LIMITS["contacts"])
    if not cards:
        raise WebhookParseError(f"{path}.contacts: a contacts message without a contact card")
    out = []
    for i, raw in enumerate(cards):
        cpath = f"{path}.contacts[{i}]"
        card = _dict(raw, cpath)
        lists = {}
        for key in ("phones", "emails"):
            values = []
            for j, value in enumerate(_opt_list(card, key, cpath, _LIMITS["contact_items"])):
                if not isinstance(value, str):
                    raise WebhookParseError(f"{cpath}.{key}[{j}]: expected a string, got {_show(value)}")
                values.append(clean_text(value, _LIMITS["contact_item"]))
            lists[key] = tuple(values)
        out.append(SharedContact(name=_opt_text(card, "name", cpath, _LIMITS["contact_name"]) or "",
                                 phones=lists["phones"], emails=lists["emails"]))
    return tuple(out)


def parse_receipt(raw, account: str, path: str = "status") -> StatusEvent:
    item = _dict(raw, path)
    status = item.get("status")
    if status not in contract.STATUS_VALUES:
        raise WebhookParseError(f"{path}.status: expected one of {', '.join(contract.STATUS_VALUES)}, "
                                f"got {_show(status)}")
    return StatusEvent(account=account, wamid=_id(item, "id", path, "message id"), status=status,
                       timestamp=_timestamp(item, path), recipient=_opt_phone(item, "recipient", path))
