"""Template worker: ``wa:control`` template commands (written by Odoo after commit) -> Graph API ->
``report_template_states``.

* ``template_submit``: ``POST /{waba_id}/message_templates`` with the template, then Odoo gets
  WhatsApp's answer (``pending``, or ``approved`` at once; ``error`` with the reason when WhatsApp
  refused the request itself: a name already taken, a bad parameter, no ``WA_WABA_ID``).
* ``template_sync``: ``GET /{waba_id}/message_templates`` (every page) and Odoo gets the state of
  each; templates Odoo does not have are answered ``unknown`` by Odoo and left alone.

It reads ``wa:control`` in a consumer group of its own (the session process reads the same stream
in another group), acks what it handled or what is not its own (without deleting it: the stream
is shared), and leaves a command pending when WhatsApp or Odoo is unreachable: it is retried.
"""

from __future__ import annotations

import json
import logging
import threading

import redis

from whatsapp_bridge import contract
from whatsapp_bridge.config import BridgeConfig
from whatsapp_bridge.odoo_client import OdooClient, OdooPermanentError, OdooTransientError
from whatsapp_bridge.providers.base import ErrorClass, ProviderError
from whatsapp_bridge.retry import Backoff, Stopped, retry
from whatsapp_bridge.streams import Entry, Streams
from whatsapp_bridge.worker_loop import OdooAlert, run_until_stopped

log = logging.getLogger(__name__)

GROUP_TEMPLATES = "wa-bridge-templates"
TEMPLATE_COMMANDS = ("template_submit", "template_sync")
# Meta's template statuses -> the contract's
META_STATUSES = {
    "APPROVED": "approved", "PENDING": "pending", "IN_APPEAL": "pending", "REJECTED": "rejected",
    "PAUSED": "paused", "DISABLED": "disabled", "PENDING_DELETION": "disabled", "DELETED": "disabled",
    "ARCHIVED": "disabled", "LIMIT_EXCEEDED": "disabled",
}


