"""Shard scaling of the bridge alone: 1, 2, 4 shards against an Odoo that is not the bottleneck.

On this 2-core machine the real Odoo is CPU-bound, so ``bench_e2e_inbound.py --shards 2`` cannot show
what a second bridge machine adds when Odoo has machines of its own.  This benchmark isolates the
bridge: the Odoo TEST DOUBLE (``tests/bridge/helpers.py``) answers every ingest call after a delay of
``--call-ms`` + ``--item-ms`` per message (asleep, not on this CPU: an Odoo cluster with spare workers;
the defaults are this machine's measured costs of one JSON-RPC call and of one message posted by
Odoo's own ``message_post``), while the real bridge processes run: the ``web`` process and one
``inbound`` process per shard (``WA_SHARD_INDEX``).  ``--messages`` signed text webhooks from
``--customers`` customers are posted first (each customer's in order), then the inbound processes
start; the clock runs from the first message the double accepts until the last (the backlog's
drain rate: the webhook, measured by ``bench_webhook_ingest.py``, takes 1,000/s).  Also checked: every message accepted
once (``lost``, ``twice``), each customer's in sending order (``out_of_order`` customers).

Usage::

    python3 benchmarks/bench_shards.py                       # 1, 2 and 4 shards, 3,000 messages each
    python3 benchmarks/bench_shards.py --shards 1,2 --messages 6000

Prints ``name=value`` lines: ``shards_<n>_msg_s``, ``shards_<n>_lost``, ``shards_<n>_twice``,
``shards_<n>_out_of_order``, and ``speedup_<n>`` (against one shard, same run).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import redis  # noqa: E402

from whatsapp_bridge.simulator import DEMO_PHONE_NUMBER_ID  # noqa: E402
from whatsapp_bridge.webhook import sign  # noqa: E402


def _helpers():
    """``tests/bridge/helpers.py`` by path (a package named ``tests`` in site-packages may shadow ours)."""
    spec = importlib.util.spec_from_file_location("wa_bench_helpers", ROOT / "tests" / "bridge" / "helpers.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


H = _helpers()
SECRET = "0123456789abcdef0123456789abcdef"


def webhook(phone: str, wamid: str, ts: int) -> bytes:
    body = {"object": "whatsapp_business_account", "entry": [{"id": "102290129340398", "changes": [{
        "field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550000000", "phone_number_id": DEMO_PHONE_NUMBER_ID},
            "contacts": [{"profile": {"name": "Bench"}, "wa_id": phone}],
            "messages": [{"from": phone, "id": wamid, "timestamp": str(ts), "type": "text",
                          "text": {"body": f"bench {wamid}"}}]}}]}]}
    return json.dumps(body).encode()


def start(args: list[str], env: dict[str, str], log) -> subprocess.Popen:
    full = {k: v for k, v in os.environ.items() if not k.startswith("WA_")}
    full.update(env)
    return subprocess.Popen([sys.executable, "-m", "whatsapp_bridge", *args, "--env-file", "/nonexistent"],
                            env=full, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


async def post_all(url: str, bodies: list[tuple[str, bytes]]) -> int:
    """Each customer's webhooks in order, one after the other; customers concurrently (32 connections)."""
    failures = 0
    per_customer: dict[str, list[bytes]] = {}
    for phone, raw in bodies:
        per_customer.setdefault(phone, []).append(raw)
    async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=32)) as client:

        async def customer(raws: list[bytes]):
            nonlocal failures
            for raw in raws:
                response = await client.post(url, content=raw, headers={"X-Hub-Signature-256": sign(SECRET, raw)})
                failures += response.status_code != 200
        await asyncio.gather(*(customer(raws) for raws in per_customer.values()))
    return failures


def wait(predicate, what: str, timeout: float = 60, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what}: not in time (see .run/logs/bench_shards.log)")
        time.sleep(interval)


def _answers(port: int) -> bool:
    try:  # a bad signature gets 403 once the webhook server runs
        return httpx.post(f"http://127.0.0.1:{port}/webhook", content=b"{}", timeout=2,
                          headers={"X-Hub-Signature-256": "sha256=0"}).status_code == 403
    except httpx.HTTPError:
        return False


