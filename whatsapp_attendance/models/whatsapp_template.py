import re

from odoo import Command, api, fields, models
from odoo.exceptions import UserError, ValidationError

from .. import contract
from ..tools.params import get_param

# Languages WhatsApp approves templates in (Meta's codes), the most used first.
TEMPLATE_LANGUAGES = [
    ('pt_BR', "Portuguese (Brazil)"), ('en_US', "English (US)"), ('es', "Spanish"),
    ('en', "English"), ('en_GB', "English (UK)"), ('pt_PT', "Portuguese (Portugal)"),
    ('es_AR', "Spanish (Argentina)"), ('es_ES', "Spanish (Spain)"), ('es_MX', "Spanish (Mexico)"),
    ('fr', "French"), ('de', "German"), ('it', "Italian"), ('nl', "Dutch"),
]
# Meta's status -> the template's state here ("paused" is a disabled template WhatsApp may resume)
STATUS_TO_STATE = {'pending': 'pending', 'approved': 'approved', 'rejected': 'rejected',
                   'disabled': 'disabled', 'paused': 'disabled', 'error': 'draft'}
# what may not change once WhatsApp has the template (reset it to draft first)
CONTENT_FIELDS = {'name', 'language', 'category', 'body', 'header_type', 'header_text', 'header_file',
                  'variable_ids', 'button_ids', 'account_id'}
_NAME = re.compile(r'^[a-z0-9_]+$')


