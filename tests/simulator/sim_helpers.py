"""Helpers for the Cloud API simulator tests (fixtures are in conftest.py).

``receiver`` is a tiny starlette webhook endpoint that records every delivery (raw
body + headers) and can be told to fail; the simulator reaches it in-process through
``httpx.ASGITransport``.  ``make_sim`` builds a simulator app (no background
delivery: webhooks leave on ``POST /_sim/flush``, so tests are deterministic).
"""

from __future__ import annotations

import json
import socket
import threading
import time
from dataclasses import dataclass, field

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient

from whatsapp_bridge.simulator import DEMO_ACCESS_TOKEN

VERSION = "v23.0"


@dataclass
class Receiver:
    deliveries: list[tuple[bytes, dict]] = field(default_factory=list)
    fail_next: int = 0
    fail_status: int = 500
    verify_token: str | None = None
    app: Starlette | None = None

    def bodies(self) -> list[dict]:
        return [json.loads(raw) for raw, _ in self.deliveries]

    def statuses(self) -> list[tuple[str, str]]:
        out = []
        for body in self.bodies():
            for entry in body["entry"]:
                for change in entry["changes"]:
                    for st in change["value"].get("statuses", []):
                        out.append((st["id"], st["status"]))
        return out

    def messages(self) -> list[dict]:
        return [m for body in self.bodies() for e in body["entry"] for c in e["changes"]
                for m in c["value"].get("messages", [])]


def make_receiver() -> Receiver:
    rec = Receiver()

    async def webhook(request: Request) -> Response:
        if request.method == "GET":
            q = request.query_params
            if q.get("hub.mode") == "subscribe" and q.get("hub.verify_token") == rec.verify_token:
                return PlainTextResponse(q.get("hub.challenge", ""))
            return PlainTextResponse("forbidden", status_code=403)
        raw = await request.body()
        if rec.fail_next > 0:
            rec.fail_next -= 1
            return PlainTextResponse("down", status_code=rec.fail_status)
        rec.deliveries.append((raw, dict(request.headers)))
        return PlainTextResponse("ok")

    rec.app = Starlette(routes=[Route("/webhook", webhook, methods=["GET", "POST"])])
    return rec


class Sim:
    """A TestClient on a simulator app, with helpers for the Graph and control APIs."""

    def __init__(self, client: TestClient):
        self.client = client
        self.sim = client.app.state.simulator
        self.cfg = self.sim.config
        self.auth = {"Authorization": f"Bearer {self.cfg.access_token}"}

    def graph_send(self, body: dict, headers: dict | None = None) -> httpx.Response:
        payload = {"messaging_product": "whatsapp", "recipient_type": "individual", **body}
        return self.client.post(f"/{VERSION}/{self.cfg.phone_number_id}/messages", json=payload,
                                headers=self.auth if headers is None else headers)

    def send_text(self, to: str, text: str = "hello") -> httpx.Response:
        return self.graph_send({"to": to, "type": "text", "text": {"body": text}})

    def customer_says(self, wa_id: str, text: str = "hi", **extra) -> dict:
        r = self.client.post(f"/_sim/customers/{wa_id}/send", json={"type": "text", "text": text, **extra})
        assert r.status_code == 200, r.text
        return r.json()

    def flush(self) -> dict:
        r = self.client.post("/_sim/flush")
        assert r.status_code == 200, r.text
        return r.json()

    def faults(self, **values) -> dict:
        r = self.client.post("/_sim/faults", json=values)
        assert r.status_code == 200, r.text
        return r.json()

    def advance(self, seconds: float) -> None:
        assert self.client.post("/_sim/clock/advance", json={"seconds": seconds}).status_code == 200

    def upload(self, data: bytes, mime: str, filename: str = "file.bin") -> httpx.Response:
        return self.client.post(f"/{VERSION}/{self.cfg.phone_number_id}/media", headers=self.auth,
                                files={"file": (filename, data, mime)},
                                data={"type": mime, "messaging_product": "whatsapp"})


# ------------------------------------------------------------------ real servers (uvicorn in a thread)

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerThread:
    def __init__(self, app, port: int):
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                                    lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self):
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(10)


def wait_for(predicate, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


__all__ = ["DEMO_ACCESS_TOKEN", "VERSION", "Receiver", "ServerThread", "Sim", "free_port", "make_receiver",
           "wait_for"]
