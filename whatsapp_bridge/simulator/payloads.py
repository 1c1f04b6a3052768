"""Builders for the webhook payloads Meta's WhatsApp Cloud API sends.

One pure function per message type, plus the envelope, statuses and signing.
They return plain dicts shaped exactly like Meta's (timestamps are strings of
Unix seconds, as Meta sends them), so the bridge's own tests can reuse them::

    from whatsapp_bridge.simulator import payloads as p

    body = p.envelope(p.messages_value(
        p.metadata("15550001111", "106540352242922"),
        [p.contact("Maria", wa_id="5511987654321", user_id="BR.1502576394655843")],
        [p.text_message("5511987654321", "wamid.X", 1732240000, "hello")],
    ), waba_id="102290129340398")
    raw = p.encode(body)
    headers = {"X-Hub-Signature-256": p.signature(raw, "app-secret")}

A message from a customer who hides the phone number (BSUID only) is built with
``from_wa_id=None`` and ``from_user_id="BR.1502..."``: ``from`` is then omitted
and ``from_user_id`` set, like Meta does for username users.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

ERROR_CODES_URL = "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/"

Json = dict[str, Any]


# --------------------------------------------------------------------------
# envelope, signature
# --------------------------------------------------------------------------

def metadata(display_phone_number: str, phone_number_id: str) -> Json:
    return {"display_phone_number": display_phone_number, "phone_number_id": phone_number_id}


def contact(name: str | None, wa_id: str | None = None, user_id: str | None = None,
            username: str | None = None) -> Json:
    """``value.contacts[]``: profile name, ``wa_id`` (phone, may be withheld) and the BSUID ``user_id``."""
    profile: Json = {"name": name or ""}
    if username:
        profile["username"] = username
    item: Json = {"profile": profile}
    if wa_id:
        item["wa_id"] = wa_id
    if user_id:
        item["user_id"] = user_id
    return item


def messages_value(meta: Json, contacts: list[Json] | None, messages: list[Json]) -> Json:
    value: Json = {"messaging_product": "whatsapp", "metadata": meta}
    if contacts:
        value["contacts"] = contacts
    value["messages"] = messages
    return value


def statuses_value(meta: Json, statuses: list[Json], contacts: list[Json] | None = None) -> Json:
    value: Json = {"messaging_product": "whatsapp", "metadata": meta}
    if contacts:
        value["contacts"] = contacts
    value["statuses"] = statuses
    return value


def envelope(value: Json, waba_id: str, field: str = "messages") -> Json:
    """The outer webhook body: ``{"object": "whatsapp_business_account", "entry": [...]}``."""
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": waba_id, "changes": [{"value": value, "field": field}]}],
    }


def encode(body: Json) -> bytes:
    """Serialise like Meta: compact, non-ASCII escaped as ``\\uXXXX`` and ``/`` escaped as ``\\/``.

    The signature covers these exact bytes, so a receiver that re-serialises the
    parsed JSON before checking it fails, exactly as it would against Meta.
    """
    text = json.dumps(body, separators=(",", ":"), ensure_ascii=True)
    return text.replace("/", "\\/").encode("ascii")


def signature(raw_body: bytes, app_secret: str) -> str:
    """Value of the ``X-Hub-Signature-256`` header: ``sha256=<hex HMAC-SHA256(app secret, raw body)>``."""
    digest = hmac.new(app_secret.encode("utf-8"), raw_body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify_signature(raw_body: bytes, header: str | None, app_secret: str) -> bool:
    return bool(header) and hmac.compare_digest(signature(raw_body, app_secret), header)


def error_object(code: int, title: str, details: str, message: str | None = None) -> Json:
    """An entry of ``errors[]`` in a status or an unsupported message."""
    return {
        "code": code,
        "title": title,
        "message": message or title,
        "error_data": {"details": details},
        "href": ERROR_CODES_URL,
    }


# --------------------------------------------------------------------------
# inbound messages (value.messages[])
# --------------------------------------------------------------------------

def _base(from_wa_id: str | None, wamid: str, timestamp: int | str, mtype: str,
          from_user_id: str | None = None, context: Json | None = None) -> Json:
    msg: Json = {}
    if context:
        msg["context"] = context
    if from_wa_id:
        msg["from"] = from_wa_id
    if from_user_id:
        msg["from_user_id"] = from_user_id
    msg["id"] = wamid
    msg["timestamp"] = str(int(timestamp))
    msg["type"] = mtype
    return msg


def reply_context(business_number: str, wamid: str) -> Json:
    """``context`` of a message that quotes (replies to) an earlier message."""
    return {"from": business_number, "id": wamid}


def forwarded_context(frequently: bool = False) -> Json:
    return {"frequently_forwarded": True} if frequently else {"forwarded": True}


def text_message(from_wa_id: str | None, wamid: str, timestamp: int | str, body: str, *,
                 from_user_id: str | None = None, context: Json | None = None) -> Json:
    msg = _base(from_wa_id, wamid, timestamp, "text", from_user_id, context)
    msg["text"] = {"body": body}
    return msg


def media_message(from_wa_id: str | None, wamid: str, timestamp: int | str, media_type: str, *,
                  media_id: str, mime_type: str, sha256: str, caption: str | None = None,
                  filename: str | None = None, voice: bool | None = None, animated: bool | None = None,
                  url: str | None = None, from_user_id: str | None = None, context: Json | None = None) -> Json:
    """image / audio / video / document / sticker.

    ``caption`` applies to image, video, document; ``filename`` to document;
    ``voice`` to audio (True for a recorded voice note); ``animated`` to sticker.
    ``url`` (recent API versions add the download URL to the webhook) is optional.
    """
    if media_type not in ("image", "audio", "video", "document", "sticker"):
        raise ValueError(f"not a media type: {media_type!r}")
    media: Json = {}
    if caption is not None and media_type in ("image", "video", "document"):
        media["caption"] = caption
    if filename is not None and media_type == "document":
        media["filename"] = filename
    media["mime_type"] = mime_type
    media["sha256"] = sha256
    media["id"] = media_id
    if url:
        media["url"] = url
    if media_type == "audio":
        media["voice"] = bool(voice)
    if media_type == "sticker":
        media["animated"] = bool(animated)
    msg = _base(from_wa_id, wamid, timestamp, media_type, from_user_id, context)
    msg[media_type] = media
    return msg


def image_message(from_wa_id, wamid, timestamp, **kw) -> Json:
    return media_message(from_wa_id, wamid, timestamp, "image", **kw)


def audio_message(from_wa_id, wamid, timestamp, **kw) -> Json:
    return media_message(from_wa_id, wamid, timestamp, "audio", **kw)


def video_message(from_wa_id, wamid, timestamp, **kw) -> Json:
    return media_message(from_wa_id, wamid, timestamp, "video", **kw)


def document_message(from_wa_id, wamid, timestamp, **kw) -> Json:
    return media_message(from_wa_id, wamid, timestamp, "document", **kw)


def sticker_message(from_wa_id, wamid, timestamp, **kw) -> Json:
    return media_message(from_wa_id, wamid, timestamp, "sticker", **kw)


def location_message(from_wa_id: str | None, wamid: str, timestamp: int | str, latitude: float, longitude: float, *,
                     name: str | None = None, address: str | None = None, url: str | None = None,
                     from_user_id: str | None = None, context: Json | None = None) -> Json:
    loc: Json = {"latitude": latitude, "longitude": longitude}
    if name is not None:
        loc["name"] = name
    if address is not None:
        loc["address"] = address
    if url is not None:
        loc["url"] = url
    msg = _base(from_wa_id, wamid, timestamp, "location", from_user_id, context)
    msg["location"] = loc
    return msg


def contact_card(formatted_name: str, phones: list[str] | None = None, emails: list[str] | None = None,
                 first_name: str | None = None, last_name: str | None = None, wa_ids: list[str | None] | None = None,
                 org: str | None = None) -> Json:
    """One shared contact card (``messages[].contacts[]``)."""
    name: Json = {"formatted_name": formatted_name}
    if first_name:
        name["first_name"] = first_name
    if last_name:
        name["last_name"] = last_name
    card: Json = {"name": name}
    if phones:
        card["phones"] = []
        for i, phone in enumerate(phones):
            entry: Json = {"phone": phone, "type": "CELL"}
            wa_id = (wa_ids or [])[i] if wa_ids and i < len(wa_ids) else None
            if wa_id:
                entry["wa_id"] = wa_id
            card["phones"].append(entry)
    if emails:
        card["emails"] = [{"email": email, "type": "WORK"} for email in emails]
    if org:
        card["org"] = {"company": org}
    return card


def contacts_message(from_wa_id: str | None, wamid: str, timestamp: int | str, cards: list[Json], *,
                     from_user_id: str | None = None, context: Json | None = None) -> Json:
    msg = _base(from_wa_id, wamid, timestamp, "contacts", from_user_id, context)
    msg["contacts"] = cards
    return msg


def reaction_message(from_wa_id: str | None, wamid: str, timestamp: int | str, message_id: str,
                     emoji: str | None, *, from_user_id: str | None = None) -> Json:
    """A reaction to ``message_id``; ``emoji`` None or "" = the reaction was removed (Meta omits ``emoji``)."""
    reaction: Json = {"message_id": message_id}
    if emoji:
        reaction["emoji"] = emoji
    msg = _base(from_wa_id, wamid, timestamp, "reaction", from_user_id)
    msg["reaction"] = reaction
    return msg


def button_reply_message(from_wa_id: str | None, wamid: str, timestamp: int | str, button_id: str, title: str, *,
                         context: Json, from_user_id: str | None = None) -> Json:
    """The customer pressed a reply button of an interactive message (``context`` = that message)."""
    msg = _base(from_wa_id, wamid, timestamp, "interactive", from_user_id, context)
    msg["interactive"] = {"type": "button_reply", "button_reply": {"id": button_id, "title": title}}
    return msg


def list_reply_message(from_wa_id: str | None, wamid: str, timestamp: int | str, row_id: str, title: str, *,
                       context: Json, description: str | None = None, from_user_id: str | None = None) -> Json:
    reply: Json = {"id": row_id, "title": title}
    if description is not None:
        reply["description"] = description
    msg = _base(from_wa_id, wamid, timestamp, "interactive", from_user_id, context)
    msg["interactive"] = {"type": "list_reply", "list_reply": reply}
    return msg


def template_button_message(from_wa_id: str | None, wamid: str, timestamp: int | str, payload: str, text: str, *,
                            context: Json, from_user_id: str | None = None) -> Json:
    """A quick-reply button of a template message was pressed (``type: "button"``)."""
    msg = _base(from_wa_id, wamid, timestamp, "button", from_user_id, context)
    msg["button"] = {"payload": payload, "text": text}
    return msg


def unsupported_message(from_wa_id: str | None, wamid: str, timestamp: int | str, *,
                        unsupported_type: str = "unknown", from_user_id: str | None = None) -> Json:
    msg = _base(from_wa_id, wamid, timestamp, "unsupported", from_user_id)
    msg["errors"] = [error_object(131051, "Message type unknown", "Message type is currently not supported.")]
    msg["unsupported"] = {"type": unsupported_type}
    return msg


def user_changed_number_message(from_wa_id: str, wamid: str, timestamp: int | str, new_wa_id: str, *,
                                name: str = "User", from_user_id: str | None = None,
                                new_user_id: str | None = None) -> Json:
    """System message: the customer moved to ``new_wa_id`` (``from`` is the old number).

    Meta's current reference names the new number ``system.wa_id`` (older versions:
    ``new_wa_id``); system webhooks carry no ``contacts`` array.  With BSUIDs, the old
    one is ``from_user_id`` and the new one (a number change makes Meta generate a new
    BSUID) ``system.new_user_id`` -- that field name is this simulator's assumption.
    """
    system: Json = {
        "body": f"User {name} changed from {from_wa_id} to {new_wa_id}",
        "wa_id": new_wa_id,
        "type": "user_changed_number",
    }
    if new_user_id:
        system["new_user_id"] = new_user_id
    msg = _base(from_wa_id, wamid, timestamp, "system", from_user_id)
    msg["system"] = system
    return msg


# --------------------------------------------------------------------------
# statuses (value.statuses[])
# --------------------------------------------------------------------------

def pricing(category: str = "service", billable: bool = False, ptype: str = "free_customer_service") -> Json:
    return {"billable": billable, "pricing_model": "PMP", "type": ptype, "category": category}


def conversation(conversation_id: str, origin: str = "service", expiration_timestamp: int | None = None) -> Json:
    conv: Json = {"id": conversation_id}
    if expiration_timestamp is not None:
        conv["expiration_timestamp"] = str(int(expiration_timestamp))
    conv["origin"] = {"type": origin}
    return conv


def status(wamid: str, state: str, timestamp: int | str, recipient_id: str | None, *,
           recipient_user_id: str | None = None, conversation_obj: Json | None = None,
           pricing_obj: Json | None = None, errors: list[Json] | None = None) -> Json:
    """One ``statuses[]`` entry: ``state`` is sent / delivered / read / failed (``errors`` on failed)."""
    if state not in ("sent", "delivered", "read", "failed"):
        raise ValueError(f"not a status: {state!r}")
    item: Json = {"id": wamid, "status": state, "timestamp": str(int(timestamp))}
    if recipient_id:
        item["recipient_id"] = recipient_id
    if recipient_user_id:
        item["recipient_user_id"] = recipient_user_id
    if conversation_obj is not None and state != "failed":
        item["conversation"] = conversation_obj
    if pricing_obj is not None and state != "failed":
        item["pricing"] = pricing_obj
    if state == "failed":
        item["errors"] = errors or [error_object(131026, "Message undeliverable", "Message Undeliverable.")]
    return item


# --------------------------------------------------------------------------
# Graph API error responses (synchronous)
# --------------------------------------------------------------------------

def graph_error(code: int, message: str, *, details: str | None = None, subcode: int | None = None,
                fbtrace_id: str = "AbCdEfGhIjKlMnOpQrStUv", is_transient: bool | None = None,
                err_type: str = "OAuthException") -> Json:
    """The body of a failed Graph API call: ``{"error": {...}}``."""
    err: Json = {"message": message, "type": err_type, "code": code}
    if subcode is not None:
        err["error_subcode"] = subcode
    if is_transient is not None:
        err["is_transient"] = is_transient
    if details is not None:
        err["error_data"] = {"messaging_product": "whatsapp", "details": details}
    err["fbtrace_id"] = fbtrace_id
    return {"error": err}


#: Every inbound builder, by message type (handy for "every payload parses" tests).
INBOUND_BUILDERS = {
    "text": text_message,
    "image": image_message,
    "audio": audio_message,
    "video": video_message,
    "document": document_message,
    "sticker": sticker_message,
    "location": location_message,
    "contacts": contacts_message,
    "reaction": reaction_message,
    "interactive.button_reply": button_reply_message,
    "interactive.list_reply": list_reply_message,
    "button": template_button_message,
    "unsupported": unsupported_message,
    "system": user_changed_number_message,
}
