"""Bridge test fixtures: see ``helpers.py`` (real Redis, simulator, Odoo JSON-RPC test double)."""

import pytest

from .helpers import STOPPING, make_config, odoo, prefix, rds, sim_config, simulator  # noqa: F401


@pytest.fixture(scope="session", autouse=True)
def load_registry():
    """The bridge needs no Odoo registry: neutralise pytest-odoo's session fixture of that name here."""
    yield


@pytest.fixture(scope="session", autouse=True)
def _join_test_servers():
    yield
    while STOPPING:
        STOPPING.pop().join()
