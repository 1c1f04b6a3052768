"""The bridge and the Cloud API simulator as real processes (``python -m whatsapp_bridge ...``).

Used by the end-to-end tests and the benchmarks.  Every process gets its own free port, an
environment built from scratch (no ``WA_*`` variable of the caller leaks in, no ``.env`` file is
read), and a log file under ``.run/logs/``.  A process can be killed with SIGKILL (a crash) or
stopped with SIGTERM (graceful), and started again with the same settings.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
import redis

from whatsapp_bridge.simulator import constants as sim_constants
from whatsapp_bridge.simulator import payloads as p

from .odoo_server import ROOT, RUN_DIR, free_port

LOG_DIR = RUN_DIR / "logs"
REDIS_URL = os.environ.get("WA_E2E_REDIS_URL", "redis://127.0.0.1:6379/0")
APP_SECRET = sim_constants.DEMO_APP_SECRET
PHONE_NUMBER_ID = sim_constants.DEMO_PHONE_NUMBER_ID
WABA_ID = sim_constants.DEMO_WABA_ID
DISPLAY_NUMBER = sim_constants.DEMO_DISPLAY_PHONE_NUMBER


def wait_until(predicate: Callable[[], object], timeout: float, interval: float = 0.1, what: str = "condition"):
    """Poll ``predicate`` until it returns something truthy; return it, or raise after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while True:
        try:
            value = predicate()
            if value:
                return value
        except Exception as exc:  # noqa: BLE001 - a poll may fail while a process restarts
            last_error = exc
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{what} not reached within {timeout}s" + (f" (last error: {last_error!r})"
                                                                           if last_error else ""))
        time.sleep(interval)


def unique_prefix(tag: str = "e2e") -> str:
    return f"{tag}{uuid.uuid4().hex[:10]}:"


def delete_prefixed_keys(prefix: str, url: str = REDIS_URL) -> int:
    """Delete this run's Redis keys (and only them)."""
    client = redis.Redis.from_url(url)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        for start in range(0, len(keys), 500):
            client.delete(*keys[start:start + 500])
        return len(keys)
    finally:
        client.close()


class Proc:
    """One ``python -m whatsapp_bridge <args>`` process."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], ready: Callable[[], bool] | None = None):
        self.name = name
        self.args = args
        self.env = env
        self.ready = ready
        self.process: subprocess.Popen | None = None
        self.log_path = LOG_DIR / f"{name}.log"

    def start(self, timeout: float = 30) -> Proc:
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        full = {k: v for k, v in os.environ.items() if not k.startswith("WA_")}
        full.update(self.env)
        full["PYTHONUNBUFFERED"] = "1"
        with open(self.log_path, "ab") as log:
            log.write(f"\n==== start {time.strftime('%H:%M:%S')} {' '.join(self.args)}\n".encode())
            log.flush()
            self.process = subprocess.Popen([sys.executable, "-m", "whatsapp_bridge", *self.args], env=full,
                                            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        if self.ready is not None:
            deadline = time.monotonic() + timeout
            while True:
                if self.process.poll() is not None:
                    raise RuntimeError(f"{self.name} exited with {self.process.returncode}: {self.tail()}")
                try:
                    if self.ready():
                        break
                except (httpx.HTTPError, OSError):
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{self.name} not ready within {timeout}s: {self.tail()}")
                time.sleep(0.1)
        return self

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL: a crash, nothing finishes."""
        if self.alive:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def stop(self, timeout: float = 40) -> int | None:
        """SIGTERM: a graceful stop; SIGKILL when it does not end in time.  Returns the exit code."""
        if self.process is None:
            return None
        if self.alive:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)
        return self.process.returncode

    def tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


def _http_ok(url: str) -> Callable[[], bool]:
    def check() -> bool:
        return httpx.get(url, timeout=2).status_code < 500
    return check


