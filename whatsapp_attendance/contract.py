"""The contract between the ``whatsapp_attendance`` Odoo addon and ``whatsapp_bridge``.

This file is written once and used by both sides: the addon validates what the
bridge sends with it, and the bridge builds and checks its payloads with it
(it loads this file by path, see ``whatsapp_bridge/contract.py``).  It must
therefore stay pure Python: no Odoo import, no third-party import.

Version
-------
Every payload carries ``"v": CONTRACT_VERSION``.  A payload of another version
is refused with an error naming the ``v`` field.  ``contract_info`` (JSON-RPC)
returns the version the addon speaks, so a bridge can refuse to start against
an incompatible addon.

Redis streams
-------------
Each stream entry has one field, ``payload``: a JSON document (UTF-8).

* ``wa:in``      raw provider events (bridge internal: webhook bodies, session events)
* ``wa:out``     outbound jobs, appended by Odoo **after commit** (``OutboundJob``)
* ``wa:control`` session and template commands from Odoo (``ControlCommand``)
* ``wa:dead``    events that could not be processed, with the reason

A deployment may prefix every stream name (``stream_name('wa:out', 'acme:')``)
so several databases, or test runs, share one Redis.

Shards (scale-out): ``wa:in`` and ``wa:out`` may be split into N streams, one per
shard, so several bridge processes share the load while each customer's messages
keep their order.  A customer always maps to one shard: ``shard_index(route_key(...), N)``
(CRC-32 of the customer's normalised phone number, else of their business-scoped
user id).  With N = 1 the names are ``wa:in`` / ``wa:out``; with N > 1, shard i of N is
``wa:in:<i>/<N>`` (``shard_stream``).  The deployment's N is the hash ``<prefix>wa:shards``
(field ``count``), written by the bridge at start (``SHARDS_KEY``); Odoo reads it at every
push and appends a job to its recipient's ``wa:out`` shard (no ``count``: 1).

JSON-RPC
--------
The bridge calls ``execute_kw(db, uid, api_key, API_MODEL, method, [arg], {})``
on Odoo's ``/jsonrpc`` endpoint with the API key of the technical user that
belongs to the *WhatsApp Bridge* group.  Methods (``API_METHODS``):

* ``ingest_messages([InboundMessage, ...])`` -> ``[{wamid, message_id, service_id,
  partner_id, duplicate}]`` (same order)
* ``ingest_statuses([Status, ...])`` -> ``[{wamid, message_id, result}]`` with
  result ``applied`` | ``ignored`` (would move backwards / same) | ``unknown``
* ``report_send_results([SendResult, ...])`` -> ``[{message_id, state}]``
* ``report_session_state(SessionState)`` -> ``{account_id, state}``
* ``read_attachment({"v": 1, "message_id": int})`` -> ``{message_id, filename,
  mimetype, data}`` (``data`` is base64)
* ``report_template_states([TemplateState, ...])`` -> ``[{name, language, template_id, result}]``
  with result ``applied`` | ``ignored`` (same state) | ``unknown`` (no such template in Odoo)
* ``contract_info()`` -> ``{version, streams, methods, features}``
* ``ingest_contacts([SessionContact, ...])`` -> ``[{phone, partner_id, result}]`` (feature ``session``)
* ``ingest_history([HistoryMessage, ...])``, ``ingest_phone_messages([HistoryMessage, ...])`` -> as
  ``ingest_messages`` (feature ``history``: the paired phone's own messages, see
  ``validate_history_message``)

Additions within version 1
--------------------------
Version 1 grew without a bump: every payload valid before is still valid and means the same.
What was added is announced in ``contract_info()["features"]`` (``CONTRACT_FEATURES``), so a
bridge can tell whether the addon it talks to knows it:

* ``session``: WhatsApp Web sessions (``pair_phone``, ``verify``, ``ingest_contacts``).
* ``history``: the paired phone's own messages (``ingest_history``, ``ingest_phone_messages``).
* ``menus``: the menu before the human.  An ``interactive`` job may carry ``list`` (a
  ``ListMessage``: up to 10 rows) instead of ``buttons`` (see ``validate_list_message``).
* ``templates``: WhatsApp message templates.  The ``wa:out`` job type ``template``
  (``OutboundJob.template``), the ``wa:control`` commands ``template_submit`` (with
  ``ControlCommand.template``, a ``TemplateDefinition``) and ``template_sync``, and the
  JSON-RPC method ``report_template_states``.

Every batch is validated as a whole before anything is written: one bad item
fails the call with an error naming the item and field (``messages[3].from.wa_id:
...``) and nothing is written.  A valid batch is written in one transaction.
Replaying a batch changes nothing and returns the same ids (idempotent on the
WhatsApp message id, per account).

A payload the contract accepts can be stored: strings carry no NUL character and no
lone surrogate (PostgreSQL and UTF-8 refuse them), integers stored in ``integer``
columns (ids, error codes) fit in 32 bits, timestamps are unix seconds (not
milliseconds), numbers are finite, and strings and lists have length caps (``LIMITS``).
Every validator raises only ``ContractError``, whatever the value it is given.
"""

from __future__ import annotations

import math
import re
import zlib

CONTRACT_VERSION = 1

STREAM_IN = "wa:in"
STREAM_OUT = "wa:out"
STREAM_CONTROL = "wa:control"
STREAM_DEAD = "wa:dead"
STREAMS = (STREAM_IN, STREAM_OUT, STREAM_CONTROL, STREAM_DEAD)
PAYLOAD_FIELD = "payload"

API_MODEL = "whatsapp.api"
API_METHODS = (
    "ingest_messages",
    "ingest_statuses",
    "report_send_results",
    "report_session_state",
    "read_attachment",
    "contract_info",
    "report_template_states",
)
CONTRACT_FEATURES = ("templates",)

