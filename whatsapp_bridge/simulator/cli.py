"""Command line: ``python -m whatsapp_bridge.simulator [options]`` (also ``python -m whatsapp_bridge simulator``)."""

from __future__ import annotations

import argparse
import logging

from .constants import (
    DEMO_ACCESS_TOKEN,
    DEMO_APP_SECRET,
    DEMO_DISPLAY_PHONE_NUMBER,
    DEMO_HOST,
    DEMO_PHONE_NUMBER_ID,
    DEMO_PORT,
    DEMO_VERIFY_TOKEN,
    DEMO_WABA_ID,
    DEMO_WEBHOOK_URL,
)
from .core import Faults, SimConfig


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="whatsapp_bridge.simulator",
        description="Simulator of Meta's WhatsApp Cloud API (Graph endpoints, signed webhooks, demo chat page).",
    )
    ap.add_argument("--host", default=DEMO_HOST)
    ap.add_argument("--port", type=int, default=DEMO_PORT)
    ap.add_argument("--webhook-url", default=DEMO_WEBHOOK_URL,
                    help="the bridge's webhook URL ('' = do not deliver webhooks)")
    ap.add_argument("--app-secret", default=DEMO_APP_SECRET, help="signs X-Hub-Signature-256")
    ap.add_argument("--access-token", default=DEMO_ACCESS_TOKEN, help="the Bearer token Graph calls must carry")
    ap.add_argument("--phone-number-id", default=DEMO_PHONE_NUMBER_ID)
    ap.add_argument("--display-phone-number", default=DEMO_DISPLAY_PHONE_NUMBER)
    ap.add_argument("--waba-id", default=DEMO_WABA_ID)
    ap.add_argument("--verify-token", default=DEMO_VERIFY_TOKEN)
    ap.add_argument("--verify", action="store_true",
                    help="at start, do Meta's GET verification handshake against the webhook URL")
    ap.add_argument("--auto-read", type=float, default=None, metavar="SECONDS",
                    help="customers read business messages this many (simulated) seconds after delivery")
    ap.add_argument("--reengagement", choices=("webhook", "sync"), default="webhook",
                    help="131047 outside the 24 h window as a failed status webhook (Meta) or a sync HTTP 400")
    ap.add_argument("--template-review", choices=("approve", "manual"), default="approve",
                    help="submitted templates are approved at once (demo), or wait for "
                         "POST /_sim/templates/{name}/approve|reject")
    ap.add_argument("--no-bsuid", action="store_true", help="leave business-scoped user ids out of webhooks")
    ap.add_argument("--seed", type=int, default=None, help="random seed for fault injection")
    ap.add_argument("--fault", action="append", default=[], metavar="NAME=VALUE",
                    help="inject a fault, e.g. --fault throttle_rate=0.1 (repeatable; see GET /_sim/faults)")
    ap.add_argument("--log-level", default="info")
    return ap


def config_from_args(args: argparse.Namespace) -> SimConfig:
    faults = Faults()
    values = {}
    for item in args.fault:
        name, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"--fault {item!r}: expected NAME=VALUE")
        values[name.strip()] = value.strip()
    faults.update(values)
    return SimConfig(
        webhook_url=args.webhook_url or None,
        app_secret=args.app_secret,
        access_token=args.access_token,
        verify_token=args.verify_token,
        phone_number_id=args.phone_number_id,
        display_phone_number=args.display_phone_number,
        waba_id=args.waba_id,
        verify_on_start=args.verify,
        auto_read_seconds=args.auto_read,
        reengagement_mode=args.reengagement,
        template_review=args.template_review,
        bsuid=not args.no_bsuid,
        seed=args.seed,
        faults=faults,
    )


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        config = config_from_args(args)
    except ValueError as exc:
        parser.error(str(exc))
    import uvicorn

    from .app import create_app

    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    print(f"WhatsApp Cloud API simulator on http://{args.host}:{args.port}/ "
          f"(phone_number_id {config.phone_number_id}, webhooks -> {config.webhook_url or 'nowhere'})", flush=True)
    uvicorn.run(create_app(config), host=args.host, port=args.port, log_level=args.log_level.lower())
    return 0
