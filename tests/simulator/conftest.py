"""Fixtures for the Cloud API simulator tests.

``receiver`` is a tiny starlette webhook endpoint that records every delivery (raw
body + headers) and can be told to fail; the simulator reaches it in-process through
``httpx.ASGITransport``.  ``make_sim`` builds a simulator app without background
delivery: webhooks leave on ``POST /_sim/flush``, so tests are deterministic.
"""

from __future__ import annotations

import warnings

import httpx
import pytest
from sim_helpers import Receiver, Sim, make_receiver
from starlette.testclient import TestClient

from whatsapp_bridge.simulator import SimConfig, create_app

warnings.filterwarnings("ignore", message=".*httpx.*starlette.testclient.*")


@pytest.fixture
def receiver() -> Receiver:
    return make_receiver()


@pytest.fixture
def make_sim(receiver):
    clients = []

    def factory(**overrides) -> Sim:
        options = {"webhook_url": "http://receiver.test/webhook", "background_delivery": False, "seed": 1234,
                       "webhook_transport": httpx.ASGITransport(app=receiver.app)}
        options.update(overrides)
        client = TestClient(create_app(SimConfig(**options)))
        client.__enter__()
        clients.append(client)
        return Sim(client)

    yield factory
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def sim(make_sim) -> Sim:
    return make_sim()


@pytest.fixture(scope="session", autouse=True)
def load_registry():
    """Override pytest-odoo's autouse fixture: these tests need no Odoo database."""
    yield
