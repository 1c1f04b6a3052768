"""End to end: Cloud API simulator -> bridge processes -> a real Odoo 18 -> bridge -> simulator.

Every test plays a user-visible story through real processes: a customer writes on WhatsApp (the
simulator), an attendant answers in Odoo (JSON-RPC as ``ana``), and what each side sees is checked.
"""

from __future__ import annotations

import base64
import os
import random
import re

import pytest

from .bridge_procs import OdooUser, b64, wait_until

TIMEOUT = 40


def new_customer() -> str:
    return "55119" + "".join(random.choices("0123456789", k=8))


@pytest.fixture(scope="module")
def ana(odoo_server):
    return OdooUser(odoo_server, "ana", "ana")


def stored(odoo_server, wamid: str, fields=("service_id", "mail_message_id", "message_type", "attachment_id",
                                            "is_voice", "state", "direction", "body")) -> dict:
    """The ``whatsapp.message`` Odoo stored for ``wamid`` (waits for it)."""
    def find():
        rows = odoo_server.admin("whatsapp.message", "search_read", [("wamid", "=", wamid)], list(fields))
        return rows[0] if rows else None
    return wait_until(find, TIMEOUT, 0.2, f"message {wamid} stored in Odoo")


def service(odoo_server, service_id: int) -> dict:
    return odoo_server.admin("whatsapp.service", "read", [service_id],
                             ["state", "channel_id", "partner_id", "user_id", "rating_last_value"])[0]


def customer_writes(stack, odoo_server, customer: str, text: str) -> tuple[dict, dict]:
    sent = stack.sim.send(customer, {"type": "text", "text": text, "name": "Maria E2E"})
    message = stored(odoo_server, sent["id"])
    return message, service(odoo_server, message["service_id"][0])


def sent_to(stack, customer: str, predicate) -> dict:
    """The message the business sent to ``customer`` that matches ``predicate`` (waits for it)."""
    return wait_until(lambda: next((m for m in stack.sim.outbound(customer) if predicate(m)), None), TIMEOUT, 0.2,
                      f"a business message to {customer}")


def post(user: OdooUser, channel_id: int, body: str, **kwargs) -> int:
    return user("discuss.channel", "message_post", [channel_id], body=body, message_type="comment",
                subtype_xmlid="mail.mt_comment", **kwargs)


def outbound_of(odoo_server, mail_message_id: int, fields=("state", "wamid", "error_code", "error_message",
                                                          "sent_at", "delivered_at", "read_at", "message_type")):
    rows = odoo_server.admin("whatsapp.message", "search_read", [("mail_message_id", "=", mail_message_id)],
                             list(fields))
    return rows[0] if rows else None


# -- customer -> Odoo -----------------------------------------------------------------------------------------------

def test_text_lands_in_the_service_channel_as_the_customer(stack, odoo_server):
    customer = new_customer()
    message, svc = customer_writes(stack, odoo_server, customer, "Olá! Meu pedido não chegou — ajuda?")
    assert message["direction"] == "inbound" and message["message_type"] == "text"
    assert svc["state"] == "waiting"
    partner = odoo_server.admin("res.partner", "read", [svc["partner_id"][0]], ["whatsapp_phone", "name"])[0]
    assert partner["whatsapp_phone"] == f"+{customer}"
    mail = odoo_server.admin("mail.message", "read", [message["mail_message_id"][0]],
                             ["body", "author_id", "model", "res_id"])[0]
    assert (mail["model"], mail["res_id"]) == ("discuss.channel", svc["channel_id"][0])
    assert mail["author_id"][0] == svc["partner_id"][0]  # posted as the customer, not as the bridge user
    assert "Meu pedido não chegou — ajuda?" in mail["body"]


def test_image_bytes_arrive_identical_and_voice_note_is_flagged(stack, odoo_server):
    customer = new_customer()
    picture = b"\xff\xd8\xff\xe0" + os.urandom(30_000) + b"\xff\xd9"
    voice = b"OggS\x00\x02" + os.urandom(5_000)
    image_id = stack.sim.send(customer, {"type": "image", "data": b64(picture), "mime_type": "image/jpeg",
                                         "caption": "a foto do pacote"})["id"]
    voice_id = stack.sim.send(customer, {"type": "audio", "data": b64(voice), "mime_type": "audio/ogg",
                                         "voice": True})["id"]
    image = stored(odoo_server, image_id)
    assert image["message_type"] == "image" and image["attachment_id"]
    attachment = odoo_server.admin("ir.attachment", "read", [image["attachment_id"][0]], ["datas", "mimetype"])[0]
    assert base64.b64decode(attachment["datas"]) == picture
    assert attachment["mimetype"] == "image/jpeg"
    mail = odoo_server.admin("mail.message", "read", [image["mail_message_id"][0]], ["attachment_ids", "body"])[0]
    assert image["attachment_id"][0] in mail["attachment_ids"]
    assert "a foto do pacote" in mail["body"]

    note = stored(odoo_server, voice_id)
    assert note["message_type"] == "audio" and note["is_voice"] is True
    data = odoo_server.admin("ir.attachment", "read", [note["attachment_id"][0]], ["datas"])[0]["datas"]
    assert base64.b64decode(data) == voice
    assert note["service_id"] == image["service_id"]  # same customer, same open service


