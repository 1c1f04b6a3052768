"""The addon's settings (``ir.config_parameter``), read in one place."""

PREFIX = 'whatsapp_attendance.'


def get_param(env, key, default=None):
    """The setting ``whatsapp_attendance.<key>`` (or Odoo's own ``web.base.url`` and the like when ``key``
    has a dot)."""
    name = key if '.' in key else PREFIX + key
    # sudo: ir.config_parameter - attendants, crons and the bridge read the settings; only
    # administrators write them (Settings)
    return env['ir.config_parameter'].sudo().get_param(name, default)
