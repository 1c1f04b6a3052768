"""WhatsApp Cloud API provider (Meta Graph API, with ``requests``).

* send:     ``POST /{version}/{phone_number_id}/messages``
* upload:   ``POST /{version}/{phone_number_id}/media`` (multipart)
* download: ``GET /{version}/{media_id}`` -> ``{"url"}``, then ``GET url`` with ``Authorization: Bearer``
* templates: ``POST /{version}/{waba_id}/message_templates`` (submit), ``GET`` the same (list, paged);
  a template message is a send of ``type: template``

Graph errors (``{"error": {"code", "error_subcode", "message", "error_data": {"details"}}}``)
become ``ProviderError`` with a class (see ``classify_graph_error``).
"""

from __future__ import annotations

import logging

import requests

from whatsapp_bridge.config import BridgeConfig
from whatsapp_bridge.providers.base import (
    Button,
    ErrorClass,
    FetchedMedia,
    ListRow,
    ProviderError,
    Recipient,
    SendReceipt,
)

log = logging.getLogger(__name__)

# code -> readable reason, for errors that are final for one message
FAIL_REASONS = {
    100: "Invalid parameter in the request sent to WhatsApp",
    131008: "A required parameter is missing",
    131009: "A parameter value is not valid",
    131021: "The recipient is the business number itself",
    131026: "Message undeliverable: the number is not on WhatsApp, or uses an old WhatsApp version, "
    "or has not accepted the terms",
    131030: "The recipient is not in the allowed list of this test number",
    131047: "More than 24 hours have passed since the customer last wrote: "
    "only an approved template can reopen the conversation",
    131049: "Meta did not deliver this message to keep the ecosystem healthy (per-user marketing limit)",
    131051: "Unsupported message type",
    131052: "The customer's media could not be downloaded",
    131053: "The media could not be uploaded or is not supported (type, size or codec)",
    470: "More than 24 hours have passed since the customer last wrote",
    132000: "The template's parameters do not match it (number of variables)",
    132001: "The template does not exist in this language, or is not approved yet",
    132005: "The filled template is too long",
    132007: "The template's content breaks WhatsApp's policy",
    132012: "A template parameter has the wrong format",
    132015: "The template is paused by WhatsApp (low quality)",
    132016: "The template is disabled by WhatsApp",
}
# the account cannot send at all: stop, keep the jobs, alert
PAUSE_REASONS = {
    0: "Authentication failed (AuthException)",
    3: "The app lacks the capability for this API call",
    10: "Permission denied: the token lacks whatsapp_business_messaging permission",
    190: "The access token expired or is invalid (WA_ACCESS_TOKEN)",
    368: "The account is temporarily blocked for policy violations",
    131005: "Access denied: the token has no permission for this phone number",
    131031: "The WhatsApp Business account is locked or restricted",
    131042: "Business eligibility payment issue: check the payment method of the WhatsApp account",
    131045: "The phone number is not registered (certificate error)",
    131048: "Spam rate limit hit: the number is restricted",
    133010: "The phone number is not registered on the Cloud API",
}
# transient: the same request can succeed later
RETRY_REASONS = {
    1: "Graph API unknown error (temporary)",
    2: "Graph API service temporarily unavailable",
    4: "App-level rate limit reached",
    80007: "WhatsApp Business account rate limit reached",
    130429: "Cloud API throughput limit reached (messages per second of the number)",
    131000: "Something went wrong at WhatsApp (temporary)",
    131016: "WhatsApp service temporarily overloaded",
    131056: "Too many messages to this recipient in a short time (pair rate limit)",
    133004: "WhatsApp server temporarily unavailable",
}


def classify_graph_error(http_status: int | None, body) -> ProviderError:
    """Map a Graph API error response to a classified ``ProviderError``."""
    err = body.get("error") if isinstance(body, dict) else None
    if not isinstance(err, dict):
        if http_status is not None and (http_status >= 500 or http_status == 429):
            return ProviderError(ErrorClass.RETRY, f"Graph API HTTP {http_status}", http_status=http_status)
        if http_status in (401, 403):
            return ProviderError(
                ErrorClass.PAUSE, f"Graph API refused the token (HTTP {http_status})", http_status=http_status
            )
        return ProviderError(
            ErrorClass.FAIL, f"Graph API HTTP {http_status}: unexpected answer", http_status=http_status
        )
    try:
        code = int(err.get("code")) if err.get("code") is not None else None
    except (TypeError, ValueError):
        code = None
    subcode = err.get("error_subcode")
    details = (err.get("error_data") or {}).get("details") if isinstance(err.get("error_data"), dict) else None
    graph_message = str(err.get("message") or "")
    detail = str(details or err.get("error_user_msg") or graph_message or "")

    def make(cls, reason, **kw):
        message = reason if not detail or detail == reason else f"{reason}: {detail}"
        return ProviderError(cls, message, code=code, subcode=subcode, title=reason, http_status=http_status, **kw)

    if code in PAUSE_REASONS or (code is not None and 200 <= code <= 299):
        return make(ErrorClass.PAUSE, PAUSE_REASONS.get(code, f"Permission error {code}"))
    if code in RETRY_REASONS:
        return make(ErrorClass.RETRY, RETRY_REASONS[code], recipient_backoff=code == 131056)
    if code in FAIL_REASONS:
        return make(ErrorClass.FAIL, FAIL_REASONS[code])
    if http_status is not None and (http_status >= 500 or http_status == 429):
        return make(ErrorClass.RETRY, f"Graph API HTTP {http_status} (error {code})")
    if http_status in (401, 403) and code is None:
        return make(ErrorClass.PAUSE, f"Graph API refused the token (HTTP {http_status})")
    return make(ErrorClass.FAIL, graph_message or f"WhatsApp error {code}")


