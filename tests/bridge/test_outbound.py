"""Outbound worker: real Redis, the simulator as Graph API, the Odoo TEST DOUBLE."""

from __future__ import annotations

import base64
import json
import threading
import time

import pytest
import redis

from whatsapp_bridge import contract
from whatsapp_bridge.keys import Keys
from whatsapp_bridge.odoo_client import OdooClient
from whatsapp_bridge.outbound import THROTTLE_PAUSE_SECONDS, OutboundWorker
from whatsapp_bridge.providers.cloud_api import CloudApiProvider
from whatsapp_bridge.ratelimit import RecipientBackoff
from whatsapp_bridge.simulator import DEMO_PHONE_NUMBER_ID
from whatsapp_bridge.streams import GROUP_OUT

from .helpers import REDIS_URL, ROOT, audio_seconds, make_mp3, wait_until
from .test_webhook import serve

CUSTOMER = "5511987654321"
OTHER = "5521998765432"


def job(message_id, text="Olá!", to=CUSTOMER, jtype="text", **extra):
    data = {"v": 1, "message_id": message_id, "account": DEMO_PHONE_NUMBER_ID, "to": {"wa_id": to, "user_id": None},
            "type": jtype, "text": text, "reply_to": None, "attachment": None, "buttons": None}
    data.update(extra)
    return contract.validate_outbound_job(data)


def push(rds, prefix, payload) -> str:
    text = payload if isinstance(payload, str) else json.dumps(payload)
    return rds.xadd(f"{prefix}wa:out", {"payload": text}).decode()


def pending(rds, prefix) -> int:
    try:
        return rds.xpending(f"{prefix}wa:out", GROUP_OUT)["pending"]
    except redis.ResponseError:
        return 0


def make_worker(config, backoff=None, stop=None):
    client = redis.Redis.from_url(REDIS_URL)
    worker = OutboundWorker(config, client, OdooClient(config), CloudApiProvider(config), stop or threading.Event(),
                            backoff=backoff or RecipientBackoff(base=0.1, cap=0.5), concurrency=4)
    worker.setup()
    return worker


def sent(sim, customer=CUSTOMER):
    cust = sim.customer(customer)
    return [m for m in cust.messages if m.direction == "out"] if cust else []


def results(odoo):
    found = odoo.items("report_send_results")
    for item in found:
        contract.validate_send_result(item)
    return found


@pytest.fixture
def sim(simulator):
    sim = simulator.state.simulator
    for number in (CUSTOMER, OTHER):
        sim.ensure_customer(number)
        sim.customer_send(number, {"type": "text", "text": "oi"})  # inside the 24 h window
    return sim


@pytest.fixture
def config(make_config):
    return make_config()


def test_text_job_is_sent_and_reported(config, sim, odoo, rds, prefix):
    push(rds, prefix, job(42, "Olá Maria"))
    make_worker(config).run_once(block_ms=200)
    (msg,) = sent(sim)
    assert msg.content["text"]["body"] == "Olá Maria"
    assert results(odoo) == [{"v": 1, "message_id": 42, "state": "sent", "wamid": msg.id}]
    assert rds.get(f"{prefix}wa:sent:42").decode() == msg.id
    assert pending(rds, prefix) == 0


def test_same_job_twice_is_sent_once_and_reported_twice(config, sim, odoo, rds, prefix):
    worker = make_worker(config)
    push(rds, prefix, job(7, "só uma vez"))
    push(rds, prefix, job(7, "só uma vez"))  # re-pushed by Odoo's cron in the same instant
    worker.run_once(block_ms=200)
    push(rds, prefix, job(7, "só uma vez"))  # and again later
    worker.run_once(block_ms=200)
    (msg,) = sent(sim)
    reported = results(odoo)
    assert len(reported) == 3
    assert {r["wamid"] for r in reported} == {msg.id}


