"""The contract accepts only what Odoo and PostgreSQL can then store.

Before these rules, a payload the contract accepted could still make Odoo fail: a timestamp in
milliseconds (``ValueError: year 58886 is out of range``), a NUL character (PostgreSQL refuses
it), a lone surrogate (not encodable to UTF-8), an error code beyond PostgreSQL's ``integer``.
Odoo would then answer with a server error instead of a ``ValidationError`` naming the field.
"""

from __future__ import annotations

import copy
import json

import pytest

from whatsapp_bridge import contract

TEXT = {"v": 1, "account": "106540352242922", "wamid": "wamid.A", "timestamp": 1732240000,
        "from": {"wa_id": "5511987654321", "user_id": "BR.1A2B", "name": "Maria"}, "type": "text", "text": "hello"}
LOCATION = dict(TEXT, type="location", text="", location={"latitude": -23.5, "longitude": -46.6, "name": "MASP",
                                                           "address": "Av. Paulista"})
CONTACTS = dict(TEXT, type="contacts", text="João",
                contacts=[{"name": "João", "phones": ["+55 11 91234-5678"], "emails": ["joao@example.com"]}])
REACTION = dict(TEXT, type="reaction", text="", reaction={"wamid": "wamid.B", "emoji": "\U0001F44D"})
REPLY = dict(TEXT, type="interactive", text="Satisfied",
             interactive={"id": "rate:AbCdEf123456:5", "title": "Satisfied"})
UNSUPPORTED = dict(TEXT, type="unsupported", text="", errors=[{"code": 131051, "title": "Unsupported", "message": "m"}])
IMAGE = dict(TEXT, type="image", text="", media={"mimetype": "image/jpeg", "data": "aGVsbG8=", "filename": "a.jpg",
                                                  "caption": "c", "voice": False})
STATUS = {"v": 1, "account": "106540352242922", "wamid": "wamid.OUT", "status": "failed", "timestamp": 1732240000,
          "error": {"code": 131047, "title": "Re-engagement message", "message": "24 hours"}}
SENT = {"v": 1, "message_id": 42, "state": "sent", "wamid": "wamid.OUT"}


def _with(payload, path, value):
    out = copy.deepcopy(payload)
    *parents, last = path
    target = out
    for key in parents:
        target = target[key]
    target[last] = value
    return out


def _refused(validator, payload, field, words):
    with pytest.raises(contract.ContractError) as info:
        contract.validate_batch([TEXT, payload] if validator is contract.validate_inbound_message else [payload],
                                "messages", validator)
    index = 1 if validator is contract.validate_inbound_message else 0
    assert info.value.path == f"messages[{index}].{field}"
    assert words in str(info.value), str(info.value)
    return str(info.value)


@pytest.mark.parametrize(("payload", "path"), [
    (TEXT, ("text",)), (TEXT, ("wamid",)), (TEXT, ("account",)), (TEXT, ("from", "name")),
    (TEXT, ("from", "user_id")), (LOCATION, ("location", "name")), (LOCATION, ("location", "address")),
    (CONTACTS, ("contacts", 0, "name")), (CONTACTS, ("contacts", 0, "phones", 0)),
    (CONTACTS, ("contacts", 0, "emails", 0)), (REACTION, ("reaction", "emoji")), (REPLY, ("interactive", "title")),
    (UNSUPPORTED, ("errors", 0, "message")), (IMAGE, ("media", "caption")), (IMAGE, ("media", "filename")),
])
@pytest.mark.parametrize(("bad", "words"), [("a\x00b", "contains a NUL character"),
                                            ("a\ud800b", "contains a lone surrogate")])
def test_every_string_refuses_nul_and_lone_surrogates_naming_the_field(payload, path, bad, words):
    field = ".".join(f"[{p}]" if isinstance(p, int) else p for p in path).replace(".[", "[")
    message = _refused(contract.validate_inbound_message, _with(payload, path, bad), field, words)
    if path == ("text",) and bad == "a\x00b":
        assert message == "messages[1].text: contains a NUL character"