MESSAGE_TYPES = (
    "text", "image", "audio", "video", "document", "sticker", "location",
    "contacts", "reaction", "interactive", "unsupported", "system",
)
MEDIA_TYPES = ("image", "audio", "video", "document", "sticker")
OUTBOUND_TYPES = ("text", "image", "audio", "video", "document", "interactive", "template")
STATUS_VALUES = ("sent", "delivered", "read", "failed")
SEND_RESULT_STATES = ("sent", "failed")
SESSION_STATES = ("disconnected", "pairing", "connected", "logged_out", "error")
CONTROL_COMMANDS = ("start", "stop", "logout", "template_submit", "template_sync")

# WhatsApp message templates (Meta's rules: lowercase names, language codes like pt_BR).
TEMPLATE_CATEGORIES = ("marketing", "utility", "authentication")
# Meta's statuses, lowercase; "error": the bridge could not submit it (the reason says why)
TEMPLATE_STATES = ("pending", "approved", "rejected", "disabled", "paused", "error")
TEMPLATE_HEADER_FORMATS = ("text", "image", "document", "video")
TEMPLATE_LIMITS = {
    "name": 512,       # template name
    "body": 1024,      # body text, with its {{n}} placeholders
    "header": 60,      # text header
    "button": 25,      # quick-reply button text
    "buttons": 3,      # quick-reply buttons per template (this product's choice; Meta allows more)
    "parameter": 1024,  # one filled parameter
    "parameters": 20,  # parameters per body
    "url": 2048,       # header media link
    "reason": 2048,    # rejection reason
}
_TEMPLATE_NAME = re.compile(r"^[a-z0-9_]{1,512}$")
_LANGUAGE = re.compile(r"^[a-z]{2,3}(_[A-Z]{2}|_[A-Za-z]{4})?$")
_PLACEHOLDER = re.compile(r"\{\{\s*(\w+)\s*\}\}")

# Reply buttons of the rating request: id = "rate:<rating access token>:<score>".
# The reply carries its own token, so a late reply lands on its own service.
RATING_BUTTON_PREFIX = "rate"
RATING_SCORES = (5, 3, 1)

_DIGITS = re.compile(r"^\d{6,20}$")
_SURROGATE = re.compile("[\ud800-\udfff]")

# What Odoo and PostgreSQL can store, checked here so that a payload the contract accepts is
# never refused later by the database (a refused item is dead-lettered by the bridge instead).
INT4_MIN, INT4_MAX = -(2**31), 2**31 - 1  # fields stored by Odoo as Integer (ids, error codes)
TIMESTAMP_MAX = 10**10  # unix seconds; exclusive (year 2286): a larger value is milliseconds or garbage

# Length caps (characters, or items for lists).  The bridge's parser truncates customer texts
# to these, so a payload it builds never exceeds them.
LIMITS = {
    "text": 65536,             # message text, media caption
    "name": 256,               # from.name (a contact's name in Odoo), media filename
    "location": 1024,          # location name, address
    "contact_name": 1024,      # contacts[].name
    "contact_item": 1024,      # each of contacts[].phones / contacts[].emails
    "contacts": 500,           # shared contact cards per message
    "contact_items": 100,      # phones, emails per card
    "title": 1024,             # interactive.title, error title
    "emoji": 64,               # reaction.emoji (a single emoji, possibly a long ZWJ sequence)
    "error_message": 16384,    # error message
    "errors": 100,             # errors[] per message
}
_RATING_ID = re.compile(r"^rate:([A-Za-z0-9-]{8,64}):([135])$")

# WhatsApp Web sessions (feature "session", added within version 1).  ``verify``: a Cloud API account's
# credentials are checked against the Graph API; ``pair_phone``: pairing by phone number code (WhatsApp's
# "link with phone number"), the command carries ``phone``; ``ingest_contacts``: the phone's contacts.
CONTROL_COMMANDS = CONTROL_COMMANDS + ("pair_phone", "verify")
CONTRACT_FEATURES = CONTRACT_FEATURES + ("session",)
API_METHODS = API_METHODS + ("ingest_contacts",)
# ``shards``: the addon appends outbound jobs to their recipient's ``wa:out`` shard (``SHARDS_KEY``)
CONTRACT_FEATURES = CONTRACT_FEATURES + ("shards",)
SESSION_LIMITS = {"contacts": 500, "qr": 4096, "pair_code": 16}
_PAIR_CODE = re.compile(r"^[A-Z0-9]{4}-?[A-Z0-9]{4}$")

# The phone's own messages (feature "history", added within version 1): ``ingest_history`` (the recent
# history of each chat, reported by the WhatsApp Web client on pairing: past services) and
# ``ingest_phone_messages`` (what the business sends from the phone itself while the session runs:
# the business's messages in the customer's conversation).  Items are ``HistoryMessage``s.
CONTRACT_FEATURES = CONTRACT_FEATURES + ("history",)
API_METHODS = API_METHODS + ("ingest_history", "ingest_phone_messages")


# The menu before the human (feature "menus", added within version 1): an interactive outbound job may
# carry a ``list`` (a WhatsApp list message, ``ListMessage``) instead of ``buttons``.  Limits are Meta's.
CONTRACT_FEATURES = CONTRACT_FEATURES + ("menus",)
LIST_LIMITS = {"rows": 10, "row_title": 24, "row_description": 72, "button_title": 20, "id": 256}


class ContractError(ValueError):
    """A payload does not follow the contract; ``path`` names the bad field."""

    def __init__(self, path: str, problem: str):
        self.path = path
        self.problem = problem
        super().__init__(f"{path}: {problem}")


