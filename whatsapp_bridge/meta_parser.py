"""Parse a WhatsApp Cloud API webhook body into events.

A body is ``{"object": "whatsapp_business_account", "entry": [{"id", "changes": [{"field":
"messages", "value": {...}}]}]}``; Meta batches several entries and changes in one POST.
Each ``value`` carries ``metadata.phone_number_id`` (our account key), ``contacts[]``
(``wa_id``, ``user_id`` = business-scoped user id, ``profile.name``), ``messages[]``,
``statuses[]`` and ``errors[]``.  Unknown message types become ``unsupported``; unknown
change fields and status values are skipped and noted in ``ParsedWebhook.ignored``.  A message
or status that cannot be read goes to ``ParsedWebhook.rejected`` (with the reason, naming the
bad field) and the rest of the body is still parsed; so does an unreadable value-level
``errors[]``.  Only an unreadable envelope (object, entry, change, value, metadata, the
``messages``/``statuses`` lists) makes ``parse_webhook`` raise.

The parser is total: whatever JSON value it is given, it returns a ``ParsedWebhook`` or raises
``WebhookParseError``; no other exception.  Every field is read through a small typed accessor
below, which raises ``WebhookParseError`` naming the field's path when the type is wrong.
Customer texts (message text, captions, names, addresses, contact cards, titles, filenames)
are sanitized rather than refused: NUL characters are removed, lone surrogates become U+FFFD,
and they are cut to the contract's length caps, so the events always turn into payloads that
Odoo and PostgreSQL can store.  ``decode_body`` turns a stored raw body into JSON with the same
single error type.
"""

from __future__ import annotations

import json
import math
import re

from whatsapp_bridge import contract
from whatsapp_bridge.events import (
    AccountError,
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
    SystemChange,
)

_MEDIA_KINDS = ("image", "audio", "video", "document", "sticker")
_STATUS_VALUES = ("sent", "delivered", "read", "failed")
_DEFAULT_MIME = {
    "image": "image/jpeg",
    "audio": "audio/ogg",
    "video": "video/mp4",
    "document": "application/octet-stream",
    "sticker": "image/webp",
}
# the contract's caps (one definition, in whatsapp_attendance/contract.py)
_LIMITS = contract._contract.LIMITS
_TIMESTAMP_MAX = contract._contract.TIMESTAMP_MAX
_INT4_MIN, _INT4_MAX = contract._contract.INT4_MIN, contract._contract.INT4_MAX
_ID_MAX = 256  # wamid, media id, reply id (the contract's cap on ids)
_USER_ID_MAX = 128  # business-scoped user id
_MIME_MAX = 128
MAX_DEPTH = 64  # nesting levels of a webhook body; Meta's bodies have about 8
_SURROGATE = re.compile("[\ud800-\udfff]")
_PHONE = re.compile(r"[0-9]{6,20}")


class WebhookParseError(ValueError):
    """The body is not a WhatsApp Cloud API webhook we can read (names the bad part)."""


# --------------------------------------------------------------------------
# decoding the raw body
# --------------------------------------------------------------------------

def _refuse_constant(name):
    raise WebhookParseError(f"body: not valid JSON: {name} is not a number JSON allows")


def decode_body(raw: bytes | str) -> object:
    """The JSON value of a stored webhook body; ``WebhookParseError`` for anything unreadable.

    Refused: bytes that are not UTF-8, text that is not JSON, the ``NaN``/``Infinity`` literals
    (Python's json accepts them, JSON does not), and nesting deeper than ``MAX_DEPTH`` levels
    (json.loads itself would raise RecursionError on very deep nesting).
    """
    if isinstance(raw, (bytes, bytearray, memoryview)):
        try:
            text = bytes(raw).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise WebhookParseError(f"body: not valid UTF-8 (byte {exc.start})") from None
    elif isinstance(raw, str):
        text = raw
    else:
        raise WebhookParseError(f"body: expected bytes or text, got {type(raw).__name__}")
    try:
        value = json.loads(text, parse_constant=_refuse_constant)
    except RecursionError:
        raise WebhookParseError(f"body: nested deeper than {MAX_DEPTH} levels") from None
    except WebhookParseError:
        raise
    except ValueError as exc:  # JSONDecodeError, and an integer literal too long to convert
        raise WebhookParseError(f"body: not valid JSON: {exc}") from None
    _check_depth(value)
    return value


