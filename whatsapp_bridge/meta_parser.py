"""Parse a WhatsApp Cloud API webhook body into events.

A body is ``{"object": "whatsapp_business_account", "entry": [{"id", "changes": [{"field":
"messages", "value": {...}}]}]}``; Meta batches several entries and changes in one POST.
Each ``value`` carries ``metadata.phone_number_id`` (our account key), ``contacts[]``
(``wa_id``, ``user_id`` = business-scoped user id, ``profile.name``), ``messages[]``,
``statuses[]`` and ``errors[]``.  Unknown message types become ``unsupported``; unknown
change fields and status values are skipped and noted in ``ParsedWebhook.ignored``.  A message
or status that cannot be read goes to ``ParsedWebhook.rejected`` (with the reason) and the rest
of the body is still parsed; only an unreadable envelope (object, entry, change, metadata) makes
``parse_webhook`` raise.
"""

from __future__ import annotations

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


class WebhookParseError(ValueError):
    """The body is not a WhatsApp Cloud API webhook we can read (names the bad part)."""


def _dict(value, path: str) -> dict:
    if not isinstance(value, dict):
        raise WebhookParseError(f"{path}: expected an object")
    return value


def _list(value, path: str) -> list:
    if value is None:
        return []
    if not isinstance(value, list):
        raise WebhookParseError(f"{path}: expected a list")
    return value


def _timestamp(value, path: str) -> int:
    try:
        ts = int(str(value))
    except (TypeError, ValueError):
        raise WebhookParseError(f"{path}.timestamp: expected unix seconds, got {value!r}") from None
    if ts < 0:
        raise WebhookParseError(f"{path}.timestamp: negative")
    return ts


def _errors(items, path: str) -> tuple[ProviderErrorInfo, ...]:
    out = []
    for i, err in enumerate(_list(items, path)):
        err = _dict(err, f"{path}[{i}]")
        code = err.get("code")
        try:
            code = int(code) if code is not None else None
        except (TypeError, ValueError):
            code = None
        details = (err.get("error_data") or {}).get("details") if isinstance(err.get("error_data"), dict) else None
        out.append(
            ProviderErrorInfo(
                code=code,
                title=str(err.get("title") or ""),
                message=str(err.get("message") or ""),
                details=str(details or err.get("details") or ""),
            )
        )
    return tuple(out)


def _digits(value) -> str | None:
    if value is None:
        return None
    value = str(value).strip().lstrip("+")
    return value if value.isdigit() else None


def _sender(msg: dict, contacts: list[dict]) -> Sender:
    wa_id = _digits(msg.get("from"))
    user_id = msg.get("from_user_id") or None
    match = None
    for contact in contacts:
        if (wa_id and contact.get("wa_id") == wa_id) or (user_id and contact.get("user_id") == user_id):
            match = contact
            break
    if match is None and len(contacts) == 1:
        match = contacts[0]
    name = username = None
    if match:
        wa_id = wa_id or _digits(match.get("wa_id"))
        user_id = user_id or match.get("user_id") or None
        profile = match.get("profile") or {}
        name = profile.get("name")
        username = profile.get("username")
    return Sender(wa_id=wa_id, user_id=user_id, name=name, username=username)


def _media(kind: str, body: dict, path: str) -> MediaRef:
    media_id = body.get("id")
    if not media_id:
        raise WebhookParseError(f"{path}.{kind}.id: missing media id")
    return MediaRef(
        media_id=str(media_id),
        mimetype=str(body.get("mime_type") or _DEFAULT_MIME[kind]).strip(),
        sha256=body.get("sha256"),
        filename=body.get("filename"),
        caption=body.get("caption"),
        voice=bool(body.get("voice")),
        animated=bool(body.get("animated")),
    )


