"""A real Odoo 18 server process for end-to-end tests, on a database of its own.

The database is cloned from the demo database ``scripts/test.sh`` installed
(``wa_test_demo``: pytest-odoo holds ``wa_test`` open, and the demo account uses
the simulator's number) with PostgreSQL's ``CREATE DATABASE ... TEMPLATE``,
together with its filestore, so a
test run never installs Odoo twice. The server can be stopped and started again
(the fault tests take Odoo down for a while).
"""

from __future__ import annotations

import configparser
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from contextlib import closing
from pathlib import Path

import psycopg2
import requests

ROOT = Path(__file__).resolve().parents[2]
RUN_DIR = ROOT / ".run"


def free_port() -> int:
    with closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class OdooServer:
    def __init__(self, config_path: Path, template_db: str | None = None, workers: int = 0):
        self.config_path = Path(config_path)
        config = configparser.ConfigParser()
        config.read(self.config_path)
        self.options = dict(config["options"])
        # WA_E2E_TEMPLATE_DB: another demo database to clone (e.g. one's own, next to others' runs)
        self.template_db = template_db or os.environ.get("WA_E2E_TEMPLATE_DB", "wa_test_demo")
        self.db = f"wa_e2e_{uuid.uuid4().hex[:8]}"
        self.port = free_port()
        self.workers = workers
        self.process: subprocess.Popen | None = None
        self.log_path = RUN_DIR / "logs" / f"{self.db}.log"
        self.url = f"http://127.0.0.1:{self.port}"

    # -- database ------------------------------------------------------------
    def _pg(self, dbname: str = "postgres"):
        return psycopg2.connect(dbname=dbname, host=self.options.get("db_host", "127.0.0.1"),
                                port=self.options.get("db_port", "5432"), user=self.options.get("db_user", "odoo"),
                                password=None if self.options.get("db_password") in (None, "False") else
                                self.options["db_password"])

    def _filestore(self, db: str) -> Path:
        return Path(self.options.get("data_dir", RUN_DIR / "data")) / "filestore" / db

    def create_database(self) -> None:
        conn = self._pg()
        conn.autocommit = True
        with conn.cursor() as cr:
            cr.execute(f'CREATE DATABASE "{self.db}" TEMPLATE "{self.template_db}"')
        conn.close()
        if self._filestore(self.template_db).is_dir():
            shutil.copytree(self._filestore(self.template_db), self._filestore(self.db))

    def drop_database(self) -> None:
        conn = self._pg()
        conn.autocommit = True
        with conn.cursor() as cr:
            cr.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", [self.db])
            cr.execute(f'DROP DATABASE IF EXISTS "{self.db}"')
        conn.close()
        shutil.rmtree(self._filestore(self.db), ignore_errors=True)

    # -- process -------------------------------------------------------------
    def command(self) -> list[str]:
        """The command line that starts this server (a subclass may run Odoo another way)."""
        return [sys.executable, "-m", "odoo", "-c", str(self.config_path), "-d", self.db,
                f"--db-filter=^{self.db}$", f"--http-port={self.port}", "--http-interface=127.0.0.1",
                f"--workers={self.workers}", "--max-cron-threads=0", "--log-level=warn"]

    def start(self, timeout: float = 90) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT, cwd=ROOT,
                                            start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"Odoo exited with {self.process.returncode}; see {self.log_path}")
            try:
                if requests.get(f"{self.url}/web/health", timeout=2).ok:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.3)
        raise RuntimeError(f"Odoo did not answer within {timeout}s; see {self.log_path}")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)
        self.process = None

    # -- JSON-RPC ------------------------------------------------------------
    def rpc(self, service: str, method: str, *args):
        reply = requests.post(f"{self.url}/jsonrpc", timeout=60, json={
            "jsonrpc": "2.0", "method": "call", "id": 1,
            "params": {"service": service, "method": method, "args": list(args)}}).json()
        if "error" in reply:
            raise RuntimeError(reply["error"]["data"].get("message") or reply["error"])
        return reply["result"]

    def admin(self, model: str, method: str, *args, **kwargs):
        uid = self.rpc("common", "authenticate", self.db, "admin", "admin", {})
        return self.rpc("object", "execute_kw", self.db, uid, "admin", model, method, list(args), kwargs)

    def bridge_api_key(self) -> str:
        wizard_id = self.admin("whatsapp.bridge.key", "create", {"name": "e2e"})
        self.admin("whatsapp.bridge.key", "action_generate", [wizard_id])
        return self.admin("whatsapp.bridge.key", "read", [wizard_id], ["key"])[0]["key"]
