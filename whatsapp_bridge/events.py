"""Provider-neutral events, as the parsers produce them and the workers consume them.

They are frozen: an event is a fact that happened at the provider.  ``to_contract``
turns one into the contract payload Odoo ingests (see ``whatsapp_attendance/contract.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from whatsapp_bridge import contract


@dataclass(frozen=True)
class Sender:
    wa_id: str | None = None  # phone number, digits only; absent for username users (BSUID only)
    user_id: str | None = None  # business-scoped user id (BSUID), e.g. "BR.1502576394655843"
    name: str | None = None
    username: str | None = None

    @property
    def key(self) -> str:
        """The customer key used for ordering: the BSUID when known, else the phone number."""
        return self.user_id or self.wa_id or ""

    def to_contract(self) -> dict:
        out: dict = {}
        if self.wa_id:
            out["wa_id"] = self.wa_id
        if self.user_id:
            out["user_id"] = self.user_id
        if self.name is not None:
            out["name"] = self.name
        return out


@dataclass(frozen=True)
class ProviderErrorInfo:
    """An ``errors[]`` item of a webhook (message, status or value level)."""

    code: int | None
    title: str = ""
    message: str = ""
    details: str = ""

    def to_contract(self) -> dict:
        out: dict = {"title": self.title or "", "message": self.details or self.message or self.title or ""}
        if self.code is not None:
            out["code"] = self.code
        return out


@dataclass(frozen=True)
class MediaRef:
    media_id: str
    mimetype: str
    sha256: str | None = None
    filename: str | None = None
    caption: str | None = None
    voice: bool = False
    animated: bool = False


@dataclass(frozen=True)
class Location:
    latitude: float
    longitude: float
    name: str | None = None
    address: str | None = None
    url: str | None = None


@dataclass(frozen=True)
class SharedContact:
    name: str
    phones: tuple[str, ...] = ()
    emails: tuple[str, ...] = ()
    wa_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class Reaction:
    wamid: str
    emoji: str  # "" when the customer removed the reaction


@dataclass(frozen=True)
class Reply:
    """A reply to an interactive message (button/list) or a template quick-reply button."""

    kind: str  # "button_reply" | "list_reply" | "button"
    id: str
    title: str = ""
    description: str = ""


@dataclass(frozen=True)
class Context:
    wamid: str | None = None  # the message replied to
    sender: str | None = None
    forwarded: bool = False
    frequently_forwarded: bool = False


@dataclass(frozen=True)
class SystemChange:
    type: str  # e.g. "user_changed_number"
    body: str = ""
    wa_id: str | None = None
    new_wa_id: str | None = None
    user_id: str | None = None
    new_user_id: str | None = None


@dataclass(frozen=True)
class InboundMessage:
    account: str  # phone_number_id of the business number
    wamid: str
    timestamp: int
    sender: Sender
    type: str  # one of contract.MESSAGE_TYPES
    text: str = ""
    media: MediaRef | None = None
    location: Location | None = None
    contacts: tuple[SharedContact, ...] = ()
    reaction: Reaction | None = None
    reply: Reply | None = None
    context: Context | None = None
    system: SystemChange | None = None
    errors: tuple[ProviderErrorInfo, ...] = ()
    provider_type: str = ""  # the provider's own type name ("button", "interactive", ...)

    @property
    def customer_key(self) -> str:
        return self.sender.key

    def to_contract(self, media: dict | None = None) -> dict:
        """The contract's InboundMessage; ``media`` is the downloaded file (``{mimetype, data, ...}``)."""
        out: dict = {
            "v": contract.CONTRACT_VERSION,
            "account": self.account,
            "wamid": self.wamid,
            "timestamp": self.timestamp,
            "from": self.sender.to_contract(),
            "type": self.type,
            "text": self.text or "",
        }
        if self.type in contract.MEDIA_TYPES:
            payload = dict(media or {})
            if self.media:
                payload.setdefault("mimetype", self.media.mimetype)
                if self.media.filename:
                    payload.setdefault("filename", self.media.filename)
                if self.media.caption:
                    payload.setdefault("caption", self.media.caption)
                payload["voice"] = bool(self.media.voice)
            out["media"] = payload
        if self.location:
            out["location"] = {
                "latitude": self.location.latitude,
                "longitude": self.location.longitude,
                "name": self.location.name or "",
                "address": self.location.address or "",
            }
        if self.contacts:
            out["contacts"] = [
                {"name": c.name, "phones": list(c.phones), "emails": list(c.emails)} for c in self.contacts
            ]
        if self.reaction:
            out["reaction"] = {"wamid": self.reaction.wamid, "emoji": self.reaction.emoji}
        if self.reply:
            out["interactive"] = {"id": self.reply.id, "title": self.reply.title}
        if self.context:
            ctx: dict = {"forwarded": self.context.forwarded or self.context.frequently_forwarded}
            if self.context.wamid:
                ctx["wamid"] = self.context.wamid
            if self.context.frequently_forwarded:
                ctx["frequently_forwarded"] = True
            out["context"] = ctx
        if self.system:
            out["system"] = {
                "type": self.system.type,
                "wa_id": self.system.wa_id,
                "new_wa_id": self.system.new_wa_id,
                "user_id": self.system.user_id,
                "new_user_id": self.system.new_user_id,
            }
        if self.errors:
            out["errors"] = [e.to_contract() for e in self.errors]
        return out


@dataclass(frozen=True)
class StatusEvent:
    account: str
    wamid: str
    status: str  # sent | delivered | read | failed
    timestamp: int
    recipient: str | None = None
    recipient_user_id: str | None = None
    errors: tuple[ProviderErrorInfo, ...] = ()

    def to_contract(self) -> dict:
        out: dict = {
            "v": contract.CONTRACT_VERSION,
            "account": self.account,
            "wamid": self.wamid,
            "status": self.status,
            "timestamp": self.timestamp,
        }
        if self.recipient:
            out["recipient"] = self.recipient
        if self.recipient_user_id:
            out["recipient_user_id"] = self.recipient_user_id
        if self.errors:
            out["error"] = self.errors[0].to_contract()
        return out


@dataclass(frozen=True)
class AccountError:
    """A value-level ``errors[]`` (a problem of the business account, not of one message)."""

    account: str
    error: ProviderErrorInfo


@dataclass(frozen=True)
class RejectedPart:
    """A message or status of a webhook body that could not be read; the rest of the body still counts."""

    path: str  # e.g. "entry[1].changes[0].value.messages[2]"
    reason: str  # names the bad field
    raw: object = None  # the element as received


@dataclass(frozen=True)
class ParsedWebhook:
    messages: tuple[InboundMessage, ...] = ()
    statuses: tuple[StatusEvent, ...] = ()
    errors: tuple[AccountError, ...] = ()
    ignored: tuple[str, ...] = field(default=())  # human-readable notes about skipped parts
    rejected: tuple[RejectedPart, ...] = ()  # unreadable messages/statuses, left out of the above
