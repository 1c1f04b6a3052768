"""What one entry, one message or one customer may NOT do to the others: stop the worker, hold up
everybody's messages, or become two customers.  Real Redis, the Odoo TEST DOUBLE."""

from __future__ import annotations

import copy
import json
import logging
import threading

import pytest

from whatsapp_bridge import events, inbound_parse
from whatsapp_bridge.inbound_delivery import customer_lanes
from whatsapp_bridge.inbound_parse import Item
from whatsapp_bridge.keys import Keys

from .helpers import load_sample, wait_until
from .test_inbound import CUSTOMER, dead, make_worker, pending, push, text_body, texts

ACCOUNT = "106540352242922"


def run_in_thread(worker) -> threading.Thread:
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    return thread


@pytest.fixture
def running():
    """Start ``worker.run`` in a thread; stopped and joined at the end."""
    started = []

    def start(worker):
        thread = run_in_thread(worker)
        started.append((worker, thread))
        return thread

    yield start
    for worker, thread in started:
        worker.stop.set()
        thread.join(10)


# -- 1. nothing from outside stops the worker ------------------------------------------------------

def _boom_body():
    return {"object": "whatsapp_business_account", "entry": [], "boom": True}


@pytest.fixture
def parser_raising_type_error(monkeypatch):
    """The parser, except that it fails with a TypeError on the body marked ``boom`` (a parser bug)."""
    real = inbound_parse.parse_webhook

    def parse(body):
        if isinstance(body, dict) and body.get("boom"):
            raise TypeError("unsupported operand type(s) for +: 'int' and 'str'")
        return real(body)

    monkeypatch.setattr(inbound_parse, "parse_webhook", parse)


def test_poison_entries_are_dead_lettered_and_the_worker_keeps_running(make_config, odoo, rds, prefix, running,
                                                                       parser_raising_type_error, caplog):
    push(rds, prefix, text_body("wamid.P1", "first", 1732240001))
    push(rds, prefix, text_body("wamid.P2", "second", 1732240002))
    nested = push(rds, prefix, "[" * 100_000 + "]" * 100_000)
    not_a_body = push(rds, prefix, '"text": "hello"')
    boom = push(rds, prefix, _boom_body())
    push(rds, prefix, text_body("wamid.P3", "third", 1732240003))
    push(rds, prefix, text_body("wamid.P4", "fourth", 1732240004))
    worker = make_worker(make_config())
    with caplog.at_level(logging.ERROR):
        thread = running(worker)
        wait_until(lambda: texts(odoo) == ["first", "second", "third", "fourth"])
        wait_until(lambda: pending(rds, prefix) == 0)
    letters = {letter["entry_id"]: letter for letter in dead(rds, prefix)}
    assert set(letters) == {nested, not_a_body, boom}
    assert letters[nested]["reason"].startswith(
        ("unreadable webhook body", "parser failed on this body: RecursionError"))
    assert letters[not_a_body]["reason"].startswith("unreadable webhook body")
    assert letters[not_a_body]["payload"] == '"text": "hello"'
    assert letters[boom]["reason"] == "parser failed on this body: TypeError: unsupported operand type(s) for +: " \
                                      "'int' and 'str'"
    assert json.loads(letters[boom]["payload"]) == _boom_body()
    logged = [r for r in caplog.records if "parser failed" in str(getattr(r, "fields", {}).get("reason", ""))]
    assert logged and logged[0].exc_info, "logged with the traceback"
    # the loop is alive and serves what comes later
    push(rds, prefix, text_body("wamid.P5", "later", 1732240005))
    wait_until(lambda: texts(odoo)[-1:] == ["later"])
    assert thread.is_alive()


def test_a_decoder_that_overflows_the_stack_is_caught_too(worker, odoo, rds, prefix, monkeypatch):
    monkeypatch.setattr(inbound_parse, "decode_body", json.loads)  # plain JSON: RecursionError on deep nesting
    nested = push(rds, prefix, "[" * 100_000 + "]" * 100_000)
    push(rds, prefix, text_body("wamid.N1", "after the deep one", 1732240000))
    report = worker.run_once(block_ms=200)
    (letter,) = dead(rds, prefix)
    assert letter["entry_id"] == nested
    assert letter["reason"].startswith("parser failed on this body: RecursionError")
    assert texts(odoo) == ["after the deep one"] and report.acked and pending(rds, prefix) == 0


