"""Graph API behaviour a client of the real Cloud API would notice."""

from __future__ import annotations

import hashlib
import time

import pytest
from sim_helpers import VERSION

from whatsapp_bridge.contract import rating_button_id

CUSTOMER = "5511987654321"


def _error(r):
    body = r.json()
    assert set(body) == {"error"}
    err = body["error"]
    assert err["type"] == "OAuthException"
    assert err["fbtrace_id"]
    return err


def test_send_text_answers_like_meta(sim):
    sim.customer_says(CUSTOMER, "hi", name="Maria")
    r = sim.graph_send({"to": "+55 11 98765-4321", "type": "text", "text": {"body": "Hello Maria"}})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["messaging_product"] == "whatsapp"
    assert body["contacts"][0]["input"] == "+55 11 98765-4321"
    assert body["contacts"][0]["wa_id"] == CUSTOMER
    assert body["contacts"][0]["user_id"].startswith("BR.")
    assert body["messages"][0]["id"].startswith("wamid.HBg")
    listed = sim.client.get(f"/_sim/customers/{CUSTOMER}/messages").json()["messages"]
    assert [m["content"]["text"]["body"] for m in listed] == ["Hello Maria"]
    assert listed[0]["id"] == body["messages"][0]["id"]
    assert listed[0]["direction"] == "out"


def test_every_graph_call_needs_the_bearer_token(sim):
    sim.customer_says(CUSTOMER)
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": sim.cfg.access_token}):
        r = sim.graph_send({"to": CUSTOMER, "type": "text", "text": {"body": "x"}}, headers=headers)
        assert r.status_code == 401
        assert _error(r)["code"] == 190
        assert "invalid_token" in r.headers["www-authenticate"]
    assert sim.client.get(f"/{VERSION}/123", headers={"Authorization": "Bearer nope"}).status_code == 401
    up = sim.client.post(f"/{VERSION}/{sim.cfg.phone_number_id}/media", files={"file": ("a.png", b"x", "image/png")},
                         data={"type": "image/png", "messaging_product": "whatsapp"})
    assert up.status_code == 401
    assert sim.sim.stats.sends_accepted == 0


def test_expired_token_fault(sim):
    sim.customer_says(CUSTOMER)
    sim.faults(expired_token=True)
    r = sim.send_text(CUSTOMER)
    assert r.status_code == 401
    err = _error(r)
    assert (err["code"], err["error_subcode"]) == (190, 463)
    assert err["message"].startswith("Error validating access token: Session has expired")
    sim.client.delete("/_sim/faults")
    assert sim.send_text(CUSTOMER).status_code == 200


def test_unknown_phone_number_id(sim):
    r = sim.client.post(f"/{VERSION}/999/messages", headers=sim.auth,
                        json={"messaging_product": "whatsapp", "to": CUSTOMER, "type": "text", "text": {"body": "x"}})
    assert r.status_code == 400
    err = _error(r)
    assert (err["code"], err["error_subcode"]) == (100, 33)


@pytest.mark.parametrize(("body", "code", "needle"), [
    ({"messaging_product": None}, 100, "messaging_product"),
    ({"messaging_product": "sms"}, 100, "messaging_product"),
    ({"to": None}, 100, "to"),
    ({"text": {"body": ""}}, 131009, "text"),
    ({"text": {"body": "x" * 4097}}, 131009, "4096"),
    ({"type": "carousel"}, 100, "type"),
])
def test_validation_errors_have_meta_shape(sim, body, code, needle):
    sim.customer_says(CUSTOMER)
    payload = {"messaging_product": "whatsapp", "to": CUSTOMER, "type": "text", "text": {"body": "ok"}}
    payload.update(body)
    payload = {k: v for k, v in payload.items() if v is not None}
    r = sim.client.post(f"/{VERSION}/{sim.cfg.phone_number_id}/messages", headers=sim.auth, json=payload)
    assert r.status_code == 400, r.text
    err = _error(r)
    assert err["code"] == code
    assert err["error_data"]["messaging_product"] == "whatsapp"
    assert needle in err["message"] + err["error_data"]["details"]
    assert sim.sim.stats.sends_accepted == 0


def _buttons(*titles):
    return {"type": "button", "body": {"text": "How did we do?"},
            "action": {"buttons": [{"type": "reply", "reply": {"id": f"b{i}", "title": t}}
                                   for i, t in enumerate(titles)]}}


