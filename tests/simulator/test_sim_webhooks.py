"""Signed webhooks: statuses, customer messages, button presses, duplicates, reordering, retries."""

from __future__ import annotations

import hashlib
import hmac
import json

from whatsapp_bridge.contract import parse_rating_button_id, rating_button_id
from whatsapp_bridge.simulator import payloads as p

CUSTOMER = "5511987654321"


def _value(body):
    assert body["object"] == "whatsapp_business_account"
    assert len(body["entry"]) == 1
    change = body["entry"][0]["changes"][0]
    assert change["field"] == "messages"
    return change["value"]


def test_status_sequence_and_signatures(sim, receiver):
    sim.customer_says(CUSTOMER, "hi", name="Maria")
    wamid = sim.send_text(CUSTOMER, "Hello Maria").json()["messages"][0]["id"]
    result = sim.flush()
    assert result["delivered"] == 3 and result["pending"] == 0
    assert sim.client.post(f"/_sim/customers/{CUSTOMER}/read").json() == {"read": 1}
    sim.flush()
    assert [s for s in receiver.statuses() if s[0] == wamid] == [(wamid, "sent"), (wamid, "delivered"),
                                                                 (wamid, "read")]
    for raw, headers in receiver.deliveries:
        expected = "sha256=" + hmac.new(sim.cfg.app_secret.encode(), raw, hashlib.sha256).hexdigest()
        assert headers["x-hub-signature-256"] == expected
        assert headers["content-type"] == "application/json"
        wrong = "sha256=" + hmac.new(b"other-secret", raw, hashlib.sha256).hexdigest()
        assert headers["x-hub-signature-256"] != wrong
        assert p.verify_signature(raw, headers["x-hub-signature-256"], sim.cfg.app_secret)
    bodies = receiver.bodies()
    value = _value(bodies[1])
    assert value["metadata"] == {"display_phone_number": sim.cfg.display_phone_number,
                                 "phone_number_id": sim.cfg.phone_number_id}
    assert bodies[1]["entry"][0]["id"] == sim.cfg.waba_id
    sent = value["statuses"][0]
    assert sent["recipient_id"] == CUSTOMER
    assert sent["timestamp"].isdigit()
    assert sent["conversation"]["origin"]["type"] == "service"
    assert sent["conversation"]["expiration_timestamp"].isdigit()
    assert sent["pricing"]["category"] == "service"
    read = _value(bodies[3])["statuses"][0]
    assert read["status"] == "read" and "conversation" not in read
    # the first delivery is the customer's own message, with the contact
    first = _value(bodies[0])
    assert first["contacts"][0]["profile"]["name"] == "Maria"
    assert first["contacts"][0]["wa_id"] == CUSTOMER
    assert first["messages"][0]["text"] == {"body": "hi"}
    assert first["messages"][0]["from"] == CUSTOMER


def test_raw_body_escapes_like_meta(sim, receiver):
    sim.customer_says(CUSTOMER, "olá https://x.y/z", name="José")
    sim.flush()
    raw, headers = receiver.deliveries[0]
    assert b"ol\\u00e1 https:\\/\\/x.y\\/z" in raw
    assert b"Jos\\u00e9" in raw
    # a receiver that re-serialises the JSON before checking the signature would fail
    reserialised = json.dumps(json.loads(raw)).encode()
    assert not p.verify_signature(reserialised, headers["x-hub-signature-256"], sim.cfg.app_secret)
    assert json.loads(raw)["entry"][0]["changes"][0]["value"]["messages"][0]["text"]["body"] == "olá https://x.y/z"


def test_auto_read_after_delay_on_the_simulated_clock(make_sim, receiver):
    sim = make_sim(auto_read_seconds=30)
    sim.customer_says(CUSTOMER)
    wamid = sim.send_text(CUSTOMER).json()["messages"][0]["id"]
    sim.advance(10)
    sim.flush()
    assert [s for _, s in receiver.statuses()] == ["sent", "delivered"]
    sim.advance(25)
    sim.flush()
    assert receiver.statuses()[-1] == (wamid, "read")


def test_delivered_waits_when_auto_delivered_is_off(make_sim, receiver):
    sim = make_sim(auto_delivered=False)
    sim.customer_says(CUSTOMER)
    sim.send_text(CUSTOMER)
    sim.flush()
    assert [s for _, s in receiver.statuses()] == ["sent"]
    assert sim.client.post(f"/_sim/customers/{CUSTOMER}/read").json() == {"read": 0}


