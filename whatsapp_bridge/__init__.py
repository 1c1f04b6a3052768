"""whatsapp_bridge: connects one WhatsApp number to the whatsapp_attendance Odoo addon."""

__version__ = "0.1.0"