# -- Odoo -> customer -----------------------------------------------------------------------------------------------

def test_attendant_reply_reaches_the_customer_and_statuses_come_back(stack, odoo_server, ana):
    customer = new_customer()
    _, svc = customer_writes(stack, odoo_server, customer, "Vocês abrem amanhã?")
    ana("whatsapp.service", "action_take", [svc["id"]])
    channel = svc["channel_id"][0]
    reply_id = post(ana, channel, "Abrimos às 9h, Maria!")
    text = sent_to(stack, customer, lambda m: m["type"] == "text")
    assert text["content"]["text"]["body"] == "Abrimos às 9h, Maria!"

    # sent + delivered come back as status webhooks; then the customer opens the chat: read
    out = wait_until(lambda: (row := outbound_of(odoo_server, reply_id)) and row["state"] == "delivered" and row,
                     TIMEOUT, 0.2, "outbound message delivered in Odoo")
    assert out["wamid"] == text["id"] and out["sent_at"] and out["delivered_at"]
    assert stack.sim.read(customer) >= 1
    out = wait_until(lambda: (row := outbound_of(odoo_server, reply_id)) and row["state"] == "read" and row,
                     TIMEOUT, 0.2, "outbound message read in Odoo")
    assert out["read_at"]

    # a document attached in Discuss arrives as a WhatsApp document, same bytes, same name
    pdf = b"%PDF-1.4\n" + os.urandom(4_000) + b"\n%%EOF"
    attachment = ana("ir.attachment", "create", {"name": "orcamento.pdf", "datas": b64(pdf),
                                                 "mimetype": "application/pdf", "res_model": "discuss.channel",
                                                 "res_id": channel})
    doc_post = post(ana, channel, "", attachment_ids=[attachment])
    document = sent_to(stack, customer, lambda m: m["type"] == "document")
    assert document["content"]["document"]["filename"] == "orcamento.pdf"
    media = stack.sim.http.get(f"/_sim/media/{document['content']['document']['id']}")
    assert media.status_code == 200 and media.content == pdf
    wait_until(lambda: (row := outbound_of(odoo_server, doc_post)) and row["state"] in ("sent", "delivered"),
               TIMEOUT, 0.2, "document marked sent in Odoo")


def test_rating_buttons_rate_the_finished_service_even_after_a_new_one(stack, odoo_server, ana):
    customer = new_customer()
    _, first = customer_writes(stack, odoo_server, customer, "Quero trocar o produto")
    ana("whatsapp.service", "action_take", [first["id"]])
    post(ana, first["channel_id"][0], "Claro, já registrei a troca.")
    sent_to(stack, customer, lambda m: m["type"] == "text")
    ana("whatsapp.service", "action_finish", [first["id"]])
    assert service(odoo_server, first["id"])["state"] == "done"

    request = sent_to(stack, customer, lambda m: m["type"] == "interactive")
    buttons = [b["reply"] for b in request["content"]["interactive"]["action"]["buttons"]]
    assert len(buttons) == 3
    assert all(b["id"].startswith("rate:") and b["id"].count(":") == 2 for b in buttons)
    scores = {int(b["id"].rsplit(":", 1)[1]): b["id"] for b in buttons}
    assert len(scores) == 3

    # the customer writes again first: a new service opens...
    _, second = customer_writes(stack, odoo_server, customer, "Outra dúvida: e o frete?")
    assert second["id"] != first["id"] and second["state"] == "waiting"
    # ...then presses a button of the old rating request: the rating goes to the finished service
    chosen = min(scores)  # the lowest score: a default/placeholder value could not pass for it
    stack.sim.press(customer, button_id=scores[chosen], message_id=request["id"])
    wait_until(lambda: service(odoo_server, first["id"])["rating_last_value"] == chosen, TIMEOUT, 0.2,
               f"rating {chosen} on the finished service")
    assert not service(odoo_server, second["id"])["rating_last_value"]
    assert service(odoo_server, second["id"])["state"] == "waiting"  # a button press does not finish or rate it


def test_reply_outside_24h_window_fails_with_a_readable_reason(stack, odoo_server, ana):
    # runs last in this module: it moves the simulator's clock forward for good
    customer = new_customer()
    _, svc = customer_writes(stack, odoo_server, customer, "Oi, alguém aí?")
    ana("whatsapp.service", "action_take", [svc["id"]])
    stack.sim.advance(hours=25)
    reply_id = post(ana, svc["channel_id"][0], "Desculpe a demora!")
    out = wait_until(lambda: (row := outbound_of(odoo_server, reply_id)) and row["state"] == "failed" and row,
                     TIMEOUT, 0.2, "outbound message failed in Odoo")
    assert out["error_code"] == 131047
    # the reason is readable, in the language of the demo (English or Brazilian Portuguese)
    assert re.search(r"24 (hours|horas)", out["error_message"]) and "131047" in out["error_message"]
    # the attendant sees it in the conversation too
    notes = odoo_server.admin("mail.message", "search_read",
                              [("model", "=", "discuss.channel"), ("res_id", "=", svc["channel_id"][0])], ["body"])
    assert any(re.search(r"24 (hours|horas)", n["body"] or "") for n in notes)
