from odoo import fields, models


class WhatsappServiceTransfer(models.TransientModel):
    _name = 'whatsapp.service.transfer'
    _description = "Transfer a WhatsApp service"

    service_id = fields.Many2one('whatsapp.service', required=True, ondelete='cascade')
    user_id = fields.Many2one(
        'res.users', "Transfer To", required=True,
        domain=lambda self: [('groups_id', 'in', self.env.ref('whatsapp_attendance.group_whatsapp_attendant').id),
                             ('share', '=', False)])
    note = fields.Char(help="Shown in the conversation and sent to the new attendant.")

    def action_transfer(self):
        self.ensure_one()
        self.service_id._transfer(self.user_id, note=self.note)
        return {'type': 'ir.actions.act_window_close'}
