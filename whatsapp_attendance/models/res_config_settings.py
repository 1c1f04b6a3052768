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

    whatsapp_menu_human_keywords = fields.Char(
        "Talk-to-a-Person Words", config_parameter='whatsapp_attendance.menu_human_keywords',
        default="0,human,atendente,humano,attendant,agent",
        help="Comma-separated words that always hand the customer to an attendant, whatever the menu asks.")
    whatsapp_menu_max_retries = fields.Integer(
        "Unknown Answers Allowed", config_parameter='whatsapp_attendance.menu_max_retries', default=2,
        help="After this many answers the menu does not understand, the service goes to the general queue.")
    whatsapp_menu_numbered_text = fields.Boolean(
        "Numbered Text Menus", config_parameter='whatsapp_attendance.menu_numbered_text',
        help="Send menus as numbered text instead of WhatsApp buttons and lists, also on the Cloud API.")
    whatsapp_menu_skip_outside_hours = fields.Boolean(
        "No Menu Outside Business Hours", config_parameter='whatsapp_attendance.menu_skip_outside_hours',
        help="Outside business hours the customer gets the out-of-hours message only, and waits in the queue.")
    whatsapp_resource_calendar_id = fields.Many2one(
        'resource.calendar', "Business Hours", config_parameter='whatsapp_attendance.resource_calendar_id',
        help="Working hours and public holidays of the WhatsApp accounts that have no calendar of their own. "
             "Empty: always open.")
    whatsapp_idle_warning = fields.Integer(
        "Ask If Still There (minutes before)", config_parameter='whatsapp_attendance.idle_warning', default=0,
        help="This many minutes before the idle timeout, the customer is asked whether they are still there; "
             "the idle timeout then says goodbye. 0: neither (the service just finishes).")
    whatsapp_idle_warning_text = fields.Char(
        "Still-There Message", config_parameter='whatsapp_attendance.idle_warning_text',
        help="{name} is the customer. Empty: the built-in text, in the customer's language.")
    whatsapp_idle_warning_template_id = fields.Many2one(
        'whatsapp.template', "Still-There Template", config_parameter='whatsapp_attendance.idle_warning_template_id',
        domain="[('state', '=', 'approved')]",
        help="Sent instead when the customer last wrote more than 24 hours ago.")
    whatsapp_farewell_text = fields.Char(
        "Farewell Message", config_parameter='whatsapp_attendance.farewell_text',
        help="{name} is the customer. Empty: the built-in text, in the customer's language.")
    whatsapp_farewell_template_id = fields.Many2one(
        'whatsapp.template', "Farewell Template", config_parameter='whatsapp_attendance.farewell_template_id',
        domain="[('state', '=', 'approved')]",
        help="Sent instead when the customer last wrote more than 24 hours ago.")

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

    @api.constrains('whatsapp_idle_timeout', 'whatsapp_repush_delay', 'whatsapp_redis_url', 'whatsapp_idle_warning',
                    'whatsapp_menu_max_retries')
    def _check_whatsapp_settings(self):
        for settings in self:
            if settings.whatsapp_idle_timeout < 0:
                raise ValidationError(self.env._("The idle timeout cannot be negative (0 disables it)."))
            warning, timeout = settings.whatsapp_idle_warning, settings.whatsapp_idle_timeout
            if warning < 0 or (warning and timeout and warning >= timeout):
                raise ValidationError(self.env._(
                    "Ask if the customer is still there a few minutes before the idle timeout: between 1 and "
                    "%(max)s minutes (0 disables it).", max=max(timeout - 1, 0)))
            if settings.whatsapp_menu_max_retries < 1:
                raise ValidationError(self.env._("The menu allows at least one unknown answer."))
            if settings.whatsapp_repush_delay and settings.whatsapp_repush_delay < 10:
                raise ValidationError(self.env._("The re-push delay must be at least 10 seconds."))
            url = settings.whatsapp_redis_url
            if url and not url.startswith(('redis://', 'rediss://', 'unix://')):
                raise ValidationError(self.env._(
                    "The Redis URL must start with redis://, rediss:// or unix:// (got %(url)s).", url=url))
