"""Latency of the addon's `ingest_messages` JSON-RPC call, for batches of 1 and of 50 messages.

Needs a running Odoo with whatsapp_attendance (e.g. `scripts/demo.sh`) and the
bridge user's API key; by default it reads them from .run/bridge-whatsapp.env.

    python3 benchmarks/bench_ingest_rpc.py [--env-file .run/bridge-whatsapp.env] [--calls 40]

Prints `name=value` lines: median and p95 in milliseconds for each batch size.
Every message is new (unique wamid), spread over 200 customers, so each call
does the full work: find the contact, find or open the service, post in Discuss.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

import requests


def read_env(path: Path) -> dict:
    values = dict(os.environ)
    if path.is_file():
        for line in path.read_text().splitlines():
            if "=" in line and not line.lstrip().startswith("#"):
                key, value = line.split("=", 1)
                values.setdefault(key.strip(), value.strip())
    return values


class Rpc:
    def __init__(self, url: str, db: str, login: str, key: str):
        self.url, self.db, self.key = url.rstrip("/") + "/jsonrpc", db, key
        self.session = requests.Session()
        self.uid = self.call("common", "authenticate", [db, login, key, {}])
        if not self.uid:
            sys.exit("authentication failed: check WA_ODOO_LOGIN / WA_ODOO_API_KEY")

    def call(self, service: str, method: str, args: list):
        reply = self.session.post(self.url, json={"jsonrpc": "2.0", "method": "call", "id": 1,
                                                  "params": {"service": service, "method": method, "args": args}},
                                  timeout=120).json()
        if "error" in reply:
            raise RuntimeError(reply["error"]["data"]["message"])
        return reply["result"]

    def execute(self, method: str, arg):
        return self.call("object", "execute_kw", [self.db, self.uid, self.key, "whatsapp.api", method, [arg], {}])


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(pct / 100 * (len(ordered) - 1))))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--env-file", default=".run/bridge-whatsapp.env")
    parser.add_argument("--account", default=None, help="account key (default: the demo account)")
    parser.add_argument("--calls", type=int, default=40, help="calls per batch size")
    args = parser.parse_args()
    env = read_env(Path(args.env_file))
    rpc = Rpc(env["WA_ODOO_URL"], env["WA_ODOO_DB"], env.get("WA_ODOO_LOGIN", "whatsapp-bridge"),
              env["WA_ODOO_API_KEY"])
    account = args.account or env.get("WA_PHONE_NUMBER_ID") or "106540352242922"
    run = uuid.uuid4().hex[:8]
    counter = 0

    def message():
        nonlocal counter
        counter += 1
        customer = 5511900000000 + counter % 200
        return {"v": 1, "account": account, "wamid": f"wamid.bench.{run}.{counter}", "timestamp": int(time.time()),
                "from": {"wa_id": str(customer), "name": f"Bench {customer}"}, "type": "text",
                "text": f"benchmark message {counter}"}

    rpc.execute("ingest_messages", [message()])  # warm-up
    figures = {}
    for size in (1, 50):
        timings = []
        for _ in range(args.calls):
            batch = [message() for _ in range(size)]
            start = time.perf_counter()
            rpc.execute("ingest_messages", batch)
            timings.append((time.perf_counter() - start) * 1000)
        figures[f"ingest_batch{size}_median_ms"] = statistics.median(timings)
        figures[f"ingest_batch{size}_p95_ms"] = percentile(timings, 95)
        figures[f"ingest_batch{size}_per_message_ms"] = statistics.median(timings) / size
    figures["ingest_batch50_messages_per_s"] = 50 / (figures["ingest_batch50_median_ms"] / 1000)
    print(f"calls_per_size={args.calls}")
    for name, value in figures.items():
        print(f"{name}={value:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