def stream_name(base: str, prefix: str = "") -> str:
    if base not in STREAMS:
        raise ContractError("stream", f"unknown stream {base!r}")
    return f"{prefix}{base}"


# -- shards: one function names a customer's stream, for every producer (webhook, session, Odoo) --------
SHARDS_KEY = "wa:shards"  # hash: count (the shard count in force), previous (the one before it)
SHARDED_STREAMS = (STREAM_IN, STREAM_OUT)
MAX_SHARDS = 64


def route_phone(number) -> str:
    """A phone number / WhatsApp id as a routing key: digits only, Brazilian mobiles without the ninth
    digit (WhatsApp names a Brazilian mobile with or without it: both forms are one customer)."""
    digits = "".join(ch for ch in str(number or "") if ch.isdigit())
    if len(digits) == 13 and digits.startswith("55") and digits[4] == "9" and digits[5] in "6789":
        digits = digits[:4] + digits[5:]
    return digits


def route_key(wa_id=None, user_id=None, account="") -> str:
    """The key a customer is sharded by: their phone number when known (one person named by phone and
    by business-scoped user id is one customer), else their user id (business-scoped: with its account)."""
    phone = route_phone(wa_id)
    if phone:
        return f"p:{phone}"
    if user_id:
        return f"u:{account}:{user_id}"
    return ""


def shard_index(key: str, count: int) -> int:
    """The shard (0..count-1) of a routing key; stable across processes, machines and versions."""
    if count <= 1 or not key:
        return 0
    return zlib.crc32(key.encode("utf-8")) % count


def shard_stream(base: str, prefix: str = "", index: int = 0, count: int = 1) -> str:
    """The name of shard ``index`` of ``count`` of ``wa:in`` / ``wa:out`` (other streams are not sharded)."""
    name = stream_name(base, prefix)
    if count <= 1 or base not in SHARDED_STREAMS:
        return name
    if not 0 <= index < count:
        raise ContractError("shard", f"shard {index} does not exist with {count} shards")
    return f"{name}:{index}/{count}"


def outbound_route_key(job: dict) -> str:
    """The routing key of an outbound job: its recipient (``to.wa_id``, else ``to.user_id``)."""
    to = job.get("to") if isinstance(job, dict) else None
    to = to if isinstance(to, dict) else {}
    return route_key(to.get("wa_id"), to.get("user_id"), str(job.get("account") or ""))


def rating_button_id(token: str, score: int) -> str:
    return f"{RATING_BUTTON_PREFIX}:{token}:{score}"


def parse_rating_button_id(button_id: str) -> tuple[str, int] | None:
    """``(token, score)`` for a rating reply button id, else ``None``."""
    match = _RATING_ID.match(button_id or "")
    return (match.group(1), int(match.group(2))) if match else None


# --------------------------------------------------------------------------
# small field checkers: each raises ContractError naming the path
# --------------------------------------------------------------------------

def _obj(value, path):
    if not isinstance(value, dict):
        raise ContractError(path, "expected an object")
    return value


def _str(d, key, path, required=True, max_len=None, allow_empty=False):
    value = d.get(key)
    if value is None:
        if required:
            raise ContractError(f"{path}.{key}", "is required")
        return None
    if not isinstance(value, str):
        raise ContractError(f"{path}.{key}", f"expected a string, got {type(value).__name__}")
    if not allow_empty and not value.strip():
        raise ContractError(f"{path}.{key}", "must not be empty")
    if max_len and len(value) > max_len:
        raise ContractError(f"{path}.{key}", f"longer than {max_len} characters")
    _storable(value, f"{path}.{key}")
    return value


def _storable(value, path):
    """PostgreSQL refuses NUL in text, and a lone surrogate cannot be encoded to UTF-8."""
    if "\x00" in value:
        raise ContractError(path, "contains a NUL character")
    if not value.isascii() and _SURROGATE.search(value):
        raise ContractError(path, "contains a lone surrogate (not valid Unicode text)")


def _show(value):
    """A short, always printable rendering of any value for error messages (never a huge repr)."""
    if isinstance(value, bool) or value is None:
        return repr(value)
    if isinstance(value, int):
        if -(10**30) < value < 10**30:
            return repr(value)
        return f"an integer of about {int(value.bit_length() * 0.30103) + 1} digits"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        return repr(value[:60] + ("..." if len(value) > 60 else ""))
    return f"a {type(value).__name__}"


def _bool(d, key, path):
    value = d.get(key)
    if value is not None and not isinstance(value, bool):
        raise ContractError(f"{path}.{key}", f"expected true or false, got {type(value).__name__}")
    return value


def _list(d, key, path, max_items, required=False):
    value = d.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, list):
        raise ContractError(f"{path}.{key}", f"expected a list, got {type(value).__name__}")
    if len(value) > max_items:
        raise ContractError(f"{path}.{key}", f"at most {max_items} items")
    return value


def _strings(d, key, path, max_items, max_len):
    """An optional list of strings."""
    value = _list(d, key, path, max_items)
    for i, item in enumerate(value or ()):
        if not isinstance(item, str):
            raise ContractError(f"{path}.{key}[{i}]", f"expected a string, got {type(item).__name__}")
        if len(item) > max_len:
            raise ContractError(f"{path}.{key}[{i}]", f"longer than {max_len} characters")
        _storable(item, f"{path}.{key}[{i}]")
    return value


def _int(d, key, path, required=True, minimum=INT4_MIN, maximum=INT4_MAX):
    """An integer; by default one PostgreSQL stores in an ``integer`` column (Odoo's Integer, ids)."""
    value = d.get(key)
    if value is None:
        if required:
            raise ContractError(f"{path}.{key}", "is required")
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ContractError(f"{path}.{key}", f"expected an integer, got {type(value).__name__}")
    if value < minimum:
        raise ContractError(f"{path}.{key}", f"must be >= {minimum}, got {_show(value)}")
    if value > maximum:
        raise ContractError(f"{path}.{key}", f"must be <= {maximum}, got {_show(value)}")
    return value


