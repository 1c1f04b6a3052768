"""Fixed demo values: the simulator's defaults, shared with the bridge's demo mode."""

from __future__ import annotations

DEMO_ACCESS_TOKEN = "EAAsimulatorDEMOaccessTOKEN0000000000000000"
DEMO_APP_SECRET = "simulator-demo-app-secret"
DEMO_VERIFY_TOKEN = "simulator-demo-verify-token"
DEMO_PHONE_NUMBER_ID = "106540352242922"
DEMO_DISPLAY_PHONE_NUMBER = "15550783881"
DEMO_WABA_ID = "102290129340398"
DEMO_API_VERSION = "v23.0"
DEMO_HOST = "127.0.0.1"
DEMO_PORT = 8899
DEMO_WEBHOOK_URL = "http://127.0.0.1:8080/webhook"
