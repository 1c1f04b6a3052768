from datetime import datetime

from odoo import api, fields, models


class WhatsappTeam(models.Model):
    """A queue of attendants (Sales, Support, Billing…): its customers wait in its own queue."""

    _name = 'whatsapp.team'
    _description = "WhatsApp Team"
    _order = 'sequence, id'

    name = fields.Char("Team", required=True, translate=True)
    sequence = fields.Integer(default=10)
    active = fields.Boolean(default=True)
    color = fields.Integer()
    member_ids = fields.Many2many(
        'res.users', 'whatsapp_team_user_rel', 'team_id', 'user_id', "Attendants",
        domain=lambda self: [('groups_id', 'in', self.env.ref('whatsapp_attendance.group_whatsapp_attendant').id)],
        help="The attendants who answer this team's customers.")
    greeting = fields.Text(
        translate=True,
        help="Sent to the customer when their conversation is routed to this team.")
    auto_assign = fields.Boolean(
        "Automatic Assignment",
        help="Give each waiting customer of this team to an online attendant of the team at once: the "
             "customer's previous attendant when they can, otherwise the least busy one, never beyond "
             "their simultaneous services. Off: attendants take customers from the queue themselves.")
    service_ids = fields.One2many('whatsapp.service', 'team_id', "Services")
    waiting_count = fields.Integer("Waiting", compute='_compute_counts')
    in_progress_count = fields.Integer("In Progress", compute='_compute_counts')

    _sql_constraints = [
        ('name_uniq', 'unique (name)', "A team with this name already exists."),
    ]

    @api.model_create_multi
    def create(self, vals_list):
        teams = super().create(vals_list)
        if any(teams.mapped('auto_assign')):
            self.env['whatsapp.service']._whatsapp_trigger_auto_assign()
        return teams

    def write(self, vals):
        result = super().write(vals)
        if {'auto_assign', 'member_ids', 'active'} & set(vals):
            # switched on, or a new member: the customers already waiting may be assigned now
            self.env['whatsapp.service']._whatsapp_trigger_auto_assign()
        return result

    @api.depends('service_ids.state')
    def _compute_counts(self):
        counts = {(team.id, state): count for team, state, count in self.env['whatsapp.service']._read_group(
            [('team_id', 'in', self.ids), ('state', 'in', ('waiting', 'in_progress'))],
            ['team_id', 'state'], ['__count'])}
        for team in self:
            team.waiting_count = counts.get((team.id, 'waiting'), 0)
            team.in_progress_count = counts.get((team.id, 'in_progress'), 0)

    # ------------------------------------------------------------------
    # Automatic assignment
    # ------------------------------------------------------------------

    def _whatsapp_pick_attendant(self, service):
        """Who of this team gets ``service`` now, and why: ``(user, reason)``, or ``(False, why not)``.

        Follows Live Chat's choice of an operator (``im_livechat.channel._get_operator``): only
        online members (``res.users._is_user_available``, Odoo's presence), the customer's previous
        attendant first, otherwise the least busy; here also never beyond an attendant's
        simultaneous services (``whatsapp_capacity``, 0: no limit). Ties go to whoever was assigned
        least recently, so equally busy attendants take turns. Counts services in progress in every
        team: an attendant of two teams has one pair of hands."""
        self.ensure_one()
        group = self.env.ref('whatsapp_attendance.group_whatsapp_attendant')
        members = self.member_ids.filtered(lambda user: user.active and group in user.groups_id)
        online = members.filtered(lambda user: user._is_user_available())
        if not online:
            return False, self.env._("nobody of %(team)s is online", team=self.name)
        loads = dict(self.env['whatsapp.service']._read_group(
            [('user_id', 'in', online.ids), ('state', '=', 'in_progress')], ['user_id'], ['__count']))

        def free(user):
            return not user.whatsapp_capacity or loads.get(user, 0) < user.whatsapp_capacity

        previous = service._whatsapp_previous_attendant()
        if previous in online and free(previous):
            return previous, self.env._(
                "returning customer, %(user)s attended them before (%(load)s)",
                user=previous.name, load=previous._whatsapp_capacity_label(loads.get(previous, 0)))
        candidates = online.filtered(free)
        if not candidates:
            return False, self.env._("every online attendant of %(team)s is at their limit of simultaneous services",
                                     team=self.name)
        user = min(candidates, key=lambda u: (loads.get(u, 0), u.whatsapp_last_assigned_at or datetime.min, u.id))
        return user, self.env._("least busy online attendant of %(team)s (%(load)s)",
                                team=self.name, load=user._whatsapp_capacity_label(loads.get(user, 0)))
