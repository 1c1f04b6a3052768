"""Inbound, step 2: download the media of a batch's messages (webhook media ids expire) and build
each message's contract payload with its file.

* Downloads run 4 at a time and are cached by wamid until the batch is settled, so a batch retried
  while Odoo is down downloads nothing twice.
* A transient failure (network, Graph 5xx) retries the whole batch, same items, same order.
* A file WhatsApp no longer has (expired or unknown media id) still reaches the attendant: the
  message becomes ``unsupported`` with an error saying what the customer sent and why it cannot
  be shown, its caption kept in ``text``.
"""

from __future__ import annotations

import base64
import logging
import mimetypes
import threading
from concurrent.futures import ThreadPoolExecutor

from whatsapp_bridge.events import InboundMessage
from whatsapp_bridge.inbound_parse import BatchReport, DeadLetters, Item, build_payload
from whatsapp_bridge.providers.base import ErrorClass, Provider, ProviderError
from whatsapp_bridge.retry import retry

log = logging.getLogger(__name__)

DOWNLOADS_AT_ONCE = 4


class MediaFetcher:
    def __init__(self, provider: Provider, stop: threading.Event, backoff_max: float):
        self.provider = provider
        self.stop = stop
        self.backoff_max = backoff_max
        self._cache: dict[str, dict] = {}

    def attach(self, items: list[Item], dead: DeadLetters, report: BatchReport) -> list[Item]:
        """``items`` with their payloads built (media included), in order; retried while downloads fail
        transiently (raises ``Stopped`` when stopped meanwhile)."""
        return retry(lambda: self._attach(items, dead, report), self.stop, self.backoff_max,
                     retry_on=_MediaRetry, on_retry=_log_retry)

    def forget(self, wamid: str) -> None:
        self._cache.pop(wamid, None)

    def clear(self) -> None:
        self._cache.clear()

    def _attach(self, items: list[Item], dead: DeadLetters, report: BatchReport) -> list[Item]:
        to_fetch = [i.event for i in items if i.event.media and i.event.wamid not in self._cache]
        failures: dict[str, ProviderError] = {}
        if to_fetch:
            with ThreadPoolExecutor(max_workers=min(DOWNLOADS_AT_ONCE, len(to_fetch))) as pool:
                for msg, outcome in zip(to_fetch, pool.map(self._fetch, to_fetch), strict=True):
                    if isinstance(outcome, ProviderError):
                        failures[msg.wamid] = outcome
                    else:
                        self._cache[msg.wamid] = outcome
        transient = [e for e in failures.values() if e.error_class is not ErrorClass.FAIL]
        if transient:
            # retry the whole batch later: order is kept and nothing is acked
            raise _MediaRetry(transient[0])
        ready = []
        for item in items:
            msg, failure = item.event, failures.get(item.event.wamid)
            if failure is not None:
                built = build_payload(item, lambda m=msg, f=failure: media_unavailable(m, f), dead, report)
                log.warning("media unavailable, message delivered without it", extra={"fields": {
                    "wamid": msg.wamid, "type": msg.type, "error": str(failure)}})
            else:
                built = build_payload(item, lambda m=msg: m.to_contract(self._cache.get(m.wamid)), dead, report)
            if built:
                ready.append(item)
        return ready

    def _fetch(self, msg: InboundMessage) -> dict | ProviderError:
        try:
            fetched = self.provider.fetch_media(msg.media.media_id)
        except ProviderError as exc:
            return exc
        except Exception as exc:  # noqa: BLE001 - an answer of Graph's the provider cannot read: this file is lost
            log.exception("media download failed unexpectedly", extra={"fields": {"wamid": msg.wamid}})
            return ProviderError(ErrorClass.FAIL, f"unreadable answer from WhatsApp ({type(exc).__name__}: {exc})")
        mimetype = msg.media.mimetype or fetched.mimetype
        filename = msg.media.filename or fetched.filename
        if not filename:
            ext = mimetypes.guess_extension(mimetype.split(";")[0].strip()) or ".bin"
            if mimetype.startswith("audio/ogg"):
                ext = ".ogg"
            filename = f"{msg.type}-{msg.wamid[-12:].replace('/', '_')}{ext}"
        return {"mimetype": mimetype, "filename": filename, "data": base64.b64encode(fetched.data).decode("ascii")}


def media_unavailable(msg: InboundMessage, error: ProviderError) -> dict:
    """The message as ``unsupported``, saying what was sent and why it cannot be shown; the caption in ``text``."""
    payload = msg.to_contract({"data": ""})
    caption = (payload.pop("media", None) or {}).get("caption") or ""
    payload.update(type="unsupported", text=caption, errors=[{
        "code": error.code or 0, "title": "Media unavailable",
        "message": f"The customer's {msg.type} could not be downloaded from WhatsApp: {error.message}",
    }])
    return payload


def _log_retry(exc: BaseException, attempt: int, delay: float) -> None:
    log.warning("media download failed, retrying the same batch", extra={"fields": {
        "attempt": attempt, "retry_in": round(delay, 2), "error": str(getattr(exc, "error", exc))}})


class _MediaRetry(Exception):
    def __init__(self, error: ProviderError):
        super().__init__(f"media download failed, will retry: {error}")
        self.error = error
