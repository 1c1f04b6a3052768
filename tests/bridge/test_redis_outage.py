"""The workers against a Redis that goes away and comes back (a private ``redis-server``, not the shared one)."""

from __future__ import annotations

import json
import logging
import subprocess
import threading

import pytest
import redis

from whatsapp_bridge.inbound import InboundWorker
from whatsapp_bridge.odoo_client import OdooClient
from whatsapp_bridge.outbound import OutboundWorker
from whatsapp_bridge.providers.cloud_api import CloudApiProvider
from whatsapp_bridge.ratelimit import RecipientBackoff

from .helpers import free_port, wait_until
from .test_inbound import text_body
from .test_outbound import CUSTOMER, job


class RedisServer:
    """A throwaway ``redis-server`` without persistence: a restart loses every key, like a real crash."""

    def __init__(self, directory):
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.directory = directory
        self.proc: subprocess.Popen | None = None

    def start(self) -> RedisServer:
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            cwd=self.directory, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis.from_url(self.url)
        try:
            wait_until(lambda: _pings(client), timeout=5)
        finally:
            client.close()
        return self

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url)


def _pings(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False


@pytest.fixture
def private_redis(tmp_path):
    server = RedisServer(tmp_path).start()
    yield server
    server.kill()


def _push(server: RedisServer, stream: str, payload: dict) -> None:
    client = server.client()
    try:
        client.xadd(stream, {"payload": json.dumps(payload)})
    finally:
        client.close()


def _run(worker) -> threading.Thread:
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    return thread


def test_inbound_worker_survives_a_redis_restart(make_config, odoo, prefix, private_redis, caplog):
    config = make_config(WA_REDIS_URL=private_redis.url)
    stop = threading.Event()
    worker = InboundWorker(config, private_redis.client(), OdooClient(config), CloudApiProvider(config), stop)
    thread = _run(worker)
    try:
        _push(private_redis, f"{prefix}wa:in", text_body("wamid.RS1", "antes", 1732240000))
        wait_until(lambda: [m["text"] for m in odoo.items("ingest_messages")] == ["antes"], timeout=5)
        with caplog.at_level(logging.ERROR, logger="whatsapp_bridge.inbound"):
            private_redis.kill()  # Redis restarts (and, without persistence, forgets the stream and its group)
            wait_until(lambda: any("Redis unavailable" in r.getMessage() for r in caplog.records), timeout=5)
            private_redis.start()
        _push(private_redis, f"{prefix}wa:in", text_body("wamid.RS2", "depois", 1732240001))
        wait_until(lambda: [m["text"] for m in odoo.items("ingest_messages")] == ["antes", "depois"], timeout=5)
        assert thread.is_alive()
    finally:
        stop.set()
        thread.join(5)
    assert not thread.is_alive()


def test_outbound_worker_survives_a_redis_restart(make_config, odoo, simulator, prefix, private_redis, caplog):
    sim = simulator.state.simulator
    sim.ensure_customer(CUSTOMER)
    sim.customer_send(CUSTOMER, {"type": "text", "text": "oi"})  # inside the 24 h window
    config = make_config(WA_REDIS_URL=private_redis.url)
    stop = threading.Event()
    worker = OutboundWorker(config, private_redis.client(), OdooClient(config), CloudApiProvider(config), stop,
                            backoff=RecipientBackoff(base=0.1, cap=0.5))
    thread = _run(worker)
    try:
        _push(private_redis, f"{prefix}wa:out", job(81, "antes"))
        wait_until(lambda: [r["message_id"] for r in odoo.items("report_send_results")] == [81], timeout=5)
        with caplog.at_level(logging.ERROR, logger="whatsapp_bridge.outbound"):
            private_redis.kill()
            wait_until(lambda: any("Redis unavailable" in r.getMessage() for r in caplog.records), timeout=5)
            private_redis.start()
        _push(private_redis, f"{prefix}wa:out", job(82, "depois"))
        wait_until(lambda: [r["message_id"] for r in odoo.items("report_send_results")] == [81, 82], timeout=5)
        assert thread.is_alive()
        assert [m.content["text"]["body"] for m in sim.customer(CUSTOMER).messages if m.direction == "out"] == [
            "antes", "depois"]
    finally:
        stop.set()
        thread.join(5)
    assert not thread.is_alive()
