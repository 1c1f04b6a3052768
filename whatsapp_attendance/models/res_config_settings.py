from odoo import api, fields, models
from odoo.exceptions import ValidationError

from ..tools.params import get_param


class ResConfigSettings(models.TransientModel):
    _inherit = 'res.config.settings'

    whatsapp_idle_timeout = fields.Integer(
        "Idle Timeout (minutes)", config_parameter='whatsapp_attendance.idle_timeout', default=30,
        help="A service in progress with no message in either direction for this long is finished. 0 disables.")
    whatsapp_rating_text = fields.Char(
        "Rating Request", config_parameter='whatsapp_attendance.rating_text',
        help="Sent when a service finishes. Placeholders: {name} (customer), {link} (rating page), {service}. "
             "Empty: the built-in text, in the customer's language.")
    whatsapp_rating_template_id = fields.Many2one(
        'whatsapp.template', "Rating Request Template", config_parameter='whatsapp_attendance.rating_template_id',
        domain="[('state', '=', 'approved')]",
        help="Sent instead of the rating request when the customer last wrote more than 24 hours ago (WhatsApp "
             "then only takes an approved template). Its quick-reply buttons, in order, rate 5, 3 and 1; a "
             "variable filled with the rating page link gets the link.")
    whatsapp_redis_url = fields.Char(
        "Redis URL", config_parameter='whatsapp_attendance.redis_url',
        default=lambda self: self.env['whatsapp.message']._default_redis_url(),
        help="Where the bridge reads outbound messages (stream wa:out).")
    whatsapp_stream_prefix = fields.Char(
        "Stream Prefix", config_parameter='whatsapp_attendance.stream_prefix',
        help="Prefix of the Redis stream names, when several databases share one Redis.")
    whatsapp_repush_delay = fields.Integer(
        "Re-push Delay (seconds)", config_parameter='whatsapp_attendance.repush_delay', default=120,
        help="An outbound message still queued after this delay is pushed to the bridge again.")
    whatsapp_default_country_id = fields.Many2one(
        'res.country', "Default Country", compute='_compute_whatsapp_default_country_id',
        inverse='_inverse_whatsapp_default_country_id', readonly=False,
        help="Country used to read phone numbers typed without a country code.")
    whatsapp_finish_keywords = fields.Char(
        "Customer Finish Keywords", config_parameter='whatsapp_attendance.finish_keywords', default="#end,#fim",
        help="Comma-separated words a customer can send to finish their service.")

    @api.depends('company_id')
    def _compute_whatsapp_default_country_id(self):
        code = get_param(self.env, 'default_country_code')
        country = self.env['res.country'].search([('code', '=', code)], limit=1) if code else False
        for settings in self:
            settings.whatsapp_default_country_id = country

    def _inverse_whatsapp_default_country_id(self):
        # sudo: ir.config_parameter - Settings is for administrators; the parameter itself is technical
        params = self.env['ir.config_parameter'].sudo()
        for settings in self:
            previous = params.get_param('whatsapp_attendance.default_country_code') or False
            code = settings.whatsapp_default_country_id.code or False
            if code == previous:
                continue
            params.set_param('whatsapp_attendance.default_country_code', code)
            # numbers typed without a country code now read differently: contacts with no country
            # are matched again under the new default, so existing customers are recognised
            Partner = self.env['res.partner'].with_context(active_test=False)
            partners = Partner.search([
                ('country_id', '=', False), '|', ('phone', '!=', False), ('mobile', '!=', False)])
            self.env.add_to_compute(Partner._fields['phone_e164'], partners)
            self.env.add_to_compute(Partner._fields['mobile_e164'], partners)
            partners.flush_recordset(['phone_e164', 'mobile_e164'])

    @api.constrains('whatsapp_idle_timeout', 'whatsapp_repush_delay', 'whatsapp_redis_url')
    def _check_whatsapp_settings(self):
        for settings in self:
            if settings.whatsapp_idle_timeout < 0:
                raise ValidationError(self.env._("The idle timeout cannot be negative (0 disables it)."))
            if settings.whatsapp_repush_delay and settings.whatsapp_repush_delay < 10:
                raise ValidationError(self.env._("The re-push delay must be at least 10 seconds."))
            url = settings.whatsapp_redis_url
            if url and not url.startswith(('redis://', 'rediss://', 'unix://')):
                raise ValidationError(self.env._(
                    "The Redis URL must start with redis://, rediss:// or unix:// (got %(url)s).", url=url))
