"""Inbound, step 1: stream entries -> items (one message or status each); what cannot be read -> ``wa:dead``.

A message for a Cloud API number ended from Odoo (End, until Start) is not turned into a service:
it is set aside in ``wa:dead`` with that reason (its statuses still apply).

A webhook body comes from outside: nothing in it may stop the worker.  Whatever goes wrong while
decoding or parsing one entry (an unreadable body, or the parser itself failing on it: a TypeError,
a RecursionError from JSON nested 100,000 deep...) dead-letters that entry with the reason, and the
batch goes on; so does one message or status the parser rejects, or whose contract payload cannot be
built.  ``DeadLetters`` is how every inbound step writes ``wa:dead``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from whatsapp_bridge import contract, meta_parser
from whatsapp_bridge.events import InboundMessage, StatusEvent
from whatsapp_bridge.meta_parser import WebhookParseError, parse_webhook
from whatsapp_bridge.providers.session import stopped_accounts
from whatsapp_bridge.session_parser import is_session_event, parse_session_event
from whatsapp_bridge.streams import Entry, Streams

log = logging.getLogger(__name__)

# the parser's own decoder when it has one (it raises only WebhookParseError), else plain JSON
decode_body = getattr(meta_parser, "decode_body", json.loads)


@dataclass
class Item:
    """One message or status of a batch, with where it came from.

    ``payload`` is the contract payload sent to Odoo, built from the parsed ``event``: at once for a
    status, after the media download for a message.
    """

    entry_id: str
    seq: int  # arrival order in the batch
    payload: dict
    raw: str = ""  # the webhook body it came from
    event: InboundMessage | StatusEvent | None = None
    attempt: int = 0  # for retried statuses
    retry_member: str | None = None


@dataclass
class BatchReport:
    entries: int = 0
    messages: int = 0
    statuses: int = 0
    duplicates: int = 0
    dead: int = 0
    unknown_rescheduled: int = 0
    acked: list[str] = field(default_factory=list)


class DeadLetters:
    """``wa:dead`` for the inbound worker: the reason, where it came from and the original body, logged."""

    def __init__(self, streams: Streams):
        self.streams = streams

    def entry(self, entry: Entry, reason: str, report: BatchReport, **extra) -> None:
        self.streams.dead_letter(contract.STREAM_IN, reason, entry.payload, entry.id, **extra)
        report.dead += 1

    def item(self, item: Item, reason: str, report: BatchReport) -> None:
        shown = dict(item.payload)
        if not shown and item.event is not None:  # its payload could not be built: say which it was
            shown = {"account": item.event.account, "wamid": item.event.wamid}
        if isinstance(shown.get("media"), dict) and shown["media"].get("data"):
            shown["media"] = dict(shown["media"], data=f"<{len(shown['media']['data'])} base64 chars omitted>")
        self.streams.dead_letter(contract.STREAM_IN, reason, item.raw or shown, item.entry_id or None, item=shown)
        report.dead += 1
        log.error("dead-lettered an inbound item", extra={"fields": {
            "entry": item.entry_id, "wamid": shown.get("wamid"), "reason": reason}})


def parse_entries(entries: list[Entry], dead: DeadLetters, report: BatchReport) -> tuple[list[Item], list[Item]]:
    """(messages, statuses) of ``entries``, in arrival order; the unreadable parts are dead-lettered."""
    messages: list[Item] = []
    statuses: list[Item] = []
    seq = 0
    parsed_entries = [(entry, _parse(entry, dead, report)) for entry in entries if entry.payload]
    stopped = stopped_accounts(dead.streams.redis, dead.streams.keys,
                               {m.account for _, parsed in parsed_entries if parsed for m in parsed.messages})
    for entry, parsed in parsed_entries:
        if parsed is None:
            continue
        for msg in parsed.messages:
            seq += 1
            item = Item(entry.id, seq, {}, entry.payload, event=msg)
            if msg.account in stopped:
                dead.item(item, f"the number {msg.account} was ended from Odoo (End): its messages are not "
                                "turned into services until Start", report)
                continue
            messages.append(item)
        for status in parsed.statuses:
            seq += 1
            item = Item(entry.id, seq, {}, entry.payload, event=status)
            if build_payload(item, status.to_contract, dead, report):
                statuses.append(item)
    return messages, statuses


def _parse(entry: Entry, dead: DeadLetters, report: BatchReport):
    try:
        body = decode_body(entry.payload)
        # one pipeline, two providers: the session process's entries (WhatsApp Web) parse to the same events
        parsed = parse_session_event(body) if is_session_event(body) else parse_webhook(body)
    except (WebhookParseError, ValueError) as exc:
        dead.entry(entry, f"unreadable webhook body: {exc}", report)
        log.error("dead-lettered unreadable webhook", extra={"fields": {"entry": entry.id, "reason": str(exc)}})
        return None
    except Exception as exc:  # noqa: BLE001 - the safety net: a body must never stop the worker
        reason = f"parser failed on this body: {type(exc).__name__}: {exc}"
        dead.entry(entry, reason, report)
        log.exception("dead-lettered a webhook the parser failed on", extra={"fields": {
            "entry": entry.id, "reason": reason}})
        return None
    for part in parsed.rejected:  # only this message/status is lost, the rest of the body goes on
        dead.entry(entry, f"unreadable webhook part: {part.reason}", report, item=part.raw)
        log.error("dead-lettered an unreadable part of a webhook", extra={"fields": {
            "entry": entry.id, "path": part.path, "reason": part.reason}})
    for err in parsed.errors:
        log.error("WhatsApp reported an account error", extra={"fields": {
            "account": err.account, "code": err.error.code, "error": err.error.details or err.error.message}})
    return parsed


def build_payload(item: Item, build: Callable[[], dict], dead: DeadLetters, report: BatchReport) -> bool:
    """``item.payload = build()``; when that fails the item is dead-lettered, alone, and False returned."""
    try:
        item.payload = build()
    except Exception as exc:  # noqa: BLE001 - one item the bridge cannot express is set aside, not the batch
        reason = f"could not build the contract payload: {type(exc).__name__}: {exc}"
        log.exception("contract payload failed", extra={"fields": {"entry": item.entry_id, "reason": reason}})
        dead.item(item, reason, report)
        return False
    return True
