from odoo import fields, models


class WhatsappTemplateButton(models.Model):
    """A quick-reply button of a template (the customer's tap comes back as their reply)."""

    _name = 'whatsapp.template.button'
    _description = "WhatsApp Template Button"
    _order = 'template_id, sequence, id'

    template_id = fields.Many2one('whatsapp.template', required=True, ondelete='cascade', index=True)
    sequence = fields.Integer(default=10)
    name = fields.Char("Button Text", required=True, help="At most 25 characters.")
