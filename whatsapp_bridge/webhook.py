"""The webhook endpoint (starlette): verify, store the raw body in ``wa:in``, answer.

* ``GET /webhook``  Meta's verification handshake: ``hub.mode=subscribe`` and the right
  ``hub.verify_token`` -> ``hub.challenge`` echoed as text; anything else -> 403.
* ``POST /webhook`` ``X-Hub-Signature-256: sha256=<hex>`` must equal HMAC-SHA256(app secret,
  raw body) (constant-time compare).  Missing -> 401, wrong -> 403, and nothing is stored.
  Valid -> XADD the raw body to ``wa:in`` (field ``payload``) -> 200; with shards, to the shard of
  its customer (``sharding``: a body naming customers of several shards is split, one body per shard;
  only the customer ids are read here).  Redis unavailable, or a resharding under way -> 503, so Meta
  retries later.  No parsing here: the inbound worker does it.
* ``GET /health``   Redis, Odoo and Graph reachability, stream lengths, pending counts, dead
  letters and alerts as JSON (HTTP 503 when something is down).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import time
from contextlib import asynccontextmanager

import httpx
import redis.asyncio as aioredis
from redis.exceptions import RedisError, ResponseError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from whatsapp_bridge import contract
from whatsapp_bridge.config import BridgeConfig
from whatsapp_bridge.keys import ALERT_NAMES, ROUTE_TTL, Keys
from whatsapp_bridge.sharding import ShardCountGuard, plan_body
from whatsapp_bridge.streams import GROUP_IN, GROUP_OUT

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 3 * 1024 * 1024  # Meta's webhook bodies are far smaller; refuse floods before hashing


def sign(app_secret: str, body: bytes) -> str:
    """The ``X-Hub-Signature-256`` header value Meta sends for ``body``."""
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def signature_ok(app_secret: str, body: bytes, header: str | None) -> bool:
    if not header or not header.startswith("sha256="):
        return False
    return hmac.compare_digest(sign(app_secret, body), header.strip())


def make_async_redis(config: BridgeConfig) -> aioredis.Redis:
    # A blocking pool: under a burst of more than 64 requests in flight, a request
    # waits (up to 2 s) for a free connection instead of failing with a spurious 503.
    pool = aioredis.BlockingConnectionPool.from_url(
        config.redis_url, max_connections=64, timeout=2.0, socket_connect_timeout=1.0, socket_timeout=2.0
    )
    return aioredis.Redis(connection_pool=pool)


def create_app(
    config: BridgeConfig,
    redis_client: aioredis.Redis | None = None,
    http_client: httpx.AsyncClient | None = None,
) -> Starlette:
    keys = Keys(config.stream_prefix, 0, config.inbound_shards)
    guard = ShardCountGuard(config.inbound_shards)
    state: dict = {"redis": redis_client, "http": http_client}
    secret = config.app_secret

    @asynccontextmanager
    async def lifespan(app):
        own_redis = state["redis"] is None
        own_http = state["http"] is None
        if own_redis:
            state["redis"] = make_async_redis(config)
        if own_http:
            state["http"] = httpx.AsyncClient(timeout=3.0)
        if config.demo:
            log.warning("DEMO MODE: no WA_ACCESS_TOKEN, webhooks are checked with the public demo secret",
                        extra={"fields": {"graph": config.graph_base_url}})
        try:
            yield
        finally:
            if own_redis:
                await state["redis"].aclose()
            if own_http:
                await state["http"].aclose()

    async def verify(request: Request) -> Response:
        params = request.query_params
        if params.get("hub.mode") == "subscribe" and hmac.compare_digest(
            params.get("hub.verify_token", "").encode(), config.verify_token.encode()
        ):
            log.info("webhook verified by Meta")
            return PlainTextResponse(params.get("hub.challenge", ""))
        log.warning("webhook verification refused", extra={"fields": {"mode": params.get("hub.mode")}})
        return PlainTextResponse("Forbidden", status_code=403)

    async def receive(request: Request) -> Response:
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
            return PlainTextResponse("body too large", status_code=413)
        body = await request.body()
        if len(body) > MAX_BODY_BYTES:
            return PlainTextResponse("body too large", status_code=413)
        header = request.headers.get("x-hub-signature-256")
        if not header:
            log.warning("webhook without signature refused", extra={"fields": {"client": _client(request)}})
            return PlainTextResponse("missing X-Hub-Signature-256", status_code=401)
        if not signature_ok(secret, body, header):
            log.warning("webhook with a wrong signature refused", extra={"fields": {"client": _client(request)}})
            return PlainTextResponse("invalid signature", status_code=403)
        try:
            if guard.due() and not guard.seen(await _shard_count(state["redis"], keys, config.inbound_shards)):
                log.error("the shard count changed, webhook refused with 503 (Meta retries): restart this "
                          "process with the new WA_INBOUND_SHARDS", extra={"fields": {
                              "ours": config.inbound_shards, "in_force": guard.in_force}})
                return PlainTextResponse("resharding: temporarily unavailable", status_code=503)
            await _append(state["redis"], keys, config.inbound_shards, body)
        except (RedisError, OSError) as exc:
            log.error("Redis unavailable, webhook refused with 503 (Meta retries)", extra={"fields": {
                "error": str(exc)}})
            return PlainTextResponse("temporarily unavailable", status_code=503)
        return PlainTextResponse("EVENT_RECEIVED")

    async def health(request: Request) -> Response:
        redis_part, odoo_part, graph_part = await asyncio.gather(
            _redis_health(state["redis"], config), _odoo_health(state["http"], config),
            _graph_health(state["http"], config))
        ok = redis_part["ok"] and odoo_part["ok"] and graph_part["ok"] and not redis_part.get("alerts")
        body = {
            "status": "ok" if ok else "degraded",
            "demo": config.demo,
            "time": int(time.time()),
            "redis": {k: v for k, v in redis_part.items() if k not in ("streams", "alerts", "dead_letters",
                                                                       "sessions")},
            "odoo": odoo_part,
            "whatsapp": graph_part,
            "streams": redis_part.get("streams", {}),
            "dead_letters": redis_part.get("dead_letters"),
            "alerts": redis_part.get("alerts", []),
            "sessions": redis_part.get("sessions", {}),
        }
        return JSONResponse(body, status_code=200 if ok else 503)

    routes = [
        Route("/webhook", verify, methods=["GET"]),
        Route("/webhook", receive, methods=["POST"]),
        Route("/health", health, methods=["GET"]),
    ]
    return Starlette(routes=routes, lifespan=lifespan)


async def _shard_count(client: aioredis.Redis, keys: Keys, ours: int):
    """The shard count in force; recorded again (as ours) when Redis lost it (restarted without its data)."""
    raw = await client.hget(keys.shards, "count")
    if raw is None:
        await client.hsetnx(keys.shards, "count", ours)
    return raw


async def _append(client: aioredis.Redis, keys: Keys, count: int, body: bytes) -> None:
    """``sharding.route_and_add`` on the async client: the body to its customers' ``wa:in`` shards."""
    if count <= 1:
        await client.xadd(keys.stream(contract.STREAM_IN), {contract.PAYLOAD_FIELD: body})
        return
    plan = plan_body(body, keys)
    found = {}
    if plan.lookups:
        pipe = client.pipeline(transaction=False)
        for name in plan.lookups:
            pipe.get(name)
        found = {k: v.decode() for k, v in zip(plan.lookups, await pipe.execute(), strict=True) if v}
    pipe = client.pipeline(transaction=False)
    for shard, part in plan.parts(count, keys, found):
        pipe.xadd(keys.shard_stream(contract.STREAM_IN, shard), {contract.PAYLOAD_FIELD: part})
    for key, phone in plan.pins(keys).items():
        pipe.set(key, phone, ex=ROUTE_TTL)
    await pipe.execute()


