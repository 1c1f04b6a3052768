"""Helpers and fixtures for the bridge tests (the fixtures are re-exported by ``conftest.py``).

* Redis: the machine's real Redis (127.0.0.1:6379).  Every test gets its own random key
  prefix (``WA_STREAM_PREFIX``) and only keys under it are deleted afterwards.
* Graph API: the bundled Cloud API simulator (``whatsapp_bridge.simulator``), served by
  uvicorn on a random local port.
* Odoo: ``OdooDouble``, a TEST DOUBLE of the addon's JSON-RPC API (a small starlette app on a
  random port).  It validates every payload with the real contract, records the calls, and
  can be told to be down, to fail with serialization errors or any error by name, to refuse items
  or the bridge user (``AccessError``), to fail on every call carrying one message (like a text
  PostgreSQL cannot store), or to answer ``unknown`` for statuses.  The real-Odoo end-to-end tests live elsewhere.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import threading
import time
import uuid
from pathlib import Path

import pytest
import redis
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from whatsapp_bridge import contract
from whatsapp_bridge.config import load_config
from whatsapp_bridge.simulator import SimConfig
from whatsapp_bridge.simulator import create_app as create_simulator_app

REDIS_URL = os.environ.get("WA_REDIS_URL", "redis://127.0.0.1:6379/0")
ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "data" / "samples" / "cloud_api"
ODOO_API_KEY = "test-api-key"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def closed_port_url(scheme: str = "http") -> str:
    return f"{scheme}://127.0.0.1:{free_port()}"


class ServerThread:
    """Serve an ASGI app with uvicorn on 127.0.0.1:<random port> in a background thread."""

    def __init__(self, app):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, log_level="warning", lifespan="on", access_log=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def start(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("test server did not start")
            time.sleep(0.01)
        return self

    def stop(self, wait: bool = True) -> None:
        """Stop; ``wait=False`` lets uvicorn finish its ~0.2 s shutdown in the background (joined at session end)."""
        self.server.should_exit = True
        if wait:
            self.join()
        else:
            STOPPING.append(self)

    def join(self) -> None:
        self.thread.join(10)
        self.sock.close()


STOPPING: list[ServerThread] = []


def load_sample(name: str) -> dict:
    return json.loads((SAMPLES / f"{name}.json").read_text(encoding="utf-8"))


class OdooDouble:
    """TEST DOUBLE of the addon's JSON-RPC API (``whatsapp.api``); not the real addon."""

    def __init__(self):
        self.lock = threading.Lock()
        self.calls: list[tuple[str, object]] = []  # every execute_kw attempt
        self.accepted: dict[str, list] = {}  # method -> payload items Odoo "wrote"
        self.down = False  # HTTP 503 for everything
        self.http_status: int | None = None  # this HTTP status (no body) for everything
        self.fail_with: tuple[str, str, str] | None = None  # every execute_kw fails: (name, message, debug)
        self.serialization_failures = 0  # next N execute_kw calls fail like a concurrent update
        self.server_error: str | None = None  # every call fails with this unexpected server error (a bug)
        self.refuse_wamids: set[str] = set()  # ingest_messages: ValidationError naming that item
        self.poison_wamids: set[str] = set()  # ingest_messages: a server error whenever the call carries one
        self.probe_error: str | None = None  # contract_info fails with this server error (Odoo broken for all)
        self.ingest_error: str | None = None  # every ingest_messages fails (an addon upgraded without -u)
        self.unknown_wamids: set[str] = set()  # ingest_statuses: result "unknown"
        self.access_error = False  # execute_kw: AccessError, like a bridge user that lost its group
        self.attachments: dict[int, dict] = {}
        self.known_templates: set[tuple[str, str]] = set()  # report_template_states: "applied" for these
        self.version = contract.CONTRACT_VERSION
        self.features = contract.CONTRACT_FEATURES  # an older addon: without "shards", say
        self.latency: tuple[float, float] | None = None  # (seconds per call, per item): a remote Odoo (benchmarks)
        self.authentications = 0
        self.max_request_bytes: int | None = None  # larger bodies get HTTP 413, like Odoo's 128 MiB limit
        self.request_sizes: list[int] = []
        self._ids: dict[str, int] = {}

    def items(self, method: str) -> list:
        with self.lock:
            return list(self.accepted.get(method, []))

    def attempts(self, method: str) -> int:
        with self.lock:
            return sum(1 for m, _ in self.calls if m == method)

    def attempts_with(self, wamid: str) -> int:
        """``ingest_messages`` calls that carried ``wamid``."""
        with self.lock:
            return sum(1 for m, batch in self.calls if m == "ingest_messages" and any(
                item.get("wamid") == wamid for item in batch))

    # -- JSON-RPC ----------------------------------------------------------------------------
    async def endpoint(self, request: Request) -> Response:
        if self.down:
            return Response("Service Unavailable", status_code=503)
        if self.http_status is not None:
            return Response("", status_code=self.http_status)
        raw = await request.body()
        with self.lock:
            self.request_sizes.append(len(raw))
        if self.latency is not None:  # an Odoo on other machines: each call costs time, not this CPU
            per_call, per_item = self.latency
            args = json.loads(raw)["params"].get("args") or []
            items = args[5][0] if len(args) > 5 and args[5] and isinstance(args[5][0], list) else []
            await asyncio.sleep(per_call + per_item * len(items))
        if self.max_request_bytes is not None and len(raw) > self.max_request_bytes:
            return Response("Request Entity Too Large", status_code=413)
        body = json.loads(raw)
        params = body["params"]
        try:
            result = self.dispatch(params["service"], params["method"], params["args"])
        except _RpcError as exc:
            return JSONResponse({"jsonrpc": "2.0", "id": body.get("id"), "error": {
                "code": 200, "message": "Odoo Server Error",
                "data": {"name": exc.name, "message": exc.message, "debug": exc.debug}}})
        return JSONResponse({"jsonrpc": "2.0", "id": body.get("id"), "result": result})

    def dispatch(self, service, method, args):
        if service == "common" and method == "version":
            return {"server_version": "18.0"}
        if service == "common" and method == "authenticate":
            self.authentications += 1
            return 2 if args[2] == ODOO_API_KEY else False
        if service != "object" or method != "execute_kw":
            raise _RpcError("builtins.KeyError", f"unknown {service}.{method}")
        db, uid, key, model, api_method, call_args, _kw = args
        if uid != 2 or key != ODOO_API_KEY:
            raise _RpcError("odoo.exceptions.AccessDenied", "Access Denied")
        if model != contract.API_MODEL:
            raise _RpcError("builtins.KeyError", model)
        with self.lock:
            self.calls.append((api_method, call_args[0] if call_args else None))
            if self.access_error:
                raise _RpcError("odoo.exceptions.AccessError",
                                "You are not allowed to access 'WhatsApp API' (whatsapp.api) records. "
                                "This operation is allowed for the following groups: - WhatsApp Bridge")
            if self.server_error:
                raise _RpcError("builtins.KeyError", self.server_error)
            if self.fail_with:
                raise _RpcError(*self.fail_with)
            if api_method == "contract_info" and self.probe_error:
                raise _RpcError("builtins.RuntimeError", self.probe_error)
            if api_method == "ingest_messages" and self.ingest_error:
                raise _RpcError("psycopg2.errors.UndefinedTable", self.ingest_error)
            if api_method == "ingest_messages" and any(m.get("wamid") in self.poison_wamids for m in call_args[0]):
                # what Odoo answers for a text holding NUL: a ValueError raised inside psycopg2
                raise _RpcError("builtins.ValueError", "A string literal cannot contain NUL (0x00) characters.",
                                'Traceback (most recent call last):\n  File "odoo/sql_db.py", line 354, in execute\n'
                                "    res = self._obj.execute(query, params)\n"
                                "ValueError: A string literal cannot contain NUL (0x00) characters. (psycopg2)")
            if self.serialization_failures:
                self.serialization_failures -= 1
                raise _RpcError("psycopg2.errors.SerializationFailure",
                                "could not serialize access due to concurrent update")
        handler = getattr(self, f"_{api_method}", None)
        if handler is None:
            raise _RpcError("builtins.AttributeError", f"no method {api_method}")
        try:
            return handler(*call_args)
        except contract.ContractError as exc:
            raise _RpcError("odoo.exceptions.ValidationError", str(exc)) from exc

    def _id(self, kind: str, key: str) -> int:
        with self.lock:
            return self._ids.setdefault(f"{kind}:{key}", len(self._ids) + 1)

    def _ingest_messages(self, messages):
        contract.validate_batch(messages, "messages", contract.validate_inbound_message)
        for index, msg in enumerate(messages):
            if msg["wamid"] in self.refuse_wamids:
                raise _RpcError("odoo.exceptions.ValidationError",
                                f"messages[{index}].wamid: refused by the test double")
        out = []
        with self.lock:
            done = {m["wamid"] for m in self.accepted.get("ingest_messages", [])}
            for msg in messages:
                out.append({"wamid": msg["wamid"], "duplicate": msg["wamid"] in done})
                if msg["wamid"] not in done:
                    self.accepted.setdefault("ingest_messages", []).append(msg)
                    done.add(msg["wamid"])
        for item in out:
            item.update(message_id=self._id("m", item["wamid"]), service_id=1, partner_id=1)
        return out

    def _ingest_statuses(self, statuses):
        contract.validate_batch(statuses, "statuses", contract.validate_status)
        out = []
        with self.lock:
            for status in statuses:
                if status["wamid"] in self.unknown_wamids:
                    out.append({"wamid": status["wamid"], "message_id": False, "result": "unknown"})
                else:
                    self.accepted.setdefault("ingest_statuses", []).append(status)
                    out.append({"wamid": status["wamid"], "message_id": 1, "result": "applied"})
        return out

    def _report_send_results(self, results):
        contract.validate_batch(results, "results", contract.validate_send_result)
        with self.lock:
            self.accepted.setdefault("report_send_results", []).extend(results)
        return [{"message_id": r["message_id"], "state": r["state"]} for r in results]

    def _read_attachment(self, request):
        contract.validate_attachment_request(request)
        found = self.attachments.get(request["message_id"])
        if not found:
            raise _RpcError("odoo.exceptions.MissingError", f"no attachment for message {request['message_id']}")
        with self.lock:
            self.accepted.setdefault("read_attachment", []).append(request)
        return dict(found, message_id=request["message_id"])

    def _report_template_states(self, states):
        contract.validate_batch(states, "states", contract.validate_template_state)
        with self.lock:
            self.accepted.setdefault("report_template_states", []).extend(states)
            known = set(self.known_templates)
        return [{"name": s["name"], "language": s["language"], "template_id": s.get("template_id") or False,
                 "result": "applied" if (s["name"], s["language"]) in known else "unknown"} for s in states]

    def _contract_info(self):
        return {"version": self.version, "streams": list(contract.STREAMS),
                "methods": list(contract.API_METHODS), "features": list(self.features)}

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/jsonrpc", self.endpoint, methods=["POST"])])


