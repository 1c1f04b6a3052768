"""What the session process needs from a WhatsApp Web client: the ``SessionDriver`` protocol and its events.

One driver serves one account (one WhatsApp number paired as a linked device).  It is driven by
the session process (``service.SessionService``) and tells it what happens through ``emit(event)``,
called from any thread.  Two drivers exist: ``fake_driver.FakeDriver`` (scripted, for tests and the
demo) and ``neonize_driver.NeonizeDriver`` (whatsmeow through neonize, for a real number).

Events (frozen dataclasses below):

* ``QrCode(code)``           a QR code to show; a new one each time WhatsApp rotates it
* ``PairCode(code)``         the 8-character code for pairing by phone number
* ``Connected(phone, since)`` paired (or reconnected with a stored pairing): the session is up
* ``Disconnected(reason)``   the session is down but still paired (stopped, network; may come back)
* ``LoggedOut(reason)``      the pairing is gone (logged out from Odoo or from the phone)
* ``Failed(reason)``         the session cannot work (ban, pairing timeout, dead connection, crash)
* ``Keepalive()``            the connection answered a keepalive (the health watchdog's input)
* ``Message(data)``          a message of a chat, in the provider-neutral ``SessionMessage`` shape
                             (``whatsapp_bridge.session_parser``); ``media`` bytes travel beside it
* ``Receipt(data)``          delivery / read receipt of a message the business sent
* ``Contacts(items)``        the phone's contacts: ``[{"phone", "lid", "name"}]``
* ``History(messages, lids)`` the recent history of the phone's chats (WhatsApp's history sync on
                             pairing): ``Message`` events whose ``from`` is the chat's customer and
                             ``from_me`` says whether the business wrote it; ``lids`` maps LIDs to phones

A ``Message`` with ``from_me`` (the business wrote it on the phone itself) names the chat's customer
in ``from``: the session process hands it to Odoo as the business's message, never as a customer's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class QrCode:
    code: str


@dataclass(frozen=True)
class PairCode:
    code: str


@dataclass(frozen=True)
class Connected:
    phone: str = ""
    since: int = 0


@dataclass(frozen=True)
class Disconnected:
    reason: str = ""


@dataclass(frozen=True)
class LoggedOut:
    reason: str = ""


@dataclass(frozen=True)
class Failed:
    reason: str


@dataclass(frozen=True)
class Keepalive:
    pass


@dataclass(frozen=True)
class Message:
    data: dict  # SessionMessage (see session_parser)
    media: bytes | None = None


@dataclass(frozen=True)
class Receipt:
    data: dict  # SessionReceipt (see session_parser)


@dataclass(frozen=True)
class Contacts:
    items: tuple[dict, ...] = ()


@dataclass(frozen=True)
class History:
    messages: tuple[Message, ...] = ()
    lids: tuple[tuple[str, str], ...] = ()  # (lid, phone)


SessionEvent = QrCode | PairCode | Connected | Disconnected | LoggedOut | Failed | Keepalive | Message | Receipt \
    | Contacts | History
Emit = Callable[[SessionEvent], None]


@dataclass(frozen=True)
class Outgoing:
    """One message to send through a session (built by the session process from an outbound job)."""

    to: str  # phone number, digits
    kind: str  # text | interactive | image | audio | video | document | sticker
    text: str = ""
    media: bytes | None = None
    mimetype: str = ""
    filename: str = ""
    voice: bool = False
    reply_to: str | None = None
    buttons: tuple[tuple[str, str], ...] = field(default=())  # (id, title): sent as a numbered text menu


@runtime_checkable
class SessionDriver(Protocol):
    """A WhatsApp Web client for one account.  Every method returns quickly; what follows comes as events."""

    account: str

    def start(self) -> None:
        """Connect with the stored pairing, or begin pairing (``QrCode`` events) when there is none."""

    def pair_phone(self, phone: str) -> None:
        """Begin pairing by phone number: a ``PairCode`` event follows."""

    def logout(self) -> None:
        """Log the device out (the pairing is deleted): ``LoggedOut`` follows."""

    def stop(self) -> None:
        """Disconnect, keeping the pairing: ``Disconnected`` follows."""

    def send(self, message: Outgoing) -> str:
        """Send; return WhatsApp's message id.  Raises ``providers.base.ProviderError``."""


DriverFactory = Callable[[str, Emit], SessionDriver]