def _client(request: Request) -> str:
    return request.client.host if request.client else "?"


async def _redis_health(client: aioredis.Redis, config: BridgeConfig) -> dict:
    try:
        await client.ping()
    except (RedisError, OSError) as exc:
        return {"ok": False, "detail": f"unreachable: {exc}"}
    keys = Keys(config.stream_prefix, 0, config.inbound_shards)
    streams = {}
    named = [(keys.shard_stream(base, i), group, keys.for_shard(i).lease(base))
             for base, group in ((contract.STREAM_IN, GROUP_IN), (contract.STREAM_OUT, GROUP_OUT))
             for i in range(config.inbound_shards)]
    named += [(keys.stream(contract.STREAM_CONTROL), None, None), (keys.stream(contract.STREAM_DEAD), None, None)]
    for name, group, lease in named:
        info = {"length": int(await client.xlen(name))}
        if group:
            try:
                info["pending"] = int((await client.xpending(name, group))["pending"])
            except ResponseError:
                info["pending"] = 0
            holder = await client.get(lease)
            info["served_by"] = holder.decode(errors="replace") if holder else None
        streams[name] = info
    alerts = await _bound_alerts(client, keys, config, streams)
    for name in ALERT_NAMES:
        raw = await client.get(Keys(config.stream_prefix).alert(name))
        if raw:
            try:
                alerts.append(dict(json.loads(raw), source=name))
            except ValueError:
                alerts.append({"source": name, "reason": raw.decode(errors="replace")})
    streams["status_retries"] = sum([int(await client.zcard(keys.for_shard(i).retry_statuses))
                                     for i in range(config.inbound_shards)])
    sessions = {}  # WhatsApp Web sessions (the session process): state, reason, uptime of the connection
    for account, raw in (await client.hgetall(keys.session_state)).items():
        try:
            info = json.loads(raw)
        except ValueError:
            continue
        since = info.get("connected_since") if info.get("state") == "connected" else None
        sessions[account.decode(errors="replace")] = {
            "state": info.get("state"), "detail": info.get("detail") or "", "connected_since": since,
            "uptime_s": max(0, int(time.time()) - since) if since else None}
    return {"ok": True, "detail": "ok", "streams": streams, "alerts": alerts, "sessions": sessions,
            "dead_letters": streams[keys.stream(contract.STREAM_DEAD)]["length"]}