def _timestamp(d, key, path):
    """Unix seconds, as an integer in [0, TIMESTAMP_MAX): what Odoo turns into a Datetime."""
    value = d.get(key)
    if value is None:
        raise ContractError(f"{path}.{key}", "is required")
    if isinstance(value, bool) or not isinstance(value, int):
        raise ContractError(f"{path}.{key}", f"expected unix seconds as an integer, got {type(value).__name__}")
    if value < 0:
        raise ContractError(f"{path}.{key}", f"expected unix seconds, got {_show(value)} (negative)")
    if value >= TIMESTAMP_MAX:
        hint = " (milliseconds?)" if value < 10**14 else ""
        raise ContractError(f"{path}.{key}", f"expected unix seconds, got {_show(value)}{hint}")
    return value


def _num(d, key, path, low, high):
    value = d.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ContractError(f"{path}.{key}", f"expected a number, got {type(value).__name__}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ContractError(f"{path}.{key}", f"expected a finite number, got {value!r}")
    if not low <= value <= high:
        raise ContractError(f"{path}.{key}", f"must be between {low} and {high}, got {_show(value)}")
    return value


def _choice(d, key, path, choices, required=True):
    value = d.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or value not in choices:
        raise ContractError(f"{path}.{key}", f"must be one of {', '.join(map(str, choices))}; got {_show(value)}")
    return value


def _version(d, path):
    version = d.get("v")
    if isinstance(version, bool) or not isinstance(version, int) or version != CONTRACT_VERSION:
        raise ContractError(f"{path}.v", f"unsupported contract version {_show(version)} (expected {CONTRACT_VERSION})")


def _error(d, key, path):
    err = d.get(key)
    if err is None:
        return None
    _error_fields(err, f"{path}.{key}")
    return err


def _error_fields(err, path):
    _obj(err, path)
    _int(err, "code", path, required=False)  # whatsapp.message.error_code is an Integer
    _str(err, "title", path, required=False, allow_empty=True, max_len=LIMITS["title"])
    _str(err, "message", path, required=False, allow_empty=True, max_len=LIMITS["error_message"])


def _batch(items, name):
    if not isinstance(items, list):
        raise ContractError(name, "expected a list")
    if not items:
        raise ContractError(name, "must not be empty")
    if len(items) > 500:
        raise ContractError(name, "at most 500 items per call")


# --------------------------------------------------------------------------
# payloads
# --------------------------------------------------------------------------

def validate_inbound_message(msg, path="message"):
    """InboundMessage::

        {"v": 1, "account": "<phone_number_id>", "wamid": "wamid.X", "timestamp": 1732240000,
         "from": {"wa_id": "5511987654321", "user_id": "BR.1A2B", "name": "Maria"},
         "type": "text", "text": "hello",
         "media": {"filename", "mimetype", "data" (base64), "voice": bool, "caption"},
         "location": {"latitude", "longitude", "name", "address"},
         "contacts": [{"name", "phones": [...], "emails": [...]}],
         "reaction": {"wamid", "emoji"},            # emoji "" = reaction removed
         "interactive": {"id", "title"},           # button/list/template button reply
         "context": {"wamid", "forwarded": bool, "frequently_forwarded": bool},  # reply-to / forwarded
         "system": {"type", "wa_id", "new_wa_id", "user_id", "new_user_id"},  # type "system": number changed
         "errors": [{"code", "title", "message"}]}   # type "unsupported": why WhatsApp could not show it

    Optional fields not listed are ignored by the addon.
    """
    _obj(msg, path)
    _version(msg, path)
    _str(msg, "account", path, max_len=64)
    _str(msg, "wamid", path, max_len=256)
    _timestamp(msg, "timestamp", path)
    sender = _obj(msg.get("from"), f"{path}.from")
    wa_id = _str(sender, "wa_id", f"{path}.from", required=False)
    user_id = _str(sender, "user_id", f"{path}.from", required=False, max_len=128)
    _str(sender, "name", f"{path}.from", required=False, allow_empty=True, max_len=LIMITS["name"])
    if wa_id is not None and not _DIGITS.match(wa_id):
        raise ContractError(f"{path}.from.wa_id", f"expected the phone number as 6 to 20 digits, got {_show(wa_id)}")
    if not wa_id and not user_id:
        raise ContractError(f"{path}.from", "needs wa_id or user_id")
    mtype = _choice(msg, "type", path, MESSAGE_TYPES)
    _str(msg, "text", path, required=mtype == "text", allow_empty=mtype != "text", max_len=LIMITS["text"])
    if mtype in MEDIA_TYPES:
        media = _obj(msg.get("media"), f"{path}.media")
        _str(media, "mimetype", f"{path}.media", max_len=128)
        _str(media, "data", f"{path}.media")
        _str(media, "filename", f"{path}.media", required=False, max_len=LIMITS["name"])
        _str(media, "caption", f"{path}.media", required=False, allow_empty=True, max_len=LIMITS["text"])
        _bool(media, "voice", f"{path}.media")
    elif msg.get("media") is not None:
        # Odoo shows the caption (or filename) of a message of another type that has no text
        media = _obj(msg["media"], f"{path}.media")
        _str(media, "filename", f"{path}.media", required=False, allow_empty=True, max_len=LIMITS["name"])
        _str(media, "caption", f"{path}.media", required=False, allow_empty=True, max_len=LIMITS["text"])
    if mtype == "location":
        loc = _obj(msg.get("location"), f"{path}.location")
        _num(loc, "latitude", f"{path}.location", -90, 90)
        _num(loc, "longitude", f"{path}.location", -180, 180)
        _str(loc, "name", f"{path}.location", required=False, allow_empty=True, max_len=LIMITS["location"])
        _str(loc, "address", f"{path}.location", required=False, allow_empty=True, max_len=LIMITS["location"])
    elif mtype == "contacts":
        contacts = msg.get("contacts")
        if not isinstance(contacts, list) or not contacts:
            raise ContractError(f"{path}.contacts", "expected a non-empty list")
        if len(contacts) > LIMITS["contacts"]:
            raise ContractError(f"{path}.contacts", f"at most {LIMITS['contacts']} items")
        for i, contact in enumerate(contacts):
            _obj(contact, f"{path}.contacts[{i}]")
            _str(contact, "name", f"{path}.contacts[{i}]", allow_empty=True, max_len=LIMITS["contact_name"])
            for key in ("phones", "emails"):
                _strings(contact, key, f"{path}.contacts[{i}]", LIMITS["contact_items"], LIMITS["contact_item"])
    elif mtype == "system":
        system = _obj(msg.get("system"), f"{path}.system")
        for key in ("type", "wa_id", "new_wa_id", "user_id", "new_user_id"):
            _str(system, key, f"{path}.system", required=False, allow_empty=True, max_len=128)
        new_wa_id = system.get("new_wa_id")
        if new_wa_id and not _DIGITS.match(new_wa_id):
            raise ContractError(f"{path}.system.new_wa_id", f"expected the phone number as 6 to 20 digits, "
                                f"got {_show(new_wa_id)}")
    elif mtype == "reaction":
        reaction = _obj(msg.get("reaction"), f"{path}.reaction")
        _str(reaction, "wamid", f"{path}.reaction", max_len=256)
        _str(reaction, "emoji", f"{path}.reaction", allow_empty=True, max_len=LIMITS["emoji"])
    elif mtype == "interactive":
        reply = _obj(msg.get("interactive"), f"{path}.interactive")
        _str(reply, "id", f"{path}.interactive", max_len=256)
        _str(reply, "title", f"{path}.interactive", required=False, allow_empty=True, max_len=LIMITS["title"])
    if msg.get("context") is not None:
        ctx = _obj(msg["context"], f"{path}.context")
        _str(ctx, "wamid", f"{path}.context", required=False, max_len=256)
        _bool(ctx, "forwarded", f"{path}.context")
        _bool(ctx, "frequently_forwarded", f"{path}.context")
    for i, error in enumerate(_list(msg, "errors", path, LIMITS["errors"]) or ()):
        _error_fields(error, f"{path}.errors[{i}]")
    return msg


def validate_status(status, path="status"):
    """Status::

        {"v": 1, "account": "<phone_number_id>", "wamid": "wamid.X", "status": "delivered",
         "timestamp": 1732240000, "recipient": "5511987654321",
         "recipient_user_id": "BR.1A2B",                                # optional, BSUID recipients
         "error": {"code": 131047, "title": "...", "message": "..."}}   # with "failed"
    """
    _obj(status, path)
    _version(status, path)
    _str(status, "account", path, max_len=64)
    _str(status, "wamid", path, max_len=256)
    _choice(status, "status", path, STATUS_VALUES)
    _timestamp(status, "timestamp", path)
    _str(status, "recipient", path, required=False, allow_empty=True, max_len=64)
    _str(status, "recipient_user_id", path, required=False, allow_empty=True, max_len=128)
    _error(status, "error", path)
    return status


def validate_send_result(result, path="result"):
    """SendResult::

        {"v": 1, "message_id": 42, "state": "sent", "wamid": "wamid.X"}
        {"v": 1, "message_id": 42, "state": "failed", "error": {"code": 131047, "message": "..."}}
    """
    _obj(result, path)
    _version(result, path)
    _int(result, "message_id", path, minimum=1)
    state = _choice(result, "state", path, SEND_RESULT_STATES)
    _str(result, "wamid", path, required=state == "sent", max_len=256)
    if state == "failed" and result.get("error") is None:
        raise ContractError(f"{path}.error", "is required when state is failed")
    _error(result, "error", path)
    return result


def validate_session_state(report, path="session"):
    """SessionState::

        {"v": 1, "account": "<account key>", "state": "pairing", "qr": "2@AbC...", "detail": ""}

    Optional (feature ``session``): ``pair_code`` (pairing by phone number: the 8-character code
    the user types on the phone; replaces ``qr`` while pairing), ``connected_since`` (unix seconds,
    state connected), ``phone`` (the paired number, digits).  ``detail`` is the reason of a
    ``disconnected``/``logged_out``/``error`` state (timeout, logout from the phone, ban, dead connection).
    """
    _obj(report, path)
    _version(report, path)
    _str(report, "account", path, max_len=64)
    state = _choice(report, "state", path, SESSION_STATES)
    code = _str(report, "pair_code", path, required=False, max_len=SESSION_LIMITS["pair_code"])
    if code is not None and not _PAIR_CODE.match(code):
        raise ContractError(f"{path}.pair_code", f"expected 8 letters/digits like ABCD-EFGH, got {_show(code)}")
    _str(report, "qr", path, required=state == "pairing" and code is None, max_len=SESSION_LIMITS["qr"])
    _str(report, "detail", path, required=False, allow_empty=True, max_len=LIMITS["error_message"])
    if report.get("connected_since") is not None:
        _timestamp(report, "connected_since", path)
    phone = _str(report, "phone", path, required=False, allow_empty=True, max_len=20)
    if phone and not _DIGITS.match(phone):
        raise ContractError(f"{path}.phone", f"expected digits only, got {_show(phone)}")
    return report


def validate_attachment_request(request, path="request"):
    _obj(request, path)
    _version(request, path)
    _int(request, "message_id", path, minimum=1)
    return request


def validate_outbound_job(job, path="job"):
    """OutboundJob (stream ``wa:out``), written by the addon::

        {"v": 1, "message_id": 42, "account": "<phone_number_id>",
         "to": {"wa_id": "5511987654321", "user_id": null},
         "type": "text", "text": "Hello!", "reply_to": "wamid.X" | null,
         "attachment": {"id": 7, "filename": "a.ogg", "mimetype": "audio/ogg", "voice": true} | null,
         "buttons": [{"id": "rate:<token>:5", "title": "Satisfied"}] | null,
         "list": ListMessage | null,                              # interactive only, instead of buttons
         "template": TemplateMessage | null}                      # type "template" only

    TemplateMessage (a template the customer can get outside the 24-hour window)::

        {"name": "order_update", "language": "pt_BR",
         "header": {"format": "text", "parameters": ["#123"]}            # filled {{n}} of a text header
                 | {"format": "image"|"document"|"video", "link": "https://...", "filename": "a.pdf"}
                 | null,
         "body_parameters": ["Maria", "WA/0042"],                       # {{1}}, {{2}}, ... in order
         "button_payloads": ["rate:<token>:5", "rate:<token>:3", ...]}  # per quick-reply button, in order

    ``text`` is optional for a template: the rendered body, for logs and the conversation.
    """
    _obj(job, path)
    _version(job, path)
    _int(job, "message_id", path, minimum=1)
    _str(job, "account", path, max_len=64)
    to = _obj(job.get("to"), f"{path}.to")
    _str(to, "wa_id", f"{path}.to", required=False, allow_empty=True, max_len=64)
    _str(to, "user_id", f"{path}.to", required=False, allow_empty=True, max_len=128)
    _str(job, "reply_to", path, required=False, allow_empty=True, max_len=256)
    if not to.get("wa_id") and not to.get("user_id"):
        raise ContractError(f"{path}.to", "needs wa_id or user_id")
    jtype = _choice(job, "type", path, OUTBOUND_TYPES)
    if jtype in ("text", "interactive"):
        _str(job, "text", path)
    elif jtype == "template":
        _str(job, "text", path, required=False, allow_empty=True, max_len=LIMITS["text"])
        validate_template_message(job.get("template"), f"{path}.template")
    else:
        att = _obj(job.get("attachment"), f"{path}.attachment")
        _int(att, "id", f"{path}.attachment", minimum=1)
        _str(att, "mimetype", f"{path}.attachment")
        # the caption of an image, video or document (WhatsApp allows 1024 characters)
        _str(job, "text", path, required=False, allow_empty=True, max_len=1024)
    if jtype == "interactive" and job.get("list") is not None:
        if job.get("buttons") is not None:
            raise ContractError(f"{path}.list", "an interactive message has buttons or a list, not both")
        validate_list_message(job["list"], f"{path}.list")
    elif jtype == "interactive":
        buttons = job.get("buttons")
        if not isinstance(buttons, list) or not 1 <= len(buttons) <= 3:
            raise ContractError(f"{path}.buttons", "expected 1 to 3 buttons")
        _unique_choices(buttons, f"{path}.buttons", LIST_LIMITS["button_title"])
    elif job.get("list") is not None:
        raise ContractError(f"{path}.list", "only an interactive message has a list")
    return job


def _unique_choices(items, path, title_len, description_len=None):
    """Buttons or list rows: ``{id, title}`` (and a ``description``), ids and titles unique (WhatsApp's rule)."""
    ids, titles = set(), set()
    for i, item in enumerate(items):
        _obj(item, f"{path}[{i}]")
        ident = _str(item, "id", f"{path}[{i}]", max_len=LIST_LIMITS["id"])
        title = _str(item, "title", f"{path}[{i}]", max_len=title_len)
        if description_len:
            _str(item, "description", f"{path}[{i}]", required=False, allow_empty=True, max_len=description_len)
        if ident in ids:
            raise ContractError(f"{path}[{i}].id", f"duplicate id {_show(ident)}")
        if title in titles:
            raise ContractError(f"{path}[{i}].title", f"duplicate title {_show(title)}")
        ids.add(ident)
        titles.add(title)


def validate_list_message(menu, path="list"):
    """ListMessage (``OutboundJob.list``, feature ``menus``): a WhatsApp list message, the options of a
    menu the customer picks one of::

        {"button": "Options", "rows": [{"id": "menu:7", "title": "Sales", "description": "New orders"}]}

    ``button`` (at most 20 characters) opens the list; 1 to 10 rows, titles at most 24 characters,
    descriptions at most 72, ids and titles unique.  The reply comes back as an ``interactive``
    inbound message carrying the row's ``id`` and ``title``.
    """
    _obj(menu, path)
    _str(menu, "button", path, max_len=LIST_LIMITS["button_title"])
    rows = _list(menu, "rows", path, LIST_LIMITS["rows"], required=True)
    if not rows:
        raise ContractError(f"{path}.rows", f"expected 1 to {LIST_LIMITS['rows']} rows")
    _unique_choices(rows, f"{path}.rows", LIST_LIMITS["row_title"], LIST_LIMITS["row_description"])
    return menu


def validate_control_command(command, path="command"):
    """ControlCommand (stream ``wa:control``)::

        {"v": 1, "account": "...", "command": "start"}                    # session: start, stop, logout
        {"v": 1, "account": "...", "command": "pair_phone", "phone": "5511987654321"}  # pair by phone code
        {"v": 1, "account": "...", "command": "verify"}                   # Cloud API: check the credentials
        {"v": 1, "account": "...", "command": "template_submit", "template": TemplateDefinition}
        {"v": 1, "account": "...", "command": "template_sync"}            # report every template's state
    """
    _obj(command, path)
    _version(command, path)
    _str(command, "account", path, max_len=64)
    name = _choice(command, "command", path, CONTROL_COMMANDS)
    if name == "pair_phone":
        phone = _str(command, "phone", path, max_len=20)
        if not _DIGITS.match(phone):
            raise ContractError(f"{path}.phone", f"expected the number in digits with country code, got {_show(phone)}")
    if name == "template_submit":
        validate_template_definition(command.get("template"), f"{path}.template")
    return command


def _template_name(d, key, path):
    name = _str(d, key, path, max_len=TEMPLATE_LIMITS["name"])
    if not _TEMPLATE_NAME.match(name):
        raise ContractError(f"{path}.{key}", f"lowercase letters, digits and underscores only, got {_show(name)}")
    return name


def _language(d, key, path):
    code = _str(d, key, path, max_len=16)
    if not _LANGUAGE.match(code):
        raise ContractError(f"{path}.{key}", f"expected a language code like pt_BR or en_US, got {_show(code)}")
    return code


def template_placeholders(text):
    """The ``{{n}}`` numbers of a template text, in order of appearance (``"Hi {{1}}"`` -> ``[1]``).

    Raises ``ContractError`` (path ``text``) for a placeholder that is not a positive number."""
    numbers = []
    for match in _PLACEHOLDER.finditer(text or ""):
        token = match.group(1)
        if not token.isdigit() or int(token) < 1:
            raise ContractError("text", f"placeholder {{{{{token}}}}} is not {{{{1}}}}, {{{{2}}}}, ...")
        numbers.append(int(token))
    return numbers


def _placeholders(text, path):
    try:
        numbers = template_placeholders(text)
    except ContractError as error:
        raise ContractError(path, error.problem) from None
    distinct = sorted(set(numbers))
    if distinct != list(range(1, len(distinct) + 1)):
        raise ContractError(path, f"placeholders must be {{{{1}}}} to {{{{{len(distinct)}}}}} without gaps, "
                                  f"got {', '.join(map(str, distinct))}")
    return len(distinct)


def validate_template_definition(template, path="template"):
    """TemplateDefinition (``template_submit``), what Odoo asks WhatsApp to approve::

        {"template_id": 7, "name": "order_update", "language": "pt_BR", "category": "utility",
         "body": "Hello {{1}}, your service {{2}} ...", "body_examples": ["Maria", "WA/0042"],
         "header": {"format": "text", "text": "Your order"}
                 | {"format": "image"|"document"|"video", "link": "https://..."} | null,
         "buttons": ["Yes", "No"]}                                       # quick replies, at most 3

    ``template_id`` is Odoo's id, echoed back in TemplateState.  Limits: body 1024 characters,
    text header 60, button 25.
    """
    _obj(template, path)
    _int(template, "template_id", path, minimum=1)
    _template_name(template, "name", path)
    _language(template, "language", path)
    _choice(template, "category", path, TEMPLATE_CATEGORIES)
    body = _str(template, "body", path, max_len=TEMPLATE_LIMITS["body"])
    count = _placeholders(body, f"{path}.body")
    examples = _strings(template, "body_examples", path, TEMPLATE_LIMITS["parameters"], TEMPLATE_LIMITS["parameter"])
    if count and len(examples or ()) != count:
        raise ContractError(f"{path}.body_examples", f"expected {count} examples, one per placeholder")
    header = template.get("header")
    if header is not None:
        hpath = f"{path}.header"
        _obj(header, hpath)
        fmt = _choice(header, "format", hpath, TEMPLATE_HEADER_FORMATS)
        if fmt == "text":
            _str(header, "text", hpath, max_len=TEMPLATE_LIMITS["header"])
        else:
            _str(header, "link", hpath, max_len=TEMPLATE_LIMITS["url"])
    buttons = _strings(template, "buttons", path, TEMPLATE_LIMITS["buttons"], TEMPLATE_LIMITS["button"])
    for i, text in enumerate(buttons or ()):
        if not text.strip():
            raise ContractError(f"{path}.buttons[{i}]", "must not be empty")
    return template


def validate_template_message(template, path="template"):
    """TemplateMessage (``OutboundJob.template``), see ``validate_outbound_job``."""
    _obj(template, path)
    _template_name(template, "name", path)
    _language(template, "language", path)
    header = template.get("header")
    if header is not None:
        hpath = f"{path}.header"
        _obj(header, hpath)
        fmt = _choice(header, "format", hpath, TEMPLATE_HEADER_FORMATS)
        if fmt == "text":
            _strings(header, "parameters", hpath, 1, TEMPLATE_LIMITS["header"])
        else:
            _str(header, "link", hpath, max_len=TEMPLATE_LIMITS["url"])
            _str(header, "filename", hpath, required=False, max_len=LIMITS["name"])
    params = _strings(template, "body_parameters", path, TEMPLATE_LIMITS["parameters"], TEMPLATE_LIMITS["parameter"])
    for i, value in enumerate(params or ()):
        if not value.strip():
            # WhatsApp refuses an empty parameter (131008): Odoo fills in a dash instead
            raise ContractError(f"{path}.body_parameters[{i}]", "must not be empty")
    payloads = _strings(template, "button_payloads", path, TEMPLATE_LIMITS["buttons"], 256)
    for i, value in enumerate(payloads or ()):
        if not value.strip():
            raise ContractError(f"{path}.button_payloads[{i}]", "must not be empty")
    return template


def validate_template_state(state, path="state"):
    """TemplateState (``report_template_states``), what WhatsApp says of a template::

        {"v": 1, "account": "<phone_number_id>", "name": "order_update", "language": "pt_BR",
         "status": "approved", "template_id": 7 | null, "wa_template_id": "594425479261596" | null,
         "reason": "INVALID_FORMAT" | null}

    ``status``: pending, approved, rejected, disabled, paused, or error (the bridge could not
    submit it; ``reason`` says why).  ``template_id`` is Odoo's id when the bridge knows it (the
    answer to a submit); a sync names templates by account, name and language.
    """
    _obj(state, path)
    _version(state, path)
    _str(state, "account", path, max_len=64)
    _template_name(state, "name", path)
    _language(state, "language", path)
    _choice(state, "status", path, TEMPLATE_STATES)
    _int(state, "template_id", path, required=False, minimum=1)
    _str(state, "wa_template_id", path, required=False, max_len=64)
    _str(state, "reason", path, required=False, allow_empty=True, max_len=TEMPLATE_LIMITS["reason"])
    return state


def validate_batch(items, name, validator):
    """Validate a whole batch; the error names ``name[index].field``."""
    _batch(items, name)
    for index, item in enumerate(items):
        validator(item, f"{name}[{index}]")
    return items


def contract_info() -> dict:
    return {
        "version": CONTRACT_VERSION,
        "streams": list(STREAMS),
        "methods": list(API_METHODS),
        "features": list(CONTRACT_FEATURES),
    }


def validate_session_contact(item, path="contact"):
    """SessionContact (``ingest_contacts``, feature ``session``): one contact of the paired phone::

        {"v": 1, "account": "<account key>", "phone": "5511987654321", "lid": "123456789@lid" | null,
         "name": "Maria" | null}

    Odoo matches it with an existing partner by normalised number and never creates a duplicate;
    it returns ``{"phone", "partner_id", "result"}`` with result ``matched`` | ``new`` | ``ambiguous``.
    """
    _obj(item, path)
    _version(item, path)
    _str(item, "account", path, max_len=64)
    phone = _str(item, "phone", path, max_len=20)
    if not _DIGITS.match(phone):
        raise ContractError(f"{path}.phone", f"expected digits only, got {_show(phone)}")
    _str(item, "lid", path, required=False, allow_empty=True, max_len=128)
    _str(item, "name", path, required=False, allow_empty=True, max_len=LIMITS["name"])
    return item


def validate_history_message(msg, path="message"):
    """HistoryMessage (``ingest_history``, ``ingest_phone_messages``; feature ``history``): an
    ``InboundMessage`` of a chat of the paired phone, plus who wrote it::

        {"v": 1, "account": "<account key>", "wamid": "3EB0...", "timestamp": 1732240000,
         "from": {"wa_id": "5511987654321", "name": "Maria"},   # always the customer of the chat
         "from_me": true,                                        # written by the business (the phone)
         "type": "text", "text": "Bom dia!", ...}               # the rest as InboundMessage

    ``from`` names the customer even when the business wrote the message (``from_me``): it is the
    chat the message belongs to.  Odoo is idempotent on ``(account, wamid)``.  ``ingest_history``
    returns ``[{wamid, message_id, service_id, partner_id, duplicate}]``; each chat becomes a *past*
    service (done, read-only, no notification, no rating request).  ``ingest_phone_messages``
    (``from_me`` must be true) returns the same, the message added to the customer's conversation
    as the business's, never sent again.
    """
    validate_inbound_message(msg, path)
    if not isinstance(msg.get("from_me"), bool):
        raise ContractError(f"{path}.from_me", f"expected true or false, got {_show(msg.get('from_me'))}")
    return msg


# -- session reasons: the fixed texts the bridge reports as a session state's ``detail`` ---------------
# Odoo stores the detail as the bridge sent it and shows these in the reader's language
# (``whatsapp.account.session_reason``, one translatable twin each in ``models/whatsapp_account.py``);
# any other detail (a ban's end, WhatsApp's own words, a Graph API error) is shown as sent.
SESSION_SCAN_QR = "Scan the QR code with WhatsApp on the phone"
SESSION_TYPE_CODE = "On the phone: Linked devices > Link with phone number, then type this code"
SESSION_LOGGED_OUT_FROM_ODOO = "Logged out from Odoo"
SESSION_STOPPED_FROM_ODOO = "Stopped from Odoo"
SESSION_ENDED_FROM_ODOO = "Ended from Odoo: the bridge neither sends nor receives for this number until Start"
SESSION_QR_TIMEOUT = "Nobody scanned the QR code in time: press Start session to try again"
SESSION_LOGGED_OUT_FROM_PHONE = "Logged out from the phone (Linked devices)"
SESSION_CONNECTION_DROPPED = "The connection to WhatsApp dropped: reconnecting"
SESSION_DEVICE_LOGGED_OUT = "WhatsApp logged this device out"
SESSION_PHONE_GONE = "The phone's WhatsApp is gone (uninstalled or re-registered): pair again"
SESSION_WHATSAPP_UNAVAILABLE = "WhatsApp's service is unavailable: start the session again later"
SESSION_WHATSAPP_FAILED = "WhatsApp's server failed: start the session again later"
SESSION_REASONS = (
    SESSION_SCAN_QR, SESSION_TYPE_CODE, SESSION_LOGGED_OUT_FROM_ODOO, SESSION_STOPPED_FROM_ODOO,
    SESSION_ENDED_FROM_ODOO, SESSION_QR_TIMEOUT, SESSION_LOGGED_OUT_FROM_PHONE, SESSION_CONNECTION_DROPPED,
    SESSION_DEVICE_LOGGED_OUT, SESSION_PHONE_GONE, SESSION_WHATSAPP_UNAVAILABLE, SESSION_WHATSAPP_FAILED,
)
