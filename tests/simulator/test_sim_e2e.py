"""The simulator on real sockets: uvicorn servers, background webhook delivery, the CLI, the bridge's provider."""

from __future__ import annotations

import base64
import subprocess
import sys
import time

import httpx
import pytest
from sim_helpers import VERSION, ServerThread, free_port, make_receiver, wait_for

from whatsapp_bridge.contract import rating_button_id
from whatsapp_bridge.simulator import (
    DEMO_ACCESS_TOKEN,
    DEMO_APP_SECRET,
    DEMO_PHONE_NUMBER_ID,
    DEMO_PORT,
    DEMO_VERIFY_TOKEN,
    SimConfig,
    build_parser,
    config_from_args,
    create_app,
)
from whatsapp_bridge.simulator import payloads as p

CUSTOMER = "5511987654321"


@pytest.fixture
def servers():
    receiver = make_receiver()
    receiver.verify_token = DEMO_VERIFY_TOKEN
    rport, sport = free_port(), free_port()
    config = SimConfig(webhook_url=f"http://127.0.0.1:{rport}/webhook", delivery_interval=0.02,
                       retry_base_delay=0.05, seed=7, verify_on_start=True)
    sim_app = create_app(config)
    with ServerThread(receiver.app, rport) as rec_server, ServerThread(sim_app, sport) as sim_server:
        yield receiver, rec_server, sim_server, sim_app.state.simulator


def test_real_servers_round_trip(servers):
    receiver, _, sim_server, sim = servers
    auth = {"Authorization": f"Bearer {DEMO_ACCESS_TOKEN}"}
    with httpx.Client(base_url=sim_server.url, timeout=5) as http:
        assert http.get("/").status_code == 200
        assert "WhatsApp simulator" in http.get("/").text
        r = http.post(f"/_sim/customers/{CUSTOMER}/send", json={"type": "text", "text": "hello", "name": "Maria"})
        assert r.status_code == 200
        r = http.post(f"/{VERSION}/{DEMO_PHONE_NUMBER_ID}/messages", headers=auth,
                      json={"messaging_product": "whatsapp", "to": CUSTOMER, "type": "text", "text": {"body": "Hi!"}})
        assert r.status_code == 200
        wamid = r.json()["messages"][0]["id"]
        assert wait_for(lambda: len(receiver.deliveries) >= 3)
        http.post(f"/_sim/customers/{CUSTOMER}/read")
        assert wait_for(lambda: len(receiver.deliveries) >= 4)
    assert [s for s in receiver.statuses() if s[0] == wamid] == [(wamid, "sent"), (wamid, "delivered"),
                                                                 (wamid, "read")]
    for raw, headers in receiver.deliveries:
        assert p.verify_signature(raw, headers["x-hub-signature-256"], DEMO_APP_SECRET)
        assert headers["user-agent"] == "facebookexternalua"
    # the receiver records before it answers: the simulator counts once the answer is back
    assert wait_for(lambda: sim.stats.webhooks_delivered == 4)


def test_timeout_fault_times_the_client_out_but_the_message_is_sent(servers):
    receiver, _, sim_server, sim = servers
    auth = {"Authorization": f"Bearer {DEMO_ACCESS_TOKEN}"}
    with httpx.Client(base_url=sim_server.url, timeout=5) as http:
        http.post(f"/_sim/customers/{CUSTOMER}/send", json={"type": "text", "text": "hello"})
        http.post("/_sim/faults", json={"timeout_next": 1, "timeout_seconds": 1.0})
        with pytest.raises(httpx.ReadTimeout):
            http.post(f"/{VERSION}/{DEMO_PHONE_NUMBER_ID}/messages", headers=auth, timeout=0.3,
                      json={"messaging_product": "whatsapp", "to": CUSTOMER, "type": "text", "text": {"body": "x"}})
        # like the real thing, the request that timed out on the client side still went through
        assert wait_for(lambda: http.get("/_sim/stats").json()["sends_accepted"] == 1, timeout=3)
        assert wait_for(lambda: any(s == "delivered" for _, s in receiver.statuses()))