def test_duplicate_deliveries(sim, receiver):
    sim.faults(duplicate_rate=1.0)
    sim.customer_says(CUSTOMER)
    sim.send_text(CUSTOMER)
    sim.flush()
    raws = [raw for raw, _ in receiver.deliveries]
    assert len(raws) == 6
    assert raws[0] == raws[1] and raws[2] == raws[3] and raws[4] == raws[5]
    assert len(set(raws)) == 3
    assert sim.client.get("/_sim/stats").json()["webhooks_duplicated"] == 3


def test_reordered_deliveries(sim, receiver):
    sim.customer_says(CUSTOMER)
    sim.flush()
    sim.faults(reorder_rate=1.0)
    wamid = sim.send_text(CUSTOMER).json()["messages"][0]["id"]
    sim.flush()
    assert [s for s in receiver.statuses() if s[0] == wamid] == [(wamid, "delivered"), (wamid, "sent")]
    assert sim.client.get("/_sim/stats").json()["webhooks_reordered"] == 1
    # a held webhook with no successor still leaves on flush
    sim.client.post(f"/_sim/customers/{CUSTOMER}/read")
    assert sim.flush()["delivered"] == 1
    assert receiver.statuses()[-1] == (wamid, "read")


def test_dropped_webhooks(sim, receiver):
    sim.faults(webhook_drop_rate=1.0)
    sim.customer_says(CUSTOMER)
    sim.flush()
    assert receiver.deliveries == []
    assert sim.client.get("/_sim/stats").json()["webhooks_dropped"] == 1


def test_failed_delivery_status(sim, receiver):
    sim.customer_says(CUSTOMER)
    sim.faults(delivery_failure_next=1)
    r = sim.send_text(CUSTOMER)
    assert r.status_code == 200
    wamid = r.json()["messages"][0]["id"]
    sim.flush()
    statuses = [_value(b)["statuses"][0] for b in receiver.bodies() if "statuses" in _value(b)]
    assert [s["status"] for s in statuses] == ["failed"]
    err = statuses[0]["errors"][0]
    assert err["code"] == 131026
    assert err["title"] == "Message undeliverable"
    assert err["error_data"]["details"]
    assert err["href"].startswith("https://developers.facebook.com/")
    assert "pricing" not in statuses[0]
    msg = sim.client.get(f"/_sim/customers/{CUSTOMER}/messages").json()["messages"][0]
    assert msg["id"] == wamid and msg["state"] == "failed"
    sim.faults(delivery_failure_next=1, delivery_failure_code=131049)
    sim.send_text(CUSTOMER)
    sim.flush()
    assert _value(receiver.bodies()[-1])["statuses"][0]["errors"][0]["code"] == 131049


def test_retries_until_the_receiver_accepts(make_sim, receiver):
    sim = make_sim(webhook_max_attempts=3)
    receiver.fail_next = 2
    sim.customer_says(CUSTOMER, "one")
    assert sim.flush() == {"delivered": 0, "failed": 1, "pending": 1, "held": 0}
    assert sim.flush()["failed"] == 1
    assert sim.flush() == {"delivered": 1, "failed": 0, "pending": 0, "held": 0}
    assert len(receiver.deliveries) == 1
    stats = sim.client.get("/_sim/stats").json()
    assert stats["webhook_attempts"] == 3 and stats["webhook_failures"] == 2 and stats["webhooks_delivered"] == 1
    # past the attempt limit the webhook is given up
    receiver.fail_next = 5
    sim.customer_says(CUSTOMER, "two")
    for _ in range(3):
        sim.flush()
    assert sim.client.get("/_sim/stats").json()["webhooks_given_up"] == 1
    assert sim.flush()["pending"] == 0