def test_status_and_send_result_strings_refuse_nul():
    _refused(contract.validate_status, _with(STATUS, ("error", "message"), "\x00"), "error.message", "NUL")
    _refused(contract.validate_send_result, _with(SENT, ("wamid",), "wamid.\x00"), "wamid", "NUL")


def test_timestamps_must_be_unix_seconds_not_milliseconds():
    message = _refused(contract.validate_inbound_message, _with(TEXT, ("timestamp",), 1732240000123), "timestamp",
                       "milliseconds?")
    assert message == "messages[1].timestamp: expected unix seconds, got 1732240000123 (milliseconds?)"
    _refused(contract.validate_status, _with(STATUS, ("timestamp",), 1732240000123), "timestamp", "milliseconds?")
    _refused(contract.validate_inbound_message, _with(TEXT, ("timestamp",), 10**10), "timestamp", "unix seconds")
    _refused(contract.validate_inbound_message, _with(TEXT, ("timestamp",), -1), "timestamp", "negative")
    _refused(contract.validate_inbound_message, _with(TEXT, ("timestamp",), True), "timestamp", "integer")
    _refused(contract.validate_inbound_message, _with(TEXT, ("timestamp",), 1732240000.0), "timestamp", "integer")
    contract.validate_inbound_message(_with(TEXT, ("timestamp",), 10**10 - 1))  # year 2286: Odoo stores it
    contract.validate_inbound_message(_with(TEXT, ("timestamp",), 0))


@pytest.mark.parametrize(("validator", "payload", "path"), [
    (contract.validate_status, STATUS, ("error", "code")),
    (contract.validate_inbound_message, UNSUPPORTED, ("errors", 0, "code")),
    (contract.validate_send_result, SENT, ("message_id",)),
    (contract.validate_attachment_request, {"v": 1, "message_id": 45}, ("message_id",)),
    (contract.validate_outbound_job, {"v": 1, "message_id": 43, "account": "1", "to": {"wa_id": "5511987654321"},
                                      "type": "text", "text": "x"}, ("message_id",)),
])
def test_integers_odoo_stores_as_integer_fit_in_int4(validator, payload, path):
    field = ".".join(f"[{p}]" if isinstance(p, int) else p for p in path).replace(".[", "[")
    validator(_with(payload, path, 2**31 - 1))
    _refused(validator, _with(payload, path, 2**31), field, "must be <= 2147483647")
    _refused(validator, _with(payload, path, 10**5000), field, "digits")  # not a ValueError from str()


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf"), True, "1.0",
                                   pytest.param(10**400, id="400-digits"), 90.000001])
def test_coordinates_are_finite_numbers_in_range(value):
    if isinstance(value, (bool, str)):
        words = "expected a number"
    elif isinstance(value, float) and abs(value) == float("inf") or value != value:
        words = "expected a finite number"
    else:
        words = "must be between -90 and 90"
    _refused(contract.validate_inbound_message, _with(LOCATION, ("location", "latitude"), value), "location.latitude",
             words)


@pytest.mark.parametrize(("payload", "path", "cap"), [
    (CONTACTS, ("contacts", 0, "name"), 1024), (REPLY, ("interactive", "title"), 1024),
    (REACTION, ("reaction", "emoji"), 64), (UNSUPPORTED, ("errors", 0, "title"), 1024),
    (UNSUPPORTED, ("errors", 0, "message"), 16384), (CONTACTS, ("contacts", 0, "phones", 0), 1024),
])
def test_strings_have_length_caps(payload, path, cap):
    field = ".".join(f"[{p}]" if isinstance(p, int) else p for p in path).replace(".[", "[")
    contract.validate_inbound_message(_with(payload, path, "x" * cap))
    _refused(contract.validate_inbound_message, _with(payload, path, "x" * (cap + 1)), field,
             f"longer than {cap} characters")