def test_reply_to_is_sent_as_context(config, sim, odoo, rds, prefix):
    inbound = sim.customer_send(CUSTOMER, {"type": "text", "text": "pergunta"})
    push(rds, prefix, job(8, "resposta", reply_to=inbound.id))
    make_worker(config).run_once(block_ms=200)
    assert sent(sim)[-1].content["context"] == {"message_id": inbound.id}


def test_voice_note_is_read_from_odoo_uploaded_and_sent_as_audio(config, sim, odoo, rds, prefix):
    voice = (ROOT / "data" / "samples" / "voice_note.ogg").read_bytes()  # a real Ogg/Opus voice note
    odoo.attachments[9] = {"filename": "nota.ogg", "mimetype": "audio/ogg", "data": base64.b64encode(voice).decode()}
    push(rds, prefix, job(9, "", jtype="audio",
                          attachment={"id": 3, "filename": "nota.ogg", "mimetype": "audio/ogg", "voice": True}))
    make_worker(config).run_once(block_ms=200)
    (msg,) = sent(sim)
    assert msg.content["type"] == "audio"
    assert sim.media.get(msg.content["audio"]["id"], sim.now()).data == voice
    assert odoo.items("read_attachment") == [{"v": 1, "message_id": 9}]
    assert results(odoo)[0]["state"] == "sent"


def test_discuss_mp3_voice_message_reaches_whatsapp_as_an_ogg_opus_voice_note(config, sim, odoo, rds, prefix):
    mp3 = make_mp3(2.0)  # what Odoo 18's Discuss recorder produces, declared audio/mp3
    odoo.attachments[19] = {"filename": "Voice message.mp3", "mimetype": "audio/mp3",
                            "data": base64.b64encode(mp3).decode()}
    push(rds, prefix, job(19, None, jtype="audio",
                          attachment={"id": 13, "filename": "Voice message.mp3", "mimetype": "audio/mp3",
                                      "voice": True}))
    make_worker(config).run_once(block_ms=200)
    (msg,) = sent(sim)
    media = sim.media.get(msg.content["audio"]["id"], sim.now())
    assert media.mime_type == "audio/ogg; codecs=opus"
    codec, seconds = audio_seconds(media.data)
    assert codec == "opus" and abs(seconds - 2.0) < 0.1
    assert results(odoo)[0]["state"] == "sent"


def test_unreadable_voice_note_fails_with_a_reason(config, sim, odoo, rds, prefix):
    odoo.attachments[20] = {"filename": "broken.mp3", "mimetype": "audio/mp3",
                            "data": base64.b64encode(b"not audio" * 50).decode()}
    push(rds, prefix, job(20, None, jtype="audio",
                          attachment={"id": 14, "filename": "broken.mp3", "mimetype": "audio/mp3", "voice": True}))
    make_worker(config).run_once(block_ms=200)
    (result,) = results(odoo)
    assert result["state"] == "failed" and "broken.mp3" in result["error"]["message"]
    assert "not a readable audio file" in result["error"]["message"]
    assert sent(sim) == []


def test_document_with_caption(config, sim, odoo, rds, prefix):
    odoo.attachments[10] = {"filename": "orcamento.pdf", "mimetype": "application/pdf",
                            "data": base64.b64encode(b"%PDF-1.4 x").decode()}
    push(rds, prefix, job(10, "Seu orçamento", jtype="document",
                          attachment={"id": 4, "filename": "orcamento.pdf", "mimetype": "application/pdf"}))
    make_worker(config).run_once(block_ms=200)
    body = sent(sim)[0].content
    assert body["document"]["caption"] == "Seu orçamento" and body["document"]["filename"] == "orcamento.pdf"


def test_missing_attachment_fails_with_a_reason(config, sim, odoo, rds, prefix):
    push(rds, prefix, job(11, "", jtype="image", attachment={"id": 5, "mimetype": "image/png"}))
    make_worker(config).run_once(block_ms=200)
    (result,) = results(odoo)
    assert result["state"] == "failed" and "attachment" in result["error"]["message"]
    assert sent(sim) == []