def _check_depth(value) -> None:
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            if depth > MAX_DEPTH:
                raise WebhookParseError(f"body: nested deeper than {MAX_DEPTH} levels")
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))


# --------------------------------------------------------------------------
# typed accessors: each returns the value or raises WebhookParseError naming the path
# --------------------------------------------------------------------------

def _show(value) -> str:
    """A short rendering of any value for a reason (never a huge or recursive repr)."""
    if value is None or isinstance(value, (bool, float)):
        return repr(value)
    if isinstance(value, int):
        return repr(value) if -(10**30) < value < 10**30 else "a very large integer"
    if isinstance(value, str):
        return repr(clean_text(value[:40]) + ("..." if len(value) > 40 else ""))
    return f"a {type(value).__name__}"


def clean_text(value: str, max_len: int | None = None) -> str:
    """Customer text Odoo can store: no NUL, lone surrogates replaced by U+FFFD, at most ``max_len``."""
    if "\x00" in value:
        value = value.replace("\x00", "")
    if not value.isascii():
        value = _SURROGATE.sub("\ufffd", value)
    if max_len is not None and len(value) > max_len:
        value = value[: max_len - 1] + "\u2026"
    return value


def _dict(value, path: str) -> dict:
    if not isinstance(value, dict):
        raise WebhookParseError(f"{path}: expected an object, got {_show(value)}")
    return value


def _opt_dict(d: dict, key: str, path: str) -> dict | None:
    value = d.get(key)
    return None if value is None else _dict(value, f"{path}.{key}")


def _list(value, path: str) -> list:
    if value is None:
        return []
    if not isinstance(value, list):
        raise WebhookParseError(f"{path}: expected a list, got {_show(value)}")
    return value


def _opt_list(d: dict, key: str, path: str, max_items: int | None = None) -> list:
    value = _list(d.get(key), f"{path}.{key}")
    if max_items is not None and len(value) > max_items:
        raise WebhookParseError(f"{path}.{key}: more than {max_items} items")
    return value


def _opt_str(d: dict, key: str, path: str, numeric: bool = False) -> str | None:
    """An optional string; with ``numeric`` an integer (or integral float) is accepted as its digits,
    as Meta could plausibly send ids and phone numbers as JSON numbers."""
    value = d.get(key)
    if value is None or isinstance(value, str):
        return value
    if numeric and not isinstance(value, bool):
        if isinstance(value, float) and math.isfinite(value) and value.is_integer():
            value = int(value)
        if isinstance(value, int) and 0 <= value < 10**30:
            return str(value)
    raise WebhookParseError(f"{path}.{key}: expected a string, got {_show(value)}")


def _opt_text(d: dict, key: str, path: str, max_len: int) -> str | None:
    """Customer text: a string, sanitized (see ``clean_text``)."""
    value = _opt_str(d, key, path)
    return None if value is None else clean_text(value, max_len)


def _opt_id(d: dict, key: str, path: str, max_len: int = _ID_MAX, numeric: bool = True) -> str | None:
    """An identifier: sent as is to Odoo and used in Redis keys, so it is refused (not repaired)
    when it holds a NUL, a lone surrogate, or is too long.  Empty counts as absent."""
    value = _opt_str(d, key, path, numeric=numeric)
    if value is None or not value.strip():
        return None
    if len(value) > max_len:
        raise WebhookParseError(f"{path}.{key}: longer than {max_len} characters")
    if "\x00" in value:
        raise WebhookParseError(f"{path}.{key}: contains a NUL character")
    if not value.isascii() and _SURROGATE.search(value):
        raise WebhookParseError(f"{path}.{key}: contains a lone surrogate")
    return value


def _id(d: dict, key: str, path: str, what: str = "id") -> str:
    value = _opt_id(d, key, path)
    if value is None:
        raise WebhookParseError(f"{path}.{key}: missing {what}")
    return value


def _opt_bool(d: dict, key: str, path: str) -> bool:
    value = d.get(key)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise WebhookParseError(f"{path}.{key}: expected true or false, got {_show(value)}")
    return value