class CloudApiProvider:
    name = "cloud_api"

    def __init__(self, config: BridgeConfig, session: requests.Session | None = None):
        self.config = config
        self.session = session or requests.Session()
        self.session.headers["Authorization"] = f"Bearer {config.access_token}"
        self.timeout = config.graph_timeout

    # -- HTTP ------------------------------------------------------------------------------
    def _request(self, method: str, url: str, **kwargs) -> requests.Response:
        try:
            response = self.session.request(method, url, timeout=self.timeout, **kwargs)
        except requests.Timeout as exc:
            raise ProviderError(ErrorClass.RETRY, f"Graph API timeout ({exc.__class__.__name__})") from exc
        except requests.RequestException as exc:
            raise ProviderError(ErrorClass.RETRY, f"Graph API unreachable: {exc}") from exc
        if response.status_code >= 400:
            try:
                body = response.json()
            except ValueError:
                body = None
            error = classify_graph_error(response.status_code, body)
            retry_after = response.headers.get("Retry-After")
            if retry_after and retry_after.isdigit():
                error.retry_after = float(retry_after)
            raise error
        return response

    def _json(self, response: requests.Response) -> dict:
        try:
            body = response.json()
        except ValueError as exc:
            raise ProviderError(ErrorClass.RETRY, "Graph API answered with invalid JSON") from exc
        if not isinstance(body, dict):
            raise ProviderError(ErrorClass.RETRY, "Graph API answered with unexpected JSON")
        return body

    def _send(self, to: Recipient, body: dict, reply_to: str | None) -> SendReceipt:
        payload = {"messaging_product": "whatsapp", "recipient_type": "individual"}
        if to.wa_id:
            payload["to"] = to.wa_id
        elif to.user_id:
            payload["recipient"] = to.user_id  # business-scoped user id (no phone number known)
        else:
            raise ProviderError(ErrorClass.FAIL, "The recipient has neither a phone number nor a WhatsApp user id")
        if reply_to:
            payload["context"] = {"message_id": reply_to}
        payload.update(body)
        response = self._request("POST", self.config.graph_url(f"{self.config.phone_number_id}/messages"), json=payload)
        data = self._json(response)
        try:
            wamid = data["messages"][0]["id"]
        except (KeyError, IndexError, TypeError) as exc:
            raise ProviderError(ErrorClass.RETRY, f"Graph API answer without a message id: {data!r}"[:300]) from exc
        return SendReceipt(wamid=str(wamid))

    # -- Provider protocol -----------------------------------------------------------------
    def send_text(self, to: Recipient, text: str, reply_to: str | None = None) -> SendReceipt:
        return self._send(to, {"type": "text", "text": {"body": text, "preview_url": False}}, reply_to)

    def send_media(self, to, kind, media_id, caption=None, filename=None, reply_to=None) -> SendReceipt:
        if kind not in ("image", "audio", "video", "document", "sticker"):
            raise ProviderError(ErrorClass.FAIL, f"Unsupported media type {kind!r}", code=131051)
        media: dict = {"id": media_id}
        if caption and kind in ("image", "video", "document"):
            media["caption"] = caption
        if filename and kind == "document":
            media["filename"] = filename
        return self._send(to, {"type": kind, kind: media}, reply_to)

    def send_interactive(self, to, text, buttons: list[Button], reply_to=None) -> SendReceipt:
        interactive = {
            "type": "button",
            "body": {"text": text},
            "action": {"buttons": [{"type": "reply", "reply": {"id": b.id, "title": b.title}} for b in buttons]},
        }
        return self._send(to, {"type": "interactive", "interactive": interactive}, reply_to)

    def send_list(self, to, text, button: str, rows: list[ListRow], reply_to=None) -> SendReceipt:
        """A list message: ``button`` opens the list of ``rows`` (one section without a title)."""
        interactive = {
            "type": "list",
            "body": {"text": text},
            "action": {"button": button, "sections": [{"rows": [
                {"id": r.id, "title": r.title, **({"description": r.description} if r.description else {})}
                for r in rows]}]},
        }
        return self._send(to, {"type": "interactive", "interactive": interactive}, reply_to)

    def send_template(self, to: Recipient, template: dict, reply_to: str | None = None) -> SendReceipt:
        """A contract TemplateMessage as Cloud API's ``type: template`` (allowed outside the 24-hour window)."""
        return self._send(to, {"type": "template", "template": template_components(template)}, reply_to)

    # -- templates (WhatsApp Business Account) ---------------------------------------------
    def _waba_url(self) -> str:
        if not self.config.waba_id:
            raise ProviderError(ErrorClass.FAIL, "WA_WABA_ID is not set: the bridge cannot reach the templates "
                                "of the WhatsApp Business Account", title="WA_WABA_ID missing")
        return self.config.graph_url(f"{self.config.waba_id}/message_templates")

    def submit_template(self, definition: dict) -> dict:
        """Ask WhatsApp to approve a contract TemplateDefinition; ``{"id", "status", "category"}``."""
        response = self._request("POST", self._waba_url(), json=template_definition_body(definition))
        return self._json(response)

    def list_templates(self, limit: int = 100, max_pages: int = 50) -> list[dict]:
        """Every template of the account: ``[{"id", "name", "language", "status", "rejected_reason"}]``."""
        url, params = self._waba_url(), {"fields": "id,name,language,status,category,rejected_reason",
                                         "limit": str(limit)}
        templates: list[dict] = []
        for _page in range(max_pages):
            body = self._json(self._request("GET", url, params=params))
            templates.extend(t for t in body.get("data") or [] if isinstance(t, dict))
            after = ((body.get("paging") or {}).get("cursors") or {}).get("after")
            if not (body.get("paging") or {}).get("next") or not after:
                break
            params = dict(params, after=after)
        return templates

    def upload_media(self, data: bytes, mimetype: str, filename: str) -> str:
        response = self._request(
            "POST",
            self.config.graph_url(f"{self.config.phone_number_id}/media"),
            data={"messaging_product": "whatsapp", "type": mimetype},
            files={"file": (filename, data, mimetype)},
        )
        media_id = self._json(response).get("id")
        if not media_id:
            raise ProviderError(ErrorClass.RETRY, "Graph API media upload answered without an id")
        return str(media_id)

    def fetch_media(self, media_id: str) -> FetchedMedia:
        meta = self._json(self._request("GET", self.config.graph_url(media_id)))
        url = meta.get("url")
        if not url:
            raise ProviderError(ErrorClass.FAIL, f"Media {media_id} has no download URL", code=131052)
        response = self._request("GET", url)
        mimetype = meta.get("mime_type") or response.headers.get("Content-Type") or "application/octet-stream"
        return FetchedMedia(data=response.content, mimetype=str(mimetype))

    def check(self) -> tuple[bool, str]:
        """Is the Graph API reachable and does it accept our token?  ``(ok, detail)``."""
        url = self.config.graph_url(self.config.phone_number_id)
        try:
            response = self.session.get(url, timeout=min(self.timeout, 5.0))
        except requests.RequestException as exc:
            return False, f"Graph API unreachable at {self.config.graph_base_url}: {exc}"
        if response.status_code < 400:
            return True, "ok"
        try:
            body = response.json()
        except ValueError:
            body = None
        error = classify_graph_error(response.status_code, body)
        return error.error_class is not ErrorClass.PAUSE and response.status_code < 500, str(error)


