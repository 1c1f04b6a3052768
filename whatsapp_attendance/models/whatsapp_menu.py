from odoo import api, fields, models
from odoo.exceptions import ValidationError

from ..tools.text import normalize_answer

MAX_OPTIONS = 10  # a WhatsApp list message has at most 10 rows


class WhatsappMenu(models.Model):
    """A menu the customer answers before an attendant takes over: a question and its options.

    The menu of a WhatsApp account (``whatsapp.account.menu_id``) greets every new service; an
    option may open another menu (a sub-menu), so the menus form a tree (or a graph: a "back"
    option may lead to a parent)."""

    _name = 'whatsapp.menu'
    _description = "WhatsApp Menu"
    _order = 'sequence, id'

    name = fields.Char("Menu", required=True, translate=True)
    sequence = fields.Integer(default=10)
    active = fields.Boolean(default=True)
    body = fields.Text(
        "Message", required=True, translate=True,
        help="What the customer reads above the options, e.g. \"Hello! How can we help you?\".")
    list_button = fields.Char(
        translate=True, size=20,
        help="The label of the button that opens the options on WhatsApp (4 to 10 options). Empty: "
             "\"Options\".")
    handoff_message = fields.Text(
        "Hand-Off Message", translate=True,
        help="Sent when the customer is handed to an attendant (an option, the escape word, too many "
             "unknown answers). Empty: the built-in text, in the customer's language.")
    option_ids = fields.One2many('whatsapp.menu.option', 'menu_id', "Options", copy=True)
    option_count = fields.Integer("Options Count", compute='_compute_option_count')
    account_ids = fields.One2many('whatsapp.account', 'menu_id', "Used By")

    @api.depends('option_ids')
    def _compute_option_count(self):
        for menu in self:
            menu.option_count = len(menu.option_ids)

    @api.constrains('option_ids')
    def _check_options(self):
        for menu in self:
            if len(menu.option_ids) > MAX_OPTIONS:
                raise ValidationError(self.env._(
                    "The menu %(menu)s has %(count)s options: WhatsApp shows at most %(max)s. Group some in a "
                    "sub-menu.", menu=menu.name, count=len(menu.option_ids), max=MAX_OPTIONS))
            seen = {}
            for option in menu.option_ids:
                key = normalize_answer(option.name)
                if key in seen:
                    raise ValidationError(self.env._(
                        "The menu %(menu)s has two options named %(name)s: the customer could not tell them apart.",
                        menu=menu.name, name=option.name))
                seen[key] = option

    def _sorted_options(self):
        self.ensure_one()
        return self.option_ids.sorted(lambda o: (o.sequence, o.id))