def test_interactive_buttons_validation(sim):
    sim.customer_says(CUSTOMER)
    ok = sim.graph_send({"to": CUSTOMER, "type": "interactive", "interactive": _buttons("Great", "OK", "Bad")})
    assert ok.status_code == 200
    too_long = sim.graph_send({"to": CUSTOMER, "type": "interactive", "interactive": _buttons("x" * 21)})
    assert too_long.status_code == 400
    err = _error(too_long)
    assert err["code"] == 131009
    assert "Max length: 20" in err["error_data"]["details"]
    four = sim.graph_send({"to": CUSTOMER, "type": "interactive", "interactive": _buttons("a", "b", "c", "d")})
    assert _error(four)["code"] == 131009
    dup = sim.graph_send({"to": CUSTOMER, "type": "interactive", "interactive": _buttons("a", "a")})
    assert _error(dup)["code"] == 131009
    rows = [{"id": f"r{i}", "title": f"Row {i}"} for i in range(11)]
    lst = {"type": "list", "body": {"text": "Pick"}, "action": {"button": "Options", "sections": [{"rows": rows}]}}
    assert _error(sim.graph_send({"to": CUSTOMER, "type": "interactive", "interactive": lst}))["code"] == 131009
    lst["action"]["sections"][0]["rows"] = rows[:3]
    assert sim.graph_send({"to": CUSTOMER, "type": "interactive", "interactive": lst}).status_code == 200


def test_reaction_and_reply_context_are_accepted(sim):
    incoming = sim.customer_says(CUSTOMER, "where is my order?")
    r = sim.graph_send({"to": CUSTOMER, "type": "text", "text": {"body": "Shipped"},
                        "context": {"message_id": incoming["id"]}})
    assert r.status_code == 200
    r = sim.graph_send({"to": CUSTOMER, "type": "reaction", "reaction": {"message_id": incoming["id"], "emoji": "👍"}})
    assert r.status_code == 200
    assert _error(sim.graph_send({"to": CUSTOMER, "type": "reaction", "reaction": {"emoji": "👍"}}))["code"] == 100


def test_mark_as_read(sim):
    incoming = sim.customer_says(CUSTOMER, "hello")
    r = sim.graph_send({"status": "read", "message_id": incoming["id"]})
    assert r.status_code == 200 and r.json() == {"success": True}
    msgs = sim.client.get(f"/_sim/customers/{CUSTOMER}/messages?direction=in").json()["messages"]
    assert msgs[0]["state"] == "read"
    assert _error(sim.graph_send({"status": "read", "message_id": "wamid.nope"}))["code"] == 131009


# ---------------------------------------------------------------- 24 h window

def test_reengagement_outside_24h_is_a_failed_status_by_default(sim, receiver):
    sim.customer_says(CUSTOMER)
    sim.advance(23 * 3600)
    inside = sim.send_text(CUSTOMER)
    assert inside.status_code == 200
    sim.advance(3600 + 1)
    outside = sim.send_text(CUSTOMER, "are you there?")
    assert outside.status_code == 200  # Meta accepts, then reports 131047 asynchronously
    wamid = outside.json()["messages"][0]["id"]
    sim.flush()
    failed = [s for b in receiver.bodies() for s in b["entry"][0]["changes"][0]["value"].get("statuses", [])
              if s["id"] == wamid]
    assert [s["status"] for s in failed] == ["failed"]
    assert failed[0]["errors"][0]["code"] == 131047
    assert failed[0]["errors"][0]["title"] == "Re-engagement message"
    assert "24 hours" in failed[0]["errors"][0]["error_data"]["details"]
    # a template is allowed outside the window
    tpl = sim.graph_send({"to": CUSTOMER, "type": "template",
                          "template": {"name": "hello_world", "language": {"code": "en_US"}}})
    assert tpl.status_code == 200
    assert tpl.json()["messages"][0]["message_status"] == "accepted"
    # the customer writes again: the window reopens
    sim.customer_says(CUSTOMER, "back")
    assert sim.send_text(CUSTOMER).status_code == 200
    sim.flush()
    assert receiver.statuses()[-1][1] == "delivered"


def test_reengagement_sync_mode(make_sim):
    sim = make_sim(reengagement_mode="sync")
    r = sim.send_text("5511900001111")  # never wrote
    assert r.status_code == 400
    err = _error(r)
    assert err["code"] == 131047
    sim.customer_says("5511900001111")
    assert sim.send_text("5511900001111").status_code == 200
    sim.advance(24 * 3600)
    assert _error(sim.send_text("5511900001111"))["code"] == 131047