def _opt_phone(d: dict, key: str, path: str) -> str | None:
    """Phone digits (``+`` and spaces dropped); a string that is not a phone number counts as absent."""
    value = _opt_str(d, key, path, numeric=True)
    if value is None:
        return None
    value = value.strip().lstrip("+")
    return value if _PHONE.fullmatch(value) else None


def _timestamp(d: dict, path: str) -> int:
    value = d.get("timestamp")
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit() and len(value.strip()) <= 20:
        ts = int(value.strip())
    elif isinstance(value, int) and not isinstance(value, bool):
        ts = value
    else:
        raise WebhookParseError(f"{path}.timestamp: expected unix seconds, got {_show(value)}")
    if 10**11 <= ts < 10**14:
        # Meta sends unix seconds; a value this large is clearly milliseconds (years 5138 to
        # 3,000,000 as seconds, 1973 to 5138 as milliseconds): read it as such
        ts //= 1000
    if not 0 <= ts < _TIMESTAMP_MAX:
        raise WebhookParseError(f"{path}.timestamp: expected unix seconds, got {_show(value)}")
    return ts


def _coordinate(d: dict, key: str, path: str, bound: float) -> float:
    value = d.get(key)
    number = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = float(value) if -bound <= value <= bound else None
    elif isinstance(value, float):
        number = value
    elif isinstance(value, str) and len(value) <= 64:
        try:
            number = float(value)
        except ValueError:
            number = None
    if number is None or not math.isfinite(number) or not -bound <= number <= bound:
        raise WebhookParseError(f"{path}.{key}: expected a number between {-bound:g} and {bound:g}, got {_show(value)}")
    return number


def _filename(d: dict, key: str, path: str) -> str | None:
    """A filename, sanitized; cut in the middle so that its extension survives."""
    value = _opt_text(d, key, path, max_len=None)
    limit = _LIMITS["name"]
    if value is None or not value.strip():
        return None
    if len(value) <= limit:
        return value
    stem, dot, ext = value.rpartition(".")
    if dot and stem and len(ext) <= 16:
        return value[: limit - len(ext) - 2] + "\u2026." + ext
    return clean_text(value, limit)


# --------------------------------------------------------------------------
# parts
# --------------------------------------------------------------------------

def _errors(items, path: str) -> tuple[ProviderErrorInfo, ...]:
    out = []
    for i, err in enumerate(_list(items, path)[: _LIMITS["errors"]]):
        epath = f"{path}[{i}]"
        err = _dict(err, epath)
        code = err.get("code")
        if code is not None:
            if isinstance(code, str) and code.strip().isascii() and code.strip().isdigit() and len(code) <= 12:
                code = int(code.strip())
            if isinstance(code, bool) or not isinstance(code, int) or not _INT4_MIN <= code <= _INT4_MAX:
                raise WebhookParseError(f"{epath}.code: expected a 32-bit integer, got {_show(code)}")
        error_data = _opt_dict(err, "error_data", epath) or {}
        details = _opt_text(error_data, "details", f"{epath}.error_data", _LIMITS["error_message"])
        out.append(
            ProviderErrorInfo(
                code=code,
                title=_opt_text(err, "title", epath, _LIMITS["title"]) or "",
                message=_opt_text(err, "message", epath, _LIMITS["error_message"]) or "",
                details=details or _opt_text(err, "details", epath, _LIMITS["error_message"]) or "",
            )
        )
    return tuple(out)


def _loose_id(contact, key: str) -> str | None:
    """A contact's wa_id/user_id for matching only: never raises (a malformed one does not match)."""
    value = contact.get(key) if isinstance(contact, dict) else None
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 10**30:
        value = str(value)
    return value.strip().lstrip("+") if isinstance(value, str) and key == "wa_id" else value