@pytest.mark.parametrize(("payload", "path", "item", "cap"), [
    (CONTACTS, ("contacts",), CONTACTS["contacts"][0], 500),
    (CONTACTS, ("contacts", 0, "phones"), "+55 11 91234-5678", 100),
    (CONTACTS, ("contacts", 0, "emails"), "a@example.com", 100),
    (UNSUPPORTED, ("errors",), UNSUPPORTED["errors"][0], 100),
])
def test_lists_have_length_caps(payload, path, item, cap):
    field = ".".join(f"[{p}]" if isinstance(p, int) else p for p in path).replace(".[", "[")
    contract.validate_inbound_message(_with(payload, path, [item] * cap))
    _refused(contract.validate_inbound_message, _with(payload, path, [item] * (cap + 1)), field, f"at most {cap}")


def test_media_of_a_message_without_its_own_type_is_checked_where_odoo_shows_it():
    # Odoo shows the caption of an unsupported message without text: it must be storable too
    contract.validate_inbound_message(dict(UNSUPPORTED, media={"caption": "see the photo"}))
    _refused(contract.validate_inbound_message, dict(UNSUPPORTED, media={"caption": "\x00"}), "media.caption", "NUL")
    _refused(contract.validate_inbound_message, dict(UNSUPPORTED, media=["x"]), "media", "expected an object")


@pytest.mark.parametrize("version", [True, 1.0, "1", pytest.param(10**5000, id="5000-digits")])
def test_the_version_is_the_integer_1(version):
    _refused(contract.validate_inbound_message, _with(TEXT, ("v",), version), "v", "unsupported contract version")


def test_odd_values_in_errors_are_shown_short():
    message = _refused(contract.validate_inbound_message, _with(TEXT, ("type",), [[["x"] * 10**5]]), "type",
                       "got a list")
    assert len(message) < 300


def test_what_odoo_stores_today_still_passes():
    """Realistic extremes of what Meta sends and Odoo stores (nothing of it may become refused)."""
    family = "\U0001F468\u200d\U0001F469\u200d\U0001F467\u200d\U0001F466"
    flag = "\U0001F3F4\U000E0067\U000E0062\U000E0073\U000E0063\U000E0074\U000E007F"
    for payload in [
        _with(TEXT, ("text",), "\u202eRTL \U0001F600 " + "x" * 4096),  # Meta's longest text, bidi marks
        _with(TEXT, ("from", "name"), "\u0645\u0627\u0631\u064a\u0627 \U0001F338"),
        _with(REACTION, ("reaction", "emoji"), family), _with(REACTION, ("reaction", "emoji"), flag),
        _with(REACTION, ("reaction", "emoji"), ""),  # removed reaction
        _with(LOCATION, ("location", "latitude"), -90), _with(LOCATION, ("location", "longitude"), 180.0),
        _with(UNSUPPORTED, ("errors", 0, "code"), 0), _with(TEXT, ("timestamp",), 4102444800),  # 2100-01-01
        _with(IMAGE, ("media", "filename"), "n" * 256),
        dict(TEXT, context={"wamid": "wamid.B", "forwarded": True, "frequently_forwarded": True}),
    ]:
        assert contract.validate_inbound_message(payload) is payload
    assert contract.validate_status(_with(STATUS, ("error", "code"), 131047)) is not None
    assert contract.validate_status(dict(STATUS, recipient="5511987654321", recipient_user_id="BR.1A")) is not None
    job = {"v": 1, "message_id": 43, "account": "106540352242922", "to": {"wa_id": "5511987654321", "user_id": None},
           "type": "interactive", "text": "Rate us", "reply_to": None, "attachment": None,
           "buttons": [{"id": "rate:AbCdEf123456:5", "title": "\U0001F60A Satisfied"}]}
    assert contract.validate_outbound_job(job) is job
    assert json.dumps(job)
