"""The bridge as a process: ``python -m whatsapp_bridge all`` between the simulator and the Odoo test double."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest

from whatsapp_bridge import cli
from whatsapp_bridge.simulator import SimConfig

from .helpers import closed_port_url, env_for, free_port, wait_until

ROOT = Path(__file__).resolve().parents[2]
SECRET = "0123456789abcdef0123456789abcdef"
CUSTOMER = "5511987654321"
BRIDGE_PORT = free_port()


@pytest.fixture
def sim_config():
    return SimConfig(webhook_url=f"http://127.0.0.1:{BRIDGE_PORT}/webhook", app_secret=SECRET, seed=1,
                     delivery_interval=0.02)


def run_bridge(command, env, *args, **kwargs):
    full = {k: v for k, v in os.environ.items() if not k.startswith("WA_")}
    full.update(env)
    return subprocess.Popen([sys.executable, "-m", "whatsapp_bridge", command, "--env-file", "/nonexistent", *args],
                            env=full, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)


def test_all_in_one_process_round_trip_and_graceful_stop(prefix, rds, odoo, simulator):
    sim = simulator.state.simulator
    env = env_for(prefix, odoo.url, simulator.url, WA_PORT=BRIDGE_PORT, WA_APP_SECRET=SECRET)
    proc = run_bridge("all", env)
    try:
        wait_until(lambda: _health(BRIDGE_PORT) == 200, timeout=20, interval=0.1)
        # a customer writes: simulator -> signed webhook -> bridge -> Odoo
        sim.customer_send(CUSTOMER, {"type": "text", "text": "Olá, bridge!", "name": "Maria"})
        wait_until(lambda: odoo.items("ingest_messages"), timeout=10)
        (msg,) = odoo.items("ingest_messages")
        assert msg["text"] == "Olá, bridge!" and msg["from"]["wa_id"] == CUSTOMER
        # Odoo answers: wa:out -> bridge -> Graph (simulator) -> result back to Odoo
        job = {"v": 1, "message_id": 5, "account": sim.config.phone_number_id, "to": {"wa_id": CUSTOMER},
               "type": "text", "text": "Como posso ajudar?"}
        rds.xadd(f"{prefix}wa:out", {"payload": json.dumps(job)})
        wait_until(lambda: odoo.items("report_send_results"), timeout=10)
        (result,) = odoo.items("report_send_results")
        out = [m for m in sim.customer(CUSTOMER).messages if m.direction == "out"]
        assert result == {"v": 1, "message_id": 5, "state": "sent", "wamid": out[0].id}
        # and the statuses of that message come back through the webhook
        wait_until(lambda: {"sent", "delivered"} <= {s["status"] for s in odoo.items("ingest_statuses")}, timeout=10)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    stderr = proc.stderr.read()
    assert code == 0, stderr[-2000:]
    lines = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    assert lines and all("level" in line and "msg" in line for line in lines)  # JSON log lines
    assert any(line["msg"] == "inbound worker stopped" for line in lines)


def _health(port):
    try:
        return httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code
    except httpx.HTTPError:
        return None


def test_check_reports_every_problem_and_fails(prefix, odoo, simulator):
    env = env_for(prefix, closed_port_url(), simulator.url, WA_REDIS_URL=closed_port_url("redis"))
    proc = run_bridge("check", env)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 1
    assert "[FAIL] redis" in out and "WA_REDIS_URL" in out
    assert "[FAIL] odoo" in out
    assert "[ok] whatsapp" in out


def test_check_passes_when_everything_is_reachable(prefix, odoo, simulator):
    proc = run_bridge("check", env_for(prefix, odoo.url, simulator.url))
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    assert out.count("[ok]") == 3


def test_missing_configuration_exits_2_naming_the_variables():
    proc = run_bridge("inbound", {})
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 2
    assert "WA_ODOO_URL" in err and "WA_ODOO_API_KEY" in err


@pytest.mark.parametrize("command", ["inbound", "outbound", "all", "demo"])
def test_workers_refuse_another_contract_version(command, prefix, rds, odoo, simulator):
    odoo.version = 99
    env = env_for(prefix, odoo.url, simulator.url, WA_PORT=free_port())
    args = []
    if command == "demo":
        del env["WA_ACCESS_TOKEN"]  # demo mode: its own simulator, on a free port
        args = ["--port", str(free_port())]
    proc = run_bridge(command, env, *args)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 3, err[-2000:]
    assert "contract version 99" in err


class _CrashingWorker:
    def run(self):
        raise RuntimeError("a bug in the worker")


def test_a_crashed_worker_ends_inbound_with_a_non_zero_exit(monkeypatch, make_config):
    monkeypatch.setattr(cli, "_install_signals", lambda stop: None)
    monkeypatch.setattr(cli, "_workers", lambda config, stop, which: [_CrashingWorker()])
    assert cli.run_workers(make_config(), ("inbound",)) == 1


def test_a_crashed_worker_stops_all_with_a_non_zero_exit(monkeypatch, make_config):
    """``all``: the web part must not keep answering 200 while a worker is dead."""
    monkeypatch.setattr(cli.signal, "signal", lambda *args: None)  # run_web runs in a thread here
    monkeypatch.setattr(cli, "_workers", lambda config, stop, which: [_CrashingWorker()])
    config = make_config(WA_PORT=free_port())
    codes = []
    thread = threading.Thread(target=lambda: codes.append(cli.run_web(config, ("inbound", "outbound"))), daemon=True)
    thread.start()
    thread.join(15)
    assert codes == [1]