class SimulatorProc(Proc):
    """The Cloud API simulator, with helpers for its control API."""

    def __init__(self, webhook_url: str, name: str = "simulator", port: int | None = None,
                 extra_args: list[str] | None = None):
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        super().__init__(name, ["simulator", "--port", str(self.port), "--webhook-url", webhook_url, "--seed", "7",
                                "--log-level", "warning", *(extra_args or [])],
                         {}, _http_ok(f"{self.url}/_sim/config"))
        self.http = httpx.Client(base_url=self.url, timeout=30)

    def ctl(self, method: str, path: str, **kwargs):
        response = self.http.request(method, f"/_sim{path}", **kwargs)
        if response.status_code >= 400:
            raise AssertionError(f"simulator {method} {path}: HTTP {response.status_code} {response.text}")
        return response.json()

    def send(self, customer: str, spec: dict) -> dict:
        """The customer sends a message; returns ``{"id": wamid, "message": ...}``."""
        return self.ctl("POST", f"/customers/{customer}/send", json=spec)

    def outbound(self, customer: str) -> list[dict]:
        """What the business sent to this customer (with states)."""
        try:
            return self.ctl("GET", f"/customers/{customer}/messages", params={"direction": "out"})["messages"]
        except AssertionError:
            return []

    def press(self, customer: str, **spec) -> dict:
        return self.ctl("POST", f"/customers/{customer}/press", json=spec)

    def read(self, customer: str) -> int:
        return self.ctl("POST", f"/customers/{customer}/read")["read"]

    def advance(self, **amount) -> dict:
        return self.ctl("POST", "/clock/advance", json=amount)

    def faults(self, **values) -> dict:
        return self.ctl("POST", "/faults", json=values)

    def stats(self) -> dict:
        return self.ctl("GET", "/stats")


class Bridge:
    """The bridge as three processes (web, inbound, outbound) so each can be killed on its own."""

    def __init__(self, *, odoo_url: str, odoo_db: str, api_key: str, prefix: str, graph_base_url: str,
                 port: int | None = None, name: str = "bridge", **overrides: object):
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.webhook_url = f"{self.url}/webhook"
        self.prefix = prefix
        env = {
            "WA_ODOO_URL": odoo_url, "WA_ODOO_DB": odoo_db, "WA_ODOO_LOGIN": "whatsapp-bridge",
            "WA_ODOO_API_KEY": api_key, "WA_REDIS_URL": REDIS_URL, "WA_STREAM_PREFIX": prefix,
            "WA_GRAPH_BASE_URL": graph_base_url, "WA_PHONE_NUMBER_ID": PHONE_NUMBER_ID,
            "WA_HOST": "127.0.0.1", "WA_PORT": str(self.port), "WA_CONSUMER_NAME": f"{name}-{prefix.rstrip(':')}",
            "WA_LOG_LEVEL": "INFO",
        }
        env.update({key: str(value) for key, value in overrides.items()})
        self.env = env
        args = ["--env-file", "/nonexistent"]
        tag = f"{name}-{prefix.rstrip(':')}"
        self.web = Proc(f"{tag}-web", ["web", *args], env, self._webhook_answers)
        self.inbound = Proc(f"{tag}-inbound", ["inbound", *args], env)
        self.outbound = Proc(f"{tag}-outbound", ["outbound", *args], env)

    def _webhook_answers(self) -> bool:
        # /health is 503 while Odoo or Graph is down; the webhook only needs Redis: a bad signature -> 403
        return httpx.post(self.webhook_url, content=b"{}", headers={"X-Hub-Signature-256": "sha256=0"},
                          timeout=2).status_code == 403

    def start(self, inbound: bool = True, outbound: bool = True) -> Bridge:
        self.web.start()
        if inbound:
            self.inbound.start()
        if outbound:
            self.outbound.start()
        return self

    def stop(self) -> None:
        for proc in (self.inbound, self.outbound, self.web):
            proc.stop()


# -- signed webhooks, built like Meta's ---------------------------------------------------------------------------