def test_clock_only_moves_forward(sim):
    before = sim.client.get("/_sim/clock").json()["now"]
    assert sim.client.post("/_sim/clock/advance", json={"hours": 2}).status_code == 200
    after = sim.client.get("/_sim/clock").json()["now"]
    assert after - before >= 7200
    assert sim.client.post("/_sim/clock/advance", json={"seconds": -5}).status_code == 400


# ---------------------------------------------------------------- media

def test_upload_info_download_round_trip(sim):
    data = bytes(range(256)) * 40
    up = sim.upload(data, "image/png", "photo.png")
    assert up.status_code == 200, up.text
    media_id = up.json()["id"]
    assert media_id.isdigit()
    info = sim.client.get(f"/{VERSION}/{media_id}", headers=sim.auth)
    assert info.status_code == 200
    meta = info.json()
    assert meta["messaging_product"] == "whatsapp"
    assert meta["id"] == media_id
    assert meta["mime_type"] == "image/png"
    assert meta["file_size"] == len(data)
    assert meta["sha256"] == hashlib.sha256(data).hexdigest()
    url = meta["url"]
    assert "/whatsapp_business/attachments/?mid=" in url
    assert sim.client.get(url).status_code == 401
    assert sim.client.get(url, headers={"Authorization": "Bearer wrong"}).status_code == 401
    got = sim.client.get(url, headers=sim.auth)
    assert got.status_code == 200
    assert got.content == data
    assert got.headers["content-type"] == "image/png"
    tampered = url.replace("hash=", "hash=0")
    assert sim.client.get(tampered, headers=sim.auth).status_code == 404
    # download URLs expire after ~5 minutes; the media id gives a fresh one
    sim.advance(301)
    assert sim.client.get(url, headers=sim.auth).status_code == 404
    fresh = sim.client.get(f"/{VERSION}/{media_id}", headers=sim.auth).json()["url"]
    assert sim.client.get(fresh, headers=sim.auth).content == data
    # delete
    assert sim.client.delete(f"/{VERSION}/{media_id}", headers=sim.auth).json() == {"success": True}
    gone = sim.client.get(f"/{VERSION}/{media_id}", headers=sim.auth)
    assert gone.status_code == 400 and _error(gone)["error_subcode"] == 33


def test_upload_rejects_unsupported_and_oversized(sim):
    bad = sim.upload(b"MZ\x90\x00", "application/x-msdownload", "x.exe")
    assert bad.status_code == 400 and _error(bad)["code"] == 131053
    big = sim.upload(b"\x00" * (5 * 1024 * 1024 + 1), "image/jpeg", "big.jpg")
    assert big.status_code == 400 and _error(big)["code"] == 131053
    no_product = sim.client.post(f"/{VERSION}/{sim.cfg.phone_number_id}/media", headers=sim.auth,
                                 files={"file": ("a.png", b"x", "image/png")}, data={"type": "image/png"})
    assert _error(no_product)["code"] == 100
    no_file = sim.client.post(f"/{VERSION}/{sim.cfg.phone_number_id}/media", headers=sim.auth,
                              files={"other": ("a.png", b"x", "image/png")},
                              data={"type": "image/png", "messaging_product": "whatsapp"})
    assert _error(no_file)["code"] == 100


def test_send_media_by_id_and_link(sim):
    sim.customer_says(CUSTOMER)
    voice = sim.upload(b"OggS\x00voice", "audio/ogg", "note.ogg").json()["id"]
    pdf = sim.upload(b"%PDF-1.4 test", "application/pdf", "invoice.pdf").json()["id"]
    assert sim.graph_send({"to": CUSTOMER, "type": "audio", "audio": {"id": voice}}).status_code == 200
    assert sim.graph_send({"to": CUSTOMER, "type": "document",
                           "document": {"id": pdf, "filename": "invoice.pdf", "caption": "Your invoice"}}
                          ).status_code == 200
    assert sim.graph_send({"to": CUSTOMER, "type": "image",
                           "image": {"link": "https://example.com/a.jpg"}}).status_code == 200
    assert _error(sim.graph_send({"to": CUSTOMER, "type": "image", "image": {"id": "123"}}))["code"] == 131009
    assert _error(sim.graph_send({"to": CUSTOMER, "type": "image", "image": {"id": voice}}))["code"] == 131009
    assert _error(sim.graph_send({"to": CUSTOMER, "type": "image", "image": {}}))["code"] == 100
    sent = sim.client.get(f"/_sim/customers/{CUSTOMER}/messages").json()["messages"]
    assert [m["type"] for m in sent] == ["audio", "document", "image"]
    # the demo page shows business media through the control API
    assert sim.client.get(f"/_sim/media/{pdf}").content == b"%PDF-1.4 test"


