from __future__ import annotations

import json

import pytest

from whatsapp_bridge import contract
from whatsapp_bridge.meta_parser import WebhookParseError, decode_body, parse_webhook

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


# --------------------------------------------------------------------------
# poison found by users: the bad part is rejected naming the field (or its text sanitized), and
# the other messages of the same body still parse
# --------------------------------------------------------------------------

GOOD_WAMID = "wamid.GOOD"
MSG_PATH = "entry[0].changes[0].value.messages"


def _body_with(bad_message, contacts=None):
    """A body whose value holds a good text message, then ``bad_message`` (both from Maria)."""
    body = load_sample("text")
    value = body["entry"][0]["changes"][0]["value"]
    good = dict(value["messages"][0], id=GOOD_WAMID, text={"body": "still here"})
    value["messages"] = [good, bad_message]
    if contacts is not None:
        value["contacts"] = contacts
    return body


def _message(kind, **fields):
    return {"from": "5511987654321", "id": "wamid.BAD", "timestamp": "1732240000", "type": kind, **fields}


def _rejected_alone(body, field):
    parsed = parse_webhook(body)
    assert [m.wamid for m in parsed.messages] == [GOOD_WAMID]
    assert parsed.messages[0].text == "still here"
    (part,) = parsed.rejected
    assert part.path == f"{MSG_PATH}[1]"
    assert f"{MSG_PATH}[1].{field}:" in part.reason, part.reason
    return part


def _payload(msg):
    payload = msg.to_contract({"data": "aGVsbG8="} if msg.media else None)
    contract.validate_inbound_message(payload)
    return payload


def test_text_as_a_string_instead_of_an_object_is_rejected_alone():
    part = _rejected_alone(_body_with(_message("text", text="hello")), "text")
    assert "expected an object" in part.reason and part.raw["text"] == "hello"


def test_contact_profile_as_a_list_rejects_only_the_messages_of_that_contact():
    body = load_sample("batched")
    value = body["entry"][0]["changes"][0]["value"]
    carlos = body["entry"][1]["changes"][0]["value"]
    value["contacts"] = [dict(value["contacts"][0], profile=["Maria"]), carlos["contacts"][0]]
    value["messages"].append(carlos["messages"][0])  # Carlos, in the same value
    parsed = parse_webhook(body)
    assert [m.text for m in parsed.messages] == ["segunda", "segunda"]
    assert [m.sender.name for m in parsed.messages] == ["Carlos", "Carlos"]
    (part,) = parsed.rejected
    assert part.path == "entry[0].changes[0].value.messages[0]"
    assert part.reason.startswith("entry[0].changes[0].value.contacts[0].profile: expected an object")
    assert [s.status for s in parsed.statuses] == ["delivered"]


@pytest.mark.parametrize("name", [123, ["MASP"], {"text": "MASP"}, True])
def test_location_with_a_name_that_is_not_a_string_is_rejected_alone(name):
    loc = {"latitude": -23.5, "longitude": -46.6, "name": name}
    _rejected_alone(_body_with(_message("location", location=loc)), "location.name")


@pytest.mark.parametrize("name", [5, ["João"], True])
def test_shared_contact_with_a_name_that_is_not_a_string_or_object_is_rejected_alone(name):
    card = {"name": name, "phones": [{"phone": "+55 11 91234-5678"}]}
    _rejected_alone(_body_with(_message("contacts", contacts=[card])), "contacts[0].name")


def test_shared_contact_with_phones_as_a_number_is_rejected_alone():
    card = {"name": {"formatted_name": "João"}, "phones": 5}
    _rejected_alone(_body_with(_message("contacts", contacts=[card])), "contacts[0].phones")


def test_shared_contact_phone_without_number_is_left_out_not_shown_as_none():
    card = {"name": {"formatted_name": "João"}, "phones": [{"type": "CELL"}, {"wa_id": "5511912345678"}]}
    parsed = parse_webhook(_body_with(_message("contacts", contacts=[card])))
    assert _payload(parsed.messages[1])["contacts"] == [{"name": "João", "phones": ["5511912345678"], "emails": []}]


@pytest.mark.parametrize("latitude", [int("9" * 400), float("inf"), float("nan"), 90.5, "north", True, None])
def test_location_with_a_latitude_that_is_not_a_finite_latitude_is_rejected_alone(latitude):
    loc = {"latitude": latitude, "longitude": -46.6}
    part = _rejected_alone(_body_with(_message("location", location=loc)), "location.latitude")
    assert "between -90 and 90" in part.reason