def test_a_message_whose_payload_cannot_be_built_is_set_aside_alone(worker, odoo, rds, prefix, monkeypatch):
    real = events.InboundMessage.to_contract

    def to_contract(self, media=None):
        if self.wamid == "wamid.CANNOT":
            raise AttributeError("'NoneType' object has no attribute 'latitude'")
        return real(self, media)

    monkeypatch.setattr(events.InboundMessage, "to_contract", to_contract)
    body = text_body("wamid.OK1", "kept", 1732240000)
    other = copy.deepcopy(body["entry"][0]["changes"][0]["value"]["messages"][0])
    other.update(id="wamid.CANNOT", timestamp="1732240001")
    body["entry"][0]["changes"][0]["value"]["messages"].append(other)
    entry = push(rds, prefix, body)
    push(rds, prefix, text_body("wamid.OK2", "kept too", 1732240002))
    worker.run_once(block_ms=200)
    assert texts(odoo) == ["kept", "kept too"]
    (letter,) = dead(rds, prefix)
    assert letter["entry_id"] == entry and letter["item"]["wamid"] == "wamid.CANNOT"
    assert letter["reason"].startswith("could not build the contract payload: AttributeError")
    assert pending(rds, prefix) == 0


# -- 2. head-of-line: one message Odoo fails on does not hold up the others --------------------------

OTHERS = [f"55219000000{n:02d}" for n in range(5)]


def _batch_with_poison(rds, prefix):
    """Five other customers and ours; our second message is the one Odoo fails on."""
    for n, wa_id in enumerate(OTHERS):
        push(rds, prefix, text_body(f"wamid.H{n}", f"other {n}", 1732240000 + n, wa_id=wa_id, name=f"C{n}"))
    push(rds, prefix, text_body("wamid.X0", "before", 1732240010))
    poison = push(rds, prefix, text_body("wamid.X", "breaks Odoo", 1732240011))
    push(rds, prefix, text_body("wamid.X2", "after", 1732240012))
    return poison


@pytest.mark.parametrize("lanes", ["1", "3"])
def test_a_message_odoo_keeps_failing_on_is_dead_lettered_and_the_rest_delivered(make_config, odoo, rds, prefix,
                                                                                 lanes):
    odoo.poison_wamids = {"wamid.X"}
    worker = make_worker(make_config(WA_POISON_ATTEMPTS="2", WA_BACKOFF_MAX_SECONDS="0.05", WA_INBOUND_LANES=lanes))
    worker.setup()
    poison = _batch_with_poison(rds, prefix)
    report = worker.run_once(block_ms=300)
    assert sorted(texts(odoo)) == sorted(["before", "after"] + [f"other {n}" for n in range(5)])
    mine = [m["text"] for m in odoo.items("ingest_messages") if m["from"]["wa_id"] == CUSTOMER]
    assert mine == ["before", "after"]
    (letter,) = dead(rds, prefix)
    assert letter["entry_id"] == poison and letter["item"]["wamid"] == "wamid.X"
    assert letter["reason"] == ("Odoo fails on this message: builtins.ValueError: "
                                "A string literal cannot contain NUL (0x00) characters.")
    assert report.dead == 1 and pending(rds, prefix) == 0
    # bounded: 2 attempts per bisection level of an 8-item batch, and one right after the probe
    assert 3 <= odoo.attempts_with("wamid.X") <= 2 * 4 + 1
    alert = json.loads(rds.get(Keys(prefix).alert("odoo")))
    assert "wamid.X" in alert["reason"] and "NUL" in alert["reason"] and "wa:dead" in alert["action"]
    # the next batch that goes through does not hide it: the message is still lost to Odoo
    push(rds, prefix, text_body("wamid.X3", "next day", 1732240100))
    worker.run_once(block_ms=200)
    assert texts(odoo)[-1] == "next day"
    assert rds.get(Keys(prefix).alert("odoo")) is not None


