"""One customer, named two ways, ingested by two concurrent calls into a real Odoo: one contact.

Two bridge processes (or an integrator beside the bridge) may send messages of one person at the
same moment: one call names them with WhatsApp's business-scoped user id and phone number, the
other with the phone number only. Odoo runs each call in its own REPEATABLE READ transaction; the
addon must still end with one contact and one open service.
"""

from __future__ import annotations

import threading
import time
import uuid

from whatsapp_bridge import contract
from whatsapp_bridge.config import BridgeConfig
from whatsapp_bridge.odoo_client import OdooClient

DEMO_ACCOUNT = "106540352242922"


def _message(wa_id: str, text: str, user_id: str | None = None) -> dict:
    sender = {"wa_id": wa_id, "name": "Race Customer"}
    if user_id:
        sender["user_id"] = user_id
    return contract.validate_inbound_message({
        "v": 1, "account": DEMO_ACCOUNT, "wamid": f"wamid.race.{uuid.uuid4().hex}", "timestamp": int(time.time()),
        "from": sender, "type": "text", "text": text})


def test_two_concurrent_calls_for_one_person_named_two_ways_make_one_contact(odoo_server, bridge_api_key):
    config = BridgeConfig(odoo_url=odoo_server.url, odoo_db=odoo_server.db, odoo_login="whatsapp-bridge",
                          odoo_api_key=bridge_api_key)
    rounds = 4
    for round_no in range(rounds):
        wa_id = f"55119777{round_no:05d}"
        calls = [
            [_message(wa_id, f"with id {i}", user_id=f"BR.race{round_no}") for i in range(3)],
            [_message(wa_id, f"phone only {i}") for i in range(3)],
        ]
        results: list = [None, None]
        start = threading.Barrier(2)

        def ingest(index, batch, results=results, start=start):
            client = OdooClient(config)  # a session of its own: two real concurrent requests
            client.authenticate()
            start.wait()
            results[index] = client.ingest_messages(batch)

        threads = [threading.Thread(target=ingest, args=(i, batch)) for i, batch in enumerate(calls)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        assert all(results), f"round {round_no}: a call failed"
        partners = {r["partner_id"] for part in results for r in part}
        services = {r["service_id"] for part in results for r in part}
        assert len(partners) == 1, f"round {round_no}: one person became {len(partners)} contacts"
        assert len(services) == 1, f"round {round_no}: {len(services)} open services for one person"
        found = odoo_server.admin("res.partner", "search_read", [("whatsapp_phone", "=", f"+{wa_id}")],
                                  ["whatsapp_user_id"])
        assert [p["whatsapp_user_id"] for p in found] == [f"BR.race{round_no}"]