def test_400_digit_latitude_as_json_is_rejected_alone():
    raw = json.dumps(_body_with(_message("location", location={"latitude": 0, "longitude": 0})))
    raw = raw.replace('"latitude": 0', '"latitude": ' + "9" * 400)
    _rejected_alone(decode_body(raw.encode()), "location.latitude")


def test_json_nested_100000_deep_is_refused_with_the_reason_not_a_recursion_error():
    with pytest.raises(WebhookParseError, match="nested deeper than"):
        decode_body(b"[" * 100_000 + b"]" * 100_000)
    # nesting that json.loads itself handles is refused too: the worker would not survive dumping it
    deep = "x"
    for _ in range(100):
        deep = [deep]
    with pytest.raises(WebhookParseError, match="nested deeper than 64 levels"):
        decode_body(json.dumps(_body_with(_message("text", text={"body": deep}))))


def test_a_deeply_nested_python_value_in_one_message_is_rejected_alone():
    deep = {}
    for _ in range(100_000):
        deep = {"body": deep}
    _rejected_alone(_body_with(_message("text", text=deep)), "text.body")


@pytest.mark.parametrize(("field", "message"), [
    ("timestamp", _message("text", text={"body": "x"}, timestamp=True)),
    ("location.longitude", _message("location", location={"latitude": 1.0, "longitude": False})),
    ("errors[0].code", _message("unsupported", errors=[{"code": True, "title": "x"}])),
    ("image.voice", _message("image", image={"id": "1", "voice": 1})),
])
def test_booleans_where_numbers_are_expected_and_numbers_for_booleans_are_rejected_alone(field, message):
    _rejected_alone(_body_with(message), field)


@pytest.mark.parametrize(("sent", "stored"), [
    ("1732240000", 1732240000),
    (1732240000, 1732240000),
    ("1732240000123", 1732240000),  # milliseconds: read as such
    (1732240000123, 1732240000),
])
def test_timestamps_in_seconds_or_clearly_in_milliseconds(sent, stored):
    parsed = parse_webhook(_body_with(_message("text", text={"body": "x"}, timestamp=sent)))
    assert _payload(parsed.messages[1])["timestamp"] == stored


@pytest.mark.parametrize("sent", ["soon", "-5", -5, 10**10, 17322400001, 10**14, 10**400, "1" * 30, 1.7e9,
                                  "\u0661\u0667\u0663\u0662\u0662\u0664\u0660\u0660\u0660\u0660"])
def test_timestamps_that_are_not_unix_seconds_are_rejected_alone(sent):
    _rejected_alone(_body_with(_message("text", text={"body": "x"}, timestamp=sent)), "timestamp")


POISON = "a\x00b\ud800c\udfff"
CLEAN = "ab\ufffdc\ufffd"


def test_customer_texts_are_sanitized_not_lost():
    body = _body_with(_message("text", text={"body": "oi" + POISON}))
    value = body["entry"][0]["changes"][0]["value"]
    value["contacts"][0]["profile"]["name"] = "Maria" + POISON
    value["messages"] += [
        _message("image", id="wamid.IMG", image={"id": "1", "caption": POISON, "mime_type": "image/jpeg"}),
        _message("document", id="wamid.DOC", document={"id": "2", "filename": POISON + ".pdf"}),
        _message("location", id="wamid.LOC", location={"latitude": 1, "longitude": 2, "name": POISON,
                                                        "address": POISON}),
        _message("contacts", id="wamid.CARD", contacts=[{"name": {"formatted_name": POISON},
                                                         "phones": [{"phone": POISON}],
                                                         "emails": [{"email": POISON}]}]),
        _message("interactive", id="wamid.BTN", interactive={"type": "button_reply",
                                                             "button_reply": {"id": "b1", "title": POISON}}),
        _message("reaction", id="wamid.REACT", reaction={"message_id": "wamid.GOOD", "emoji": "\U0001F44D\x00"}),
    ]
    parsed = parse_webhook(body)
    assert not parsed.rejected
    payloads = {m.wamid: _payload(m) for m in parsed.messages}  # every one passes the contract
    assert payloads["wamid.BAD"]["text"] == "oi" + CLEAN
    assert payloads["wamid.BAD"]["from"]["name"] == "Maria" + CLEAN
    assert payloads["wamid.IMG"]["media"]["caption"] == CLEAN
    assert payloads["wamid.DOC"]["media"]["filename"] == CLEAN + ".pdf"
    assert payloads["wamid.LOC"]["location"]["name"] == payloads["wamid.LOC"]["location"]["address"] == CLEAN
    assert payloads["wamid.CARD"]["contacts"] == [{"name": CLEAN, "phones": [CLEAN], "emails": [CLEAN]}]
    assert payloads["wamid.BTN"]["interactive"]["title"] == CLEAN
    assert payloads["wamid.REACT"]["reaction"]["emoji"] == "\U0001F44D"