def _sender(msg: dict, contacts, path: str, contacts_path: str) -> Sender:
    wa_id = _opt_phone(msg, "from", path)
    user_id = _opt_id(msg, "from_user_id", path, max_len=_USER_ID_MAX, numeric=False)
    contacts = _list(contacts, contacts_path)  # read here: a malformed list only costs its messages
    index = None
    for i, contact in enumerate(contacts):
        if (wa_id and _loose_id(contact, "wa_id") == wa_id) or (user_id and _loose_id(contact, "user_id") == user_id):
            index = i
            break
    if index is None and len(contacts) == 1:
        index = 0
    name = username = None
    if index is not None:
        cpath = f"{contacts_path}[{index}]"
        match = _dict(contacts[index], cpath)
        wa_id = wa_id or _opt_phone(match, "wa_id", cpath)
        user_id = user_id or _opt_id(match, "user_id", cpath, max_len=_USER_ID_MAX, numeric=False)
        profile = _opt_dict(match, "profile", cpath) or {}
        name = _opt_text(profile, "name", f"{cpath}.profile", _LIMITS["name"])
        username = _opt_text(profile, "username", f"{cpath}.profile", _LIMITS["name"])
    return Sender(wa_id=wa_id, user_id=user_id, name=name, username=username)


def _media(kind: str, body: dict, path: str) -> MediaRef:
    mpath = f"{path}.{kind}"
    mimetype = (_opt_str(body, "mime_type", mpath) or "").strip() or _DEFAULT_MIME[kind]
    if len(mimetype) > _MIME_MAX or not mimetype.isascii() or not mimetype.isprintable():
        raise WebhookParseError(f"{mpath}.mime_type: not a MIME type: {_show(mimetype)}")
    return MediaRef(
        media_id=_id(body, "id", mpath, "media id"),
        mimetype=mimetype,
        sha256=_opt_id(body, "sha256", mpath, numeric=False),
        filename=_filename(body, "filename", mpath),
        caption=_opt_text(body, "caption", mpath, _LIMITS["text"]),
        voice=_opt_bool(body, "voice", mpath),
        animated=_opt_bool(body, "animated", mpath),
    )


def _card_name(card: dict, path: str) -> str:
    name = card.get("name")
    if isinstance(name, str):
        return clean_text(name, _LIMITS["contact_name"])
    name = _opt_dict(card, "name", path) or {}
    npath = f"{path}.name"
    formatted = _opt_text(name, "formatted_name", npath, _LIMITS["contact_name"])
    first = _opt_text(name, "first_name", npath, _LIMITS["contact_name"])
    last = _opt_text(name, "last_name", npath, _LIMITS["contact_name"])
    return formatted or clean_text(" ".join(p for p in (first, last) if p), _LIMITS["contact_name"])


def _contacts(items, path: str) -> tuple[SharedContact, ...]:
    cards = _list(items, path)
    if len(cards) > _LIMITS["contacts"]:
        raise WebhookParseError(f"{path}: more than {_LIMITS['contacts']} contact cards")
    out = []
    for i, card in enumerate(cards):
        cpath = f"{path}[{i}]"
        card = _dict(card, cpath)
        phones, wa_ids, emails = [], [], []
        for j, phone in enumerate(_opt_list(card, "phones", cpath, _LIMITS["contact_items"])):
            ppath = f"{cpath}.phones[{j}]"
            phone = _dict(phone, ppath)
            number = _opt_text(phone, "phone", ppath, _LIMITS["contact_item"])
            wa_id = _opt_phone(phone, "wa_id", ppath)
            if number or wa_id:
                phones.append(number or wa_id)
            if wa_id:
                wa_ids.append(wa_id)
        for j, email in enumerate(_opt_list(card, "emails", cpath, _LIMITS["contact_items"])):
            address = _opt_text(_dict(email, f"{cpath}.emails[{j}]"), "email", f"{cpath}.emails[{j}]",
                                _LIMITS["contact_item"])
            if address:
                emails.append(address)
        out.append(SharedContact(name=_card_name(card, cpath), phones=tuple(phones), emails=tuple(emails),
                                 wa_ids=tuple(wa_ids)))
    return tuple(out)


def _context(msg: dict, path: str) -> Context | None:
    ctx = _opt_dict(msg, "context", path)
    if not ctx:
        return None
    cpath = f"{path}.context"
    return Context(
        wamid=_opt_id(ctx, "id", cpath),
        sender=_opt_phone(ctx, "from", cpath),
        forwarded=_opt_bool(ctx, "forwarded", cpath),
        frequently_forwarded=_opt_bool(ctx, "frequently_forwarded", cpath),
    )


