"""The neonize adapter (the real WhatsApp Web client) on neonize's own protobuf types, without a network.

Each event and message is built with the classes neonize hands the driver (``neonize.proto``), mapped
by the adapter, then taken through the same parser and contract as every session message: what comes
out is the contract payload a Cloud API webhook of the same content gives.  The driver itself runs
against a recording double of neonize's ``NewClient`` (the native core needs WhatsApp's servers).
"""

from __future__ import annotations

import time

import pytest
from neonize.proto import Neonize_pb2 as nz
from neonize.proto.waCommon import WACommon_pb2 as common
from neonize.proto.waE2E import WAWebProtobufsE2E_pb2 as e2e
from neonize.proto.waHistorySync import WAWebProtobufsHistorySync_pb2 as hs
from neonize.proto.waWeb import WAWebProtobufsWeb_pb2 as web

from whatsapp_bridge import contract
from whatsapp_bridge.meta_parser import parse_webhook
from whatsapp_bridge.providers.base import ErrorClass, ProviderError
from whatsapp_bridge.session import driver as ev
from whatsapp_bridge.session import neonize_driver as nd
from whatsapp_bridge.session.service import phone_payload
from whatsapp_bridge.session.store import SessionStore
from whatsapp_bridge.session_parser import parse_session_event

from .helpers import load_sample

ACCOUNT = "web-support"
MARIA = "5511987654321"


def jid(user, server=nd.PHONE_SERVER):
    return nz.JID(User=user, Server=server)


def message_event(content, sender=MARIA, from_me=False, server=nd.PHONE_SERVER, alt=None, group=False,
                  msg_id="3EB0AA11", pushname="Maria", timestamp=1767225600):
    source = nz.MessageSource(Chat=jid("120363@g.us", "g.us") if group else jid(sender, server),
                              Sender=jid(sender, server), IsFromMe=from_me, IsGroup=group)
    if alt:
        source.SenderAlt.CopyFrom(jid(alt))
        source.RecipientAlt.CopyFrom(jid(alt))
    return nz.Message(Info=nz.MessageInfo(MessageSource=source, ID=msg_id, Pushname=pushname, Timestamp=timestamp),
                      Message=content)


def to_contract(data, media_id="wasess:abc"):
    """What the inbound worker makes of a mapped message: session_parser, then the contract payload."""
    data = dict(data)
    data.pop("_media_field", None)
    if "media" in data:
        data["media"] = dict(data["media"], id=media_id)
    parsed = parse_session_event({"object": "whatsapp_session", "v": 1, "account": ACCOUNT, "messages": [data]})
    assert not parsed.rejected, parsed.rejected
    (msg,) = parsed.messages
    payload = msg.to_contract({"data": "aGVsbG8="} if msg.media else None)
    return contract.validate_inbound_message(payload)


def test_a_text_message_gives_the_same_payload_as_the_cloud_api_webhook_of_it():
    data = nd.map_message(message_event(e2e.Message(conversation="Olá, preciso de ajuda"), msg_id="wamid.X1"))
    assert data == {"type": "text", "text": "Olá, preciso de ajuda", "id": "wamid.X1", "timestamp": 1767225600,
                    "from": {"phone": MARIA, "name": "Maria"}, "from_me": False}
    cloud = parse_webhook(load_sample("text")).messages[0].to_contract()
    same = nd.map_message(message_event(e2e.Message(conversation=cloud["text"]), msg_id=cloud["wamid"],
                                        sender=cloud["from"]["wa_id"], pushname=cloud["from"]["name"],
                                        timestamp=cloud["timestamp"]))
    # one pipeline: the same payload, but for the account and the BSUID only the Cloud API knows
    expected = dict(cloud, account=ACCOUNT, **{"from": {k: v for k, v in cloud["from"].items() if k != "user_id"}})
    assert to_contract(same) == expected


