"""The JSON-RPC client against the Odoo TEST DOUBLE (see helpers.OdooDouble)."""

from __future__ import annotations

import pytest

from whatsapp_bridge import contract
from whatsapp_bridge.odoo_client import (
    ContractMismatch,
    OdooAuthError,
    OdooClient,
    OdooPermanentError,
    OdooServerError,
    OdooTransientError,
)

from .helpers import closed_port_url, load_sample


def inbound(wamid="wamid.A1", wa_id="5511987654321"):
    return {"v": 1, "account": "106540352242922", "wamid": wamid, "timestamp": 1732240000,
            "from": {"wa_id": wa_id, "name": "Maria"}, "type": "text", "text": "oi"}


def test_authenticate_then_execute_kw(make_config, odoo):
    client = OdooClient(make_config())
    assert client.check_contract()["version"] == contract.CONTRACT_VERSION
    result = client.ingest_messages([inbound()])
    assert result[0]["wamid"] == "wamid.A1"
    assert odoo.items("ingest_messages")[0]["text"] == "oi"
    assert odoo.authentications == 1


def test_other_contract_version_is_refused(make_config, odoo):
    odoo.version = 2
    with pytest.raises(ContractMismatch, match="version 2"):
        OdooClient(make_config()).check_contract()


def test_wrong_api_key(make_config, odoo):
    with pytest.raises(OdooAuthError, match="WA_ODOO_API_KEY"):
        OdooClient(make_config(WA_ODOO_API_KEY="wrong")).authenticate()


def test_validation_error_is_permanent_and_names_the_item(make_config, odoo):
    odoo.refuse_wamids = {"wamid.B"}
    client = OdooClient(make_config())
    with pytest.raises(OdooPermanentError) as info:
        client.ingest_messages([inbound("wamid.A"), inbound("wamid.B")])
    assert info.value.name == "odoo.exceptions.ValidationError"
    assert info.value.item_index == 1
    assert odoo.items("ingest_messages") == []


def test_bad_payload_is_refused_before_sending(make_config, odoo):
    with pytest.raises(contract.ContractError, match=r"messages\[0\].from.wa_id"):
        OdooClient(make_config()).ingest_messages([inbound(wa_id="+55 11")])
    assert odoo.attempts("ingest_messages") == 0


def test_serialization_failure_and_5xx_and_refused_connection_are_transient(make_config, odoo):
    client = OdooClient(make_config())
    odoo.serialization_failures = 1
    with pytest.raises(OdooTransientError, match="serialize"):
        client.ingest_messages([inbound()])
    odoo.down = True
    with pytest.raises(OdooTransientError, match="503"):
        client.ingest_messages([inbound()])
    with pytest.raises(OdooTransientError, match="unreachable"):
        OdooClient(make_config(WA_ODOO_URL=closed_port_url())).ingest_messages([inbound()])
    odoo.down = False
    client.ingest_messages([inbound()])
    assert len(odoo.items("ingest_messages")) == 1


def test_read_attachment_missing_is_permanent(make_config, odoo):
    odoo.attachments[7] = {"filename": "a.pdf", "mimetype": "application/pdf", "data": "JVBERg=="}
    client = OdooClient(make_config())
    assert client.read_attachment(7)["filename"] == "a.pdf"
    with pytest.raises(OdooPermanentError, match="MissingError|no attachment"):
        client.read_attachment(8)


def test_samples_statuses_reach_odoo(make_config, odoo):
    from whatsapp_bridge.meta_parser import parse_webhook

    statuses = [s.to_contract() for s in parse_webhook(load_sample("status_failed")).statuses]
    OdooClient(make_config()).ingest_statuses(statuses)
    assert odoo.items("ingest_statuses")[0]["error"]["code"] == 131047


def test_access_error_is_a_configuration_problem_not_a_bad_payload(make_config, odoo):
    odoo.access_error = True
    client = OdooClient(make_config())
    with pytest.raises(OdooAuthError, match="rights") as info:
        client.ingest_messages([inbound()])
    assert isinstance(info.value, OdooTransientError) and not isinstance(info.value, OdooPermanentError)
    assert "WA_ODOO_LOGIN" in info.value.action
    assert odoo.authentications == 1  # logging in again cannot give rights


@pytest.mark.parametrize("name", [
    "psycopg2.errors.SerializationFailure",
    "psycopg2.errors.DeadlockDetected",
    "psycopg2.errors.LockNotAvailable",
    "psycopg2.OperationalError",
    "psycopg2.InterfaceError",
])
def test_concurrency_and_connection_errors_are_transient_by_name(make_config, odoo, name):
    odoo.fail_with = (name, "server closed the connection unexpectedly", "")
    with pytest.raises(OdooTransientError) as info:
        OdooClient(make_config()).ingest_messages([inbound()])
    assert not isinstance(info.value, OdooServerError), "retried as Odoo being unavailable, not as a bug"
    assert info.value.name == name


@pytest.mark.parametrize(("name", "message", "debug"), [
    # a text holding NUL: psycopg2 refuses it with a ValueError; its traceback runs through psycopg2
    ("builtins.ValueError", "A string literal cannot contain NUL (0x00) characters.",
     'File "/usr/lib/python3/dist-packages/psycopg2/extensions.py"\nValueError: A string literal cannot contain NUL'),
    # words of a concurrency error in the message of another exception are just words
    ("builtins.KeyError", "could not serialize access due to concurrent update (deadlock)", ""),
    ("psycopg2.errors.StringDataRightTruncation", "value too long for type character varying(64)", ""),
])
def test_other_server_errors_are_server_errors_whatever_their_text_says(make_config, odoo, name, message, debug):
    odoo.fail_with = (name, message, debug)
    with pytest.raises(OdooServerError) as info:
        OdooClient(make_config()).ingest_messages([inbound()])
    assert str(info.value) == f"{name}: {message}"


@pytest.mark.parametrize("name", ["odoo.exceptions.ValidationError", "odoo.exceptions.UserError",
                                  "odoo.exceptions.MissingError"])
def test_refusals_of_the_payload_are_permanent(make_config, odoo, name):
    odoo.fail_with = (name, "messages[0].text: no", "")
    with pytest.raises(OdooPermanentError) as info:
        OdooClient(make_config()).ingest_messages([inbound()])
    assert info.value.item_index == 0


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_http_5xx_is_odoo_unavailable(make_config, odoo, status):
    odoo.http_status = status
    with pytest.raises(OdooTransientError, match=f"HTTP {status}") as info:
        OdooClient(make_config()).call("contract_info")
    assert not isinstance(info.value, OdooServerError)