def parse_message(msg, account: str, contacts, path: str = "message",
                  contacts_path: str = "contacts") -> InboundMessage:
    """One ``messages[]`` item; ``contacts`` is the value's ``contacts`` as received (any JSON value)."""
    msg = _dict(msg, path)
    wamid = _id(msg, "id", path, "message id")
    sender = _sender(msg, contacts, path, contacts_path)
    if not sender.wa_id and not sender.user_id:
        raise WebhookParseError(f"{path}.from: no phone number and no business-scoped user id")
    kind = _opt_str(msg, "type", path) or "unsupported"
    shown_kind = clean_text(kind, 64)
    base = {
        "account": account,
        "wamid": wamid,
        "timestamp": _timestamp(msg, path),
        "sender": sender,
        "context": _context(msg, path),
        "errors": _errors(msg.get("errors"), f"{path}.errors"),
        "provider_type": shown_kind,
    }
    text_max = _LIMITS["text"]
    if kind == "text":
        body = _dict(msg.get("text"), f"{path}.text")
        text = _opt_text(body, "body", f"{path}.text", text_max) or ""
        if not text.strip():
            raise WebhookParseError(f"{path}.text.body: missing or empty")
        return InboundMessage(type="text", text=text, **base)
    if kind in _MEDIA_KINDS:
        body = _dict(msg.get(kind), f"{path}.{kind}")
        media = _media(kind, body, path)
        return InboundMessage(type=kind, text=media.caption or "", media=media, **base)
    if kind == "location":
        lpath = f"{path}.location"
        loc = _dict(msg.get("location"), lpath)
        location = Location(
            latitude=_coordinate(loc, "latitude", lpath, 90.0),
            longitude=_coordinate(loc, "longitude", lpath, 180.0),
            name=_opt_text(loc, "name", lpath, _LIMITS["location"]),
            address=_opt_text(loc, "address", lpath, _LIMITS["location"]),
            url=_opt_text(loc, "url", lpath, _LIMITS["location"]),
        )
        text = ", ".join(p for p in (location.name, location.address) if p)
        return InboundMessage(type="location", text=text, location=location, **base)
    if kind == "contacts":
        cards = _contacts(msg.get("contacts"), f"{path}.contacts")
        if not cards:
            raise WebhookParseError(f"{path}.contacts: empty")
        text = clean_text(", ".join(c.name for c in cards), text_max)
        return InboundMessage(type="contacts", text=text, contacts=cards, **base)
    if kind == "reaction":
        rpath = f"{path}.reaction"
        react = _dict(msg.get("reaction"), rpath)
        reaction = Reaction(wamid=_id(react, "message_id", rpath, "message id"),
                            emoji=_opt_text(react, "emoji", rpath, _LIMITS["emoji"]) or "")
        return InboundMessage(type="reaction", text=reaction.emoji, reaction=reaction, **base)
    if kind == "interactive":
        ipath = f"{path}.interactive"
        inter = _dict(msg.get("interactive"), ipath)
        sub = _opt_str(inter, "type", ipath) or ""
        if sub in ("button_reply", "list_reply"):
            spath = f"{ipath}.{sub}"
            body = _dict(inter.get(sub), spath)
            reply = Reply(
                kind=sub,
                id=_id(body, "id", spath),
                title=_opt_text(body, "title", spath, _LIMITS["title"]) or "",
                description=_opt_text(body, "description", spath, _LIMITS["title"]) or "",
            )
            return InboundMessage(type="interactive", text=reply.title, reply=reply, **base)
        # nfm_reply (flows) and future kinds: keep the message, show it as unsupported
        return InboundMessage(type="unsupported", text=f"[interactive {clean_text(sub, 64) or '?'} reply]", **base)
    if kind == "button":
        bpath = f"{path}.button"
        button = _dict(msg.get("button"), bpath)
        text = _opt_text(button, "text", bpath, _LIMITS["title"]) or ""
        payload = _opt_id(button, "payload", bpath)
        fallback = clean_text(text, _ID_MAX).strip()
        reply = Reply(kind="button", id=payload or fallback, title=text)
        if not reply.id:
            raise WebhookParseError(f"{bpath}: neither payload nor text")
        return InboundMessage(type="interactive", text=text, reply=reply, **base)
    if kind == "system":
        spath = f"{path}.system"
        system = _dict(msg.get("system"), spath)
        change = SystemChange(
            type=_opt_text(system, "type", spath, 128) or "",
            body=_opt_text(system, "body", spath, text_max) or "",
            wa_id=sender.wa_id,
            new_wa_id=_opt_phone(system, "new_wa_id", spath) or _opt_phone(system, "wa_id", spath),
            user_id=_opt_id(system, "user_id", spath, _USER_ID_MAX, numeric=False) or sender.user_id,
            new_user_id=_opt_id(system, "new_user_id", spath, _USER_ID_MAX, numeric=False),
        )
        return InboundMessage(type="system", text=change.body, system=change, **base)
    # "unsupported", "unknown", "request_welcome", "order", ... : keep it visible, with the reason
    errors = base["errors"]
    reason = "; ".join(e.details or e.message or e.title for e in errors) if errors else ""
    text = f"[unsupported message type {shown_kind}]" + (f": {reason}" if reason else "")
    return InboundMessage(type="unsupported", text=clean_text(text, text_max), **base)


