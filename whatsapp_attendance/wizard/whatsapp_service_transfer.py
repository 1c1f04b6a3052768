from odoo import api, fields, models
from odoo.exceptions import UserError


def attendant_domain(env):
    """The users a service can be handed to or shared with: WhatsApp attendants (internal users)."""
    return [('groups_id', 'in', env.ref('whatsapp_attendance.group_whatsapp_attendant').id), ('share', '=', False)]


class WhatsappServiceTransfer(models.TransientModel):
    _name = 'whatsapp.service.transfer'
    _description = "Transfer a WhatsApp service"

    service_id = fields.Many2one('whatsapp.service', required=True, ondelete='cascade')
    transfer_to = fields.Selection(
        [('user', "An attendant"), ('team', "A team's queue")], required=True, default='user',
        help="An attendant gets the customer at once; a team's queue puts the customer back to waiting "
             "for that team's attendants.")
    user_id = fields.Many2one(
        'res.users', "Attendant",
        domain=lambda self: attendant_domain(self.env))
    team_id = fields.Many2one('whatsapp.team')
    has_teams = fields.Boolean(compute='_compute_has_teams')
    note = fields.Char(help="Shown in the conversation and sent to the new attendant.")

    @api.depends('service_id')
    def _compute_has_teams(self):
        has_teams = bool(self.env['whatsapp.team'].search_count([], limit=1))
        for wizard in self:
            wizard.has_teams = has_teams

    def action_transfer(self):
        self.ensure_one()
        service = self.service_id
        if self.transfer_to == 'team':
            if not self.team_id:
                raise UserError(self.env._("Choose the team whose queue gets the customer."))
            service._transfer_to_team(self.team_id, note=self.note)
            target = self.env._("the %(team)s queue", team=self.team_id.name)
        else:
            if not self.user_id:
                raise UserError(self.env._("Choose the attendant who gets the customer."))
            service._transfer(self.user_id, note=self.note)
            target = self.user_id.name
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
                'message': self.env._("%(service)s was transferred to %(target)s.", service=name, target=target),
                'next': next_action,
            },
        }