def test_rating_request_uses_reply_buttons(config, sim, odoo, rds, prefix):
    buttons = [{"id": contract.rating_button_id("AbCdEf123456", s), "title": t}
               for s, t in ((5, "Satisfeito"), (3, "Neutro"), (1, "Insatisfeito"))]
    push(rds, prefix, job(12, "Como foi o atendimento?", jtype="interactive", buttons=buttons))
    make_worker(config).run_once(block_ms=200)
    body = sent(sim)[0].content
    assert body["interactive"]["type"] == "button"
    assert [b["reply"] for b in body["interactive"]["action"]["buttons"]] == buttons
    assert results(odoo)[0]["state"] == "sent"


def test_menu_list_job_is_sent_as_a_list_message_and_the_customer_can_pick_a_row(config, sim, odoo, rds, prefix):
    menu = {"button": "Opções", "rows": [
        {"id": "menu:1", "title": "Comprar", "description": "Pedidos novos"},
        {"id": "menu:2", "title": "Boletos", "description": ""},
        {"id": "menu:human", "title": "Falar com atendente", "description": ""}]}
    push(rds, prefix, job(13, "Olá! Como podemos ajudar?", jtype="interactive", list=menu))
    make_worker(config).run_once(block_ms=200)
    body = sent(sim)[0].content
    assert body["interactive"]["type"] == "list"
    assert body["interactive"]["action"]["button"] == "Opções"
    (section,) = body["interactive"]["action"]["sections"]
    assert [r["id"] for r in section["rows"]] == ["menu:1", "menu:2", "menu:human"]
    assert section["rows"][0]["description"] == "Pedidos novos" and "description" not in section["rows"][1]
    assert results(odoo)[0]["state"] == "sent"
    reply = sim.press(CUSTOMER, {"row_id": "menu:2"})
    assert reply.content["interactive"]["list_reply"] == {"id": "menu:2", "title": "Boletos"}


def test_outside_24h_window_is_reported_failed_with_reason(config, sim, odoo, rds, prefix):
    sim.config.reengagement_mode = "sync"
    sim.advance(25 * 3600)
    push(rds, prefix, job(13, "tarde demais"))
    worker = make_worker(config)
    worker.run_once(block_ms=200)
    (result,) = results(odoo)
    assert result["state"] == "failed"
    assert result["error"]["code"] == 131047 and "24 hours" in result["error"]["message"]
    assert pending(rds, prefix) == 0
    push(rds, prefix, job(13, "tarde demais"))  # re-pushed: the failure is re-reported, not re-tried
    worker.run_once(block_ms=200)
    assert [r["state"] for r in results(odoo)] == ["failed", "failed"]
    assert sim.stats.rejected_by_code == {"131047": 1}


def test_pair_rate_limit_backs_off_only_that_recipient(config, sim, odoo, rds, prefix):
    sim.faults.update({"pair_rate_min_interval": 600})  # at most one message per 10 (simulated) minutes per customer
    push(rds, prefix, job(20, "primeira", to=CUSTOMER))
    push(rds, prefix, job(21, "segunda", to=CUSTOMER))
    push(rds, prefix, job(22, "terceira", to=CUSTOMER))
    push(rds, prefix, job(23, "outro cliente", to=OTHER))
    worker = make_worker(config)
    worker.run_once(block_ms=200)
    assert [m.content["text"]["body"] for m in sent(sim, OTHER)] == ["outro cliente"]
    # the 2nd hit the pair limit (131056); the 3rd waits behind it
    assert [m.content["text"]["body"] for m in sent(sim, CUSTOMER)] == ["primeira"]
    assert pending(rds, prefix) == 2
    assert sim.stats.rejected_by_code == {"131056": 1}
    sim.faults.update({"pair_rate_min_interval": 0})
    deadline = time.monotonic() + 5
    while pending(rds, prefix) and time.monotonic() < deadline:
        worker.run_once(block_ms=100)
    assert [m.content["text"]["body"] for m in sent(sim, CUSTOMER)] == ["primeira", "segunda", "terceira"]
    assert sorted(r["message_id"] for r in results(odoo)) == [20, 21, 22, 23]
    assert all(r["state"] == "sent" for r in results(odoo))


