"""The session process (WhatsApp Web) with the scripted fake phone, real Redis and the Odoo test double.

The whole pipeline runs in threads: the session service (wa:control -> fake driver -> Odoo / wa:in),
the inbound worker (wa:in -> Odoo) and the outbound worker (wa:out -> session process -> fake driver).
"""

from __future__ import annotations

import json
import sys
import threading
import time

import pytest

from whatsapp_bridge import contract
from whatsapp_bridge.inbound import InboundWorker
from whatsapp_bridge.keys import Keys
from whatsapp_bridge.odoo_client import OdooClient
from whatsapp_bridge.outbound import OutboundWorker
from whatsapp_bridge.providers.cloud_api import CloudApiProvider
from whatsapp_bridge.providers.session import MediaRouter
from whatsapp_bridge.session import driver_factory
from whatsapp_bridge.session.service import GROUP_SESSION, SessionService
from whatsapp_bridge.streams import Streams
from whatsapp_bridge.supervisor import Supervisor

from .helpers import OdooDouble, ServerThread, wait_until

ACCOUNT = "web-support"


class SessionOdoo(OdooDouble):
    """The test double, plus the session methods of the addon's API."""

    def _report_session_state(self, state):
        contract.validate_session_state(state)
        with self.lock:
            self.accepted.setdefault("report_session_state", []).append(state)
        return {"account_id": 1, "state": state["state"]}

    def _ingest_contacts(self, items):
        contract.validate_batch(items, "contacts", contract.validate_session_contact)
        with self.lock:
            self.accepted.setdefault("ingest_contacts", []).extend(items)
        return [{"phone": i["phone"], "partner_id": n + 1, "result": "new"} for n, i in enumerate(items)]

    def _ingest_history(self, items):
        contract.validate_batch(items, "messages", contract.validate_history_message)
        with self.lock:
            self.accepted.setdefault("ingest_history", []).extend(items)
        return [{"wamid": i["wamid"], "message_id": n + 1, "service_id": 1, "partner_id": 1, "duplicate": False}
                for n, i in enumerate(items)]

    def _ingest_phone_messages(self, items):
        contract.validate_batch(items, "messages", contract.validate_history_message)
        assert all(i["from_me"] for i in items)
        with self.lock:
            self.accepted.setdefault("ingest_phone_messages", []).extend(items)
        return [{"wamid": i["wamid"], "message_id": n + 1, "service_id": 1, "partner_id": 1, "duplicate": False}
                for n, i in enumerate(items)]

    def states(self, account=ACCOUNT):
        return [s for s in self.items("report_session_state") if s["account"] == account]

    def last_state(self, account=ACCOUNT):
        states = self.states(account)
        return states[-1] if states else {}


@pytest.fixture
def odoo():
    double = SessionOdoo()
    server = ServerThread(double.app()).start()
    double.url = server.url
    yield double
    server.stop(wait=False)


@pytest.fixture
def session_config(make_config, tmp_path):
    def build(**extra):
        values = {"WA_DATA_DIR": str(tmp_path / "data"), "WA_FAKE_QR_SECONDS": "0.3", "WA_FAKE_QR_ROTATIONS": "4",
                  "WA_SESSION_KEEPALIVE_TIMEOUT": "1.5", "WA_SESSION_RECIPIENT_INTERVAL": "0",
                  "WA_SESSION_DRIVER": "fake"}
        values.update(extra)
        return make_config(**values)
    return build


class Pipeline:
    """Session service + inbound + outbound workers, each in its own thread."""

    def __init__(self, config, rds, odoo, workers=True):
        self.config, self.rds, self.odoo = config, rds, odoo
        self.stop = threading.Event()
        self.keys = Keys(config.stream_prefix)
        self.streams = Streams(rds, config.stream_prefix)
        self.service = SessionService(config, rds, OdooClient(config), driver_factory(config, rds), self.stop)
        self.threads = [threading.Thread(target=self.service.run, daemon=True)]
        if workers:
            inbound = InboundWorker(config, rds, OdooClient(config),
                                    MediaRouter(CloudApiProvider(config), rds, self.keys), self.stop)
            outbound = OutboundWorker(config, rds, OdooClient(config), CloudApiProvider(config), self.stop)
            self.threads += [threading.Thread(target=inbound.run, daemon=True),
                             threading.Thread(target=outbound.run, daemon=True)]
        for thread in self.threads:
            thread.start()

    def command(self, name, account=ACCOUNT, **extra):
        self.streams.add(contract.STREAM_CONTROL, {"v": 1, "account": account, "command": name, **extra})

    def phone(self, action, account=ACCOUNT, **extra):
        self.rds.rpush(self.keys.fake_phone(account), json.dumps({"action": action, **extra}))

    def sent(self, account=ACCOUNT):
        return [json.loads(x) for x in self.rds.lrange(self.keys.fake_sent(account), 0, -1)]

    def job(self, message_id, text, to="5511987654321", account=ACCOUNT, **extra):
        self.streams.add(contract.STREAM_OUT, {"v": 1, "message_id": message_id, "account": account,
                                               "to": {"wa_id": to}, "type": "text", "text": text, **extra})

    def close(self):
        self.stop.set()
        for thread in self.threads:
            thread.join(10)