def test_button_press_sends_button_reply(sim, receiver):
    sim.customer_says(CUSTOMER)
    token = "0f3c5a9e-77aa"
    buttons = [{"type": "reply", "reply": {"id": rating_button_id(token, s), "title": t}}
               for s, t in ((5, "Satisfied"), (3, "Neutral"), (1, "Unsatisfied"))]
    r = sim.graph_send({"to": CUSTOMER, "type": "interactive",
                        "interactive": {"type": "button", "body": {"text": "How was it?"},
                                        "action": {"buttons": buttons}}})
    wamid = r.json()["messages"][0]["id"]
    pressed = sim.client.post(f"/_sim/customers/{CUSTOMER}/press", json={"button_id": rating_button_id(token, 3)})
    assert pressed.status_code == 200, pressed.text
    sim.flush()
    msg = receiver.messages()[-1]
    assert msg["type"] == "interactive"
    assert msg["interactive"] == {"type": "button_reply",
                                  "button_reply": {"id": f"rate:{token}:3", "title": "Neutral"}}
    assert msg["context"] == {"from": sim.cfg.display_phone_number, "id": wamid}
    assert parse_rating_button_id(msg["interactive"]["button_reply"]["id"]) == (token, 3)
    # by title, and the message is marked as answered
    assert sim.client.post(f"/_sim/customers/{CUSTOMER}/press", json={"title": "Satisfied"}).status_code == 200
    listed = sim.client.get(f"/_sim/customers/{CUSTOMER}/messages").json()["messages"]
    assert listed[-1]["pressed"] == f"rate:{token}:5"
    missing = sim.client.post(f"/_sim/customers/{CUSTOMER}/press", json={"button_id": "rate:nope:5"})
    assert missing.status_code == 404
    assert sim.client.post("/_sim/customers/5500000000000/press", json={"button_id": "x"}).status_code == 404


def test_list_reply(sim, receiver):
    sim.customer_says(CUSTOMER)
    lst = {"type": "list", "body": {"text": "Department?"},
           "action": {"button": "Choose", "sections": [{"title": "Teams", "rows": [
               {"id": "sales", "title": "Sales", "description": "Buy things"},
               {"id": "support", "title": "Support"}]}]}}
    wamid = sim.graph_send({"to": CUSTOMER, "type": "interactive", "interactive": lst}).json()["messages"][0]["id"]
    r = sim.client.post(f"/_sim/customers/{CUSTOMER}/press", json={"message_id": wamid, "row_id": "sales"})
    assert r.status_code == 200
    sim.flush()
    msg = receiver.messages()[-1]
    assert msg["interactive"]["type"] == "list_reply"
    assert msg["interactive"]["list_reply"] == {"id": "sales", "title": "Sales", "description": "Buy things"}
    assert msg["context"]["id"] == wamid


def test_customer_without_phone_number_bsuid_only(sim, receiver):
    r = sim.client.post("/_sim/customers", json={"wa_id": "5521999990000", "name": "Ana", "username": "@ana",
                                                 "phone_hidden": True})
    customer = r.json()
    bsuid = customer["user_id"]
    assert bsuid.startswith("BR.")
    sim.customer_says(bsuid, "hello from a username user")
    sim.flush()
    value = _value(receiver.bodies()[0])
    assert value["contacts"] == [{"profile": {"name": "Ana", "username": "@ana"}, "user_id": bsuid}]
    msg = value["messages"][0]
    assert "from" not in msg and msg["from_user_id"] == bsuid
    # the business answers by BSUID (``recipient``)
    r = sim.graph_send({"recipient": bsuid, "type": "text", "text": {"body": "Hi Ana"}})
    assert r.status_code == 200, r.text
    assert r.json()["contacts"] == [{"input": bsuid, "user_id": bsuid}]
    sim.flush()
    status = _value(receiver.bodies()[-1])["statuses"][0]
    assert "recipient_id" not in status and status["recipient_user_id"] == bsuid


