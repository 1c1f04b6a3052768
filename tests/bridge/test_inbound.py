"""Inbound worker: real Redis, the simulator for media, the Odoo TEST DOUBLE."""

from __future__ import annotations

import base64
import copy
import json
import threading

import pytest
import redis

from whatsapp_bridge import contract
from whatsapp_bridge.inbound import InboundWorker
from whatsapp_bridge.keys import Keys
from whatsapp_bridge.odoo_client import OdooClient
from whatsapp_bridge.providers.cloud_api import CloudApiProvider
from whatsapp_bridge.streams import GROUP_IN, Streams

from .helpers import REDIS_URL, load_sample, wait_until

CUSTOMER = "5511987654321"


def make_worker(config, stop=None):
    client = redis.Redis.from_url(REDIS_URL)
    return InboundWorker(config, client, OdooClient(config), CloudApiProvider(config), stop or threading.Event())


def push(rds, prefix, body) -> str:
    text = body if isinstance(body, str) else json.dumps(body)
    return rds.xadd(f"{prefix}wa:in", {"payload": text}).decode()


def text_body(wamid, text, ts, wa_id=CUSTOMER, name="Maria"):
    body = copy.deepcopy(load_sample("text"))
    value = body["entry"][0]["changes"][0]["value"]
    value["contacts"] = [{"profile": {"name": name}, "wa_id": wa_id}]
    value["messages"][0].update(id=wamid, timestamp=str(ts), **{"from": wa_id})
    value["messages"][0]["text"]["body"] = text
    return body


def pending(rds, prefix) -> int:
    try:
        return rds.xpending(f"{prefix}wa:in", GROUP_IN)["pending"]
    except redis.ResponseError:
        return 0


def dead(rds, prefix) -> list[dict]:
    return [json.loads(fields[b"payload"]) for _, fields in rds.xrange(f"{prefix}wa:dead")]


def texts(odoo):
    return [m["text"] for m in odoo.items("ingest_messages")]


@pytest.fixture
def config(make_config):
    return make_config()


@pytest.fixture
def worker(config):
    w = make_worker(config)
    w.setup()
    return w


def test_text_message_reaches_odoo_and_is_acked(worker, odoo, rds, prefix):
    push(rds, prefix, load_sample("text"))
    report = worker.run_once(block_ms=200)
    (msg,) = odoo.items("ingest_messages")
    contract.validate_inbound_message(msg)
    assert msg["from"]["wa_id"] == CUSTOMER and msg["text"].startswith("Olá")
    assert report.messages == 1
    assert pending(rds, prefix) == 0
    assert rds.xlen(f"{prefix}wa:in") == 0  # acked and deleted


def test_statuses_reach_odoo(worker, odoo, rds, prefix):
    push(rds, prefix, load_sample("status_delivered"))
    push(rds, prefix, load_sample("status_failed"))
    worker.run_once(block_ms=200)
    statuses = odoo.items("ingest_statuses")
    assert [s["status"] for s in statuses] == ["delivered", "failed"]
    assert statuses[1]["error"]["code"] == 131047
    for status in statuses:
        contract.validate_status(status)


def test_media_is_downloaded_at_once_and_sent_base64(worker, odoo, rds, prefix, simulator):
    sim = simulator.state.simulator
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256))
    sim.customer_send(CUSTOMER, {"type": "image", "data": base64.b64encode(png).decode(), "mime_type": "image/png",
                                 "caption": "olha"})
    push(rds, prefix, sim.webhook_log[-1])
    voice = b"OggS" + b"\x07" * 300
    sim.customer_send(CUSTOMER, {"type": "audio", "data": base64.b64encode(voice).decode(), "mime_type": "audio/ogg"})
    push(rds, prefix, sim.webhook_log[-1])
    worker.run_once(block_ms=200)
    image, audio = odoo.items("ingest_messages")
    assert base64.b64decode(image["media"]["data"]) == png
    assert image["media"]["mimetype"] == "image/png" and image["media"]["caption"] == "olha"
    assert image["media"]["filename"].endswith(".png")
    assert base64.b64decode(audio["media"]["data"]) == voice
    assert audio["type"] == "audio" and audio["media"]["voice"] is True


