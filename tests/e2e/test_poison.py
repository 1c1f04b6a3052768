"""End to end: bodies and messages that break things do not stop the bridge nor hold up other customers.

Signed webhooks are posted to the bridge's ``web`` process, as Meta would; the ``inbound`` process
delivers them to a real Odoo.  Among good messages: a body that is not a webhook (``"text": "hello"``),
a body nested 100,000 levels deep, and a text holding NUL (PostgreSQL cannot store it: the parser
strips it; else the contract check of either side refuses it, or Odoo fails on that message alone,
and it is set aside).
"""

from __future__ import annotations

import json
import random
import time
import uuid

import httpx
import pytest

from .bridge_procs import Stack, dead_letters, signed_headers, stream_backlog, text_webhook, wait_until

TIMEOUT = 60


@pytest.fixture(scope="module")
def poison_stack(odoo_server, bridge_api_key):
    running = Stack(odoo_server, bridge_api_key, simulator=False, tag="poison", WA_BATCH_LINGER_MS=300,
                    WA_BACKOFF_MAX_SECONDS=1, WA_POISON_ATTEMPTS=2)
    try:
        running.start(outbound=False)
        yield running
    finally:
        running.close()


def _customer() -> str:
    return "55119" + "".join(random.choices("0123456789", k=8))


def _post(stack, raw: bytes) -> None:
    response = httpx.post(stack.bridge.webhook_url, content=raw, headers=signed_headers(raw), timeout=10)
    assert response.status_code == 200, response.text


def _stored(odoo_server, wamid: str) -> list[dict]:
    return odoo_server.admin("whatsapp.message", "search_read", [("wamid", "=", wamid)], ["body", "partner_id"])


def _letters(prefix: str) -> list[dict]:
    return [json.loads(letter["payload"]) for letter in dead_letters(prefix)]


def test_poison_bodies_and_a_nul_text_neither_stop_the_bridge_nor_hold_up_anyone(poison_stack, odoo_server):
    run = uuid.uuid4().hex[:8]
    maria, carlos = _customer(), _customer()
    now = int(time.time())
    good, nul, other, later = (f"wamid.PSN{run}.{name}" for name in ("good", "nul", "other", "later"))
    _post(poison_stack, text_webhook(maria, good, now, "a good message", name="Maria"))
    _post(poison_stack, b'"text": "hello"')
    _post(poison_stack, b"[" * 100_000 + b"]" * 100_000)
    _post(poison_stack, text_webhook(maria, nul, now + 1, "a text with a \x00 NUL in it", name="Maria"))
    _post(poison_stack, text_webhook(carlos, other, now + 1, "another customer's message", name="Carlos"))

    wait_until(lambda: _stored(odoo_server, good) and _stored(odoo_server, other), TIMEOUT, 0.5,
               "the good messages committed in Odoo")

    def nul_settled():
        stored = _stored(odoo_server, nul)
        if stored:
            return "stored", stored[0]
        letter = next((x for x in _letters(poison_stack.prefix) if (x.get("item") or {}).get("wamid") == nul), None)
        return ("dead", letter) if letter else None

    outcome, record = wait_until(nul_settled, TIMEOUT, 0.5, "the NUL message stored or set aside")
    if outcome == "stored":  # the parser stripped the NUL
        assert "\x00" not in record["body"] and "NUL in it" in record["body"]
    else:  # refused (by the bridge's contract check or by Odoo), or Odoo failed on it alone: set aside, with why
        assert record["reason"].startswith(("bridge produced an invalid payload:", "Odoo refused it:",
                                            "Odoo fails on this message:")) and "NUL" in record["reason"], \
            record["reason"]

    letters = _letters(poison_stack.prefix)
    assert any(x["payload"] == '"text": "hello"' and x["reason"].startswith("unreadable webhook body")
               for x in letters), [x["reason"] for x in letters]
    assert any(x["payload"].startswith("[[[") and x["reason"].startswith(
        ("unreadable webhook body", "parser failed on this body")) for x in letters), [x["reason"] for x in letters]

    # the inbound process is still running and serves what comes later
    assert poison_stack.bridge.inbound.alive
    _post(poison_stack, text_webhook(maria, later, now + 2, "after all that", name="Maria"))
    wait_until(lambda: _stored(odoo_server, later), TIMEOUT, 0.5, "a later message committed")
    assert poison_stack.bridge.inbound.alive
    assert _stored(odoo_server, later)[0]["partner_id"] == _stored(odoo_server, good)[0]["partner_id"]
    wait_until(lambda: stream_backlog(poison_stack.prefix)["pending"] == 0, TIMEOUT, 0.5, "nothing left pending")
