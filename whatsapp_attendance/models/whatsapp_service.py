import logging
from datetime import datetime, time, timedelta, timezone

import pytz
from markupsafe import Markup, escape

from odoo import Command, api, fields, models
from odoo.exceptions import UserError
from odoo.tools import SQL, html2plaintext, plaintext2html

from .. import contract
from ..tools import phone as phone_tools
from ..tools.params import get_param
from ..tools.phone import format_international
from .discuss_channel import POST_INBOUND, POST_INTERNAL

_logger = logging.getLogger(__name__)

DEFAULT_IDLE_TIMEOUT = 30  # minutes
DEFAULT_FINISH_KEYWORDS = "#end,#fim"
WINDOW = timedelta(hours=24)  # WhatsApp's customer service window


class WhatsappService(models.Model):
    """One conversation episode with a WhatsApp customer, handled in its own Discuss channel."""

    _name = 'whatsapp.service'
    _description = "WhatsApp Service"
    _inherit = ['rating.mixin']
    _order = 'id desc'

    name = fields.Char("Reference", required=True, readonly=True, copy=False, default=lambda self: self.env._("New"))
    partner_id = fields.Many2one('res.partner', "Customer", required=True, readonly=True, index=True,
                                 ondelete='restrict', tracking=True)
    partner_phone = fields.Char("WhatsApp Number", compute='_compute_partner_phone', search='_search_partner_phone')
    account_id = fields.Many2one('whatsapp.account', "WhatsApp Account", required=True, readonly=True, index=True,
                                 ondelete='restrict')
    company_id = fields.Many2one(related='account_id.company_id', store=True)
    user_id = fields.Many2one('res.users', "Attendant", index=True, tracking=True, readonly=True,
                              domain=lambda self: [('groups_id', 'in', self.env.ref(
                                  'whatsapp_attendance.group_whatsapp_attendant').id)])
    team_id = fields.Many2one('whatsapp.team', "Team", index=True, tracking=True, readonly=True,
                              help="The team whose queue this customer waits in; empty: the general queue.")
    state = fields.Selection([
        ('waiting', "Waiting"), ('in_progress', "In Progress"), ('done', "Done"),
    ], required=True, default='waiting', readonly=True, index=True, tracking=True, group_expand=True)
    opened_at = fields.Datetime("Opened", required=True, readonly=True, default=fields.Datetime.now)
    first_response_at = fields.Datetime("First Response", readonly=True)
    last_interaction_at = fields.Datetime("Last Interaction", readonly=True, default=fields.Datetime.now, index=True)
    closed_at = fields.Datetime("Closed", readonly=True)
    end_reason = fields.Selection([
        ('attendant', "Finished by the attendant"),
        ('customer', "Finished by the customer"),
        ('timeout', "Idle timeout"),
    ], "Ended By", readonly=True, tracking=True)
    channel_id = fields.Many2one('discuss.channel', "Conversation", readonly=True, copy=False, ondelete='restrict')
    whatsapp_message_ids = fields.One2many('whatsapp.message', 'service_id', "WhatsApp Messages")
    readonly_user_ids = fields.Many2many(
        'res.users', 'whatsapp_service_readonly_user_rel', 'service_id', 'user_id', "Shared Read-Only With",
        readonly=True, help="They read this conversation live and may add internal notes, but cannot write "
                            "to the customer.")
    whatsapp_message_count = fields.Integer("WhatsApp Message Count", compute='_compute_whatsapp_message_count')
    response_delay = fields.Float(
        "First Response Delay (min)", compute='_compute_delays', store=True, aggregator='avg',
        help="Minutes between the opening of the service and the first answer of an attendant.")
    duration = fields.Float("Duration (min)", compute='_compute_delays', store=True, aggregator='avg')
    is_mine = fields.Boolean(compute='_compute_is_mine', search='_search_is_mine')
    last_message_preview = fields.Char("Last Message", compute='_compute_last_message_preview')
    waiting_time = fields.Char("Waiting For", compute='_compute_waiting_time',
                               help="How long the customer has been waiting in the queue.")
    opened_period = fields.Selection(
        [('today', "Today"), ('this_week', "This Week")], "Opened In", compute='_compute_opened_period',
        search='_search_opened_period', help="For the search filters: computed in the user's timezone.")
    # the last rating of an unrated service is 0: averaging or summing it means nothing (no measure)
    rating_last_value = fields.Float(aggregator=None)
    # the 24-hour customer service window of the Cloud API: free-form messages only within 24 hours
    # of the customer's last message; after that, only an approved template
    last_inbound_at = fields.Datetime(
        "Customer Last Wrote", readonly=True, copy=False,
        help="When Odoo received the customer's last message: WhatsApp takes free-form messages for "
             "24 hours after it.")
    window_open = fields.Boolean("24-Hour Window Open", compute='_compute_window')
    window_closes_at = fields.Datetime("24-Hour Window Closes", compute='_compute_window')

    def init(self):
        # At most one open service per customer and account, even under concurrent ingestion.
        self.env.cr.execute(SQL(
            "CREATE UNIQUE INDEX IF NOT EXISTS whatsapp_service_one_open_idx "
            "ON whatsapp_service (partner_id, account_id) WHERE state != 'done'"))

    @api.depends('partner_id.name')
    def _compute_display_name(self):
        for service in self:
            service.display_name = f"{service.name} · {service.partner_id.name}" if service.partner_id else service.name

    def _compute_whatsapp_message_count(self):
        counts = dict(self.env['whatsapp.message']._read_group(
            [('service_id', 'in', self.ids)], ['service_id'], ['__count']))
        for service in self:
            service.whatsapp_message_count = counts.get(service, 0)

    @api.depends('opened_at', 'first_response_at', 'closed_at')
    def _compute_delays(self):
        for service in self:
            start = service.opened_at
            service.response_delay = (
                (service.first_response_at - start).total_seconds() / 60 if start and service.first_response_at else 0)
            service.duration = (service.closed_at - start).total_seconds() / 60 if start and service.closed_at else 0

    def _compute_is_mine(self):
        for service in self:
            service.is_mine = service.user_id == self.env.user

    def _search_is_mine(self, operator, value):
        if operator not in ('=', '!=') or not isinstance(value, bool):
            raise UserError(self.env._("Operation not supported"))
        positive = (operator == '=') == value
        return [('user_id', '=' if positive else '!=', self.env.uid)]

    def _compute_last_message_preview(self):
        last = {}
        if self.ids:
            for message in self.env['whatsapp.message'].search_read(
                    [('service_id', 'in', self.ids)], ['service_id', 'body', 'direction'], order='id desc'):
                last.setdefault(message['service_id'][0], message)
        for service in self:
            message = last.get(service.id)
            text = (message['body'] or '') if message else ''
            service.last_message_preview = (f"↩ {text}" if message and message['direction'] == 'outbound'
                                            else text)[:100]

    def _compute_waiting_time(self):
        now = fields.Datetime.now()
        for service in self:
            if service.state != 'waiting' or not service.opened_at:
                service.waiting_time = False
                continue
            minutes = int((now - service.opened_at).total_seconds() // 60)
            service.waiting_time = (self.env._("%(minutes)s min", minutes=minutes) if minutes < 120 else
                                    self.env._("%(hours)s h", hours=minutes // 60))

    @api.depends('partner_id.whatsapp_phone')
    def _compute_partner_phone(self):
        for service in self:
            service.partner_phone = service.partner_id.whatsapp_phone

    def _search_partner_phone(self, operator, value):
        """A number in any format finds the service: "(11) 97000-0103", "+55 11 97000-0103", "5511970000103"."""
        if operator not in ('=', 'ilike', '=ilike', 'like', '!=', 'not ilike') or not isinstance(value, str):
            return [('partner_id.whatsapp_phone', operator, value)]
        negative = operator in ('!=', 'not ilike')
        region = self.env['res.partner']._whatsapp_default_region()
        e164 = phone_tools.to_e164(value, region)
        if e164:
            domain = [('partner_id.whatsapp_phone', 'in', phone_tools.whatsapp_variants(e164))]
        else:
            digits = ''.join(ch for ch in value if ch.isdigit())
            domain = [('partner_id.whatsapp_phone', 'ilike', digits or value)]
        return ['!', *domain] if negative else domain

    def _compute_opened_period(self):
        bounds = self._period_bounds()
        for service in self:
            opened = service.opened_at
            service.opened_period = next(
                (period for period in ('today', 'this_week') if opened and opened >= bounds[period]), False)

    def _search_opened_period(self, operator, value):
        if operator not in ('=', 'in') or not value:
            raise UserError(self.env._("Unsupported search on %(field)s.", field='opened_period'))
        periods = [value] if isinstance(value, str) else list(value)
        bounds = self._period_bounds()
        unknown = [p for p in periods if p not in bounds]
        if unknown:
            raise UserError(self.env._("Unknown period %(period)s.", period=unknown[0]))
        return [('opened_at', '>=', min(bounds[p] for p in periods))]

    @api.model
    def _period_bounds(self):
        """The start of today and of this week (Monday) in the user's timezone, as naive UTC datetimes."""
        tz = pytz.timezone(self.env.context.get('tz') or self.env.user.tz or 'UTC')
        today = datetime.now(tz).date()
        week_start = today - timedelta(days=today.weekday())

        def utc(day):
            return tz.localize(datetime.combine(day, time.min)).astimezone(pytz.utc).replace(tzinfo=None)

        return {'today': utc(today), 'this_week': utc(week_start)}

    @api.model_create_multi
    def create(self, vals_list):
        for vals in vals_list:
            if vals.get('name', self.env._("New")) == self.env._("New"):
                vals['name'] = self.env['ir.sequence'].next_by_code('whatsapp.service') or self.env._("New")
            if vals.get('user_id') and vals.get('state', 'waiting') == 'waiting':
                vals['state'] = 'in_progress'
        services = super().create(vals_list)
        services._create_channels()
        services._notify_queue(new=services.filtered(lambda s: s.state == 'waiting'))
        return services

    def _create_channels(self):
        # sudo: discuss.channel - services are created by the bridge user, which is no channel member
        Channel = self.env['discuss.channel'].sudo()
        for service in self:
            channel = Channel.create({
                'name': service._channel_name(),
                'channel_type': 'whatsapp',
                'description': self.env._("WhatsApp conversation %(service)s with %(number)s",
                                 service=service.name, number=service.partner_id.whatsapp_phone or '-'),
                'whatsapp_service_id': service.id,
                'channel_member_ids': [Command.create({'partner_id': partner.id})
                                       for partner in service.user_id.partner_id],
            })
            # discuss.channel adds its creator as a member: only attendants belong here
            attendant_partner = service.user_id.partner_id
            channel.channel_member_ids.filtered(lambda m, keep=attendant_partner: m.partner_id != keep).unlink()
            service.channel_id = channel

    def _channel_name(self):
        self.ensure_one()
        name = self.partner_id.name
        number = self.partner_id.whatsapp_phone
        if not number or number.lstrip('+') in ''.join(ch for ch in name if ch.isdigit()):
            return name
        return f"{name} ({format_international(number)})"

    # ------------------------------------------------------------------
    # Rights
    # ------------------------------------------------------------------

    def _is_whatsapp_admin(self, user=None):
        return (user or self.env.user).has_group('whatsapp_attendance.group_whatsapp_admin')

    def _is_whatsapp_manager(self, user=None):
        """A supervisor or an administrator: takes over, transfers, finishes and answers any service."""
        return (user or self.env.user).has_group('whatsapp_attendance.group_whatsapp_supervisor')

    def _check_can_reply(self, user):
        """Only the assigned attendant, or an administrator, may write to the customer."""
        for service in self:
            refusal = service._reply_refusal(user)
            if refusal:
                raise UserError(refusal)

    def _reply_refusal(self, user):
        """Why ``user`` may not write to this customer, or ``False``."""
        self.ensure_one()
        if self.state == 'done':
            return self.env._("Service %(service)s is finished: the customer's next message opens a new service.",
                              service=self.name)
        if self._is_whatsapp_manager(user):
            return False
        if user in self.readonly_user_ids:
            return self.env._("Service %(service)s is shared with you read-only: only %(attendant)s can answer "
                              "this customer; you may add an internal note.", service=self.name,
                              attendant=self.user_id.name or self.env._("its attendant"))
        if not self.user_id:
            return self.env._("Service %(service)s is waiting in the queue: take it before answering the customer.",
                              service=self.name)
        if self.user_id != user:
            return self.env._("Service %(service)s is attended by %(attendant)s: only they, or an administrator, "
                              "can answer this customer.", service=self.name, attendant=self.user_id.name)
        return False

    # ------------------------------------------------------------------
    # Discuss: the conversation header, the live queue
    # ------------------------------------------------------------------

    def _discuss_info(self):
        """What Discuss shows of a service: its header actions and the customer (no user-specific
        data: it is pushed to every member; rights stay checked on the server)."""
        self.ensure_one()
        partner = self.partner_id
        number = partner.whatsapp_phone or ''
        return {
            'id': self.id,
            'name': self.name,
            'state': self.state,
            'customer_id': partner.id,
            'customer_name': partner.name,
            'customer_number': format_international(number) if number else '',
            'call_url': f"tel:{number}" if number else False,
            'whatsapp_url': f"https://wa.me/{number.lstrip('+')}" if number else False,
            'attendant_partner_id': self.user_id.partner_id.id or False,
            'readonly_partner_ids': self.readonly_user_ids.partner_id.ids,
            'attendant_name': self.user_id.name or False,
            'opened_at': fields.Datetime.to_string(self.opened_at),
            # the 24-hour window (Cloud API only; a WhatsApp Web number has none)
            'has_window': self.account_id.provider == 'cloud_api',
            'window_open': self._window_open(),
            'window_closes_at': fields.Datetime.to_string(self._window_closes_at()),
            'last_inbound_at': fields.Datetime.to_string(self.last_inbound_at),
        }

    @api.model
    def whatsapp_queue(self):
        """The waiting services the current user may take, oldest first (Discuss's queue section)."""
        if not self.env.user.has_group('whatsapp_attendance.group_whatsapp_attendant'):
            return []
        services = self.search(self._whatsapp_queue_domain(), order='opened_at, id', limit=200)
        last = {}
        if services:
            messages = self.env['whatsapp.message'].search_read(
                [('service_id', 'in', services.ids), ('direction', '=', 'inbound')], ['service_id', 'body'],
                order='id desc')
            for message in messages:
                last.setdefault(message['service_id'][0], message['body'] or '')
        return [dict(service._discuss_info(), last_message=(last.get(service.id) or '')[:120],
                     channel_id=service.channel_id.id) for service in services]

    @api.model
    def _whatsapp_queue_domain(self):
        """The services waiting in the queue for an attendant (routing narrows it)."""
        return [('state', '=', 'waiting')]

    def _whatsapp_set_team(self, team):
        """Route this service to ``team``'s queue (an empty ``team``: the general queue)."""
        self.ensure_one()
        self.team_id = team
        self._notify_queue()

    def _notify_queue(self, new=None):
        """Attendants' Discuss and queue views refresh; a new waiting customer also pops up."""
        group = self.env.ref('whatsapp_attendance.group_whatsapp_attendant')
        payload = {'changed': self.ids}
        if new:
            payload['new'] = [{'id': s.id, 'name': s.name, 'customer_name': s.partner_id.name,
                               'customer_number': format_international(s.partner_id.whatsapp_phone or '')}
                              for s in new]
        group._bus_send('whatsapp.queue/changed', payload)

    def action_share_readonly(self):
        self.ensure_one()
        return self._wizard_action('whatsapp.service.share', self.env._("Share %(service)s read-only",
                                                                         service=self.name))

    def _wizard_action(self, model, name, **context):
        """The dialog of a wizard about this service (transfer, share)."""
        return {
            'type': 'ir.actions.act_window',
            'name': name,
            'res_model': model,
            'view_mode': 'form',
            'views': [(False, 'form')],
            'target': 'new',
            'context': {'default_service_id': self.id, **context},
        }

    def _share_readonly(self, user):
        """Let ``user`` read this conversation live (and add notes) without writing to the customer."""
        self.ensure_one()
        if not self._is_whatsapp_manager():
            raise UserError(self.env._("Only a supervisor or an administrator can share a WhatsApp service."))
        if not user.has_group('whatsapp_attendance.group_whatsapp_attendant'):
            raise UserError(self.env._("%(user)s is not a WhatsApp attendant.", user=user.name))
        if user == self.user_id or user in self.readonly_user_ids:
            raise UserError(self.env._("%(user)s already reads %(service)s.", user=user.name, service=self.name))
        # sudo: whatsapp.service, discuss.channel - checked above; the viewer joins the conversation
        service = self.sudo()
        service.readonly_user_ids = [Command.link(user.id)]
        channel = service.channel_id
        channel.add_members(partner_ids=user.partner_id.ids, post_joined_message=False)
        channel._whatsapp_post(POST_INTERNAL, message_type='notification', subtype_xmlid='mail.mt_note',
                               body=self.env._("%(by)s shared this conversation read-only with %(user)s.",
                                               by=self.env.user.name, user=user.name))
        channel._whatsapp_push_service()
        user._bus_send('simple_notification', {
            'type': 'info', 'sticky': True, 'title': self.env._("WhatsApp service shared with you"),
            'message': self.env._("%(by)s shared %(service)s with %(customer)s with you, read-only.",
                                  by=self.env.user.name, service=service.name, customer=service.partner_id.name),
        })

    def action_post_note(self, body):
        """An internal note in the conversation: for colleagues, never sent to the customer."""
        self.ensure_one()
        body = (body or '').strip()
        if not body:
            raise UserError(self.env._("The note is empty."))
        channel = self.channel_id
        if self.env.user.partner_id not in channel.sudo().channel_member_ids.partner_id \
                and not self._is_whatsapp_manager():
            raise UserError(self.env._("Only the people in the conversation %(service)s can add a note to it.",
                                       service=self.name))
        # sudo: discuss.channel - checked above; the note is the user's own, and stays internal
        message = channel.sudo()._whatsapp_post(
            POST_INTERNAL, body=plaintext2html(body), message_type='comment', subtype_xmlid='mail.mt_note',
            author_id=self.env.user.partner_id.id)
        return message.id

    # ------------------------------------------------------------------
    # The customer panel
    # ------------------------------------------------------------------

    def whatsapp_customer_panel(self):
        """The customer beside the conversation: contact card, tags, notes, previous services, favourite."""
        self.ensure_one()
        # sudo: res.partner, whatsapp.service - the attendant of this conversation sees its customer's
        # card and the summary of their earlier services (a link opens only those they may read)
        partner = self.partner_id.sudo()
        history = self.sudo().search([('partner_id', '=', partner.id), ('id', '!=', self.id)],
                                     order='opened_at desc', limit=20)
        readable = set(self.search([('id', 'in', history.ids)]).ids)
        return {
            'customer': {
                'id': partner.id,
                'name': partner.name,
                'number': format_international(partner.whatsapp_phone) if partner.whatsapp_phone else '',
                'company': partner.parent_id.name or partner.company_name or '',
                'email': partner.email or '',
                'note': html2plaintext(partner.comment or '').strip(),
                'tags': [{'id': tag.id, 'name': tag.name, 'color': tag.color} for tag in partner.category_id],
                'favorite': self.env.user in partner.whatsapp_favorite_user_ids,
            },
            'all_tags': [{'id': tag.id, 'name': tag.name, 'color': tag.color}
                         for tag in self.env['res.partner.category'].sudo().search([], limit=200)],
            'services': [{
                'id': service.id,
                'name': service.name,
                'opened_at': fields.Datetime.to_string(service.opened_at),
                'state': service.state,
                'attendant': service.user_id.name or '',
                'rating': service.rating_last_text if service.rating_last_text != 'none' else False,
                'feedback': service.rating_last_feedback or '',
                'can_open': service.id in readable,
            } for service in history],
            'can_edit': not self._reply_refusal(self.env.user),
        }

    def _check_panel_edit(self):
        refusal = self._reply_refusal(self.env.user)
        if refusal:
            raise UserError(refusal)

    def whatsapp_set_customer_tags(self, tag_ids):
        """Tags of the customer, edited in place from the panel by whoever attends them."""
        self.ensure_one()
        self._check_panel_edit()
        tags = self.env['res.partner.category'].sudo().browse(tag_ids).exists()
        # sudo: res.partner - checked above: the attendant keeps their customer's tags
        self.partner_id.sudo().category_id = [Command.set(tags.ids)]
        return self.whatsapp_customer_panel()

    def whatsapp_create_customer_tag(self, name):
        self.ensure_one()
        self._check_panel_edit()
        name = (name or '').strip()
        if not name:
            raise UserError(self.env._("A tag needs a name."))
        # sudo: res.partner.category - a new tag for this customer, by their attendant
        Tag = self.env['res.partner.category'].sudo()
        tag = Tag.search([('name', '=ilike', name)], limit=1) or Tag.create({'name': name})
        self.partner_id.sudo().category_id = [Command.link(tag.id)]
        return self.whatsapp_customer_panel()

    def whatsapp_set_customer_note(self, note):
        self.ensure_one()
        self._check_panel_edit()
        # sudo: res.partner - checked above
        self.partner_id.sudo().comment = plaintext2html(note or '') if (note or '').strip() else False
        return self.whatsapp_customer_panel()

    def whatsapp_toggle_favorite(self):
        """Pin (or unpin) this customer for the current user: pinned customers come first in their sidebar."""
        self.ensure_one()
        # sudo: res.partner - every attendant keeps their own favourites
        partner = self.partner_id.sudo()
        user = self.env.user
        if user in partner.whatsapp_favorite_user_ids:
            partner.whatsapp_favorite_user_ids = [Command.unlink(user.id)]
        else:
            partner.whatsapp_favorite_user_ids = [Command.link(user.id)]
        return user in partner.whatsapp_favorite_user_ids

    def action_log_call(self, via='phone'):
        """The attendant called the customer from their device: say so in the conversation."""
        self.ensure_one()
        refusal = self._reply_refusal(self.env.user)
        if refusal:
            raise UserError(refusal)
        label = self.env._("on WhatsApp") if via == 'whatsapp' else self.env._("by phone")
        # sudo: discuss.channel - checked above: the attendant (or an administrator) logs their call
        self.sudo().channel_id._whatsapp_post(
            POST_INTERNAL, message_type='notification', subtype_xmlid='mail.mt_note',
            body=self.env._("📞 %(user)s called %(customer)s %(via)s (%(number)s).", user=self.env.user.name,
                            customer=self.partner_id.name, via=label,
                            number=format_international(self.partner_id.whatsapp_phone or '')))
        return True

    # ------------------------------------------------------------------
    # Actions
    # ------------------------------------------------------------------

    def action_take(self):
        self.ensure_one()
        # sudo: whatsapp.service - an attendant who clicked too late can no longer read the service,
        # but must learn who took it rather than get an access error
        service = self.sudo()
        if service.state == 'done':
            raise UserError(self.env._("Service %(service)s is already finished.", service=service.name))
        if service.user_id == self.env.user:
            return self.action_open_discuss()
        if service.user_id and not self._is_whatsapp_manager():
            raise UserError(self.env._("Service %(service)s was already taken by %(attendant)s.",
                              service=service.name, attendant=service.user_id.name))
        service._assign(self.env.user)
        return self.action_open_discuss()

    def action_transfer(self):
        self.ensure_one()
        # where the transfer started (Discuss or the service form): where the attendant goes after
        return self._wizard_action('whatsapp.service.transfer', self.env._("Transfer %(service)s", service=self.name),
                                   whatsapp_transfer_origin=self.env.context.get('whatsapp_transfer_origin'))

    def _transfer(self, user, note=None):
        self.ensure_one()
        if self.state == 'done':
            raise UserError(self.env._("Service %(service)s is finished and cannot be transferred.", service=self.name))
        if self.user_id and self.user_id != self.env.user and not self._is_whatsapp_manager():
            raise UserError(self.env._("Only %(attendant)s or an administrator can transfer service %(service)s.",
                              attendant=self.user_id.name, service=self.name))
        if not user.has_group('whatsapp_attendance.group_whatsapp_attendant'):
            raise UserError(self.env._("%(user)s is not a WhatsApp attendant.", user=user.name))
        if user == self.user_id:
            raise UserError(self.env._("Service %(service)s is already attended by %(user)s.",
                              service=self.name, user=user.name))
        # sudo: whatsapp.service - the checks above passed; once transferred, the previous attendant
        # no longer reads the service
        service = self.sudo()
        service._assign(user, note=note)
        message = self.env._("%(by)s transferred the WhatsApp service %(service)s with %(customer)s to you.",
                             by=self.env.user.name, service=service.name, customer=service.partner_id.name)
        # in Odoo, live (no e-mail: it needs a mail server and arrives late): a sticky notification
        # while they are online; the conversation is in their Discuss sidebar with the transfer note
        user._bus_send('simple_notification', {
            'type': 'info', 'sticky': True,
            'title': self.env._("WhatsApp service transferred to you"),
            'message': f"{message} {note}" if note else message,
        })

    def _assign(self, user, note=None):
        """Make ``user`` the attendant: member of the channel, the previous attendant leaves it.

        Runs as superuser (``action_take``, ``_transfer`` checked the rights)."""
        previous = self.user_id
        # the idle clock starts when someone attends: a customer who waited 40 minutes in the
        # queue must not be timed out the minute an attendant takes them
        values = {'user_id': user.id, 'last_interaction_at': fields.Datetime.now()}
        if self.state == 'waiting':
            values['state'] = 'in_progress'
        channel = self.channel_id
        self.write(values)
        if user.partner_id not in channel.channel_member_ids.partner_id:
            channel.add_members(partner_ids=user.partner_id.ids, post_joined_message=False)
        if previous and previous != user:
            channel._whatsapp_remove_partner(previous.partner_id)
            body = self.env._("%(by)s transferred this conversation from %(from)s to %(to)s.",
                              by=self.env.user.name, **{'from': previous.name, 'to': user.name})
        else:
            body = self.env._("%(user)s is attending this conversation.", user=user.name)
        if note:
            body = f"{body} {note}"
        channel._whatsapp_post(POST_INTERNAL, body=body, message_type='notification', subtype_xmlid='mail.mt_note')
        channel._whatsapp_push_service()
        self._notify_queue()

    def action_finish(self):
        for service in self:
            if service.state == 'done':
                continue
            if not self.env.su and not self._is_whatsapp_manager() and service.user_id != self.env.user:
                raise UserError(self.env._("Only the attendant of %(service)s or an administrator can finish it.",
                                  service=service.name))
        # sudo: whatsapp.service - checked above; finishing writes the service, its channel and the rating
        self.sudo()._finish('attendant')
        return True

    def action_open_discuss(self):
        self.ensure_one()
        # sudo: discuss.channel - supervisors and administrators join any conversation they open (not yet members)
        channel = self.channel_id.sudo()
        if self._is_whatsapp_manager() and self.env.user.partner_id not in channel.channel_member_ids.partner_id:
            channel.add_members(partner_ids=self.env.user.partner_id.ids, post_joined_message=False)
        return {
            'type': 'ir.actions.client',
            'tag': 'mail.action_discuss',
            'params': {'active_id': f'discuss.channel_{channel.id}'},
            'context': {'active_id': f'discuss.channel_{channel.id}'},
        }

    def action_view_whatsapp_messages(self):
        self.ensure_one()
        action = self.env['ir.actions.act_window']._for_xml_id('whatsapp_attendance.whatsapp_message_action')
        action['domain'] = [('service_id', '=', self.id)]
        return action

    # ------------------------------------------------------------------
    # Finishing and rating
    # ------------------------------------------------------------------

    def _finish(self, reason):
        """Close these services and ask each customer for a rating. Runs as superuser: the idle
        cron, the bridge (customer keyword) and ``action_finish`` (after its checks)."""
        services = self.filtered(lambda s: s.state != 'done')
        if not services:
            return
        now = fields.Datetime.now()
        services.write({'state': 'done', 'closed_at': now, 'end_reason': reason})
        labels = dict(self._fields['end_reason']._description_selection(self.env))
        for service in services:
            service.channel_id._whatsapp_post(
                POST_INTERNAL, body=self.env._("Service finished: %(reason)s.", reason=labels[reason]),
                message_type='notification', subtype_xmlid='mail.mt_note')
            service._send_rating_request()
            service._unpin_finished()
            service.channel_id._whatsapp_push_service()
        services._notify_queue()

    def _unpin_finished(self):
        """A finished service leaves its attendants' sidebar (the service list and the customer's
        history still lead to it), also after a late message in it (a rating button, a thank-you)."""
        for service in self.filtered(lambda s: s.state == 'done'):
            members = service.channel_id.channel_member_ids
            # Discuss shows a member's channel while its last activity is not before the unpin
            # date (to the second): a message of this very second must not bring it back. Open
            # Discuss pages hide it themselves once the user leaves it (the pushed service state):
            # pushing is_pinned would close the conversation under the eyes of whoever reads it
            members.write({'unpin_dt': fields.Datetime.now() + timedelta(seconds=1)})

    def _send_rating_request(self):
        """One WhatsApp message asking the customer to rate this service (link + reply buttons)."""
        self.ensure_one()
        service = self
        partner = service.partner_id
        token = service._rating_get_access_token(partner)
        # the public URL customers can reach (web.base.url), whichever host the attendant used
        base_url = (get_param(self.env, 'web.base.url') or '').rstrip('/')
        link = f"{base_url}/rate/{token}/5"
        lang_env = service.with_context(lang=partner.lang or self.env.lang).env
        template = get_param(self.env, 'rating_text') or \
            lang_env._("Thank you for contacting us, %(name)s! How would you rate our service? "
                       "Tap a button below or open %(link)s", name="{name}", link="{link}")
        text = template.replace("{name}", partner.name or '').replace("{link}", link).replace(
            "{service}", service.name)
        buttons = [
            {'id': contract.rating_button_id(token, 5), 'title': lang_env._("😊 Satisfied")},
            {'id': contract.rating_button_id(token, 3), 'title': lang_env._("😐 Okay")},
            {'id': contract.rating_button_id(token, 1), 'title': lang_env._("😞 Dissatisfied")},
        ]
        # outside the 24-hour window, the approved template of Settings asks instead
        service._post_outbound(text, message_type='interactive', buttons=buttons,
                               author=self.env.ref('base.partner_root'), template=service._rating_template(),
                               template_values={'rating_link': link, 'rating_token': token})

    def _apply_rating_button(self, token, score):
        """The customer pressed a rating button: rate (keeping any feedback they wrote on the
        rating page) and thank them, in their language."""
        self.ensure_one()
        service = self  # runs as superuser: the bridge's API entry point
        rating = self.env['rating.rating'].search([('access_token', '=', token)], limit=1)
        service.rating_apply(score, token=token, feedback=rating.feedback or None)
        lang_env = service.with_context(lang=service.partner_id.lang or self.env.lang).env
        service._post_outbound(lang_env._("Thank you for your rating!"), author=self.env.ref('base.partner_root'))

    def _message_auto_subscribe_notify(self, partner_ids, template):
        """No "You have been assigned" e-mail: attendants are told in Odoo (Discuss, a live
        notification), and the e-mail fails without a mail server."""
        return

    def _rating_apply_get_default_subtype_id(self):
        """A rating (rating page or button) is logged as a note: followers get no e-mail for it."""
        return self.env['ir.model.data']._xmlid_to_res_id('mail.mt_note')

    def _rating_get_parent_field_name(self):
        return 'account_id'

    # ------------------------------------------------------------------
    # Messages
    # ------------------------------------------------------------------

    def _post_outbound(self, text, message_type='text', buttons=None, author=None, template=None,
                       template_values=None):
        """Post a message of the company (not of an attendant) to the customer (runs as superuser).

        Outside the 24-hour window WhatsApp only takes an approved template: ``template`` is sent
        instead when given (filled with ``template_values`` too); without one the message goes as it
        is (WhatsApp refuses it) and a note in the conversation says why."""
        self.ensure_one()
        if not self._window_open():
            if template and template.state == 'approved' and template.account_id == self.account_id:
                return self._post_template(template, extra=template_values, author=author)
            self.channel_id._whatsapp_post(
                POST_INTERNAL, message_type='notification', subtype_xmlid='mail.mt_note',
                body=self.env._("⚠️ %(reason)s The message below could not be sent as it is: the 24-hour window is "
                                "closed and no approved template is set for it (WhatsApp settings).",
                                reason=self._window_refusal()))
        mail_message = self.channel_id._whatsapp_post(
            POST_INTERNAL,
            body=plaintext2html(text), message_type='comment', subtype_xmlid='mail.mt_comment',
            author_id=author.id if author else None)
        messages = self._create_outbound_messages(mail_message, message_type=message_type, buttons=buttons)
        self._unpin_finished()
        return messages

    def _create_outbound_messages(self, mail_message, attendant=None, message_type=None, buttons=None,
                                  template=None, template_message=None):
        """``whatsapp.message`` records (queued) for a post in the service channel, pushed after commit.

        ``attendant`` is the user who wrote it; none for messages of the company (rating request).
        Runs as superuser (``discuss.channel.message_post`` checked who may answer).
        """
        self.ensure_one()
        # WhatsApp shows links itself: no "[1]" footnotes as html2plaintext adds by default
        text = html2plaintext(mail_message.body or '', include_references=False).strip()
        attendant = attendant or self.env['res.users']
        reply_to = self.env['whatsapp.message'].search(
            [('mail_message_id', '=', mail_message.parent_id.id)], limit=1).wamid if mail_message.parent_id else False
        common = {
            'account_id': self.account_id.id, 'service_id': self.id, 'direction': 'outbound',
            'mail_message_id': mail_message.id, 'state': 'queued', 'attendant_id': attendant.id,
        }
        attachments = mail_message.attachment_ids
        self._check_media_limits(attachments)
        # the text typed with one image, video or document is its caption, as on WhatsApp
        captioned = attachments if (
            text and not buttons and not template and len(attachments) == 1 and len(text) <= 1024
            and _media_type(attachments.mimetype) in ('image', 'video', 'document')
            and not attachments.voice_ids) else self.env['ir.attachment']
        vals_list = []
        if text and not captioned:
            vals_list.append(dict(common, message_type=message_type or 'text', body=text, buttons=buttons,
                                  reply_to_wamid=reply_to, template_id=template.id if template else False,
                                  template_message=template_message or False))
        for attachment in attachments:
            vals_list.append(dict(common, message_type=_media_type(attachment.mimetype),
                                  attachment_id=attachment.id, is_voice=bool(attachment.voice_ids),
                                  body=attachment.name, caption=text if attachment == captioned else False,
                                  reply_to_wamid=reply_to if attachment == captioned else False))
        messages = self.env['whatsapp.message'].create(vals_list)
        now = fields.Datetime.now()
        values = {'last_interaction_at': now}
        if attendant and not self.first_response_at:
            values['first_response_at'] = now
        self.write(values)
        messages._push_to_bridge()
        return messages

    def _check_media_limits(self, attachments):
        """Refuse, before anything is sent, a file WhatsApp would refuse for its size."""
        for attachment in attachments:
            kind = _media_type(attachment.mimetype)
            limit = MEDIA_LIMITS_MB[kind]
            size = attachment.file_size or 0
            if size > limit * 1024 * 1024:
                raise UserError(self.env._(
                    "%(file)s is too large for WhatsApp (%(size).1f MB): it accepts %(kind)s files up to %(limit)s MB.",
                    file=attachment.name, size=size / 1024 / 1024, kind=MEDIA_KIND_LABELS[kind](self.env),
                    limit=limit))

    def _notify_delivery_failure(self, message):
        """Tell the attendants in the channel that WhatsApp refused a message (runs as superuser)."""
        self.ensure_one()
        self.channel_id._whatsapp_post(
            POST_INTERNAL,
            body=self.env._("⚠️ WhatsApp could not deliver a message: %(reason)s", reason=message.error_message),
            message_type='notification', subtype_xmlid='mail.mt_note')

    def _receive(self, item, partner, mail_values):
        """Post an inbound WhatsApp message in the channel as the customer; return the whatsapp.message.

        Runs as superuser: the bridge's API entry point (``whatsapp.api``)."""
        self.ensure_one()
        channel = self.channel_id
        WaMessage = self.env['whatsapp.message']
        attachment = self.env['ir.attachment']
        media = item.get('media')
        if media and item['type'] in contract.MEDIA_TYPES:
            attachment = self.env['ir.attachment'].create({
                'name': media.get('filename') or _default_filename(item['type'], media['mimetype']),
                'mimetype': media['mimetype'],
                'datas': media['data'],
                # like the composer's pending uploads: message_post moves it onto the channel
                'res_model': 'mail.compose.message',
                'res_id': 0,
            })
            if media.get('voice') or (item['type'] == 'audio' and 'ogg' in media['mimetype']):
                attachment._set_voice_metadata()
        replied_wamid = (item.get('context') or {}).get('wamid')
        parent = WaMessage.search([('account_id', '=', self.account_id.id), ('wamid', '=', replied_wamid)],
                                  limit=1) if replied_wamid else WaMessage
        mail_message = None
        if item['type'] == 'reaction':
            mail_message = self._receive_reaction(item, partner)
            emoji = item['reaction'].get('emoji')
            if mail_message is None and emoji:
                # a reaction to a message this conversation does not have (sent before the addon, or
                # lost): shown as a message of its own rather than dropped
                mail_values = dict(mail_values, body=plaintext2html(self.env._(
                    "%(emoji)s (reaction to a message that is not in this conversation)", emoji=emoji)))
            elif mail_message is None:
                mail_message = self.env['mail.message']  # an unknown reaction removed: nothing to show
        if mail_message is None:
            mail_message = channel._whatsapp_post(
                POST_INBOUND, author_id=partner.id, message_type='comment', subtype_xmlid='mail.mt_comment',
                attachment_ids=attachment.ids, parent_id=parent.mail_message_id.id or False, **mail_values)
        when = datetime.fromtimestamp(item['timestamp'], timezone.utc).replace(tzinfo=None)
        message = WaMessage.create({
            'wamid': item['wamid'], 'account_id': self.account_id.id, 'service_id': self.id,
            'direction': 'inbound', 'message_type': item['type'], 'state': 'received',
            'body': _inbound_text(item), 'attachment_id': attachment.id,
            'is_voice': bool(attachment and attachment.voice_ids), 'mail_message_id': mail_message.id,
            'reply_to_wamid': parent.wamid or False, 'wa_timestamp': when,
        })
        self.last_interaction_at = fields.Datetime.now()
        if item['type'] != 'system':  # a number change is WhatsApp's message, not the customer's
            was_open = self._window_open()
            self.last_inbound_at = fields.Datetime.now()
            if not was_open:
                channel._whatsapp_push_service()  # the composer's "window closed" banner goes away
        self._unpin_finished()
        return message

    def _whatsapp_on_inbound(self, message, new_service=False):
        """Hook: an inbound ``whatsapp.message`` of this open service has just been stored.

        Called once per message, in the order the customer sent them, by every ingest path
        (after the rating replies and the finish keywords, which never reach it), as the
        bridge's superuser. ``new_service``: this message opened the service. Routing (teams,
        the menu before the human, automatic assignment, business hours) extends it.
        """
        self.ensure_one()

    def _receive_reaction(self, item, partner):
        """A reaction of the customer becomes a Discuss reaction on the message it reacts to
        (``None`` when that message is unknown)."""
        target = self.env['whatsapp.message'].search([
            ('account_id', '=', self.account_id.id), ('wamid', '=', item['reaction']['wamid'])], limit=1)
        if not target.mail_message_id:
            return None
        mail_message = target.mail_message_id
        emoji = item['reaction'].get('emoji') or ''
        previous = self.env['mail.message.reaction'].search([
            ('message_id', '=', mail_message.id), ('partner_id', '=', partner.id)])
        for reaction in previous:
            mail_message._message_reaction(reaction.content, 'remove', partner, self.env['mail.guest'])
        if emoji:
            mail_message._message_reaction(emoji, 'add', partner, self.env['mail.guest'])
        return mail_message

    # ------------------------------------------------------------------
    # The 24-hour window and templates
    # ------------------------------------------------------------------

    def _window_closes_at(self):
        self.ensure_one()
        return self.last_inbound_at + WINDOW if self.last_inbound_at else False

    def _window_open(self):
        """Whether WhatsApp takes a free-form message for this customer now (a WhatsApp Web number
        has no window)."""
        self.ensure_one()
        if self.account_id.provider != 'cloud_api':
            return True
        closes_at = self._window_closes_at()
        return bool(closes_at) and fields.Datetime.now() < closes_at

    def _compute_window(self):
        for service in self:
            service.window_open = service._window_open()
            service.window_closes_at = service._window_closes_at()

    def _window_refusal(self):
        """Why only a template may go to this customer now, or ``False``."""
        self.ensure_one()
        if self._window_open():
            return False
        if not self.last_inbound_at:
            return self.env._("The customer has not written in the last 24 hours: WhatsApp only lets you send "
                              "an approved template.")
        hours = int((fields.Datetime.now() - self.last_inbound_at).total_seconds() // 3600)
        if hours >= 48:
            return self.env._("The customer last wrote %(days)s days ago: WhatsApp only lets you send an "
                              "approved template.", days=hours // 24)
        return self.env._("The customer last wrote %(hours)s hours ago: WhatsApp only lets you send an "
                          "approved template.", hours=hours)

    def _check_window_open(self):
        """A free-form message outside the 24-hour window is refused here, with the reason, rather
        than by WhatsApp after the fact."""
        for service in self:
            refusal = service._window_refusal()
            if refusal:
                raise UserError(refusal)

    def _rating_template(self):
        """The approved template of Settings that asks for the rating outside the window, if any."""
        self.ensure_one()
        template_id = get_param(self.env, 'rating_template_id')
        template = self.env['whatsapp.template'].browse(int(template_id)).exists() \
            if template_id and str(template_id).isdigit() else self.env['whatsapp.template']
        return template.filtered(lambda t: t.state == 'approved' and t.account_id == self.account_id)

    def _rating_link(self):
        self.ensure_one()
        token = self._rating_get_access_token(self.partner_id)
        return f"{(get_param(self.env, 'web.base.url') or '').rstrip('/')}/rate/{token}/5"

    def _post_template(self, template, extra=None, author=None, attendant=None):
        """Post ``template``, filled for this service, in the conversation and queue it for WhatsApp
        (runs as superuser: the callers checked who may write)."""
        self.ensure_one()
        text, message = template._render(self, extra)
        mail_message = self.channel_id._whatsapp_post(
            POST_INTERNAL, body=plaintext2html(text), message_type='comment', subtype_xmlid='mail.mt_comment',
            author_id=author.id if author else None)
        messages = self._create_outbound_messages(mail_message, attendant=attendant, message_type='template',
                                                  template=template, template_message=message)
        # the post reached Discuss before its WhatsApp record existed: the clock tick follows now
        messages._push_discuss_status()
        self._unpin_finished()
        return messages

    def whatsapp_templates(self):
        """The approved templates the current user may send to this customer (the customer's language
        first), each with its text filled for this service: Discuss's template picker."""
        self.ensure_one()
        templates = self.env['whatsapp.template']._for_service(self)
        # sudo: whatsapp.service - the preview reads the customer and the attendant of a service the
        # user reads
        service = self.sudo()
        preview_values = {'attendant_name': self.env.user.name, 'rating_link': self.env._("(rating page link)")}
        return [{
            'id': template.id,
            'name': template.name,
            'language': template.language,
            'language_name': dict(template._fields['language']._description_selection(self.env))[template.language],
            'category': template.category,
            'category_name': dict(template._fields['category']._description_selection(self.env))[template.category],
            'header': template.header_text if template.header_type == 'text' else False,
            'preview': template._fill(template.body, template._values_for(service, preview_values)),
            'buttons': template.button_ids.sorted('sequence').mapped('name'),
        } for template in templates]

    def action_send_template(self, template_id):
        """The attendant sends an approved template (the way to write after the 24-hour window)."""
        self.ensure_one()
        refusal = self._reply_refusal(self.env.user)
        if refusal:
            raise UserError(refusal)
        # attendants read approved templates only (record rule)
        template = self.env['whatsapp.template'].browse(int(template_id)).exists()
        if not template or template.state != 'approved' or template.account_id != self.account_id:
            raise UserError(self.env._("This template is not approved for %(account)s: choose another one.",
                                       account=self.account_id.name))
        # sudo: whatsapp.service, whatsapp.template - checked above: the attendant writes to their customer
        messages = self.sudo()._post_template(template.sudo(), extra={'attendant_name': self.env.user.name},
                                              author=self.env.user.partner_id, attendant=self.env.user)
        return messages.mail_message_id.id

    @api.model
    def _finish_keywords(self):
        raw = get_param(self.env, 'finish_keywords', DEFAULT_FINISH_KEYWORDS)
        return {word.strip().lower() for word in raw.split(',') if word.strip()}

    # ------------------------------------------------------------------
    # Crons
    # ------------------------------------------------------------------

    @api.model
    def _idle_timeout(self):
        return int(get_param(self.env, 'idle_timeout', DEFAULT_IDLE_TIMEOUT))

    @api.model
    def _cron_finish_idle(self, limit=500):
        """Finish services in progress with no message in either direction for the idle timeout.

        Services still waiting in the queue are left alone: their customer is
        waiting for us, not idle.
        """
        timeout = self._idle_timeout()
        if timeout <= 0:
            return self.browse()
        due = fields.Datetime.now() - timedelta(minutes=timeout)
        services = self.search([('state', '=', 'in_progress'), ('last_interaction_at', '<=', due)], limit=limit)
        for service in services:
            service._finish('timeout')
        if len(services) == limit:
            # more are due: run again right away rather than a minute later
            self.env.ref('whatsapp_attendance.ir_cron_whatsapp_finish_idle')._trigger()
        return services


# Cloud API media limits (https://developers.facebook.com/docs/whatsapp/cloud-api/reference/media)
MEDIA_LIMITS_MB = {'image': 5, 'audio': 16, 'video': 16, 'document': 100}
MEDIA_KIND_LABELS = {
    'image': lambda env: env._("image"),
    'audio': lambda env: env._("audio"),
    'video': lambda env: env._("video"),
    'document': lambda env: env._("document"),
}


def _media_type(mimetype):
    mimetype = mimetype or ''
    for prefix in ('image', 'audio', 'video'):
        if mimetype.startswith(prefix + '/'):
            return prefix
    return 'document'


def _default_filename(message_type, mimetype):
    extension = (mimetype or '').split('/')[-1].split(';')[0] or 'bin'
    return f"whatsapp-{message_type}.{extension}"


def _inbound_text(item):
    """A plain-text summary of an inbound message, for lists and search."""
    mtype = item['type']
    if item.get('text'):
        return item['text']
    if mtype == 'location':
        loc = item['location']
        return " ".join(filter(None, [loc.get('name'), loc.get('address'),
                                      f"({loc['latitude']}, {loc['longitude']})"]))
    if mtype == 'contacts':
        return ", ".join(contact.get('name') or '' for contact in item['contacts'])
    if mtype == 'reaction':
        return item['reaction'].get('emoji') or ''
    if mtype == 'interactive':
        return item['interactive'].get('title') or item['interactive']['id']
    if item.get('media'):
        return item['media'].get('caption') or item['media'].get('filename') or ''
    return ''


def render_inbound_body(env, item):
    """The HTML shown in Discuss for an inbound message."""
    mtype = item['type']
    text = item.get('text') or ''
    if mtype == 'location':
        loc = item['location']
        lat, lon = loc['latitude'], loc['longitude']
        label = " — ".join(filter(None, [loc.get('name'), loc.get('address')])) or f"{lat}, {lon}"
        url = f"https://www.openstreetmap.org/?mlat={lat}&mlon={lon}#map=17/{lat}/{lon}"
        return Markup('📍 <a href="%s" target="_blank" rel="noopener">%s</a>') % (url, label)
    if mtype == 'contacts':
        cards = []
        for contact in item['contacts']:
            lines = [Markup("<b>👤 %s</b>") % (contact.get('name') or env._("Contact"))]
            lines += [Markup("📞 %s") % phone for phone in contact.get('phones') or []]
            lines += [Markup("✉️ %s") % email for email in contact.get('emails') or []]
            cards.append(Markup("<br/>").join(lines))
        return Markup("<br/><br/>").join(cards)
    if mtype == 'interactive':
        return escape(item['interactive'].get('title') or item['interactive']['id'])
    if mtype == 'unsupported':
        note = env._("The customer sent something WhatsApp does not let us show here.")
        reasons = [e.get('message') or e.get('title') for e in item.get('errors') or []]
        if any(reasons):
            note = f"{note} ({'; '.join(r for r in reasons if r)})"
        if text:
            # what came with it (the caption of a file WhatsApp no longer has) is the customer's own words
            return Markup("<i>%s</i><br/>%s") % (note, plaintext2html(text))
        return Markup("<i>%s</i>") % note
    if mtype == 'system':
        return Markup("<i>%s</i>") % (text or env._("WhatsApp system message"))
    caption = text or (item.get('media') or {}).get('caption') or ''
    return plaintext2html(caption) if caption else Markup('')