@pytest.mark.parametrize(("field", "body", "kind", "media"), [
    ("imageMessage", e2e.ImageMessage(mimetype="image/jpeg", caption="a foto"), "image",
     {"mimetype": "image/jpeg", "caption": "a foto", "voice": False}),
    ("videoMessage", e2e.VideoMessage(mimetype="video/mp4", caption=""), "video",
     {"mimetype": "video/mp4", "caption": None, "voice": False}),
    ("audioMessage", e2e.AudioMessage(mimetype="audio/ogg; codecs=opus", PTT=True), "audio",
     {"mimetype": "audio/ogg; codecs=opus", "caption": None, "voice": True}),
    ("documentMessage", e2e.DocumentMessage(mimetype="application/pdf", fileName="pedido.pdf", caption="o pedido"),
     "document", {"mimetype": "application/pdf", "caption": "o pedido", "voice": False, "filename": "pedido.pdf"}),
    ("stickerMessage", e2e.StickerMessage(mimetype="image/webp"), "sticker",
     {"mimetype": "image/webp", "caption": None, "voice": False}),
])
def test_every_media_kind_maps_to_its_type_with_caption_filename_and_voice(field, body, kind, media):
    data = nd.map_message(message_event(e2e.Message(**{field: body})))
    assert (data["type"], data["media"], data["_media_field"]) == (kind, media, field)
    payload = to_contract(data)
    assert payload["type"] == kind and payload["media"]["mimetype"] == media["mimetype"]
    assert payload["media"]["voice"] is media["voice"]
    if media.get("filename"):
        assert payload["media"]["filename"] == "pedido.pdf" and payload["text"] == "o pedido"


def test_location_reaction_contacts_replies_and_wrappers_map_to_the_contract_types():
    cases = {
        "location": e2e.Message(locationMessage=e2e.LocationMessage(
            degreesLatitude=-23.5, degreesLongitude=-46.6, name="Loja", address="Av. Paulista, 1000")),
        "reaction": e2e.Message(reactionMessage=e2e.ReactionMessage(key=common.MessageKey(ID="3EB0SENT"), text="👍")),
        "contacts": e2e.Message(contactMessage=e2e.ContactMessage(
            displayName="João", vcard="BEGIN:VCARD\nVERSION:3.0\nFN:João P\nTEL;type=CELL;waid=5521998877665:"
                                      "+55 21 99887-7665\nEMAIL:joao@example.com\nEND:VCARD")),
        "interactive": e2e.Message(buttonsResponseMessage=e2e.ButtonsResponseMessage(
            selectedButtonID="rate:abcdefgh12:5", selectedDisplayText="Satisfeito")),
    }
    payloads = {kind: to_contract(nd.map_message(message_event(msg))) for kind, msg in cases.items()}
    assert payloads["location"]["location"] == {"latitude": -23.5, "longitude": -46.6, "name": "Loja",
                                                "address": "Av. Paulista, 1000"}
    assert payloads["reaction"]["reaction"] == {"wamid": "3EB0SENT", "emoji": "👍"}
    assert payloads["contacts"]["contacts"] == [{"name": "João", "phones": ["+55 21 99887-7665"],
                                                 "emails": ["joao@example.com"]}]
    # a rating button pressed on WhatsApp Web is the same rating reply as on the Cloud API
    assert payloads["interactive"]["interactive"] == {"id": "rate:abcdefgh12:5", "title": "Satisfeito"}
    assert contract.parse_rating_button_id(payloads["interactive"]["interactive"]["id"]) == ("abcdefgh12", 5)
    # a reply in a disappearing chat, forwarded
    wrapped = e2e.Message(ephemeralMessage=e2e.FutureProofMessage(message=e2e.Message(
        extendedTextMessage=e2e.ExtendedTextMessage(text="sim, esse", contextInfo=e2e.ContextInfo(
            stanzaID="3EB0PREV", isForwarded=True)))))
    reply = to_contract(nd.map_message(message_event(wrapped)))
    assert (reply["text"], reply["context"]) == ("sim, esse", {"forwarded": True, "wamid": "3EB0PREV"})
    once = nd.map_message(message_event(e2e.Message(viewOnceMessageV2=e2e.FutureProofMessage(
        message=e2e.Message(imageMessage=e2e.ImageMessage(mimetype="image/jpeg"))))))
    assert once["type"] == "image"
    poll = to_contract(nd.map_message(message_event(e2e.Message(pollCreationMessageV3=e2e.PollCreationMessage(
        name="Qual horário?")))))
    assert poll["type"] == "unsupported" and poll["text"] == "Qual horário?" and "poll" in poll["errors"][0]["message"]


