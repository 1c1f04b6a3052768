"""Does the inbound worker keep anything per message?  Python's own allocation tracer says.

``bench_soak.py`` shows each inbound process's RSS over minutes (+0.4 MB in 4 minutes, +0.8 MB in
9): flat within the allocator's noise, or a slow leak?  RSS cannot tell.  This benchmark runs the
real ``InboundWorker`` in this process (real Redis, the Odoo TEST DOUBLE of ``tests/bridge/helpers.py``
answering at once, the simulator for media), stores ``--warmup`` messages from ``--customers``
customers, takes a ``tracemalloc`` snapshot, stores ``--messages`` more in rounds of 2,000, and
compares: what the worker still holds after the second part is what it keeps per message.  The
double's own records are cleared after every round and not counted.

Usage::

    python3 benchmarks/bench_inbound_memory.py                   # 20,000 messages after 3,000 of warm-up
    python3 benchmarks/bench_inbound_memory.py --messages 100000

Prints ``name=value`` lines: ``bridge_growth_kb`` (allocations made by ``whatsapp_bridge`` code still
alive at the end, net), ``bridge_growth_bytes_per_message``, ``all_growth_kb`` (every allocation of the
process, the benchmark's own included) and the largest sites (``top<N>``).
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import threading
import time
import tracemalloc
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import redis  # noqa: E402

from tests.bridge.helpers import REDIS_URL, OdooDouble, ServerThread, env_for, load_sample  # noqa: E402
from whatsapp_bridge.config import load_config  # noqa: E402
from whatsapp_bridge.inbound import InboundWorker  # noqa: E402
from whatsapp_bridge.odoo_client import OdooClient  # noqa: E402
from whatsapp_bridge.providers.cloud_api import CloudApiProvider  # noqa: E402
from whatsapp_bridge.simulator import SimConfig  # noqa: E402
from whatsapp_bridge.simulator import create_app as create_simulator_app  # noqa: E402

BRIDGE = str(ROOT / "whatsapp_bridge")


def text_body(template: dict, wamid: str, text: str, ts: int, wa_id: str) -> str:
    value = template["entry"][0]["changes"][0]["value"]
    value["contacts"] = [{"profile": {"name": f"Customer {wa_id[-3:]}"}, "wa_id": wa_id}]
    value["messages"][0].update(id=wamid, timestamp=str(ts), **{"from": wa_id})
    value["messages"][0]["text"]["body"] = text
    return json.dumps(template)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--messages", type=int, default=20000, help="messages measured after the warm-up (20,000)")
    ap.add_argument("--warmup", type=int, default=3000, help="messages before the first snapshot (3,000)")
    ap.add_argument("--customers", type=int, default=50, help="distinct customers (50)")
    ap.add_argument("--top", type=int, default=3, help="largest allocation sites printed (3)")
    args = ap.parse_args(argv)

    double = OdooDouble()
    odoo = ServerThread(double.app()).start()
    double.url = odoo.url
    simulator = ServerThread(create_simulator_app(SimConfig(webhook_url=None, background_delivery=False,
                                                            seed=1))).start()
    prefix = f"benchmem{uuid.uuid4().hex[:8]}:"
    config = load_config(env_for(prefix, odoo.url, simulator.url, WA_BATCH_SIZE=250), env_file=None)
    client = redis.Redis.from_url(REDIS_URL)
    stop = threading.Event()
    worker = InboundWorker(config, redis.Redis.from_url(REDIS_URL), OdooClient(config), CloudApiProvider(config),
                           stop)
    worker.setup()
    thread = threading.Thread(target=worker.run, name="inbound", daemon=True)
    thread.start()
    template = load_sample("text")
    sent = 0

    def store(count: int) -> None:
        nonlocal sent
        pipe = client.pipeline(transaction=False)
        for _ in range(count):
            wa_id = f"55119{sent % args.customers:08d}"
            pipe.xadd(f"{prefix}wa:in", {"payload": text_body(template, f"wamid.M{prefix}{sent}", f"message {sent}",
                                                              1767225600 + sent, wa_id)})
            sent += 1
        pipe.execute()
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            groups = client.xinfo_groups(f"{prefix}wa:in")
            if groups and groups[0]["pending"] == 0 and groups[0]["lag"] == 0:
                break
            time.sleep(0.05)
        else:
            raise RuntimeError("the worker did not drain the stream in 5 minutes")
        with double.lock:  # the double's records are the benchmark's, not the worker's
            double.calls.clear()
            double.accepted.clear()
            double.request_sizes.clear()

    try:
        tracemalloc.start(25)
        store(args.warmup)
        gc.collect()
        before = tracemalloc.take_snapshot()
        for start in range(0, args.messages, 2000):
            store(min(2000, args.messages - start))
        gc.collect()
        after = tracemalloc.take_snapshot()
        own = [tracemalloc.Filter(False, tracemalloc.__file__)]
        stats = after.filter_traces(own).compare_to(before.filter_traces(own), "traceback")
        bridge = [s for s in stats if any(frame.filename.startswith(BRIDGE) for frame in s.traceback)]
        growth = sum(s.size_diff for s in bridge)
        print(f"messages={args.messages}")
        print(f"warmup={args.warmup}")
        print(f"customers={args.customers}")
        print(f"bridge_growth_kb={growth / 1024:.1f}")
        print(f"bridge_growth_bytes_per_message={growth / args.messages:.2f}")
        print(f"all_growth_kb={sum(s.size_diff for s in stats) / 1024:.1f}")
        for rank, stat in enumerate(sorted(bridge, key=lambda s: -s.size_diff)[:args.top], 1):
            frame = next(f for f in reversed(stat.traceback) if f.filename.startswith(BRIDGE))
            print(f"top{rank}={stat.size_diff / 1024:.1f} KB at {Path(frame.filename).name}:{frame.lineno}")
    finally:
        stop.set()
        thread.join(10)
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        if keys:
            client.delete(*keys)
        odoo.stop(wait=False)
        simulator.stop(wait=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
