"""One-shot init of the bridge's credentials (the ``bridge-init`` service of docker-compose.yml).

Waits until Odoo has ``whatsapp_attendance`` installed in the database, then makes sure the
bridge's technical user (``whatsapp_attendance.user_whatsapp_bridge``) has an API key and that
the key is in an env file the bridge reads (``python -m whatsapp_bridge all --env-file FILE``):

* the file already holds a key Odoo accepts for that user: nothing changes (restarts are idempotent);
* otherwise the keys this init made earlier are revoked, a new one is generated with Odoo's own
  API (``res.users.apikeys._generate``, as the *Bridge API Key* wizard does) and the file is
  written atomically, readable by its owner only.

Runs with Odoo's Python (the Odoo image), Odoo's own options after ``--``::

    python3 bridge_init.py --db whatsapp --out /run/wa/bridge.env --odoo-url http://odoo:8069 \\
        -- --db_host=db --db_user=odoo --db_password=odoo

Exit codes: 0 done, 2 invalid arguments, 3 Odoo did not get ready in time, 4 the file cannot be written.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

KEY_NAME = "whatsapp_bridge (docker compose init)"
BRIDGE_USER_XMLID = "whatsapp_attendance.user_whatsapp_bridge"
MODULE = "whatsapp_attendance"


class InitError(Exception):
    def __init__(self, message: str, code: int):
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class InitConfig:
    db: str
    out: Path
    odoo_url: str | None
    timeout: float
    odoo_args: tuple[str, ...]


def parse_args(argv: list[str]) -> InitConfig:
    """Read and validate the arguments; every problem is named at once."""
    odoo_args: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, odoo_args = argv[:cut], argv[cut + 1:]
    parser = argparse.ArgumentParser(prog="bridge_init.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", default=os.environ.get("WA_ODOO_DB", "whatsapp"), help="Odoo database")
    parser.add_argument("--out", default="/run/wa/bridge.env", help="env file the bridge reads")
    parser.add_argument("--odoo-url", default=None, help="also wait for Odoo's /web/health at this URL")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds to wait for Odoo (default 900)")
    args = parser.parse_args(argv)
    problems = []
    if not re.match(r"^[A-Za-z0-9_.-]{1,63}$", args.db):
        problems.append(f"--db must be a database name, got {args.db!r}")
    out = Path(args.out)
    if not out.parent.is_dir():
        problems.append(f"--out: the folder {out.parent} does not exist (mount the shared volume there)")
    if args.odoo_url and not re.match(r"^https?://", args.odoo_url):
        problems.append(f"--odoo-url must be an http(s) URL, got {args.odoo_url!r}")
    if args.timeout <= 0:
        problems.append(f"--timeout must be positive, got {args.timeout}")
    if problems:
        parser.error("; ".join(problems))
    return InitConfig(db=args.db, out=out, odoo_url=args.odoo_url.rstrip("/") if args.odoo_url else None,
                      timeout=args.timeout, odoo_args=tuple(odoo_args))


def log(message: str) -> None:
    print(f"bridge-init: {message}", file=sys.stderr, flush=True)


def read_env_file(path: Path) -> dict[str, str]:
    if not path.is_file():
        return {}
    values = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        key, sep, value = line.strip().partition("=")
        if sep and not key.startswith("#"):
            values[key.strip()] = value.strip()
    return values


def write_env_file(path: Path, values: dict[str, str]) -> None:
    """Write atomically (a reader never sees half a file), mode 0600."""
    body = "".join(f"{key}={value}\n" for key, value in values.items())
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".bridge-env-")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(body)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except OSError as exc:
        raise InitError(f"cannot write {path}: {exc}", 4) from exc


# -- Odoo --------------------------------------------------------------------------------------------

def setup_odoo(config: InitConfig) -> None:
    import odoo

    odoo.tools.config.parse_config(list(config.odoo_args))


def odoo_healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/web/health", timeout=5) as reply:  # noqa: S310 - an http(s) URL checked above
            return reply.status == 200
    except (urllib.error.URLError, OSError):
        return False


def module_state(db: str) -> str | None:
    """The addon's state in ``db``, or None while the database (or its module table) is not there."""
    import psycopg2

    from odoo import sql_db

    try:
        connection = sql_db.db_connect(db)
        with connection.cursor() as cr:
            cr.execute("SELECT state FROM ir_module_module WHERE name = %s", [MODULE])
            row = cr.fetchone()
    except (psycopg2.Error, OSError):
        return None
    finally:
        sql_db.close_db(db)
    return row[0] if row else None


def wait_for_odoo(config: InitConfig) -> None:
    deadline = time.monotonic() + config.timeout
    last = ""
    while True:
        state = module_state(config.db)
        healthy = config.odoo_url is None or odoo_healthy(config.odoo_url)
        if state == "installed" and healthy:
            return
        status = f"database {config.db}: {MODULE} {state or 'not there yet'}" + (
            "" if healthy else f"; {config.odoo_url}/web/health not answering")
        if status != last:
            log(f"waiting for Odoo ({status})")
            last = status
        if time.monotonic() > deadline:
            raise InitError(f"Odoo did not get ready within {config.timeout:.0f}s ({status})", 3)
        time.sleep(2)


def ensure_key(config: InitConfig) -> str:
    """Reuse the key of ``config.out`` when Odoo accepts it for the bridge user, else make a new one."""
    from odoo import SUPERUSER_ID, api
    from odoo.modules.registry import Registry

    current = read_env_file(config.out)
    registry = Registry(config.db)
    with registry.cursor() as cr:
        env = api.Environment(cr, SUPERUSER_ID, {})
        user = env.ref(BRIDGE_USER_XMLID)
        login = user.login
        apikeys = env["res.users.apikeys"]
        key = current.get("WA_ODOO_API_KEY", "")
        if key and apikeys._check_credentials(scope="rpc", key=key) == user.id \
                and current.get("WA_ODOO_DB") == config.db and current.get("WA_ODOO_LOGIN") == login:
            log(f"reusing the API key in {config.out} (Odoo accepts it for {login})")
            return "reused"
        apikeys.search([("user_id", "=", user.id), ("name", "=", KEY_NAME)])._remove()
        key = apikeys.with_user(user).sudo()._generate(None, KEY_NAME, None)
        # the file first: a key in Odoo that no file holds is harmless, the reverse is not
        write_env_file(config.out, {"WA_ODOO_DB": config.db, "WA_ODOO_LOGIN": login, "WA_ODOO_API_KEY": key})
        cr.commit()
    log(f"generated a new API key for {login} into {config.out}")
    return "generated"


def main(argv: list[str] | None = None) -> int:
    config = parse_args(list(sys.argv[1:] if argv is None else argv))
    try:
        setup_odoo(config)
        wait_for_odoo(config)
        ensure_key(config)
    except InitError as exc:
        log(f"error: {exc}")
        return exc.code
    return 0


if __name__ == "__main__":
    sys.exit(main())
