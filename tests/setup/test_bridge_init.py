"""docker/bridge_init.py (compose's one-shot ``bridge-init`` service), outside Docker, against a real Odoo 18.

The Odoo server and its database come from the end-to-end helpers (a clone of ``wa_test_demo``
that ``scripts/test.sh`` installs); the script runs with this machine's Odoo, as it runs with
the image's in compose, and its key must be one the bridge can really use.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.odoo_server import RUN_DIR, OdooServer
from whatsapp_bridge.config import load_config, parse_env_file
from whatsapp_bridge.odoo_client import OdooClient

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "docker" / "bridge_init.py"


@pytest.fixture(scope="module")
def odoo():
    config = Path(os.environ.get("WA_E2E_ODOO_CONFIG", RUN_DIR / "odoo-test.conf"))
    if not config.is_file():
        pytest.fail(f"{config} not found: run these tests through scripts/test.sh, which installs Odoo's test "
                    "database and writes this config")
    server = OdooServer(config)
    server.create_database()
    try:
        server.start()
        yield server
    finally:
        server.stop()
        server.drop_database()


def run_init(odoo: OdooServer, out: Path, *extra: str, db: str | None = None, timeout: float = 120):
    command = [sys.executable, str(SCRIPT), "--db", db or odoo.db, "--out", str(out), "--odoo-url", odoo.url,
               *extra, "--", "-c", str(odoo.config_path), "--log-level=warn"]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=ROOT, check=False)


def authenticates(odoo: OdooServer, login: str, key: str) -> bool:
    return bool(odoo.rpc("common", "authenticate", odoo.db, login, key, {}))


@pytest.fixture(scope="module")
def first(odoo, tmp_path_factory):
    out = tmp_path_factory.mktemp("wa") / "bridge.env"
    done = run_init(odoo, out)
    assert done.returncode == 0, done.stderr
    return out, parse_env_file(out), done


def test_generates_a_key_the_bridge_uses(odoo, first):
    out, values, done = first
    assert "generated a new API key" in done.stderr
    assert values["WA_ODOO_DB"] == odoo.db and values["WA_ODOO_LOGIN"] == "whatsapp-bridge"
    assert stat.S_IMODE(out.stat().st_mode) == 0o600, "the key is readable by its owner only"
    assert authenticates(odoo, "whatsapp-bridge", values["WA_ODOO_API_KEY"])
    # exactly how compose's bridge reads it: its environment plus --env-file
    config = load_config(environ={"WA_ODOO_URL": odoo.url, "WA_ACCESS_TOKEN": ""}, env_file=out)
    ok, detail = OdooClient(config).check()
    assert ok, detail


def test_a_second_run_reuses_the_key(odoo, first):
    out, values, _ = first
    before = (out.read_text(), out.stat().st_mtime_ns)
    done = run_init(odoo, out)
    assert done.returncode == 0, done.stderr
    assert "reusing the API key" in done.stderr
    assert (out.read_text(), out.stat().st_mtime_ns) == before


def test_a_key_odoo_refuses_is_replaced_and_the_old_ones_revoked(odoo, first, tmp_path):
    _, values, _ = first
    old_key = values["WA_ODOO_API_KEY"]
    out = tmp_path / "bridge.env"
    out.write_text(f"WA_ODOO_DB={odoo.db}\nWA_ODOO_LOGIN=whatsapp-bridge\nWA_ODOO_API_KEY=not-a-key-odoo-knows\n")
    done = run_init(odoo, out)
    assert done.returncode == 0, done.stderr
    new_key = parse_env_file(out)["WA_ODOO_API_KEY"]
    assert new_key not in (old_key, "not-a-key-odoo-knows")
    assert authenticates(odoo, "whatsapp-bridge", new_key)
    assert not authenticates(odoo, "whatsapp-bridge", old_key), "the key it made before is revoked"


def test_it_waits_for_the_addon_then_names_what_is_missing(odoo, tmp_path):
    done = run_init(odoo, tmp_path / "bridge.env", "--timeout", "3", db="wa_no_such_database")
    assert done.returncode == 3, done.stderr
    assert "did not get ready within 3s" in done.stderr and "wa_no_such_database" in done.stderr
    assert not (tmp_path / "bridge.env").exists()


def test_bad_arguments_are_named(odoo, tmp_path):
    done = run_init(odoo, tmp_path / "missing-folder" / "bridge.env", "--timeout", "0")
    assert done.returncode == 2
    assert "missing-folder does not exist" in done.stderr and "--timeout must be positive" in done.stderr