def test_groups_broadcasts_protocol_messages_and_empty_texts_are_no_customer_message():
    assert nd.map_message(message_event(e2e.Message(conversation="no grupo"), group=True)) is None
    assert nd.map_message(message_event(e2e.Message(conversation="status"), sender="status",
                                        server="broadcast")) is None
    revoke = e2e.Message(protocolMessage=e2e.ProtocolMessage(key=common.MessageKey(ID="X"),
                                                             type=e2e.ProtocolMessage.REVOKE))
    assert nd.map_message(message_event(revoke)) is None
    assert nd.map_message(message_event(e2e.Message(conversation="   "))) is None


def test_the_business_writing_on_the_phone_names_the_chat_customer_and_lids_carry_the_phone():
    mine = nd.map_message(message_event(e2e.Message(conversation="Respondi pelo celular"), from_me=True,
                                        pushname="Loja"))
    assert mine["from_me"] is True and mine["from"] == {"phone": MARIA}  # the customer, not the business's name
    by_lid = nd.map_message(message_event(e2e.Message(conversation="oi"), sender="120000001", server="lid",
                                          alt=MARIA))
    assert by_lid["from"] == {"phone": MARIA, "lid": "120000001@lid", "name": "Maria"}
    only_lid = nd.map_message(message_event(e2e.Message(conversation="oi"), sender="120000002", server="lid"))
    assert only_lid["from"] == {"lid": "120000002@lid", "name": "Maria"}


def test_receipts_become_delivery_states_of_each_message():
    source = nz.MessageSource(Chat=jid(MARIA), Sender=jid(MARIA))
    receipt = nz.Receipt(MessageSource=source, MessageIDs=["3EB0A", "3EB0B"], Timestamp=1767225700000,
                         Type=nz.Receipt.READ)
    assert nd.map_receipt(receipt) == [
        {"id": "3EB0A", "status": "read", "timestamp": 1767225700, "recipient": MARIA},
        {"id": "3EB0B", "status": "read", "timestamp": 1767225700, "recipient": MARIA}]
    for kind, status in ((nz.Receipt.DELIVERED, "delivered"), (nz.Receipt.PLAYED, "read"),
                         (nz.Receipt.SERVER_ERROR, "failed")):
        receipt.Type = kind
        assert {r["status"] for r in nd.map_receipt(receipt)} == {status}
        for item in nd.map_receipt(receipt):
            contract.validate_status(dict(item, v=1, account=ACCOUNT, wamid=item.pop("id")))
    for kind in (nz.Receipt.READ_SELF, nz.Receipt.RETRY, nz.Receipt.SENDER, nz.Receipt.HISTORY_SYNC):
        receipt.Type = kind
        assert nd.map_receipt(receipt) == []


def history_sync():
    def msg(msg_id, text, ts, from_me=False):
        return hs.HistorySyncMsg(message=web.WebMessageInfo(
            key=common.MessageKey(remoteJID=f"{MARIA}@s.whatsapp.net", fromMe=from_me, ID=msg_id),
            message=e2e.Message(conversation=text), messageTimestamp=ts, pushName="" if from_me else "Maria"))
    return nz.HistorySync(Data=hs.HistorySync(
        syncType=hs.HistorySync.INITIAL_BOOTSTRAP,
        conversations=[
            hs.Conversation(ID=f"{MARIA}@s.whatsapp.net", name="Maria Silva", messages=[
                msg("3AH3", "Obrigada!", 1767225800), msg("3AH1", "Entregam em Campinas?", 1767225600),
                msg("3AH2", "Sim, frete grátis.", 1767225700, from_me=True)]),
            hs.Conversation(ID="120000009@lid", messages=[hs.HistorySyncMsg(message=web.WebMessageInfo(
                key=common.MessageKey(remoteJID="120000009@lid", ID="3AL1"), message=e2e.Message(conversation="oi"),
                messageTimestamp=1767225000))]),
            hs.Conversation(ID="120363000@g.us", messages=[msg("3AG1", "no grupo", 1767225000)]),
        ],
        phoneNumberToLidMappings=[hs.PhoneNumberToLIDMapping(pnJID="5521998877665@s.whatsapp.net",
                                                             lidJID="120000009@lid")]))


