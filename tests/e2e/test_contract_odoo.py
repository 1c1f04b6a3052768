"""The contract, from the bridge's side, against the real addon in a real Odoo server."""

from __future__ import annotations

import time
import uuid

import pytest

from whatsapp_bridge import contract
from whatsapp_bridge.config import BridgeConfig
from whatsapp_bridge.odoo_client import OdooClient, OdooPermanentError

DEMO_ACCOUNT = "106540352242922"


@pytest.fixture(scope="module")
def odoo(odoo_server):
    config = BridgeConfig(odoo_url=odoo_server.url, odoo_db=odoo_server.db, odoo_login="whatsapp-bridge",
                          odoo_api_key=odoo_server.bridge_api_key())
    return OdooClient(config)


def _message(wa_id: str, text: str) -> dict:
    return contract.validate_inbound_message({
        "v": 1, "account": DEMO_ACCOUNT, "wamid": f"wamid.e2e.{uuid.uuid4().hex}", "timestamp": int(time.time()),
        "from": {"wa_id": wa_id, "name": "E2E Customer"}, "type": "text", "text": text})


def test_versions_match(odoo):
    info = odoo.check_contract()
    assert info["version"] == contract.CONTRACT_VERSION
    assert set(info["methods"]) == set(contract.API_METHODS)


def test_ingest_is_idempotent_over_the_wire(odoo, odoo_server):
    batch = [_message("5511988880001", "hello over JSON-RPC"), _message("5511988880001", "second")]
    first = odoo.ingest_messages(batch)
    again = odoo.ingest_messages(batch)
    assert [r["message_id"] for r in first] == [r["message_id"] for r in again]
    assert [r["duplicate"] for r in again] == [True, True]
    service = odoo_server.admin("whatsapp.service", "read", [first[0]["service_id"]], ["state", "channel_id"])[0]
    assert service["state"] == "waiting"
    bodies = odoo_server.admin("mail.message", "search_read",
                               [("model", "=", "discuss.channel"), ("res_id", "=", service["channel_id"][0])],
                               ["body"])
    assert any("hello over JSON-RPC" in m["body"] for m in bodies)


def test_a_bad_item_is_refused_by_name_and_nothing_written(odoo, odoo_server):
    good, bad = _message("5511988880002", "fine"), _message("5511988880003", "bad")
    bad["from"]["wa_id"] = "not-a-number"
    with pytest.raises(contract.ContractError):
        odoo.ingest_messages([good, bad])   # the bridge checks before sending...
    with pytest.raises(OdooPermanentError) as refused:
        odoo.call("ingest_messages", [good, bad])   # ...and Odoo checks again
    assert "messages[1].from.wa_id" in str(refused.value)
    assert refused.value.item_index == 1
    assert odoo_server.admin("res.partner", "search_count", [("whatsapp_phone", "=", "+5511988880002")]) == 0


def test_the_phone_s_messages_over_the_wire_history_idempotent_and_a_bad_one_refused_by_name(odoo, odoo_server):
    """``ingest_history`` / ``ingest_phone_messages`` (feature ``history``) with what the session process builds."""
    from whatsapp_bridge.session.service import phone_payload

    assert "history" in odoo.check_contract()["features"]
    account = odoo_server.admin("whatsapp.account", "create", {
        "name": "Contract web", "provider": "web", "phone_number_id": f"web-c-{uuid.uuid4().hex[:6]}"})
    key = odoo_server.admin("whatsapp.account", "read", [account], ["phone_number_id"])[0]["phone_number_id"]
    now = int(time.time())
    chat = [phone_payload(key, {"id": f"3AC{uuid.uuid4().hex[:10]}", "timestamp": now - 60, "type": "text",
                                "text": "history, customer", "from": {"phone": "5511988880009"}}, None),
            phone_payload(key, {"id": f"3AC{uuid.uuid4().hex[:10]}", "timestamp": now - 30, "type": "image",
                                "text": "", "from": {"phone": "5511988880009"}, "from_me": True,
                                "media": {"mimetype": "image/png"}}, None)]
    assert chat[1]["type"] == "unsupported"  # a history file not downloaded: shown as such, with its reason
    first = odoo.call("ingest_history", chat)
    again = odoo.call("ingest_history", chat)
    assert [r["message_id"] for r in first] == [r["message_id"] for r in again] and all(r["duplicate"] for r in again)
    service = odoo_server.admin("whatsapp.service", "read", [first[0]["service_id"]], ["state", "end_reason"])[0]
    assert (service["state"], service["end_reason"]) == ("done", "phone")
    mine = dict(chat[0], wamid=f"3AC{uuid.uuid4().hex[:10]}", from_me=True)
    assert odoo.call("ingest_phone_messages", [mine])[0]["service_id"] == first[0]["service_id"]
    with pytest.raises(OdooPermanentError) as refused:
        odoo.call("ingest_phone_messages", [dict(mine, wamid="3ACother", from_me=False)])
    assert "messages[0].from_me" in str(refused.value)
