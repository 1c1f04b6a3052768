"""The simulator's message templates: learned through Graph, reviewed like Meta, enforced on send."""

from __future__ import annotations

from sim_helpers import VERSION

CUSTOMER = "5511987654321"
BODY = {"name": "order_update", "language": "pt_BR", "category": "UTILITY", "components": [
    {"type": "BODY", "text": "Olá {{1}}, seu pedido {{2}} saiu.", "example": {"body_text": [["Maria", "#12"]]}},
    {"type": "BUTTONS", "buttons": [{"type": "QUICK_REPLY", "text": "Obrigado"}]},
]}


def templates_url(sim, waba_id=None):
    return f"/{VERSION}/{waba_id or sim.cfg.waba_id}/message_templates"


def submit(sim, body=BODY):
    return sim.client.post(templates_url(sim), json=body, headers=sim.auth)


def send_template(sim, name="order_update", params=("Maria", "#12"), language="pt_BR"):
    components = [{"type": "body", "parameters": [{"type": "text", "text": p} for p in params]}]
    return sim.graph_send({"to": CUSTOMER, "type": "template",
                           "template": {"name": name, "language": {"code": language}, "components": components}})


def test_submit_is_pending_until_reviewed_then_the_webhook_tells(make_sim, receiver):
    sim = make_sim(template_review="manual")
    r = submit(sim)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "PENDING" and r.json()["category"] == "UTILITY"
    listed = sim.client.get(templates_url(sim), params={"fields": "name,status,language"}, headers=sim.auth).json()
    assert {(t["name"], t["status"]) for t in listed["data"]} == {("hello_world", "APPROVED"),
                                                                  ("order_update", "PENDING")}
    # not approved yet: Meta's 132001
    refused = send_template(sim)
    assert refused.status_code == 404
    assert refused.json()["error"]["code"] == 132001
    assert "does not exist in pt_BR" in refused.json()["error"]["error_data"]["details"]

    approved = sim.client.post("/_sim/templates/order_update/approve", json={})
    assert approved.json()["status"] == "APPROVED"
    sim.flush()
    (change,) = [c for b in receiver.bodies() for e in b["entry"] for c in e["changes"]
                 if c["field"] == "message_template_status_update"]
    assert change["value"]["event"] == "APPROVED"
    assert change["value"]["message_template_name"] == "order_update"
    assert send_template(sim).status_code == 200


def test_demo_review_approves_at_once_and_reject_gives_a_reason(make_sim):
    sim = make_sim()
    assert submit(sim).json()["status"] == "APPROVED"
    rejected = sim.client.post("/_sim/templates/order_update/reject", json={"reason": "INCORRECT_CATEGORY"})
    assert rejected.json()["rejected_reason"] == "INCORRECT_CATEGORY"
    listed = sim.client.get(templates_url(sim), params={"fields": "name,status,rejected_reason"},
                            headers=sim.auth).json()["data"]
    assert {"INCORRECT_CATEGORY"} == {t["rejected_reason"] for t in listed if t["name"] == "order_update"}
    assert send_template(sim).json()["error"]["code"] == 132001


def test_template_is_accepted_outside_the_window_and_delivered(make_sim):
    sim = make_sim()
    submit(sim)
    sim.customer_says(CUSTOMER, "oi")
    sim.advance(25 * 3600)
    assert sim.send_text(CUSTOMER).status_code == 200  # accepted, then fails 131047 (Meta's way)
    r = send_template(sim)
    assert r.status_code == 200 and r.json()["messages"][0]["message_status"] == "accepted"
    out = sim.client.get(f"/_sim/customers/{CUSTOMER}/messages").json()["messages"]
    text, template = out
    assert text["state"] == "failed" and text["errors"][0]["code"] == 131047
    assert template["state"] == "delivered"
    assert template["rendered"]["body"] == "Olá Maria, seu pedido #12 saiu."
    assert template["rendered"]["buttons"] == [{"text": "Obrigado", "payload": "Obrigado"}]


def test_parameters_must_match_and_not_be_empty(make_sim):
    sim = make_sim()
    submit(sim)
    assert send_template(sim, params=("Maria",)).json()["error"]["code"] == 132000
    assert send_template(sim, params=("Maria", " ")).json()["error"]["code"] == 131008


def test_submit_validation_is_metas(make_sim):
    sim = make_sim()
    assert submit(sim, dict(BODY, name="Order Update")).json()["error"]["code"] == 100
    long_body = dict(BODY, components=[{"type": "BODY", "text": "x" * 1025}])
    assert submit(sim, long_body).json()["error"]["code"] == 131009
    no_example = dict(BODY, components=[{"type": "BODY", "text": "Olá {{1}}"}])
    assert "example" in submit(sim, no_example).json()["error"]["error_data"]["details"]
    long_button = dict(BODY, components=[BODY["components"][0],
                                         {"type": "BUTTONS", "buttons": [{"type": "QUICK_REPLY", "text": "b" * 26}]}])
    assert submit(sim, long_button).json()["error"]["code"] == 131009
    assert submit(sim).status_code == 200
    duplicate = submit(sim).json()["error"]
    assert duplicate["error_subcode"] == 2388024
    wrong_waba = sim.client.post(templates_url(sim, "999"), json=BODY, headers=sim.auth)
    assert wrong_waba.status_code == 400 and wrong_waba.json()["error"]["error_subcode"] == 33


def test_list_pages_with_a_cursor(make_sim):
    sim = make_sim()
    for i in range(3):
        assert submit(sim, dict(BODY, name=f"order_update_{i}")).status_code == 200
    first = sim.client.get(templates_url(sim), params={"limit": "2"}, headers=sim.auth).json()
    assert len(first["data"]) == 2 and "next" in first["paging"]
    rest = sim.client.get(templates_url(sim), params={"limit": "2", "after": first["paging"]["cursors"]["after"]},
                          headers=sim.auth).json()
    assert len(rest["data"]) == 2 and "next" not in rest["paging"]
    names = [t["name"] for t in first["data"] + rest["data"]]
    assert len(set(names)) == 4
