"""The Cloud API provider against the bundled simulator, and the Graph error classification."""

from __future__ import annotations

import base64

import pytest

from whatsapp_bridge.providers.base import Button, ErrorClass, ListRow, ProviderError, Recipient
from whatsapp_bridge.providers.cloud_api import CloudApiProvider, classify_graph_error

from .helpers import closed_port_url

CUSTOMER = "5511987654321"
OGG = b"OggS\x00\x02" + b"\x00" * 200


@pytest.fixture
def sim(simulator):
    sim = simulator.state.simulator
    sim.ensure_customer(CUSTOMER, name="Maria")
    sim.customer_send(CUSTOMER, {"type": "text", "text": "oi"})  # opens the 24 h window
    return sim


@pytest.fixture
def provider(make_config):
    return CloudApiProvider(make_config())


def sent_messages(sim, customer=CUSTOMER):
    return [m.content for m in sim.customer(customer).messages if m.direction == "out"]


def test_send_text_returns_the_wamid_and_reaches_the_customer(sim, provider):
    receipt = provider.send_text(Recipient(wa_id=CUSTOMER), "Olá Maria", reply_to=None)
    assert receipt.wamid.startswith("wamid.")
    (body,) = sent_messages(sim)
    assert body["to"] == CUSTOMER and body["text"]["body"] == "Olá Maria"


def test_reply_to_sets_the_context(sim, provider):
    inbound = sim.customer_send(CUSTOMER, {"type": "text", "text": "pergunta"})
    provider.send_text(Recipient(wa_id=CUSTOMER), "resposta", reply_to=inbound.id)
    assert sent_messages(sim)[-1]["context"] == {"message_id": inbound.id}


def test_send_to_a_bsuid_only_customer(sim, provider):
    cust = sim.ensure_customer("5511900001111", name="Ana", user_id="BR.77665544332211", phone_hidden=True)
    sim.customer_send(cust.user_id, {"type": "text", "text": "oi"})
    receipt = provider.send_text(Recipient(user_id=cust.user_id), "Olá Ana")
    assert receipt.wamid
    assert sent_messages(sim, cust.user_id)[-1]["recipient"] == cust.user_id


def test_interactive_reply_buttons(sim, provider):
    buttons = [Button("rate:AbCdEf123456:5", "Satisfeito"), Button("rate:AbCdEf123456:1", "Insatisfeito")]
    provider.send_interactive(Recipient(wa_id=CUSTOMER), "Como foi o atendimento?", buttons)
    body = sent_messages(sim)[-1]
    assert body["type"] == "interactive"
    assert body["interactive"]["type"] == "button"
    assert [b["reply"]["id"] for b in body["interactive"]["action"]["buttons"]] == [b.id for b in buttons]


def test_list_message_for_a_menu(sim, provider):
    rows = [ListRow("menu:1", "Comprar", "Pedidos novos"), ListRow("menu:2", "Boletos")]
    receipt = provider.send_list(Recipient(wa_id=CUSTOMER), "Como podemos ajudar?", "Opções", rows)
    assert receipt.wamid
    body = sent_messages(sim)[-1]
    assert body["interactive"]["type"] == "list"
    assert body["interactive"]["action"]["sections"][0]["rows"] == [
        {"id": "menu:1", "title": "Comprar", "description": "Pedidos novos"}, {"id": "menu:2", "title": "Boletos"}]


def test_upload_then_send_voice_note_as_audio(sim, provider):
    media_id = provider.upload_media(OGG, "audio/ogg", "voice.ogg")
    assert sim.media.get(media_id, sim.now()).data == OGG
    provider.send_media(Recipient(wa_id=CUSTOMER), "audio", media_id, caption="ignored for audio")
    body = sent_messages(sim)[-1]
    assert body["type"] == "audio" and body["audio"] == {"id": media_id}


def test_document_keeps_filename_and_caption(sim, provider):
    media_id = provider.upload_media(b"%PDF-1.4 test", "application/pdf", "orcamento.pdf")
    provider.send_media(
        Recipient(wa_id=CUSTOMER), "document", media_id, caption="Seu orçamento", filename="orcamento.pdf"
    )
    assert sent_messages(sim)[-1]["document"] == {
        "id": media_id,
        "caption": "Seu orçamento",
        "filename": "orcamento.pdf",
    }


def test_fetch_inbound_media_downloads_the_bytes(sim, provider):
    png = b"\x89PNG\r\n\x1a\n" + b"\x01" * 64
    msg = sim.customer_send(
        CUSTOMER, {"type": "image", "data": base64.b64encode(png).decode(), "mime_type": "image/png"}
    )
    fetched = provider.fetch_media(msg.content["image"]["id"])
    assert fetched.data == png
    assert fetched.mimetype == "image/png"


def test_fetch_unknown_media_fails_permanently(sim, provider):
    with pytest.raises(ProviderError) as info:
        provider.fetch_media("999999999")
    assert info.value.error_class is ErrorClass.FAIL


