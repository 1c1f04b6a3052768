from odoo import api, models
from odoo.exceptions import UserError


class ResUsers(models.Model):
    _inherit = 'res.users'

    @api.ondelete(at_uninstall=False)
    def _unlink_except_any_user(self):
        """Users keep the history of every conversation they answered: never delete them."""
        raise UserError(self.env._(
            "Users cannot be deleted: they are the authors of WhatsApp conversations. "
            "Archive %(users)s instead (Action > Archive).",
            users=", ".join(self.mapped('name'))))
