from . import whatsapp_service_transfer
from . import whatsapp_bridge_key
from . import whatsapp_service_share
