"""The simulator's HTTP face: Graph API endpoints, media downloads, the control API and the demo page.

Graph API (``Authorization: Bearer <access token>`` on every call; errors in Meta's shape)
    POST   /{version}/{phone_number_id}/messages   send (text, media by id/link, interactive, reaction,
                                                   template, mark-as-read ``{"status": "read", "message_id"}``)
    POST   /{version}/{phone_number_id}/media      multipart upload: file, type, messaging_product -> {"id"}
    GET    /{version}/{media_id}                   {"url", "mime_type", "sha256", "file_size", "id", ...}
    DELETE /{version}/{media_id}                   {"success": true}
    GET    /{version}/{phone_number_id}            phone number info (health check)
    POST   /{version}/{waba_id}/message_templates  submit a template -> {"id", "status", "category"}
    GET    /{version}/{waba_id}/message_templates  the account's templates (?fields, limit, after) -> {data, paging}
    GET    /whatsapp_business/attachments/?mid&ext&hash   the download URL (Bearer required, expires ~5 min)

Control API (JSON, no auth: a local test/demo tool)
    GET    /_sim/config                            business number, webhook URL, modes
    GET    /_sim/customers                         list; POST {wa_id?, user_id?, name?, username?, phone_hidden?}
    POST   /_sim/customers/{c}/send                the customer sends; {c} = phone or BSUID; body:
           {"type": "text", "text": "hi", "name"?: "Maria", "reply_to"?: wamid, "forwarded"?: true}
           {"type": "image|audio|video|document|sticker", "data": base64 | "media_id": id, "mime_type"?,
            "caption"?, "filename"?, "voice"?: bool}
           {"type": "location", "latitude", "longitude", "place"?, "address"?}
           {"type": "contacts", "contacts": [{"name", "phones": [...], "emails": [...]}]}
           {"type": "reaction", "message_id": wamid, "emoji": "👍" | ""}      ("" = reaction removed)
           {"type": "button", "payload", "text"}   (template quick-reply)   {"type": "unsupported"}
           {"type": "system", "new_wa_id"}          (user_changed_number)
           -> {"id": wamid, "message": <the webhook message object>}
    GET    /_sim/customers/{c}/messages?direction=out|in|all   what the business sent (default out), with states
    POST   /_sim/customers/{c}/read                the customer opens the chat: delivered -> read statuses
    POST   /_sim/customers/{c}/press               {"button_id" | "title" | "row_id", "message_id"?}
                                                   -> interactive button_reply / list_reply webhook
    POST   /_sim/customers/{c}/change-number       {"new_wa_id"}
    GET    /_sim/templates    POST /_sim/templates/{name}/approve|reject|pause|disable {"language"?, "reason"?}
                              (Meta's review; sends the message_template_status_update webhook)
    GET    /_sim/clock        POST /_sim/clock/advance {"seconds"|"minutes"|"hours"}
    GET|POST|DELETE /_sim/faults                   read / merge {name: value} / reset (see core.Faults)
    POST   /_sim/flush                             deliver pending webhooks now -> {delivered, failed, pending, held}
    GET    /_sim/stats        GET /_sim/webhooks?limit=50 (recent webhook bodies)
    POST   /_sim/verify       Meta's GET hub.challenge handshake against the webhook URL
    POST   /_sim/reset        GET /_sim/media/{id} (raw bytes, for the demo page)
    GET    /                  the demo chat page (``/?phone=5511987654321&name=Maria`` opens that chat)

In demo mode the WhatsApp Web phone is added (``session_control``): ``GET /session`` (the phone page:
"Scan the QR code shown in Odoo"), ``GET /_sim/session/state``, ``POST /_sim/session/pair`` and
``POST /_sim/session/{action}`` (phone_logout, ban, dead, stream_error, message, receipt).
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Mount, Route

from . import multipart
from .core import GraphError, SimConfig, Simulator, invalid_param, unknown_object
from .page import PAGE_HTML

_VERSION = re.compile(r"^v\d+\.\d+$")

Handler = Callable[[Request], Awaitable[Response]]


def _graph_response(err: GraphError) -> JSONResponse:
    headers = {}
    if err.code == 190:
        headers["WWW-Authenticate"] = f'OAuth "Facebook Platform" "invalid_token" "{err.message}"'
    return JSONResponse(err.body(), status_code=err.status, headers=headers)


def _ctl_error(message: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def create_app(config: SimConfig | None = None, simulator: Simulator | None = None, extra_routes=()) -> Starlette:
    """Build the simulator app; ``app.state.simulator`` is the ``Simulator`` behind it.  ``extra_routes`` come
    first (the demo adds the WhatsApp Web phone: ``session_control.routes``)."""
    sim = simulator or Simulator(config)

    def graph(handler: Callable[[Request], Awaitable[Any]]) -> Handler:
        async def endpoint(request: Request) -> Response:
            try:
                if not _VERSION.match(request.path_params.get("version", "")):
                    raise unknown_object(request.url.path.strip("/"), request.method.lower())
                sim.check_token(request.headers.get("authorization"))
                await request.body()  # read (and cache) it first: a slow answer must not lose the request
                await sim.graph_faults()
                result = await handler(request)
            except GraphError as err:
                if request.url.path.endswith("/messages"):
                    sim.stats.sends_rejected += 1
                    key = str(err.code)
                    sim.stats.rejected_by_code[key] = sim.stats.rejected_by_code.get(key, 0) + 1
                return _graph_response(err)
            return result if isinstance(result, Response) else JSONResponse(result)
        return endpoint

    async def send_message(request: Request) -> Any:
        sim.check_phone_number_id(request.path_params["phone_number_id"])
        raw = await request.body()
        try:
            body = json.loads(raw or b"{}")
        except ValueError as exc:
            raise invalid_param("The request body is not valid JSON.") from exc
        return sim.send(body)

    async def create_template(request: Request) -> Any:
        sim.check_waba_id(request.path_params["waba_id"])
        try:
            body = json.loads(await request.body() or b"{}")
        except ValueError as exc:
            raise invalid_param("The request body is not valid JSON.") from exc
        return sim.create_template(body)

    async def list_templates(request: Request) -> Any:
        sim.check_waba_id(request.path_params["waba_id"], "get")
        return sim.list_templates(request.query_params)

    async def upload_media(request: Request) -> Any:
        sim.check_phone_number_id(request.path_params["phone_number_id"])
        try:
            parts = multipart.parse(await request.body(), request.headers.get("content-type", ""))
        except multipart.MultipartError as exc:
            raise invalid_param(f"Expected multipart/form-data with a file: {exc}") from exc
        file_part = parts.get("file")
        if file_part is None or file_part.filename is None:
            raise GraphError(400, 100, "(#100) The parameter file is required.",
                             details="Parameter 'file' is required.")
        mime = parts["type"].text.strip() if "type" in parts else (file_part.content_type or "")
        product = parts["messaging_product"].text.strip() if "messaging_product" in parts else None
        return sim.upload(file_part.data, mime, file_part.filename, product)

    async def get_object(request: Request) -> Any:
        object_id = request.path_params["object_id"]
        if object_id == sim.config.phone_number_id:
            return {"verified_name": "Simulator Demo", "code_verification_status": "VERIFIED",
                    "display_phone_number": sim.config.display_phone_number, "quality_rating": "GREEN",
                    "platform_type": "CLOUD_API", "throughput": {"level": "STANDARD"}, "id": object_id}
        return sim.media_info(object_id, str(request.base_url))

    async def delete_object(request: Request) -> Any:
        if not sim.media.delete(request.path_params["object_id"]):
            raise unknown_object(request.path_params["object_id"], "delete")
        return {"success": True}

    async def download(request: Request) -> Response:
        q = request.query_params
        scheme, _, token = (request.headers.get("authorization") or "").partition(" ")
        if scheme.lower() != "bearer" or token.strip() != sim.config.access_token:
            return Response("Unauthorized", status_code=401, media_type="text/plain")
        media = sim.download(q.get("mid", ""), q.get("ext", ""), q.get("hash", ""))
        if media is None:
            return Response("Not Found", status_code=404, media_type="text/plain")
        headers = {"Content-Disposition": f'attachment; filename="{media.filename or media.id}"'}
        return Response(media.data, media_type=media.mime_type, headers=headers)

    # ------------------------------------------------------------------ control API
    async def _json(request: Request) -> dict:
        raw = await request.body()
        if not raw:
            return {}
        data = json.loads(raw)
        if not isinstance(data, dict):
            raise ValueError("expected a JSON object")
        return data

    def control(handler: Callable[[Request], Awaitable[Any]]) -> Handler:
        async def endpoint(request: Request) -> Response:
            try:
                result = await handler(request)
            except LookupError as exc:
                return _ctl_error(str(exc).strip("'\""), 404)
            except (ValueError, TypeError, KeyError) as exc:
                return _ctl_error(str(exc).strip("'\""))
            sim.tick()
            return result if isinstance(result, Response) else JSONResponse(result)
        return endpoint

    def _customer(request: Request):
        cust = sim.customer(request.path_params["customer"])
        if cust is None:
            raise LookupError(f"unknown customer {request.path_params['customer']!r}")
        return cust

    async def ctl_config(request: Request) -> Any:
        c = sim.config
        return {"phone_number_id": c.phone_number_id, "display_phone_number": c.display_phone_number,
                "waba_id": c.waba_id, "webhook_url": c.webhook_url, "graph_base_url": str(request.base_url),
                "reengagement_mode": c.reengagement_mode, "auto_read_seconds": c.auto_read_seconds,
                "background_delivery": c.background_delivery, "bsuid": c.bsuid}

    async def ctl_customers(request: Request) -> Any:
        now = sim.now()
        if request.method == "POST":
            data = await _json(request)
            cust = sim.ensure_customer(data.get("wa_id"), name=data.get("name"), user_id=data.get("user_id"),
                                       username=data.get("username"), phone_hidden=data.get("phone_hidden"))
            return cust.as_dict(now)
        return {"customers": [c.as_dict(now) for c in sim.customers.values()]}

    async def ctl_send(request: Request) -> Any:
        data = await _json(request)
        msg = sim.customer_send(request.path_params["customer"], data, str(request.base_url))
        return {"id": msg.id, "message": msg.content}

    async def ctl_messages(request: Request) -> Any:
        cust = _customer(request)
        direction = request.query_params.get("direction", "out")
        msgs = [m.as_dict() for m in cust.messages if direction == "all" or m.direction == direction]
        return {"customer": cust.as_dict(sim.now()), "messages": msgs}

    async def ctl_read(request: Request) -> Any:
        return {"read": sim.mark_read_by_customer(_customer(request))}

    async def ctl_press(request: Request) -> Any:
        msg = sim.press(request.path_params["customer"], await _json(request))
        return {"id": msg.id, "message": msg.content}

    async def ctl_change_number(request: Request) -> Any:
        data = await _json(request)
        msg = sim.change_number(request.path_params["customer"], str(data.get("new_wa_id", "")))
        return {"id": msg.id, "message": msg.content}

    async def ctl_clock(request: Request) -> Any:
        return {"now": sim.now(), "offset": sim.clock_offset}

    async def ctl_advance(request: Request) -> Any:
        data = await _json(request)
        seconds = (float(data.get("seconds", 0)) + 60 * float(data.get("minutes", 0))
                   + 3600 * float(data.get("hours", 0)))
        sim.advance(seconds)
        return {"now": sim.now(), "offset": sim.clock_offset}

    async def ctl_faults(request: Request) -> Any:
        if request.method == "POST":
            sim.faults.update(await _json(request))
        elif request.method == "DELETE":
            sim.faults.__init__()
        return sim.faults.as_dict()

    async def ctl_flush(request: Request) -> Any:
        return await sim.flush()

    async def ctl_stats(request: Request) -> Any:
        return sim.stats_dict()

    async def ctl_webhooks(request: Request) -> Any:
        limit = int(request.query_params.get("limit", "50"))
        items = list(sim.webhook_log)[-limit:] if limit > 0 else []
        return {"webhooks": items}

    async def ctl_verify(request: Request) -> Any:
        return await sim.verify_webhook()

    async def ctl_reset(request: Request) -> Any:
        sim.reset()
        return {"ok": True}

    async def ctl_templates(request: Request) -> Any:
        return {"templates": [t.as_dict() for t in sim.templates.values()]}

    async def ctl_template_review(request: Request) -> Any:
        statuses = {"approve": "APPROVED", "reject": "REJECTED", "pause": "PAUSED", "disable": "DISABLED"}
        action = request.path_params["action"]
        if action not in statuses:
            raise LookupError(f"unknown action {action!r}: approve, reject, pause or disable")
        data = await _json(request)
        template = sim.set_template_status(request.path_params["name"], statuses[action],
                                           language=data.get("language"), reason=data.get("reason"))
        return template.as_dict()

    async def ctl_media(request: Request) -> Response:
        media = sim.media.get(request.path_params["media_id"], sim.now())
        if media is None:
            raise LookupError("unknown or expired media")
        return Response(media.data, media_type=media.mime_type)

    async def page(request: Request) -> Response:
        return HTMLResponse(PAGE_HTML)

    control_routes = [
        Route("/config", control(ctl_config), methods=["GET"]),
        Route("/customers", control(ctl_customers), methods=["GET", "POST"]),
        Route("/customers/{customer}/send", control(ctl_send), methods=["POST"]),
        Route("/customers/{customer}/messages", control(ctl_messages), methods=["GET"]),
        Route("/customers/{customer}/read", control(ctl_read), methods=["POST"]),
        Route("/customers/{customer}/press", control(ctl_press), methods=["POST"]),
        Route("/customers/{customer}/change-number", control(ctl_change_number), methods=["POST"]),
        Route("/clock", control(ctl_clock), methods=["GET"]),
        Route("/clock/advance", control(ctl_advance), methods=["POST"]),
        Route("/faults", control(ctl_faults), methods=["GET", "POST", "DELETE"]),
        Route("/flush", control(ctl_flush), methods=["POST"]),
        Route("/stats", control(ctl_stats), methods=["GET"]),
        Route("/webhooks", control(ctl_webhooks), methods=["GET"]),
        Route("/verify", control(ctl_verify), methods=["POST"]),
        Route("/reset", control(ctl_reset), methods=["POST"]),
        Route("/media/{media_id}", control(ctl_media), methods=["GET"]),
        Route("/templates", control(ctl_templates), methods=["GET"]),
        Route("/templates/{name}/{action}", control(ctl_template_review), methods=["POST"]),
    ]
    routes = [
        *extra_routes,
        Route("/", page, methods=["GET"]),
        Mount("/_sim", routes=control_routes),
        Route("/whatsapp_business/attachments/", download, methods=["GET"]),
        Route("/{version}/{phone_number_id}/messages", graph(send_message), methods=["POST"]),
        Route("/{version}/{phone_number_id}/media", graph(upload_media), methods=["POST"]),
        Route("/{version}/{waba_id}/message_templates", graph(create_template), methods=["POST"]),
        Route("/{version}/{waba_id}/message_templates", graph(list_templates), methods=["GET"]),
        Route("/{version}/{object_id}", graph(get_object), methods=["GET"]),
        Route("/{version}/{object_id}", graph(delete_object), methods=["DELETE"]),
    ]

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):
        await sim.start()
        try:
            yield
        finally:
            await sim.stop()

    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.simulator = sim
    return app
