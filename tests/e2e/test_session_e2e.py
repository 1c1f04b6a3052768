"""End to end, WhatsApp Web: a real Odoo, real Redis, the bridge processes and the session process with the
scripted fake phone (WhatsApp cannot be reached from here).

Start -> QR code shown (the PNG decodes back to the QR string) -> the phone scans -> connected -> the
phone's contacts merged with the existing contacts by number -> a customer message creates a service ->
the attendant's reply reaches the phone -> a restart of the session process keeps it connected -> End ->
logged out.
"""

from __future__ import annotations

import base64
import io
import json
import random
import shutil
import subprocess
import tempfile

import pytest
import qrcode
import redis

from .bridge_procs import REDIS_URL, OdooUser, Proc, Stack, wait_until

TIMEOUT = 40


def decode_png(png: bytes) -> str | None:
    if not shutil.which("zbarimg"):
        return None
    with tempfile.NamedTemporaryFile(suffix=".png") as handle:
        handle.write(png)
        handle.flush()
        return subprocess.run(["zbarimg", "--quiet", "--raw", handle.name], capture_output=True, text=True,
                              timeout=30).stdout.strip()


@pytest.fixture(scope="module")
def web(odoo_server, bridge_api_key, tmp_path_factory):
    stack = Stack(odoo_server, bridge_api_key, tag="sess", WA_BATCH_LINGER_MS=50, WA_BACKOFF_MAX_SECONDS=2,
                  WA_DATA_DIR=str(tmp_path_factory.mktemp("bridge-data")), WA_SESSION_DRIVER="fake",
                  WA_FAKE_QR_SECONDS=2, WA_FAKE_QR_ROTATIONS=60, WA_SESSION_KEEPALIVE_TIMEOUT=5,
                  WA_SESSION_RECIPIENT_INTERVAL=0)
    stack.session = Proc(f"sess-{stack.prefix.rstrip(':')}-session", ["session", "--env-file", "/nonexistent"],
                         stack.bridge.env)
    stack.account_key = f"web-{stack.prefix.rstrip(':')}"
    try:
        stack.start()
        stack.session.start()
        yield stack
    finally:
        stack.session.stop()
        stack.close()


def account(odoo_server, account_id, *fields):
    return odoo_server.admin("whatsapp.account", "read", [account_id], list(fields))[0]