def test_health_shows_the_dead_lettered_message(make_config, odoo, rds, prefix):
    from .test_webhook import serve

    odoo.poison_wamids = {"wamid.X"}
    config = make_config(WA_POISON_ATTEMPTS="1", WA_BACKOFF_MAX_SECONDS="0.05")
    worker = make_worker(config)
    worker.setup()
    push(rds, prefix, text_body("wamid.X", "breaks Odoo", 1732240011))
    worker.run_once(block_ms=200)
    with serve(config) as client:
        health = client.get("/health")
    body = health.json()
    assert health.status_code == 503 and body["status"] == "degraded"
    (alert,) = body["alerts"]
    assert alert["source"] == "odoo" and "wamid.X" in alert["reason"]
    assert body["dead_letters"] == 1


def test_nothing_is_dead_lettered_while_odoo_fails_on_every_message(make_config, odoo, rds, prefix, running):
    config = make_config(WA_POISON_ATTEMPTS="2", WA_BACKOFF_MAX_SECONDS="0.05")
    worker = make_worker(config)
    worker.setup()
    push(rds, prefix, text_body("wamid.E0", "yesterday", 1732230000))
    worker.run_once(block_ms=200)  # Odoo took it: the probe replays it
    # the addon was updated without -u: every ingest fails, contract_info still answers
    odoo.ingest_error = 'relation "whatsapp_ingest_lock" does not exist'
    odoo.poison_wamids = {"wamid.X"}  # and one message would break it anyway
    _batch_with_poison(rds, prefix)
    restarted = make_worker(config)
    running(restarted)
    wait_until(lambda: odoo.attempts("ingest_messages") >= 16)
    assert dead(rds, prefix) == [] and pending(rds, prefix) == 8, "the batch waits, nothing dropped"
    alert = json.loads(rds.get(Keys(prefix).alert("odoo")))
    assert "UndefinedTable" in alert["reason"] and "Odoo's log" in alert["action"]
    odoo.ingest_error = None  # upgraded
    wait_until(lambda: pending(rds, prefix) == 0)
    mine = [m["text"] for m in odoo.items("ingest_messages") if m["from"]["wa_id"] == CUSTOMER]
    assert mine == ["yesterday", "before", "after"]
    assert [letter["item"]["wamid"] for letter in dead(rds, prefix)] == ["wamid.X"], "the real culprit only"


def test_nothing_is_dead_lettered_while_odoo_fails_its_probe_too(make_config, odoo, rds, prefix, running):
    odoo.poison_wamids = {"wamid.X"}
    odoo.probe_error = "registry is being reloaded"  # Odoo is sick for everybody: not the message's fault
    worker = make_worker(make_config(WA_POISON_ATTEMPTS="2", WA_BACKOFF_MAX_SECONDS="0.05"))
    push(rds, prefix, text_body("wamid.X", "breaks Odoo", 1732240011))
    running(worker)
    wait_until(lambda: odoo.attempts_with("wamid.X") >= 6)
    assert dead(rds, prefix) == [] and pending(rds, prefix) == 1
    alert = json.loads(rds.get(Keys(prefix).alert("odoo")))
    assert "ValueError" in alert["reason"] and "Odoo's log" in alert["action"]
    odoo.poison_wamids = set()  # the addon is fixed
    wait_until(lambda: pending(rds, prefix) == 0)
    assert texts(odoo) == ["breaks Odoo"] and dead(rds, prefix) == []
    wait_until(lambda: rds.get(Keys(prefix).alert("odoo")) is None)


# -- 3. one customer never becomes two ----------------------------------------------------------------

USER_ID = "BR.1502576394655843"


def _named(wamid, text, ts, wa_id=None, user_id=None):
    """A text of our customer, naming them by phone number, by business-scoped user id, or both."""
    body = text_body(wamid, text, ts)
    value = body["entry"][0]["changes"][0]["value"]
    message = value["messages"][0]
    contact = {"profile": {"name": "Maria"}}
    message.pop("from")
    if wa_id:
        message["from"] = contact["wa_id"] = wa_id
    if user_id:
        message["from_user_id"] = contact["user_id"] = user_id
    value["contacts"] = [contact]
    return body


