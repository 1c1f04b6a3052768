"""Templates through the bridge: real Redis, the simulator as Graph API, the Odoo TEST DOUBLE.

Submit and sync (``wa:control`` -> message_templates -> ``report_template_states``), and template
messages (``wa:out`` type ``template``): accepted outside the 24-hour window when WhatsApp approved
them, refused with Meta's 132001 otherwise; a free-form message there still fails with 131047.
"""

from __future__ import annotations

import json
import threading

import pytest
import redis

from whatsapp_bridge import contract
from whatsapp_bridge.odoo_client import OdooClient
from whatsapp_bridge.outbound import OutboundWorker
from whatsapp_bridge.providers.cloud_api import CloudApiProvider, template_components
from whatsapp_bridge.ratelimit import RecipientBackoff
from whatsapp_bridge.simulator import DEMO_PHONE_NUMBER_ID, DEMO_WABA_ID
from whatsapp_bridge.templates import GROUP_TEMPLATES, TemplateWorker

from .helpers import REDIS_URL

CUSTOMER = "5511987654321"


def definition(name="service_follow_up", **extra):
    data = {"template_id": 7, "name": name, "language": "pt_BR", "category": "utility",
            "body": "Olá {{1}}! Sobre o atendimento {{2}}.", "body_examples": ["Maria", "WA/0001"],
            "header": {"format": "text", "text": "Atendimento"}, "buttons": ["Pode falar", "Agora não"]}
    data.update(extra)
    return contract.validate_template_definition(data)


def command(name, **extra):
    return contract.validate_control_command({"v": 1, "account": DEMO_PHONE_NUMBER_ID, "command": name, **extra})


def template_job(message_id, name="service_follow_up", params=("Maria", "WA/0001"), payloads=None):
    return contract.validate_outbound_job({
        "v": 1, "message_id": message_id, "account": DEMO_PHONE_NUMBER_ID, "to": {"wa_id": CUSTOMER, "user_id": None},
        "type": "template", "text": "Olá Maria! Sobre o atendimento WA/0001.", "reply_to": None, "attachment": None,
        "buttons": None, "template": {"name": name, "language": "pt_BR", "header": None,
                                      "body_parameters": list(params), "button_payloads": payloads}})


@pytest.fixture
def config(make_config):
    return make_config(WA_WABA_ID=DEMO_WABA_ID)


@pytest.fixture
def sim(simulator):
    sim = simulator.state.simulator
    sim.config.template_review = "manual"
    sim.ensure_customer(CUSTOMER, name="Maria")
    sim.customer_send(CUSTOMER, {"type": "text", "text": "oi"})
    sim.advance(25 * 3600)  # the customer has been silent for 25 hours: the window is closed
    return sim


def template_worker(config):
    worker = TemplateWorker(config, redis.Redis.from_url(REDIS_URL), OdooClient(config), CloudApiProvider(config),
                            threading.Event())
    worker.setup()
    return worker


def outbound_worker(config):
    worker = OutboundWorker(config, redis.Redis.from_url(REDIS_URL), OdooClient(config), CloudApiProvider(config),
                            threading.Event(), backoff=RecipientBackoff(base=0.1, cap=0.5), concurrency=1)
    worker.setup()
    return worker


def push(rds, prefix, stream, payload):
    rds.xadd(f"{prefix}{stream}", {"payload": json.dumps(payload)})


def test_submit_then_approval_reaches_odoo(config, sim, odoo, rds, prefix):
    worker = template_worker(config)
    push(rds, prefix, "wa:control", command("template_submit", template=definition()))
    assert worker.run_once(block_ms=100) == 1
    (state,) = odoo.items("report_template_states")
    assert (state["name"], state["language"], state["status"], state["template_id"]) == \
        ("service_follow_up", "pt_BR", "pending", 7)
    learned = sim.templates[("service_follow_up", "pt_BR")]
    assert learned.category == "UTILITY"
    assert [c["type"] for c in learned.components] == ["HEADER", "BODY", "BUTTONS"]
    assert learned.component("BODY")["example"] == {"body_text": [["Maria", "WA/0001"]]}
    assert state["wa_template_id"] == learned.id

    sim.set_template_status("service_follow_up", "APPROVED")  # Meta's review
    push(rds, prefix, "wa:control", command("template_sync"))
    worker.run_once(block_ms=100)
    synced = {(s["name"], s["status"]) for s in odoo.items("report_template_states")[1:]}
    assert ("service_follow_up", "approved") in synced
    assert ("hello_world", "approved") in synced, "Meta's sample template is in every account"
    assert rds.xpending(f"{prefix}wa:control", GROUP_TEMPLATES)["pending"] == 0


def test_a_refused_submit_is_reported_as_an_error_with_the_reason(config, sim, odoo, rds, prefix):
    worker = template_worker(config)
    push(rds, prefix, "wa:control", command("template_submit", template=definition()))
    push(rds, prefix, "wa:control", command("template_submit", template=definition()))  # the same name again
    worker.run_once(block_ms=100)
    first, second = odoo.items("report_template_states")
    assert first["status"] == "pending"
    assert second["status"] == "error"
    assert "already exists" in second["reason"]


