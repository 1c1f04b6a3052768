"""Property tests (hypothesis) of the WhatsApp Web parser (``session_parser``), like the Cloud API parser's.

The session process writes these entries itself, but what is in them comes from WhatsApp (through an
unofficial client): whatever they hold, the parser answers with events or ``WebhookParseError`` and
what it produces is a payload the contract accepts and PostgreSQL can store.  Same mutations, seed and
budget as ``test_fuzz_inputs`` (``WA_FUZZ_EXAMPLES``).
"""

from __future__ import annotations

import copy

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from whatsapp_bridge import contract
from whatsapp_bridge.meta_parser import WebhookParseError
from whatsapp_bridge.session_parser import OBJECT, parse_session_event

from .test_fuzz_inputs import (
    DOWNLOADED,
    FUZZ,
    Deep,
    _mutate,
    _strings_of,
    materialize,
    odoo_view_inbound,
    odoo_view_status,
    storable_by_odoo,
)

SAMPLE = {
    "object": OBJECT, "v": 1, "account": "web-support",
    "messages": [
        {"id": "3EB0C767D26A1D8E4C", "timestamp": 1732240000, "from": {"phone": "5511987654321", "name": "Maria"},
         "type": "text", "text": "Olá!", "reply_to": "3EB0AAAA", "forwarded": False},
        {"id": "3EB0C767D26A1D8E4D", "timestamp": 1732240001, "from": {"phone": "5511987654321"},
         "type": "image", "text": "", "media": {"id": "wasess:0123abcd", "mimetype": "image/jpeg",
                                                "caption": "a photo", "filename": "a.jpg"}},
        {"id": "3EB0C767D26A1D8E4E", "timestamp": 1732240002, "from": {"phone": "5521998877665", "name": "João"},
         "type": "location", "location": {"latitude": -23.5, "longitude": -46.6, "name": "Loja", "address": "Rua"}},
        {"id": "3EB0C767D26A1D8E4F", "timestamp": 1732240003, "from": {"phone": "5521998877665"},
         "type": "reaction", "reaction": {"id": "3EB0BBBB", "emoji": "👍"}},
        {"id": "3EB0C767D26A1D8E50", "timestamp": 1732240004, "from": {"phone": "5521998877665"},
         "type": "text", "text": "sent from the phone", "from_me": True},
        {"id": "3EB0C767D26A1D8E51", "timestamp": 1732240006, "from": {"phone": "5521998877665"},
         "type": "contacts", "contacts": [{"name": "Ana", "phones": ["+55 31 99123-4567"], "emails": ["a@x.com"]}]},
        {"id": "3EB0C767D26A1D8E52", "timestamp": 1732240007, "from": {"phone": "5521998877665"},
         "type": "interactive", "text": "Satisfeito",
         "interactive": {"id": "rate:abcdefgh12:5", "title": "Satisfeito"}},
        {"id": "3EB0C767D26A1D8E53", "timestamp": 1732240008, "from": {"phone": "5521998877665"},
         "type": "unsupported", "text": "Qual horário?", "errors": [{"title": "Poll", "message": "a poll"}]},
    ],
    "statuses": [{"id": "3EB0CCCC", "status": "read", "timestamp": 1732240005, "recipient": "5511987654321"}],
}


@st.composite
def mutated_events(draw):
    body = copy.deepcopy(SAMPLE)
    for _ in range(draw(st.integers(1, 6))):
        body = _mutate(draw, body)
    return body


def test_the_sample_parses_into_the_same_events_as_a_webhook():
    parsed = parse_session_event(copy.deepcopy(SAMPLE))
    assert [m.type for m in parsed.messages] == ["text", "image", "location", "reaction", "contacts", "interactive",
                                                 "unsupported"]
    assert parsed.ignored and not parsed.rejected  # the business's own message is no customer message
    text = parsed.messages[0].to_contract()
    assert text["from"] == {"wa_id": "5511987654321", "name": "Maria"} and text["context"]["wamid"] == "3EB0AAAA"
    assert parsed.messages[1].media.media_id == "wasess:0123abcd"
    assert parsed.statuses[0].to_contract() == {"v": 1, "account": "web-support", "wamid": "3EB0CCCC",
                                                "status": "read", "timestamp": 1732240005,
                                                "recipient": "5511987654321"}


@FUZZ
@given(body=mutated_events())
@example(body=Deep({}, 100_000))
@example(body={"object": OBJECT, "v": 1, "account": "a", "messages": Deep([], 100_000)})
def test_parse_session_event_returns_events_or_raises_only_webhook_parse_error(body):
    body = materialize(body)
    try:
        parsed = parse_session_event(body)
    except WebhookParseError as exc:
        assert str(exc)
        return
    for part in parsed.rejected:
        assert part.reason.startswith(part.path), (part.path, part.reason)
    for text in _strings_of((parsed.messages, parsed.statuses, parsed.ignored, parsed.rejected)):
        assert "\x00" not in text
        text.encode("utf-8")


@FUZZ
@given(body=mutated_events())
def test_every_parsed_session_message_and_receipt_is_a_payload_odoo_can_store(body):
    body = materialize(body)
    try:
        parsed = parse_session_event(body)
    except WebhookParseError:
        return
    for msg in parsed.messages:
        payload = msg.to_contract(dict(DOWNLOADED) if msg.type in contract.MEDIA_TYPES else None)
        try:
            contract.validate_inbound_message(payload)
        except contract.ContractError as exc:
            pytest.fail(f"the parser kept a message the contract refuses: {exc}")
        assert storable_by_odoo(odoo_view_inbound(payload))
    for status in parsed.statuses:
        payload = status.to_contract()
        try:
            contract.validate_status(payload)
        except contract.ContractError as exc:
            pytest.fail(f"the parser kept a receipt the contract refuses: {exc}")
        assert storable_by_odoo(odoo_view_status(payload))


@FUZZ
@given(body=mutated_events())
def test_every_message_of_the_phone_gives_a_history_payload_or_a_parse_error(body):
    """The session process's own path to Odoo (history, messages sent from the phone): never a payload
    the contract refuses, whatever WhatsApp put in the message."""
    from whatsapp_bridge.session.service import phone_payload

    body = materialize(body)
    messages = body.get("messages") if isinstance(body, dict) else None
    for raw in messages if isinstance(messages, list) else ():
        if not isinstance(raw, dict):
            continue
        for media in (None, b"\x89PNG"):
            try:
                payload = phone_payload("web-support", raw, media)
            except WebhookParseError:
                continue
            except contract.ContractError as exc:
                pytest.fail(f"the session process built a history message the contract refuses: {exc}")
            assert storable_by_odoo(odoo_view_inbound(payload))