@pytest.fixture
def pipeline(session_config, rds, odoo):
    made = []

    def build(workers=True, **extra):
        made.append(Pipeline(session_config(**extra), rds, odoo, workers))
        return made[-1]

    yield build
    for item in made:
        item.close()


def pair(p, odoo, **scan):
    p.command("start")
    wait_until(lambda: odoo.last_state().get("state") == "pairing", 10)
    p.phone("scan", **scan)
    wait_until(lambda: odoo.last_state().get("state") == "connected", 10)


def test_start_shows_rotating_qr_codes_then_scan_connects_and_hands_contacts_to_odoo(pipeline, odoo, rds):
    p = pipeline(workers=False)
    p.command("start")
    wait_until(lambda: len({s.get("qr") for s in odoo.states() if s["state"] == "pairing"}) >= 2, 10)
    qrs = [s["qr"] for s in odoo.states() if s["state"] == "pairing"]
    assert all(q.startswith("2@") and q.count(",") == 3 for q in qrs)
    assert len(set(qrs)) == len(qrs)  # each rotation is a new code
    p.phone("scan", phone="5511940001111", contacts=[
        {"phone": "5511987654321", "lid": "1201@lid", "name": "Maria"}, {"phone": "5521998877665", "name": "João"}])
    wait_until(lambda: odoo.last_state().get("state") == "connected", 10)
    connected = odoo.last_state()
    assert connected["phone"] == "5511940001111" and abs(connected["connected_since"] - time.time()) < 10
    wait_until(lambda: len(odoo.items("ingest_contacts")) == 2, 10)
    assert {c["phone"] for c in odoo.items("ingest_contacts")} == {"5511987654321", "5521998877665"}
    state = json.loads(rds.hget(p.keys.session_state, ACCOUNT))
    assert state["state"] == "connected"
    # the control entries were acked by the session group
    assert p.streams.pending_count(contract.STREAM_CONTROL, GROUP_SESSION) == 0


def test_nobody_scanning_ends_pairing_with_a_clear_reason(pipeline, odoo):
    p = pipeline(workers=False, WA_FAKE_QR_ROTATIONS="2", WA_FAKE_QR_SECONDS="0.2")
    p.command("start")
    wait_until(lambda: odoo.last_state().get("state") == "disconnected", 10)
    assert "Nobody scanned the QR code" in odoo.last_state()["detail"]
    assert len([s for s in odoo.states() if s["state"] == "pairing"]) == 2


def test_pairing_by_phone_number_reports_the_8_character_code(pipeline, odoo):
    p = pipeline(workers=False)
    p.command("pair_phone", phone="5511940001111")
    wait_until(lambda: odoo.last_state().get("pair_code"), 10)
    code = odoo.last_state()["pair_code"]
    assert len(code.replace("-", "")) == 8 and odoo.last_state()["state"] == "pairing"
    p.phone("scan")
    wait_until(lambda: odoo.last_state().get("state") == "connected", 10)
    assert odoo.last_state()["phone"] == "5511940001111"