def _contacts(items, path: str) -> tuple[SharedContact, ...]:
    out = []
    for i, card in enumerate(_list(items, path)):
        card = _dict(card, f"{path}[{i}]")
        name = card.get("name") or {}
        formatted = name.get("formatted_name") if isinstance(name, dict) else str(name)
        if not formatted and isinstance(name, dict):
            formatted = " ".join(p for p in (name.get("first_name"), name.get("last_name")) if p)
        phones = tuple(str(p.get("phone") or p.get("wa_id")) for p in card.get("phones") or [] if isinstance(p, dict))
        wa_ids = tuple(str(p["wa_id"]) for p in card.get("phones") or [] if isinstance(p, dict) and p.get("wa_id"))
        emails = tuple(str(e.get("email")) for e in card.get("emails") or [] if isinstance(e, dict) and e.get("email"))
        out.append(SharedContact(name=formatted or "", phones=phones, emails=emails, wa_ids=wa_ids))
    return tuple(out)


def _context(ctx) -> Context | None:
    if not isinstance(ctx, dict) or not ctx:
        return None
    return Context(
        wamid=ctx.get("id") or None,
        sender=ctx.get("from") or None,
        forwarded=bool(ctx.get("forwarded")),
        frequently_forwarded=bool(ctx.get("frequently_forwarded")),
    )


def parse_message(msg: dict, account: str, contacts: list[dict], path: str = "message") -> InboundMessage:
    msg = _dict(msg, path)
    wamid = msg.get("id")
    if not wamid:
        raise WebhookParseError(f"{path}.id: missing message id")
    sender = _sender(msg, contacts)
    if not sender.wa_id and not sender.user_id:
        raise WebhookParseError(f"{path}.from: no phone number and no business-scoped user id")
    kind = str(msg.get("type") or "unsupported")
    base = {
        "account": account,
        "wamid": str(wamid),
        "timestamp": _timestamp(msg.get("timestamp"), path),
        "sender": sender,
        "context": _context(msg.get("context")),
        "errors": _errors(msg.get("errors"), f"{path}.errors"),
        "provider_type": kind,
    }
    if kind == "text":
        return InboundMessage(type="text", text=str((msg.get("text") or {}).get("body") or ""), **base)
    if kind in _MEDIA_KINDS:
        body = _dict(msg.get(kind), f"{path}.{kind}")
        media = _media(kind, body, path)
        return InboundMessage(type=kind, text=media.caption or "", media=media, **base)
    if kind == "location":
        loc = _dict(msg.get("location"), f"{path}.location")
        try:
            location = Location(
                latitude=float(loc["latitude"]),
                longitude=float(loc["longitude"]),
                name=loc.get("name"),
                address=loc.get("address"),
                url=loc.get("url"),
            )
        except (KeyError, TypeError, ValueError):
            raise WebhookParseError(f"{path}.location: latitude/longitude missing or not numbers") from None
        text = ", ".join(p for p in (location.name, location.address) if p)
        return InboundMessage(type="location", text=text, location=location, **base)
    if kind == "contacts":
        cards = _contacts(msg.get("contacts"), f"{path}.contacts")
        if not cards:
            raise WebhookParseError(f"{path}.contacts: empty")
        return InboundMessage(type="contacts", text=", ".join(c.name for c in cards), contacts=cards, **base)
    if kind == "reaction":
        react = _dict(msg.get("reaction"), f"{path}.reaction")
        if not react.get("message_id"):
            raise WebhookParseError(f"{path}.reaction.message_id: missing")
        reaction = Reaction(wamid=str(react["message_id"]), emoji=str(react.get("emoji") or ""))
        return InboundMessage(type="reaction", text=reaction.emoji, reaction=reaction, **base)
    if kind == "interactive":
        inter = _dict(msg.get("interactive"), f"{path}.interactive")
        sub = str(inter.get("type") or "")
        if sub in ("button_reply", "list_reply"):
            body = _dict(inter.get(sub), f"{path}.interactive.{sub}")
            reply = Reply(
                kind=sub,
                id=str(body.get("id") or ""),
                title=str(body.get("title") or ""),
                description=str(body.get("description") or ""),
            )
            if not reply.id:
                raise WebhookParseError(f"{path}.interactive.{sub}.id: missing")
            return InboundMessage(type="interactive", text=reply.title, reply=reply, **base)
        # nfm_reply (flows) and future kinds: keep the message, show it as unsupported
        return InboundMessage(type="unsupported", text=f"[interactive {sub or '?'} reply]", **base)
    if kind == "button":
        button = _dict(msg.get("button"), f"{path}.button")
        text = str(button.get("text") or "")
        reply = Reply(kind="button", id=str(button.get("payload") or text), title=text)
        if not reply.id:
            raise WebhookParseError(f"{path}.button: neither payload nor text")
        return InboundMessage(type="interactive", text=text, reply=reply, **base)
    if kind == "system":
        system = _dict(msg.get("system"), f"{path}.system")
        change = SystemChange(
            type=str(system.get("type") or ""),
            body=str(system.get("body") or ""),
            wa_id=sender.wa_id,
            new_wa_id=_digits(system.get("new_wa_id") or system.get("wa_id")),
            user_id=system.get("user_id") or sender.user_id,
            new_user_id=system.get("new_user_id"),
        )
        return InboundMessage(type="system", text=change.body, system=change, **base)
    # "unsupported", "unknown", "request_welcome", "order", ... : keep it visible, with the reason
    errors = base["errors"]
    reason = "; ".join(e.details or e.message or e.title for e in errors) if errors else ""
    text = f"[unsupported message type {kind}]" + (f": {reason}" if reason else "")
    return InboundMessage(type="unsupported", text=text, **base)


