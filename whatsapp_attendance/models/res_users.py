from odoo import api, fields, models
from odoo.exceptions import UserError

from odoo.addons.mail.tools.discuss import Store


class ResUsers(models.Model):
    _inherit = 'res.users'

    whatsapp_open_service_count = fields.Integer(
        "Open WhatsApp Services", compute='_compute_whatsapp_open_service_count',
        help="Services this attendant holds now (in progress).")

    def _compute_whatsapp_open_service_count(self):
        # sudo: whatsapp.service - a colleague's load is shown to whoever transfers (counts only)
        counts = dict(self.env['whatsapp.service'].sudo()._read_group(
            [('user_id', 'in', self.ids), ('state', '=', 'in_progress')], ['user_id'], ['__count']))
        for user in self:
            user.whatsapp_open_service_count = counts.get(user, 0)

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
