from odoo import api, fields, models


class WhatsappTeam(models.Model):
    """A queue of attendants (Sales, Support, Billing…): its customers wait in its own queue."""

    _name = 'whatsapp.team'
    _description = "WhatsApp Team"
    _order = 'sequence, id'

    name = fields.Char("Team", required=True, translate=True)
    sequence = fields.Integer(default=10)
    active = fields.Boolean(default=True)
    color = fields.Integer("Color")
    member_ids = fields.Many2many(
        'res.users', 'whatsapp_team_user_rel', 'team_id', 'user_id', "Attendants",
        domain=lambda self: [('groups_id', 'in', self.env.ref('whatsapp_attendance.group_whatsapp_attendant').id)],
        help="The attendants who answer this team's customers.")
    greeting = fields.Text(
        "Greeting", translate=True,
        help="Sent to the customer when their conversation is routed to this team.")
    service_ids = fields.One2many('whatsapp.service', 'team_id', "Services")
    waiting_count = fields.Integer("Waiting", compute='_compute_counts')
    in_progress_count = fields.Integer("In Progress", compute='_compute_counts')

    _sql_constraints = [
        ('name_uniq', 'unique (name)', "A team with this name already exists."),
    ]

    @api.depends('service_ids.state')
    def _compute_counts(self):
        counts = {(team.id, state): count for team, state, count in self.env['whatsapp.service']._read_group(
            [('team_id', 'in', self.ids), ('state', 'in', ('waiting', 'in_progress'))],
            ['team_id', 'state'], ['__count'])}
        for team in self:
            team.waiting_count = counts.get((team.id, 'waiting'), 0)
            team.in_progress_count = counts.get((team.id, 'in_progress'), 0)