def test_overlong_customer_texts_are_cut_to_what_odoo_takes():
    name = "n" * 300 + ".pdf"
    body = _body_with(_message("document", document={"id": "2", "filename": name, "caption": "c" * 70_000}))
    (_, doc) = parse_webhook(body).messages
    payload = _payload(doc)
    assert len(payload["media"]["filename"]) == 256 and payload["media"]["filename"].endswith(".pdf")
    assert len(payload["media"]["caption"]) == 65536 and len(payload["text"]) == 65536


@pytest.mark.parametrize(("field", "message"), [
    ("id", _message("text", text={"body": "x"}, id="wamid.\x00")),
    ("id", _message("text", text={"body": "x"}, id="wamid.\ud800")),
    ("id", _message("text", text={"body": "x"}, id=["wamid.X"])),
    ("text.body", _message("text", text={"body": "\x00"})),
    ("type", _message(["text"], text={"body": "x"})),
    ("reaction.message_id", _message("reaction", reaction={"message_id": {"id": "x"}, "emoji": "x"})),
    ("image.mime_type", _message("image", image={"id": "1", "mime_type": "image/\x00jpeg"})),
    ("context", _message("text", text={"body": "x"}, context="wamid.X")),
])
def test_ids_and_types_that_cannot_be_read_are_rejected_alone(field, message):
    _rejected_alone(_body_with(message), field)


def test_ids_and_phone_numbers_sent_as_json_numbers_are_read_as_digits():
    parsed = parse_webhook(_body_with(_message("image", image={"id": 1234567890}, **{"from": 5511987654321})))
    payload = _payload(parsed.messages[1])
    assert parsed.messages[1].media.media_id == "1234567890"
    assert payload["from"]["wa_id"] == "5511987654321"


def test_statuses_with_poison_are_rejected_alone():
    body = load_sample("status_failed")
    statuses = body["entry"][0]["changes"][0]["value"]["statuses"]
    good = statuses[0]
    statuses += [dict(good, id="wamid.S1", timestamp=True), dict(good, id="wamid.S2", errors=[{"code": 10**400}]),
                 dict(good, id="wamid.S3", errors=[{"code": 131047, "error_data": "x"}]), dict(good, id=None)]
    parsed = parse_webhook(body)
    assert [s.wamid for s in parsed.statuses] == [good["id"]]
    path = "entry[0].changes[0].value.statuses"
    assert [(r.path, r.reason.split(":")[0]) for r in parsed.rejected] == [
        (f"{path}[1]", f"{path}[1].timestamp"), (f"{path}[2]", f"{path}[2].errors[0].code"),
        (f"{path}[3]", f"{path}[3].errors[0].error_data"), (f"{path}[4]", f"{path}[4].id")]


def test_unreadable_account_level_errors_do_not_cost_the_messages():
    body = _body_with(_message("text", text={"body": "x"}))
    body["entry"][0]["changes"][0]["value"]["errors"] = [{"code": "not a code"}]
    parsed = parse_webhook(body)
    assert [m.wamid for m in parsed.messages] == [GOOD_WAMID, "wamid.BAD"]
    (part,) = parsed.rejected
    assert part.path == "entry[0].changes[0].value.errors" and "errors[0].code" in part.reason


@pytest.mark.parametrize(("raw", "reason"), [
    (b'{"object": "whatsapp_business_account", "entry": [}', "not valid JSON"),
    (b'{"object": "whatsapp\xff"}', "not valid UTF-8"),
    (b'{"latitude": NaN}', "NaN"),
    (b'{"latitude": -Infinity}', "-Infinity"),
    (b'{"n": ' + b"9" * 5000 + b"}", "not valid JSON"),
    (12, "expected bytes or text"),
])
def test_decode_body_refuses_what_is_not_json_with_the_reason(raw, reason):
    with pytest.raises(WebhookParseError, match=reason):
        decode_body(raw)


def test_decode_body_reads_a_stored_body_as_bytes_or_text():
    raw = (SAMPLES / "text.json").read_bytes()
    assert decode_body(raw) == decode_body(raw.decode()) == load_sample("text")
    assert parse_webhook(decode_body(raw)).messages[0].text == "Olá, preciso de ajuda com meu pedido"