def test_customer_media_is_downloadable_by_the_business(sim, receiver):
    ogg = b"OggS" + bytes(range(200))
    import base64
    r = sim.client.post(f"/_sim/customers/{CUSTOMER}/send",
                        json={"type": "audio", "data": base64.b64encode(ogg).decode(), "mime_type": "audio/ogg"})
    assert r.status_code == 200, r.text
    audio = r.json()["message"]["audio"]
    assert audio["voice"] is True
    assert audio["mime_type"] == "audio/ogg; codecs=opus"
    assert audio["sha256"] == hashlib.sha256(ogg).hexdigest()
    info = sim.client.get(f"/{VERSION}/{audio['id']}", headers=sim.auth).json()
    assert sim.client.get(info["url"], headers=sim.auth).content == ogg
    # inbound media ids expire after 7 days
    sim.advance(7 * 24 * 3600 + 1)
    assert sim.client.get(f"/{VERSION}/{audio['id']}", headers=sim.auth).status_code == 400


# ---------------------------------------------------------------- faults

def test_throttle_pair_rate_and_server_errors(sim):
    sim.customer_says(CUSTOMER)
    sim.faults(throttle_next=1, pair_rate_next=1, server_error_next=1)
    r = sim.send_text(CUSTOMER)  # server error is checked first
    assert r.status_code == 500
    err = _error(r)
    assert err["code"] == 2 and err["is_transient"] is True
    r = sim.send_text(CUSTOMER)
    assert r.status_code == 400
    err = _error(r)
    assert err["code"] == 130429
    assert err["error_data"]["details"] == "Cloud API message throughput has been reached."
    r = sim.send_text(CUSTOMER)
    assert r.status_code == 400 and _error(r)["code"] == 131056
    assert sim.send_text(CUSTOMER).status_code == 200
    stats = sim.client.get("/_sim/stats").json()
    assert stats["sends_accepted"] == 1
    assert stats["sends_rejected"] == 3
    assert stats["rejected_by_code"] == {"2": 1, "130429": 1, "131056": 1}


def test_throttle_rate_is_a_fraction_and_status_configurable(sim):
    sim.customer_says(CUSTOMER)
    sim.faults(throttle_rate=0.5, throttle_http_status=429, server_error_status=503)
    codes = [sim.send_text(CUSTOMER).status_code for _ in range(200)]
    assert set(codes) == {200, 429}
    assert 60 < codes.count(429) < 140
    sim.faults(throttle_rate=0, server_error_next=1)
    assert sim.send_text(CUSTOMER).status_code == 503


def test_pair_rate_min_interval_is_a_real_limit(sim):
    sim.customer_says(CUSTOMER)
    sim.faults(pair_rate_min_interval=6)
    assert sim.send_text(CUSTOMER).status_code == 200
    assert _error(sim.send_text(CUSTOMER))["code"] == 131056
    sim.advance(6)
    assert sim.send_text(CUSTOMER).status_code == 200


def test_latency_fault_slows_responses(sim):
    sim.customer_says(CUSTOMER)
    sim.faults(latency_ms=300)
    start = time.monotonic()
    assert sim.send_text(CUSTOMER).status_code == 200
    assert time.monotonic() - start >= 0.3


def test_bad_fault_values_are_refused(sim):
    assert sim.client.post("/_sim/faults", json={"nonsense": 1}).status_code == 400
    assert sim.client.post("/_sim/faults", json={"throttle_rate": 2}).status_code == 400
    assert sim.client.get("/_sim/faults").json()["throttle_rate"] == 0


def test_rating_buttons_from_the_contract_are_valid(sim):
    sim.customer_says(CUSTOMER)
    token = "a1b2c3d4-e5f6"
    buttons = [{"type": "reply", "reply": {"id": rating_button_id(token, score), "title": title}}
               for score, title in ((5, "Satisfied"), (3, "Neutral"), (1, "Unsatisfied"))]
    r = sim.graph_send({"to": CUSTOMER, "type": "interactive",
                        "interactive": {"type": "button", "body": {"text": "Rate us"}, "action": {"buttons": buttons}}})
    assert r.status_code == 200, r.text