def test_media_download_outage_is_retried_without_losing_order(config, odoo, rds, prefix, simulator):
    sim = simulator.state.simulator
    push(rds, prefix, text_body("wamid.T1", "antes", 1732240000))
    sim.customer_send(CUSTOMER, {"type": "image", "data": base64.b64encode(b"\xff\xd8\xff" * 10).decode()})
    push(rds, prefix, sim.webhook_log[-1])
    sim.faults.update({"server_error_next": 2})
    worker = make_worker(config)
    worker.setup()
    worker.run_once(block_ms=200)
    assert [m["type"] for m in odoo.items("ingest_messages")] == ["text", "image"]
    assert pending(rds, prefix) == 0


def test_expired_media_still_reaches_the_attendant_saying_why(worker, odoo, rds, prefix):
    push(rds, prefix, load_sample("image"))  # its media id does not exist in the simulator
    push(rds, prefix, text_body("wamid.T2", "depois", 1732240001))
    worker.run_once(block_ms=200)
    items = {m["wamid"]: m for m in odoo.items("ingest_messages")}  # two customers: two lanes, any order
    text = items.pop("wamid.T2")
    (image,) = items.values()
    assert image["wamid"].endswith("IMAGE1") and image["type"] == "unsupported" and "media" not in image
    assert "image could not be downloaded" in image["errors"][0]["message"]
    assert image["text"] == load_sample("image")["entry"][0]["changes"][0]["value"]["messages"][0]["image"].get(
        "caption", "")
    assert text["text"] == "depois"
    assert dead(rds, prefix) == [] and pending(rds, prefix) == 0


def test_duplicate_deliveries_are_ingested_once(worker, odoo, rds, prefix):
    body = text_body("wamid.DUP", "uma vez", 1732240000)
    push(rds, prefix, body)
    push(rds, prefix, body)
    worker.run_once(block_ms=200)
    push(rds, prefix, body)  # Meta retries days later
    report = worker.run_once(block_ms=200)
    assert texts(odoo) == ["uma vez"]
    sent = [m["wamid"] for method, batch in odoo.calls if method == "ingest_messages" for m in batch]
    assert sent == ["wamid.DUP"]  # the duplicates never reached Odoo
    assert report.duplicates == 1
    assert pending(rds, prefix) == 0


def test_per_customer_order_under_reordered_deliveries(worker, odoo, rds, prefix):
    # Meta delivered the customer's 2nd message before the 1st (and another customer in between)
    push(rds, prefix, text_body("wamid.M2", "segunda", 1732240005))
    push(rds, prefix, text_body("wamid.X1", "outro cliente", 1732240003, wa_id="5521998765432", name="Carlos"))
    push(rds, prefix, text_body("wamid.M1", "primeira", 1732240000))
    push(rds, prefix, text_body("wamid.M3", "terceira", 1732240005))  # same second: arrival order
    worker.run_once(block_ms=200)
    mine = [m["text"] for m in odoo.items("ingest_messages") if m["from"]["wa_id"] == CUSTOMER]
    assert mine == ["primeira", "segunda", "terceira"]


def test_lanes_send_customers_in_parallel_calls_each_in_order(make_config, odoo, rds, prefix):
    worker = make_worker(make_config(WA_INBOUND_LANES="4"))
    worker.setup()
    customers = [f"55119000000{n:02d}" for n in range(8)]
    for step in range(3):
        for n, wa_id in enumerate(customers):
            push(rds, prefix, text_body(f"wamid.L{n}.{step}", f"{wa_id}:{step}", 1732240000 + step, wa_id=wa_id))
    report = worker.run_once(block_ms=200)
    assert report.messages == 24 and pending(rds, prefix) == 0
    calls = [batch for method, batch in odoo.calls if method == "ingest_messages"]
    assert 1 < len(calls) <= 4, "several lanes, at most WA_INBOUND_LANES calls"
    for batch in calls:
        for wa_id in {m["from"]["wa_id"] for m in batch}:
            assert [m["text"] for m in batch if m["from"]["wa_id"] == wa_id] == [f"{wa_id}:{s}" for s in range(3)]
        assert not any(m["from"]["wa_id"] in {x["from"]["wa_id"] for x in other}
                       for other in calls if other is not batch for m in batch), "a customer in one lane only"


def test_one_lane_sends_one_call(make_config, odoo, rds, prefix):
    worker = make_worker(make_config(WA_INBOUND_LANES="1"))
    worker.setup()
    for n in range(4):
        push(rds, prefix, text_body(f"wamid.O{n}", f"m{n}", 1732240000 + n, wa_id=f"55119000001{n:02d}"))
    worker.run_once(block_ms=200)
    assert len([1 for method, _ in odoo.calls if method == "ingest_messages"]) == 1