class _RpcError(Exception):
    def __init__(self, name: str, message: str, debug: str = ""):
        super().__init__(message)
        self.name, self.message, self.debug = name, message, debug


# ---------------------------------------------------------------------------- fixtures
@pytest.fixture
def prefix() -> str:
    return f"t{uuid.uuid4().hex[:10]}:"


@pytest.fixture
def rds(prefix):
    client = redis.Redis.from_url(REDIS_URL)
    yield client
    keys = list(client.scan_iter(match=f"{prefix}*", count=500))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture
def odoo():
    double = OdooDouble()
    server = ServerThread(double.app()).start()
    double.url = server.url
    yield double
    server.stop(wait=False)


@pytest.fixture
def sim_config() -> SimConfig:
    return SimConfig(webhook_url=None, background_delivery=False, seed=1)


@pytest.fixture
def simulator(sim_config):
    app = create_simulator_app(sim_config)
    server = ServerThread(app).start()
    app.url = server.url
    yield app
    server.stop(wait=False)


def env_for(prefix: str, odoo_url: str, graph_url: str, **extra) -> dict:
    from whatsapp_bridge.simulator import DEMO_ACCESS_TOKEN, DEMO_APP_SECRET, DEMO_PHONE_NUMBER_ID, DEMO_VERIFY_TOKEN

    env = {
        "WA_ODOO_URL": odoo_url,
        "WA_ODOO_DB": "testdb",
        "WA_ODOO_LOGIN": "bridge",
        "WA_ODOO_API_KEY": ODOO_API_KEY,
        "WA_REDIS_URL": REDIS_URL,
        "WA_ACCESS_TOKEN": DEMO_ACCESS_TOKEN,
        "WA_APP_SECRET": "0123456789abcdef0123456789abcdef",
        "WA_VERIFY_TOKEN": DEMO_VERIFY_TOKEN,
        "WA_PHONE_NUMBER_ID": DEMO_PHONE_NUMBER_ID,
        "WA_GRAPH_BASE_URL": graph_url,
        "WA_STREAM_PREFIX": prefix,
        "WA_BATCH_LINGER_MS": "50",
        "WA_BACKOFF_MAX_SECONDS": "0.2",
        "WA_CONSUMER_NAME": "test",
        "WA_GRAPH_TIMEOUT": "5",
        "WA_ODOO_TIMEOUT": "5",
    }
    assert DEMO_APP_SECRET  # the simulator signs with its own secret; tests sign with WA_APP_SECRET
    env.update({k: str(v) for k, v in extra.items()})
    return env


