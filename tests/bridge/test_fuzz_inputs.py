"""Property tests (hypothesis) of every parser and validator of outside input.

Webhook bodies come from outside, validly signed or not: whatever is in them, the parser must
answer with events or ``WebhookParseError``, never another exception (the inbound worker would
re-read the same entry after every restart), and what it produces must be a payload Odoo and
PostgreSQL can store.  The contract's validators guard Odoo: they raise only ``ContractError``.

The bodies are the samples of ``data/samples/cloud_api`` mutated structurally: a value's type
swapped, keys deleted or added, huge integers, inf/nan floats, deep nesting, odd Unicode (NUL,
lone surrogates, RTL marks, emoji, 10k-character strings), timestamps in milliseconds.

Bounded for CI: a fixed seed (``derandomize``), no deadline, ``WA_FUZZ_EXAMPLES`` examples per
property (default 150).  A long run: ``WA_FUZZ_EXAMPLES=20000 python3 -m pytest tests/bridge/test_fuzz_inputs.py``.
"""

from __future__ import annotations

import contextlib
import copy
import json
import math
import os
from datetime import datetime, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from whatsapp_bridge import contract
from whatsapp_bridge.meta_parser import WebhookParseError, decode_body, parse_webhook

SAMPLES_DIR = Path(__file__).resolve().parents[2] / "data" / "samples" / "cloud_api"
SAMPLES = {p.stem: json.loads(p.read_text(encoding="utf-8")) for p in sorted(SAMPLES_DIR.glob("*.json"))}
EXAMPLES = int(os.environ.get("WA_FUZZ_EXAMPLES", "150"))
FUZZ = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    print_blob=False,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)
# what the inbound worker adds once the file is downloaded (the parser's mimetype/filename/caption stay)
DOWNLOADED = {"data": "aGVsbG8="}
INT4_MIN, INT4_MAX = -(2**31), 2**31 - 1

# --------------------------------------------------------------------------
# strategies
# --------------------------------------------------------------------------

ODD = ["\x00", "\ud800", "\udfff", "\udc00x", "\u200f", "\u202e", "\u2066", "\ufeff", "\U0001F600",
       "\U0001F468\u200d\U0001F469\u200d\U0001F467", "e\u0301", "\n", "\t", "\x7f", "\uffff", "٣"]
odd_text = st.one_of(
    st.text(max_size=12),
    st.lists(st.sampled_from(ODD) | st.characters(), max_size=12).map("".join),
    st.builds(lambda c, n: c * n, st.sampled_from(ODD + ["a", "9"]), st.sampled_from([1, 300, 10_000, 70_000])),
    st.sampled_from(["", " ", "1732240000", "1732240000123", "5511987654321", "-1", "1e400", "NaN", "+55 11 9"]),
)
huge_ints = st.sampled_from([10**400, -(10**400), 2**31, 2**31 - 1, -(2**31) - 1, 2**63, 10**10, 10**11,
                             1732240000123, 10**14, 0, -1, 1])
odd_numbers = st.one_of(
    st.integers(), huge_ints, st.floats(), st.sampled_from([math.nan, math.inf, -math.inf, 1e308, -0.0, 90.0001])
)
scalars = st.one_of(st.none(), st.booleans(), odd_numbers, odd_text)
json_like = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(odd_text, children, max_size=4),
    max_leaves=12,
)
KEYS = ["id", "type", "timestamp", "from", "text", "body", "name", "profile", "phones", "emails", "errors", "code",
        "title", "message", "latitude", "longitude", "voice", "mime_type", "caption", "filename", "context",
        "status", "wa_id", "user_id", "contacts", "messages", "statuses", "value", "metadata", "v", "zzz"]


def nested(value, depth):
    for _ in range(depth):
        value = [value]
    return value


