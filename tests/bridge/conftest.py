"""Bridge test fixtures: see ``helpers.py`` (real Redis, simulator, Odoo JSON-RPC test double)."""

import os

import pytest

from .helpers import STOPPING, make_config, odoo, prefix, rds, sim_config, simulator  # noqa: F401

# Importing neonize loads whatsmeow's Go runtime into the process (ctypes.CDLL): beside Odoo's
# HTTP server threads and Chromium in one pytest process, every browser test after it failed
# ("odoo.isReady was always falsy", then MemoryError). Its adapter's tests run in a process of
# their own: scripts/test.sh sets WA_NEONIZE_TESTS=1 for that second run.
collect_ignore = [] if os.environ.get("WA_NEONIZE_TESTS") == "1" else ["test_neonize_driver.py"]


@pytest.fixture(scope="session", autouse=True)
def load_registry():
    """The bridge needs no Odoo registry: neutralise pytest-odoo's session fixture of that name here."""
    yield


@pytest.fixture(scope="session", autouse=True)
def _join_test_servers():
    yield
    while STOPPING:
        STOPPING.pop().join()