def test_one_person_named_two_ways_in_one_batch_stays_in_one_lane_in_order(make_config, odoo, rds, prefix):
    worker = make_worker(make_config(WA_INBOUND_LANES="16"))
    worker.setup()
    push(rds, prefix, _named("wamid.W1", "one", 1732240001, wa_id=CUSTOMER, user_id=USER_ID))
    for n, wa_id in enumerate(OTHERS):
        push(rds, prefix, text_body(f"wamid.Q{n}", f"other {n}", 1732240001, wa_id=wa_id))
    push(rds, prefix, _named("wamid.W2", "two", 1732240002, wa_id=CUSTOMER))
    push(rds, prefix, _named("wamid.W3", "three", 1732240003, user_id=USER_ID))
    push(rds, prefix, _named("wamid.W4", "four", 1732240004, wa_id=CUSTOMER, user_id=USER_ID))
    worker.run_once(block_ms=300)
    assert len(odoo.items("ingest_messages")) == 9
    calls = [[m["wamid"] for m in batch if m["wamid"].startswith("wamid.W")]
             for method, batch in odoo.calls if method == "ingest_messages"]
    assert [c for c in calls if c] == [["wamid.W1", "wamid.W2", "wamid.W3", "wamid.W4"]], \
        "one call (one lane, one transaction at a time), in order"


def _item(seq, wa_id=None, user_id=None, system=None):
    sender = {k: v for k, v in (("wa_id", wa_id), ("user_id", user_id)) if v}
    payload = {"account": ACCOUNT, "wamid": f"wamid.{seq}", "from": sender}
    if system:
        payload["system"] = system
    return Item(f"1-{seq}", seq, payload)


@pytest.mark.parametrize("count", [2, 3, 4, 8, 16])
def test_customer_lanes_join_every_name_of_a_person(count):
    items = [
        _item(1, wa_id="5511900000001"),
        _item(2, user_id="BR.A"),                              # someone yet unknown...
        _item(3, wa_id="5511900000002"),
        _item(4, wa_id="5511900000001", user_id="BR.A"),       # ...turns out to be 1: both ids, one person
        _item(5, user_id="BR.A"),
        _item(6, wa_id="5511900000003", system={"type": "user_changed_number", "wa_id": "5511900000003",
                                                "new_wa_id": "5511900000004"}),
        _item(7, wa_id="5511900000004"),                       # the new number of 6
    ]
    lanes = customer_lanes(items, count)
    lane_of = {item.seq: n for n, lane in enumerate(lanes) for item in lane}
    assert lane_of[1] == lane_of[2] == lane_of[4] == lane_of[5]
    assert lane_of[6] == lane_of[7]
    for lane in lanes:
        assert [i.seq for i in lane] == sorted(i.seq for i in lane), "order kept"
    assert sorted(lane_of) == [1, 2, 3, 4, 5, 6, 7] and len(lanes) <= count


def test_the_same_id_on_another_account_is_another_customer():
    items = [_item(1, wa_id="5511900000001"), _item(2, wa_id="5511900000001")]
    items[1].payload["account"] = "999999999999"
    lanes = {tuple(i.seq for i in lane) for lane in customer_lanes(items, 64)}
    # not joined: free to land in different lanes (they do for these two accounts)
    assert lanes == {(1,), (2,)}


@pytest.fixture
def worker(make_config):
    w = make_worker(make_config())
    w.setup()
    return w


def test_a_status_whose_payload_cannot_be_built_is_set_aside_alone(worker, odoo, rds, prefix, monkeypatch):
    real = events.StatusEvent.to_contract

    def to_contract(self):
        if self.status == "failed":
            raise TypeError("'NoneType' object is not subscriptable")
        return real(self)

    monkeypatch.setattr(events.StatusEvent, "to_contract", to_contract)
    push(rds, prefix, load_sample("status_failed"))
    push(rds, prefix, load_sample("status_delivered"))
    worker.run_once(block_ms=200)
    assert [s["status"] for s in odoo.items("ingest_statuses")] == ["delivered"]
    (letter,) = dead(rds, prefix)
    assert letter["reason"].startswith("could not build the contract payload: TypeError")
    assert pending(rds, prefix) == 0