def test_start_qr_pair_contacts_inbound_reply_restart_and_end(web, odoo_server):
    rds = redis.Redis.from_url(REDIS_URL)
    phone_key = f"{web.prefix}wa:fake:{web.account_key}"
    sent_key = f"{web.prefix}wa:fake:sent:{web.account_key}"
    maria_phone = "55119" + "".join(random.choices("0123456789", k=8))
    maria = odoo_server.admin("res.partner", "create", {"name": "Maria Cadastrada",
                                                        "mobile": f"+55 11 {maria_phone[4:9]}-{maria_phone[9:]}"})
    account_id = odoo_server.admin("whatsapp.account", "create", {
        "name": "Atendimento Web", "provider": "web", "phone_number_id": web.account_key})

    # Start -> the bridge reports a QR code, Odoo renders it
    odoo_server.admin("whatsapp.account", "action_session_start", [account_id])
    shown = wait_until(lambda: (row := account(odoo_server, account_id, "session_state", "session_qr",
                                               "session_qr_image")) and row["session_qr_image"] and row,
                       TIMEOUT, 0.3, "a QR code on the account")
    assert shown["session_state"] == "pairing" and shown["session_qr"].startswith("2@")
    png = base64.b64decode(shown["session_qr_image"])
    decoded = decode_png(png)
    if decoded is None:
        rendering = io.BytesIO()
        qrcode.make(shown["session_qr"], box_size=8, border=2).save(rendering, format="PNG")
        assert png == rendering.getvalue()
    else:
        assert decoded == shown["session_qr"]

    # the phone scans it; its contacts come along
    rds.rpush(phone_key, json.dumps({"action": "scan", "phone": "5511940001111", "contacts": [
        {"phone": maria_phone, "lid": "7001@lid", "name": "Maria do celular"},
        {"phone": "5531991230000", "name": "Novo Contato"}]}))
    connected = wait_until(lambda: (row := account(odoo_server, account_id, "session_state", "session_connected_since",
                                                   "contacts_matched", "contacts_new", "session_qr_image"))
                           and row["contacts_matched"] + row["contacts_new"] == 2 and row, TIMEOUT, 0.3,
                           "connected with the contacts imported")
    assert connected["session_state"] == "connected" and connected["session_connected_since"]
    assert not connected["session_qr_image"]
    assert (connected["contacts_matched"], connected["contacts_new"]) == (1, 1)
    assert odoo_server.admin("res.partner", "search_count", [("mobile_e164", "=", f"+{maria_phone}")]) == 1

    # Maria writes (with her LID: the phone number is known from the contacts) -> a service, her contact
    rds.rpush(phone_key, json.dumps({"action": "message", "lid": "7001@lid", "name": "Maria do celular",
                                     "text": "Oi, meu pedido chegou quebrado", "id": "3AE2E0001"}))
    message = wait_until(lambda: odoo_server.admin("whatsapp.message", "search_read", [("wamid", "=", "3AE2E0001")],
                                                   ["service_id"]), TIMEOUT, 0.3, "the message in Odoo")[0]
    svc = odoo_server.admin("whatsapp.service", "read", [message["service_id"][0]], ["partner_id", "channel_id"])[0]
    assert svc["partner_id"][0] == maria

    # the attendant answers: it reaches the phone, once, and comes back delivered
    ana = OdooUser(odoo_server, "ana", "ana")
    ana("whatsapp.service", "action_take", [svc["id"]])
    reply = ana("discuss.channel", "message_post", [svc["channel_id"][0]], body="Sinto muito! Vamos trocar.",
                message_type="comment", subtype_xmlid="mail.mt_comment")
    sent = wait_until(lambda: [json.loads(x) for x in rds.lrange(sent_key, 0, -1)], TIMEOUT, 0.3,
                      "the reply on the phone")
    assert [(s["to"], s["text"]) for s in sent] == [(maria_phone, "Sinto muito! Vamos trocar.")]
    wait_until(lambda: odoo_server.admin("whatsapp.message", "search_read", [("mail_message_id", "=", reply)],
                                         ["state"])[0]["state"] == "delivered", TIMEOUT, 0.3, "delivered in Odoo")

    # a restart of the session process keeps the number connected (no QR code)
    web.session.stop()
    web.session.start()
    wait_until(lambda: "resuming a paired WhatsApp Web session" in web.session.tail(20000), TIMEOUT, 0.3,
               "the session resumed")
    assert account(odoo_server, account_id, "session_state")["session_state"] == "connected"

    # End -> logged out
    odoo_server.admin("whatsapp.account", "action_session_logout", [account_id])
    ended = wait_until(lambda: (row := account(odoo_server, account_id, "session_state", "session_detail"))
                       and row["session_state"] == "logged_out" and row, TIMEOUT, 0.3, "logged out")
    assert ended["session_detail"] == "Logged out from Odoo"
    rds.close()


def services_of(odoo_server, partner_id, *fields):
    return odoo_server.admin("whatsapp.service", "search_read", [("partner_id", "=", partner_id)],
                             ["state", "end_reason", "user_id", "channel_id", *fields], order="id")


def handed_to_odoo(web) -> int:
    return web.session.tail(200000).count("phone messages handed to Odoo")