class Deep:
    """``leaf`` nested ``depth`` lists deep, built only when the test runs (``materialize``), so that
    hypothesis never has to print a 100,000-level structure (its printer recurses)."""

    def __init__(self, leaf, depth):
        self.leaf, self.depth = leaf, depth

    def __repr__(self):
        return f"Deep({self.depth})"


def materialize(value):
    if isinstance(value, Deep):
        return nested(materialize(value.leaf), value.depth)
    if isinstance(value, dict):
        return {k: materialize(v) for k, v in value.items()}
    if isinstance(value, list):
        return [materialize(v) for v in value]
    return value


def _nodes(root):
    """(path, node) for every node of a JSON-like tree, root first."""
    out, stack = [], [((), root)]
    while stack:
        path, node = stack.pop()
        out.append((path, node))
        if isinstance(node, dict):
            stack.extend((path + (k,), v) for k, v in node.items())
        elif isinstance(node, list):
            stack.extend((path + (i,), v) for i, v in enumerate(node))
    return out


def _swapped(draw, node):
    """The same value as another type (str <-> int <-> list <-> dict <-> None <-> bool, float): what a
    careless sender produces."""
    kind = draw(st.sampled_from(["none", "bool", "int", "float", "str", "list", "dict"]))
    scalar = isinstance(node, (str, int, float)) and not isinstance(node, bool)
    if kind == "none":
        return None
    if kind == "bool":
        return draw(st.booleans())
    if kind == "int":
        digits = node.strip().lstrip("+") if isinstance(node, str) else ""
        if digits.isascii() and digits.isdigit() and len(digits) < 40:
            return draw(st.sampled_from([int(digits), int(digits) * 1000, -int(digits)]))
        if isinstance(node, int) and not isinstance(node, bool):
            return draw(st.sampled_from([node * 1000, -node, 10**400, node + 2**31]))
        return draw(st.sampled_from([0, 1, len(node) if isinstance(node, (str, list, dict)) else 5]) | huge_ints)
    if kind == "float":
        if isinstance(node, int) and not isinstance(node, bool) and abs(node) < 10**300:
            return float(node)
        return draw(st.sampled_from([math.nan, math.inf, -math.inf, 1.5, 1e308]))
    if kind == "str":
        if scalar:
            return str(node) if not isinstance(node, int) or abs(node) < 10**100 else "9" * 400
        return draw(st.sampled_from([json.dumps(node, default=repr)[:200], "", "hello"]))
    if kind == "list":
        return draw(st.sampled_from([[node], [], list(node.values()) if isinstance(node, dict) else [node, node]]))
    return draw(st.sampled_from([{}, {"body": node}, {"0": node}, dict(enumerate(node)) if isinstance(node, list)
                                 else {"id": node}]))


_PARTS = ("messages", "statuses", "contacts", "errors")


def _mutate(draw, root):
    nodes = _nodes(root)
    # mostly inside a message, status, contact or error: a broken envelope only tests one line
    inner = [(path, node) for path, node in nodes if any(key in _PARTS for key in path[:-1])]
    path, node = draw(st.sampled_from(inner if inner and draw(st.integers(0, 9)) else nodes))
    op = draw(st.sampled_from(["swap"] * 4 + ["delete"] * 2 + ["odd"] * 2 + ["replace", "insert", "deep", "duplicate"]))
    if op == "delete" and path:
        parent = _at(root, path[:-1])
        del parent[path[-1]]
        return root
    if op == "insert" and isinstance(node, dict):
        node[draw(st.sampled_from(KEYS) | odd_text)] = draw(json_like)
        return root
    if op == "duplicate" and isinstance(node, list) and node:
        node.append(copy.deepcopy(draw(st.sampled_from(node))))
        return root
    if op == "odd" and isinstance(node, str):
        at = draw(st.integers(0, len(node)))
        new = node[:at] + draw(odd_text) + node[at:]
    elif op == "deep":
        new = Deep(node, draw(st.sampled_from([2, 50, 1000, 100_000])))
    elif op == "replace":
        new = draw(json_like)
    else:
        new = _swapped(draw, node)
    if not path:
        return new
    _at(root, path[:-1])[path[-1]] = new
    return root


