from __future__ import annotations

import asyncio
import json
from contextlib import contextmanager

import httpx
import pytest

from whatsapp_bridge.webhook import create_app, sign

from .helpers import ServerThread, closed_port_url, load_sample


@contextmanager
def serve(config):
    """The webhook app under uvicorn on a random port (lifespan, async Redis pool and all)."""
    server = ServerThread(create_app(config)).start()
    try:
        with httpx.Client(base_url=server.url, timeout=10) as client:
            yield client
    finally:
        server.stop()


@pytest.fixture
def config(make_config):
    return make_config()


@pytest.fixture
def client(config):
    with serve(config) as test_client:
        yield test_client


def stored(rds, prefix):
    return rds.xrange(f"{prefix}wa:in")


def test_verification_handshake(client, config):
    ok = client.get("/webhook", params={"hub.mode": "subscribe", "hub.verify_token": config.verify_token,
                                        "hub.challenge": "1158201444"})
    assert ok.status_code == 200
    assert ok.text == "1158201444"
    wrong = client.get("/webhook", params={"hub.mode": "subscribe", "hub.verify_token": "nope",
                                           "hub.challenge": "1158201444"})
    assert wrong.status_code == 403
    assert "1158201444" not in wrong.text
    assert client.get("/webhook", params={"hub.verify_token": config.verify_token}).status_code == 403


def test_signed_body_is_stored_raw(client, config, rds, prefix):
    body = json.dumps(load_sample("text")).encode()
    response = client.post("/webhook", content=body, headers={"X-Hub-Signature-256": sign(config.app_secret, body)})
    assert response.status_code == 200
    entries = stored(rds, prefix)
    assert len(entries) == 1
    assert entries[0][1][b"payload"] == body  # byte for byte: the worker parses it later


def test_missing_signature_is_refused_and_nothing_stored(client, rds, prefix):
    body = json.dumps(load_sample("text")).encode()
    assert client.post("/webhook", content=body).status_code == 401
    assert stored(rds, prefix) == []


@pytest.mark.parametrize("header", ["sha256=" + "0" * 64, "sha1=abc", "sha256=", "garbage"])
def test_forged_signature_is_refused_and_nothing_stored(client, rds, prefix, header):
    body = json.dumps(load_sample("text")).encode()
    assert client.post("/webhook", content=body, headers={"X-Hub-Signature-256": header}).status_code == 403
    assert stored(rds, prefix) == []


def test_body_changed_after_signing_is_refused(client, config, rds, prefix):
    body = json.dumps(load_sample("text")).encode()
    header = sign(config.app_secret, body)
    tampered = body.replace(b"pedido", b"PEDIDO")
    assert client.post("/webhook", content=tampered, headers={"X-Hub-Signature-256": header}).status_code == 403
    assert stored(rds, prefix) == []


def test_signed_with_another_secret_is_refused(client, rds, prefix):
    body = b'{"object":"whatsapp_business_account","entry":[]}'
    header = sign("another-secret-0123456789abcdef0123", body)
    assert client.post("/webhook", content=body, headers={"X-Hub-Signature-256": header}).status_code == 403
    assert stored(rds, prefix) == []


def test_redis_down_answers_503_so_meta_retries(make_config):
    config = make_config(WA_REDIS_URL=closed_port_url("redis"))
    body = b'{"object":"whatsapp_business_account","entry":[]}'
    with serve(config) as client:
        response = client.post("/webhook", content=body, headers={"X-Hub-Signature-256": sign(config.app_secret, body)})
    assert response.status_code == 503


def test_health_reports_streams_and_dependencies(client, config, rds, prefix):
    rds.xadd(f"{prefix}wa:dead", {"payload": "{}"})
    body = client.get("/health")
    data = body.json()
    assert body.status_code == 200, data
    assert data["status"] == "ok"
    assert data["redis"]["ok"] and data["odoo"]["ok"] and data["whatsapp"]["ok"]
    assert data["streams"][f"{prefix}wa:dead"]["length"] == 1
    assert data["dead_letters"] == 1
    assert data["streams"]["status_retries"] == 0
    assert data["streams"][f"{prefix}wa:in"] == {"length": 0, "pending": 0, "served_by": None}
    assert data["alerts"] == []


def test_health_is_degraded_when_odoo_and_graph_are_down(make_config):
    config = make_config(WA_ODOO_URL=closed_port_url(), WA_GRAPH_BASE_URL=closed_port_url())
    with serve(config) as client:
        response = client.get("/health")
    data = response.json()
    assert response.status_code == 503
    assert data["status"] == "degraded"
    assert data["redis"]["ok"] is True
    assert data["odoo"]["ok"] is False
    assert data["whatsapp"]["ok"] is False


def test_oversized_body_is_refused(client, config, rds, prefix):
    body = b'{"object":"whatsapp_business_account","entry":[],"pad":"' + b"x" * (4 * 1024 * 1024) + b'"}'
    response = client.post("/webhook", content=body, headers={"X-Hub-Signature-256": sign(config.app_secret, body)})
    assert response.status_code == 413
    assert stored(rds, prefix) == []


def test_a_burst_beyond_the_redis_pool_is_queued_not_refused(config, rds, prefix):
    """More requests in flight than the pool has connections (64): each waits for a free
    connection instead of getting a spurious 503, and every event is stored once."""
    body = json.dumps(load_sample("text")).encode()
    headers = {"X-Hub-Signature-256": sign(config.app_secret, body)}
    server = ServerThread(create_app(config)).start()

    async def burst():
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
        async with httpx.AsyncClient(base_url=server.url, timeout=20, limits=limits) as client:
            return await asyncio.gather(*(client.post("/webhook", content=body, headers=headers) for _ in range(200)))

    try:
        responses = asyncio.run(burst())
    finally:
        server.stop()
    assert [r.status_code for r in responses] == [200] * 200
    assert len(stored(rds, prefix)) == 200