def test_bridge_cloud_api_provider_against_the_simulator(servers):
    from whatsapp_bridge.config import BridgeConfig
    from whatsapp_bridge.providers import base, cloud_api

    receiver, _, sim_server, sim = servers
    config = BridgeConfig(odoo_url="http://odoo.invalid", odoo_db="x", odoo_login="bridge", odoo_api_key="k",
                          graph_base_url=sim_server.url, graph_version="v21.0", graph_timeout=5)
    provider = cloud_api.CloudApiProvider(config)
    assert provider.check() == (True, "ok")
    to = base.Recipient(wa_id=CUSTOMER)
    # outside the window (the customer never wrote): accepted, then a failed status 131047
    receipt = provider.send_text(to, "anyone there?")
    assert wait_for(lambda: (receipt.wamid, "failed") in receiver.statuses())
    # the customer writes a voice note; the bridge downloads it by media id
    ogg = b"OggS" + bytes(range(100))
    with httpx.Client(base_url=sim_server.url, timeout=5) as http:
        r = http.post(f"/_sim/customers/{CUSTOMER}/send",
                      json={"type": "audio", "data": base64.b64encode(ogg).decode(), "mime_type": "audio/ogg"})
        media_id = r.json()["message"]["audio"]["id"]
    fetched = provider.fetch_media(media_id)
    assert fetched.data == ogg
    assert fetched.mimetype.startswith("audio/ogg")
    # the attendant answers with text, a document and the rating buttons
    assert provider.send_text(to, "Hello Maria").wamid.startswith("wamid.")
    doc_id = provider.upload_media(b"%PDF-1.4 x", "application/pdf", "invoice.pdf")
    assert provider.fetch_media(doc_id).data == b"%PDF-1.4 x"
    provider.send_media(to, "document", doc_id, caption="Invoice", filename="invoice.pdf")
    token = "0f3c5a9e-77aa"
    buttons = [base.Button(rating_button_id(token, s), t) for s, t in ((5, "Satisfied"), (3, "Neutral"),
                                                                       (1, "Unsatisfied"))]
    rating = provider.send_interactive(to, "How did we do?", buttons)
    with httpx.Client(base_url=sim_server.url, timeout=5) as http:
        assert http.post(f"/_sim/customers/{CUSTOMER}/press",
                         json={"button_id": rating_button_id(token, 5)}).status_code == 200
    assert wait_for(lambda: any(m.get("interactive", {}).get("button_reply", {}).get("id") == f"rate:{token}:5"
                                for m in receiver.messages()))
    reply = receiver.messages()[-1]
    assert reply["context"]["id"] == rating.wamid
    # injected errors arrive classified
    sim.faults.update({"throttle_next": 1})
    with pytest.raises(base.ProviderError) as exc:
        provider.send_text(to, "x")
    assert exc.value.code == 130429 and exc.value.error_class is base.ErrorClass.RETRY
    sim.faults.update({"pair_rate_next": 1})
    with pytest.raises(base.ProviderError) as exc:
        provider.send_text(to, "x")
    assert exc.value.code == 131056 and exc.value.recipient_backoff
    sim.faults.update({"expired_token": True})
    with pytest.raises(base.ProviderError) as exc:
        provider.send_text(to, "x")
    assert exc.value.code == 190 and exc.value.error_class is base.ErrorClass.PAUSE
    assert provider.check()[0] is False


def test_verify_handshake_on_start(servers):
    receiver, _, sim_server, sim = servers
    with httpx.Client(base_url=sim_server.url, timeout=5) as http:
        done_at_start = http.get("/_sim/stats").json()["last_verification"]
        assert done_at_start["ok"] is True and done_at_start["status"] == 200
        assert http.post("/_sim/verify").json()["ok"] is True


def test_verify_handshake_failure_is_reported(make_sim, receiver):
    receiver.verify_token = "not the simulator's"
    sim = make_sim(verify_on_start=True)
    result = sim.client.get("/_sim/stats").json()["last_verification"]
    assert result["ok"] is False and result["status"] == 403


def test_cli_defaults_and_faults():
    args = build_parser().parse_args([])
    config = config_from_args(args)
    assert args.port == DEMO_PORT and args.host == "127.0.0.1"
    assert args.webhook_url == "http://127.0.0.1:8080/webhook"
    assert (config.access_token, config.app_secret, config.verify_token, config.phone_number_id) == (
        DEMO_ACCESS_TOKEN, DEMO_APP_SECRET, DEMO_VERIFY_TOKEN, DEMO_PHONE_NUMBER_ID)
    args = build_parser().parse_args(["--fault", "throttle_rate=0.25", "--fault", "expired_token=true",
                                      "--webhook-url", "", "--auto-read", "5", "--reengagement", "sync"])
    config = config_from_args(args)
    assert config.faults.throttle_rate == 0.25 and config.faults.expired_token is True
    assert config.webhook_url is None and config.auto_read_seconds == 5 and config.reengagement_mode == "sync"
    with pytest.raises(ValueError):
        config_from_args(build_parser().parse_args(["--fault", "bogus=1"]))


def test_cli_main_serves(tmp_path):
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "whatsapp_bridge.simulator", "--port", str(port),
                             "--webhook-url", "", "--log-level", "warning"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 15
        config = None
        while time.monotonic() < deadline and config is None:
            try:
                config = httpx.get(f"http://127.0.0.1:{port}/_sim/config", timeout=1).json()
            except httpx.HTTPError:
                time.sleep(0.1)
        assert config is not None, proc.stdout.read1().decode() if proc.poll() is not None else "not started"
        assert config["phone_number_id"] == DEMO_PHONE_NUMBER_ID and config["webhook_url"] is None
    finally:
        proc.terminate()
        proc.wait(10)
    bad = subprocess.run([sys.executable, "-m", "whatsapp_bridge.simulator", "--fault", "nope"],
                         capture_output=True, timeout=30)
    assert bad.returncode == 2