async def _bound_alerts(client: aioredis.Redis, keys: Keys, config: BridgeConfig, streams: dict) -> list[dict]:
    """Alerts of bounded resources: dead letters near their cap, entries left in a former shard count's
    streams (written by a producer that had not seen the resharding), shard count not ours."""
    alerts = []
    dead = streams[keys.stream(contract.STREAM_DEAD)]["length"]
    if dead >= 0.9 * config.dead_letters_max:
        alerts.append({"source": "dead_letters", "reason": (
            f"{keys.stream(contract.STREAM_DEAD)} holds {dead} dead letters, its cap is {config.dead_letters_max} "
            "(WA_DEAD_LETTERS_MAX): the oldest are being dropped"),
            "action": "read them (XRANGE), replay or delete what is handled (XDEL); raise the cap if needed"})
    record = {k.decode(): v.decode() for k, v in (await client.hgetall(keys.shards)).items()}
    in_force = int(record.get("count") or 1)
    if in_force != config.inbound_shards:
        alerts.append({"source": "shards", "reason": (
            f"this process runs WA_INBOUND_SHARDS={config.inbound_shards}, the deployment {in_force}: "
            "its webhooks are refused with 503"), "action": f"restart it with WA_INBOUND_SHARDS={in_force}"})
    previous = int(record.get("previous") or in_force)
    if previous != in_force:
        left = []
        for base in contract.SHARDED_STREAMS:
            for i in range(previous):
                name = contract.shard_stream(base, config.stream_prefix, i, previous)
                if name not in streams and await client.xlen(name):
                    left.append(name)
        if left:
            alerts.append({"source": "former_shards", "reason": (
                f"streams of the former shard count {previous} hold entries nobody reads: {', '.join(left)}"),
                "action": "python -m whatsapp_bridge shards --move-former (appends them to their shards now)"})
    return alerts


async def _odoo_health(http: httpx.AsyncClient, config: BridgeConfig) -> dict:
    body = {"jsonrpc": "2.0", "method": "call", "params": {"service": "common", "method": "version", "args": []}}
    try:
        response = await http.post(f"{config.odoo_url}/jsonrpc", json=body, timeout=3.0)
    except httpx.HTTPError as exc:
        return {"ok": False, "url": config.odoo_url, "detail": f"unreachable: {exc!r}"}
    if response.status_code >= 500:
        return {"ok": False, "url": config.odoo_url, "detail": f"HTTP {response.status_code}"}
    return {"ok": True, "url": config.odoo_url, "detail": f"HTTP {response.status_code}"}


async def _graph_health(http: httpx.AsyncClient, config: BridgeConfig) -> dict:
    url = config.graph_url(config.phone_number_id)
    try:
        response = await http.get(url, headers={"Authorization": f"Bearer {config.access_token}"}, timeout=3.0)
    except httpx.HTTPError as exc:
        return {"ok": False, "url": config.graph_base_url, "detail": f"unreachable: {exc!r}"}
    detail = f"HTTP {response.status_code}"
    ok = response.status_code < 500
    if response.status_code in (401, 403):
        ok, detail = False, f"token refused (HTTP {response.status_code}): check WA_ACCESS_TOKEN"
    return {"ok": ok, "url": config.graph_base_url, "detail": detail}
