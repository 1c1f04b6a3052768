"""The WhatsApp Web provider as the workers see it: a ``Provider`` that asks the session process.

The WhatsApp Web client runs in its own process (``python -m whatsapp_bridge session``), so a crash
there cannot take the webhook server or the workers down.  The workers reach it through Redis:

* which accounts it serves: the hash ``<p>wa:session:state`` (account key -> JSON with ``state``),
  written by the session process.  The outbound worker routes a job whose account is in it here,
  any other to the Cloud API (``OutboundWorker._provider_for``).  So the addon's OutboundJob does not
  change: the routing needs no contract field.
* sending: a request on the list ``<p>wa:session:rpc``; the answer on ``<p>wa:session:reply:<id>``.
  The session process sends at most once per Odoo message id: it records the WhatsApp id under
  ``<p>wa:sent:<message_id>`` (the outbound worker's own idempotency key) before answering, so a
  request retried after a timed-out answer is answered with the first send's id, never sent again.
* media: bytes under ``<p>wa:session:media:<id>`` (ids ``wasess:...``): what the session process
  received (the inbound worker fetches it like a Graph media), or what the outbound worker uploads.
"""

from __future__ import annotations

import json
import time
import uuid

import redis

from whatsapp_bridge.keys import Keys
from whatsapp_bridge.providers.base import (
    Button,
    ErrorClass,
    FetchedMedia,
    ListRow,
    ProviderError,
    Recipient,
    SendReceipt,
)
from whatsapp_bridge.session_parser import MEDIA_PREFIX

MEDIA_TTL = 24 * 3600
REPLY_TTL = 120
REPLY_TIMEOUT = 30.0


def session_states(client: redis.Redis, keys: Keys) -> dict[str, dict]:
    """account key -> its session (``{state, detail, connected_since, heartbeat, ...}``) as last written."""
    out = {}
    for account, raw in (client.hgetall(keys.session_state) or {}).items():
        account = account.decode() if isinstance(account, bytes) else account
        try:
            out[account] = json.loads(raw)
        except ValueError:
            continue
    return out


def stopped_accounts(client: redis.Redis, keys: Keys, accounts) -> set[str]:
    """The Cloud API accounts among ``accounts`` that were ended from Odoo (End): nothing sent or received."""
    accounts = sorted(set(accounts))
    if not accounts:
        return set()
    flags = client.mget([keys.session_stopped(a) for a in accounts])
    return {a for a, flag in zip(accounts, flags, strict=True) if flag}


def store_media(client: redis.Redis, keys: Keys, data: bytes, mimetype: str, filename: str = "") -> str:
    media_id = f"{MEDIA_PREFIX}{uuid.uuid4().hex}"
    meta = json.dumps({"mimetype": mimetype, "filename": filename})
    pipe = client.pipeline(transaction=True)
    pipe.hset(keys.session_media(media_id), mapping={"data": data, "meta": meta})
    pipe.expire(keys.session_media(media_id), MEDIA_TTL)
    pipe.execute()
    return media_id


def load_media(client: redis.Redis, keys: Keys, media_id: str) -> FetchedMedia:
    raw = client.hgetall(keys.session_media(media_id))
    if not raw:
        raise ProviderError(ErrorClass.FAIL, f"WhatsApp Web media {media_id} is gone (kept one day)",
                            code=131052, title="Media expired")
    meta = json.loads(raw.get(b"meta") or b"{}")
    return FetchedMedia(data=raw.get(b"data") or b"", mimetype=meta.get("mimetype") or "application/octet-stream",
                        filename=meta.get("filename") or None)


class SessionAccountProvider:
    """``Provider`` for one WhatsApp Web account, served by the session process."""

    name = "whatsapp_web"

    def __init__(self, client: redis.Redis, keys: Keys, account: str, timeout: float = REPLY_TIMEOUT):
        self.redis = client
        self.keys = keys
        self.account = account
        self.timeout = timeout
        self.message_id: int | None = None  # set by the outbound worker before each send (idempotency)

    def _request(self, **request) -> str:
        request_id = uuid.uuid4().hex
        request.update(id=request_id, account=self.account, message_id=self.message_id,
                       deadline=time.time() + self.timeout)
        self.redis.rpush(self.keys.session_rpc, json.dumps(request))
        answer = self.redis.blpop([self.keys.session_reply(request_id)], timeout=max(1, int(self.timeout)))
        if answer is None:
            raise ProviderError(ErrorClass.RETRY, "the WhatsApp Web session process did not answer in time",
                                title="Session busy")
        reply = json.loads(answer[1])
        if reply.get("ok"):
            return reply["wamid"]
        error_class = ErrorClass(reply.get("class") or "retry")
        raise ProviderError(error_class, reply.get("message") or "send failed", code=reply.get("code"),
                            title=reply.get("title") or "", retry_after=reply.get("retry_after"))

    def send_text(self, to: Recipient, text: str, reply_to: str | None = None) -> SendReceipt:
        return SendReceipt(self._request(op="send", kind="text", to=to.wa_id, text=text, reply_to=reply_to))

    def send_media(self, to: Recipient, kind: str, media_id: str, caption: str | None = None,
                   filename: str | None = None, reply_to: str | None = None) -> SendReceipt:
        return SendReceipt(self._request(op="send", kind=kind, to=to.wa_id, media_id=media_id, text=caption or "",
                                         filename=filename or "", reply_to=reply_to))

    def send_interactive(self, to: Recipient, text: str, buttons: list[Button],
                         reply_to: str | None = None) -> SendReceipt:
        return SendReceipt(self._request(op="send", kind="interactive", to=to.wa_id, text=text, reply_to=reply_to,
                                         buttons=[[b.id, b.title] for b in buttons]))

    def send_list(self, to: Recipient, text: str, button: str, rows: list[ListRow],
                  reply_to: str | None = None) -> SendReceipt:
        """No list messages on WhatsApp Web: the session numbers the options in the text, as for buttons."""
        return SendReceipt(self._request(op="send", kind="interactive", to=to.wa_id, text=text, reply_to=reply_to,
                                         buttons=[[r.id, r.title] for r in rows]))

    def upload_media(self, data: bytes, mimetype: str, filename: str) -> str:
        return store_media(self.redis, self.keys, data, mimetype, filename)

    def fetch_media(self, media_id: str) -> FetchedMedia:
        return load_media(self.redis, self.keys, media_id)

    def check(self) -> tuple[bool, str]:
        state = session_states(self.redis, self.keys).get(self.account, {}).get("state")
        return state == "connected", f"session {state or 'unknown'}"


class MediaRouter:
    """The inbound worker's provider: WhatsApp Web media ids (``wasess:``) from Redis, the rest from ``inner``."""

    def __init__(self, inner, client: redis.Redis, keys: Keys):
        self.inner = inner
        self.redis = client
        self.keys = keys
        self.name = getattr(inner, "name", "cloud_api")

    def fetch_media(self, media_id: str) -> FetchedMedia:
        if media_id.startswith(MEDIA_PREFIX):
            return load_media(self.redis, self.keys, media_id)
        return self.inner.fetch_media(media_id)

    def __getattr__(self, name):
        return getattr(self.inner, name)
