from odoo import api, fields, models
from odoo.exceptions import ValidationError

from ..tools.phone import format_international


class WhatsappTemplateVariable(models.Model):
    """What fills one ``{{n}}`` of a template's body, for each customer."""

    _name = 'whatsapp.template.variable'
    _description = "WhatsApp Template Variable"
    _order = 'template_id, number'

    template_id = fields.Many2one('whatsapp.template', required=True, ondelete='cascade', index=True)
    number = fields.Integer("Variable", required=True, default=1, help="The n of {{n}} in the body.")
    value = fields.Selection([
        ('customer_name', "Customer name"),
        ('customer_first_name', "Customer first name"),
        ('customer_number', "Customer WhatsApp number"),
        ('service_reference', "Service reference"),
        ('attendant_name', "Attendant name"),
        ('company_name', "Company name"),
        ('rating_link', "Rating page link"),
        ('fixed', "Fixed text (the sample)"),
    ], "Filled With", required=True, default='customer_name')
    sample = fields.Char(help="Shown in the preview and sent to WhatsApp as the example for its review.")

    _sql_constraints = [
        ('number_unique', 'UNIQUE(template_id, number)', "A template has each variable once."),
    ]

    @api.depends('number', 'value')
    def _compute_display_name(self):
        labels = dict(self._fields['value']._description_selection(self.env))
        for var in self:
            var.display_name = f"{{{{{var.number}}}}} {labels.get(var.value, '')}"

    @api.constrains('number', 'value', 'sample')
    def _check_number(self):
        for var in self:
            if var.number < 1:
                raise ValidationError(self.env._("Variables are numbered from 1: {{1}}, {{2}}, ..."))
            if var.value == 'fixed' and not (var.sample or '').strip():
                raise ValidationError(self.env._(
                    "Variable {{%(number)s}} is a fixed text: write it in Sample.", number=var.number))

    def _value_label(self):
        self.ensure_one()
        return dict(self._fields['value']._description_selection(self.env))[self.value]

    def _value_for(self, service, extra):
        """The text of this variable for ``service`` (``extra``: values only the caller knows)."""
        self.ensure_one()
        partner = service.partner_id
        value = self.value
        if value == 'customer_name':
            return partner.name
        if value == 'customer_first_name':
            return (partner.name or '').split(' ')[0]
        if value == 'customer_number':
            return format_international(partner.whatsapp_phone) if partner.whatsapp_phone else ''
        if value == 'service_reference':
            return service.name
        if value == 'attendant_name':
            return extra.get('attendant_name') or service.user_id.name or self.env.user.name
        if value == 'company_name':
            return service.company_id.name or self.env.company.name
        if value == 'rating_link':
            return extra.get('rating_link') or service._rating_link()
        return self.sample or ''