def test_inbound_messages_take_the_cloud_api_path_and_lids_map_to_phones(pipeline, odoo):
    p = pipeline()
    pair(p, odoo, contacts=[{"phone": "5511987654321", "lid": "1201@lid", "name": "Maria"}])
    p.phone("message", **{"from": "5511987654321", "name": "Maria", "text": "Olá, preciso de ajuda", "id": "3AAA1"})
    p.phone("message", lid="1201@lid", name="Maria", text="é o mesmo número", id="3AAA2")
    p.phone("message", **{"from": "5511987654321", "text": "sent from the phone", "id": "3AAA3", "from_me": True})
    p.phone("message", **{"from": "5511987654321", "type": "image", "data": "iVBORw0KGgo=", "mimetype": "image/png",
                          "text": "a photo", "id": "3AAA4"})
    wait_until(lambda: len(odoo.items("ingest_messages")) == 3, 15)
    by_id = {m["wamid"]: m for m in odoo.items("ingest_messages")}
    assert set(by_id) == {"3AAA1", "3AAA2", "3AAA4"}  # the business's own message is not a customer's
    assert by_id["3AAA1"]["account"] == ACCOUNT and by_id["3AAA1"]["text"] == "Olá, preciso de ajuda"
    assert by_id["3AAA2"]["from"]["wa_id"] == "5511987654321"  # the LID became the phone: one person, one contact
    assert by_id["3AAA4"]["type"] == "image" and by_id["3AAA4"]["media"]["mimetype"] == "image/png"
    assert by_id["3AAA4"]["media"]["data"] == "iVBORw0KGgo="
    # the business's own message reached Odoo as the business's (ingest_phone_messages), to Maria
    wait_until(lambda: odoo.items("ingest_phone_messages"), 10)
    (mine,) = odoo.items("ingest_phone_messages")
    assert (mine["wamid"], mine["from"]["wa_id"], mine["from_me"]) == ("3AAA3", "5511987654321", True)


def test_history_of_the_phone_s_chats_goes_to_odoo_last_messages_of_each_oldest_first_with_media(pipeline, odoo):
    p = pipeline(workers=False, WA_SESSION_HISTORY_MESSAGES="2")
    pair(p, odoo, contacts=[{"phone": "5521998877665", "lid": "1202@lid", "name": "João"}], history=[
        {"phone": "5511987654321", "name": "Maria", "messages": [
            {"id": "3AH1", "ago": 300, "text": "oldest, left out"},
            {"id": "3AH3", "ago": 100, "text": "Obrigada!"},
            {"id": "3AH2", "ago": 200, "text": "Entregamos sim", "from_me": True}]},
        {"lid": "1202@lid", "name": "João", "messages": [
            {"id": "3AJ1", "ago": 50, "type": "image", "data": "iVBORw0KGgo=", "mimetype": "image/png",
             "text": "a nota"}]}])
    wait_until(lambda: len(odoo.items("ingest_history")) == 3, 10)
    by_id = {m["wamid"]: m for m in odoo.items("ingest_history")}
    assert [m["wamid"] for m in odoo.items("ingest_history")][:2] == ["3AH2", "3AH3"]
    assert (by_id["3AH2"]["from_me"], by_id["3AH3"]["from_me"]) == (True, False)
    assert by_id["3AJ1"]["from"]["wa_id"] == "5521998877665"  # the LID of the contacts: one person
    assert by_id["3AJ1"]["media"] == {"data": "iVBORw0KGgo=", "mimetype": "image/png", "caption": "a nota",
                                      "voice": False}
    assert odoo.items("ingest_messages") == []  # nothing of it is a customer's new message
    # WhatsApp syncs the history again: the same ids (Odoo imports nothing twice)
    p.phone("history", chats=[{"phone": "5511987654321", "messages": [{"id": "3AH3", "text": "Obrigada!"}]}])
    wait_until(lambda: len(odoo.items("ingest_history")) == 4, 10)
    assert odoo.items("ingest_history")[-1]["wamid"] == "3AH3"


def test_phone_messages_wait_for_odoo_and_are_handed_over_once_it_is_back(pipeline, odoo, rds):
    p = pipeline(workers=False)
    pair(p, odoo, contacts=[])
    odoo.down = True
    p.phone("message", **{"from": "5511987654321", "text": "do celular", "id": "3AP1", "from_me": True})
    wait_until(lambda: rds.llen(p.keys.session_odoo) == 1, 10)
    assert not odoo.items("ingest_phone_messages")
    odoo.down = False
    wait_until(lambda: odoo.items("ingest_phone_messages"), 15)
    wait_until(lambda: rds.llen(p.keys.session_odoo) == 0, 5)


