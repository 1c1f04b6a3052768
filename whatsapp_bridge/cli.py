"""``python -m whatsapp_bridge <command>``.

Commands:
  web        the webhook endpoint (+ /health)
  inbound    the inbound worker (wa:in -> Odoo)
  outbound   the outbound worker (wa:out -> WhatsApp -> Odoo) and the template worker (wa:control templates)
  all        web + both workers in one process (threads), and the session process as a supervised child
  session    the WhatsApp Web session process (wa:control -> driver; its messages -> wa:in; sends for wa:out)
  check      validate the configuration and connectivity; non-zero exit when something is wrong
  simulator  the Cloud API simulator (options: python -m whatsapp_bridge simulator --help)
  demo       simulator + web + both workers + the session process (fake phone), in demo mode
  shards     the shard count in force and each shard's backlog and consumer; --move-former appends what
             a producer left in the streams of the former shard count to the current ones (after resharding)

SIGTERM/SIGINT stop gracefully: the workers finish the call in flight, unacked entries stay
pending and are re-read at the next start.  Exit codes: 0 stopped, 1 a worker crashed (the whole
process stops, so a supervisor restarts it), 2 configuration, 3 the Odoo addon speaks another
contract version.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import sys
import threading
import time

import redis
import uvicorn

from whatsapp_bridge import contract
from whatsapp_bridge.config import BridgeConfig, ConfigError, check_redis, load_config
from whatsapp_bridge.logs import configure_logging
from whatsapp_bridge.odoo_client import ContractMismatch, OdooClient, OdooError
from whatsapp_bridge.providers.cloud_api import CloudApiProvider
from whatsapp_bridge.sharding import ShardCountError

log = logging.getLogger("whatsapp_bridge")

COMMANDS = ("web", "inbound", "outbound", "all", "check", "simulator", "demo", "session", "shards")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m whatsapp_bridge", description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=COMMANDS)
    parser.add_argument("--env-file", default=".env", help="optional KEY=value file (default: .env)")
    parser.add_argument("--move-former", action="store_true",
                        help="shards: move entries left in the former shard count's streams to the current ones")
    return parser


def _sync_redis(config: BridgeConfig) -> redis.Redis:
    return redis.Redis.from_url(config.redis_url, socket_connect_timeout=2.0, socket_timeout=30.0,
                                health_check_interval=30)


def _announce(config: BridgeConfig) -> None:
    if config.demo:
        log.warning(
            "DEMO MODE: WA_ACCESS_TOKEN is not set, so the bridge talks to the bundled WhatsApp simulator at "
            f"{config.graph_base_url} with fixed public demo secrets. Never expose this to the internet; "
            "set WA_ACCESS_TOKEN, WA_APP_SECRET, WA_VERIFY_TOKEN and WA_PHONE_NUMBER_ID for a real number.",
            extra={"fields": {"demo": True, "graph": config.graph_base_url}},
        )
    log.info("configuration loaded", extra={"fields": {
        "odoo": config.odoo_url, "db": config.odoo_db, "redis": config.redis_url, "graph": config.graph_base_url,
        "phone_number_id": config.phone_number_id, "prefix": config.stream_prefix, "demo": config.demo}})


def check_shards(config: BridgeConfig) -> None:
    """``WA_INBOUND_SHARDS`` becomes the shard count in force, or ``ShardCountError`` says why not."""
    from whatsapp_bridge.keys import Keys
    from whatsapp_bridge.sharding import check_shard_count

    client = _sync_redis(config)
    try:
        check_shard_count(client, Keys(config.stream_prefix), config.inbound_shards)
    finally:
        client.close()


def wait_for_odoo(odoo: OdooClient, stop: threading.Event, max_delay: float = 30.0) -> bool:
    """Authenticate and check the contract version; retry while Odoo is unreachable."""
    delay = 1.0
    while not stop.is_set():
        try:
            info = odoo.check_contract()
        except OdooError as exc:
            log.warning("Odoo not ready", extra={"fields": {"error": str(exc), "retry_in": delay}})
            if stop.wait(delay):
                return False
            delay = min(delay * 2, max_delay)
            continue
        log.info("Odoo contract checked", extra={"fields": {"version": info.get("version")}})
        return True
    return False


def _install_signals(stop: threading.Event) -> None:
    def handler(signum, frame):
        log.info("signal received, stopping", extra={"fields": {"signal": signal.Signals(signum).name}})
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def _workers(config: BridgeConfig, stop: threading.Event, which: tuple[str, ...]):
    from whatsapp_bridge.inbound import InboundWorker
    from whatsapp_bridge.outbound import OutboundWorker

    odoo = OdooClient(config)
    if not wait_for_odoo(odoo, stop, config.backoff_max_seconds):
        return []
    workers = []
    # one worker per shard this process serves (WA_SHARD_INDEX), each serving it while it holds its lease
    for shard in config.served_shards if "inbound" in which else ():
        from whatsapp_bridge.keys import Keys
        from whatsapp_bridge.providers.session import MediaRouter

        client = _sync_redis(config)  # WhatsApp Web media (ids wasess:...) wait in Redis, the rest is Graph's
        provider = MediaRouter(CloudApiProvider(config), client, Keys(config.stream_prefix))
        workers.append(InboundWorker(config, client, OdooClient(config), provider, stop, shard=shard))
    for shard in config.served_shards if "outbound" in which else ():
        workers.append(OutboundWorker(config, _sync_redis(config), OdooClient(config), CloudApiProvider(config),
                                      stop, shard=shard))
    if "outbound" in which:
        from whatsapp_bridge.templates import TemplateWorker  # template commands (wa:control) go to Graph too

        workers.append(TemplateWorker(config, _sync_redis(config), OdooClient(config), CloudApiProvider(config), stop))
    return workers


def _start_worker(worker, stop: threading.Event, crashed: threading.Event, on_crash=None) -> threading.Thread:
    """Run ``worker`` in a thread; if it dies of an unexpected exception, stop everything and set ``crashed``."""
    name = type(worker).__name__

    def target() -> None:
        try:
            worker.run()
        except Exception as exc:
            log.critical("worker crashed, stopping the process", exc_info=True,
                         extra={"fields": {"worker": name, "error": repr(exc)}})
            crashed.set()
            stop.set()
            if on_crash is not None:
                on_crash()

    thread = threading.Thread(target=target, name=name, daemon=True)
    thread.start()
    return thread


def run_workers(config: BridgeConfig, which: tuple[str, ...]) -> int:
    stop = threading.Event()
    crashed = threading.Event()
    _install_signals(stop)
    try:
        workers = _workers(config, stop, which)
    except ContractMismatch as exc:
        log.critical("refusing to run", extra={"fields": {"error": str(exc)}})
        return 3
    threads = [_start_worker(w, stop, crashed) for w in workers]
    while any(t.is_alive() for t in threads):
        for thread in threads:
            thread.join(0.5)
        if stop.is_set():
            for thread in threads:
                thread.join(config.odoo_timeout + 5)
            break
    return 1 if crashed.is_set() else 0


class _Server(uvicorn.Server):
    """uvicorn's Server without its own signal capture: our handler stops the web server *and* the workers
    (uvicorn would re-raise SIGTERM after its shutdown and kill the workers mid-call)."""

    @contextlib.contextmanager
    def capture_signals(self):
        yield


def run_session(config: BridgeConfig) -> int:
    """The session process: WhatsApp Web sessions (see ``whatsapp_bridge.session.service``)."""
    from whatsapp_bridge.session import driver_factory
    from whatsapp_bridge.session.service import SessionService

    stop = threading.Event()
    _install_signals(stop)
    odoo = OdooClient(config)
    try:
        if not wait_for_odoo(odoo, stop, config.backoff_max_seconds):
            return 0
    except ContractMismatch as exc:
        log.critical("refusing to run", extra={"fields": {"error": str(exc)}})
        return 3
    client = _sync_redis(config)
    log.info("session process started", extra={"fields": {"driver": config.session_driver,
                                                          "data_dir": config.data_dir}})
    SessionService(config, client, odoo, driver_factory(config, client), stop).run()
    return 0


def session_child(config: BridgeConfig, env_file: str = "/nonexistent"):
    """The session process as a supervised child of ``all``/``demo`` (``WA_SESSION_CHILD=0``: none)."""
    if not config.session_child:
        return None
    from whatsapp_bridge.supervisor import Supervisor

    env = dict(os.environ, WA_GRAPH_BASE_URL=config.graph_base_url, WA_SESSION_DRIVER=config.session_driver,
               WA_DATA_DIR=config.data_dir)
    return Supervisor(["session", "--env-file", env_file], env, name="session").start()


def run_web(config: BridgeConfig, workers: tuple[str, ...] = (), env_file: str | None = None) -> int:
    from whatsapp_bridge.webhook import create_app

    stop = threading.Event()
    crashed = threading.Event()
    refused: list[int] = []
    threads: list[threading.Thread] = []
    server = _Server(uvicorn.Config(create_app(config), host=config.host, port=config.port,
                                    log_config=None, access_log=False, timeout_graceful_shutdown=5))

    def stop_server() -> None:
        server.should_exit = True

    def start_workers():
        try:
            for worker in _workers(config, stop, workers):
                threads.append(_start_worker(worker, stop, crashed, stop_server))
        except ContractMismatch as exc:
            log.critical("refusing to run the workers", extra={"fields": {"error": str(exc)}})
            refused.append(3)
            stop_server()
        except Exception as exc:
            log.critical("workers failed to start, stopping the process", exc_info=True,
                         extra={"fields": {"error": repr(exc)}})
            crashed.set()
            stop_server()

    if workers:
        threading.Thread(target=start_workers, name="workers-start", daemon=True).start()

    def handler(signum, frame):
        log.info("signal received, stopping", extra={"fields": {"signal": signal.Signals(signum).name}})
        stop.set()
        server.should_exit = True

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    child = session_child(config, env_file) if env_file is not None else None
    try:
        server.run()
    finally:
        stop.set()
        if child is not None:
            child.stop()
    for thread in threads:
        thread.join(config.odoo_timeout + 5)
    if refused:
        return refused[0]
    return 1 if crashed.is_set() else 0


def run_check(config: BridgeConfig) -> int:
    problems = 0

    def line(ok: bool, what: str, detail: str) -> None:
        nonlocal problems
        problems += 0 if ok else 1
        print(f"[{'ok' if ok else 'FAIL'}] {what}: {detail}")

    if config.demo:
        line(True, "mode", f"DEMO (simulator at {config.graph_base_url}, public demo secrets)")
    try:
        check_redis(config)
        line(True, "redis", config.redis_url)
    except ConfigError as exc:
        line(False, "redis", "; ".join(exc.problems))
    ok, detail = OdooClient(config).check()
    line(ok, "odoo", f"{config.odoo_url} db={config.odoo_db}: {detail}")
    ok, detail = CloudApiProvider(config).check()
    line(ok, "whatsapp", f"{config.graph_base_url} phone_number_id={config.phone_number_id}: {detail}")
    return 1 if problems else 0


def run_shards(config: BridgeConfig, move: bool) -> int:
    from whatsapp_bridge.keys import Keys
    from whatsapp_bridge.sharding import former_streams, move_former, stream_backlog

    client = _sync_redis(config)
    keys = Keys(config.stream_prefix)
    count = int(client.hget(keys.shards, "count") or 1)
    print(f"shards in force: {count} (this configuration: WA_INBOUND_SHARDS={config.inbound_shards})")
    for base in contract.SHARDED_STREAMS:
        for index in range(count):
            shard = keys.for_shard(index, count)
            stream = shard.stream(base)
            length, pending = stream_backlog(client, stream)
            holder = client.get(shard.lease(base))
            print(f"  {stream}: {length} entries, {pending} pending, served by {holder.decode() if holder else '-'}")
    previous, left = former_streams(client, keys)
    for stream in left:
        print(f"  former ({previous} shards) {stream}: {client.xlen(stream)} entries nobody reads")
    if move and left:
        try:
            print(f"moved {move_former(client, keys)} entries to the streams of the {count} shards in force")
        except ShardCountError as exc:
            print(str(exc), file=sys.stderr)
            return 1
    return 0


def run_demo(config: BridgeConfig, argv: list[str], env_file: str = "/nonexistent") -> int:
    if not config.demo:
        print("demo needs demo mode: unset WA_ACCESS_TOKEN (the bridge then targets the simulator)", file=sys.stderr)
        return 2
    from whatsapp_bridge import simulator

    parser = simulator.build_parser()
    args = parser.parse_args([
        "--webhook-url", f"http://{config.host}:{config.port}/webhook",
        "--app-secret", config.app_secret, "--access-token", config.access_token,
        "--verify-token", config.verify_token, "--phone-number-id", config.phone_number_id,
        *argv,
    ])
    config = config.with_overrides(graph_base_url=f"http://{args.host}:{args.port}")
    _announce(config)
    from whatsapp_bridge.simulator import session_control

    phone = session_control.routes(config.redis_url, config.stream_prefix)  # the fake WhatsApp Web phone
    sim_server = _Server(uvicorn.Config(simulator.create_app(simulator.config_from_args(args), extra_routes=phone),
                                        host=args.host, port=args.port, log_config=None, access_log=False))
    sim_thread = threading.Thread(target=sim_server.run, name="simulator", daemon=True)
    sim_thread.start()
    log.warning("DEMO: simulator chat page", extra={"fields": {"url": f"http://{args.host}:{args.port}/"}})
    try:
        return run_web(config, ("inbound", "outbound"), env_file=env_file)
    finally:
        sim_server.should_exit = True
        sim_thread.join(5)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "simulator":
        from whatsapp_bridge.simulator import main as simulator_main

        return simulator_main(argv[1:])
    parser = build_parser()
    args, rest = parser.parse_known_args(argv)
    if rest and args.command != "demo":
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    try:
        config = load_config(env_file=args.env_file)
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    configure_logging(config.log_level)
    if args.command == "check":
        return run_check(config)
    if args.command == "shards":
        return run_shards(config, args.move_former)
    if args.command != "demo":
        _announce(config)
    try:
        check_redis(config)
        check_shards(config)
    except (ConfigError, ShardCountError) as exc:
        print(str(exc), file=sys.stderr)
        log.critical("refusing to start", extra={"fields": {"error": str(exc)}})
        return 2
    started = time.monotonic()
    if args.command == "web":
        code = run_web(config)
    elif args.command == "inbound":
        code = run_workers(config, ("inbound",))
    elif args.command == "outbound":
        code = run_workers(config, ("outbound",))
    elif args.command == "all":
        code = run_web(config, ("inbound", "outbound"), env_file=args.env_file)
    elif args.command == "session":
        code = run_session(config)
    else:
        code = run_demo(config, rest, env_file=args.env_file)
    log.info("stopped", extra={"fields": {"command": args.command, "uptime_s": round(time.monotonic() - started)}})
    return code