def run(shards: int, args, odoo, log) -> dict:
    prefix = f"benchshards{uuid.uuid4().hex[:8]}:"
    port = H.free_port()
    env = H.env_for(prefix, odoo.url, "http://127.0.0.1:9", WA_PORT=port, WA_APP_SECRET=SECRET,
                    WA_INBOUND_SHARDS=shards, WA_BATCH_SIZE=args.batch_size, WA_BATCH_LINGER_MS=args.linger_ms,
                    WA_LOG_LEVEL="WARNING", WA_ODOO_TIMEOUT=120)
    with odoo.lock:
        odoo.accepted.clear()
        odoo.calls.clear()
    procs = [start(["web"], env, log)]
    try:
        wait(lambda: _answers(port), "the webhook server")
        base = int(time.time()) - 3600
        bodies, sent = [], {}
        for i in range(args.messages):
            phone = f"55319{i % args.customers:07d}"
            wamid = f"wamid.{prefix}{i:07d}"
            bodies.append((phone, webhook(phone, wamid, base + i)))
            sent.setdefault(phone, []).append(wamid)
        # the backlog first (each customer's webhooks one after the other, customers concurrently), then
        # the consumers: the clock runs from the first message Odoo accepts to the last
        failures = asyncio.run(post_all(f"http://127.0.0.1:{port}/webhook", bodies))
        for k in range(shards):
            procs.append(start(["inbound"], dict(env, WA_SHARD_INDEX=str(k), WA_CONSUMER_NAME=f"bench{k}"), log))
        wait(lambda: odoo.items("ingest_messages"), "the first message", interval=0.005)
        t0 = time.perf_counter()
        wait(lambda: len(odoo.items("ingest_messages")) >= args.messages - failures, "the last message",
             timeout=600, interval=0.01)
        elapsed = time.perf_counter() - t0
        stored = [(m["from"]["wa_id"], m["wamid"]) for m in odoo.items("ingest_messages")]
        calls = odoo.attempts("ingest_messages")
    finally:
        for proc in procs:
            stop(proc)
        client = redis.Redis.from_url(H.REDIS_URL)
        keys = list(client.scan_iter(match=f"{prefix}*"))
        if keys:
            client.delete(*keys)
    out_of_order = sum(1 for phone, wamids in sent.items() if [w for p, w in stored if p == phone] != wamids)
    return {"msg_s": f"{len(stored) / elapsed:.1f}", "lost": args.messages - len({w for _, w in stored}),
            "twice": len(stored) - len({w for _, w in stored}), "out_of_order": out_of_order,
            "post_failures": failures, "odoo_calls": calls}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shards", default="1,2,4", help="shard counts to run, in order (1,2,4)")
    ap.add_argument("--messages", type=int, default=3000, help="messages per run (3000)")
    ap.add_argument("--customers", type=int, default=100, help="distinct customers (100)")
    ap.add_argument("--call-ms", type=float, default=20.0, help="Odoo's cost of one ingest call (20 ms)")
    ap.add_argument("--item-ms", type=float, default=11.0, help="Odoo's cost per message (11 ms: message_post)")
    ap.add_argument("--batch-size", type=int, default=100, help="WA_BATCH_SIZE (100)")
    ap.add_argument("--linger-ms", type=int, default=200, help="WA_BATCH_LINGER_MS (200)")
    args = ap.parse_args(argv)
    odoo = H.OdooDouble()
    odoo.latency = (args.call_ms / 1000, args.item_ms / 1000)
    server = H.ServerThread(odoo.app()).start()
    odoo.url = server.url
    figures: dict[str, object] = {"call_ms": args.call_ms, "item_ms": args.item_ms, "messages": args.messages,
                                  "customers": args.customers, "batch_size": args.batch_size}
    log_path = ROOT / ".run" / "logs" / "bench_shards.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with open(log_path, "ab") as log:
            for shards in (int(n) for n in args.shards.split(",")):
                result = run(shards, args, odoo, log)
                print(f"{shards} shard(s): {result}", flush=True)
                figures.update({f"shards_{shards}_{k}": v for k, v in result.items()})
    finally:
        server.stop()
    one = float(figures.get("shards_1_msg_s", 0) or 0)
    for name in [n for n in figures if n.endswith("_msg_s")]:
        shards = name.split("_")[1]
        if one and shards != "1":
            figures[f"speedup_{shards}"] = f"{float(figures[name]) / one:.2f}"
    for name, value in figures.items():
        print(f"{name}={value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