def _at(root, path):
    for key in path:
        root = root[key]
    return root


@st.composite
def mutated_bodies(draw):
    body = copy.deepcopy(SAMPLES[draw(st.sampled_from(sorted(SAMPLES)))])
    for _ in range(draw(st.integers(1, 6))):
        body = _mutate(draw, body)
    return body


# --------------------------------------------------------------------------
# an independent checker: what Odoo reads of a payload, and whether PostgreSQL can store it
# --------------------------------------------------------------------------

def _pick(obj, *keys):
    return {k: obj[k] for k in keys if k in obj}


def odoo_view_inbound(p):
    """The fields of an InboundMessage that whatsapp_api / whatsapp_service read and store."""
    view = _pick(p, "account", "wamid", "timestamp", "type", "text")
    view["from"] = _pick(p["from"], "wa_id", "user_id", "name")
    kind = p["type"]
    if p.get("media") is not None:  # caption/filename are shown for any type without text
        view["media"] = _pick(p["media"], "filename", "mimetype", "data", "voice", "caption")
    if kind == "location":
        view["location"] = _pick(p["location"], "latitude", "longitude", "name", "address")
    if kind == "contacts":
        view["contacts"] = [_pick(c, "name", "phones", "emails") for c in p["contacts"]]
    if kind == "reaction":
        view["reaction"] = _pick(p["reaction"], "wamid", "emoji")
    if kind == "interactive":
        view["interactive"] = _pick(p["interactive"], "id", "title")
    if kind == "system":
        view["system"] = _pick(p["system"], "new_wa_id")
    if p.get("context") is not None:
        view["context"] = _pick(p["context"], "wamid")
    if kind == "unsupported":
        view["errors"] = [_pick(e, "code", "title", "message") for e in p.get("errors") or []]
    return view


def odoo_view_status(p):
    view = _pick(p, "account", "wamid", "status", "timestamp")
    if p.get("error") is not None:
        view["error"] = _pick(p["error"], "code", "title", "message")
    return view


def odoo_view_send_result(p):
    view = _pick(p, "message_id", "state", "wamid")
    if p.get("error") is not None:
        view["error"] = _pick(p["error"], "code", "title", "message")
    return view


def storable_by_odoo(view) -> bool:
    """No NUL or lone surrogate in any string, integers within int4 (Odoo's Integer and ids), a
    timestamp Odoo turns into a Datetime, finite floats, and JSON-RPC can carry it."""
    for path, value in _nodes(view):
        where = ".".join(map(str, path))
        if isinstance(value, str):
            assert "\x00" not in value, f"{where}: NUL"
            value.encode("utf-8")  # a lone surrogate raises UnicodeEncodeError
        elif isinstance(value, bool) or value is None:
            continue
        elif isinstance(value, int):
            if path and path[-1] == "timestamp":
                assert 1970 <= datetime.fromtimestamp(value, timezone.utc).year <= 9999, where
            else:
                assert INT4_MIN <= value <= INT4_MAX, f"{where}: beyond int4"
        elif isinstance(value, float):
            assert math.isfinite(value), f"{where}: {value}"
    json.dumps(view, allow_nan=False, ensure_ascii=False).encode("utf-8")
    return True


def _strings_of(obj):
    """Every string of a parsed event (dataclasses, tuples): what the worker puts in Redis keys and logs."""
    stack = [obj]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif hasattr(item, "__dataclass_fields__"):
            stack.extend(getattr(item, name) for name in item.__dataclass_fields__ if name != "raw")


# --------------------------------------------------------------------------
# (a) parse_webhook is total
# --------------------------------------------------------------------------