def test_history_on_pairing_lands_as_past_services_and_the_phone_s_own_messages_as_the_business(web, odoo_server):
    """Pairing brings each chat's recent history: a past service (done, not in the queue, read-only);
    a replay imports nothing twice; what the business then sends from the phone appears in the
    customer's open conversation as the business's, and is not sent again."""
    rds = redis.Redis.from_url(REDIS_URL)
    key = f"web2-{web.prefix.rstrip(':')}"
    phone_key, sent_key = f"{web.prefix}wa:fake:{key}", f"{web.prefix}wa:fake:sent:{key}"
    carla_phone = "55119" + "".join(random.choices("0123456789", k=8))
    carla = odoo_server.admin("res.partner", "create", {"name": "Carla Cadastrada", "phone": f"+{carla_phone}"})
    account_id = odoo_server.admin("whatsapp.account", "create", {"name": "Web 2", "provider": "web",
                                                                  "phone_number_id": key})
    odoo_server.admin("whatsapp.account", "action_session_start", [account_id])
    wait_until(lambda: account(odoo_server, account_id, "session_state")["session_state"] == "pairing", TIMEOUT, 0.3,
               "pairing")
    chat = {"phone": carla_phone, "name": "Carla do celular", "messages": [
        {"id": "3AHE2E1", "ago": 7200, "text": "Vocês consertam o modelo X?"},
        {"id": "3AHE2E2", "ago": 7100, "text": "Consertamos sim, traga na loja.", "from_me": True}]}
    before = handed_to_odoo(web)
    rds.rpush(phone_key, json.dumps({"action": "scan", "phone": "5511940002222", "contacts": [], "history": [chat]}))
    past = wait_until(lambda: (rows := [s for s in services_of(odoo_server, carla) if s["end_reason"] == "phone"])
                      and rows, TIMEOUT, 0.3, "the past service of the history")
    assert len(past) == 1 and past[0]["state"] == "done" and not past[0]["user_id"]
    messages = wait_until(lambda: len(rows := odoo_server.admin(
        "whatsapp.message", "search_read", [("service_id", "=", past[0]["id"])], ["wamid", "direction", "state"],
        order="id")) == 2 and rows, TIMEOUT, 0.3, "both messages of the history")
    assert [(m["wamid"], m["direction"], m["state"]) for m in messages] == [
        ("3AHE2E1", "inbound", "received"), ("3AHE2E2", "outbound", "sent")]
    # not in the queue, nobody to rate
    assert odoo_server.admin("whatsapp.service", "search_count", [("partner_id", "=", carla),
                                                                  ("state", "=", "waiting")]) == 0
    assert odoo_server.admin("rating.rating", "search_count", [("res_model", "=", "whatsapp.service"),
                                                                ("res_id", "=", past[0]["id"])]) == 0
    # read-only: an administrator cannot answer in it either
    with pytest.raises(RuntimeError, match="is finished"):
        odoo_server.admin("discuss.channel", "message_post", [past[0]["channel_id"][0]], body="oi",
                          message_type="comment", subtype_xmlid="mail.mt_comment")
    # WhatsApp syncs the history again: nothing is imported twice
    wait_until(lambda: handed_to_odoo(web) > before, TIMEOUT, 0.3, "the history handed to Odoo")
    rds.rpush(phone_key, json.dumps({"action": "history", "chats": [chat]}))
    wait_until(lambda: handed_to_odoo(web) > before + 1, TIMEOUT, 0.3, "the replay handed to Odoo")
    assert odoo_server.admin("whatsapp.message", "search_count", [("wamid", "in", ["3AHE2E1", "3AHE2E2"])]) == 2
    assert len(services_of(odoo_server, carla)) == 1

    # Carla writes now: a new service in the queue; the business answers from the phone itself
    rds.rpush(phone_key, json.dumps({"action": "message", "from": carla_phone, "text": "Posso levar hoje?",
                                     "id": "3AHE2E3"}))
    current = wait_until(lambda: (rows := [s for s in services_of(odoo_server, carla) if s["state"] == "waiting"])
                         and rows[0], TIMEOUT, 0.3, "Carla's new service")
    ana = OdooUser(odoo_server, "ana", "ana")
    ana("whatsapp.service", "action_take", [current["id"]])
    rds.rpush(phone_key, json.dumps({"action": "message", "from": carla_phone, "text": "Pode sim, até as 18h.",
                                     "id": "3AHE2E4", "from_me": True}))
    mine = wait_until(lambda: odoo_server.admin("whatsapp.message", "search_read", [("wamid", "=", "3AHE2E4")],
                                                ["service_id", "direction", "state", "mail_message_id"]),
                      TIMEOUT, 0.3, "the phone's message in Odoo")[0]
    assert (mine["service_id"][0], mine["direction"], mine["state"]) == (current["id"], "outbound", "sent")
    post = odoo_server.admin("mail.message", "read", [mine["mail_message_id"][0]], ["author_id", "body"])[0]
    company = odoo_server.admin("res.users", "read", [odoo_server.rpc("common", "authenticate", odoo_server.db,
                                                                        "admin", "admin", {})], ["company_id"])[0]
    company_partner = odoo_server.admin("res.company", "read", [company["company_id"][0]], ["partner_id"])[0]
    assert post["author_id"][0] == company_partner["partner_id"][0] and "18h" in post["body"]
    assert services_of(odoo_server, carla)[-1]["state"] == "in_progress"  # the conversation goes on with Ana
    assert rds.lrange(sent_key, 0, -1) == []  # never sent to WhatsApp again
    odoo_server.admin("whatsapp.account", "action_session_logout", [account_id])
    rds.close()