def test_nothing_acked_while_odoo_is_down_then_delivered_in_order(config, odoo, rds, prefix):
    odoo.down = True
    stop = threading.Event()
    worker = make_worker(config, stop)
    worker.setup()
    for i in range(3):
        push(rds, prefix, text_body(f"wamid.D{i}", f"msg {i}", 1732240000 + i))
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    wait_until(lambda: pending(rds, prefix) == 3)
    stop.wait(1.0)  # several retries with backoff
    assert odoo.items("ingest_messages") == []
    assert pending(rds, prefix) == 3 and rds.xlen(f"{prefix}wa:in") == 3
    odoo.down = False
    wait_until(lambda: len(odoo.items("ingest_messages")) == 3)
    wait_until(lambda: pending(rds, prefix) == 0)
    stop.set()
    thread.join(5)
    assert texts(odoo) == ["msg 0", "msg 1", "msg 2"]


def test_stopping_during_an_outage_keeps_entries_for_the_next_start(config, odoo, rds, prefix):
    odoo.down = True
    stop = threading.Event()
    worker = make_worker(config, stop)
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    push(rds, prefix, text_body("wamid.S1", "guardada", 1732240000))
    wait_until(lambda: pending(rds, prefix) == 1)
    stop.set()
    thread.join(5)
    assert not thread.is_alive()
    assert pending(rds, prefix) == 1  # not acked: Odoo never accepted it
    odoo.down = False
    restarted = make_worker(config)
    restarted.setup()
    assert restarted.recover() == 1  # re-reads its own pending entry first
    assert texts(odoo) == ["guardada"]
    assert pending(rds, prefix) == 0


def test_serialization_failure_retries_the_same_batch(worker, odoo, rds, prefix):
    odoo.serialization_failures = 2
    push(rds, prefix, text_body("wamid.R1", "um", 1732240000))
    push(rds, prefix, text_body("wamid.R2", "dois", 1732240001))
    worker.run_once(block_ms=200)
    assert texts(odoo) == ["um", "dois"]
    assert odoo.attempts("ingest_messages") == 3


def test_refused_item_is_isolated_and_dead_lettered_alone(worker, odoo, rds, prefix):
    odoo.refuse_wamids = {"wamid.BAD"}
    push(rds, prefix, text_body("wamid.G1", "boa 1", 1732240000))
    bad_entry = push(rds, prefix, text_body("wamid.BAD", "ruim", 1732240001))
    push(rds, prefix, text_body("wamid.G2", "boa 2", 1732240002))
    worker.run_once(block_ms=200)
    assert texts(odoo) == ["boa 1", "boa 2"]
    (letter,) = dead(rds, prefix)
    assert letter["entry_id"] == bad_entry
    assert "ValidationError" in letter["reason"] and "refused by the test double" in letter["reason"]
    assert letter["item"]["wamid"] == "wamid.BAD"
    assert json.loads(letter["payload"])["entry"][0]["changes"][0]["value"]["messages"][0]["id"] == "wamid.BAD"
    assert pending(rds, prefix) == 0


def test_unreadable_body_is_dead_lettered_with_the_reason(worker, odoo, rds, prefix):
    push(rds, prefix, "this is not json")
    push(rds, prefix, {"object": "page", "entry": []})
    push(rds, prefix, text_body("wamid.OK", "ok", 1732240000))
    worker.run_once(block_ms=200)
    letters = dead(rds, prefix)
    assert [letter["payload"] for letter in letters][0] == "this is not json"
    assert all("unreadable webhook body" in letter["reason"] for letter in letters)
    assert len(letters) == 2
    assert texts(odoo) == ["ok"]
    assert pending(rds, prefix) == 0


def test_unknown_status_is_retried_then_dead_lettered(make_config, odoo, rds, prefix):
    config = make_config(WA_STATUS_UNKNOWN_RETRIES="2", WA_STATUS_UNKNOWN_DELAY_SECONDS="0")
    worker = make_worker(config)
    worker.setup()
    body = load_sample("status_delivered")
    wamid = body["entry"][0]["changes"][0]["value"]["statuses"][0]["id"]
    odoo.unknown_wamids = {wamid}
    push(rds, prefix, body)
    for _ in range(5):
        worker.run_once(block_ms=50)
    tries = [s for method, batch in odoo.calls if method == "ingest_statuses" for s in batch if s["wamid"] == wamid]
    assert len(tries) == 3  # first try + 2 retries
    (letter,) = dead(rds, prefix)
    assert "does not know" in letter["reason"]
    assert rds.zcard(Keys(prefix).retry_statuses) == 0
    assert pending(rds, prefix) == 0


