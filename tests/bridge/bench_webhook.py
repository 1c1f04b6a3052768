"""Webhook throughput/latency benchmark (not a pytest test): ``python3 -m tests.bridge.bench_webhook``.

Starts ``python -m whatsapp_bridge web`` on a random port with its own stream prefix, sends
N signed webhook bodies with C concurrent connections (httpx, HTTP/1.1 keep-alive) and prints
throughput and latency percentiles.  The load generator runs on the same machine, so the
numbers are a lower bound.  Deletes its stream afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import redis

from whatsapp_bridge.webhook import sign

from .helpers import free_port, load_sample

ROOT = Path(__file__).resolve().parents[2]
SECRET = "0123456789abcdef0123456789abcdef"


async def fire(url: str, bodies: list[bytes], concurrency: int) -> list[float]:
    latencies: list[float] = []
    queue: asyncio.Queue = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=10) as client:

        async def worker():
            while not queue.empty():
                body = queue.get_nowait()
                start = time.perf_counter()
                response = await client.post(url, content=body, headers={"X-Hub-Signature-256": sign(SECRET, body)})
                latencies.append(time.perf_counter() - start)
                assert response.status_code == 200, response.text

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", type=int, default=5000)
    parser.add_argument("-c", type=int, default=32)
    args = parser.parse_args()
    prefix = f"bench{uuid.uuid4().hex[:8]}:"
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("WA_")}
    env.update(
        {
            "WA_ODOO_URL": "http://127.0.0.1:9",
            "WA_ODOO_DB": "x",
            "WA_ODOO_LOGIN": "x",
            "WA_ODOO_API_KEY": "x",
            "WA_ACCESS_TOKEN": "x",
            "WA_APP_SECRET": SECRET,
            "WA_VERIFY_TOKEN": "x",
            "WA_PHONE_NUMBER_ID": "106540352242922",
            "WA_STREAM_PREFIX": prefix,
            "WA_PORT": str(port),
            "WA_LOG_LEVEL": "WARNING",
        }
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "whatsapp_bridge", "web", "--env-file", "/nonexistent"], env=env, cwd=ROOT
    )
    rds = redis.Redis()
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/webhook", timeout=1)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        sample = load_sample("text")
        bodies = []
        for i in range(args.n):
            sample["entry"][0]["changes"][0]["value"]["messages"][0]["id"] = f"wamid.bench{i}"
            bodies.append(json.dumps(sample).encode())
        cpu_before = _cpu_seconds(proc.pid)
        start = time.perf_counter()
        latencies = asyncio.run(fire(f"http://127.0.0.1:{port}/webhook", bodies, args.c))
        elapsed = time.perf_counter() - start
        server_cpu = _cpu_seconds(proc.pid) - cpu_before
        latencies.sort()

        def pct(p):
            return latencies[min(len(latencies) - 1, int(len(latencies) * p))] * 1000

        stored = rds.xlen(f"{prefix}wa:in")
        print(
            f"{args.n} webhooks, concurrency {args.c}: {args.n / elapsed:.0f} req/s, "
            f"p50 {pct(0.5):.1f} ms, p95 {pct(0.95):.1f} ms, p99 {pct(0.99):.1f} ms, "
            f"max {latencies[-1] * 1000:.1f} ms; "
            f"stored {stored}; the server used {server_cpu:.2f} CPU s "
            f"(= {args.n / max(server_cpu, 1e-9):.0f} webhooks per CPU second)"
        )
        return 0 if stored == args.n else 1
    finally:
        proc.terminate()
        proc.wait(10)
        rds.delete(f"{prefix}wa:in")


if __name__ == "__main__":
    sys.exit(main())
