"""JSON-RPC client for the addon's public API (model ``whatsapp.api``, see the contract).

``POST {url}/jsonrpc`` with ``service "common" / "authenticate"`` once (-> uid), then
``service "object" / "execute_kw"`` with ``[db, uid, api_key, "whatsapp.api", method, [arg], {}]``.

Errors are classified by what the workers must do with them, from the HTTP status and, for an
error Odoo answers, from the error's *name* (the exception class Odoo reports), never from its
message or traceback (a traceback of any bug mentions psycopg2: it runs under it):

* ``OdooPermanentError`` - Odoo refused *this payload* (``ValidationError``, ``UserError``,
  ``MissingError``; HTTP 4xx, 413): retrying the same payload cannot help.
* ``OdooTransientError`` - Odoo is unreachable, restarting, overloaded (HTTP 5xx, 502/503/504),
  lost a race (serialization failure, deadlock, lock not available) or its database connection
  (``psycopg2.OperationalError``/``InterfaceError``...): the same payload must be retried later, unchanged.
* ``OdooServerError`` (transient) - any other exception Odoo reports (a bug; a message that breaks
  the addon, like a text holding NUL): retried; the inbound worker isolates a message that alone
  keeps causing it (see ``inbound_delivery``).
* ``OdooAuthError`` (transient) - the API key is refused (``AccessDenied``) or the bridge user
  lacks the rights (``AccessError``): a configuration problem an operator must fix; every
  payload would be refused alike, so the workers keep them, retry and raise an alert.

``ingest_*``/``report_*`` check their payloads against the contract before sending.  A caller that
has checked them itself, item by item (the inbound delivery does, to set a bad one aside), sends
them with ``call`` so that a payload is checked once.
"""

from __future__ import annotations

import itertools
import logging
import re
import threading

import requests

from whatsapp_bridge import contract
from whatsapp_bridge.config import BridgeConfig

log = logging.getLogger(__name__)

PERMANENT_ERRORS = (
    "odoo.exceptions.ValidationError",
    "odoo.exceptions.UserError",
    "odoo.exceptions.MissingError",
)
# the errors Odoo reports (``data.name``: the exception's module and class) that a later attempt can pass
TRANSIENT_ERRORS = (
    # lost a race with a concurrent transaction (Odoo retries these itself a few times first)
    "psycopg2.errors.SerializationFailure",
    "psycopg2.errors.DeadlockDetected",
    "psycopg2.errors.LockNotAvailable",
    "psycopg2.extensions.TransactionRollbackError",
    # the database connection: PostgreSQL down, restarting, full
    "psycopg2.OperationalError",
    "psycopg2.InterfaceError",
    "psycopg2.errors.AdminShutdown",
    "psycopg2.errors.CannotConnectNow",
    "psycopg2.errors.TooManyConnections",
    "psycopg2.pool.PoolError",
)
_ITEM_INDEX = re.compile(r"^\s*[A-Za-z_]+\[(\d+)\]")


class OdooError(Exception):
    def __init__(self, message: str, name: str = "", method: str = ""):
        super().__init__(message)
        self.message = message
        self.name = name
        self.method = method

    @property
    def item_index(self) -> int | None:
        """The batch index named by a contract error (``messages[3].from.wa_id: ...``), if any."""
        match = _ITEM_INDEX.match(self.message or "")
        return int(match.group(1)) if match else None


class OdooPermanentError(OdooError):
    """Odoo refused the payload; do not retry it as is."""


class OdooTransientError(OdooError):
    """Odoo could not process the call now; retry the same payload later."""


class OdooServerError(OdooTransientError):
    """Odoo answered with an unexpected server error (a bug, a registry reload...): retried; when it
    persists on one batch the worker raises an alert, and the inbound worker looks for the one
    message that breaks it."""


class OdooAuthError(OdooTransientError):
    """Login/API key refused: an operator must fix WA_ODOO_LOGIN / WA_ODOO_API_KEY (retried, alerted)."""

    action = "fix WA_ODOO_LOGIN / WA_ODOO_API_KEY"


class OdooAccessError(OdooAuthError):
    """Logged in, but the bridge user may not call the API (``AccessError``): fix its rights (retried, alerted)."""

    action = "fix the bridge user's rights (the WhatsApp Bridge group) / WA_ODOO_LOGIN"


class ContractMismatch(RuntimeError):
    pass


