"""End-to-end inbound benchmark: signed webhooks -> bridge web -> Redis -> inbound worker(s) -> a real Odoo 18.

Starts a real Odoo server (``tests/e2e/odoo_server.py``: a private database cloned from
``wa_test_demo``, which ``scripts/test.sh`` installs; ``--odoo-workers`` 0 = threaded, N = prefork
with N HTTP workers), the bridge's ``web`` process and ``--consumers`` inbound worker processes
(``python -m whatsapp_bridge inbound``, each its own consumer of the ``wa:in`` group), on a stream
prefix of their own.  Then:

(a) throughput: ``--messages`` text webhooks from ``--customers`` customers are posted as fast as
    the webhook takes them; the clock runs from the first post until the last message is
    committed in Odoo (counted in PostgreSQL).  ``lost`` = posted - stored once the stream is
    drained (must be 0); ``twice`` = stored rows beyond one per wamid (must be 0).
(b) latency: ``--latency-rate`` webhooks per second (open loop) for ``--latency-seconds``; the
    latency of a message runs from the moment its webhook was posted until its
    ``whatsapp_message`` row is visible (committed) in PostgreSQL, polled every 10 ms.

Usage (from the repository root, after ``bash scripts/test.sh`` installed the test databases)::

    python3 benchmarks/bench_e2e_inbound.py --quick
    python3 benchmarks/bench_e2e_inbound.py --odoo-workers 2 --consumers 1 --messages 3000
    python3 benchmarks/bench_e2e_inbound.py --odoo-workers 0 --batch-size 50
    python3 benchmarks/bench_e2e_inbound.py --compare-shards 1,2 --lanes 1   # (c) below

(c) ``--compare-shards 1,2``: instead of (a) and (b), alternating rounds on the same Odoo server
    (``--rounds`` of each shard count, the order reversed every other round so a drift of the
    machine's load hits both alike).  A round starts the webhook with that shard count, stores a
    warm-up, posts ``--messages`` webhooks with the consumers stopped, then starts one inbound
    process per shard; its rate is the steady one (the 10th to the 90th percentile of the moments
    the messages became visible in PostgreSQL), so process start-up is not counted.  Prints each
    round, the median per shard count and the ratio of each to the first, measured in one run.

Prints ``name=value`` lines at the end.  Note: with more than one consumer the bridge no longer
keeps per-customer order (two consumers may write two batches of one customer concurrently):
``--consumers`` > 1 measures what parallel consumers would give, it is not a supported setting.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import signal
import statistics
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.raw_http import post_raw  # noqa: E402
from tests.e2e.bridge_procs import (  # noqa: E402
    Bridge,
    Proc,
    configure_odoo_streams,
    delete_prefixed_keys,
    signed_headers,
    stream_backlog,
    text_webhook,
    unique_prefix,
    wait_until,
)
from tests.e2e.odoo_server import RUN_DIR, OdooServer, free_port  # noqa: E402


class BenchOdoo(OdooServer):
    """``OdooServer`` started through this script (``--run-odoo``), with a free gevent port.

    In prefork mode (``--workers`` > 0) Odoo re-executes ``sys.argv[0] gevent ...`` to start its bus
    (longpolling) process.  Under ``python -m odoo`` that is ``odoo/__main__.py``, which cannot run as a
    script, and on this machine ``odoo-bin gevent`` fails too (gevent's plugin loader: ``zope.interface``
    distribution not found); either way Odoo respawns it in a loop that burns a CPU for the whole run.
    Started through this script, the ``gevent`` process just waits: the benchmark needs no bus.
    """

    def command(self) -> list[str]:
        return [sys.executable, str(Path(__file__).resolve()), "--run-odoo", "-c", str(self.config_path),
                "-d", self.db, f"--db-filter=^{self.db}$", f"--http-port={self.port}", "--http-interface=127.0.0.1",
                f"--gevent-port={free_port()}", f"--workers={self.workers}", "--max-cron-threads=0",
                "--log-level=warn", "--limit-time-real=600", "--limit-time-cpu=600",
                "--limit-memory-soft=4294967296", "--limit-memory-hard=6442450944"]

    def start(self, timeout: float = 120) -> None:
        super().start(timeout)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


class Watcher(threading.Thread):
    """Polls PostgreSQL for committed inbound rows of this run; records when each wamid became visible."""

    def __init__(self, server: OdooServer, like: str, interval: float = 0.01):
        super().__init__(name="watcher", daemon=True)
        self.server = server
        self.like = like
        self.interval = interval
        self.seen: dict[str, float] = {}
        self.rows = 0
        self.stop = threading.Event()

    def run(self) -> None:
        conn = self.server._pg(self.server.db)
        conn.autocommit = True
        # not "id > last id seen": rows do not become visible in id order (ids are drawn at insert time, and
        # the rows of a later-committing transaction can have lower ids), so every poll re-reads the run's rows
        with conn.cursor() as cr:
            while not self.stop.is_set():
                cr.execute("SELECT wamid FROM whatsapp_message WHERE direction = 'inbound' AND wamid LIKE %s",
                           [self.like + "%"])
                now = time.perf_counter()
                rows = cr.fetchall()
                self.rows = len(rows)
                for (wamid,) in rows:
                    self.seen.setdefault(wamid, now)
                self.stop.wait(self.interval)
        conn.close()


async def post_all(url: str, bodies: list[tuple[str, bytes]], rate: float | None, connections: int = 32):
    """Post ``bodies`` (signed like Meta's); at ``rate`` per second (open loop) or as fast as possible.
    Returns ``({wamid: post time}, failures)``.  The client is ``raw_http.post_raw``: ``httpx`` would
    take 2-3 ms of CPU per request from the very processes measured on this 2-core machine."""
    _t0, results = await post_raw(url, [(raw, signed_headers(raw)) for _wamid, raw in bodies], rate, connections)
    posted = {wamid: sent for (wamid, _raw), (sent, _done, status) in zip(bodies, results, strict=True)
              if status == 200}
    return posted, len(bodies) - len(posted)


def _post_in_child(url: str, bodies: list[tuple[str, bytes]], rate: float | None, answer) -> None:
    answer.put(asyncio.run(post_all(url, bodies, rate)))


def post_from_process(url: str, bodies: list[tuple[str, bytes]], rate: float | None):
    """``post_all`` in a process of its own: the client then does not share this process's GIL with
    the ``Watcher`` thread (which re-reads the run's rows every few milliseconds), so what limits
    the posting rate is the machine, not the benchmark.  ``time.perf_counter`` is the system's
    monotonic clock on Linux, so the child's post times compare with the watcher's."""
    context = multiprocessing.get_context("spawn")
    answer = context.Queue()
    child = context.Process(target=_post_in_child, args=(url, bodies, rate, answer), name="poster")
    child.start()
    result = answer.get()
    child.join()
    return result


def build(tag: str, count: int, customers: int, base_ts: int) -> list[tuple[str, bytes]]:
    out = []
    for i in range(count):
        c = i % customers
        wamid = f"wamid.{tag}.{c:03d}.{i:06d}"
        out.append((wamid, text_webhook(f"55319{c:07d}", wamid, base_ts + i, f"benchmark {tag} message {i}",
                                        name=f"Bench {c}")))
    return out


def drained(prefix: str, shards: int) -> bool:
    """Every shard's stream read and acked (``stream_backlog`` of each ``wa:in`` shard)."""
    for k in range(shards):
        backlog = stream_backlog(prefix) if shards == 1 else _shard_backlog(prefix, k, shards)
        if backlog["pending"] or backlog["lag"] != 0:
            return False
    return True


def _shard_backlog(prefix: str, index: int, shards: int) -> dict:
    import redis

    client = redis.Redis.from_url(os.environ.get("WA_REDIS_URL", "redis://127.0.0.1:6379/0"))
    try:
        info = {"pending": 0, "lag": None}
        try:
            for group in client.xinfo_groups(f"{prefix}wa:in:{index}/{shards}"):
                info.update(pending=group.get("pending", 0), lag=group.get("lag"))
        except redis.ResponseError:
            pass
        return info
    finally:
        client.close()


def steady_rate(times: list[float]) -> float:
    """Messages per second between the 10th and the 90th percentile of the visibility times."""
    n = len(times)
    lo, hi = int(n * 0.1), int(n * 0.9) - 1
    return (hi - lo) / (times[hi] - times[lo]) if n and times[hi] > times[lo] else float("nan")


def start_inbound(bridge: Bridge, name: str, count: int, shards: int) -> list[Proc]:
    """``count`` inbound processes of ``bridge`` (with several shards, process ``k`` serves shard ``k % shards``)."""
    procs = []
    for k in range(count):
        env = dict(bridge.env, WA_CONSUMER_NAME=f"{name}-{k}")
        if shards > 1:
            env["WA_SHARD_INDEX"] = str(k % shards)
        procs.append(Proc(f"{name}-inbound{k}", ["inbound", "--env-file", "/nonexistent"], env).start())
    return procs


def warm_up(server: OdooServer, url: str, tag: str, customers: int, base_ts: int) -> None:
    """One message per customer, stored: their partners, services and channels exist before the clock starts."""
    warm = build(f"W{tag}", customers, customers, base_ts)
    watcher = Watcher(server, f"wamid.W{tag}.")
    watcher.start()
    asyncio.run(post_all(url, warm, None))
    wait_until(lambda: len(watcher.seen) >= len(warm), 300, 0.2, "warm-up stored")
    watcher.stop.set()


def shard_round(server: OdooServer, key: str, args, shards: int, tag: str, base_ts: int) -> dict:
    """One round of (c): a fresh prefix, the webhook and one inbound process per shard."""
    prefix = unique_prefix(f"cmp{shards}")
    run = prefix.rstrip(":")
    bridge = Bridge(odoo_url=server.url, odoo_db=server.db, api_key=key, prefix=prefix,
                    graph_base_url="http://127.0.0.1:9", name=f"cmp{shards}", WA_BATCH_SIZE=args.batch_size,
                    WA_BATCH_LINGER_MS=args.linger_ms, WA_LOG_LEVEL="WARNING", WA_ODOO_TIMEOUT=300,
                    WA_INBOUND_SHARDS=shards, WA_INBOUND_LANES=args.lanes)
    procs: list[Proc] = []

    def start_consumers() -> None:
        procs.extend(start_inbound(bridge, run, shards, shards))

    def stop_consumers() -> None:
        while procs:
            procs.pop().stop()

    try:
        bridge.web.start()
        start_consumers()
        warm_up(server, bridge.webhook_url, tag, args.customers, base_ts)
        stop_consumers()
        bodies = build(f"T{tag}", args.messages, args.customers, base_ts + 100)
        posted, failures = post_from_process(bridge.webhook_url, bodies, None)
        watcher = Watcher(server, f"wamid.T{tag}.", interval=0.02)
        watcher.start()
        start_consumers()
        wait_until(lambda: drained(prefix, shards), 3600, 0.2, "the streams drained")
        time.sleep(0.3)
        watcher.stop.set()
        watcher.join()
        times = sorted(watcher.seen.values())
        return {"rate": steady_rate(times), "posted": len(posted), "failures": failures,
                "lost": len(posted) - len(times), "twice": watcher.rows - len(times)}
    finally:
        stop_consumers()
        bridge.web.stop()
        delete_prefixed_keys(prefix)


def compare_shards(server: OdooServer, args) -> dict[str, object]:
    counts = [int(x) for x in args.compare_shards.split(",")]
    key = server.bridge_api_key()
    base_ts = int(time.time()) - 7200
    rates: dict[int, list[float]] = {count: [] for count in counts}
    lost = twice = failures = 0
    figures: dict[str, object] = {"odoo_workers": args.odoo_workers, "lanes": args.lanes,
                                  "batch_size": args.batch_size, "messages_per_round": args.messages,
                                  "customers": args.customers, "rounds": args.rounds}
    for number in range(args.rounds):
        for count in (counts if number % 2 == 0 else counts[::-1]):
            result = shard_round(server, key, args, count, f"{number}s{count}", base_ts + number * 10 * args.messages)
            rates[count].append(result["rate"])
            lost, twice, failures = lost + result["lost"], twice + result["twice"], failures + result["failures"]
            print(f"round {number + 1}: {count} shard(s) {result['rate']:.1f} msg/s "
                  f"(lost {result['lost']}, twice {result['twice']})", flush=True)
    medians = {count: statistics.median(values) for count, values in rates.items()}
    for count in counts:
        figures[f"shards{count}_rounds_msg_s"] = "/".join(f"{value:.1f}" for value in rates[count])
        figures[f"shards{count}_median_msg_s"] = f"{medians[count]:.1f}"
    for count in counts[1:]:
        figures[f"shards{count}_over_{counts[0]}"] = f"{medians[count] / medians[counts[0]]:.2f}"
    figures.update(post_failures=failures, lost=lost, twice=twice, load_average=f"{os.getloadavg()[0]:.1f}")
    return figures


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--messages", type=int, default=3000, help="(a) messages for the throughput run (3000)")
    ap.add_argument("--customers", type=int, default=50, help="distinct customers (50)")
    ap.add_argument("--odoo-workers", type=int, default=2, help="Odoo --workers (0 = threaded; default 2)")
    ap.add_argument("--consumers", type=int, default=1, help="inbound worker processes (default 1)")
    ap.add_argument("--batch-size", type=int, default=250, help="WA_BATCH_SIZE (250, the bridge's default)")
    ap.add_argument("--linger-ms", type=int, default=50, help="WA_BATCH_LINGER_MS (50, the bridge's default)")
    ap.add_argument("--latency-rate", type=float, default=20.0, help="(b) offered webhooks per second (20)")
    ap.add_argument("--latency-seconds", type=float, default=30.0, help="(b) length of the latency run (30 s)")
    ap.add_argument("--quick", action="store_true", help="short run: 600 messages, 10 s of latency")
    ap.add_argument("--preload", action="store_true",
                    help="(a) post every webhook first, then start the inbound consumer(s): the throughput of "
                         "Redis -> bridge -> Odoo alone, not limited by how fast this client posts on a busy machine")
    ap.add_argument("--shards", type=int, default=1,
                    help="WA_INBOUND_SHARDS (1); with N > 1, one inbound process per shard (WA_SHARD_INDEX)")
    ap.add_argument("--lanes", type=int, default=2, help="WA_INBOUND_LANES per consumer (2)")
    ap.add_argument("--compare-shards", metavar="N,M",
                    help="(c) instead of (a)/(b): alternating rounds with these shard counts, e.g. 1,2")
    ap.add_argument("--rounds", type=int, default=3, help="(c) rounds of each shard count (3)")
    ap.add_argument("--template-db", default=os.environ.get("WA_E2E_TEMPLATE_DB", "wa_test_demo"),
                    help="database cloned for the run (WA_E2E_TEMPLATE_DB, else wa_test_demo)")
    args = ap.parse_args(argv)
    if args.quick:
        args.messages, args.latency_seconds = 600, 10.0
    # SIGTERM (timeout, CI) must still stop the processes and drop the database: make it an exception
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    config = Path(os.environ.get("WA_E2E_ODOO_CONFIG", RUN_DIR / "odoo-test.conf"))
    server = BenchOdoo(config, template_db=args.template_db, workers=args.odoo_workers)
    prefix = unique_prefix("benche2e")
    run = prefix.rstrip(":")
    figures: dict[str, object] = {}
    server.create_database()
    procs: list[Proc] = []
    bridge = None
    try:
        server.start()
        if args.compare_shards:
            figures = compare_shards(server, args)
            for name, value in figures.items():
                print(f"{name}={value}")
            return 0
        configure_odoo_streams(server, prefix)
        key = server.bridge_api_key()
        bridge = Bridge(odoo_url=server.url, odoo_db=server.db, api_key=key, prefix=prefix,
                        graph_base_url="http://127.0.0.1:9", name="bench", WA_BATCH_SIZE=args.batch_size,
                        WA_BATCH_LINGER_MS=args.linger_ms, WA_LOG_LEVEL="INFO", WA_ODOO_TIMEOUT=300,
                        WA_INBOUND_SHARDS=args.shards, WA_INBOUND_LANES=args.lanes)
        bridge.web.start()
        def start_consumers() -> None:
            procs.extend(start_inbound(bridge, f"bench-{run}", max(args.consumers, args.shards), args.shards))

        start_consumers()
        print(f"Odoo {server.url} (workers={args.odoo_workers}, db {server.db}), {args.consumers} inbound "
              f"consumer(s), {args.shards} shard(s), batch {args.batch_size}", flush=True)
        base_ts = int(time.time()) - 7200

        warm_up(server, bridge.webhook_url, run, args.customers, base_ts)

        # (a) throughput
        bodies = build(f"T{run}", args.messages, args.customers, base_ts + 100)
        watcher = Watcher(server, f"wamid.T{run}.", interval=0.05)
        watcher.start()
        if args.preload:
            while procs:
                procs.pop().stop()
        t0 = time.perf_counter()
        posted, failures = post_from_process(bridge.webhook_url, bodies, None)
        post_span = time.perf_counter() - t0
        if args.preload:
            t0 = time.perf_counter()  # the clock runs from the consumers' start
            start_consumers()
        # an entry is acked only after Odoo committed it: a drained stream means everything is in (or lost)
        wait_until(lambda: drained(prefix, args.shards), 3600, 0.2, "the stream drained")
        time.sleep(0.3)
        watcher.stop.set()
        watcher.join()
        times = sorted(watcher.seen.values())
        elapsed = times[-1] - t0
        n = len(times)
        figures.update({
            "odoo_workers": args.odoo_workers, "consumers": args.consumers, "shards": args.shards,
            "lanes": args.lanes, "batch_size": args.batch_size, "linger_ms": args.linger_ms,
            "preload": str(args.preload).lower(),
            "messages": args.messages, "posted": len(posted), "post_failures": failures,
            "post_rate": f"{len(posted) / post_span:.0f}",
            "e2e_elapsed_s": f"{elapsed:.1f}",
            "e2e_throughput_msg_s": f"{n / elapsed:.1f}",
            "e2e_steady_msg_s": f"{steady_rate(times):.1f}",
            "stored": n, "lost": len(posted) - n, "twice": watcher.rows - n,
        })

        # (b) latency at a modest offered rate
        count = int(args.latency_rate * args.latency_seconds)
        bodies = build(f"L{run}", count, args.customers, base_ts + 100 + args.messages)
        watcher = Watcher(server, f"wamid.L{run}.")
        watcher.start()
        posted, failures = post_from_process(bridge.webhook_url, bodies, args.latency_rate)
        wait_until(lambda: len(watcher.seen) >= len(posted), 300, 0.2, "latency run stored")
        watcher.stop.set()
        watcher.join()
        latencies = [(watcher.seen[w] - t) * 1000 for w, t in posted.items() if w in watcher.seen]
        figures.update({
            "latency_offered_msg_s": f"{args.latency_rate:.0f}", "latency_messages": count,
            "latency_lost": count - len(latencies),
            "latency_p50_ms": f"{percentile(latencies, 50):.0f}",
            "latency_p95_ms": f"{percentile(latencies, 95):.0f}",
            "latency_max_ms": f"{max(latencies):.0f}",
        })
    finally:
        for proc in procs:
            proc.stop()
        if bridge is not None:
            bridge.web.stop()
        server.stop()
        server.drop_database()
        delete_prefixed_keys(prefix)
    throughput = float(figures.get("e2e_throughput_msg_s", 0))
    figures["target_met"] = str(throughput >= 250 and figures.get("lost") == 0 and figures.get("twice") == 0
                                 and float(figures.get("latency_p95_ms", "inf")) <= 300).lower()
    for name, value in figures.items():
        print(f"{name}={value}")
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["gevent"]:
        signal.pause()  # Odoo's bus process, re-executed by its prefork server: not needed (see BenchOdoo)
    elif sys.argv[1:2] == ["--run-odoo"]:
        sys.argv = [sys.argv[0], *sys.argv[2:]]
        import odoo

        odoo.cli.main()
    else:
        sys.exit(main())