def test_cloud_api_end_refuses_replies_and_sets_inbound_aside_until_start(web, odoo_server):
    from .bridge_procs import PHONE_NUMBER_ID, dead_letters

    (cloud,) = odoo_server.admin("whatsapp.account", "search_read", [("phone_number_id", "=", PHONE_NUMBER_ID)],
                                 ["id"])
    customer = "55219" + "".join(random.choices("0123456789", k=8))
    sent = web.sim.send(customer, {"type": "text", "text": "Bom dia, tem horário?", "name": "Paulo"})
    first = wait_until(lambda: odoo_server.admin("whatsapp.message", "search_read", [("wamid", "=", sent["id"])],
                                                 ["service_id"]), TIMEOUT, 0.3, "the customer's message")[0]
    svc = odoo_server.admin("whatsapp.service", "read", [first["service_id"][0]], ["channel_id"])[0]
    ana = OdooUser(odoo_server, "ana", "ana")
    ana("whatsapp.service", "action_take", [svc["id"]])

    def reply(text):
        return ana("discuss.channel", "message_post", [svc["channel_id"][0]], body=text, message_type="comment",
                   subtype_xmlid="mail.mt_comment")

    try:
        odoo_server.admin("whatsapp.account", "action_session_start", [cloud["id"]])
        wait_until(lambda: account(odoo_server, cloud["id"], "session_state")["session_state"] == "connected",
                   TIMEOUT, 0.3, "the Cloud API number verified")
        odoo_server.admin("whatsapp.account", "action_session_logout", [cloud["id"]])  # End
        ended = wait_until(lambda: (row := account(odoo_server, cloud["id"], "session_state", "session_ended",
                                                   "session_detail")) and row["session_state"] == "disconnected"
                           and row, TIMEOUT, 0.3, "the number ended")
        assert ended["session_ended"] and "neither sends nor receives" in ended["session_detail"]
        with pytest.raises(RuntimeError, match="was ended"):  # the attendant reads why, nothing is lost silently
            reply("Temos sim!")
        later = web.sim.send(customer, {"type": "text", "text": "Alô?", "name": "Paulo"})
        wait_until(lambda: any("was ended from Odoo" in d.get("payload", "") for d in dead_letters(web.prefix)),
                   TIMEOUT, 0.3, "the message set aside")
        assert odoo_server.admin("whatsapp.message", "search_count", [("wamid", "=", later["id"])]) == 0
        odoo_server.admin("whatsapp.account", "action_session_start", [cloud["id"]])  # Start resumes
        wait_until(lambda: account(odoo_server, cloud["id"], "session_state")["session_state"] == "connected",
                   TIMEOUT, 0.3, "the number started again")
        reply("Temos sim, às 15h.")
        wait_until(lambda: any("15h" in ((m.get("content") or {}).get("text") or {}).get("body", "")
                               for m in web.sim.outbound(customer)),
                   TIMEOUT, 0.3, "the reply at the customer")
        again = web.sim.send(customer, {"type": "text", "text": "Ótimo", "name": "Paulo"})
        wait_until(lambda: odoo_server.admin("whatsapp.message", "search_count", [("wamid", "=", again["id"])]),
                   TIMEOUT, 0.3, "inbound received again")
    finally:
        odoo_server.admin("whatsapp.account", "action_session_start", [cloud["id"]])