def test_history_sync_gives_each_chat_s_last_messages_oldest_first_with_lids_mapped_to_phones():
    messages, lids = nd.map_history(history_sync(), keep=50)
    assert lids == {"120000009@lid": "5521998877665"}
    datas = [data for data, _ in messages]
    assert [d["id"] for d in datas] == ["3AH1", "3AH2", "3AH3", "3AL1"]  # the group is no customer's chat
    assert [d["from_me"] for d in datas[:3]] == [False, True, False]
    assert datas[0]["from"] == {"phone": MARIA, "name": "Maria"} and datas[1]["from"] == {"phone": MARIA}
    assert datas[3]["from"] == {"phone": "5521998877665", "lid": "120000009@lid"}
    payloads = [phone_payload(ACCOUNT, data, None) for data in datas]  # valid history messages of the contract
    assert [(p["from"]["wa_id"], p["from_me"], p["text"]) for p in payloads[:2]] == [
        (MARIA, False, "Entregam em Campinas?"), (MARIA, True, "Sim, frete grátis.")]
    last_two, _ = nd.map_history(history_sync(), keep=2)
    assert [d["id"] for d, _ in last_two] == ["3AH2", "3AH3", "3AL1"]


def test_failure_events_give_the_reasons_the_account_form_shows():
    assert "banned" in nd.failure_reason(nz.TemporaryBan(Code=nz.TemporaryBan.BLOCKED_BY_USERS, Expire=1767229200))
    assert "Cloud API" in nd.failure_reason(nz.TemporaryBan(Code=nz.TemporaryBan.BLOCKED_BY_USERS))
    assert "Linked devices" in nd.failure_reason(nz.LoggedOut(Reason=nz.LOGGED_OUT))
    assert "stream error 515" in nd.failure_reason(nz.StreamError(Code="515"))
    assert "outdated" in nd.failure_reason(nz.ConnectFailure(Reason=nz.CLIENT_OUTDATED))
    assert "Another client" in nd.failure_reason(nz.StreamReplaced())


def upload_double(calls):
    def upload(data, media_type):
        calls.append((data, media_type))
        return nz.UploadResponse(url="https://mmg.whatsapp.net/x", DirectPath="/v/x", MediaKey=b"k" * 32,
                                 FileEncSHA256=b"e" * 32, FileSHA256=b"s" * 32, FileLength=len(data))
    return upload


def test_outgoing_messages_are_built_as_whatsapp_messages_with_the_uploaded_media():
    calls = []
    text = nd.build_message(ev.Outgoing(to=MARIA, kind="text", text="Bom dia"), upload_double(calls), "x")
    assert text == e2e.Message(conversation="Bom dia") and not calls
    reply = nd.build_message(ev.Outgoing(to=MARIA, kind="text", text="Sim", reply_to="3EB0Q"), upload_double(calls),
                             f"{MARIA}@s.whatsapp.net")
    assert reply.extendedTextMessage.contextInfo.stanzaID == "3EB0Q"
    voice = nd.build_message(ev.Outgoing(to=MARIA, kind="audio", media=b"OggS..", mimetype="audio/ogg; codecs=opus",
                                         voice=True), upload_double(calls), "x")
    assert voice.audioMessage.PTT and voice.audioMessage.fileLength == 6 and voice.audioMessage.directPath == "/v/x"
    doc = nd.build_message(ev.Outgoing(to=MARIA, kind="document", media=b"%PDF", mimetype="application/pdf",
                                       filename="nota.pdf", text="a nota"), upload_double(calls), "x")
    assert (doc.documentMessage.fileName, doc.documentMessage.caption) == ("nota.pdf", "a nota")
    image = nd.build_message(ev.Outgoing(to=MARIA, kind="image", media=b"\x89PNG", mimetype="image/png", text="foto"),
                             upload_double(calls), "x")
    assert image.imageMessage.caption == "foto" and image.imageMessage.mediaKey == b"k" * 32
    assert [t.name for _, t in calls] == ["MediaAudio", "MediaDocument", "MediaImage"]
    # what goes out is what comes back in as the same kind (the phone's own messages, the history)
    again = nd.content(e2e.Message.FromString(doc.SerializeToString()))
    assert (again["type"], again["media"]["filename"], again["text"]) == ("document", "nota.pdf", "a nota")
    with pytest.raises(ProviderError) as info:
        nd.build_message(ev.Outgoing(to=MARIA, kind="video"), upload_double(calls), "x")
    assert info.value.error_class is ErrorClass.FAIL