@pytest.fixture
def make_config(prefix, odoo, simulator):
    def build(**extra):
        return load_config(env_for(prefix, odoo.url, simulator.url, **extra), env_file=None)

    return build


def wait_until(predicate, timeout: float = 10.0, interval: float = 0.02):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("condition not met in time")


def make_mp3(seconds: float = 2.0, rate: int = 44_100) -> bytes:
    """A mono MP3 of a 440 Hz tone, like the voice messages Odoo's Discuss records."""
    import io
    import math

    import av

    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp3") as target:
        stream = target.add_stream("libmp3lame", rate=rate)
        stream.layout = "mono"
        total = int(seconds * rate)
        for start in range(0, total, 1152):
            count = min(1152, total - start)
            frame = av.AudioFrame(format="s16", layout="mono", samples=count)
            frame.sample_rate = rate
            samples = [int(8000 * math.sin(2 * math.pi * 440 * (start + i) / rate)) for i in range(count)]
            frame.planes[0].update(b"".join(v.to_bytes(2, "little", signed=True) for v in samples))
            target.mux(stream.encode(frame))
        target.mux(stream.encode(None))
    return buffer.getvalue()


def audio_seconds(content: bytes) -> tuple[str, float]:
    """(codec, duration in seconds) of an audio file, decoded."""
    import io

    import av

    with av.open(io.BytesIO(content)) as source:
        track = source.streams.audio[0]
        samples = sum(frame.samples for frame in source.decode(track))
        return track.codec_context.name, samples / track.rate
