"""What the workers need from a messaging provider (Cloud API now, a WhatsApp Web session later).

Every provider raises ``ProviderError`` with an ``ErrorClass`` the workers act on:

* ``RETRY``  transient: try the same job again later (network, timeouts, 5xx, throttling).
  ``recipient_backoff`` marks a per-recipient limit (Cloud API 131056): only that
  recipient waits.
* ``FAIL``   permanent for this message: report it failed to Odoo with a readable reason.
* ``PAUSE``  the account cannot send at all (token expired, permissions, account locked):
  stop sending, keep the jobs, alert an operator.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Protocol, runtime_checkable


class ErrorClass(str, enum.Enum):
    RETRY = "retry"
    FAIL = "fail"
    PAUSE = "pause"


class ProviderError(Exception):
    def __init__(
        self,
        error_class: ErrorClass,
        message: str,
        code: int | None = None,
        subcode: int | None = None,
        title: str = "",
        http_status: int | None = None,
        recipient_backoff: bool = False,
        retry_after: float | None = None,
    ):
        super().__init__(message)
        self.error_class = error_class
        self.message = message
        self.code = code
        self.subcode = subcode
        self.title = title or message
        self.http_status = http_status
        self.recipient_backoff = recipient_backoff
        self.retry_after = retry_after

    def to_contract(self) -> dict:
        """The ``error`` of a failed SendResult: ``{code, title, message}``."""
        out = {"title": self.title[:200], "message": self.message}
        if self.code is not None:
            out["code"] = self.code
        return out

    def __repr__(self) -> str:
        return f"ProviderError({self.error_class.value}, code={self.code}, {self.message!r})"


@dataclass(frozen=True)
class Recipient:
    wa_id: str | None = None
    user_id: str | None = None

    @property
    def key(self) -> str:
        return self.wa_id or self.user_id or ""


@dataclass(frozen=True)
class Button:
    id: str
    title: str


@dataclass(frozen=True)
class ListRow:
    """One option of a list message (contract ``ListMessage.rows``)."""

    id: str
    title: str
    description: str = ""


@dataclass(frozen=True)
class SendReceipt:
    wamid: str


@dataclass(frozen=True)
class FetchedMedia:
    data: bytes
    mimetype: str
    filename: str | None = None


@runtime_checkable
class Provider(Protocol):
    name: str

    def send_text(self, to: Recipient, text: str, reply_to: str | None = None) -> SendReceipt: ...

    def send_media(
        self,
        to: Recipient,
        kind: str,
        media_id: str,
        caption: str | None = None,
        filename: str | None = None,
        reply_to: str | None = None,
    ) -> SendReceipt: ...

    def send_interactive(
        self, to: Recipient, text: str, buttons: list[Button], reply_to: str | None = None
    ) -> SendReceipt: ...

    def send_list(
        self, to: Recipient, text: str, button: str, rows: list[ListRow], reply_to: str | None = None
    ) -> SendReceipt: ...

    def upload_media(self, data: bytes, mimetype: str, filename: str) -> str: ...

    def fetch_media(self, media_id: str) -> FetchedMedia: ...

    def check(self) -> tuple[bool, str]: ...
