from odoo import api, fields, models
from odoo.exceptions import AccessError


class WhatsappBridgeKey(models.TransientModel):
    """Generates an API key for the bridge's technical user and shows it once."""

    _name = 'whatsapp.bridge.key'
    _description = "WhatsApp Bridge API Key"

    name = fields.Char("Key Name", required=True, default=lambda self: self.env._("whatsapp_bridge"))
    key = fields.Char("API Key", readonly=True)
    login = fields.Char(default=lambda self: self.env.ref('whatsapp_attendance.user_whatsapp_bridge').login,
                        readonly=True)

    @api.model
    def _bridge_user(self):
        return self.env.ref('whatsapp_attendance.user_whatsapp_bridge')

    def action_generate(self):
        self.ensure_one()
        if not self.env.user.has_group('whatsapp_attendance.group_whatsapp_admin'):
            raise AccessError(self.env._("Only WhatsApp administrators can create the bridge's API key."))
        # sudo: res.users.apikeys - an administrator creates a key for the technical user, who
        # cannot log in to create one; without expiry, like Odoo's keys for integrations
        self.key = self.env['res.users.apikeys'].with_user(self._bridge_user()).sudo()._generate(
            None, self.name, None)
        return {
            'type': 'ir.actions.act_window', 'res_model': self._name, 'res_id': self.id,
            'view_mode': 'form', 'target': 'new', 'name': self.env._("Bridge API key"),
        }
