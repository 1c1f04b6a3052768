"""Bridge configuration: one frozen object, read from the environment and an optional ``.env`` file.

Nothing else in the package reads ``os.environ``: the config is built once at start
(``load_config``), validated (``ConfigError`` lists every problem, naming the variable),
and passed to whatever needs it.

Demo mode: without ``WA_ACCESS_TOKEN`` the bridge talks to the bundled Cloud API
simulator (``python -m whatsapp_bridge simulator``) with fixed, public demo secrets.
It must never be used with a real number; the log says so at every start.
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import urlparse

from whatsapp_bridge import contract

# Fixed demo secrets shared with the bundled simulator.  Public on purpose: demo only.
try:
    from whatsapp_bridge.simulator import constants as _sim
except ImportError:  # pragma: no cover - a bridge deployed without the simulator
    _sim = None
DEMO_APP_SECRET = getattr(_sim, "DEMO_APP_SECRET", "simulator-demo-app-secret")
DEMO_VERIFY_TOKEN = getattr(_sim, "DEMO_VERIFY_TOKEN", "simulator-demo-verify-token")
DEMO_ACCESS_TOKEN = getattr(_sim, "DEMO_ACCESS_TOKEN", "EAAsimulatorDEMOaccessTOKEN0000000000000000")
DEMO_PHONE_NUMBER_ID = getattr(_sim, "DEMO_PHONE_NUMBER_ID", "106540352242922")
DEMO_WABA_ID = getattr(_sim, "DEMO_WABA_ID", "102290129340398")
DEMO_GRAPH_BASE_URL = "http://{}:{}".format(getattr(_sim, "DEMO_HOST", "127.0.0.1"), getattr(_sim, "DEMO_PORT", 8899))

_HEXISH = re.compile(r"^[0-9A-Za-z]{32,}$")


class ConfigError(ValueError):
    """The configuration is unusable; ``problems`` lists each one, naming the variable."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__("invalid bridge configuration:\n  - " + "\n  - ".join(self.problems))


@dataclass(frozen=True)
class BridgeConfig:
    odoo_url: str
    odoo_db: str
    odoo_login: str
    odoo_api_key: str = field(repr=False)
    redis_url: str = "redis://127.0.0.1:6379/0"
    app_secret: str = field(default=DEMO_APP_SECRET, repr=False)
    verify_token: str = field(default=DEMO_VERIFY_TOKEN, repr=False)
    access_token: str = field(default=DEMO_ACCESS_TOKEN, repr=False)
    phone_number_id: str = DEMO_PHONE_NUMBER_ID
    # the WhatsApp Business Account of the number: its message templates live there
    waba_id: str = ""
    graph_base_url: str = "https://graph.facebook.com"
    graph_version: str = "v21.0"
    stream_prefix: str = ""
    rate_per_second: float = 80.0
    batch_size: int = 100
    batch_linger_ms: int = 200
    inbound_lanes: int = 2
    # scale-out: wa:in and wa:out split by customer into this many shards (contract.shard_stream)
    inbound_shards: int = 1
    # the shards this process's workers serve (WA_SHARD_INDEX, e.g. "0" or "0,1"); empty: all of them.
    # A shard is served by one worker at a time (a lease in Redis); the others stand by and take over
    shard_indexes: tuple[int, ...] = ()
    shard_lease_seconds: float = 15.0
    # bounded resources: dedup keys expire, dead letters are capped (the oldest dropped, /health alerts)
    dedup_ttl_seconds: int = 3 * 24 * 3600
    dead_letters_max: int = 10_000
    # media travels base64 inside ingest calls: a call carries at most this many bytes of it
    # (one message alone may exceed it; Odoo's own request limit is 128 MiB)
    odoo_request_bytes: int = 24 * 1024 * 1024
    host: str = "127.0.0.1"
    port: int = 8080
    consumer_name: str = "bridge"
    claim_idle_ms: int = 60_000
    odoo_timeout: float = 30.0
    graph_timeout: float = 30.0
    backoff_max_seconds: float = 30.0
    status_unknown_retries: int = 5
    status_unknown_delay_seconds: float = 10.0
    send_max_attempts: int = 8
    # an inbound batch Odoo fails on (server error) this many times in a row is split to find the
    # message that breaks it; that message alone failing this often while Odoo answers otherwise is dead-lettered
    poison_attempts: int = 3
    pause_probe_seconds: float = 300.0
    log_level: str = "INFO"
    demo: bool = False
    # WhatsApp Web sessions (the session process, ``python -m whatsapp_bridge session``)
    data_dir: str = ".run/bridge-data"
    session_driver: str = "fake"  # fake (scripted phone: tests, demo) | neonize (a real number)
    session_child: bool = True  # ``all`` and ``demo`` run the session process as a supervised child
    session_keepalive_timeout: float = 30.0
    session_recipient_interval: float = 2.0
    session_history_messages: int = 50  # the last messages of each chat imported as a past service on pairing
    fake_qr_seconds: float = 20.0
    fake_qr_rotations: int = 6

    @property
    def served_shards(self) -> tuple[int, ...]:
        """The shards this process serves (all of them unless ``WA_SHARD_INDEX`` says which)."""
        return self.shard_indexes or tuple(range(self.inbound_shards))

    def graph_url(self, path: str) -> str:
        return f"{self.graph_base_url.rstrip('/')}/{self.graph_version}/{path.lstrip('/')}"

    def key(self, name: str) -> str:
        """A Redis key of this deployment (prefixed like the streams)."""
        return f"{self.stream_prefix}{name}"

    def with_overrides(self, **changes) -> BridgeConfig:
        return replace(self, **changes)