class WhatsappTemplate(models.Model):
    """A WhatsApp message template: what may be sent to a customer outside the 24-hour window,
    once WhatsApp approved it. Submitted and synced through the bridge (``wa:control``)."""

    _name = 'whatsapp.template'
    _description = "WhatsApp Template"
    _inherit = ['mail.thread']
    _order = 'name, language, id'

    name = fields.Char(
        "Template Name", required=True, tracking=True,
        help="WhatsApp's name of the template: lowercase letters, digits and underscores (order_update).")
    language = fields.Selection(TEMPLATE_LANGUAGES, required=True, default='pt_BR', tracking=True)
    category = fields.Selection([
        ('utility', "Utility"), ('marketing', "Marketing"), ('authentication', "Authentication"),
    ], required=True, default='utility', tracking=True,
        help="Utility: about a service the customer asked for (a rating request, an update). "
             "Marketing: promotions. WhatsApp may re-categorise a template when it reviews it.")
    account_id = fields.Many2one('whatsapp.account', "WhatsApp Account", required=True, ondelete='cascade',
                                 default=lambda self: self.env['whatsapp.account'].search([], limit=1))
    company_id = fields.Many2one(related='account_id.company_id', store=True)
    active = fields.Boolean(default=True)
    body = fields.Text(
        required=True, help="What the customer reads. {{1}}, {{2}}... are filled for each customer (Variables).")
    variable_ids = fields.One2many('whatsapp.template.variable', 'template_id', "Variables", copy=True)
    header_type = fields.Selection([
        ('none', "None"), ('text', "Text"), ('image', "Image"), ('document', "Document"), ('video', "Video"),
    ], "Header", required=True, default='none')
    header_text = fields.Char(help="At most 60 characters.")
    header_file = fields.Binary(attachment=True)
    header_filename = fields.Char()
    button_ids = fields.One2many('whatsapp.template.button', 'template_id', "Quick Replies", copy=True,
                                 help="At most 3 reply buttons, 25 characters each.")
    state = fields.Selection([
        ('draft', "Draft"), ('pending', "Pending Approval"), ('approved', "Approved"),
        ('rejected', "Rejected"), ('disabled', "Disabled"),
    ], required=True, default='draft', readonly=True, copy=False, tracking=True, index=True)
    rejection_reason = fields.Char(
        "WhatsApp's Answer", readonly=True, copy=False,
        help="Why WhatsApp rejected or disabled the template, or why it could not be submitted.")
    wa_template_id = fields.Char("WhatsApp Template ID", readonly=True, copy=False)
    submitted_at = fields.Datetime(readonly=True, copy=False)
    synced_at = fields.Datetime("Last Answer", readonly=True, copy=False)
    preview = fields.Text(compute='_compute_preview', help="The body with the sample value of each variable.")

    _sql_constraints = [
        ('name_language_account_unique', 'UNIQUE(account_id, name, language)',
         "A WhatsApp account has one template of a name per language."),
    ]

    @api.depends('name', 'language')
    def _compute_display_name(self):
        for template in self:
            template.display_name = f"{template.name} ({template.language})" if template.language else template.name

    @api.depends('body', 'header_type', 'header_text', 'variable_ids.sample', 'variable_ids.number')
    def _compute_preview(self):
        for template in self:
            samples = {var.number: var.sample or f"{{{{{var.number}}}}}" for var in template.variable_ids}
            template.preview = template._fill(template.body or '', samples)

    # ------------------------------------------------------------------
    # Validation: Meta's rules, said before WhatsApp refuses the template
    # ------------------------------------------------------------------

    @api.constrains('name')
    def _check_name(self):
        for template in self:
            if not _NAME.match(template.name or '') or len(template.name) > contract.TEMPLATE_LIMITS['name']:
                raise ValidationError(self.env._(
                    "Template name %(name)r: WhatsApp only accepts lowercase letters, digits and underscores "
                    "(for example order_update).", name=template.name))

    @api.constrains('body', 'variable_ids', 'header_type', 'header_text', 'header_file', 'button_ids')
    def _check_content(self):
        limits = contract.TEMPLATE_LIMITS
        for template in self:
            body = template.body or ''
            if len(body) > limits['body']:
                raise ValidationError(self.env._(
                    "Template %(name)s: the body has %(count)s characters; WhatsApp allows at most %(max)s.",
                    name=template.name, count=len(body), max=limits['body']))
            numbers = template._body_variables()
            mapped = template.variable_ids.mapped('number')
            for number in numbers:
                if number not in mapped:
                    raise ValidationError(self.env._(
                        "Template %(name)s: variable {{%(number)s}} of the body has no value: add it under "
                        "Variables.", name=template.name, number=number))
            for number in mapped:
                if number not in numbers:
                    raise ValidationError(self.env._(
                        "Template %(name)s: unknown variable {{%(number)s}}: the body has no such placeholder.",
                        name=template.name, number=number))
            if len(mapped) != len(set(mapped)):
                raise ValidationError(self.env._("Template %(name)s: a variable is listed twice.",
                                                 name=template.name))
            if template.header_type == 'text':
                text = template.header_text or ''
                if not text.strip():
                    raise ValidationError(self.env._("Template %(name)s: the text header is empty.",
                                                     name=template.name))
                if len(text) > limits['header']:
                    raise ValidationError(self.env._(
                        "Template %(name)s: the header has %(count)s characters; WhatsApp allows at most %(max)s.",
                        name=template.name, count=len(text), max=limits['header']))
                if '{{' in text:
                    raise ValidationError(self.env._("Template %(name)s: the header cannot have variables.",
                                                     name=template.name))
            if len(template.button_ids) > limits['buttons']:
                raise ValidationError(self.env._("Template %(name)s: at most %(max)s quick-reply buttons.",
                                                 name=template.name, max=limits['buttons']))
            for button in template.button_ids:
                if len(button.name or '') > limits['button']:
                    raise ValidationError(self.env._(
                        "Template %(name)s: button %(button)r has %(count)s characters; WhatsApp allows at "
                        "most %(max)s.", name=template.name, button=button.name, count=len(button.name),
                        max=limits['button']))

    def _body_variables(self):
        """The ``{{n}}`` of the body, distinct and sorted; an ill-formed one is a ValidationError."""
        self.ensure_one()
        try:
            numbers = sorted(set(contract.template_placeholders(self.body or '')))
        except contract.ContractError as error:
            raise ValidationError(self.env._(
                "Template %(name)s: %(problem)s. Variables are numbered: {{1}}, {{2}}, ...",
                name=self.name, problem=error.problem)) from None
        if numbers != list(range(1, len(numbers) + 1)):
            missing = next(n for n in range(1, len(numbers) + 1) if n not in numbers)
            raise ValidationError(self.env._(
                "Template %(name)s: the variables must be {{1}} to {{%(count)s}} without gaps; {{%(missing)s}} "
                "is missing.", name=self.name, count=len(numbers), missing=missing))
        return numbers

    @api.onchange('body')
    def _onchange_body(self):
        """Typing a {{n}} in the body adds its variable line; removing it drops the line."""
        try:
            numbers = set(contract.template_placeholders(self.body or ''))
        except contract.ContractError:
            return
        commands = [Command.unlink(var.id) for var in self.variable_ids if var.number not in numbers]
        known = set(self.variable_ids.mapped('number'))
        commands += [Command.create({'number': n, 'value': 'customer_name' if n == 1 else 'service_reference'})
                     for n in sorted(numbers - known)]
        if commands:
            self.variable_ids = commands

    @api.model_create_multi
    def create(self, vals_list):
        templates = super().create(vals_list)
        # the variable lines' checks need the body and the lines together
        templates._check_content()
        return templates

    def write(self, vals):
        if CONTENT_FIELDS & set(vals) and not self.env.context.get('whatsapp_template_sync'):
            locked = self.filtered(lambda t: t.state in ('pending', 'approved'))
            if locked:
                raise UserError(self.env._(
                    "Template %(name)s is with WhatsApp (%(state)s): reset it to draft before changing it, then "
                    "submit it again.", name=locked[0].name,
                    state=dict(self._fields['state']._description_selection(self.env))[locked[0].state]))
        result = super().write(vals)
        if {'body', 'variable_ids'} & set(vals):
            self._check_content()
        return result

    # ------------------------------------------------------------------
    # Filling the variables
    # ------------------------------------------------------------------

    @staticmethod
    def _fill(text, values):
        def replace(match):
            token = match.group(1)
            return values.get(int(token), match.group(0)) if token.isdigit() else match.group(0)
        return re.sub(r'\{\{\s*(\w+)\s*\}\}', replace, text)

    def _values_for(self, service, extra=None):
        """``{n: text}`` for this template's variables, filled from ``service`` (and ``extra``, e.g. the
        rating link); an empty value becomes a dash (WhatsApp refuses empty parameters)."""
        self.ensure_one()
        return {var.number: (var._value_for(service, extra or {}) or '').strip() or '-' for var in self.variable_ids}

    def _render(self, service, extra=None):
        """``(text, TemplateMessage)``: what the customer reads, and the job's ``template`` (contract)."""
        self.ensure_one()
        values = self._values_for(service, extra)
        text = self._fill(self.body, values)
        header = None
        if self.header_type == 'text':
            header = {'format': 'text', 'parameters': []}
            text = f"*{self.header_text}*\n{text}"
        elif self.header_type != 'none':
            header = {'format': self.header_type, 'link': self._header_link()}
            if self.header_filename:
                header['filename'] = self.header_filename
        message = {
            'name': self.name, 'language': self.language, 'header': header,
            'body_parameters': [values[n] for n in sorted(values)],
            'button_payloads': self._button_payloads(service, extra or {}) or None,
        }
        return text, contract.validate_template_message(message)

    def _button_payloads(self, service, extra):
        """What each quick reply sends back when pressed: the rating request's buttons rate the service
        (5, 3, 1 in order); others name the template and the button."""
        token = extra.get('rating_token')
        payloads = []
        for index, button in enumerate(self.button_ids.sorted('sequence')):
            if token and index < len(contract.RATING_SCORES):
                payloads.append(contract.rating_button_id(token, contract.RATING_SCORES[index]))
            else:
                payloads.append(f"tpl:{self.id}:{index}:{button.id}")
        return payloads

    def _header_link(self):
        """A public link to the header file (WhatsApp fetches it from Odoo's public URL)."""
        self.ensure_one()
        # sudo: ir.attachment - the link is what WhatsApp downloads; the token makes it public
        attachment = self.env['ir.attachment'].sudo().search([
            ('res_model', '=', self._name), ('res_id', '=', self.id), ('res_field', '=', 'header_file')], limit=1)
        if not attachment:
            raise UserError(self.env._("Template %(name)s has a %(kind)s header but no file.",
                                       name=self.name, kind=self.header_type))
        token = attachment.access_token or attachment.generate_access_token()[0]
        base_url = (get_param(self.env, 'web.base.url') or '').rstrip('/')
        return f"{base_url}/web/content/{attachment.id}?access_token={token}"

    # ------------------------------------------------------------------
    # Submit and sync: commands for the bridge, which calls WhatsApp
    # ------------------------------------------------------------------

    def _definition(self):
        """The TemplateDefinition (contract) WhatsApp is asked to approve."""
        self.ensure_one()
        header = None
        if self.header_type == 'text':
            header = {'format': 'text', 'text': self.header_text}
        elif self.header_type != 'none':
            header = {'format': self.header_type, 'link': self._header_link()}
        examples = [var.sample or var._value_label() for var in self.variable_ids.sorted('number')]
        return contract.validate_template_definition({
            'template_id': self.id, 'name': self.name, 'language': self.language, 'category': self.category,
            'body': self.body, 'body_examples': examples or None, 'header': header,
            'buttons': self.button_ids.sorted('sequence').mapped('name') or None,
        })

    def _check_cloud_api(self):
        web = self.filtered(lambda t: t.account_id.provider != 'cloud_api')
        if web:
            raise UserError(self.env._(
                "%(account)s is a WhatsApp Web number: it has no templates (and no 24-hour window).",
                account=web[0].account_id.name))

    def action_submit(self):
        """Ask WhatsApp to approve these templates (through the bridge, after commit)."""
        self._check_cloud_api()
        payloads = []
        for template in self:
            if template.state not in ('draft', 'rejected'):
                raise UserError(self.env._("Template %(name)s was already submitted.", name=template.name))
            template._check_content()
            try:
                definition = template._definition()
            except contract.ContractError as error:
                raise UserError(self.env._("Template %(name)s cannot be submitted: %(error)s",
                                           name=template.name, error=error)) from None
            payloads.append({'v': contract.CONTRACT_VERSION, 'account': template.account_id.phone_number_id,
                             'command': 'template_submit', 'template': definition})
        for payload in payloads:
            contract.validate_control_command(payload)
        self.write({'state': 'pending', 'rejection_reason': False, 'submitted_at': fields.Datetime.now()})
        self.env['whatsapp.message']._push_after_commit(contract.STREAM_CONTROL, payloads)
        return True

    def action_sync(self):
        """Ask the bridge for WhatsApp's state of every template of these templates' accounts."""
        accounts = self.account_id or self.env['whatsapp.account'].search([('provider', '=', 'cloud_api')])
        self.env['whatsapp.template']._queue_sync(accounts.filtered(lambda a: a.provider == 'cloud_api'))
        return {
            'type': 'ir.actions.client', 'tag': 'display_notification',
            'params': {'type': 'info', 'message': self.env._(
                "WhatsApp is asked for the state of the templates; it shows here within a minute.")},
        }

    def action_reset_draft(self):
        self.with_context(whatsapp_template_sync=True).write({'state': 'draft'})
        return True

    @api.model
    def _queue_sync(self, accounts):
        payloads = [contract.validate_control_command({
            'v': contract.CONTRACT_VERSION, 'account': account.phone_number_id, 'command': 'template_sync'})
            for account in accounts]
        if payloads:
            self.env['whatsapp.message']._push_after_commit(contract.STREAM_CONTROL, payloads)

    @api.model
    def _cron_sync_pending(self):
        """While WhatsApp reviews templates, ask for their state now and then."""
        pending = self.search([('state', '=', 'pending')])
        self._queue_sync(pending.account_id.filtered(lambda a: a.provider == 'cloud_api'))

    def _apply_template_state(self, status, reason=None, wa_template_id=None):
        """What WhatsApp said of this template (runs as superuser: the bridge's API)."""
        self.ensure_one()
        state = STATUS_TO_STATE[status]
        values = {'synced_at': fields.Datetime.now()}
        if wa_template_id:
            values['wa_template_id'] = wa_template_id
        if status == 'paused':
            reason = reason or self.env._("Paused by WhatsApp (customers' feedback)")
        if status == 'error':
            reason = self.env._("Could not be submitted: %(reason)s", reason=reason or self.env._("unknown error"))
        if state == self.state and (reason or False) == (self.rejection_reason or False):
            self.with_context(whatsapp_template_sync=True).write(values)
            return 'ignored'
        values.update(state=state, rejection_reason=reason or False)
        self.with_context(whatsapp_template_sync=True).write(values)
        return 'applied'

    # ------------------------------------------------------------------
    # For the attendant's template picker (Discuss)
    # ------------------------------------------------------------------

    @api.model
    def _for_service(self, service):
        """Approved templates of the service's account, in the customer's language first."""
        templates = self.search([('account_id', '=', service.account_id.id), ('state', '=', 'approved')])
        lang = service.partner_id.lang or self.env.lang or ''

        def rank(template):
            code = template.language
            return (0 if code == lang else 1 if code.split('_')[0] == lang.split('_')[0] else 2, template.name)
        return templates.sorted(rank)