@FUZZ
@given(body=mutated_bodies())
@example(body=Deep({}, 100_000))
@example(body={"object": "whatsapp_business_account", "entry": Deep([], 100_000)})
def test_parse_webhook_returns_events_or_raises_only_webhook_parse_error(body):
    body = materialize(body)
    try:
        parsed = parse_webhook(body)
    except WebhookParseError as exc:
        assert str(exc)
        return
    for part in parsed.rejected:
        # the reason names a field of the body (the part's own, or the contacts it uses)
        assert part.reason.startswith(part.path.split(".value")[0]), (part.path, part.reason)
    for text in _strings_of((parsed.messages, parsed.statuses, parsed.errors, parsed.ignored, parsed.rejected)):
        assert "\x00" not in text
        text.encode("utf-8")


# --------------------------------------------------------------------------
# (b), (c) what the parser produces passes the contract and can be stored
# --------------------------------------------------------------------------

@FUZZ
@given(body=mutated_bodies())
def test_every_parsed_message_is_a_payload_odoo_can_store(body):
    body = materialize(body)
    try:
        parsed = parse_webhook(body)
    except WebhookParseError:
        return
    for msg in parsed.messages:
        payload = msg.to_contract(dict(DOWNLOADED) if msg.type in contract.MEDIA_TYPES else None)
        try:
            contract.validate_inbound_message(payload)
        except contract.ContractError as exc:  # allowed by the contract's rules, but the parser should reject it
            pytest.fail(f"the parser kept a message the contract refuses: {exc}")
        assert storable_by_odoo(odoo_view_inbound(payload))


@FUZZ
@given(body=mutated_bodies())
def test_every_parsed_status_is_a_payload_odoo_can_store(body):
    body = materialize(body)
    try:
        parsed = parse_webhook(body)
    except WebhookParseError:
        return
    for status in parsed.statuses:
        payload = status.to_contract()
        try:
            contract.validate_status(payload)
        except contract.ContractError as exc:
            pytest.fail(f"the parser kept a status the contract refuses: {exc}")
        assert storable_by_odoo(odoo_view_status(payload))


# --------------------------------------------------------------------------
# (d) decode_body is total
# --------------------------------------------------------------------------

def _serialized(body, ensure_ascii):
    try:
        text = json.dumps(body, ensure_ascii=ensure_ascii)  # allow_nan: NaN/Infinity literals too
    except (RecursionError, ValueError):
        return "[]"
    return text.encode("utf-8", "surrogatepass") if not ensure_ascii else text


@st.composite
def raw_bodies(draw):
    kind = draw(st.sampled_from(["body", "body", "cut", "binary", "text"]))
    if kind == "binary":
        return draw(st.binary(max_size=300))
    if kind == "text":
        return draw(odd_text)
    raw = _serialized(materialize(draw(mutated_bodies())), draw(st.booleans()))
    if kind == "cut":
        at = draw(st.integers(0, len(raw)))
        raw = raw[:at] + draw(st.binary(max_size=8) if isinstance(raw, bytes) else odd_text)
    return raw


@FUZZ
@given(raw=raw_bodies())
@example(raw=b"[" * 100_000 + b"]" * 100_000)
@example(raw='{"a": ' * 100_000)
@example(raw=b'{"object": NaN}')
@example(raw=b'{"latitude": -Infinity}')
@example(raw=b"\xff\xfe{}")
@example(raw=b'{"n": ' + b"9" * 5000 + b"}")
def test_decode_body_returns_json_or_raises_only_webhook_parse_error(raw):
    try:
        value = decode_body(raw)
    except WebhookParseError as exc:
        assert str(exc).startswith("body")
        return
    for _, node in _nodes(value):
        assert not (isinstance(node, float) and math.isnan(node))
    with contextlib.suppress(WebhookParseError):  # and what it decodes, the parser reads
        parse_webhook(value)


# --------------------------------------------------------------------------
# (e) every contract validator raises only ContractError
# --------------------------------------------------------------------------

