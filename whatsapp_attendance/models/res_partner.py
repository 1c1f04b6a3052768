from odoo import api, fields, models
from odoo.exceptions import ValidationError

from ..tools import phone as phone_tools
from ..tools.params import get_param


class ResPartner(models.Model):
    _inherit = 'res.partner'

    whatsapp_user_id = fields.Char(
        "WhatsApp User ID", copy=False, index='btree_not_null',
        help="Business-scoped user id WhatsApp gives this customer (contacts[].user_id).")
    whatsapp_phone = fields.Char(
        "WhatsApp Number", copy=False, index='btree_not_null',
        help="The customer's WhatsApp number in E.164 format (+5511987654321).")
    phone_e164 = fields.Char("Phone (E.164)", compute='_compute_phone_e164', store=True, index='btree_not_null')
    mobile_e164 = fields.Char("Mobile (E.164)", compute='_compute_phone_e164', store=True, index='btree_not_null')
    whatsapp_service_ids = fields.One2many('whatsapp.service', 'partner_id', string="WhatsApp Services")
    whatsapp_service_count = fields.Integer(compute='_compute_whatsapp_service_count')
    whatsapp_favorite_user_ids = fields.Many2many(
        'res.users', 'whatsapp_partner_favorite_user_rel', 'partner_id', 'user_id', "Favourite Of",
        copy=False, help="Attendants who pinned this customer: their conversations come first in their sidebar.")

    _sql_constraints = [
        ('whatsapp_user_id_unique', 'UNIQUE(whatsapp_user_id)',
         "Another contact already has this WhatsApp user id."),
    ]

    @api.depends('phone', 'mobile', 'country_id')
    def _compute_phone_e164(self):
        default_region = self.env['res.partner']._whatsapp_default_region()
        for partner in self:
            region = partner.country_id.code or default_region
            partner.phone_e164 = phone_tools.to_e164(partner.phone, region)
            partner.mobile_e164 = phone_tools.to_e164(partner.mobile, region)

    def _compute_whatsapp_service_count(self):
        counts = dict(self.env['whatsapp.service']._read_group(
            [('partner_id', 'in', self.ids)], ['partner_id'], ['__count']))
        for partner in self:
            partner.whatsapp_service_count = counts.get(partner, 0)

    @api.constrains('whatsapp_phone')
    def _check_whatsapp_phone(self):
        for partner in self.filtered('whatsapp_phone'):
            if phone_tools.to_e164(partner.whatsapp_phone) != partner.whatsapp_phone:
                raise ValidationError(self.env._(
                    "The WhatsApp number of %(name)s must be in E.164 format, like +5511987654321 (got %(number)s).",
                    name=partner.display_name, number=partner.whatsapp_phone))

    @api.model
    def _whatsapp_default_region(self):
        """Country used to read national numbers: the setting, else the company's country."""
        code = get_param(self.env, 'default_country_code')
        return (code or self.env.company.country_id.code or '').upper() or None

    @api.model
    def _whatsapp_find_or_create(self, wa_id=None, user_id=None, name=None):
        """The contact WhatsApp names with ``user_id`` (BSUID) and/or ``wa_id`` (phone digits).

        The business-scoped user id wins; then the phone number, compared in
        E.164 with the contact's WhatsApp number, phone and mobile (so an
        existing contact typed in any format is reused). The profile ``name``
        only names a contact created here.
        """
        return self._whatsapp_find_or_create_many([{'wa_id': wa_id, 'user_id': user_id, 'name': name}])[0]

    @api.model
    def _whatsapp_find_or_create_many(self, senders):
        """``_whatsapp_find_or_create`` for a list of senders (dicts ``wa_id``, ``user_id``, ``name``),
        with two searches for the whole list; returns the contacts in the order of ``senders``.

        Senders are resolved one after the other against the contacts found and those created
        for earlier senders, so two names of one new person in one batch (a user id, then the
        number alone) give one contact, as two calls would."""
        Partner = self.with_context(active_test=False)
        wanted = []
        for sender in senders:
            e164 = phone_tools.to_e164(sender['wa_id']) if sender.get('wa_id') else False
            wanted.append((sender.get('user_id') or False, e164,
                           phone_tools.whatsapp_variants(e164) if e164 else []))
        user_ids = sorted({user_id for user_id, _e164, _variants in wanted if user_id})
        variants = sorted({variant for _user_id, _e164, vs in wanted for variant in vs})
        by_user = Partner.search([('whatsapp_user_id', 'in', user_ids)], order='id') if user_ids else Partner
        by_phone = Partner.search(['|', '|', ('whatsapp_phone', 'in', variants), ('mobile_e164', 'in', variants),
                                   ('phone_e164', 'in', variants)], order='active desc, id') if variants else Partner
        created = Partner
        result = []
        for sender, (user_id, e164, sender_variants) in zip(senders, wanted, strict=True):
            partner = Partner
            if user_id:
                partner = (by_user | created).filtered(lambda p, u=user_id: p.whatsapp_user_id == u)[:1]
            if not partner and e164:
                # a contact already tied to another WhatsApp user is someone else (recycled number)
                partner = (by_phone | created).filtered(
                    lambda p, vs=set(sender_variants), u=user_id: (
                        {p.whatsapp_phone, p.mobile_e164, p.phone_e164} & vs
                        and (not u or p.whatsapp_user_id in (False, u))))[:1]
            if partner:
                updates = {}
                if user_id and not partner.whatsapp_user_id:
                    updates['whatsapp_user_id'] = user_id
                if e164 and not partner.whatsapp_phone:
                    updates['whatsapp_phone'] = e164
                if updates:
                    partner.write(updates)
            else:
                partner = self.create({
                    'name': (((sender.get('name') or '').strip()) or (e164 and phone_tools.format_international(e164))
                             or self.env._("WhatsApp customer")),
                    'mobile': e164 and phone_tools.format_international(e164),
                    'whatsapp_phone': e164,
                    'whatsapp_user_id': user_id or False,
                    **self._whatsapp_locale_values(e164),
                })
                created |= partner
            result.append(partner)
        return result

    @api.model
    def _whatsapp_locale_values(self, e164):
        """Country and language of a new customer from their number: a +55 number is a Brazilian
        customer, who is then written to in Brazilian Portuguese when that language is installed."""
        region = phone_tools.region_of(e164) if e164 else None
        if not region:
            return {}
        values = {}
        country = self.env['res.country'].search([('code', '=', region)], limit=1)
        if country:
            values['country_id'] = country.id
        lang = next((code for code, _name in self.env['res.lang'].get_installed() if code.endswith(f"_{region}")),
                    None)
        if lang:
            values['lang'] = lang
        return values

    def action_view_whatsapp_services(self):
        self.ensure_one()
        action = self.env['ir.actions.act_window']._for_xml_id('whatsapp_attendance.whatsapp_service_action')
        action['domain'] = [('partner_id', '=', self.id)]
        action['context'] = {'default_partner_id': self.id}
        return action