def test_unknown_status_applies_once_odoo_knows_the_message(make_config, odoo, rds, prefix):
    config = make_config(WA_STATUS_UNKNOWN_RETRIES="3", WA_STATUS_UNKNOWN_DELAY_SECONDS="0")
    worker = make_worker(config)
    worker.setup()
    body = load_sample("status_read")
    wamid = body["entry"][0]["changes"][0]["value"]["statuses"][0]["id"]
    odoo.unknown_wamids = {wamid}
    push(rds, prefix, body)
    worker.run_once(block_ms=50)
    assert odoo.items("ingest_statuses") == []
    odoo.unknown_wamids = set()  # the send result has been reported meanwhile
    worker.run_once(block_ms=50)
    assert [s["status"] for s in odoo.items("ingest_statuses")] == ["read"]
    assert dead(rds, prefix) == []
    assert rds.zcard(Keys(prefix).retry_statuses) == 0


def test_restarted_worker_reprocesses_its_own_pending_entries(config, odoo, rds, prefix):
    crashed = make_worker(config)
    crashed.setup()
    push(rds, prefix, text_body("wamid.C1", "antes do crash", 1732240000))
    # the worker read the entry, then died before Odoo answered
    Streams(rds, prefix).read_new(contract.STREAM_IN, GROUP_IN, crashed.consumer, 10, None)
    assert pending(rds, prefix) == 1
    restarted = make_worker(config)
    restarted.setup()
    restarted.recover()
    assert texts(odoo) == ["antes do crash"]
    assert pending(rds, prefix) == 0


def test_entries_of_a_dead_consumer_are_claimed(make_config, odoo, rds, prefix):
    config = make_config(WA_CLAIM_IDLE_MS="100")
    worker = make_worker(config)
    worker.setup()
    push(rds, prefix, text_body("wamid.Z1", "de outro worker", 1732240000))
    Streams(rds, prefix).read_new(contract.STREAM_IN, GROUP_IN, "other-host-in", 10, None)
    assert worker.recover() == 0  # not idle long enough yet: the other consumer may be alive
    assert texts(odoo) == []
    wait_until(lambda: worker.recover() == 1, timeout=5, interval=0.05)
    assert texts(odoo) == ["de outro worker"]
    assert pending(rds, prefix) == 0


def test_refused_odoo_api_key_raises_an_alert_until_fixed(make_config, odoo, rds, prefix):
    stop = threading.Event()
    worker = make_worker(make_config(), stop)
    worker.odoo = OdooClient(make_config(WA_ODOO_API_KEY="revoked-key"))
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    push(rds, prefix, text_body("wamid.K1", "chave", 1732240000))
    alert = wait_until(lambda: rds.get(f"{prefix}wa:alert:odoo"))
    assert "WA_ODOO_API_KEY" in json.loads(alert)["action"]
    assert pending(rds, prefix) == 1 and texts(odoo) == []
    worker.odoo = OdooClient(make_config())  # the operator fixed the key (a restart, in real life)
    wait_until(lambda: texts(odoo) == ["chave"])
    wait_until(lambda: rds.get(f"{prefix}wa:alert:odoo") is None)
    stop.set()
    thread.join(5)


def _image_bodies(sim, rds, prefix, count, size):
    for n in range(count):
        data = bytes([n]) * size
        sim.customer_send(f"55119000002{n:02d}", {"type": "image", "data": base64.b64encode(data).decode(),
                                                   "mime_type": "image/jpeg", "caption": f"photo {n}"})
        push(rds, prefix, sim.webhook_log[-1])


def test_media_heavy_batches_are_split_under_the_request_budget(make_config, odoo, rds, prefix, simulator):
    """Six 350 KB photos with a 1 MiB budget per call: several calls, each under the budget, all in order."""
    worker = make_worker(make_config(WA_ODOO_REQUEST_MB="1", WA_INBOUND_LANES="1"))
    worker.setup()
    _image_bodies(simulator.state.simulator, rds, prefix, 6, 350_000)
    report = worker.run_once(block_ms=300)
    assert report.messages == 6 and pending(rds, prefix) == 0 and not dead(rds, prefix)
    calls = [batch for method, batch in odoo.calls if method == "ingest_messages"]
    assert len(calls) == 3, "two photos (2 x 467 KB of base64) per 1 MiB call"
    assert max(odoo.request_sizes) < 1.2 * 1024 * 1024
    assert [m["media"]["caption"] for m in odoo.items("ingest_messages")] == [f"photo {n}" for n in range(6)]