class TemplateWorker:
    def __init__(self, config: BridgeConfig, redis_client: redis.Redis, odoo: OdooClient, provider,
                 stop: threading.Event | None = None):
        self.config = config
        self.redis = redis_client
        self.streams = Streams.of(config, redis_client)
        self.odoo = odoo
        self.provider = provider
        self.stop = stop or threading.Event()
        self.consumer = f"{config.consumer_name}-templates"
        self.odoo_alert = OdooAlert(self.streams)
        self._backoff = Backoff(self.stop, config.backoff_max_seconds)

    def setup(self) -> None:
        self.streams.ensure_group(contract.STREAM_CONTROL, GROUP_TEMPLATES)

    def run(self) -> None:
        run_until_stopped(self.stop, self.setup, self.run_once, self.config.backoff_max_seconds, "templates",
                          self.consumer, self.streams.name(contract.STREAM_CONTROL))

    def run_once(self, block_ms: int = 1000) -> int:
        """Handle the commands waiting (own pending first); returns how many were acked."""
        entries = self.streams.read_own_pending(contract.STREAM_CONTROL, GROUP_TEMPLATES, self.consumer, 20)
        if not entries:
            entries = self.streams.read_new(contract.STREAM_CONTROL, GROUP_TEMPLATES, self.consumer, 20, block_ms)
        done = 0
        for entry in entries:
            if not self.handle(entry):
                self._backoff.wait()  # WhatsApp or Odoo unreachable: kept pending, tried again
                return done
            self._backoff.reset()
            self.streams.ack(contract.STREAM_CONTROL, GROUP_TEMPLATES, [entry.id], delete=False)
            done += 1
        return done

    # -- one command -------------------------------------------------------------------------
    def handle(self, entry: Entry) -> bool:
        """Handle one entry; ``False`` keeps it pending (a transient failure)."""
        try:
            command = contract.validate_control_command(json.loads(entry.payload))
        except (ValueError, contract.ContractError) as exc:
            try:
                name = json.loads(entry.payload).get("command")
            except (ValueError, AttributeError):
                name = None
            if name in TEMPLATE_COMMANDS:  # a session command is the session process's to judge
                self.streams.dead_letter(contract.STREAM_CONTROL, f"invalid template command: {exc}",
                                         entry.payload, entry.id)
                log.error("dead-lettered a template command", extra={"fields": {"entry": entry.id,
                                                                                "reason": str(exc)}})
            return True
        if command["command"] not in TEMPLATE_COMMANDS:
            return True
        if command["account"] != self.config.phone_number_id:
            log.warning("template command for an account this bridge does not serve", extra={"fields": {
                "account": command["account"], "command": command["command"]}})
            return True
        try:
            states = self._submit(command) if command["command"] == "template_submit" else self._sync(command)
        except ProviderError as exc:
            log.warning("template command failed, will retry", extra={"fields": {
                "command": command["command"], "code": exc.code, "error": exc.message}})
            return False
        return self._report(entry, states)

    def _submit(self, command: dict) -> list[dict]:
        template = command["template"]
        state = {"v": contract.CONTRACT_VERSION, "account": command["account"], "name": template["name"],
                 "language": template["language"], "template_id": template["template_id"]}
        try:
            answer = self.provider.submit_template(template)
        except ProviderError as exc:
            if exc.error_class is not ErrorClass.FAIL:
                raise
            log.warning("WhatsApp refused a template", extra={"fields": {
                "name": template["name"], "code": exc.code, "error": exc.message}})
            return [dict(state, status="error", reason=exc.message[:contract.TEMPLATE_LIMITS["reason"]])]
        status = META_STATUSES.get(str(answer.get("status") or "PENDING").upper(), "pending")
        log.info("template submitted", extra={"fields": {"name": template["name"], "status": status,
                                                          "id": answer.get("id")}})
        return [dict(state, status=status, wa_template_id=str(answer["id"]) if answer.get("id") else None)]

    def _sync(self, command: dict) -> list[dict]:
        states = []
        for item in self.provider.list_templates():
            status = META_STATUSES.get(str(item.get("status") or "").upper())
            state = {"v": contract.CONTRACT_VERSION, "account": command["account"], "name": item.get("name"),
                     "language": item.get("language"), "status": status,
                     "wa_template_id": str(item["id"]) if item.get("id") else None,
                     "reason": _reason(item)}
            try:
                states.append(contract.validate_template_state(state))
            except contract.ContractError as exc:  # a template Odoo could not name (or a status it lacks)
                log.info("template skipped in the sync", extra={"fields": {"name": item.get("name"),
                                                                           "reason": str(exc)}})
        log.info("templates synced", extra={"fields": {"count": len(states)}})
        return states

    def _report(self, entry: Entry, states: list[dict]) -> bool:
        for start in range(0, len(states), 500):
            batch = states[start:start + 500]
            try:
                retry(lambda b=batch: self.odoo.report_template_states(b), self.stop,
                      self.config.backoff_max_seconds, retry_on=OdooTransientError,
                      on_retry=lambda exc, attempt, delay: self.odoo_alert.failed(exc, attempt,
                                                                                  "report_template_states"))
            except Stopped:
                return False
            except (OdooPermanentError, contract.ContractError) as exc:
                self.streams.dead_letter(contract.STREAM_CONTROL, f"Odoo refused the template states: {exc}",
                                         entry.payload, entry.id, states=batch)
                log.error("template states dead-lettered", extra={"fields": {"entry": entry.id, "error": str(exc)}})
                continue
            self.odoo_alert.succeeded()
        return True


def _reason(item: dict) -> str | None:
    reason = item.get("rejected_reason")
    if not reason or str(reason).upper() == "NONE":
        return None
    return str(reason)[:contract.TEMPLATE_LIMITS["reason"]]
