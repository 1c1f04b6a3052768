"""Fixtures of the end-to-end tests: a real Odoo server (own database), Redis, the bridge, the simulator."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from .odoo_server import RUN_DIR, OdooServer


@pytest.fixture(scope="session")
def odoo_server():
    config = Path(os.environ.get("WA_E2E_ODOO_CONFIG", RUN_DIR / "odoo-test.conf"))
    if not config.is_file():
        pytest.fail(f"{config} not found: run the end-to-end tests through scripts/test.sh, which installs Odoo's "
                    "test database and writes this config")
    # the database cloned for the run: scripts/test.sh's demo database unless told otherwise
    server = OdooServer(config, template_db=os.environ.get("WA_E2E_TEMPLATE_DB", "wa_test_demo"))
    server.create_database()
    try:
        server.start()
        yield server
    finally:
        server.stop()
        server.drop_database()


# -- the bridge and the simulator as processes (see bridge_procs.py) ----------------------------------------------

@pytest.fixture(scope="session")
def bridge_api_key(odoo_server):
    """An API key of the bridge's technical user (login ``whatsapp-bridge``) on the e2e database."""
    return odoo_server.bridge_api_key()


@pytest.fixture(scope="module")
def stack(odoo_server, bridge_api_key):
    """Simulator -> bridge (web + inbound + outbound processes) -> the real Odoo, on a stream prefix of its own."""
    from .bridge_procs import Stack

    running = Stack(odoo_server, bridge_api_key, WA_BATCH_LINGER_MS=50, WA_BACKOFF_MAX_SECONDS=2,
                    WA_STATUS_UNKNOWN_DELAY_SECONDS=1)
    try:
        running.start()
        yield running
    finally:
        running.close()


@pytest.fixture(scope="session", autouse=True)
def _quiet_http_client_logs():
    """httpx logs every request at INFO: thousands of lines in the fault test."""
    import logging

    logging.getLogger("httpx").setLevel(logging.WARNING)