class EventDouble:
    def __init__(self):
        self.handlers = {}
        self.qr_handler = None

    def __call__(self, kind):
        def register(func):
            self.handlers[kind] = func
        return register

    def qr(self, func):
        self.qr_handler = func


class ClientDouble:
    """Records what the driver asks of neonize's ``NewClient``; the tests play its events."""

    made: list = []

    def __init__(self, name, uuid=None):
        self.name, self.uuid = name, uuid
        self.event = EventDouble()
        self.sent, self.calls = [], []
        self.connected = False
        self.contact = type("Contacts", (), {"get_all_contacts": lambda _self: [
            nz.Contact(JID=jid("5521998877665"), Info=nz.ContactInfo(Found=True, FullName="João Pereira"))]})()
        ClientDouble.made.append(self)

    def connect(self):
        self.calls.append("connect")

    def stop(self):
        self.calls.append("stop")

    def logout(self):
        self.calls.append("logout")

    def get_me(self):
        return nz.Device(JID=jid("5511940001111"))

    def PairPhone(self, phone, show_push_notification):  # noqa: N802 - neonize's name
        self.calls.append(("pair", phone))
        return "ABCD1234"

    def upload(self, data, media_type):
        return upload_double([])(data, media_type)

    def send_message(self, to, message):
        self.sent.append((to, message))
        return nz.SendResponse(ID="3EB0SENT1")

    def download_any(self, message):
        return b"\x89PNG-bytes"

    def get_pn_from_lid(self, lid):
        return jid("5531991234567") if lid.User == "120000003" else nz.JID()


@pytest.fixture
def driven(tmp_path):
    ClientDouble.made = []
    events = []
    store = SessionStore(tmp_path)
    driver = nd.NeonizeDriver(ACCOUNT, events.append, store=store, keepalive_seconds=0.05, client_factory=ClientDouble)
    yield driver, events, store
    driver.close()


def play(driver, kind, event):
    ClientDouble.made[-1].event.handlers[kind](ClientDouble.made[-1], event)


