"""Soak benchmark: a steady inbound load for minutes; the bridge's memory stays flat and Redis stays bounded.

Starts a real Odoo 18 (a database cloned from ``--template-db``, like ``bench_e2e_inbound.py``), the bridge's
``web`` process and one ``inbound`` process per shard (``--shards``), then offers ``--rate`` signed text
webhooks per second (open loop) from ``--customers`` customers for ``--minutes``.  Mixed in, like real
traffic: every ``--duplicate-every``-th webhook is sent twice (Meta redelivers), every ``--poison-every``-th
is an unreadable body (dead-lettered).  To show the bounds within a short run the soak sets the dedup keys'
lifetime to ``--dedup-ttl`` seconds (production: 3 days, ``WA_DEDUP_TTL_SECONDS``) and the dead-letter cap
to ``--dead-max`` (production: 10,000, ``WA_DEAD_LETTERS_MAX``).

Sampled every ``--sample-seconds``: the resident memory (VmRSS) of each bridge process, the length of every
stream and the number of Redis keys under the run's prefix.  Printed at the end as ``name=value`` lines:
``rss_<process>_start_mb`` (after the first sample past warm-up), ``..._end_mb``, ``..._max_mb``;
``stream_<name>_start`` / ``_end`` / ``_max``; ``keys_start`` / ``keys_end`` / ``keys_max`` and
``keys_bound`` (rate x dedup TTL + the fixed keys: the dedup keys alive at once); ``lost`` and ``twice``
(messages posted minus stored once, rows beyond one per wamid), ``dead_letters_end``.

Usage (from the repository root; a template database with the addon, e.g. ``wa_test_demo``)::

    python3 benchmarks/bench_soak.py                         # 20 msg/s for 1 minute
    python3 benchmarks/bench_soak.py --minutes 10            # the documented soak
    python3 benchmarks/bench_soak.py --minutes 5 --shards 2
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import redis  # noqa: E402

from benchmarks.bench_e2e_inbound import BenchOdoo  # noqa: E402
from tests.e2e.bridge_procs import (  # noqa: E402
    REDIS_URL,
    Bridge,
    Proc,
    configure_odoo_streams,
    delete_prefixed_keys,
    signed_headers,
    text_webhook,
    unique_prefix,
    wait_until,
)
from tests.e2e.odoo_server import RUN_DIR  # noqa: E402


def rss_mb(pid: int) -> float:
    """Resident memory of a process and its children (the web process's uvicorn runs in it)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


class Sampler(threading.Thread):
    def __init__(self, procs: dict[str, Proc], prefix: str, interval: float):
        super().__init__(daemon=True)
        self.procs, self.prefix, self.interval = procs, prefix, interval
        self.samples: list[dict] = []
        self.stop = threading.Event()
        self.client = redis.Redis.from_url(REDIS_URL)

    def sample(self) -> dict:
        row = {"t": time.monotonic()}
        for name, proc in self.procs.items():
            row[f"rss_{name}"] = rss_mb(proc.process.pid)
        keys = 0
        for key in self.client.scan_iter(match=f"{self.prefix}*", count=1000):
            keys += 1
            if self.client.type(key) == b"stream":
                row["stream_" + key.decode()[len(self.prefix):].replace(":", "_").replace("/", "of")] = \
                    self.client.xlen(key)
        row["keys"] = keys
        return row

    def run(self) -> None:
        while not self.stop.is_set():
            self.samples.append(self.sample())
            self.stop.wait(self.interval)


async def offer(url: str, rate: float, seconds: float, customers: int, tag: str, base_ts: int,
                duplicate_every: int, poison_every: int) -> tuple[set[str], int]:
    """Open loop: webhook ``i`` is due at ``t0 + i / rate``; returns (wamids posted, failed posts)."""
    posted: set[str] = set()
    failures = 0
    total = int(rate * seconds)
    async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=32)) as client:
        t0 = time.monotonic()
        tasks = []

        async def one(raw: bytes, wamid: str | None) -> None:
            nonlocal failures
            try:
                response = await client.post(url, content=raw, headers=signed_headers(raw))
                if response.status_code != 200:
                    failures += 1
                elif wamid:
                    posted.add(wamid)
            except httpx.HTTPError:
                failures += 1

        for i in range(total):
            delay = t0 + i / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            if poison_every and i % poison_every == poison_every - 1:
                tasks.append(asyncio.create_task(one(b'{"object": "whatsapp_business_account", "entry": [', None)))
                continue
            c = i % customers
            wamid = f"wamid.{tag}.{c:03d}.{i:07d}"
            raw = text_webhook(f"55319{c:07d}", wamid, base_ts + i // 10, f"soak message {i}", name=f"Soak {c}")
            tasks.append(asyncio.create_task(one(raw, wamid)))
            if duplicate_every and i % duplicate_every == 0:
                tasks.append(asyncio.create_task(one(raw, wamid)))
        await asyncio.gather(*tasks)
    return posted, failures


def stored_rows(server: BenchOdoo, like: str) -> tuple[int, int]:
    with server._pg(server.db) as conn, conn.cursor() as cr:
        cr.execute("SELECT count(DISTINCT wamid), count(*) FROM whatsapp_message WHERE wamid LIKE %s", (like + "%",))
        return cr.fetchone()


def summarize(samples: list[dict], warm: float) -> dict[str, str]:
    start_t = samples[0]["t"] + warm
    after = [s for s in samples if s["t"] >= start_t] or samples
    first, last = after[0], samples[-1]
    out = {}
    names = sorted({k for s in samples for k in s if k != "t"})
    for name in names:
        values = [s.get(name, 0) for s in after]
        unit = "_mb" if name.startswith("rss_") else ""
        fmt = (lambda v: f"{v:.1f}") if unit else (lambda v: str(int(v)))
        out[f"{name}_start{unit}"] = fmt(first.get(name, 0))
        out[f"{name}_end{unit}"] = fmt(last.get(name, 0))
        out[f"{name}_max{unit}"] = fmt(max(values))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=1.0, help="length of the load (1; documented: 10)")
    ap.add_argument("--rate", type=float, default=20.0, help="offered webhooks per second (20)")
    ap.add_argument("--customers", type=int, default=50, help="distinct customers (50)")
    ap.add_argument("--shards", type=int, default=1, help="WA_INBOUND_SHARDS, one inbound process each (1)")
    ap.add_argument("--odoo-workers", type=int, default=2, help="Odoo --workers (2)")
    ap.add_argument("--dedup-ttl", type=int, default=120, help="WA_DEDUP_TTL_SECONDS for the run (120)")
    ap.add_argument("--dead-max", type=int, default=100, help="WA_DEAD_LETTERS_MAX for the run (100)")
    ap.add_argument("--duplicate-every", type=int, default=50, help="every n-th webhook twice (50)")
    ap.add_argument("--poison-every", type=int, default=40, help="every n-th webhook unreadable (40)")
    ap.add_argument("--sample-seconds", type=float, default=5.0, help="sampling period (5)")
    ap.add_argument("--template-db", default="wa_test_demo", help="database cloned for the run (wa_test_demo)")
    args = ap.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    config = Path(os.environ.get("WA_E2E_ODOO_CONFIG", RUN_DIR / "odoo-test.conf"))
    server = BenchOdoo(config, template_db=args.template_db, workers=args.odoo_workers)
    prefix = unique_prefix("soak")
    run = prefix.rstrip(":")
    server.create_database()
    procs: dict[str, Proc] = {}
    bridge = None
    figures: dict[str, object] = {}
    try:
        server.start()
        configure_odoo_streams(server, prefix)
        bridge = Bridge(odoo_url=server.url, odoo_db=server.db, api_key=server.bridge_api_key(), prefix=prefix,
                        graph_base_url="http://127.0.0.1:9", name="soak", WA_LOG_LEVEL="WARNING",
                        WA_INBOUND_SHARDS=args.shards, WA_DEDUP_TTL_SECONDS=args.dedup_ttl,
                        WA_DEAD_LETTERS_MAX=args.dead_max, WA_ODOO_TIMEOUT=300)
        bridge.web.start()
        procs["web"] = bridge.web
        for k in range(args.shards):
            env = dict(bridge.env, WA_CONSUMER_NAME=f"soak-{run}-{k}", WA_SHARD_INDEX=str(k))
            procs[f"inbound{k}"] = Proc(f"soak-{run}-inbound{k}", ["inbound", "--env-file", "/nonexistent"],
                                        env).start()
        seconds = args.minutes * 60
        print(f"soak: {args.rate:g} msg/s for {seconds:.0f} s, {args.shards} shard(s), Odoo workers "
              f"{args.odoo_workers}, dedup TTL {args.dedup_ttl} s, dead-letter cap {args.dead_max}", flush=True)
        sampler = Sampler(procs, prefix, args.sample_seconds)
        sampler.start()
        base_ts = int(time.time()) - 3600
        posted, failures = asyncio.run(offer(bridge.webhook_url, args.rate, seconds, args.customers, run, base_ts,
                                             args.duplicate_every, args.poison_every))
        like = f"wamid.{run}."
        wait_until(lambda: stored_rows(server, like)[0] >= len(posted), 300, 0.5, "every message stored")
        time.sleep(args.sample_seconds)
        sampler.stop.set()
        sampler.join()
        distinct, rows = stored_rows(server, like)
        # the dedup keys alive at once: one per message of the last TTL, plus a few fixed keys per shard
        fixed = 6 + 4 * args.shards
        figures.update({
            "minutes": f"{args.minutes:g}", "rate_msg_s": f"{args.rate:g}", "shards": args.shards,
            "posted": len(posted), "post_failures": failures, "stored": distinct,
            "lost": len(posted) - distinct, "twice": rows - distinct,
            "keys_bound": int(args.rate * args.dedup_ttl) + fixed,
        })
        figures.update(summarize(sampler.samples, warm=min(60.0, seconds / 5)))
        figures["dead_letters_end"] = redis.Redis.from_url(REDIS_URL).xlen(f"{prefix}wa:dead")
    finally:
        for name, proc in procs.items():
            if name != "web":
                proc.stop()
        if bridge is not None:
            bridge.web.stop()
        server.stop()
        server.drop_database()
        delete_prefixed_keys(prefix)
    for name, value in figures.items():
        print(f"{name}={value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