def test_without_waba_id_the_submit_says_so(make_config, sim, odoo, rds, prefix):
    worker = template_worker(make_config())  # no WA_WABA_ID
    push(rds, prefix, "wa:control", command("template_submit", template=definition()))
    worker.run_once(block_ms=100)
    (state,) = odoo.items("report_template_states")
    assert state["status"] == "error" and "WA_WABA_ID" in state["reason"]


def test_session_commands_are_left_to_the_session_process(config, sim, odoo, rds, prefix):
    worker = template_worker(config)
    push(rds, prefix, "wa:control", command("start"))
    assert worker.run_once(block_ms=100) == 1
    assert not odoo.items("report_template_states")
    assert rds.xlen(f"{prefix}wa:control") == 1, "acked in its own group, not deleted: the stream is shared"


def test_graph_down_keeps_the_command_pending(config, sim, odoo, rds, prefix):
    worker = template_worker(config)
    sim.faults.server_error_next = 1
    push(rds, prefix, "wa:control", command("template_sync"))
    assert worker.run_once(block_ms=100) == 0
    assert rds.xpending(f"{prefix}wa:control", GROUP_TEMPLATES)["pending"] == 1
    assert worker.run_once(block_ms=100) == 1
    assert odoo.items("report_template_states")


def test_an_approved_template_reaches_the_customer_outside_the_window(config, sim, odoo, rds, prefix):
    sim.create_template(json.loads(json.dumps(_meta_body(definition()))))
    sim.set_template_status("service_follow_up", "APPROVED")
    push(rds, prefix, "wa:out", template_job(41, payloads=["rate:abcdefgh12:5", "rate:abcdefgh12:3"]))
    outbound_worker(config).run_once(block_ms=100)
    (result,) = odoo.items("report_send_results")
    assert result["state"] == "sent"
    (msg,) = [m for m in sim.customer(CUSTOMER).messages if m.direction == "out"]
    assert msg.rendered["body"] == "Olá Maria! Sobre o atendimento WA/0001."
    assert msg.rendered["header"] == "Atendimento"
    assert [b["text"] for b in msg.rendered["buttons"]] == ["Pode falar", "Agora não"]
    assert msg.statuses == ["sent", "delivered"]
    # the customer taps the first quick reply: its payload comes back
    reply = sim.press(CUSTOMER, {"title": "Pode falar"})
    assert reply.content["type"] == "button"
    assert reply.content["button"] == {"payload": "rate:abcdefgh12:5", "text": "Pode falar"}


def test_unknown_or_unapproved_template_is_refused_with_132001(config, sim, odoo, rds, prefix):
    sim.create_template(_meta_body(definition()))  # still PENDING
    push(rds, prefix, "wa:out", template_job(42))
    push(rds, prefix, "wa:out", template_job(43, name="never_submitted"))
    outbound_worker(config).run_once(block_ms=100)
    by_id = {r["message_id"]: r for r in odoo.items("report_send_results")}
    for message_id in (42, 43):
        assert by_id[message_id]["state"] == "failed"
        assert by_id[message_id]["error"]["code"] == 132001
        assert "does not exist" in by_id[message_id]["error"]["message"]
    assert not [m for m in sim.customer(CUSTOMER).messages if m.direction == "out"]


def test_wrong_number_of_parameters_is_refused_with_132000(config, sim, odoo, rds, prefix):
    sim.create_template(_meta_body(definition()))
    sim.set_template_status("service_follow_up", "APPROVED")
    push(rds, prefix, "wa:out", template_job(44, params=("Maria",)))
    outbound_worker(config).run_once(block_ms=100)
    (result,) = odoo.items("report_send_results")
    assert (result["state"], result["error"]["code"]) == ("failed", 132000)


def test_free_form_outside_the_window_still_fails_with_131047(config, sim, odoo, rds, prefix):
    push(rds, prefix, "wa:out", {"v": 1, "message_id": 45, "account": DEMO_PHONE_NUMBER_ID,
                                 "to": {"wa_id": CUSTOMER, "user_id": None}, "type": "text", "text": "oi?",
                                 "reply_to": None, "attachment": None, "buttons": None})
    outbound_worker(config).run_once(block_ms=100)
    (msg,) = [m for m in sim.customer(CUSTOMER).messages if m.direction == "out"]
    assert msg.state == "failed" and msg.errors[0]["code"] == 131047


def test_template_components_follow_the_cloud_api_shape():
    header = {"format": "document", "link": "https://o.example/f.pdf", "filename": "f.pdf"}
    body = template_components({"name": "x", "language": "pt_BR", "header": header,
                                "body_parameters": ["Maria"], "button_payloads": ["p0"]})
    assert body == {"name": "x", "language": {"code": "pt_BR"}, "components": [
        {"type": "header", "parameters": [{"type": "document",
                                           "document": {"link": "https://o.example/f.pdf", "filename": "f.pdf"}}]},
        {"type": "body", "parameters": [{"type": "text", "text": "Maria"}]},
        {"type": "button", "sub_type": "quick_reply", "index": "0",
         "parameters": [{"type": "payload", "payload": "p0"}]},
    ]}


def _meta_body(defn):
    from whatsapp_bridge.providers.cloud_api import template_definition_body

    return template_definition_body(defn)