def test_the_driver_pairs_connects_sends_and_logs_out_through_neonize(driven):
    from neonize.events import ConnectedEv, HistorySyncEv, MessageEv, PairStatusEv, ReceiptEv

    driver, events, store = driven
    driver.start()
    client = ClientDouble.made[-1]
    assert client.name.endswith(f"{ACCOUNT}.sqlite3") and client.uuid == ACCOUNT  # whatsmeow's own database
    client.event.qr_handler(client, b"2@abc,def,ghi,jkl")
    assert events[-1] == ev.QrCode("2@abc,def,ghi,jkl")
    with pytest.raises(ProviderError):  # not connected yet: sending waits
        driver.send(ev.Outgoing(to=MARIA, kind="text", text="cedo demais"))
    play(driver, PairStatusEv, nz.PairStatus(ID=jid("5511940001111"), Status=nz.PairStatus.SUCCESS))
    play(driver, ConnectedEv, nz.Connected(status=True))
    assert store.load(ACCOUNT)["phone"] == "5511940001111"  # a restart reconnects without a QR code
    connected = [e for e in events if isinstance(e, ev.Connected)]
    assert connected[-1].phone == "5511940001111"
    assert [e for e in events if isinstance(e, ev.Contacts)][-1].items == (
        {"phone": "5521998877665", "lid": "", "name": "João Pereira"},)
    # keepalive while the connection answers (the session's watchdog input)
    deadline = time.monotonic() + 2
    while not any(isinstance(e, ev.Keepalive) for e in events) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert any(isinstance(e, ev.Keepalive) for e in events)
    # an image from a LID the phone's store knows: downloaded, the phone number filled in
    play(driver, MessageEv, message_event(e2e.Message(imageMessage=e2e.ImageMessage(mimetype="image/png")),
                                          sender="120000003", server="lid"))
    got = [e for e in events if isinstance(e, ev.Message)][-1]
    assert got.media == b"\x89PNG-bytes" and got.data["from"]["phone"] == "5531991234567"
    assert "_media_field" not in got.data
    play(driver, ReceiptEv, nz.Receipt(MessageSource=nz.MessageSource(Chat=jid(MARIA)), MessageIDs=["3EB0SENT1"],
                                       Timestamp=1767225700, Type=nz.Receipt.DELIVERED))
    assert [e for e in events if isinstance(e, ev.Receipt)][-1].data["status"] == "delivered"
    play(driver, HistorySyncEv, history_sync())
    history = [e for e in events if isinstance(e, ev.History)][-1]
    assert len(history.messages) == 4 and dict(history.lids) == {"120000009@lid": "5521998877665"}
    # sending: the WhatsApp message goes to the number's JID, its id is the wamid
    wamid = driver.send(ev.Outgoing(to=MARIA, kind="image", media=b"\x89PNG", mimetype="image/png", text="foto"))
    to, message = client.sent[-1]
    assert wamid == "3EB0SENT1" and (to.User, to.Server) == (MARIA, "s.whatsapp.net")
    assert message.imageMessage.caption == "foto"
    driver.logout()
    assert "logout" in client.calls and "stop" in client.calls and store.load(ACCOUNT) is None
    assert events[-1] == ev.LoggedOut("Logged out from Odoo")


def test_the_driver_reports_pairing_codes_bans_logouts_from_the_phone_and_stream_errors(driven):
    from neonize.events import ConnectedEv, LoggedOutEv, StreamErrorEv, TemporaryBanEv

    driver, events, store = driven
    driver.pair_phone("5511940001111")
    client = ClientDouble.made[-1]
    client.event.qr_handler(client, b"2@x")  # the socket is up: WhatsApp takes the code request
    deadline = time.monotonic() + 5
    while not any(isinstance(e, ev.PairCode) for e in events) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert [e for e in events if isinstance(e, ev.PairCode)] == [ev.PairCode("ABCD-1234")]
    assert ("pair", "5511940001111") in client.calls
    play(driver, ConnectedEv, nz.Connected(status=True))
    play(driver, LoggedOutEv, nz.LoggedOut(Reason=nz.LOGGED_OUT))
    assert isinstance(events[-1], ev.LoggedOut) and "Linked devices" in events[-1].reason
    assert store.load(ACCOUNT) is None
    play(driver, StreamErrorEv, nz.StreamError(Code="503"))
    assert events[-1] == ev.Failed("WhatsApp closed the connection (stream error 503)")
    play(driver, TemporaryBanEv, nz.TemporaryBan(Code=nz.TemporaryBan.SEND_TO_TOO_MANY_PEOPLE))
    assert isinstance(events[-1], ev.Failed) and "banned" in events[-1].reason


def test_with_neonize_installed_the_factory_gives_the_neonize_driver(make_config, tmp_path):
    from whatsapp_bridge.session import driver_factory

    made = driver_factory(make_config(WA_SESSION_DRIVER="neonize", WA_DATA_DIR=str(tmp_path)), None)
    driver = made(ACCOUNT, [].append)
    try:
        assert isinstance(driver, nd.NeonizeDriver) and driver.client is None  # nothing connects before Start
    finally:
        driver.close()
