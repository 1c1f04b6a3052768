"""A simulator of Meta's WhatsApp Cloud API: the bridge's test double and the product's demo mode.

* ``create_app(config)`` builds the starlette app (Graph endpoints, media download
  URLs, the ``/_sim`` control API and the demo chat page at ``/``); the
  ``Simulator`` behind it is ``app.state.simulator``.
* ``payloads`` has one pure builder per webhook payload type (reusable in tests).
* ``main(argv)`` runs it with uvicorn (``python -m whatsapp_bridge.simulator``).
"""

from __future__ import annotations

from .app import create_app
from .cli import build_parser, config_from_args, main
from .constants import (
    DEMO_ACCESS_TOKEN,
    DEMO_API_VERSION,
    DEMO_APP_SECRET,
    DEMO_DISPLAY_PHONE_NUMBER,
    DEMO_HOST,
    DEMO_PHONE_NUMBER_ID,
    DEMO_PORT,
    DEMO_VERIFY_TOKEN,
    DEMO_WABA_ID,
    DEMO_WEBHOOK_URL,
)
from .core import Faults, GraphError, SimConfig, Simulator

__all__ = [
    "DEMO_ACCESS_TOKEN",
    "DEMO_API_VERSION",
    "DEMO_APP_SECRET",
    "DEMO_DISPLAY_PHONE_NUMBER",
    "DEMO_HOST",
    "DEMO_PHONE_NUMBER_ID",
    "DEMO_PORT",
    "DEMO_VERIFY_TOKEN",
    "DEMO_WABA_ID",
    "DEMO_WEBHOOK_URL",
    "Faults",
    "GraphError",
    "SimConfig",
    "Simulator",
    "build_parser",
    "config_from_args",
    "create_app",
    "main",
]
