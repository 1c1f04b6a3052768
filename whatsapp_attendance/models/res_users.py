from odoo import api, models
from odoo.exceptions import UserError

from odoo.addons.mail.tools.discuss import Store


class ResUsers(models.Model):
    _inherit = 'res.users'

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
        super()._init_store_data(store)
        user = self.env.user
        store.add({
            'whatsapp_is_attendant': user.has_group('whatsapp_attendance.group_whatsapp_attendant'),
            'whatsapp_is_admin': user.has_group('whatsapp_attendance.group_whatsapp_admin'),
            'whatsapp_is_supervisor': user.has_group('whatsapp_attendance.group_whatsapp_supervisor'),
        })
