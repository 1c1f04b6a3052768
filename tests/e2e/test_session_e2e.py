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