class OdooClient:
    def __init__(self, config: BridgeConfig, session: requests.Session | None = None):
        self.config = config
        self.session = session or requests.Session()
        self.endpoint = f"{config.odoo_url}/jsonrpc"
        self._uid: int | None = None
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    # -- transport -------------------------------------------------------------------------
    def _rpc(self, service: str, method: str, args: list, what: str):
        body = {
            "jsonrpc": "2.0",
            "method": "call",
            "params": {"service": service, "method": method, "args": args},
            "id": next(self._ids),
        }
        try:
            response = self.session.post(self.endpoint, json=body, timeout=self.config.odoo_timeout)
        except requests.RequestException as exc:
            raise OdooTransientError(f"Odoo unreachable at {self.config.odoo_url}: {exc}", method=what) from exc
        if response.status_code >= 500 or response.status_code in (404, 408, 429, 502, 503, 504):
            raise OdooTransientError(f"Odoo HTTP {response.status_code} on {what}", method=what)
        if response.status_code == 413:
            size = len(response.request.body or b"") / 1024 / 1024
            raise OdooPermanentError(
                f"Odoo refused {what} as too large ({size:.1f} MB, HTTP 413): the media exceeds Odoo's request limit",
                method=what)
        if response.status_code >= 400:
            raise OdooPermanentError(f"Odoo HTTP {response.status_code} on {what}", method=what)
        try:
            data = response.json()
        except ValueError as exc:
            raise OdooTransientError(f"Odoo answered {what} with invalid JSON", method=what) from exc
        error = data.get("error") if isinstance(data, dict) else None
        if error:
            raise self._classify(error, what)
        if not isinstance(data, dict) or "result" not in data:
            raise OdooTransientError(f"Odoo answered {what} without a result", method=what)
        return data["result"]

    @staticmethod
    def _classify(error: dict, what: str) -> OdooError:
        """The exception for a JSON-RPC ``error``, by the name of the exception Odoo reports (only)."""
        error = error if isinstance(error, dict) else {"message": str(error)}
        info = error.get("data") if isinstance(error.get("data"), dict) else {}
        name = str(info.get("name") or "")
        message = str(info.get("message") or error.get("message") or "Odoo error")
        if name == "odoo.exceptions.AccessDenied":
            return OdooAuthError(f"Odoo refused the API key: {message}", name=name, method=what)
        if name == "odoo.exceptions.AccessError":
            return OdooAccessError(f"Odoo refused the bridge user's rights on {what}: {message}",
                                   name=name, method=what)
        if name in PERMANENT_ERRORS:
            return OdooPermanentError(message, name=name, method=what)
        if name in TRANSIENT_ERRORS:
            return OdooTransientError(f"{name}: {message}", name=name, method=what)
        # anything else (KeyError in the addon, registry reloading...) is a server problem: retry
        return OdooServerError(f"{name or 'error'}: {message}", name=name, method=what)

    # -- API -------------------------------------------------------------------------------
    def authenticate(self) -> int:
        uid = self._rpc(
            "common",
            "authenticate",
            [self.config.odoo_db, self.config.odoo_login, self.config.odoo_api_key, {}],
            "authenticate",
        )
        if not uid:
            raise OdooAuthError(
                f"Odoo refused login {self.config.odoo_login!r} on database {self.config.odoo_db!r}: "
                "check WA_ODOO_LOGIN / WA_ODOO_API_KEY / WA_ODOO_DB",
                method="authenticate",
            )
        with self._lock:
            self._uid = int(uid)
        return self._uid

    def call(self, method: str, *args):
        if method not in contract.API_METHODS:
            raise ValueError(f"unknown whatsapp.api method {method!r}")
        if self._uid is None:
            self.authenticate()
        for attempt in (1, 2):
            try:
                return self._rpc(
                    "object",
                    "execute_kw",
                    [
                        self.config.odoo_db,
                        self._uid,
                        self.config.odoo_api_key,
                        contract.API_MODEL,
                        method,
                        list(args),
                        {},
                    ],
                    method,
                )
            except OdooAccessError:
                raise  # logged in fine: logging in again cannot give rights
            except OdooAuthError:
                if attempt == 2:
                    raise
                self.authenticate()  # the key may have been rotated: log in again once
        raise AssertionError("unreachable")

    def contract_info(self) -> dict:
        return self.call("contract_info")

    def check_contract(self) -> dict:
        """Refuse to run against an addon speaking another contract version."""
        info = self.contract_info()
        version = info.get("version") if isinstance(info, dict) else None
        if version != contract.CONTRACT_VERSION:
            raise ContractMismatch(
                f"the Odoo addon speaks contract version {version!r}, this bridge speaks "
                f"{contract.CONTRACT_VERSION}: upgrade the older side"
            )
        if self.config.inbound_shards > 1 and "shards" not in (info.get("features") or []):
            raise ContractMismatch(
                f"WA_INBOUND_SHARDS={self.config.inbound_shards}, but the Odoo addon does not shard its outbound "
                "jobs (contract feature 'shards'): upgrade the addon, or run one shard")
        return info

    def ingest_messages(self, messages: list[dict]) -> list[dict]:
        contract.validate_batch(messages, "messages", contract.validate_inbound_message)
        return self.call("ingest_messages", messages)

    def ingest_statuses(self, statuses: list[dict]) -> list[dict]:
        contract.validate_batch(statuses, "statuses", contract.validate_status)
        return self.call("ingest_statuses", statuses)

    def report_send_results(self, results: list[dict]) -> list[dict]:
        contract.validate_batch(results, "results", contract.validate_send_result)
        return self.call("report_send_results", results)

    def report_session_state(self, state: dict) -> dict:
        contract.validate_session_state(state)
        return self.call("report_session_state", state)

    def report_template_states(self, states: list[dict]) -> list[dict]:
        contract.validate_batch(states, "states", contract.validate_template_state)
        return self.call("report_template_states", states)

    def read_attachment(self, message_id: int) -> dict:
        return self.call("read_attachment", {"v": contract.CONTRACT_VERSION, "message_id": message_id})

    def check(self) -> tuple[bool, str]:
        try:
            self.check_contract()
        except (OdooError, ContractMismatch) as exc:
            return False, str(exc)
        return True, "ok"