def test_reply_reaches_the_phone_once_with_receipts_and_waits_while_disconnected(pipeline, odoo):
    p = pipeline()
    pair(p, odoo)
    p.job(41, "Bom dia, Maria!")
    wait_until(lambda: odoo.items("report_send_results"), 15)
    sent = p.sent()
    assert [(s["to"], s["text"]) for s in sent] == [("5511987654321", "Bom dia, Maria!")]
    assert odoo.items("report_send_results")[0] == {"v": 1, "message_id": 41, "state": "sent",
                                                     "wamid": sent[0]["id"]}
    wait_until(lambda: any(s["wamid"] == sent[0]["id"] for s in odoo.items("ingest_statuses")), 10)
    assert odoo.items("ingest_statuses")[0]["status"] == "delivered"

    p.command("stop")  # disconnected, still paired: replies wait
    wait_until(lambda: odoo.last_state().get("state") == "disconnected", 10)
    p.job(42, "Ainda aí?")
    time.sleep(2.0)
    assert len(p.sent()) == 1 and len(odoo.items("report_send_results")) == 1
    p.command("start")  # reconnects with the stored pairing, no QR code
    wait_until(lambda: len(p.sent()) == 2, 15)
    wait_until(lambda: len(odoo.items("report_send_results")) == 2, 10)
    assert p.sent()[1]["text"] == "Ainda aí?"
    p.job(41, "Bom dia, Maria!")  # Odoo's cron pushes a job again: not sent twice
    time.sleep(1.5)
    assert len(p.sent()) == 2


def test_a_menu_list_reaches_a_whatsapp_web_phone_as_numbered_text(pipeline, odoo):
    p = pipeline()
    pair(p, odoo)
    p.job(43, "Como podemos ajudar?", type="interactive", list={"button": "Opções", "rows": [
        {"id": "menu:1", "title": "Comprar"}, {"id": "menu:2", "title": "Boletos", "description": "2ª via"}]})
    wait_until(lambda: odoo.items("report_send_results"), 15)
    assert odoo.items("report_send_results")[0]["state"] == "sent"
    assert p.sent()[0]["text"] == "Como podemos ajudar?\n\n1. Comprar\n2. Boletos"


def test_phone_logout_and_odoo_logout_report_logged_out(pipeline, odoo, tmp_path):
    p = pipeline(workers=False)
    pair(p, odoo)
    assert list((tmp_path / "data" / "sessions").glob("*.json"))
    p.phone("phone_logout")
    wait_until(lambda: odoo.last_state().get("state") == "logged_out", 10)
    assert "phone" in odoo.last_state()["detail"]
    assert not list((tmp_path / "data" / "sessions").glob("*.json"))  # the pairing is gone
    pair(p, odoo)
    p.command("logout")
    wait_until(lambda: odoo.last_state().get("state") == "logged_out", 10)
    assert odoo.last_state()["detail"] == "Logged out from Odoo"


def test_ban_and_dead_connection_fail_with_the_reason_and_raise_the_alert(pipeline, odoo):
    p = pipeline(workers=False)
    pair(p, odoo)
    p.phone("dead")  # connected, but the connection no longer answers
    wait_until(lambda: odoo.last_state().get("state") == "error", 10)
    assert "no keepalive answer" in odoo.last_state()["detail"]
    alert = p.streams.alert("session")
    assert alert and "no keepalive answer" in alert["reason"]
    p.command("start")
    wait_until(lambda: odoo.last_state().get("state") == "connected", 10)
    assert p.streams.alert("session") is None  # cleared once connected again
    p.phone("ban")
    wait_until(lambda: odoo.last_state().get("state") == "error", 10)
    assert "banned" in odoo.last_state()["detail"]


def test_a_restarted_session_process_keeps_the_number_connected(pipeline, odoo):
    first = pipeline(workers=False)
    pair(first, odoo)
    first.close()
    count = len(odoo.states())
    pipeline(workers=False)
    wait_until(lambda: len(odoo.states()) > count, 10)
    resumed = odoo.states()[count:]
    assert resumed[0]["state"] == "connected"  # no QR code: the stored pairing is used
    assert all(s["state"] != "pairing" for s in resumed)


def test_unreadable_control_commands_are_dead_lettered_with_the_reason(pipeline, odoo, rds):
    p = pipeline(workers=False)
    p.streams.add(contract.STREAM_CONTROL, "{not json")
    p.streams.add(contract.STREAM_CONTROL, {"v": 1, "account": ACCOUNT, "command": "pair_phone", "phone": "+55 11"})
    p.streams.add(contract.STREAM_CONTROL, {"v": 1, "account": ACCOUNT, "command": "template_sync"})
    wait_until(lambda: p.streams.length(contract.STREAM_DEAD) == 2, 10)
    reasons = [json.loads(f[b"payload"])["reason"] for _, f in rds.xrange(p.streams.name(contract.STREAM_DEAD))]
    assert any("unreadable control command" in r for r in reasons)
    assert any("command.phone" in r for r in reasons)
    wait_until(lambda: p.streams.pending_count(contract.STREAM_CONTROL, GROUP_SESSION) == 0, 5)
    assert odoo.states() == []  # the template command is another worker's: only acked


