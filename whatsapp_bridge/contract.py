"""The addon/bridge contract, loaded from the one file that defines it.

The contract lives in ``whatsapp_attendance/contract.py`` (pure Python, no Odoo
import).  Importing the addon as a package would import Odoo, so the file is
loaded by path.  ``WA_CONTRACT_PATH`` overrides the location (for a bridge
deployed without the addon beside it; the Docker image copies the file).
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

_DEFAULT = Path(__file__).resolve().parent.parent / "whatsapp_attendance" / "contract.py"


def _load():
    path = Path(os.environ.get("WA_CONTRACT_PATH") or _DEFAULT)
    if not path.is_file():
        raise ImportError(
            f"whatsapp contract not found at {path}: set WA_CONTRACT_PATH to whatsapp_attendance/contract.py"
        )
    spec = importlib.util.spec_from_file_location("whatsapp_attendance_contract", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


_contract = _load()

CONTRACT_VERSION = _contract.CONTRACT_VERSION
STREAM_IN = _contract.STREAM_IN
STREAM_OUT = _contract.STREAM_OUT
STREAM_CONTROL = _contract.STREAM_CONTROL
STREAM_DEAD = _contract.STREAM_DEAD
STREAMS = _contract.STREAMS
PAYLOAD_FIELD = _contract.PAYLOAD_FIELD
API_MODEL = _contract.API_MODEL
API_METHODS = _contract.API_METHODS
MESSAGE_TYPES = _contract.MESSAGE_TYPES
MEDIA_TYPES = _contract.MEDIA_TYPES
OUTBOUND_TYPES = _contract.OUTBOUND_TYPES
STATUS_VALUES = _contract.STATUS_VALUES
RATING_SCORES = _contract.RATING_SCORES
CONTROL_COMMANDS = _contract.CONTROL_COMMANDS
CONTRACT_FEATURES = _contract.CONTRACT_FEATURES
TEMPLATE_STATES = _contract.TEMPLATE_STATES
TEMPLATE_LIMITS = _contract.TEMPLATE_LIMITS
ContractError = _contract.ContractError
stream_name = _contract.stream_name
# shards (feature "shards")
SHARDS_KEY = _contract.SHARDS_KEY
SHARDED_STREAMS = _contract.SHARDED_STREAMS
MAX_SHARDS = _contract.MAX_SHARDS
route_phone = _contract.route_phone
route_key = _contract.route_key
shard_index = _contract.shard_index
shard_stream = _contract.shard_stream
outbound_route_key = _contract.outbound_route_key
rating_button_id = _contract.rating_button_id
parse_rating_button_id = _contract.parse_rating_button_id
validate_inbound_message = _contract.validate_inbound_message
validate_status = _contract.validate_status
validate_send_result = _contract.validate_send_result
validate_session_state = _contract.validate_session_state
validate_outbound_job = _contract.validate_outbound_job
validate_list_message = _contract.validate_list_message
LIST_LIMITS = _contract.LIST_LIMITS
validate_attachment_request = _contract.validate_attachment_request
validate_control_command = _contract.validate_control_command
validate_template_definition = _contract.validate_template_definition
validate_template_message = _contract.validate_template_message
validate_template_state = _contract.validate_template_state
template_placeholders = _contract.template_placeholders
validate_batch = _contract.validate_batch
# WhatsApp Web sessions (feature "session")
SESSION_STATES = _contract.SESSION_STATES
SESSION_LIMITS = _contract.SESSION_LIMITS
validate_session_contact = _contract.validate_session_contact
# the phone's own messages: history on pairing, messages sent from the phone (feature "history")
validate_history_message = _contract.validate_history_message
# session reasons (the fixed texts Odoo shows in the reader's language)
SESSION_SCAN_QR = _contract.SESSION_SCAN_QR
SESSION_TYPE_CODE = _contract.SESSION_TYPE_CODE
SESSION_LOGGED_OUT_FROM_ODOO = _contract.SESSION_LOGGED_OUT_FROM_ODOO
SESSION_STOPPED_FROM_ODOO = _contract.SESSION_STOPPED_FROM_ODOO
SESSION_ENDED_FROM_ODOO = _contract.SESSION_ENDED_FROM_ODOO
SESSION_QR_TIMEOUT = _contract.SESSION_QR_TIMEOUT
SESSION_LOGGED_OUT_FROM_PHONE = _contract.SESSION_LOGGED_OUT_FROM_PHONE
SESSION_CONNECTION_DROPPED = _contract.SESSION_CONNECTION_DROPPED
SESSION_DEVICE_LOGGED_OUT = _contract.SESSION_DEVICE_LOGGED_OUT
SESSION_PHONE_GONE = _contract.SESSION_PHONE_GONE
SESSION_WHATSAPP_UNAVAILABLE = _contract.SESSION_WHATSAPP_UNAVAILABLE
SESSION_WHATSAPP_FAILED = _contract.SESSION_WHATSAPP_FAILED
SESSION_REASONS = _contract.SESSION_REASONS
