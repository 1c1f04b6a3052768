"""End to end: a new customer answers the menu on their phone until an attendant takes over.

The simulator (the customer's phone) -> the bridge -> Odoo sends the menu as a WhatsApp list message
(contract feature ``menus``) -> the bridge -> the simulator renders it; the customer picks a row ->
Odoo routes the service to the team's queue; an attendant takes it and answers.
"""

from __future__ import annotations

import random

import pytest

from .bridge_procs import OdooUser, wait_until

TIMEOUT = 40
ACCOUNT = "106540352242922"  # the demo account, served by the bridge in demo mode


@pytest.fixture(scope="module")
def ana(odoo_server):
    return OdooUser(odoo_server, "ana", "ana")


@pytest.fixture
def menu(odoo_server):
    """A four-option menu (sent as a list) on the demo account, taken off again after the test: the
    other end-to-end tests use the account as the plain queue."""
    admin = odoo_server.admin
    account_id = admin("whatsapp.account", "search", [("phone_number_id", "=", ACCOUNT)])[0]
    # Ana answers this team (she is in the demo's teams, so another team's customer is not hers to take)
    ana_ids = admin("res.users", "search", [("login", "=", "ana")])
    team_id = admin("whatsapp.team", "create", {"name": f"Vendas E2E {random.randrange(10**6)}",
                                                "member_ids": [(6, 0, ana_ids)]})
    submenu_id = admin("whatsapp.menu", "create", {"name": "Financeiro E2E", "body": "Sobre o quê?", "option_ids": [
        (0, 0, {"name": "Falar com alguém", "action": "human"})]})
    menu_id = admin("whatsapp.menu", "create", {"name": "Principal E2E", "body": "Olá! Como podemos ajudar?",
                                                "list_button": "Opções", "option_ids": [
        (0, 0, {"name": "Comprar", "description": "Pedidos novos", "action": "team", "team_id": team_id,
                "sequence": 1}),
        (0, 0, {"name": "Boletos", "action": "submenu", "submenu_id": submenu_id, "sequence": 2}),
        (0, 0, {"name": "Horário", "action": "answer", "answer": "Das 8h às 17h.", "sequence": 3}),
        (0, 0, {"name": "Atendente", "action": "human", "sequence": 4})]})
    admin("whatsapp.account", "write", [account_id], {"menu_id": menu_id})
    try:
        yield {"menu_id": menu_id, "team_id": team_id}
    finally:
        admin("whatsapp.account", "write", [account_id], {"menu_id": False})


def test_customer_picks_a_list_row_and_lands_in_the_team_queue_then_an_attendant_answers(stack, odoo_server, ana,
                                                                                         menu):
    admin = odoo_server.admin
    customer = "55119" + "".join(random.choices("0123456789", k=8))
    sent = stack.sim.send(customer, {"type": "text", "text": "Oi", "name": "Caio Menu"})
    message = wait_until(lambda: (admin("whatsapp.message", "search_read", [("wamid", "=", sent["id"])],
                                        ["service_id"]) or [None])[0], TIMEOUT, 0.2, "the message in Odoo")
    service_id = message["service_id"][0]

    def menu_on_the_phone():
        return next((m for m in stack.sim.outbound(customer) if m["type"] == "interactive"), None)

    shown = wait_until(menu_on_the_phone, TIMEOUT, 0.2, "the menu on the customer's phone")
    interactive = shown["content"]["interactive"]
    assert interactive["type"] == "list" and interactive["action"]["button"] == "Opções"
    rows = interactive["action"]["sections"][0]["rows"]
    # its own "Atendente" option: no second, automatic "talk to an attendant" row
    assert [r["title"] for r in rows] == ["Comprar", "Boletos", "Horário", "Atendente"]
    assert rows[0]["description"] == "Pedidos novos"
    assert "Olá! Como podemos ajudar?" in interactive["body"]["text"]
    svc = admin("whatsapp.service", "read", [service_id], ["menu_id", "state"])[0]
    assert svc["menu_id"][0] == menu["menu_id"] and svc["state"] == "waiting"
    assert service_id not in [s["id"] for s in ana("whatsapp.service", "whatsapp_queue")], "not queued yet"

    stack.sim.press(customer, row_id=rows[0]["id"])
    wait_until(lambda: admin("whatsapp.service", "read", [service_id], ["team_id"])[0]["team_id"], TIMEOUT, 0.2,
               "the service routed to the team")
    svc = admin("whatsapp.service", "read", [service_id], ["menu_id", "team_id", "state", "channel_id"])[0]
    assert svc["menu_id"] is False and svc["team_id"][0] == menu["team_id"] and svc["state"] == "waiting"

    ana("whatsapp.service", "action_take", [service_id])
    ana("discuss.channel", "message_post", [svc["channel_id"][0]], body="Olá Caio, o que deseja comprar?",
        message_type="comment", subtype_xmlid="mail.mt_comment")
    wait_until(lambda: any((m["content"].get("text") or {}).get("body") == "Olá Caio, o que deseja comprar?"
                           for m in stack.sim.outbound(customer)), TIMEOUT, 0.2, "the attendant's answer on the phone")
    automatic = admin("whatsapp.message", "search_read", [("service_id", "=", service_id),
                                                          ("automatic_kind", "!=", False)], ["attendant_id"])
    assert automatic and all(m["attendant_id"] is False for m in automatic)
    # the menu never speaks again once the attendant is there
    before = len(stack.sim.outbound(customer))
    stack.sim.send(customer, {"type": "text", "text": "2"})
    wait_until(lambda: admin("whatsapp.message", "search_count", [("service_id", "=", service_id),
                                                                  ("direction", "=", "inbound")]) == 3,
               TIMEOUT, 0.2, "the customer's next message in Odoo")
    assert len(stack.sim.outbound(customer)) == before
