"""Every payload builder produces Meta's shape, and the bridge's parser reads it."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from whatsapp_bridge.simulator import payloads as p

WA = "5511987654321"
BSUID = "BR.1502576394655843"
WAMID = "wamid.HBgNNTUxMTk4NzY1NDMyMRUCABIYFDNBMDAwMDAwMDAwMDAwMDAwMDAwAA=="
TS = 1732240000
PHONE_ID = "106540352242922"
DISPLAY = "15550783881"
SHA = hashlib.sha256(b"x").hexdigest()


def _examples() -> dict[str, dict]:
    ctx = p.reply_context(DISPLAY, "wamid.PREVIOUS")
    return {
        "text": p.text_message(WA, WAMID, TS, "hello", from_user_id=BSUID),
        "image": p.image_message(WA, WAMID, TS, media_id="111", mime_type="image/jpeg", sha256=SHA, caption="pic"),
        "audio": p.audio_message(WA, WAMID, TS, media_id="112", mime_type="audio/ogg; codecs=opus", sha256=SHA,
                                 voice=True),
        "video": p.video_message(WA, WAMID, TS, media_id="113", mime_type="video/mp4", sha256=SHA, caption="vid"),
        "document": p.document_message(WA, WAMID, TS, media_id="114", mime_type="application/pdf", sha256=SHA,
                                       filename="invoice.pdf", caption="doc"),
        "sticker": p.sticker_message(WA, WAMID, TS, media_id="115", mime_type="image/webp", sha256=SHA,
                                     animated=False),
        "location": p.location_message(WA, WAMID, TS, -23.5505, -46.6333, name="Office", address="Av. Paulista"),
        "contacts": p.contacts_message(WA, WAMID, TS, [p.contact_card("Bob Smith", phones=["+1 555 0100"],
                                                                      emails=["bob@example.com"],
                                                                      wa_ids=["15550100"])]),
        "reaction": p.reaction_message(WA, WAMID, TS, "wamid.PREVIOUS", "👍"),
        "reaction_removed": p.reaction_message(WA, WAMID, TS, "wamid.PREVIOUS", ""),
        "button_reply": p.button_reply_message(WA, WAMID, TS, "rate:abcdefgh-1234:5", "Satisfied", context=ctx),
        "list_reply": p.list_reply_message(WA, WAMID, TS, "sales", "Sales", context=ctx, description="Buy"),
        "template_button": p.template_button_message(WA, WAMID, TS, "STOP", "Stop promotions", context=ctx),
        "unsupported": p.unsupported_message(WA, WAMID, TS),
        "system": p.user_changed_number_message(WA, WAMID, TS, "5511900002222", name="Maria",
                                                from_user_id=BSUID, new_user_id="BR.999"),
        "reply_text": p.text_message(WA, WAMID, TS, "answering", context=ctx),
        "forwarded": p.text_message(WA, WAMID, TS, "fwd", context=p.forwarded_context()),
        "bsuid_only": p.text_message(None, WAMID, TS, "no phone", from_user_id=BSUID),
    }


def _body(message: dict, contact: dict | None = None) -> dict:
    contacts = None if message["type"] == "system" else [contact or p.contact("Maria", wa_id=WA, user_id=BSUID)]
    return p.envelope(p.messages_value(p.metadata(DISPLAY, PHONE_ID), contacts, [message]), "102290129340398")


def test_common_message_fields():
    for name, msg in _examples().items():
        assert msg["id"] == WAMID, name
        assert msg["timestamp"] == str(TS), name
        assert isinstance(msg["timestamp"], str)
        assert msg["type"] in ("text", "image", "audio", "video", "document", "sticker", "location", "contacts",
                               "reaction", "interactive", "button", "unsupported", "system"), name
        if name == "bsuid_only":
            assert "from" not in msg and msg["from_user_id"] == BSUID
        else:
            assert msg["from"] == WA, name


def test_type_specific_shapes():
    ex = _examples()
    assert ex["text"]["text"] == {"body": "hello"}
    assert ex["text"]["from_user_id"] == BSUID
    assert ex["image"]["image"] == {"caption": "pic", "mime_type": "image/jpeg", "sha256": SHA, "id": "111"}
    assert ex["audio"]["audio"] == {"mime_type": "audio/ogg; codecs=opus", "sha256": SHA, "id": "112", "voice": True}
    assert ex["document"]["document"]["filename"] == "invoice.pdf"
    assert ex["document"]["document"]["caption"] == "doc"
    assert ex["sticker"]["sticker"]["animated"] is False
    assert ex["location"]["location"] == {"latitude": -23.5505, "longitude": -46.6333, "name": "Office",
                                          "address": "Av. Paulista"}
    card = ex["contacts"]["contacts"][0]
    assert card["name"]["formatted_name"] == "Bob Smith"
    assert card["phones"] == [{"phone": "+1 555 0100", "type": "CELL", "wa_id": "15550100"}]
    assert card["emails"] == [{"email": "bob@example.com", "type": "WORK"}]
    assert ex["reaction"]["reaction"] == {"message_id": "wamid.PREVIOUS", "emoji": "👍"}
    assert ex["reaction_removed"]["reaction"] == {"message_id": "wamid.PREVIOUS"}
    assert ex["button_reply"]["interactive"] == {
        "type": "button_reply", "button_reply": {"id": "rate:abcdefgh-1234:5", "title": "Satisfied"}}
    assert ex["button_reply"]["context"] == {"from": DISPLAY, "id": "wamid.PREVIOUS"}
    assert ex["list_reply"]["interactive"]["list_reply"] == {"id": "sales", "title": "Sales", "description": "Buy"}
    assert ex["template_button"]["button"] == {"payload": "STOP", "text": "Stop promotions"}
    unsupported = ex["unsupported"]
    assert unsupported["errors"][0]["code"] == 131051
    assert unsupported["errors"][0]["error_data"]["details"]
    system = ex["system"]["system"]
    assert system["type"] == "user_changed_number"
    assert system["wa_id"] == "5511900002222"
    assert system["body"] == f"User Maria changed from {WA} to 5511900002222"
    assert ex["forwarded"]["context"] == {"forwarded": True}
    assert p.forwarded_context(frequently=True) == {"frequently_forwarded": True}


def test_envelope_and_contact():
    body = _body(_examples()["text"])
    assert body["object"] == "whatsapp_business_account"
    entry = body["entry"][0]
    assert entry["id"] == "102290129340398"
    change = entry["changes"][0]
    assert change["field"] == "messages"
    value = change["value"]
    assert value["messaging_product"] == "whatsapp"
    assert value["metadata"] == {"display_phone_number": DISPLAY, "phone_number_id": PHONE_ID}
    assert value["contacts"] == [{"profile": {"name": "Maria"}, "wa_id": WA, "user_id": BSUID}]
    assert "contacts" not in _body(_examples()["system"])["entry"][0]["changes"][0]["value"]
    assert p.contact("Ana", user_id=BSUID, username="@ana") == {"profile": {"name": "Ana", "username": "@ana"},
                                                                "user_id": BSUID}


def test_status_builders():
    conv = p.conversation("c0ffee", "service", TS + 86400)
    sent = p.status(WAMID, "sent", TS, WA, recipient_user_id=BSUID, conversation_obj=conv, pricing_obj=p.pricing())
    assert sent == {"id": WAMID, "status": "sent", "timestamp": str(TS), "recipient_id": WA,
                    "recipient_user_id": BSUID,
                    "conversation": {"id": "c0ffee", "expiration_timestamp": str(TS + 86400),
                                     "origin": {"type": "service"}},
                    "pricing": {"billable": False, "pricing_model": "PMP", "type": "free_customer_service",
                                "category": "service"}}
    failed = p.status(WAMID, "failed", TS, WA, conversation_obj=conv, pricing_obj=p.pricing(),
                      errors=[p.error_object(131047, "Re-engagement message", "24 hours passed")])
    assert "conversation" not in failed and "pricing" not in failed
    assert failed["errors"] == [{"code": 131047, "title": "Re-engagement message", "message": "Re-engagement message",
                                 "error_data": {"details": "24 hours passed"}, "href": p.ERROR_CODES_URL}]
    assert p.status(WAMID, "failed", TS, WA)["errors"][0]["code"] == 131026
    with pytest.raises(ValueError):
        p.status(WAMID, "seen", TS, WA)
    body = p.envelope(p.statuses_value(p.metadata(DISPLAY, PHONE_ID), [sent]), "1")
    assert body["entry"][0]["changes"][0]["value"]["statuses"] == [sent]


def test_graph_error_shape():
    err = p.graph_error(131009, "(#131009) Parameter value is not valid", details="Button title length invalid")
    assert err == {"error": {"message": "(#131009) Parameter value is not valid", "type": "OAuthException",
                             "code": 131009,
                             "error_data": {"messaging_product": "whatsapp", "details": "Button title length invalid"},
                             "fbtrace_id": "AbCdEfGhIjKlMnOpQrStUv"}}
    assert p.graph_error(190, "x", subcode=463)["error"]["error_subcode"] == 463


def test_encode_and_signature():
    raw = p.encode({"a": "é/ü", "b": [1, 2]})
    assert raw == b'{"a":"\\u00e9\\/\\u00fc","b":[1,2]}'
    assert json.loads(raw) == {"a": "é/ü", "b": [1, 2]}
    assert p.signature(b"{}", "secret") == "sha256=" + hmac.new(b"secret", b"{}", hashlib.sha256).hexdigest()
    # a fixed vector computed independently: printf '%s' BODY | openssl dgst -sha256 -hmac s3cr3t
    assert p.signature(b'{"object":"whatsapp_business_account"}', "s3cr3t") == \
        "sha256=6e8ddfd7f9da1721f11cfdf13893594c5ffed70a767c5b5b193960dee6dec37e"
    assert p.verify_signature(b"{}", p.signature(b"{}", "secret"), "secret")
    assert not p.verify_signature(b"{} ", p.signature(b"{}", "secret"), "secret")
    assert not p.verify_signature(b"{}", None, "secret")
    with pytest.raises(ValueError):
        p.media_message(WA, WAMID, TS, "hologram", media_id="1", mime_type="x", sha256=SHA)


# ---------------------------------------------------------------- the bridge's parser

from whatsapp_bridge import meta_parser  # noqa: E402


@pytest.mark.parametrize("name", sorted(_examples()))
def test_every_builder_parses_with_the_bridge_parser(name):
    msg = _examples()[name]
    contact = p.contact("Maria", wa_id=None if name == "bsuid_only" else WA, user_id=BSUID)
    parsed = meta_parser.parse_webhook(json.loads(p.encode(_body(msg, contact))))
    assert len(parsed.messages) == 1 and not parsed.statuses
    event = parsed.messages[0]
    assert event.account == PHONE_ID
    assert event.wamid == WAMID
    assert event.timestamp == TS
    if name == "bsuid_only":
        assert event.sender.wa_id is None and event.sender.user_id == BSUID
    else:
        assert event.sender.wa_id == WA
    expected_type = {"button_reply": "interactive", "list_reply": "interactive", "template_button": "interactive",
                     "reaction_removed": "reaction", "reply_text": "text", "forwarded": "text",
                     "bsuid_only": "text"}.get(name, name)
    assert event.type == expected_type
    if name in ("image", "audio", "video", "document", "sticker"):
        assert event.media.media_id == msg[name]["id"]
        assert event.media.sha256 == SHA
    if name == "audio":
        assert event.media.voice is True
    if name == "document":
        assert event.media.filename == "invoice.pdf"
    if name == "button_reply":
        assert (event.reply.kind, event.reply.id) == ("button_reply", "rate:abcdefgh-1234:5")
        assert event.context.wamid == "wamid.PREVIOUS"
    if name == "template_button":
        assert event.reply.id == "STOP"
    if name == "reaction_removed":
        assert event.reaction.emoji == ""
    if name == "system":
        assert event.system.new_wa_id == "5511900002222"
        assert event.system.new_user_id == "BR.999"
    if name == "forwarded":
        assert event.context.forwarded is True
    if name == "location":
        assert (event.location.latitude, event.location.longitude) == (-23.5505, -46.6333)


def test_statuses_parse_with_the_bridge_parser():
    failed = p.status(WAMID, "failed", TS, WA, recipient_user_id=BSUID,
                      errors=[p.error_object(131047, "Re-engagement message", "24 hours passed")])
    read = p.status(WAMID, "read", TS + 5, WA, pricing_obj=p.pricing())
    body = p.envelope(p.statuses_value(p.metadata(DISPLAY, PHONE_ID), [failed, read]), "1")
    parsed = meta_parser.parse_webhook(json.loads(p.encode(body)))
    assert [(s.status, s.timestamp) for s in parsed.statuses] == [("failed", TS), ("read", TS + 5)]
    assert parsed.statuses[0].errors[0].code == 131047
    assert parsed.statuses[0].recipient == WA
    assert parsed.statuses[0].recipient_user_id == BSUID


def test_simulator_webhooks_parse_with_the_bridge_parser(sim, receiver):
    """What the running simulator actually POSTs (not only the builders) is readable by the bridge."""
    first = sim.customer_says(WA, "hi", name="Maria")
    sim.client.post(f"/_sim/customers/{WA}/send", json={"type": "reaction", "message_id": first["id"], "emoji": ""})
    sim.send_text(WA, "answer")
    sim.flush()
    kinds = []
    for raw, _ in receiver.deliveries:
        parsed = meta_parser.parse_webhook(json.loads(raw))
        kinds += [m.type for m in parsed.messages] + [s.status for s in parsed.statuses]
        assert not parsed.ignored
    assert kinds == ["text", "reaction", "sent", "delivered"]
