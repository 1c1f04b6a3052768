"""End to end: a customer silent for 25 hours gets an approved template.

Odoo (JSON-RPC as the administrator and as ``ana``) -> wa:control / wa:out -> the bridge processes
-> the Cloud API simulator (the customer's phone) -> statuses back to Odoo.
"""

from __future__ import annotations

import random

import pytest

from .bridge_procs import OdooUser, wait_until

TIMEOUT = 40
ACCOUNT = "106540352242922"  # the demo account, served by the bridge in demo mode


def new_customer() -> str:
    return "55119" + "".join(random.choices("0123456789", k=8))


@pytest.fixture(scope="module")
def ana(odoo_server):
    return OdooUser(odoo_server, "ana", "ana")


def test_customer_silent_for_25_hours_gets_the_approved_template(stack, odoo_server, ana):
    admin = odoo_server.admin
    account_id = admin("whatsapp.account", "search", [("phone_number_id", "=", ACCOUNT)])[0]
    name = f"retomar_{random.randrange(10**6)}"
    template_id = admin("whatsapp.template", "create", {
        "name": name, "language": "pt_BR", "account_id": account_id, "category": "utility",
        "body": "Olá {{1}}! Sobre o atendimento {{2}}: podemos continuar?",
        "variable_ids": [(0, 0, {"number": 1, "value": "customer_name", "sample": "Maria"}),
                         (0, 0, {"number": 2, "value": "service_reference", "sample": "WA/1"})],
        "button_ids": [(0, 0, {"name": "Sim"}), (0, 0, {"name": "Depois"})],
    })
    admin("whatsapp.template", "action_submit", [template_id])
    # the bridge submits it; the simulator (demo review) approves it at once; Odoo learns it
    wait_until(lambda: admin("whatsapp.template", "read", [template_id], ["state"])[0]["state"] == "approved",
               TIMEOUT, 0.3, "the template approved in Odoo")
    learned = stack.sim.ctl("GET", "/templates")["templates"]
    assert any(t["name"] == name and t["status"] == "APPROVED" for t in learned)

    customer = new_customer()
    sent = stack.sim.send(customer, {"type": "text", "text": "Oi, preciso de ajuda", "name": "Rita E2E"})
    message = wait_until(lambda: (admin("whatsapp.message", "search_read", [("wamid", "=", sent["id"])],
                                        ["service_id"]) or [None])[0], TIMEOUT, 0.2, "the message in Odoo")
    service_id = message["service_id"][0]
    ana("whatsapp.service", "action_take", [service_id])
    # 25 hours of silence, on both sides: Odoo's record of it and WhatsApp's clock
    admin("whatsapp.service", "write", [service_id], {"last_inbound_at": "2026-01-01 00:00:00"})
    stack.sim.advance(hours=25)
    svc = admin("whatsapp.service", "read", [service_id], ["channel_id", "name", "window_open"])[0]
    assert svc["window_open"] is False

    with pytest.raises(Exception, match="WhatsApp only lets you send an approved template"):
        ana("discuss.channel", "message_post", [svc["channel_id"][0]], body="Oi Rita?", message_type="comment",
            subtype_xmlid="mail.mt_comment")
    listed = ana("whatsapp.service", "whatsapp_templates", [service_id])
    assert name in [t["name"] for t in listed]

    ana("whatsapp.service", "action_send_template", [service_id], template_id)
    out = wait_until(lambda: next((m for m in stack.sim.outbound(customer) if m["type"] == "template"), None),
                     TIMEOUT, 0.2, "the template on the customer's phone")
    assert out["rendered"]["body"] == f"Olá Rita E2E! Sobre o atendimento {svc['name']}: podemos continuar?"
    assert [b["text"] for b in out["rendered"]["buttons"]] == ["Sim", "Depois"]
    assert all(m["type"] == "template" for m in stack.sim.outbound(customer)), "nothing free-form went out"

    def odoo_state():
        rows = admin("whatsapp.message", "search_read", [("service_id", "=", service_id),
                                                         ("direction", "=", "outbound")], ["state", "message_type"])
        return rows[0] if rows and rows[0]["state"] == "delivered" else None
    assert wait_until(odoo_state, TIMEOUT, 0.3, "delivered in Odoo")["message_type"] == "template"

    # the customer taps a quick reply: it is their answer in the conversation, and the window opens again
    reply = stack.sim.press(customer, title="Sim")
    stored = wait_until(lambda: (admin("whatsapp.message", "search_read", [("wamid", "=", reply["id"])],
                                       ["body", "service_id"]) or [None])[0], TIMEOUT, 0.2, "the reply in Odoo")
    assert stored["body"] == "Sim" and stored["service_id"][0] == service_id
    assert admin("whatsapp.service", "read", [service_id], ["window_open"])[0]["window_open"] is True
