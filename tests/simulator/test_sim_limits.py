"""Bounded memory: media, messages, customers and logs are capped (oldest dropped first)."""

from __future__ import annotations

from whatsapp_bridge.simulator import SimConfig, Simulator


def test_media_store_evicts_oldest_past_the_byte_cap():
    sim = Simulator(SimConfig(webhook_url=None, max_media_bytes=1000, max_media_items=100))
    ids = [sim.store_media(b"x" * 300, "image/png", "business").id for _ in range(5)]
    assert sim.media.total <= 1000
    assert [m for m in ids if sim.media.get(m, sim.now())] == ids[-3:]


def test_media_store_item_cap():
    sim = Simulator(SimConfig(webhook_url=None, max_media_items=2))
    ids = [sim.store_media(b"x", "image/png", "business").id for _ in range(4)]
    assert list(sim.media.items) == ids[-2:]


def test_messages_customers_and_webhook_log_are_capped():
    sim = Simulator(SimConfig(webhook_url=None, max_messages_per_customer=3, max_customers=2, max_webhook_log=4))
    for i in range(5):
        sim.customer_send("5511987654321", {"type": "text", "text": f"m{i}"})
    cust = sim.customer("5511987654321")
    assert [m.content["text"]["body"] for m in cust.messages] == ["m2", "m3", "m4"]
    assert len(sim.webhook_log) == 4
    sim.customer_send("5511900000001", {"type": "text", "text": "a"})
    sim.customer_send("5511900000002", {"type": "text", "text": "b"})
    assert list(sim.customers) == ["5511900000001", "5511900000002"]


def test_pending_webhooks_are_capped():
    sim = Simulator(SimConfig(webhook_url="http://127.0.0.1:9/none", max_pending_webhooks=3))
    for i in range(5):
        sim.customer_send("5511987654321", {"type": "text", "text": f"m{i}"})
    assert len(sim.pending) == 3
    assert sim.stats.webhooks_given_up == 2