def test_cloud_api_start_verifies_the_credentials_with_graph(pipeline, odoo, session_config, rds):
    p = pipeline(workers=False)
    number = p.config.phone_number_id
    p.command("verify", account=number)
    wait_until(lambda: odoo.last_state(number).get("state") == "connected", 10)
    assert "verified" in odoo.last_state(number)["detail"]
    p.command("stop", account=number)
    wait_until(lambda: odoo.last_state(number).get("state") == "disconnected", 10)
    assert rds.exists(p.keys.session_stopped(number))
    p.close()
    bad = pipeline(workers=False, WA_ACCESS_TOKEN="EAAwrongTOKENwrongTOKENwrongTOKEN000000000")
    bad.command("verify", account=number)
    wait_until(lambda: len(odoo.states(number)) == 3, 10)
    assert odoo.last_state(number)["state"] == "error"
    assert "Graph API refused" in odoo.last_state(number)["detail"]
    assert not rds.exists(p.keys.session_stopped(number))  # Start un-ends the number


def test_an_ended_cloud_api_number_receives_nothing_until_start(pipeline, odoo, rds):
    """End on the Cloud API number: its webhooks' messages are set aside with the reason (statuses
    still apply), its replies wait; Start resumes both."""
    from .helpers import load_sample

    p = pipeline()
    number = p.config.phone_number_id
    p.command("stop", account=number)
    wait_until(lambda: odoo.last_state(number).get("state") == "disconnected", 10)
    assert "neither sends nor receives" in odoo.last_state(number)["detail"]
    body = load_sample("text")
    body["entry"][0]["changes"][0]["value"]["metadata"]["phone_number_id"] = number
    p.streams.add(contract.STREAM_IN, json.dumps(body))
    p.job(77, "fica esperando", account=number)
    wait_until(lambda: p.streams.length(contract.STREAM_DEAD) == 1, 10)
    dead = json.loads(rds.xrange(p.streams.name(contract.STREAM_DEAD))[0][1][b"payload"])
    assert "was ended from Odoo" in dead["reason"]
    assert odoo.items("ingest_messages") == [] and odoo.items("report_send_results") == []
    p.command("verify", account=number)  # Start
    wait_until(lambda: odoo.items("report_send_results"), 15)
    assert odoo.items("report_send_results")[0]["message_id"] == 77
    p.streams.add(contract.STREAM_IN, json.dumps(body))
    wait_until(lambda: odoo.items("ingest_messages"), 10)


def test_the_supervisor_restarts_a_child_that_dies(tmp_path):
    marker = tmp_path / "runs"
    script = f"import pathlib,sys; p=pathlib.Path({str(marker)!r}); p.write_text(p.read_text()+'x' if p.exists() " \
             "else 'x'); sys.exit(1)"
    supervisor = Supervisor(["-c", script], name="dies", max_delay=0.2)
    supervisor._spawn = lambda: __import__("subprocess").Popen([sys.executable, "-c", script])
    supervisor.start()
    try:
        wait_until(lambda: marker.exists() and len(marker.read_text()) >= 3, 15)
    finally:
        supervisor.stop()
    assert supervisor.restarts >= 2


def test_without_a_whatsapp_web_client_start_says_so_instead_of_crashing(pipeline, odoo, monkeypatch):
    """A real deployment (WA_SESSION_DRIVER=neonize) while that client is not built: the
    administrator reads why on the account form, and the session process keeps running."""
    monkeypatch.setitem(sys.modules, "whatsapp_bridge.session.neonize_driver", None)  # import fails
    p = pipeline(workers=False, WA_SESSION_DRIVER="neonize")
    p.command("start")
    wait_until(lambda: odoo.last_state().get("state") == "error", 10)
    assert "no WhatsApp Web client: neonize is not installed" in odoo.last_state()["detail"]
    assert "Cloud API" in odoo.last_state()["detail"]
    p.command("start")  # still there, and says it again
    wait_until(lambda: len([s for s in odoo.states() if s["state"] == "error"]) >= 2, 10)


def test_replies_to_one_customer_are_paced_to_lower_the_ban_risk(pipeline, odoo):
    p = pipeline(WA_SESSION_RECIPIENT_INTERVAL="1.0")
    pair(p, odoo, contacts=[])
    started = time.monotonic()
    p.job(61, "um")
    p.job(62, "dois")
    p.job(63, "para outra pessoa", to="5521998877665")
    wait_until(lambda: len(p.sent()) == 3, 15)
    assert time.monotonic() - started >= 1.0  # the second message to Maria waited a second
    assert [s["text"] for s in p.sent() if s["to"] == "5511987654321"] == ["um", "dois"]
