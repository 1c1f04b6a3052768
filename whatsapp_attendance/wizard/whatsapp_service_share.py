from odoo import fields, models

from .whatsapp_service_transfer import attendant_domain


class WhatsappServiceShare(models.TransientModel):
    _name = 'whatsapp.service.share'
    _description = "Share a WhatsApp service read-only"

    service_id = fields.Many2one('whatsapp.service', required=True, ondelete='cascade')
    user_id = fields.Many2one(
        'res.users', "Share With", required=True,
        domain=lambda self: attendant_domain(self.env),
        help="They read the conversation live and may add internal notes, but cannot write to the customer.")

    def action_share(self):
        self.ensure_one()
        self.service_id._share_readonly(self.user_id)
        return {
            'type': 'ir.actions.client',
            'tag': 'display_notification',
            'params': {
                'type': 'success',
                'message': self.env._("%(user)s can now read %(service)s.",
                                      user=self.user_id.name, service=self.service_id.name),
                'next': {'type': 'ir.actions.act_window_close'},
            },
        }