@pytest.mark.parametrize(
    ("faults", "error_class", "code", "pair"),
    [
        ({"throttle_next": 1}, ErrorClass.RETRY, 130429, False),
        ({"pair_rate_next": 1}, ErrorClass.RETRY, 131056, True),
        ({"server_error_next": 1}, ErrorClass.RETRY, 2, False),
        ({"server_error_next": 1, "server_error_status": 503}, ErrorClass.RETRY, 2, False),
        ({"expired_token": True}, ErrorClass.PAUSE, 190, False),
    ],
)
def test_simulated_graph_errors_are_classified(sim, provider, faults, error_class, code, pair):
    sim.faults.update(faults)
    with pytest.raises(ProviderError) as info:
        provider.send_text(Recipient(wa_id=CUSTOMER), "oi")
    assert info.value.error_class is error_class
    assert info.value.code == code
    assert info.value.recipient_backoff is pair


def test_outside_24h_window_sync_is_a_readable_failure(sim, provider):
    sim.config.reengagement_mode = "sync"
    sim.advance(25 * 3600)
    with pytest.raises(ProviderError) as info:
        provider.send_text(Recipient(wa_id=CUSTOMER), "oi")
    assert info.value.error_class is ErrorClass.FAIL
    assert info.value.code == 131047
    assert "24 hours" in info.value.message
    assert info.value.to_contract()["code"] == 131047


def test_invalid_parameter_fails(sim, provider):
    with pytest.raises(ProviderError) as info:
        provider.send_text(Recipient(wa_id=CUSTOMER), "x" * 5000)
    assert info.value.error_class is ErrorClass.FAIL


def test_wrong_token_pauses(make_config, sim):
    provider = CloudApiProvider(make_config(WA_ACCESS_TOKEN="EAAwrongtoken"))
    with pytest.raises(ProviderError) as info:
        provider.send_text(Recipient(wa_id=CUSTOMER), "oi")
    assert info.value.error_class is ErrorClass.PAUSE
    assert info.value.code == 190
    assert provider.check()[0] is False


def test_timeout_and_network_errors_retry(make_config, sim):
    sim.faults.update({"timeout_next": 1, "timeout_seconds": 2})
    provider = CloudApiProvider(make_config(WA_GRAPH_TIMEOUT="0.3"))
    with pytest.raises(ProviderError) as info:
        provider.send_text(Recipient(wa_id=CUSTOMER), "oi")
    assert info.value.error_class is ErrorClass.RETRY
    down = CloudApiProvider(make_config(WA_GRAPH_BASE_URL=closed_port_url()))
    with pytest.raises(ProviderError) as info:
        down.send_text(Recipient(wa_id=CUSTOMER), "oi")
    assert info.value.error_class is ErrorClass.RETRY


def graph(code, subcode=None, details=None):
    err = {"message": f"(#{code}) something", "type": "OAuthException", "code": code, "fbtrace_id": "x"}
    if subcode:
        err["error_subcode"] = subcode
    if details:
        err["error_data"] = {"messaging_product": "whatsapp", "details": details}
    return {"error": err}


@pytest.mark.parametrize(
    ("status", "code", "expected", "words"),
    [
        (400, 131047, ErrorClass.FAIL, "24 hours"),
        (400, 131026, ErrorClass.FAIL, "undeliverable"),
        (400, 131051, ErrorClass.FAIL, "Unsupported message type"),
        (400, 131052, ErrorClass.FAIL, "media"),
        (400, 131053, ErrorClass.FAIL, "media"),
        (400, 100, ErrorClass.FAIL, "Invalid parameter"),
        (401, 190, ErrorClass.PAUSE, "access token"),
        (403, 10, ErrorClass.PAUSE, "Permission"),
        (403, 200, ErrorClass.PAUSE, "Permission"),
        (403, 131005, ErrorClass.PAUSE, "permission"),
        (400, 131031, ErrorClass.PAUSE, "locked"),
        (400, 130429, ErrorClass.RETRY, "throughput"),
        (400, 131056, ErrorClass.RETRY, "pair rate"),
        (500, 131000, ErrorClass.RETRY, "went wrong"),
        (503, 99999, ErrorClass.RETRY, "HTTP 503"),
        (400, 99999, ErrorClass.FAIL, "something"),
    ],
)
def test_graph_error_table(status, code, expected, words):
    error = classify_graph_error(status, graph(code, details="detail text"))
    assert error.error_class is expected
    assert error.code == code
    assert words.lower() in error.message.lower()
    assert error.to_contract()["code"] == code


def test_graph_error_without_json():
    assert classify_graph_error(502, None).error_class is ErrorClass.RETRY
    assert classify_graph_error(401, None).error_class is ErrorClass.PAUSE
    assert classify_graph_error(404, "<html>").error_class is ErrorClass.FAIL


def test_cloud_api_provider_follows_the_provider_protocol(provider):
    from whatsapp_bridge.providers.base import Provider

    assert isinstance(provider, Provider)
    assert provider.check() == (True, "ok")
