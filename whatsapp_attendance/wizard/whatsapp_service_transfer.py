from odoo import fields, models


def attendant_domain(env):
    """The users a service can be handed to or shared with: WhatsApp attendants (internal users)."""
    return [('groups_id', 'in', env.ref('whatsapp_attendance.group_whatsapp_attendant').id), ('share', '=', False)]


class WhatsappServiceTransfer(models.TransientModel):
    _name = 'whatsapp.service.transfer'
    _description = "Transfer a WhatsApp service"

    service_id = fields.Many2one('whatsapp.service', required=True, ondelete='cascade')
    user_id = fields.Many2one(
        'res.users', "Transfer To", required=True,
        domain=lambda self: attendant_domain(self.env))
    note = fields.Char(help="Shown in the conversation and sent to the new attendant.")

    def action_transfer(self):
        self.ensure_one()
        service = self.service_id
        service._transfer(self.user_id, note=self.note)
        # sudo: whatsapp.service - its name, for the notification of a sender who may no longer read it
        name = service.sudo().name
        # an attendant who transferred their service may no longer read it: reloading its form
        # would fail, so they go back to the queue; an administrator stays on the service, and in
        # Discuss everybody stays where they are (the conversation leaves the sidebar)
        still_readable = bool(service.with_user(self.env.user).search_count([('id', '=', service.id)]))
        from_discuss = self.env.context.get('whatsapp_transfer_origin') == 'discuss'
        next_action = {'type': 'ir.actions.act_window_close'} if still_readable or from_discuss else \
            self.env['ir.actions.act_window']._for_xml_id('whatsapp_attendance.whatsapp_service_action_queue')
        return {
            'type': 'ir.actions.client',
            'tag': 'display_notification',
            'params': {
                'type': 'success',
                'message': self.env._("%(service)s was transferred to %(user)s.",
                                      service=name, user=self.user_id.name),
                'next': next_action,
            },
        }