def parse_status(status: dict, account: str, path: str = "status") -> StatusEvent | None:
    status = _dict(status, path)
    value = status.get("status")
    if value not in _STATUS_VALUES:
        return None
    if not status.get("id"):
        raise WebhookParseError(f"{path}.id: missing message id")
    return StatusEvent(
        account=account,
        wamid=str(status["id"]),
        status=value,
        timestamp=_timestamp(status.get("timestamp"), path),
        recipient=_digits(status.get("recipient_id")),
        recipient_user_id=status.get("recipient_user_id") or None,
        errors=_errors(status.get("errors"), f"{path}.errors"),
    )


def parse_webhook(body: dict) -> ParsedWebhook:
    """Parse one webhook body (already JSON-decoded) into messages, statuses, account errors and rejected parts."""
    body = _dict(body, "body")
    if body.get("object") != "whatsapp_business_account":
        raise WebhookParseError(f"body.object: expected 'whatsapp_business_account', got {body.get('object')!r}")
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
                ignored.append(f"{path}: field {change.get('field')!r}")
                continue
            value = _dict(change.get("value"), f"{path}.value")
            metadata = _dict(value.get("metadata") or {}, f"{path}.value.metadata")
            account = str(metadata.get("phone_number_id") or "")
            if not account:
                raise WebhookParseError(f"{path}.value.metadata.phone_number_id: missing")
            contacts = [c for c in _list(value.get("contacts"), f"{path}.value.contacts") if isinstance(c, dict)]
            for m, msg in enumerate(_list(value.get("messages"), f"{path}.value.messages")):
                try:
                    messages.append(parse_message(msg, account, contacts, f"{path}.value.messages[{m}]"))
                except WebhookParseError as exc:
                    rejected.append(RejectedPart(f"{path}.value.messages[{m}]", str(exc), msg))
            for s, status in enumerate(_list(value.get("statuses"), f"{path}.value.statuses")):
                try:
                    event = parse_status(status, account, f"{path}.value.statuses[{s}]")
                except WebhookParseError as exc:
                    rejected.append(RejectedPart(f"{path}.value.statuses[{s}]", str(exc), status))
                    continue
                if event is None:
                    ignored.append(f"{path}.value.statuses[{s}]: status {status.get('status')!r}")
                else:
                    statuses.append(event)
            errors.extend(
                AccountError(account=account, error=err) for err in _errors(value.get("errors"), f"{path}.value.errors")
            )
    return ParsedWebhook(
        messages=tuple(messages), statuses=tuple(statuses), errors=tuple(errors), ignored=tuple(ignored),
        rejected=tuple(rejected),
    )
