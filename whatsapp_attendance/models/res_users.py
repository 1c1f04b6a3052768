from odoo import api, fields, models
from odoo.exceptions import UserError, ValidationError

from odoo.addons.mail.tools.discuss import Store


class ResUsers(models.Model):
    _inherit = 'res.users'

    whatsapp_open_service_count = fields.Integer(
        "Open WhatsApp Services", compute='_compute_whatsapp_open_service_count',
        help="Services this attendant holds now (in progress).")
    whatsapp_capacity = fields.Integer(
        "Simultaneous Services", default=5,
        help="The most services automatic assignment gives this attendant at once (0: no limit). "
             "Taking a customer by hand is always possible.")
    whatsapp_team_ids = fields.Many2many(
        'whatsapp.team', 'whatsapp_team_user_rel', 'user_id', 'team_id', "WhatsApp Teams",
        help="The teams whose queues this attendant sees and answers.")
    # touched by every assignment (see whatsapp.service._whatsapp_lock_attendant): the row lock
    # that keeps two simultaneous assignments from overbooking one attendant, and the
    # round-robin tie-break between equally busy attendants
    whatsapp_last_assigned_at = fields.Datetime("Last WhatsApp Assignment", readonly=True, copy=False)

    def _compute_whatsapp_open_service_count(self):
        # sudo: whatsapp.service - a colleague's load is shown to whoever transfers (counts only)
        counts = dict(self.env['whatsapp.service'].sudo()._read_group(
            [('user_id', 'in', self.ids), ('state', '=', 'in_progress')], ['user_id'], ['__count']))
        for user in self:
            user.whatsapp_open_service_count = counts.get(user, 0)

    @api.constrains('whatsapp_capacity')
    def _check_whatsapp_capacity(self):
        for user in self:
            if user.whatsapp_capacity < 0:
                raise ValidationError(self.env._(
                    "The simultaneous services of %(user)s cannot be negative (0 means no limit).", user=user.name))

    def write(self, vals):
        result = super().write(vals)
        if 'whatsapp_capacity' in vals or 'whatsapp_team_ids' in vals:
            # a raised capacity or a new team member may take a waiting customer at once
            self.env['whatsapp.service']._whatsapp_trigger_auto_assign()
        return result

    def _whatsapp_capacity_label(self, load):
        """"2 of 5 services open" / "2 services open, no limit": what the assignment note says."""
        self.ensure_one()
        if self.whatsapp_capacity:
            return self.env._("%(load)s of %(capacity)s services open", load=load, capacity=self.whatsapp_capacity)
        return self.env._("%(load)s services open, no limit", load=load)

    @api.depends_context('whatsapp_transfer_picker')
    def _compute_display_name(self):
        """In the transfer picker, each attendant's presence and load: "Bruno (online, 2 open)"."""
        super()._compute_display_name()
        if not self.env.context.get('whatsapp_transfer_picker'):
            return
        labels = {'online': self.env._("online"), 'away': self.env._("away"), 'offline': self.env._("offline")}
        for user in self:
            user.display_name = self.env._(
                "%(name)s (%(presence)s, %(count)s open)", name=user.display_name,
                presence=labels.get(user.im_status, user.im_status or labels['offline']),
                count=user.whatsapp_open_service_count)

    @api.ondelete(at_uninstall=False)
    def _unlink_except_any_user(self):
        """Nobody deletes a user here (the product's rule): archiving keeps everything they did
        attributed to them and stops them logging in."""
        raise UserError(self.env._(
            "Users are never deleted in WhatsApp Attendance: archive %(users)s instead (Action > Archive). "
            "An archived user cannot log in, and what they did stays attributed to them.",
            users=", ".join(self.mapped('name'))))

    def _init_store_data(self, store: Store, /):
        """Discuss learns whether the user attends WhatsApp customers (the WhatsApp section, the queue)."""
        result = super()._init_store_data(store)
        user = self.env.user
        store.add({
            'whatsapp_is_attendant': user.has_group('whatsapp_attendance.group_whatsapp_attendant'),
            'whatsapp_is_admin': user.has_group('whatsapp_attendance.group_whatsapp_admin'),
            'whatsapp_is_supervisor': user.has_group('whatsapp_attendance.group_whatsapp_supervisor'),
            # sudo: res.partner - the user's own favourite customers
            'whatsapp_favorite_partner_ids': self.env['res.partner'].sudo().search(
                [('whatsapp_favorite_user_ids', 'in', user.id)]).ids,
        })
        return result