def _valid_inbound():
    out = []
    for body in SAMPLES.values():
        for msg in parse_webhook(body).messages:
            out.append(msg.to_contract(dict(DOWNLOADED) if msg.type in contract.MEDIA_TYPES else None))
    return out


VALID = {
    "validate_inbound_message": _valid_inbound(),
    "validate_status": [s.to_contract() for b in SAMPLES.values() for s in parse_webhook(b).statuses],
    "validate_send_result": [
        {"v": 1, "message_id": 42, "state": "sent", "wamid": "wamid.X"},
        {"v": 1, "message_id": 42, "state": "failed", "error": {"code": 131047, "title": "t", "message": "m"}},
    ],
    "validate_session_state": [
        {"v": 1, "account": "web-support", "state": "pairing", "qr": "2@AbC", "detail": ""},
        {"v": 1, "account": "web-support", "state": "connected"},
    ],
    "validate_outbound_job": [
        {"v": 1, "message_id": 43, "account": "106540352242922", "to": {"wa_id": "5511987654321", "user_id": None},
         "type": "text", "text": "Your order ships today", "reply_to": None, "attachment": None, "buttons": None},
        {"v": 1, "message_id": 44, "account": "106540352242922", "to": {"wa_id": None, "user_id": "BR.1A"},
         "type": "audio", "text": None, "reply_to": "wamid.X", "buttons": None,
         "attachment": {"id": 7, "filename": "voice.ogg", "mimetype": "audio/ogg", "voice": True}},
        {"v": 1, "message_id": 45, "account": "106540352242922", "to": {"wa_id": "5511987654321"},
         "type": "interactive", "text": "Rate us", "buttons": [{"id": "rate:AbCdEf123456:5", "title": "Good"}]},
    ],
    "validate_control_command": [{"v": 1, "account": "web-support", "command": "start"}],
    "validate_attachment_request": [{"v": 1, "message_id": 45}],
}
STORED_VIEW = {
    "validate_inbound_message": odoo_view_inbound,
    "validate_status": odoo_view_status,
    "validate_send_result": odoo_view_send_result,
    "validate_session_state": lambda p: _pick(p, "account", "state", "qr", "detail"),
    "validate_attachment_request": lambda p: _pick(p, "message_id"),
}


def test_the_valid_payloads_used_by_the_fuzzer_are_valid():
    assert len(VALID["validate_inbound_message"]) >= 20 and len(VALID["validate_status"]) >= 5
    for name, payloads in VALID.items():
        for payload in payloads:
            getattr(contract, name)(payload)


@st.composite
def mutated_payloads(draw, name):
    payload = copy.deepcopy(draw(st.sampled_from(VALID[name])))
    for _ in range(draw(st.integers(0, 3))):
        payload = _mutate(draw, payload)
    return payload



@pytest.mark.parametrize("name", sorted(VALID) + ["validate_batch"])
@FUZZ
@given(data=st.data())
def test_contract_validators_raise_only_contract_error(name, data):
    if name == "validate_batch":
        inner = data.draw(st.sampled_from(sorted(VALID)))
        validator = getattr(contract, inner)
        items = materialize(data.draw(st.lists(mutated_payloads(inner), max_size=3) | json_like))
        call = lambda: contract.validate_batch(items, "items", validator)  # noqa: E731
        payloads = items if isinstance(items, list) else []
        view = STORED_VIEW.get(inner)
    else:
        payload = materialize(data.draw(mutated_payloads(name) | json_like))
        call = lambda: getattr(contract, name)(payload)  # noqa: E731
        payloads = [payload]
        view = STORED_VIEW.get(name)
    try:
        call()
    except contract.ContractError as exc:
        assert exc.path and str(exc).startswith(exc.path)
        return
    if view is not None:  # accepted: Odoo can store what it reads of it
        for payload in payloads:
            assert storable_by_odoo(view(payload))
