"""The simulator's state and behaviour: one ``Simulator`` object, no global state.

The HTTP layer (``app.py``) only translates requests into calls on it.  All
times are the simulated clock (``Simulator.now()``: wall clock + an offset the
control API advances), except webhook retry back-off, which is real time.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import hashlib
import hmac
import logging
import random
import re
import secrets
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any

import httpx

from . import payloads as p
from .constants import (
    DEMO_ACCESS_TOKEN,
    DEMO_APP_SECRET,
    DEMO_DISPLAY_PHONE_NUMBER,
    DEMO_PHONE_NUMBER_ID,
    DEMO_VERIFY_TOKEN,
    DEMO_WABA_ID,
    DEMO_WEBHOOK_URL,
)

_logger = logging.getLogger(__name__)

Json = dict[str, Any]

WINDOW_SECONDS = 24 * 3600
INBOUND_MEDIA_TTL = 7 * 24 * 3600
UPLOADED_MEDIA_TTL = 30 * 24 * 3600

# mime type -> (media category, max bytes), per Meta's "supported media types"
SUPPORTED_MEDIA: dict[str, tuple[str, int]] = {
    "audio/aac": ("audio", 16 << 20),
    "audio/amr": ("audio", 16 << 20),
    "audio/mpeg": ("audio", 16 << 20),
    "audio/mp4": ("audio", 16 << 20),
    "audio/ogg": ("audio", 16 << 20),
    "image/jpeg": ("image", 5 << 20),
    "image/png": ("image", 5 << 20),
    "image/webp": ("sticker", 500 << 10),
    "video/mp4": ("video", 16 << 20),
    "video/3gpp": ("video", 16 << 20),
    "text/plain": ("document", 100 << 20),
    "application/pdf": ("document", 100 << 20),
    "application/msword": ("document", 100 << 20),
    "application/vnd.ms-excel": ("document", 100 << 20),
    "application/vnd.ms-powerpoint": ("document", 100 << 20),
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": ("document", 100 << 20),
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": ("document", 100 << 20),
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": ("document", 100 << 20),
}
MEDIA_TYPES = ("image", "audio", "video", "document", "sticker")
_DIGITS = re.compile(r"\D+")
_BSUID = re.compile(r"^[A-Z]{2}\.(ENT\.)?[A-Za-z0-9]{1,128}$")


# --------------------------------------------------------------------------
# errors
# --------------------------------------------------------------------------

class GraphError(Exception):
    """A Graph API error answered synchronously (HTTP ``status`` + Meta's error body)."""

    def __init__(self, status: int, code: int, message: str, *, details: str | None = None,
                 subcode: int | None = None, is_transient: bool | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.subcode = subcode
        self.is_transient = is_transient

    def body(self) -> Json:
        trace = base64.urlsafe_b64encode(secrets.token_bytes(16)).decode().rstrip("=")[:22]
        return p.graph_error(self.code, self.message, details=self.details, subcode=self.subcode,
                             is_transient=self.is_transient, fbtrace_id=trace)


def invalid_param(details: str) -> GraphError:
    return GraphError(400, 100, "(#100) Invalid parameter", details=details)


def required_param(name: str) -> GraphError:
    return GraphError(400, 100, f"(#100) The parameter {name} is required.", details=f"Parameter '{name}' is required.")


def invalid_value(details: str) -> GraphError:
    return GraphError(400, 131009, "(#131009) Parameter value is not valid", details=details)


def unknown_object(object_id: str, method: str = "post") -> GraphError:
    return GraphError(
        400, 100,
        f"Unsupported {method} request. Object with ID '{object_id}' does not exist, cannot be loaded due to "
        "missing permissions, or does not support this operation. Please read the Graph API documentation at "
        "https://developers.facebook.com/docs/graph-api",
        subcode=33,
    )


def bad_token() -> GraphError:
    return GraphError(401, 190, "Invalid OAuth access token - Cannot parse access token")


def expired_token(now: float) -> GraphError:
    when = time.strftime("%A, %d-%b-%y %H:%M:%S UTC", time.gmtime(now - 3600))
    current = time.strftime("%A, %d-%b-%y %H:%M:%S UTC", time.gmtime(now))
    return GraphError(401, 190, f"Error validating access token: Session has expired on {when}. "
                                f"The current time is {current}.", subcode=463)


def throttled(status: int) -> GraphError:
    return GraphError(status, 130429, "(#130429) Rate limit hit",
                      details="Cloud API message throughput has been reached.")


def pair_rate_limited(status: int) -> GraphError:
    return GraphError(status, 131056, "(#131056) (Business Account, Consumer Account) pair rate limit hit",
                      details="Message failed to send because there were too many messages sent from this phone "
                              "number to the same phone number in a short period of time.")


def server_error(status: int) -> GraphError:
    return GraphError(status, 2, "An unexpected error has occurred. Please retry your request later.",
                      is_transient=True)


REENGAGEMENT_DETAILS = ("Message failed to send because more than 24 hours have passed since the customer last "
                        "replied to this number.")


def reengagement_error() -> GraphError:
    return GraphError(400, 131047, "(#131047) Re-engagement message", details=REENGAGEMENT_DETAILS)


DELIVERY_ERRORS = {
    131026: ("Message undeliverable", "Message Undeliverable."),
    131047: ("Re-engagement message", REENGAGEMENT_DETAILS),
    131049: ("This message was not delivered to maintain healthy ecosystem engagement.",
             "In order to maintain a healthy ecosystem engagement, the message failed to be delivered."),
    131050: ("User has stopped marketing messages", "Unable to deliver message: the user stopped marketing messages."),
    131053: ("Media upload error", "Unable to download the media sent by the business."),
    131000: ("Something went wrong", "Message failed to send due to an unknown error."),
}


def delivery_error(code: int) -> Json:
    title, details = DELIVERY_ERRORS.get(code, (f"Error {code}", f"Message failed with error {code}."))
    return p.error_object(code, title, details)


# --------------------------------------------------------------------------
# configuration
# --------------------------------------------------------------------------

@dataclass
class Faults:
    """Injected faults.  ``*_rate`` is a fraction of calls (0..1); ``*_next`` forces the next N calls."""

    throttle_rate: float = 0.0
    throttle_next: int = 0
    throttle_http_status: int = 400       # Graph answers OAuthException errors with 400
    pair_rate_rate: float = 0.0
    pair_rate_next: int = 0
    pair_rate_min_interval: float = 0.0   # >0: a real per-customer limit (simulated seconds between sends)
    server_error_rate: float = 0.0
    server_error_next: int = 0
    server_error_status: int = 500
    latency_ms: int = 0                   # added to every Graph call
    timeout_rate: float = 0.0             # answer only after timeout_seconds (the send is still accepted)
    timeout_next: int = 0
    timeout_seconds: float = 30.0
    expired_token: bool = False           # every Graph call: 190 / subcode 463
    delivery_failure_rate: float = 0.0    # accepted, then a "failed" status webhook
    delivery_failure_next: int = 0
    delivery_failure_code: int = 131026
    duplicate_rate: float = 0.0           # a webhook is delivered twice
    reorder_rate: float = 0.0             # a webhook is held and delivered after the next one
    reorder_hold_seconds: float = 2.0     # background mode: longest hold without a successor
    webhook_drop_rate: float = 0.0        # a webhook is never delivered (lost)

    def update(self, values: Json) -> None:
        names = {f.name: f for f in dataclasses.fields(self)}
        for key, value in values.items():
            if key not in names:
                raise ValueError(f"unknown fault {key!r}; known: {', '.join(sorted(names))}")
            current = getattr(self, key)
            try:
                if isinstance(current, bool):
                    value = value if isinstance(value, bool) else str(value).lower() in ("1", "true", "yes", "on")
                elif isinstance(current, int):
                    value = int(value)
                elif isinstance(current, float):
                    value = float(value)
            except (TypeError, ValueError) as exc:
                raise ValueError(f"fault {key!r}: bad value {value!r}") from exc
            if key.endswith("_rate") and not 0.0 <= value <= 1.0:
                raise ValueError(f"fault {key!r}: a rate is between 0 and 1")
            setattr(self, key, value)

    def as_dict(self) -> Json:
        return dataclasses.asdict(self)


@dataclass
class SimConfig:
    webhook_url: str | None = DEMO_WEBHOOK_URL
    app_secret: str = DEMO_APP_SECRET
    access_token: str = DEMO_ACCESS_TOKEN
    verify_token: str = DEMO_VERIFY_TOKEN
    phone_number_id: str = DEMO_PHONE_NUMBER_ID
    display_phone_number: str = DEMO_DISPLAY_PHONE_NUMBER
    waba_id: str = DEMO_WABA_ID
    background_delivery: bool = True      # False: webhooks leave only on flush() (deterministic tests)
    delivery_interval: float = 0.1
    webhook_timeout: float = 10.0
    webhook_max_attempts: int = 10
    retry_base_delay: float = 1.0
    retry_max_delay: float = 300.0
    auto_delivered: bool = True           # "delivered" follows "sent" at once (the phone is online)
    auto_read_seconds: float | None = None  # "read" this many simulated seconds after delivery
    reengagement_mode: str = "webhook"    # "webhook": 200 then failed status 131047 (Meta); "sync": HTTP 400
    template_review: str = "approve"      # "approve": submitted templates are approved at once (demo);
    #                                       "manual": PENDING until /_sim/templates/{name}/approve|reject
    bsuid: bool = True                    # business-scoped user ids (user_id) in webhooks
    media_in_webhook_url: bool = False    # add media "url" to inbound media webhooks (newer API versions)
    media_url_ttl: int = 300
    max_media_bytes: int = 256 << 20
    max_media_items: int = 5000
    max_customers: int = 10000
    max_messages_per_customer: int = 500
    max_pending_webhooks: int = 100000
    max_webhook_log: int = 300
    seed: int | None = None
    verify_on_start: bool = False
    faults: Faults = field(default_factory=Faults)
    # tests: route webhook POSTs to an in-process app (httpx.ASGITransport)
    webhook_transport: httpx.AsyncBaseTransport | None = None


# --------------------------------------------------------------------------
# state
# --------------------------------------------------------------------------

@dataclass
class Media:
    id: str
    data: bytes
    mime_type: str
    sha256: str
    created: float
    expires: float
    origin: str  # "business" (uploaded through Graph) | "customer" (inbound)
    filename: str | None = None

    def info(self) -> Json:
        return {"id": self.id, "mime_type": self.mime_type, "sha256": self.sha256, "file_size": len(self.data),
                "filename": self.filename, "origin": self.origin}


@dataclass
class SimMessage:
    id: str
    direction: str          # "in" (customer -> business) | "out" (business -> customer)
    type: str
    timestamp: int
    content: Json           # "out": the Graph request body; "in": the webhook message object
    state: str = "accepted"  # out: accepted/sent/delivered/read/failed; in: received/read
    errors: list[Json] = field(default_factory=list)
    delivered_at: float | None = None
    statuses: list[str] = field(default_factory=list)
    pressed: str | None = None
    rendered: Json | None = None  # a template message as the customer sees it: {header, body, footer, buttons}

    def as_dict(self) -> Json:
        data = {"id": self.id, "direction": self.direction, "type": self.type, "timestamp": self.timestamp,
                "state": self.state, "content": self.content, "errors": self.errors, "statuses": self.statuses,
                "pressed": self.pressed}
        if self.rendered is not None:
            data["rendered"] = self.rendered
        return data


TEMPLATE_NAME = re.compile(r"^[a-z0-9_]{1,512}$")
TEMPLATE_LANGUAGE = re.compile(r"^[a-z]{2,3}(_[A-Z]{2}|_[A-Za-z]{4})?$")
TEMPLATE_CATEGORIES = ("UTILITY", "MARKETING", "AUTHENTICATION")
TEMPLATE_STATUSES = ("APPROVED", "PENDING", "REJECTED", "PAUSED", "DISABLED")
_PLACEHOLDER = re.compile(r"\{\{\s*(\d+)\s*\}\}")


@dataclass
class SimTemplate:
    """A message template of the WhatsApp Business Account, as Meta keeps it."""

    id: str
    name: str
    language: str
    category: str
    components: list[Json]
    status: str = "PENDING"
    rejected_reason: str = "NONE"

    def component(self, kind: str) -> Json | None:
        return next((c for c in self.components if c.get("type") == kind), None)

    @property
    def body_params(self) -> int:
        body = self.component("BODY") or {}
        return len(set(_PLACEHOLDER.findall(body.get("text") or "")))

    def as_dict(self) -> Json:
        return {"id": self.id, "name": self.name, "language": self.language, "category": self.category,
                "status": self.status, "rejected_reason": self.rejected_reason, "components": self.components}


# Meta's sample template, approved in every new WhatsApp Business Account
HELLO_WORLD = [
    {"type": "HEADER", "format": "TEXT", "text": "Hello World"},
    {"type": "BODY", "text": "Welcome and congratulations!! This message demonstrates your ability to send a "
                             "WhatsApp message notification from the Cloud API, hosted by Meta. Thank you for "
                             "taking the time to test with us."},
    {"type": "FOOTER", "text": "WhatsApp Business Platform sample message"},
]


@dataclass
class Customer:
    key: str
    wa_id: str | None
    user_id: str | None
    name: str
    username: str | None = None
    phone_hidden: bool = False
    last_inbound_at: float | None = None
    last_outbound_at: float | None = None
    messages: deque[SimMessage] = field(default_factory=deque)
    conversation_id: str = field(default_factory=lambda: secrets.token_hex(16))

    def as_dict(self, now: float) -> Json:
        open_window = self.last_inbound_at is not None and now - self.last_inbound_at < WINDOW_SECONDS
        return {"key": self.key, "wa_id": self.wa_id, "user_id": self.user_id, "name": self.name,
                "username": self.username, "phone_hidden": self.phone_hidden,
                "last_inbound_at": self.last_inbound_at, "window_open": open_window,
                "messages": len(self.messages)}


@dataclass
class Delivery:
    seq: int
    kind: str               # "message" | "status"
    raw: bytes
    attempts: int = 0
    next_at: float = 0.0    # monotonic
    last_error: str | None = None
    duplicate: bool = False


@dataclass
class Stats:
    sends_accepted: int = 0
    sends_rejected: int = 0
    rejected_by_code: dict[str, int] = field(default_factory=dict)
    inbound_messages: int = 0
    media_uploaded: int = 0
    media_downloads: int = 0
    webhooks_enqueued: int = 0
    webhooks_delivered: int = 0
    webhook_attempts: int = 0
    webhook_failures: int = 0
    webhooks_given_up: int = 0
    webhooks_dropped: int = 0
    webhooks_duplicated: int = 0
    webhooks_reordered: int = 0
    statuses_failed: int = 0


class MediaStore:
    """Bounded media store: evicts the oldest items past the byte or item cap."""

    def __init__(self, max_bytes: int, max_items: int):
        self.max_bytes = max_bytes
        self.max_items = max_items
        self.items: OrderedDict[str, Media] = OrderedDict()
        self.total = 0

    def add(self, media: Media) -> None:
        self.items[media.id] = media
        self.total += len(media.data)
        while self.items and (self.total > self.max_bytes or len(self.items) > self.max_items):
            _, old = self.items.popitem(last=False)
            self.total -= len(old.data)

    def get(self, media_id: str, now: float) -> Media | None:
        media = self.items.get(media_id)
        if media is None or media.expires <= now:
            return None
        return media

    def delete(self, media_id: str) -> bool:
        media = self.items.pop(media_id, None)
        if media is None:
            return False
        self.total -= len(media.data)
        return True


def base_mime(mime_type: str) -> str:
    return (mime_type or "").split(";", 1)[0].strip().lower()


def digits(value: str) -> str:
    return _DIGITS.sub("", value or "")


def is_bsuid(value: str) -> bool:
    return bool(_BSUID.match(value or ""))


# --------------------------------------------------------------------------
# the simulator
# --------------------------------------------------------------------------

class Simulator:
    def __init__(self, config: SimConfig | None = None):
        self.config = config or SimConfig()
        self.faults = self.config.faults
        self.rng = random.Random(self.config.seed)
        self.clock_offset = 0.0
        self.customers: OrderedDict[str, Customer] = OrderedDict()
        self.media = MediaStore(self.config.max_media_bytes, self.config.max_media_items)
        self.pending: deque[Delivery] = deque()
        self._held: Delivery | None = None
        self._held_since = 0.0
        self._seq = 0
        self.webhook_log: deque[Json] = deque(maxlen=self.config.max_webhook_log)
        self.stats = Stats()
        self._url_key = secrets.token_bytes(16)
        self._lock: asyncio.Lock | None = None
        self._client: httpx.AsyncClient | None = None
        self._task: asyncio.Task | None = None
        self._wake: asyncio.Event | None = None
        self.last_verification: Json | None = None
        self.templates: OrderedDict[tuple[str, str], SimTemplate] = OrderedDict()
        self._seed_templates()

    # ---------------------------------------------------------------- clock
    def now(self) -> float:
        return time.time() + self.clock_offset

    def advance(self, seconds: float) -> float:
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        self.clock_offset += seconds
        self.tick()
        return self.now()

    # ---------------------------------------------------------------- ids
    def new_wamid(self, wa_id: str | None) -> str:
        """Shaped like Meta's: base64 of a small protobuf-like blob holding the customer's number."""
        number = (wa_id or "0").encode()[:60]
        raw = b"\x1c\x18" + bytes([len(number)]) + number + b"\x15\x02\x00\x12\x18\x14" \
            + secrets.token_hex(10).upper().encode()
        return "wamid." + base64.b64encode(raw).decode()

    def new_media_id(self) -> str:
        return str(self.rng.randrange(10**15, 10**16))

    def bsuid_for(self, wa_id: str | None, salt: str = "") -> str:
        seed = hashlib.sha256(f"{self.config.waba_id}:{wa_id}:{salt}".encode()).hexdigest()
        return "BR." + str(int(seed[:16], 16))

    def _chance(self, rate: float, next_attr: str | None = None) -> bool:
        if next_attr and getattr(self.faults, next_attr) > 0:
            setattr(self.faults, next_attr, getattr(self.faults, next_attr) - 1)
            return True
        return rate > 0 and self.rng.random() < rate

    # ---------------------------------------------------------------- customers
    def customer(self, ident: str) -> Customer | None:
        if ident in self.customers:
            return self.customers[ident]
        wa = digits(ident)
        for cust in self.customers.values():
            if ident in (cust.wa_id, cust.user_id) or (wa and cust.wa_id == wa):
                return cust
        return None

    def ensure_customer(self, ident: str | None = None, *, name: str | None = None, user_id: str | None = None,
                        username: str | None = None, phone_hidden: bool | None = None) -> Customer:
        if not ident and not user_id:
            raise ValueError("a customer needs a wa_id (phone) or a user_id (BSUID)")
        cust = self.customer(ident or user_id) if (ident or user_id) else None
        if cust is None and user_id:
            cust = self.customer(user_id)
        if cust is None:
            wa_id = None
            if ident and not is_bsuid(ident):
                wa_id = digits(ident)
                if not 6 <= len(wa_id) <= 20:
                    raise ValueError(f"not a phone number: {ident!r}")
            elif ident:
                user_id = user_id or ident
            if user_id is None and self.config.bsuid:
                user_id = self.bsuid_for(wa_id)
            key = wa_id or user_id
            cust = Customer(key=key, wa_id=wa_id, user_id=user_id, name=name or (wa_id or "WhatsApp user"),
                            username=username, phone_hidden=bool(phone_hidden) and bool(user_id))
            self.customers[key] = cust
            while len(self.customers) > self.config.max_customers:
                self.customers.popitem(last=False)
        else:
            if name:
                cust.name = name
            if username is not None:
                cust.username = username or None
            if phone_hidden is not None:
                cust.phone_hidden = bool(phone_hidden) and bool(cust.user_id)
        return cust

    def _remember(self, cust: Customer, msg: SimMessage) -> None:
        cust.messages.append(msg)
        while len(cust.messages) > self.config.max_messages_per_customer:
            cust.messages.popleft()

    def find_message(self, wamid: str) -> tuple[Customer, SimMessage] | None:
        for cust in self.customers.values():
            for msg in cust.messages:
                if msg.id == wamid:
                    return cust, msg
        return None

    # ---------------------------------------------------------------- webhooks: building
    def _meta(self) -> Json:
        return p.metadata(self.config.display_phone_number, self.config.phone_number_id)

    def _contact(self, cust: Customer) -> Json:
        return p.contact(cust.name, wa_id=None if cust.phone_hidden else cust.wa_id,
                         user_id=cust.user_id if self.config.bsuid else None, username=cust.username)

    def _from(self, cust: Customer) -> tuple[str | None, str | None]:
        return (None if cust.phone_hidden else cust.wa_id), (cust.user_id if self.config.bsuid else None)

    def enqueue_webhook(self, body: Json, kind: str) -> None:
        self.stats.webhooks_enqueued += 1
        self.webhook_log.append(body)
        if not self.config.webhook_url:
            return
        if self._chance(self.faults.webhook_drop_rate):
            self.stats.webhooks_dropped += 1
            return
        self._seq += 1
        delivery = Delivery(seq=self._seq, kind=kind, raw=p.encode(body))
        copies = [delivery]
        if self._chance(self.faults.duplicate_rate):
            self.stats.webhooks_duplicated += 1
            copies.append(Delivery(seq=self._seq, kind=kind, raw=delivery.raw, duplicate=True))
        for item in copies:
            if self._held is not None:
                # hold-and-swap: the held webhook goes out after this one
                self._append(item)
                self._append(self._held)
                self._held = None
                self.stats.webhooks_reordered += 1
            elif not item.duplicate and self._chance(self.faults.reorder_rate):
                self._held = item
                self._held_since = time.monotonic()
            else:
                self._append(item)
        if self._wake is not None:
            self._wake.set()

    def _append(self, delivery: Delivery) -> None:
        if len(self.pending) >= self.config.max_pending_webhooks:
            self.pending.popleft()
            self.stats.webhooks_given_up += 1
        self.pending.append(delivery)

    def inbound(self, cust: Customer, message: Json) -> SimMessage:
        """Record a customer's message and queue its webhook."""
        now = self.now()
        cust.last_inbound_at = now
        msg = SimMessage(id=message["id"], direction="in", type=message["type"], timestamp=int(now),
                         content=message, state="received")
        self._remember(cust, msg)
        self.stats.inbound_messages += 1
        contacts = None if message["type"] == "system" else [self._contact(cust)]
        body = p.envelope(p.messages_value(self._meta(), contacts, [message]), self.config.waba_id)
        self.enqueue_webhook(body, "message")
        return msg

    def _status(self, cust: Customer, msg: SimMessage, state: str, errors: list[Json] | None = None) -> None:
        now = int(self.now())
        conv = pricing = None
        if state in ("sent", "delivered"):
            conv = p.conversation(cust.conversation_id, "service",
                                  now + WINDOW_SECONDS if state == "sent" else None)
        if state != "failed":
            pricing = p.pricing()
        wa_id, user_id = self._from(cust)
        if wa_id is None and msg.content.get("to") and not is_bsuid(msg.content["to"]):
            wa_id = cust.wa_id  # sent to the phone number: Meta echoes it
        item = p.status(msg.id, state, now, wa_id, recipient_user_id=user_id, conversation_obj=conv,
                        pricing_obj=pricing, errors=errors)
        msg.state = state
        msg.statuses.append(state)
        if errors:
            msg.errors = errors
            self.stats.statuses_failed += 1
        if state == "delivered":
            msg.delivered_at = self.now()
        body = p.envelope(p.statuses_value(self._meta(), [item]), self.config.waba_id)
        self.enqueue_webhook(body, "status")

    def mark_read_by_customer(self, cust: Customer) -> int:
        """The customer opens the chat: every delivered business message becomes read."""
        count = 0
        for msg in cust.messages:
            if msg.direction == "out" and msg.state == "delivered":
                self._status(cust, msg, "read")
                count += 1
        return count

    def tick(self) -> None:
        """Timers on the simulated clock (automatic read receipts)."""
        delay = self.config.auto_read_seconds
        if delay is None:
            return
        now = self.now()
        for cust in self.customers.values():
            for msg in cust.messages:
                if msg.direction == "out" and msg.state == "delivered" and msg.delivered_at is not None \
                        and now - msg.delivered_at >= delay:
                    self._status(cust, msg, "read")

    # ---------------------------------------------------------------- Graph: auth, faults
    def check_token(self, authorization: str | None) -> None:
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip(), self.config.access_token):
            raise bad_token()
        if self.faults.expired_token:
            raise expired_token(self.now())

    async def graph_faults(self) -> None:
        """Latency, timeouts and 5xx for any Graph call."""
        if self.faults.latency_ms:
            await asyncio.sleep(self.faults.latency_ms / 1000)
        if self._chance(self.faults.timeout_rate, "timeout_next"):
            await asyncio.sleep(self.faults.timeout_seconds)
        if self._chance(self.faults.server_error_rate, "server_error_next"):
            raise server_error(self.faults.server_error_status)

    def check_phone_number_id(self, phone_number_id: str) -> None:
        if phone_number_id != self.config.phone_number_id:
            raise unknown_object(phone_number_id)

    # ---------------------------------------------------------------- Graph: send
    def send(self, body: Any) -> Json:
        if not isinstance(body, dict):
            raise invalid_param("The request body must be a JSON object.")
        if body.get("messaging_product") != "whatsapp":
            if body.get("messaging_product") is None:
                raise required_param("messaging_product")
            raise invalid_param("Param messaging_product must be one of {WHATSAPP} - got "
                                f"\"{body.get('messaging_product')}\".")
        if body.get("status") == "read" and "message_id" in body:
            return self.mark_inbound_read(body)
        if self._chance(self.faults.throttle_rate, "throttle_next"):
            raise throttled(self.faults.throttle_http_status)
        to = body.get("to") or body.get("recipient")
        if not to or not isinstance(to, str):
            raise required_param("to")
        if body.get("recipient_type", "individual") != "individual":
            raise invalid_param("Param recipient_type must be one of {INDIVIDUAL}.")
        mtype = body.get("type", "text")
        self._validate(mtype, body)
        if not is_bsuid(to) and not 6 <= len(digits(to)) <= 20:
            raise invalid_param(f"Param to is not a valid phone number: {to!r}.")
        cust = self.ensure_customer(to)
        now = self.now()
        if self._chance(self.faults.pair_rate_rate, "pair_rate_next") or (
                self.faults.pair_rate_min_interval > 0 and cust.last_outbound_at is not None
                and now - cust.last_outbound_at < self.faults.pair_rate_min_interval):
            raise pair_rate_limited(self.faults.throttle_http_status)
        rendered = self._check_template(body["template"]) if mtype == "template" else None
        outside = mtype != "template" and (
            cust.last_inbound_at is None or now - cust.last_inbound_at >= WINDOW_SECONDS)
        if outside and self.config.reengagement_mode == "sync":
            raise reengagement_error()
        wamid = self.new_wamid(cust.wa_id)
        msg = SimMessage(id=wamid, direction="out", type=mtype, timestamp=int(now), content=body, rendered=rendered)
        self._remember(cust, msg)
        cust.last_outbound_at = now
        self.stats.sends_accepted += 1
        if outside:
            self._status(cust, msg, "failed", [delivery_error(131047)])
        elif self._chance(self.faults.delivery_failure_rate, "delivery_failure_next"):
            self._status(cust, msg, "failed", [delivery_error(self.faults.delivery_failure_code)])
        else:
            self._status(cust, msg, "sent")
            if self.config.auto_delivered:
                self._status(cust, msg, "delivered")
        contact: Json = {"input": to}
        if cust.wa_id and not (is_bsuid(to) and cust.phone_hidden):
            contact["wa_id"] = cust.wa_id
        if cust.user_id and self.config.bsuid:
            contact["user_id"] = cust.user_id
        result: Json = {"messaging_product": "whatsapp", "contacts": [contact], "messages": [{"id": wamid}]}
        if mtype == "template":
            result["messages"][0]["message_status"] = "accepted"
        return result

    # ---------------------------------------------------------------- Graph: message templates
    def _seed_templates(self) -> None:
        self.templates.clear()
        self.templates[("hello_world", "en_US")] = SimTemplate(
            id=self.new_template_id(), name="hello_world", language="en_US", category="UTILITY",
            components=[dict(c) for c in HELLO_WORLD], status="APPROVED")

    def new_template_id(self) -> str:
        return str(self.rng.randrange(10**14, 10**15))

    def check_waba_id(self, waba_id: str, method: str = "post") -> None:
        if waba_id != self.config.waba_id:
            raise unknown_object(f"{waba_id}/message_templates", method)

    def create_template(self, body: Any) -> Json:
        """``POST /{waba_id}/message_templates``: learn a template, PENDING (or APPROVED at once in demo)."""
        if not isinstance(body, dict):
            raise invalid_param("The request body must be a JSON object.")
        name, language, category = body.get("name"), body.get("language"), body.get("category")
        for key, value in (("name", name), ("language", language), ("category", category)):
            if not value:
                raise required_param(key)
        if not isinstance(name, str) or not TEMPLATE_NAME.match(name):
            raise invalid_param("Param name must be lowercase letters, numbers and underscores only.")
        if not isinstance(language, str) or not TEMPLATE_LANGUAGE.match(language):
            raise invalid_param(f"Param language is not a supported language code: {language!r}.")
        if str(category).upper() not in TEMPLATE_CATEGORIES:
            raise invalid_param(f"Param category must be one of {{{', '.join(TEMPLATE_CATEGORIES)}}}.")
        components = body.get("components")
        if not isinstance(components, list) or not components:
            raise required_param("components")
        self._validate_template_components(components)
        if (name, language) in self.templates:
            raise GraphError(400, 100, "Invalid parameter", subcode=2388024,
                             details=f"Content in this language already exists for {name} ({language}).")
        template = SimTemplate(id=self.new_template_id(), name=name, language=language,
                               category=str(category).upper(), components=components)
        self.templates[(name, language)] = template
        if self.config.template_review == "approve":
            self.set_template_status(name, "APPROVED", language=language)
        return {"id": template.id, "status": template.status, "category": template.category}

    def _validate_template_components(self, components: list) -> None:
        kinds = [c.get("type") if isinstance(c, dict) else None for c in components]
        if "BODY" not in kinds:
            raise invalid_param("A template needs a component of type BODY.")
        for comp in components:
            kind = comp.get("type") if isinstance(comp, dict) else None
            if kind == "BODY":
                text = comp.get("text")
                if not isinstance(text, str) or not text.strip():
                    raise required_param("components['BODY']['text']")
                if len(text) > 1024:
                    raise invalid_value("Param components['BODY']['text'] must be at most 1024 characters long.")
                count = len(set(_PLACEHOLDER.findall(text)))
                examples = ((comp.get("example") or {}).get("body_text") or [[]])[0]
                if count and len(examples) != count:
                    raise invalid_param(f"The BODY has {count} variables: example['body_text'] needs {count} values.")
            elif kind == "HEADER":
                fmt = comp.get("format")
                if fmt == "TEXT":
                    if not isinstance(comp.get("text"), str) or len(comp["text"]) > 60:
                        raise invalid_value("Param components['HEADER']['text'] must be 1 to 60 characters long.")
                elif fmt not in ("IMAGE", "DOCUMENT", "VIDEO", "LOCATION"):
                    raise invalid_param(f"Param components['HEADER']['format'] is invalid: {fmt!r}.")
            elif kind == "FOOTER":
                if len(comp.get("text") or "") > 60:
                    raise invalid_value("Param components['FOOTER']['text'] must be at most 60 characters long.")
            elif kind == "BUTTONS":
                buttons = comp.get("buttons")
                if not isinstance(buttons, list) or not 1 <= len(buttons) <= 10:
                    raise invalid_value("Param components['BUTTONS']['buttons'] must have 1 to 10 elements.")
                for button in buttons:
                    text = button.get("text") if isinstance(button, dict) else None
                    if not isinstance(text, str) or not text.strip() or len(text) > 25:
                        raise invalid_value("Button text length invalid. Min length: 1, Max length: 25")
            else:
                raise invalid_param(f"Param components has an unknown type: {kind!r}.")

    def list_templates(self, params: Any) -> Json:
        """``GET /{waba_id}/message_templates``: ``{"data": [...], "paging": {...}}`` (cursor paging)."""
        try:
            limit = max(1, min(int(params.get("limit") or 25), 1000))
            start = int(base64.b64decode(params.get("after") or "MA==").decode() or 0)
        except ValueError as exc:
            raise invalid_param("Param limit / after is invalid.") from exc
        wanted = [f for f in (params.get("fields") or "id,name,language,status,category").split(",") if f]
        items = list(self.templates.values())
        if params.get("name"):
            items = [t for t in items if params["name"] in t.name]
        page = items[start:start + limit]
        data = [{key: value for key, value in t.as_dict().items() if key in wanted or key == "id"} for t in page]
        result: Json = {"data": data}
        if page:
            cursors = {"before": base64.b64encode(str(start).encode()).decode(),
                       "after": base64.b64encode(str(start + len(page)).encode()).decode()}
            result["paging"] = {"cursors": cursors}
            if start + len(page) < len(items):
                result["paging"]["next"] = f"message_templates?after={cursors['after']}&limit={limit}"
        return result

    def find_template(self, name: str, language: str | None = None) -> SimTemplate | None:
        if language:
            return self.templates.get((name, language))
        return next((t for t in self.templates.values() if t.name == name), None)

    def set_template_status(self, name: str, status: str, *, language: str | None = None,
                            reason: str | None = None) -> SimTemplate:
        """Meta reviewed a template (the control API, or at once in demo): the new status, and the
        ``message_template_status_update`` webhook Meta sends."""
        status = status.upper()
        if status not in TEMPLATE_STATUSES:
            raise ValueError(f"status: one of {', '.join(TEMPLATE_STATUSES)}")
        template = self.find_template(name, language)
        if template is None:
            raise LookupError(f"unknown template {name!r}" + (f" in {language}" if language else ""))
        template.status = status
        template.rejected_reason = (reason or "INVALID_FORMAT") if status == "REJECTED" else "NONE"
        value = {"event": status, "message_template_id": int(template.id), "message_template_name": template.name,
                 "message_template_language": template.language, "reason": template.rejected_reason}
        self.enqueue_webhook(p.envelope(value, self.config.waba_id, field="message_template_status_update"),
                             "template")
        return template

    def _check_template(self, obj: Json) -> Json:
        """A template send: only a known, approved template, with its parameters; what the customer sees."""
        name, language = obj.get("name"), (obj.get("language") or {}).get("code")
        template = self.templates.get((name, language))
        if template is None or template.status in ("PENDING", "REJECTED"):
            raise GraphError(404, 132001, "(#132001) Template name does not exist in the translation",
                             details=f"template name ({name}) does not exist in {language}")
        if template.status == "PAUSED":
            raise GraphError(400, 132015, "(#132015) Template is Paused", details=f"template {name} is paused")
        if template.status == "DISABLED":
            raise GraphError(400, 132016, "(#132016) Template is disabled", details=f"template {name} is disabled")
        sent = {c.get("type"): c for c in obj.get("components") or []
                if isinstance(c, dict) and c.get("type") != "button"}
        params = [x.get("text") for x in (sent.get("body") or {}).get("parameters") or []]
        if len(params) != template.body_params:
            raise GraphError(400, 132000, "(#132000) Number of parameters does not match the expected number of params",
                             details=f"body: number of localizable_params ({len(params)}) does not match the "
                                     f"expected number of params ({template.body_params})")
        if any(not isinstance(x, str) or not x.strip() for x in params):
            raise GraphError(400, 131008, "(#131008) Required parameter is missing",
                             details="Parameter of type text is missing text value")
        body = _PLACEHOLDER.sub(lambda m: params[int(m.group(1)) - 1] if int(m.group(1)) <= len(params)
                                else m.group(0), (template.component("BODY") or {}).get("text") or "")
        header = template.component("HEADER") or {}
        payloads = {int(c.get("index") or 0): ((c.get("parameters") or [{}])[0]).get("payload")
                    for c in obj.get("components") or [] if isinstance(c, dict) and c.get("type") == "button"}
        buttons = [{"text": b.get("text"), "payload": payloads.get(i) or b.get("text")}
                   for i, b in enumerate((template.component("BUTTONS") or {}).get("buttons") or [])]
        return {"header": header.get("text") if header.get("format") == "TEXT" else (header.get("format") or None),
                "body": body, "footer": (template.component("FOOTER") or {}).get("text"), "buttons": buttons}

    def mark_inbound_read(self, body: Json) -> Json:
        found = self.find_message(str(body.get("message_id")))
        if found is None or found[1].direction != "in":
            raise invalid_value(f"Invalid message_id: {body.get('message_id')!r}.")
        cust, msg = found
        for item in cust.messages:  # Meta marks the message and every earlier one as read
            if item.direction == "in":
                item.state = "read"
            if item is msg:
                break
        return {"success": True}

    def _validate(self, mtype: str, body: Json) -> None:
        obj = body.get(mtype)
        if mtype == "text":
            text = obj if isinstance(obj, dict) else None
            if not text or not isinstance(text.get("body"), str):
                raise required_param("text['body']")
            if not text["body"].strip():
                raise invalid_value("Param text['body'] must not be empty.")
            if len(text["body"]) > 4096:
                raise invalid_value("Param text['body'] must be at most 4096 characters long.")
        elif mtype in MEDIA_TYPES:
            if not isinstance(obj, dict):
                raise required_param(mtype)
            has_id, has_link = bool(obj.get("id")), bool(obj.get("link"))
            if has_id == has_link:
                raise invalid_param(f"Param {mtype} must contain exactly one of id or link.")
            if has_id:
                media = self.media.get(str(obj["id"]), self.now())
                if media is None:
                    raise invalid_value(f"Invalid media id: {obj['id']}. The media does not exist or has expired.")
                category = SUPPORTED_MEDIA.get(base_mime(media.mime_type), ("", 0))[0]
                allowed = {"image": ("image",), "sticker": ("sticker",), "video": ("video",), "audio": ("audio",),
                           "document": ("document", "image", "video", "audio", "sticker")}[mtype]
                if category not in allowed:
                    raise invalid_value(f"Media {obj['id']} of type {media.mime_type} cannot be sent as {mtype}.")
            if "caption" in obj and mtype not in ("image", "video", "document"):
                raise invalid_param(f"Param {mtype}['caption'] is not allowed.")
            if len(obj.get("caption") or "") > 1024:
                raise invalid_value("Param caption must be at most 1024 characters long.")
        elif mtype == "interactive":
            self._validate_interactive(obj)
        elif mtype == "reaction":
            if not isinstance(obj, dict) or not obj.get("message_id"):
                raise required_param("reaction['message_id']")
            if "emoji" not in obj:
                raise required_param("reaction['emoji']")
        elif mtype == "template":
            if not isinstance(obj, dict) or not obj.get("name"):
                raise required_param("template['name']")
            if not isinstance(obj.get("language"), dict) or not obj["language"].get("code"):
                raise required_param("template['language']['code']")
        elif mtype in ("location", "contacts"):
            if not obj:
                raise required_param(mtype)
        else:
            raise invalid_param(f"Param type must be one of {{TEXT, IMAGE, AUDIO, VIDEO, DOCUMENT, STICKER, "
                                f"INTERACTIVE, REACTION, TEMPLATE, LOCATION, CONTACTS}} - got \"{mtype}\".")
        ctx = body.get("context")
        if ctx is not None and (not isinstance(ctx, dict) or not ctx.get("message_id")):
            raise required_param("context['message_id']")

    def _validate_interactive(self, obj: Any) -> None:
        if not isinstance(obj, dict):
            raise required_param("interactive")
        itype = obj.get("type")
        body = obj.get("body")
        if itype not in ("button", "list", "cta_url", "flow", "product", "product_list", "location_request_message"):
            raise invalid_param(f"Param interactive['type'] is invalid: {itype!r}.")
        if itype in ("button", "list"):
            if not isinstance(body, dict) or not isinstance(body.get("text"), str) or not body["text"].strip():
                raise required_param("interactive['body']['text']")
            if len(body["text"]) > 1024:
                raise invalid_value("Param interactive['body']['text'] must be at most 1024 characters long.")
        footer = obj.get("footer")
        if isinstance(footer, dict) and len(footer.get("text") or "") > 60:
            raise invalid_value("Param interactive['footer']['text'] must be at most 60 characters long.")
        action = obj.get("action")
        if not isinstance(action, dict):
            raise required_param("interactive['action']")
        if itype == "button":
            buttons = action.get("buttons")
            if not isinstance(buttons, list) or not 1 <= len(buttons) <= 3:
                raise invalid_value("Param interactive['action']['buttons'] must have between 1 and 3 elements.")
            ids, titles = set(), set()
            for i, button in enumerate(buttons):
                reply = button.get("reply") if isinstance(button, dict) else None
                if not isinstance(button, dict) or button.get("type") != "reply" or not isinstance(reply, dict):
                    raise invalid_param(f"Param interactive['action']['buttons'][{i}] must be of type reply.")
                bid, title = reply.get("id"), reply.get("title")
                if not isinstance(bid, str) or not bid.strip() or len(bid) > 256:
                    raise invalid_value("Button id length invalid. Min length: 1, Max length: 256")
                if not isinstance(title, str) or not title.strip() or len(title) > 20:
                    raise invalid_value("Button title length invalid. Min length: 1, Max length: 20")
                if bid in ids or title in titles:
                    raise invalid_value("Button ids and titles must be unique.")
                ids.add(bid)
                titles.add(title)
        elif itype == "list":
            label = action.get("button")
            if not isinstance(label, str) or not label.strip() or len(label) > 20:
                raise invalid_value("Param interactive['action']['button'] length invalid. Max length: 20")
            sections = action.get("sections")
            if not isinstance(sections, list) or not 1 <= len(sections) <= 10:
                raise invalid_value("Param interactive['action']['sections'] must have between 1 and 10 elements.")
            rows = [row for section in sections if isinstance(section, dict) for row in section.get("rows") or []]
            if not 1 <= len(rows) <= 10:
                raise invalid_value("The total number of rows across sections must be between 1 and 10.")
            seen = set()
            for row in rows:
                if not isinstance(row, dict) or not row.get("id") or len(str(row["id"])) > 200:
                    raise invalid_value("Row id length invalid. Min length: 1, Max length: 200")
                if not row.get("title") or len(str(row["title"])) > 24:
                    raise invalid_value("Row title length invalid. Min length: 1, Max length: 24")
                if len(str(row.get("description") or "")) > 72:
                    raise invalid_value("Row description length invalid. Max length: 72")
                if row["id"] in seen:
                    raise invalid_value("Row ids must be unique.")
                seen.add(row["id"])

    # ---------------------------------------------------------------- Graph: media
    def upload(self, data: bytes, mime_type: str | None, filename: str | None, messaging_product: str | None) -> Json:
        if messaging_product != "whatsapp":
            raise required_param("messaging_product")
        if not mime_type:
            raise required_param("type")
        spec = SUPPORTED_MEDIA.get(base_mime(mime_type))
        if spec is None:
            raise GraphError(400, 131053, "(#131053) Media upload error",
                             details=f"Param file must be a file with one of the following types: "
                                     f"{', '.join(SUPPORTED_MEDIA)}. Received file of type '{mime_type}'.")
        if not data:
            raise invalid_value("Param file must not be empty.")
        if len(data) > spec[1]:
            raise GraphError(400, 131053, "(#131053) Media upload error",
                             details=f"File size {len(data)} exceeds the limit of {spec[1]} bytes for {spec[0]}.")
        media = self.store_media(data, mime_type, "business", filename)
        self.stats.media_uploaded += 1
        return {"id": media.id}

    def store_media(self, data: bytes, mime_type: str, origin: str, filename: str | None = None) -> Media:
        now = self.now()
        ttl = UPLOADED_MEDIA_TTL if origin == "business" else INBOUND_MEDIA_TTL
        media = Media(id=self.new_media_id(), data=data, mime_type=mime_type,
                      sha256=hashlib.sha256(data).hexdigest(), created=now, expires=now + ttl,
                      origin=origin, filename=filename)
        self.media.add(media)
        return media

    def media_info(self, media_id: str, base_url: str) -> Json:
        media = self.media.get(media_id, self.now())
        if media is None:
            raise unknown_object(media_id, "get")
        return {"url": self.media_url(media, base_url), "mime_type": media.mime_type, "sha256": media.sha256,
                "file_size": len(media.data), "id": media.id, "messaging_product": "whatsapp"}

    def _url_hash(self, mid: str, ext: str) -> str:
        return hmac.new(self._url_key, f"{mid}:{ext}".encode(), hashlib.sha256).hexdigest()[:32]

    def media_url(self, media: Media, base_url: str) -> str:
        ext = str(int(self.now()) + self.config.media_url_ttl)
        return (f"{base_url.rstrip('/')}/whatsapp_business/attachments/?mid={media.id}&ext={ext}"
                f"&hash={self._url_hash(media.id, ext)}")

    def download(self, mid: str, ext: str, url_hash: str) -> Media | None:
        """The media behind a download URL, or None (unknown, tampered or expired URL)."""
        if not hmac.compare_digest(self._url_hash(mid, ext), url_hash or ""):
            return None
        if not ext.isdigit() or int(ext) < self.now():
            return None
        media = self.media.get(mid, self.now())
        if media is not None:
            self.stats.media_downloads += 1
        return media

    # ---------------------------------------------------------------- customer actions (control API)
    def customer_send(self, ident: str, spec: Json, base_url: str = "") -> SimMessage:
        """The customer sends a message: ``spec`` is ``{"type": ..., type fields}`` (see app docs)."""
        cust = self.ensure_customer(ident, name=spec.get("name"), user_id=spec.get("user_id"),
                                    username=spec.get("username"), phone_hidden=spec.get("phone_hidden"))
        mtype = spec.get("type", "text")
        wamid = self.new_wamid(cust.wa_id)
        ts = int(self.now())
        wa_id, user_id = self._from(cust)
        common: Json = {"from_user_id": user_id}
        ctx = None
        if spec.get("reply_to"):
            ctx = p.reply_context(self.config.display_phone_number, spec["reply_to"])
        elif spec.get("forwarded"):
            ctx = p.forwarded_context(spec.get("forwarded") == "frequently")
        if mtype == "text":
            if not isinstance(spec.get("text"), str) or not spec["text"]:
                raise ValueError("text: required")
            message = p.text_message(wa_id, wamid, ts, spec["text"], context=ctx, **common)
        elif mtype in MEDIA_TYPES:
            if spec.get("media_id"):
                media = self.media.get(str(spec["media_id"]), self.now())
                if media is None:
                    raise ValueError(f"media_id: unknown media {spec['media_id']!r}")
            else:
                try:
                    data = base64.b64decode(spec.get("data") or "", validate=True)
                except ValueError as exc:
                    raise ValueError("data: expected base64") from exc
                if not data:
                    raise ValueError("data: required (base64 of the file) unless media_id is given")
                mime = spec.get("mime_type") or {"image": "image/jpeg", "audio": "audio/ogg; codecs=opus",
                                                 "video": "video/mp4", "document": "application/pdf",
                                                 "sticker": "image/webp"}[mtype]
                if mtype == "audio" and base_mime(mime) == "audio/ogg" and "codecs" not in mime:
                    mime = "audio/ogg; codecs=opus"
                media = self.store_media(data, mime, "customer", spec.get("filename"))
            url = self.media_url(media, base_url) if self.config.media_in_webhook_url and base_url else None
            voice = spec.get("voice")
            if mtype == "audio" and voice is None:
                voice = base_mime(media.mime_type) == "audio/ogg"
            filename = spec.get("filename") or media.filename
            if mtype == "document" and not filename:
                filename = "document"
            message = p.media_message(wa_id, wamid, ts, mtype, media_id=media.id, mime_type=media.mime_type,
                                      sha256=media.sha256, caption=spec.get("caption"),
                                      filename=filename, voice=voice, animated=spec.get("animated"),
                                      url=url, context=ctx, **common)
        elif mtype == "location":
            message = p.location_message(wa_id, wamid, ts, float(spec["latitude"]), float(spec["longitude"]),
                                         name=spec.get("name_of_place") or spec.get("place"),
                                         address=spec.get("address"), context=ctx, **common)
        elif mtype == "contacts":
            cards = spec.get("contacts") or []
            if not cards:
                raise ValueError("contacts: a non-empty list of {name, phones, emails}")
            built = [p.contact_card(c.get("name") or "", phones=c.get("phones"), emails=c.get("emails"),
                                    wa_ids=[digits(x) for x in c.get("phones") or []]) for c in cards]
            message = p.contacts_message(wa_id, wamid, ts, built, context=ctx, **common)
        elif mtype == "reaction":
            if not spec.get("message_id"):
                raise ValueError("message_id: the wamid reacted to is required")
            message = p.reaction_message(wa_id, wamid, ts, spec["message_id"], spec.get("emoji"), **common)
        elif mtype in ("button_reply", "list_reply", "interactive"):
            return self.press(ident, spec)
        elif mtype == "button":
            if not spec.get("payload"):
                raise ValueError("payload: required for a template quick-reply button")
            message = p.template_button_message(
                wa_id, wamid, ts, spec["payload"], spec.get("text") or spec["payload"],
                context=p.reply_context(self.config.display_phone_number, spec.get("reply_to") or self.new_wamid(None)),
                **common)
        elif mtype == "unsupported":
            message = p.unsupported_message(wa_id, wamid, ts, unsupported_type=spec.get("unsupported_type", "unknown"),
                                            **common)
        elif mtype == "system":
            return self.change_number(ident, spec.get("new_wa_id") or "")
        else:
            raise ValueError(f"type: unknown message type {mtype!r}")
        return self.inbound(cust, message)

    def press(self, ident: str, spec: Json) -> SimMessage:
        """Press a reply button (``button_id``) or pick a list row (``row_id``) of a business message."""
        cust = self.customer(ident)
        if cust is None:
            raise LookupError(f"unknown customer {ident!r}")
        target = None
        wanted = spec.get("message_id")
        for msg in reversed(cust.messages):
            buttons = msg.type == "interactive" or (msg.type == "template" and (msg.rendered or {}).get("buttons"))
            if msg.direction == "out" and buttons and (not wanted or msg.id == wanted):
                target = msg
                break
        if target is None:
            raise LookupError("no interactive message from the business to answer" +
                              (f" with id {wanted!r}" if wanted else ""))
        if target.type == "template":
            return self._press_template_button(cust, target, spec)
        interactive = target.content.get("interactive") or {}
        action = interactive.get("action") or {}
        wamid = self.new_wamid(cust.wa_id)
        ts = int(self.now())
        wa_id, user_id = self._from(cust)
        ctx = p.reply_context(self.config.display_phone_number, target.id)
        if interactive.get("type") == "button":
            button_id, title = spec.get("button_id"), spec.get("title")
            for button in action.get("buttons") or []:
                reply = button.get("reply") or {}
                if (button_id and reply.get("id") == button_id) or (not button_id and title and
                                                                   reply.get("title") == title):
                    message = p.button_reply_message(wa_id, wamid, ts, reply["id"], reply["title"], context=ctx,
                                                     from_user_id=user_id)
                    target.pressed = reply["id"]
                    return self.inbound(cust, message)
            raise LookupError(f"message {target.id} has no button {button_id or title!r}")
        if interactive.get("type") == "list":
            row_id = spec.get("row_id") or spec.get("button_id")
            for section in action.get("sections") or []:
                for row in section.get("rows") or []:
                    if row.get("id") == row_id:
                        message = p.list_reply_message(wa_id, wamid, ts, row["id"], row["title"], context=ctx,
                                                       description=row.get("description"), from_user_id=user_id)
                        target.pressed = row["id"]
                        return self.inbound(cust, message)
            raise LookupError(f"message {target.id} has no list row {row_id!r}")
        raise LookupError(f"message {target.id} has no reply buttons or list")

    def _press_template_button(self, cust: Customer, target: SimMessage, spec: Json) -> SimMessage:
        """A quick reply of a template: Meta's ``type: button`` webhook with the button's payload."""
        button_id, title = spec.get("button_id"), spec.get("title")
        for button in (target.rendered or {}).get("buttons") or []:
            if (button_id and button["payload"] == button_id) or (not button_id and title == button["text"]):
                wa_id, user_id = self._from(cust)
                message = p.template_button_message(
                    wa_id, self.new_wamid(cust.wa_id), int(self.now()), button["payload"], button["text"],
                    context=p.reply_context(self.config.display_phone_number, target.id), from_user_id=user_id)
                target.pressed = button["payload"]
                return self.inbound(cust, message)
        raise LookupError(f"message {target.id} has no button {button_id or title!r}")

    def change_number(self, ident: str, new_wa_id: str) -> SimMessage:
        cust = self.customer(ident)
        if cust is None or not cust.wa_id:
            raise LookupError(f"unknown customer (with a phone number) {ident!r}")
        new = digits(new_wa_id)
        if not 6 <= len(new) <= 20:
            raise ValueError("new_wa_id: expected a phone number")
        new_user_id = self.bsuid_for(new) if self.config.bsuid else None
        message = p.user_changed_number_message(cust.wa_id, self.new_wamid(cust.wa_id), int(self.now()), new,
                                                name=cust.name, from_user_id=cust.user_id if self.config.bsuid
                                                else None, new_user_id=new_user_id)
        msg = self.inbound(cust, message)
        # the customer now lives under the new number (and a new BSUID, as Meta generates one)
        self.customers.pop(cust.key, None)
        cust.wa_id, cust.user_id, cust.key = new, new_user_id, new
        self.customers[new] = cust
        return msg

    # ---------------------------------------------------------------- delivery
    def _client_get(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(transport=self.config.webhook_transport,
                                             timeout=self.config.webhook_timeout)
        return self._client

    async def _attempt(self, delivery: Delivery) -> bool:
        url = self.config.webhook_url
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "facebookexternalua",
            "X-Hub-Signature-256": p.signature(delivery.raw, self.config.app_secret),
        }
        delivery.attempts += 1
        self.stats.webhook_attempts += 1
        try:
            response = await self._client_get().post(url, content=delivery.raw, headers=headers)
            ok = 200 <= response.status_code < 300
            delivery.last_error = None if ok else f"HTTP {response.status_code}"
        except httpx.HTTPError as exc:
            ok = False
            delivery.last_error = f"{type(exc).__name__}: {exc}"
        if ok:
            self.stats.webhooks_delivered += 1
            return True
        self.stats.webhook_failures += 1
        if delivery.attempts >= self.config.webhook_max_attempts:
            self.stats.webhooks_given_up += 1
            _logger.warning("webhook %s given up after %s attempts: %s", delivery.seq, delivery.attempts,
                            delivery.last_error)
            return True  # dropped
        delay = min(self.config.retry_max_delay, self.config.retry_base_delay * 2 ** (delivery.attempts - 1))
        delivery.next_at = time.monotonic() + delay
        return False

    async def flush(self, *, only_due: bool = False) -> Json:
        """Deliver pending webhooks now (all of them, or only those whose retry time has come).

        Each pending webhook gets one attempt; failed ones stay pending for a later retry.
        """
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            self.tick()
            now = time.monotonic()
            if self._held is not None and (not only_due or now - self._held_since >= self.faults.reorder_hold_seconds):
                self._append(self._held)
                self._held = None
            batch = list(self.pending)
            self.pending.clear()
            delivered = failed = 0
            retry: list[Delivery] = []
            for index, delivery in enumerate(batch):
                if only_due and delivery.next_at > now:
                    retry.append(delivery)
                    continue
                if self.config.webhook_url is None:
                    continue
                done = await self._attempt(delivery)
                if done and delivery.last_error is None:
                    delivered += 1
                elif not done:
                    failed += 1
                    retry.append(delivery)
                if not done and only_due:
                    # the receiver is failing: leave the rest for later, in order
                    retry.extend(batch[index + 1:])
                    break
            for delivery in reversed(retry):
                self.pending.appendleft(delivery)
            return {"delivered": delivered, "failed": failed, "pending": len(self.pending),
                    "held": 1 if self._held is not None else 0}

    async def start(self) -> None:
        if self._lock is None:
            self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        if self.config.background_delivery:
            self._task = asyncio.create_task(self._run(), name="whatsapp-sim-webhooks")
        if self.config.verify_on_start:
            try:
                await self.verify_webhook()
            except Exception as exc:  # the bridge may start after the simulator: not fatal
                self.last_verification = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
                _logger.warning("webhook verification handshake failed: %s", exc)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def _run(self) -> None:
        while True:
            try:
                await self.flush(only_due=True)
            except Exception:  # the loop must survive anything
                _logger.exception("webhook delivery loop")
            self._wake.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.config.delivery_interval)

    async def verify_webhook(self) -> Json:
        """Meta's subscription handshake: GET the webhook URL with hub.* and expect the challenge back."""
        if not self.config.webhook_url:
            raise ValueError("no webhook URL configured")
        challenge = str(self.rng.randrange(10**9, 10**10))
        params = {"hub.mode": "subscribe", "hub.verify_token": self.config.verify_token, "hub.challenge": challenge}
        response = await self._client_get().get(self.config.webhook_url, params=params)
        ok = response.status_code == 200 and response.text.strip() == challenge
        self.last_verification = {"ok": ok, "status": response.status_code, "challenge": challenge,
                                  "body": response.text[:200]}
        return self.last_verification

    # ---------------------------------------------------------------- reports
    def stats_dict(self) -> Json:
        data = dataclasses.asdict(self.stats)
        data.update(pending_webhooks=len(self.pending) + (1 if self._held else 0), customers=len(self.customers),
                    media_items=len(self.media.items), media_bytes=self.media.total,
                    last_verification=self.last_verification)
        return data

    def reset(self) -> None:
        self.customers.clear()
        self.media = MediaStore(self.config.max_media_bytes, self.config.max_media_items)
        self.pending.clear()
        self._held = None
        self.webhook_log.clear()
        self.stats = Stats()
        self.clock_offset = 0.0
        self.faults = self.config.faults = Faults()
        self._seed_templates()
