from odoo import fields, models
from odoo.exceptions import UserError


class RatingRating(models.Model):
    _inherit = 'rating.rating'

    whatsapp_service_visible = fields.Boolean(
        "Rates a WhatsApp Service I May See", compute='_compute_whatsapp_service_visible',
        search='_search_whatsapp_service_visible',
        help="Used by the record rule that shows attendants only the ratings of their own services.")

    def _compute_whatsapp_service_visible(self):
        ids = [rating.res_id for rating in self if rating.res_model == 'whatsapp.service']
        # with_user: the current user's own record rules on services decide (not a sudo'ed caller's)
        visible = set(self.env['whatsapp.service'].with_user(self.env.uid).search([('id', 'in', ids)]).ids)
        for rating in self:
            rating.whatsapp_service_visible = rating.res_model == 'whatsapp.service' and rating.res_id in visible

    def _search_whatsapp_service_visible(self, operator, value):
        if operator not in ('=', '!=') or not isinstance(value, bool):
            raise UserError(self.env._("Unsupported search on %(field)s.", field='whatsapp_service_visible'))
        # record rules are applied as superuser with the user's uid: search services as that user
        services = self.env['whatsapp.service'].with_user(self.env.uid)._search([])
        domain = [('res_model', '=', 'whatsapp.service'), ('res_id', 'in', services)]
        return domain if (operator == '=') == value else ['!', *domain]