def test_per_recipient_order_is_kept(config, sim, odoo, rds, prefix):
    for i in range(6):
        push(rds, prefix, job(30 + i, f"parte {i}", to=CUSTOMER if i % 2 == 0 else OTHER))
    make_worker(config).run_once(block_ms=200)
    assert [m.content["text"]["body"] for m in sent(sim, CUSTOMER)] == ["parte 0", "parte 2", "parte 4"]
    assert [m.content["text"]["body"] for m in sent(sim, OTHER)] == ["parte 1", "parte 3", "parte 5"]


def test_expired_token_pauses_sending_keeps_jobs_and_alerts(make_config, sim, odoo, rds, prefix):
    # long enough that the checks below (a web server started for /health) finish inside it
    config = make_config(WA_PAUSE_PROBE_SECONDS="2")
    sim.faults.update({"expired_token": True})
    push(rds, prefix, job(40, "um"))
    push(rds, prefix, job(41, "dois", to=OTHER))
    worker = make_worker(config)
    worker.run_once(block_ms=200)
    assert results(odoo) == [] and pending(rds, prefix) == 2
    refused = sim.stats.rejected_by_code["190"]  # 1 or 2: both recipients may have been in flight at once
    alert = json.loads(rds.get(Keys(prefix).alert("outbound")))
    assert alert["code"] == 190 and "token" in alert["reason"]
    with serve(config) as client:
        health = client.get("/health").json()
    assert health["alerts"][0]["code"] == 190 and health["status"] == "degraded"
    worker.run_once(block_ms=50)  # still paused: no probe before WA_PAUSE_PROBE_SECONDS
    assert sim.stats.rejected_by_code["190"] == refused  # no new call to Graph while paused
    sim.faults.update({"expired_token": False})  # the operator fixed the token
    deadline = time.monotonic() + 10
    while pending(rds, prefix) and time.monotonic() < deadline:
        worker.run_once(block_ms=100)
    assert sorted(r["message_id"] for r in results(odoo)) == [40, 41]
    assert rds.get(Keys(prefix).alert("outbound")) is None


def test_transient_errors_give_up_after_max_attempts(make_config, sim, odoo, rds, prefix):
    config = make_config(WA_SEND_MAX_ATTEMPTS="3")
    sim.faults.update({"server_error_rate": 1.0})
    push(rds, prefix, job(50, "nunca"))
    worker = make_worker(config)
    deadline = time.monotonic() + 5
    while not results(odoo) and time.monotonic() < deadline:
        worker.run_once(block_ms=100)
    (result,) = results(odoo)
    assert result["state"] == "failed" and "gave up after 3 attempts" in result["error"]["message"]
    assert pending(rds, prefix) == 0


def test_throttling_retries_then_sends(config, sim, odoo, rds, prefix):
    sim.faults.update({"throttle_next": 2})
    push(rds, prefix, job(51, "com calma"))
    worker = make_worker(config)
    deadline = time.monotonic() + 5
    while not results(odoo) and time.monotonic() < deadline:
        worker.run_once(block_ms=100)
    assert results(odoo)[0]["state"] == "sent"
    assert len(sent(sim)) == 1


def test_number_throughput_limit_makes_every_recipient_wait(config, sim, odoo, rds, prefix):
    sim.faults.update({"throttle_next": 1})  # 130429: the number's messages per second were exceeded
    push(rds, prefix, job(52, "primeiro", to=CUSTOMER))
    push(rds, prefix, job(53, "segundo", to=OTHER))
    worker = OutboundWorker(config, redis.Redis.from_url(REDIS_URL), OdooClient(config), CloudApiProvider(config),
                            backoff=RecipientBackoff(base=0.1, cap=0.5), concurrency=1)  # CUSTOMER, then OTHER
    worker.setup()
    start = time.monotonic()
    worker.run_once(block_ms=200)
    elapsed = time.monotonic() - start
    assert sim.stats.rejected_by_code == {"130429": 1}
    assert [m.content["text"]["body"] for m in sent(sim, OTHER)] == ["segundo"]
    assert elapsed >= THROTTLE_PAUSE_SECONDS * 0.9, "the other recipient waited for the number's pause too"
    deadline = time.monotonic() + 5
    while pending(rds, prefix) and time.monotonic() < deadline:
        worker.run_once(block_ms=100)
    assert [m.content["text"]["body"] for m in sent(sim, CUSTOMER)] == ["primeiro"]
    assert sorted((r["message_id"], r["state"]) for r in results(odoo)) == [(52, "sent"), (53, "sent")]