def test_media_too_large_for_odoo_is_dead_lettered_by_name_and_the_rest_delivered(make_config, odoo, rds,
                                                                                   prefix, simulator):
    odoo.max_request_bytes = 600_000  # Odoo answers 413 above this
    worker = make_worker(make_config(WA_INBOUND_LANES="1"))
    worker.setup()
    sim = simulator.state.simulator
    push(rds, prefix, text_body("wamid.big.before", "before", 1732240000))
    _image_bodies(sim, rds, prefix, 1, 1_000_000)
    push(rds, prefix, text_body("wamid.big.after", "after", 1732240100))
    worker.run_once(block_ms=300)
    assert texts(odoo) == ["before", "after"]
    letters = dead(rds, prefix)
    assert len(letters) == 1 and pending(rds, prefix) == 0
    assert "too large" in letters[0]["reason"] and "HTTP 413" in letters[0]["reason"]


def test_bridge_user_without_rights_keeps_everything_and_alerts_until_fixed(config, odoo, rds, prefix):
    odoo.access_error = True  # an admin removed the bridge user from its group
    push(rds, prefix, text_body("wamid.AE1", "sem direitos", 1732240000))
    push(rds, prefix, load_sample("status_read"))
    stop = threading.Event()
    worker = make_worker(config, stop)
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    try:
        alert = json.loads(wait_until(lambda: rds.get(f"{prefix}wa:alert:odoo")))
        assert "rights" in alert["action"] and "WA_ODOO_LOGIN" in alert["action"]
        assert "AccessError" in alert["reason"] or "not allowed" in alert["reason"]
        wait_until(lambda: odoo.attempts("ingest_messages") >= 3)  # retried, not given up
        assert dead(rds, prefix) == [] and texts(odoo) == []
        assert pending(rds, prefix) == 2
        odoo.access_error = False  # the rights are restored
        wait_until(lambda: texts(odoo) == ["sem direitos"])
        wait_until(lambda: [s["status"] for s in odoo.items("ingest_statuses")] == ["read"])
        wait_until(lambda: pending(rds, prefix) == 0)
        wait_until(lambda: rds.get(f"{prefix}wa:alert:odoo") is None)
        assert dead(rds, prefix) == []
    finally:
        stop.set()
        thread.join(5)


def test_one_unreadable_message_of_a_batched_body_is_dead_lettered_alone(worker, odoo, rds, prefix):
    body = load_sample("batched")
    bad = {"from": CUSTOMER, "id": "wamid.BADREACTION", "timestamp": "1732239999", "type": "reaction",
           "reaction": {"emoji": "\U0001f44d"}}  # no message_id: the parser cannot tell what was reacted to
    body["entry"][0]["changes"][0]["value"]["messages"].insert(0, bad)
    entry_id = push(rds, prefix, body)
    worker.run_once(block_ms=200)
    assert texts(odoo) == ["primeira", "segunda"]  # the rest of the body: same change, other change, other entry
    assert [s["status"] for s in odoo.items("ingest_statuses")] == ["delivered"]
    (letter,) = dead(rds, prefix)
    assert letter["entry_id"] == entry_id
    assert "entry[0].changes[0].value.messages[0].reaction.message_id" in letter["reason"]
    assert letter["item"]["id"] == "wamid.BADREACTION"
    assert json.loads(letter["payload"]) == body  # the original webhook body
    assert pending(rds, prefix) == 0


def test_a_persistent_odoo_server_error_keeps_the_batch_and_alerts_an_operator(make_config, odoo, rds, prefix):
    odoo.server_error = "'partner_id'"  # a bug in Odoo hit by this batch, on every attempt
    stop = threading.Event()
    worker = make_worker(make_config(WA_BACKOFF_MAX_SECONDS="0.05"), stop)
    worker.setup()
    push(rds, prefix, text_body("wamid.S1", "hello", 1732240000))
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    alert = json.loads(wait_until(lambda: rds.get(f"{prefix}wa:alert:odoo")))
    assert "KeyError" in alert["reason"] and "Odoo's log" in alert["action"]
    assert dead(rds, prefix) == [] and pending(rds, prefix) == 1, "nothing dropped on a guess"
    odoo.server_error = None  # fixed
    wait_until(lambda: texts(odoo) == ["hello"])
    wait_until(lambda: rds.get(f"{prefix}wa:alert:odoo") is None)
    stop.set()
    thread.join(5)