def template_components(template: dict) -> dict:
    """A contract TemplateMessage -> the ``template`` object of a Cloud API send."""
    components: list[dict] = []
    header = template.get("header")
    if header and header.get("format") == "text":
        if header.get("parameters"):
            components.append({"type": "header", "parameters": [
                {"type": "text", "text": value} for value in header["parameters"]]})
    elif header:
        kind = header["format"]
        media: dict = {"link": header["link"]}
        if kind == "document" and header.get("filename"):
            media["filename"] = header["filename"]
        components.append({"type": "header", "parameters": [{"type": kind, kind: media}]})
    if template.get("body_parameters"):
        components.append({"type": "body", "parameters": [
            {"type": "text", "text": value} for value in template["body_parameters"]]})
    for index, payload in enumerate(template.get("button_payloads") or []):
        components.append({"type": "button", "sub_type": "quick_reply", "index": str(index),
                           "parameters": [{"type": "payload", "payload": payload}]})
    body: dict = {"name": template["name"], "language": {"code": template["language"]}}
    if components:
        body["components"] = components
    return body


def template_definition_body(definition: dict) -> dict:
    """A contract TemplateDefinition -> the body of ``POST /{waba_id}/message_templates``."""
    components: list[dict] = []
    header = definition.get("header")
    if header and header["format"] == "text":
        components.append({"type": "HEADER", "format": "TEXT", "text": header["text"]})
    elif header:
        # Meta wants a handle of the Resumable Upload API as the example; a public link of the file
        # is what this bridge has (see docs/api.md)
        components.append({"type": "HEADER", "format": header["format"].upper(),
                           "example": {"header_handle": [header["link"]]}})
    body: dict = {"type": "BODY", "text": definition["body"]}
    if definition.get("body_examples"):
        body["example"] = {"body_text": [list(definition["body_examples"])]}
    components.append(body)
    if definition.get("buttons"):
        components.append({"type": "BUTTONS", "buttons": [
            {"type": "QUICK_REPLY", "text": text} for text in definition["buttons"]]})
    return {"name": definition["name"], "language": definition["language"],
            "category": definition["category"].upper(), "components": components}
