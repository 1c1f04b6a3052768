"""The simulator's signed webhooks against the bridge's real webhook endpoint (needs a local Redis)."""

from __future__ import annotations

import json
import os
import uuid

import httpx
import pytest
import redis
from sim_helpers import VERSION, ServerThread, free_port, wait_for

from whatsapp_bridge import meta_parser, webhook
from whatsapp_bridge.simulator import DEMO_ACCESS_TOKEN, DEMO_PHONE_NUMBER_ID, SimConfig, create_app

CUSTOMER = "5511987654321"


@pytest.fixture
def rds():
    client = redis.Redis.from_url(os.environ.get("WA_REDIS_URL", "redis://127.0.0.1:6379/0"))
    client.ping()   # no Redis is a failure, not a skip
    yield client
    client.close()


def test_bridge_accepts_and_stores_every_simulator_webhook(rds):
    from whatsapp_bridge.config import BridgeConfig

    prefix = f"simtest:{uuid.uuid4().hex[:8]}:"
    bport, sport = free_port(), free_port()
    bridge_config = BridgeConfig(odoo_url="http://odoo.invalid", odoo_db="x", odoo_login="bridge", odoo_api_key="k",
                                 stream_prefix=prefix, graph_base_url=f"http://127.0.0.1:{sport}")
    sim_config = SimConfig(webhook_url=f"http://127.0.0.1:{bport}/webhook", delivery_interval=0.02,
                           retry_base_delay=0.05, verify_on_start=True)
    sim_app = create_app(sim_config)
    stream = f"{prefix}wa:in"
    try:
        with ServerThread(webhook.create_app(bridge_config), bport), ServerThread(sim_app, sport) as sim_server, \
                httpx.Client(base_url=sim_server.url, timeout=5) as http:
            assert http.get("/_sim/stats").json()["last_verification"]["ok"] is True
            http.post(f"/_sim/customers/{CUSTOMER}/send", json={"type": "text", "text": "olá / ação ✓", "name": "João"})
            http.post(f"/_sim/customers/{CUSTOMER}/send", json={"type": "location", "latitude": 1.5, "longitude": 2})
            r = http.post(f"/{VERSION}/{DEMO_PHONE_NUMBER_ID}/messages",
                          headers={"Authorization": f"Bearer {DEMO_ACCESS_TOKEN}"},
                          json={"messaging_product": "whatsapp", "to": CUSTOMER, "type": "text",
                                "text": {"body": "Olá João"}})
            assert r.status_code == 200
            assert wait_for(lambda: rds.xlen(stream) == 4)
            stats = http.get("/_sim/stats").json()
            assert stats["webhooks_delivered"] == 4 and stats["webhook_failures"] == 0
        kinds = []
        for _, fields in rds.xrange(stream):
            parsed = meta_parser.parse_webhook(json.loads(fields[b"payload"]))
            kinds += [m.type for m in parsed.messages] + [s.status for s in parsed.statuses]
        assert kinds == ["text", "location", "sent", "delivered"]
        first = meta_parser.parse_webhook(json.loads(rds.xrange(stream)[0][1][b"payload"])).messages[0]
        assert first.text == "olá / ação ✓" and first.sender.name == "João"
    finally:
        rds.delete(stream)