def parse_env_file(path: str | Path) -> dict[str, str]:
    """Parse a ``.env`` file: ``KEY=value`` lines, ``#`` comments, optional ``export``, quotes."""
    values: dict[str, str] = {}
    for lineno, raw in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export ") :].lstrip()
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", key):
            raise ConfigError([f"{path}:{lineno}: expected KEY=value, got {raw!r}"])
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            quote, value = value[0], value[1:-1]
            if quote == '"':
                value = value.replace("\\n", "\n").replace('\\"', '"')
        else:
            value = re.split(r"\s+#", value, maxsplit=1)[0].strip()
        values[key] = value
    return values


def load_config(environ: Mapping[str, str] | None = None, env_file: str | Path | None = ".env") -> BridgeConfig:
    """Build and validate the config; the process environment wins over the ``.env`` file."""
    env: dict[str, str] = {}
    if env_file and Path(env_file).is_file():
        env.update(parse_env_file(env_file))
    env.update(os.environ if environ is None else environ)
    problems: list[str] = []

    def get(name: str, default: str | None = None) -> str | None:
        value = env.get(name)
        if value is None or not value.strip():
            return default
        return value.strip()

    def required(name: str, what: str) -> str:
        value = get(name)
        if value is None:
            problems.append(f"{name} is required ({what})")
            return ""
        return value

    def number(name: str, default, cast, minimum):
        raw = get(name)
        if raw is None:
            return default
        try:
            value = cast(raw)
        except ValueError:
            problems.append(f"{name} must be a number, got {raw!r}")
            return default
        if value < minimum:
            problems.append(f"{name} must be >= {minimum}, got {raw!r}")
            return default
        return value

    odoo_url = required("WA_ODOO_URL", "Odoo base URL, e.g. http://localhost:8069")
    if odoo_url and urlparse(odoo_url).scheme not in ("http", "https"):
        problems.append(f"WA_ODOO_URL must be an http(s) URL, got {odoo_url!r}")
    odoo_db = required("WA_ODOO_DB", "Odoo database name")
    odoo_login = required("WA_ODOO_LOGIN", "login of the technical user in the WhatsApp Bridge group")
    odoo_api_key = required("WA_ODOO_API_KEY", "API key of that user")

    redis_url = get("WA_REDIS_URL", "redis://127.0.0.1:6379/0")
    if urlparse(redis_url).scheme not in ("redis", "rediss", "unix"):
        problems.append(f"WA_REDIS_URL must be a redis:// URL, got {redis_url!r}")

    access_token = get("WA_ACCESS_TOKEN")
    demo = access_token is None
    if demo:
        app_secret = get("WA_APP_SECRET", DEMO_APP_SECRET)
        verify_token = get("WA_VERIFY_TOKEN", DEMO_VERIFY_TOKEN)
        phone_number_id = get("WA_PHONE_NUMBER_ID", DEMO_PHONE_NUMBER_ID)
        waba_id = get("WA_WABA_ID", DEMO_WABA_ID)
        graph_base_url = get("WA_GRAPH_BASE_URL", DEMO_GRAPH_BASE_URL)
        access_token = DEMO_ACCESS_TOKEN
    else:
        app_secret = required("WA_APP_SECRET", "App secret of the Meta app, signs the webhooks")
        verify_token = required("WA_VERIFY_TOKEN", "token you typed in the Meta webhook settings")
        phone_number_id = required("WA_PHONE_NUMBER_ID", "phone number id of the WhatsApp Business number")
        waba_id = get("WA_WABA_ID", "")  # optional: without it, templates cannot be submitted or synced
        graph_base_url = get("WA_GRAPH_BASE_URL", "https://graph.facebook.com")
    if app_secret and not _HEXISH.match(app_secret) and not (demo and app_secret == DEMO_APP_SECRET):
        problems.append("WA_APP_SECRET must be the app secret: 32 or more letters/digits (it looks wrong)")
    if phone_number_id and not phone_number_id.isdigit():
        problems.append(f"WA_PHONE_NUMBER_ID must be digits, got {phone_number_id!r}")
    if waba_id and not waba_id.isdigit():
        problems.append(f"WA_WABA_ID must be digits (the WhatsApp Business Account id), got {waba_id!r}")
    if urlparse(graph_base_url).scheme not in ("http", "https"):
        problems.append(f"WA_GRAPH_BASE_URL must be an http(s) URL, got {graph_base_url!r}")
    graph_version = get("WA_GRAPH_VERSION", "v21.0")
    if not re.match(r"^v\d+\.\d+$", graph_version):
        problems.append(f"WA_GRAPH_VERSION must look like v21.0, got {graph_version!r}")

    prefix = env.get("WA_STREAM_PREFIX", "") or ""
    if prefix and not re.match(r"^[A-Za-z0-9_.:-]{1,64}$", prefix):
        problems.append(f"WA_STREAM_PREFIX may only hold letters, digits and _.:- , got {prefix!r}")

    log_level = (get("WA_LOG_LEVEL", "INFO") or "INFO").upper()
    if log_level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        problems.append(f"WA_LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR, got {log_level!r}")

    shards = number("WA_INBOUND_SHARDS", 1, int, 1)
    if shards > contract.MAX_SHARDS:
        problems.append(f"WA_INBOUND_SHARDS must be at most {contract.MAX_SHARDS}, got {shards}")
        shards = 1
    shard_indexes = _shard_indexes(get("WA_SHARD_INDEX", "") or "", shards, problems)

    config = BridgeConfig(
        odoo_url=odoo_url.rstrip("/"),
        odoo_db=odoo_db,
        odoo_login=odoo_login,
        odoo_api_key=odoo_api_key,
        redis_url=redis_url,
        app_secret=app_secret or "",
        verify_token=verify_token or "",
        access_token=access_token,
        phone_number_id=phone_number_id or "",
        waba_id=waba_id or "",
        graph_base_url=graph_base_url.rstrip("/"),
        graph_version=graph_version,
        stream_prefix=prefix,
        rate_per_second=number("WA_RATE_PER_SECOND", 80.0, float, 0.1),
        batch_size=min(number("WA_BATCH_SIZE", 100, int, 1), 500),
        batch_linger_ms=number("WA_BATCH_LINGER_MS", 200, int, 0),
        inbound_lanes=min(number("WA_INBOUND_LANES", 2, int, 1), 16),
        inbound_shards=shards,
        shard_indexes=shard_indexes,
        shard_lease_seconds=number("WA_SHARD_LEASE_SECONDS", 15.0, float, 1.0),
        dedup_ttl_seconds=number("WA_DEDUP_TTL_SECONDS", 3 * 24 * 3600, int, 60),
        dead_letters_max=number("WA_DEAD_LETTERS_MAX", 10_000, int, 100),
        odoo_request_bytes=int(number("WA_ODOO_REQUEST_MB", 24.0, float, 0.01) * 1024 * 1024),
        host=get("WA_HOST", "127.0.0.1"),
        port=number("WA_PORT", 8080, int, 1),
        consumer_name=get("WA_CONSUMER_NAME", socket.gethostname() or "bridge"),
        claim_idle_ms=number("WA_CLAIM_IDLE_MS", 60_000, int, 1),
        odoo_timeout=number("WA_ODOO_TIMEOUT", 30.0, float, 0.1),
        graph_timeout=number("WA_GRAPH_TIMEOUT", 30.0, float, 0.1),
        backoff_max_seconds=number("WA_BACKOFF_MAX_SECONDS", 30.0, float, 0.01),
        status_unknown_retries=number("WA_STATUS_UNKNOWN_RETRIES", 5, int, 0),
        status_unknown_delay_seconds=number("WA_STATUS_UNKNOWN_DELAY_SECONDS", 10.0, float, 0.0),
        send_max_attempts=number("WA_SEND_MAX_ATTEMPTS", 8, int, 1),
        poison_attempts=number("WA_POISON_ATTEMPTS", 3, int, 1),
        pause_probe_seconds=number("WA_PAUSE_PROBE_SECONDS", 300.0, float, 0.1),
        log_level=log_level,
        demo=demo,
        data_dir=get("WA_DATA_DIR", ".run/bridge-data"),
        session_driver=(get("WA_SESSION_DRIVER", "fake" if demo else "neonize") or "").lower(),
        session_child=(get("WA_SESSION_CHILD", "1") or "1").lower() not in ("0", "false", "no", "off"),
        session_keepalive_timeout=number("WA_SESSION_KEEPALIVE_TIMEOUT", 30.0, float, 0.5),
        session_recipient_interval=number("WA_SESSION_RECIPIENT_INTERVAL", 2.0, float, 0.0),
        session_history_messages=number("WA_SESSION_HISTORY_MESSAGES", 50, int, 0),
        fake_qr_seconds=number("WA_FAKE_QR_SECONDS", 20.0, float, 0.1),
        fake_qr_rotations=number("WA_FAKE_QR_ROTATIONS", 6, int, 1),
    )
    if config.session_driver not in ("fake", "neonize"):
        problems.append(f"WA_SESSION_DRIVER must be fake or neonize, got {config.session_driver!r}")
    if config.port > 65535:
        problems.append(f"WA_PORT must be a TCP port, got {config.port}")
    if problems:
        raise ConfigError(problems)
    return config


def _shard_indexes(raw: str, shards: int, problems: list[str]) -> tuple[int, ...]:
    """``WA_SHARD_INDEX``: comma-separated shard numbers, each below ``WA_INBOUND_SHARDS``."""
    indexes: list[int] = []
    for part in (p.strip() for p in raw.split(",")):
        if not part:
            continue
        if not part.isdigit() or int(part) >= shards:
            problems.append(f"WA_SHARD_INDEX must list shard numbers from 0 to {shards - 1} "
                            f"(WA_INBOUND_SHARDS={shards}), got {raw!r}")
            return ()
        if int(part) not in indexes:
            indexes.append(int(part))
    return tuple(sorted(indexes))


def check_redis(config: BridgeConfig, timeout: float = 2.0) -> None:
    """Raise ``ConfigError`` naming ``WA_REDIS_URL`` when Redis does not answer."""
    import redis

    client = redis.Redis.from_url(config.redis_url, socket_connect_timeout=timeout, socket_timeout=timeout)
    try:
        client.ping()
    except (redis.RedisError, OSError) as exc:
        raise ConfigError([f"WA_REDIS_URL: Redis at {config.redis_url} is unreachable ({exc})"]) from exc
    finally:
        client.close()
