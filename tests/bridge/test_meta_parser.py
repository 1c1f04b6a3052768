from __future__ import annotations

import pytest

from whatsapp_bridge import contract
from whatsapp_bridge.meta_parser import WebhookParseError, parse_webhook

from .helpers import SAMPLES, load_sample

ALL_SAMPLES = sorted(p.stem for p in SAMPLES.glob("*.json"))


def one_message(name):
    parsed = parse_webhook(load_sample(name))
    assert len(parsed.messages) == 1, name
    msg = parsed.messages[0]
    payload = msg.to_contract({"mimetype": msg.media.mimetype, "data": "aGVsbG8="} if msg.media else None)
    contract.validate_inbound_message(payload)  # what Odoo receives passes the contract
    assert payload["account"] == "106540352242922"
    return msg, payload


@pytest.mark.parametrize("name", ALL_SAMPLES)
def test_every_sample_parses_into_contract_valid_payloads(name):
    parsed = parse_webhook(load_sample(name))
    assert parsed.messages or parsed.statuses or parsed.errors
    for msg in parsed.messages:
        contract.validate_inbound_message(msg.to_contract({"mimetype": "x/y", "data": "eA=="} if msg.media else None))
    for status in parsed.statuses:
        contract.validate_status(status.to_contract())


def test_text_with_contact_name_and_bsuid():
    msg, payload = one_message("text")
    assert payload["type"] == "text"
    assert payload["text"] == "Olá, preciso de ajuda com meu pedido"
    assert payload["from"] == {"wa_id": "5511987654321", "user_id": "BR.1502576394655843", "name": "Maria Silva"}
    assert payload["timestamp"] == 1732240000


@pytest.mark.parametrize(
    ("name", "kind", "mimetype", "caption", "filename", "voice"),
    [
        ("image", "image", "image/jpeg", "Foto do produto", None, False),
        ("audio_voice", "audio", "audio/ogg; codecs=opus", None, None, True),
        ("video", "video", "video/mp4", "Veja o defeito", None, False),
        ("document", "document", "application/pdf", "Nota fiscal", "nota-fiscal-1234.pdf", False),
        ("sticker", "sticker", "image/webp", None, None, False),
    ],
)
def test_media_messages(name, kind, mimetype, caption, filename, voice):
    msg, payload = one_message(name)
    assert payload["type"] == kind
    assert msg.media.media_id.isdigit()
    assert payload["media"]["mimetype"] == mimetype
    assert payload["media"].get("caption") == caption
    assert payload["media"].get("filename") == filename
    assert payload["media"]["voice"] is voice


def test_location():
    _, payload = one_message("location")
    assert payload["location"]["latitude"] == -23.561414
    assert payload["location"]["longitude"] == -46.655881
    assert payload["location"]["name"] == "MASP"


def test_shared_contacts():
    msg, payload = one_message("contacts")
    assert payload["contacts"] == [{"name": "João Pereira", "phones": ["+55 11 91234-5678"],
                                    "emails": ["joao@example.com"]}]
    assert msg.contacts[0].wa_ids == ("5511912345678",)


def test_reaction_and_removed_reaction():
    _, added = one_message("reaction")
    assert added["reaction"] == {"wamid": "wamid.HBgNNTUxMTk4NzY1NDMyMRUCABEYEjBBQkM3OUQ2", "emoji": "\U0001F44D"}
    _, removed = one_message("reaction_removed")
    assert removed["reaction"]["emoji"] == ""  # removed reaction


def test_interactive_replies_and_template_button():
    msg, payload = one_message("interactive_button_reply")
    assert payload["interactive"] == {"id": "rate:AbCdEf123456:5", "title": "Satisfeito"}
    assert contract.parse_rating_button_id(payload["interactive"]["id"]) == ("AbCdEf123456", 5)
    assert payload["context"]["wamid"] == "wamid.HBgNNTUxMTk4NzY1NDMyMRUCABEYEjBBQkM3OUQ2"
    msg, payload = one_message("interactive_list_reply")
    assert payload["interactive"] == {"id": "dept_billing", "title": "Financeiro"}
    assert msg.reply.description == "Boletos e notas"
    msg, payload = one_message("template_button")
    assert payload["type"] == "interactive"
    assert payload["interactive"] == {"id": "Falar com atendente", "title": "Falar com atendente"}
    assert msg.reply.kind == "button"