def parse_status(status, account: str, path: str = "status") -> StatusEvent | None:
    status = _dict(status, path)
    value = status.get("status")
    if not isinstance(value, str) or value not in _STATUS_VALUES:
        return None
    return StatusEvent(
        account=account,
        wamid=_id(status, "id", path, "message id"),
        status=value,
        timestamp=_timestamp(status, path),
        recipient=_opt_phone(status, "recipient_id", path),
        recipient_user_id=_opt_id(status, "recipient_user_id", path, _USER_ID_MAX, numeric=False),
        errors=_errors(status.get("errors"), f"{path}.errors"),
    )


def parse_webhook(body) -> ParsedWebhook:
    """Parse one webhook body (already JSON-decoded, see ``decode_body``) into messages, statuses,
    account errors and rejected parts.  Raises only ``WebhookParseError``."""
    body = _dict(body, "body")
    if body.get("object") != "whatsapp_business_account":
        raise WebhookParseError(f"body.object: expected 'whatsapp_business_account', got {_show(body.get('object'))}")
    messages: list[InboundMessage] = []
    statuses: list[StatusEvent] = []
    errors: list[AccountError] = []
    ignored: list[str] = []
    rejected: list[RejectedPart] = []
    for e, entry in enumerate(_list(body.get("entry"), "body.entry")):
        entry = _dict(entry, f"entry[{e}]")
        for c, change in enumerate(_list(entry.get("changes"), f"entry[{e}].changes")):
            path = f"entry[{e}].changes[{c}]"
            change = _dict(change, path)
            if change.get("field") != "messages":
                ignored.append(f"{path}: field {_show(change.get('field'))}")
                continue
            vpath = f"{path}.value"
            value = _dict(change.get("value"), vpath)
            metadata = _opt_dict(value, "metadata", vpath) or {}
            account = _opt_id(metadata, "phone_number_id", f"{vpath}.metadata", max_len=64)
            if not account:
                raise WebhookParseError(f"{vpath}.metadata.phone_number_id: missing")
            contacts = value.get("contacts")
            for m, msg in enumerate(_opt_list(value, "messages", vpath)):
                mpath = f"{vpath}.messages[{m}]"
                try:
                    messages.append(parse_message(msg, account, contacts, mpath, f"{vpath}.contacts"))
                except WebhookParseError as exc:
                    rejected.append(RejectedPart(mpath, str(exc), msg))
            for s, status in enumerate(_opt_list(value, "statuses", vpath)):
                spath = f"{vpath}.statuses[{s}]"
                try:
                    event = parse_status(status, account, spath)
                except WebhookParseError as exc:
                    rejected.append(RejectedPart(spath, str(exc), status))
                    continue
                if event is None:
                    ignored.append(f"{spath}: status {_show(status.get('status'))}")
                else:
                    statuses.append(event)
            try:
                account_errors = _errors(value.get("errors"), f"{vpath}.errors")
            except WebhookParseError as exc:
                rejected.append(RejectedPart(f"{vpath}.errors", str(exc), value.get("errors")))
                account_errors = ()
            errors.extend(AccountError(account=account, error=err) for err in account_errors)
    return ParsedWebhook(
        messages=tuple(messages), statuses=tuple(statuses), errors=tuple(errors), ignored=tuple(ignored),
        rejected=tuple(rejected),
    )