def text_webhook(wa_id: str, wamid: str, timestamp: int, text: str, name: str = "Customer") -> bytes:
    body = p.envelope(p.messages_value(p.metadata(DISPLAY_NUMBER, PHONE_NUMBER_ID), [p.contact(name, wa_id=wa_id)],
                                       [p.text_message(wa_id, wamid, timestamp, text)]), WABA_ID)
    return p.encode(body)


def signed_headers(raw: bytes, secret: str = APP_SECRET) -> dict[str, str]:
    return {"Content-Type": "application/json", "X-Hub-Signature-256": p.signature(raw, secret)}


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def stream_backlog(prefix: str, url: str = REDIS_URL) -> dict:
    """Length, pending count and lag (entries not yet delivered to the group) of ``<prefix>wa:in``."""
    client = redis.Redis.from_url(url)
    try:
        name = f"{prefix}wa:in"
        info = {"length": client.xlen(name), "pending": 0, "lag": None}
        try:
            for group in client.xinfo_groups(name):
                info["pending"] = group.get("pending", 0)
                info["lag"] = group.get("lag")
        except redis.ResponseError:
            pass
        return info
    finally:
        client.close()


def dead_letters(prefix: str, url: str = REDIS_URL) -> list[dict]:
    client = redis.Redis.from_url(url)
    try:
        out = []
        for _id, fields in client.xrange(f"{prefix}wa:dead"):
            out.append({k.decode(): v.decode(errors="replace") for k, v in fields.items()})
        return out
    finally:
        client.close()


def json_lines(path: Path) -> list[dict]:
    out = []
    for line in path.read_text(errors="replace").splitlines():
        if line.startswith("{"):
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
    return out


# -- Odoo side ----------------------------------------------------------------------------------------------------

class OdooUser:
    """JSON-RPC ``execute_kw`` as one Odoo user (an attendant: ``ana``/``ana``)."""

    def __init__(self, server, login: str, password: str):
        self.server = server
        self.login = login
        self.password = password
        self.uid = server.rpc("common", "authenticate", server.db, login, password, {})
        if not self.uid:
            raise RuntimeError(f"cannot log in as {login!r}")

    def __call__(self, model: str, method: str, *args, **kwargs):
        return self.server.rpc("object", "execute_kw", self.server.db, self.uid, self.password, model, method,
                               list(args), kwargs)


def configure_odoo_streams(server, prefix: str, url: str = REDIS_URL) -> None:
    """Point the addon's Redis pushes (wa:out) at this run's streams."""
    server.admin("ir.config_parameter", "set_param", "whatsapp_attendance.redis_url", url)
    server.admin("ir.config_parameter", "set_param", "whatsapp_attendance.stream_prefix", prefix)


class Stack:
    """Simulator <-> bridge (web, inbound, outbound) <-> a running ``OdooServer``, on streams of their own."""

    def __init__(self, server, api_key: str, *, simulator: bool = True, tag: str = "e2e", **bridge_env: object):
        self.server = server
        self.prefix = unique_prefix(tag)
        bridge_port = free_port()
        self.sim = SimulatorProc(f"http://127.0.0.1:{bridge_port}/webhook", name=f"sim-{self.prefix.rstrip(':')}") \
            if simulator else None
        self.bridge = Bridge(odoo_url=server.url, odoo_db=server.db, api_key=api_key, prefix=self.prefix,
                             graph_base_url=self.sim.url if self.sim else "http://127.0.0.1:9", port=bridge_port,
                             name=tag, **bridge_env)

    def start(self, inbound: bool = True, outbound: bool = True) -> Stack:
        configure_odoo_streams(self.server, self.prefix)
        if self.sim:
            self.sim.start()
        self.bridge.start(inbound=inbound, outbound=outbound)
        return self

    def close(self) -> None:
        try:
            self.bridge.stop()
            if self.sim:
                self.sim.stop()
                self.sim.http.close()
        finally:
            delete_prefixed_keys(self.prefix)