def test_unsupported_keeps_the_reason():
    msg, payload = one_message("unsupported")
    assert payload["type"] == "unsupported"
    assert "not supported" in payload["text"]
    assert payload["errors"][0]["code"] == 131051


def test_system_customer_changed_number():
    msg, payload = one_message("system_user_changed_number")
    assert payload["type"] == "system"
    assert payload["system"]["type"] == "user_changed_number"
    assert payload["system"]["wa_id"] == "5511987654321"
    assert payload["system"]["new_wa_id"] == "5511912340000"


def test_reply_context_and_forwarded():
    _, payload = one_message("context_reply")
    assert payload["context"] == {"wamid": "wamid.HBgNNTUxMTk4NzY1NDMyMRUCABEYEjBBQkM3OUQ5", "forwarded": False}
    parsed = parse_webhook(load_sample("forwarded"))
    first, second = (m.to_contract({"mimetype": "image/jpeg", "data": "eA=="}) for m in parsed.messages)
    assert first["context"] == {"forwarded": True}
    assert second["context"] == {"forwarded": True, "frequently_forwarded": True}


def test_user_with_bsuid_and_no_phone_number():
    msg, payload = one_message("bsuid_only")
    assert payload["from"] == {"user_id": "BR.1502576394655843", "name": "Maria Silva"}
    assert msg.sender.username == "@maria.s"
    assert msg.customer_key == "BR.1502576394655843"


@pytest.mark.parametrize("state", ["sent", "delivered", "read"])
def test_statuses(state):
    parsed = parse_webhook(load_sample(f"status_{state}"))
    (status,) = parsed.statuses
    payload = status.to_contract()
    assert payload["status"] == state
    assert payload["recipient"] == "5511987654321"
    assert payload["recipient_user_id"] == "BR.1502576394655843"
    assert "error" not in payload


@pytest.mark.parametrize(("name", "code", "words"), [("status_failed", 131047, "24 hours"),
                                                       ("status_failed_undeliverable", 131026, "Undeliverable")])
def test_failed_statuses_carry_the_error(name, code, words):
    (status,) = parse_webhook(load_sample(name)).statuses
    payload = status.to_contract()
    assert payload["status"] == "failed"
    assert payload["error"]["code"] == code
    assert words in payload["error"]["message"]


def test_batched_entries_and_changes():
    parsed = parse_webhook(load_sample("batched"))
    assert [m.text for m in parsed.messages] == ["primeira", "segunda"]
    assert [m.sender.name for m in parsed.messages] == ["Maria Silva", "Carlos"]
    assert [s.status for s in parsed.statuses] == ["delivered"]
    assert any("message_template_status_update" in note for note in parsed.ignored)


def test_account_level_errors():
    parsed = parse_webhook(load_sample("account_error"))
    assert parsed.errors[0].error.code == 131042


@pytest.mark.parametrize(
    "body",
    [[], {"object": "page", "entry": []},
     {"object": "whatsapp_business_account", "entry": [{"changes": [{"field": "messages", "value": {}}]}]}],
)
def test_unreadable_bodies_are_refused_with_the_path(body):
    with pytest.raises(WebhookParseError):
        parse_webhook(body)


def test_unreadable_message_or_status_is_rejected_alone_with_the_path():
    body = load_sample("batched")
    value = body["entry"][0]["changes"][0]["value"]
    bad = {"from": "5511987654321", "id": "w", "timestamp": "soon", "type": "text"}
    value["messages"].insert(0, bad)
    body["entry"][0]["changes"][1]["value"]["statuses"].append({"status": "read", "timestamp": "1"})  # no id
    parsed = parse_webhook(body)
    assert [m.text for m in parsed.messages] == ["primeira", "segunda"]
    assert [s.status for s in parsed.statuses] == ["delivered"]
    assert [(r.path, r.raw) for r in parsed.rejected] == [
        ("entry[0].changes[0].value.messages[0]", bad),
        ("entry[0].changes[1].value.statuses[1]", {"status": "read", "timestamp": "1"}),
    ]
    assert ".timestamp" in parsed.rejected[0].reason and ".id" in parsed.rejected[1].reason