def test_invalid_job_is_dead_lettered_with_the_field(config, sim, odoo, rds, prefix):
    bad = dict(job(60), buttons=None, type="interactive")
    push(rds, prefix, bad)
    push(rds, prefix, "{not json")
    make_worker(config).run_once(block_ms=200)
    letters = [json.loads(f[b"payload"]) for _, f in rds.xrange(f"{prefix}wa:dead")]
    assert "job.buttons" in letters[0]["reason"]
    assert letters[0]["payload"] == json.dumps(bad)
    assert len(letters) == 2
    assert pending(rds, prefix) == 0 and sent(sim) == []


def test_unknown_account_is_reported_failed(config, sim, odoo, rds, prefix):
    push(rds, prefix, job(61, "oi", account="999"))
    make_worker(config).run_once(block_ms=200)
    (result,) = results(odoo)
    assert result["state"] == "failed" and "999" in result["error"]["message"]


def test_result_not_acked_while_odoo_is_down_and_not_resent_later(config, sim, odoo, rds, prefix):
    odoo.down = True
    stop = threading.Event()
    worker = make_worker(config, stop=stop)
    push(rds, prefix, job(70, "uma só"))
    thread = threading.Thread(target=worker.run_once, kwargs={"block_ms": 200}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 5
    while not sent(sim) and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.5)
    stop.set()  # the bridge is stopped while Odoo is still down
    thread.join(5)
    assert pending(rds, prefix) == 1
    odoo.down = False
    make_worker(config).run_once(block_ms=200)  # restarted bridge
    assert len(sent(sim)) == 1
    assert [r["wamid"] for r in results(odoo)] == [sent(sim)[0].id]
    assert pending(rds, prefix) == 0


def test_token_bucket_limits_the_send_rate(make_config, sim, odoo, rds, prefix):
    config = make_config(WA_RATE_PER_SECOND="20")
    numbers = [f"55119000{i:05d}" for i in range(24)]
    for i, number in enumerate(numbers):
        push(rds, prefix, job(100 + i, "promo", to=number))
    worker = make_worker(config)
    start = time.monotonic()
    worker.run_once(block_ms=200)
    elapsed = time.monotonic() - start
    assert len(results(odoo)) == 24
    assert elapsed >= (24 - 2) / 20 * 0.95  # 2 tokens of burst, then 20 per second


def test_a_persistent_odoo_server_error_on_send_results_alerts_and_sends_nothing_twice(make_config, sim, odoo,
                                                                                        rds, prefix):
    odoo.server_error = "'wamid'"  # a bug in Odoo hit on every report of this result
    stop = threading.Event()
    worker = make_worker(make_config(WA_BACKOFF_MAX_SECONDS="0.05"), stop=stop)
    push(rds, prefix, job(60, "Olá de novo"))
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    alert = json.loads(wait_until(lambda: rds.get(f"{prefix}wa:alert:odoo")))
    assert "report_send_results" in alert["reason"] and "Odoo's log" in alert["action"]
    assert len(sent(sim)) == 1 and pending(rds, prefix) == 1, "sent once, kept until Odoo has the result"
    odoo.server_error = None  # fixed
    wait_until(lambda: [r["message_id"] for r in results(odoo)] == [60])
    wait_until(lambda: rds.get(f"{prefix}wa:alert:odoo") is None)
    stop.set()
    thread.join(5)
    assert len(sent(sim)) == 1