def test_every_customer_message_type_via_control_api(sim, receiver):
    import base64
    first = sim.customer_says(CUSTOMER, "hi", name="Maria")
    b64 = base64.b64encode(b"\x89PNG fake").decode()
    specs = [
        {"type": "image", "data": b64, "mime_type": "image/png", "caption": "look"},
        {"type": "video", "data": b64, "mime_type": "video/mp4"},
        {"type": "document", "data": b64, "mime_type": "application/pdf", "filename": "a.pdf"},
        {"type": "sticker", "data": b64},
        {"type": "audio", "data": b64, "mime_type": "audio/mpeg", "voice": False},
        {"type": "location", "latitude": -23.55, "longitude": -46.63, "place": "Office", "address": "Av. Paulista"},
        {"type": "contacts", "contacts": [{"name": "Bob", "phones": ["+1 555 0100"], "emails": ["b@x.io"]}]},
        {"type": "reaction", "message_id": first["id"], "emoji": "❤️"},
        {"type": "reaction", "message_id": first["id"], "emoji": ""},
        {"type": "button", "payload": "STOP", "text": "Stop promotions"},
        {"type": "unsupported"},
        {"type": "text", "text": "quoting", "reply_to": first["id"]},
        {"type": "text", "text": "fwd", "forwarded": True},
    ]
    for spec in specs:
        r = sim.client.post(f"/_sim/customers/{CUSTOMER}/send", json=spec)
        assert r.status_code == 200, (spec, r.text)
    changed = sim.client.post(f"/_sim/customers/{CUSTOMER}/change-number", json={"new_wa_id": "5511900002222"})
    assert changed.status_code == 200
    sim.flush()
    msgs = receiver.messages()
    assert [m["type"] for m in msgs] == ["text", "image", "video", "document", "sticker", "audio", "location",
                                         "contacts", "reaction", "reaction", "button", "unsupported", "text", "text",
                                         "system"]
    assert msgs[1]["image"]["caption"] == "look"
    assert msgs[3]["document"]["filename"] == "a.pdf"
    assert msgs[4]["sticker"]["mime_type"] == "image/webp"
    assert msgs[5]["audio"]["voice"] is False
    assert msgs[8]["reaction"] == {"message_id": first["id"], "emoji": "❤️"}
    assert msgs[9]["reaction"] == {"message_id": first["id"]}
    assert msgs[11]["errors"][0]["code"] == 131051
    assert msgs[12]["context"] == {"from": sim.cfg.display_phone_number, "id": first["id"]}
    assert msgs[13]["context"] == {"forwarded": True}
    assert msgs[14]["system"]["type"] == "user_changed_number"
    assert msgs[14]["system"]["wa_id"] == "5511900002222"
    assert "contacts" not in _value(receiver.bodies()[-1])
    # the customer now lives under the new number
    assert sim.client.get("/_sim/customers/5511900002222/messages").status_code == 200
    bad = sim.client.post(f"/_sim/customers/{CUSTOMER}/send", json={"type": "hologram"})
    assert bad.status_code in (400, 404)


def test_control_api_errors_are_clear(sim):
    assert sim.client.post(f"/_sim/customers/{CUSTOMER}/send", json={"type": "text"}).status_code == 400
    assert sim.client.post(f"/_sim/customers/{CUSTOMER}/send", json={"type": "image", "data": "!!"}).status_code == 400
    assert sim.client.post("/_sim/customers/12/send", json={"type": "text", "text": "x"}).status_code == 400
    assert sim.client.get("/_sim/customers/5599/messages").status_code == 404
    assert sim.client.post("/_sim/customers", json={}).status_code == 400


def test_verify_handshake(sim, receiver):
    receiver.verify_token = sim.cfg.verify_token
    result = sim.client.post("/_sim/verify").json()
    assert result["ok"] is True and result["status"] == 200
    receiver.verify_token = "something else"
    assert sim.client.post("/_sim/verify").json()["ok"] is False


def test_background_delivery(make_sim, receiver):
    from sim_helpers import wait_for

    sim = make_sim(background_delivery=True, delivery_interval=0.02)
    sim.customer_says(CUSTOMER)
    sim.send_text(CUSTOMER)
    assert wait_for(lambda: len(receiver.deliveries) == 3, timeout=5)
    assert [s for _, s in receiver.statuses()] == ["sent", "delivered"]


def test_background_delivery_retries_with_backoff(make_sim, receiver):
    from sim_helpers import wait_for

    sim = make_sim(background_delivery=True, delivery_interval=0.02, retry_base_delay=0.05)
    receiver.fail_next = 2
    sim.customer_says(CUSTOMER, "persist")
    assert wait_for(lambda: len(receiver.deliveries) == 1, timeout=5)
    assert sim.client.get("/_sim/stats").json()["webhook_attempts"] == 3


def test_reset_and_webhook_log(sim, receiver):
    sim.customer_says(CUSTOMER)
    assert len(sim.client.get("/_sim/webhooks").json()["webhooks"]) == 1
    sim.faults(throttle_rate=1)
    sim.client.post("/_sim/reset")
    assert sim.client.get("/_sim/customers").json() == {"customers": []}
    assert sim.client.get("/_sim/faults").json()["throttle_rate"] == 0
    assert sim.client.get("/_sim/stats").json()["pending_webhooks"] == 0
