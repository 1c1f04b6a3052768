from odoo import api, fields, models
from odoo.exceptions import ValidationError

from ..tools.text import normalize_answer


class WhatsappMenuOption(models.Model):
    """One option of a menu: what happens when the customer picks it."""

    _name = 'whatsapp.menu.option'
    _description = "WhatsApp Menu Option"
    _order = 'sequence, id'

    menu_id = fields.Many2one('whatsapp.menu', required=True, index=True, ondelete='cascade')
    sequence = fields.Integer(default=10)
    name = fields.Char(
        "Option", required=True, translate=True, size=24,
        help="What the customer reads and may type (24 characters: WhatsApp's limit for a list row; 20 for "
             "a button).")
    description = fields.Char(translate=True, size=72,
                              help="A second line under the option in WhatsApp's list (optional).")
    action = fields.Selection([
        ('team', "Route to a team"),
        ('answer', "Answer and ask again"),
        ('submenu', "Open a sub-menu"),
        ('human', "Hand to an attendant"),
    ], "Then", required=True, default='human')
    team_id = fields.Many2one('whatsapp.team', ondelete='restrict',
                              help="The team whose queue the customer joins.")
    answer = fields.Text(translate=True, help="Sent to the customer, then the menu is asked again.")
    answer_file = fields.Binary("File", attachment=True, help="Sent with the answer (optional).")
    answer_filename = fields.Char("File Name")
    submenu_id = fields.Many2one('whatsapp.menu', "Sub-Menu", ondelete='restrict',
                                 help="The menu the customer answers next.")

    @api.constrains('action', 'team_id', 'answer', 'answer_file', 'submenu_id', 'menu_id')
    def _check_action(self):
        for option in self:
            if option.action == 'team' and not option.team_id:
                raise ValidationError(self.env._("The option %(option)s routes to a team: choose the team.",
                                                 option=option.name))
            if option.action == 'answer' and not (option.answer or option.answer_file):
                raise ValidationError(self.env._("The option %(option)s answers the customer: write the answer "
                                                 "or attach a file.", option=option.name))
            if option.action == 'submenu' and (not option.submenu_id or option.submenu_id == option.menu_id):
                raise ValidationError(self.env._("The option %(option)s opens a sub-menu: choose a menu other "
                                                 "than %(menu)s.", option=option.name, menu=option.menu_id.name))

    @api.constrains('name', 'menu_id')
    def _check_name(self):
        self.menu_id._check_options()  # the options of a menu, together (also when one is added alone)
        for option in self:
            if not normalize_answer(option.name):
                raise ValidationError(self.env._("An option needs a name the customer can type."))
            if normalize_answer(option.name).isdigit():
                raise ValidationError(self.env._(
                    "The option %(option)s is only a number: customers answer with the option's number, so "
                    "give it a name.", option=option.name))
