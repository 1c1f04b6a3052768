"""Two customers routed to a team at the same moment, by two concurrent requests into a real Odoo:
automatic assignment never gives an attendant more services than their capacity.

Each request runs in its own REPEATABLE READ transaction and counts the attendant's services in its
own snapshot, so both would see a free slot; the addon serialises assignments on the attendant's
row (``whatsapp.service._whatsapp_lock_attendant``) and Odoo replays the loser on a fresh snapshot.
"""

from __future__ import annotations

import threading
import time
import uuid

from whatsapp_bridge import contract
from whatsapp_bridge.config import BridgeConfig
from whatsapp_bridge.odoo_client import OdooClient

DEMO_ACCOUNT = "106540352242922"


def _ref(odoo_server, xmlid: str) -> int:
    module, name = xmlid.split(".")
    return odoo_server.admin("ir.model.data", "search_read", [("module", "=", module), ("name", "=", name)],
                             ["res_id"])[0]["res_id"]


def _waiting_customer(client: OdooClient, wa_id: str) -> int:
    message = contract.validate_inbound_message({
        "v": 1, "account": DEMO_ACCOUNT, "wamid": f"wamid.assign-race.{uuid.uuid4().hex}",
        "timestamp": int(time.time()), "from": {"wa_id": wa_id, "name": f"Race {wa_id[-4:]}"}, "type": "text",
        "text": "Preciso de ajuda"})
    return client.ingest_messages([message])[0]["service_id"]


def test_two_customers_routed_at_once_never_overbook_an_attendant(odoo_server, bridge_api_key):
    client = OdooClient(BridgeConfig(odoo_url=odoo_server.url, odoo_db=odoo_server.db, odoo_login="whatsapp-bridge",
                                     odoo_api_key=bridge_api_key))
    client.authenticate()
    attendant_group = _ref(odoo_server, "whatsapp_attendance.group_whatsapp_attendant")
    rounds = 4
    company = odoo_server.admin("res.users", "read", [odoo_server.rpc("common", "authenticate", odoo_server.db, "admin",
                                                                      "admin", {})], ["company_id"])[0]["company_id"]
    company_lang = odoo_server.admin("res.partner", "read", [odoo_server.admin(
        "res.company", "read", [company[0]], ["partner_id"])[0]["partner_id"][0]], ["lang"])[0]["lang"]
    for round_no in range(rounds):
        tag = uuid.uuid4().hex[:6]
        user_id = odoo_server.admin("res.users", "create", {
            "name": f"Race Attendant {tag}", "login": f"race-{tag}", "whatsapp_capacity": 1,
            "groups_id": [(4, attendant_group)]})
        odoo_server.admin("bus.presence", "create", {"user_id": user_id, "status": "online"})
        team_id = odoo_server.admin("whatsapp.team", "create", {
            "name": f"Race team {tag}", "auto_assign": True, "member_ids": [(4, user_id)]})
        services = [_waiting_customer(client, f"5511977{round_no:02d}{i:04d}") for i in range(2)]
        wizards = [odoo_server.admin("whatsapp.service.transfer", "create", {
            "service_id": service_id, "transfer_to": "team", "team_id": team_id}) for service_id in services]
        errors: list = []
        start = threading.Barrier(len(wizards))

        def transfer(wizard_id, errors=errors, start=start):
            try:
                start.wait()
                odoo_server.admin("whatsapp.service.transfer", "action_transfer", [wizard_id])
            except Exception as error:  # noqa: BLE001 - reported by the test thread
                errors.append(repr(error))

        threads = [threading.Thread(target=transfer, args=(wizard_id,)) for wizard_id in wizards]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        assert not errors, f"round {round_no}: {errors}"
        found = odoo_server.admin("whatsapp.service", "read", services, ["state", "user_id", "assignment_note"])
        states = sorted(service["state"] for service in found)
        assert states == ["in_progress", "waiting"], f"round {round_no}: capacity 1, yet {found}"
        assigned = next(service for service in found if service["state"] == "in_progress")
        assert assigned["user_id"][0] == user_id
        waiting = next(service for service in found if service["state"] == "waiting")
        # staff-facing: in the company's language (the e2e database is the demo's, whose company speaks pt_BR)
        assert waiting["assignment_note"] == {
            "pt_BR": f"Aguardando atribuição automática: todos os atendentes online de Race team {tag} estão no "
                     "limite de atendimentos simultâneos.",
        }.get(company_lang, f"Waiting for automatic assignment: every online attendant of Race team {tag} is at "
                            "their limit of simultaneous services."), waiting["assignment_note"]
