import logging
from datetime import datetime, time, timedelta, timezone

import pytz
from markupsafe import Markup, escape

from odoo import Command, api, fields, models
from odoo.exceptions import UserError
from odoo.osv import expression
from odoo.tools import SQL, format_datetime, html2plaintext, plaintext2html

from .. import contract
from ..tools import phone as phone_tools
from ..tools.params import get_param
from ..tools.phone import format_international
from ..tools.text import answer_number, normalize_answer
from .discuss_channel import POST_INBOUND, POST_INTERNAL

_logger = logging.getLogger(__name__)

DEFAULT_IDLE_TIMEOUT = 30  # minutes
DEFAULT_FINISH_KEYWORDS = "#end,#fim"
DEFAULT_HUMAN_KEYWORDS = "0,human,atendente,humano,attendant,agent"
DEFAULT_MENU_RETRIES = 2  # unknown answers before the service goes to the general queue
MENU_ID_PREFIX = "menu:"  # reply button / list row ids of a menu's options: "menu:<option id>"
MENU_HUMAN_ID = "menu:human"
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
    team_id = fields.Many2one('whatsapp.team', index=True, tracking=True, readonly=True,
                              help="The team whose queue this customer waits in; empty: the general queue.")
    team_color = fields.Integer(related='team_id.color')
    assignment_note = fields.Char(
        "Assignment", readonly=True, copy=False,
        help="How the attendant got this customer (taken, transferred, or assigned automatically and why), "
             "or why automatic assignment is still waiting.")
    in_my_queues = fields.Boolean(
        compute='_compute_in_my_queues', search='_search_in_my_queues',
        help="Waiting in a queue the current user answers (their teams' and the general queue), or not waiting.")
    menu_id = fields.Many2one(
        'whatsapp.menu', "Menu Step", readonly=True, index='btree_not_null', ondelete='set null', copy=False,
        help="The menu the customer is answering: they are not in the attendants' queue yet. Taking the "
             "service stops the menu.")
    menu_retries = fields.Integer("Unknown Answers", readonly=True, copy=False)
    out_of_hours_notified = fields.Boolean("Told Out of Hours", readonly=True, copy=False)
    idle_warned_at = fields.Datetime("Asked If Still There", readonly=True, copy=False)
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
        ('phone', "Imported from the phone"),
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

    def _compute_in_my_queues(self):
        visible = self.filtered_domain(self._whatsapp_team_domain(self.env.user))
        for service in self:
            service.in_my_queues = service.state != 'waiting' or service in visible

    def _search_in_my_queues(self, operator, value):
        if operator not in ('=', '!=') or not isinstance(value, bool):
            raise UserError(self.env._("Operation not supported"))
        team_domain = self._whatsapp_team_domain(self.env.user) or expression.TRUE_DOMAIN
        domain = expression.OR([[('state', '!=', 'waiting')], team_domain])
        return domain if (operator == '=') == value else ['!', *expression.normalize_domain(domain)]

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
            if vals.get('state', 'waiting') == 'waiting' and vals.get('account_id'):
                account = self.env['whatsapp.account'].browse(vals['account_id'])
                if 'menu_id' not in vals:
                    vals['menu_id'] = self._whatsapp_entry_menu(account).id
                if not vals['menu_id'] and 'team_id' not in vals and account.team_id:
                    vals['team_id'] = account.team_id.id  # the number's queue, from the first moment
        services = super().create(vals_list)
        services._create_channels()
        # a customer answering the menu is not in the queue yet: attendants hear of them when it ends
        services._notify_queue(new=services.filtered(lambda s: s.state == 'waiting' and not s.menu_id))
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
            'team_id': self.team_id.id or False,
            'team_name': self.team_id.name or False,
            'team_color': self.team_id.color or 0,
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
        services = self.search(self._whatsapp_queue_domain() + self._whatsapp_team_domain(self.env.user),
                               order='opened_at, id', limit=200)
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
        return [('state', '=', 'waiting'), ('menu_id', '=', False)]

    @api.model
    def _whatsapp_team_domain(self, user):
        """The queues ``user`` sees: their teams' and the general one (no team). Supervisors,
        administrators and attendants of no team see every queue."""
        if self._is_whatsapp_manager(user) or not user.whatsapp_team_ids:
            return []
        return ['|', ('team_id', '=', False), ('team_id', 'in', user.whatsapp_team_ids.ids)]

    def _whatsapp_set_team(self, team):
        """Route this service to ``team``'s queue (an empty ``team``: the general queue): the
        customer gets the team's greeting, its attendants see them waiting, and automatic
        assignment (when the team has it) gives them to an attendant at once. Runs as superuser."""
        self.ensure_one()
        joined = team and team != self.team_id  # back to the same team's queue: greeted already
        self.team_id = team
        self._whatsapp_team_welcome(greet=joined)

    def _whatsapp_team_welcome(self, greet=True, notify=True):
        """This service has just joined its team's queue: the team's greeting (``greet``), its
        attendants told (``notify``) and automatic assignment. Runs as superuser."""
        team = self.team_id
        greeting = team.with_context(lang=self.partner_id.lang or self.env.lang).greeting if greet else False
        if greeting and self.state != 'done':
            self._whatsapp_post_automatic(greeting)
        self.channel_id._whatsapp_push_service()
        waiting = self.state == 'waiting' and self.filtered_domain(self._whatsapp_queue_domain())
        # the team's attendants are told a customer waits for them (each one's queue decides who)
        if notify:
            self._notify_queue(new=self if waiting else None)
        if waiting:
            self._whatsapp_auto_assign()

    # ------------------------------------------------------------------
    # Automatic assignment (per team, whatsapp.team.auto_assign)
    # ------------------------------------------------------------------

    def _whatsapp_previous_attendant(self):
        """Who attended this customer (on this number) last, if anybody."""
        self.ensure_one()
        previous = self.search([
            ('partner_id', '=', self.partner_id.id), ('account_id', '=', self.account_id.id),
            ('id', '!=', self.id), ('user_id', '!=', False),
        ], order='opened_at desc, id desc', limit=1)
        return previous.user_id

    def _whatsapp_auto_assign(self):
        """Give each of these waiting services of a team with automatic assignment to the attendant
        the team picks (``whatsapp.team._whatsapp_pick_attendant``); the others keep waiting, and
        their form and conversation say why. Runs as superuser. Returns the assigned services."""
        assigned = self.browse()
        queue = self.filtered_domain(self._whatsapp_queue_domain())
        for service in queue.filtered(lambda s: s.state == 'waiting' and s.team_id.auto_assign):
            # staff-facing texts: in the company's language, the assignment in its attendant's (this
            # runs in the bridge's or the cron's request, whose language is neither)
            service = service.with_context(lang=service._whatsapp_staff_lang())
            user, reason = service.team_id._whatsapp_pick_attendant(service)
            if user and user.lang and user.lang != service.env.lang:
                service = service.with_context(lang=user.lang)
                user, reason = service.team_id._whatsapp_pick_attendant(service)
            if user:
                service._assign(user, reason=service.env._("Assigned automatically to %(user)s: %(reason)s.",
                                                           user=user.name, reason=reason))
                assigned |= service
                continue
            note = service.env._("Waiting for automatic assignment: %(reason)s.", reason=reason)
            if service.assignment_note != note:  # said once, not every minute the cron retries
                service.assignment_note = note
                service.channel_id._whatsapp_post(POST_INTERNAL, body=note, message_type='notification',
                                                  subtype_xmlid='mail.mt_note')
        return assigned

    def _whatsapp_staff_lang(self):
        """The language of texts this service shows its attendants when no attendant's request
        writes them (automatic assignment): the company's, else the current one."""
        self.ensure_one()
        return (self.company_id or self.env.company).partner_id.lang or self.env.lang

    @api.model
    def _whatsapp_auto_assign_domain(self):
        """The customers waiting in the queue of a team with automatic assignment."""
        return self._whatsapp_queue_domain() + [('team_id.auto_assign', '=', True)]

    @api.model
    def _whatsapp_assign_waiting(self, teams=None, limit=100):
        """Assign the customers waiting (oldest first) in the queues of ``teams`` (default: every
        team with automatic assignment): a slot freed, an attendant came online, the cron."""
        domain = self._whatsapp_auto_assign_domain()
        if teams is not None:
            teams = teams.filtered('auto_assign')
            if not teams:
                return self.browse()
            domain.append(('team_id', 'in', teams.ids))
        return self.search(domain, order='opened_at, id', limit=limit)._whatsapp_auto_assign()

    @api.model
    def _whatsapp_trigger_auto_assign(self):
        """Run the assignment cron as soon as possible (after this transaction): for changes made
        where assigning inline would be out of place (presence updates, configuration)."""
        cron = self.env.ref('whatsapp_attendance.ir_cron_whatsapp_auto_assign', raise_if_not_found=False)
        if cron:
            cron.sudo()._trigger()  # sudo: ir.cron - any user's presence may wake the assignment

    @api.model
    def _cron_auto_assign(self, limit=100):
        """The fallback of the immediate triggers (finish, transfer, coming online): every minute.
        ``limit`` customers at a time; while some were assigned and more wait, the cron runs again
        at once (Odoo's progress API), so a long queue does not wait a minute per ``limit``."""
        assigned = self._whatsapp_assign_waiting(limit=limit)
        remaining = self.search_count(self._whatsapp_auto_assign_domain())
        self.env['ir.cron']._notify_progress(done=len(assigned), remaining=remaining)
        return assigned

    def _whatsapp_lock_attendant(self, user):
        """Serialise the assignments of ``user``: two customers arriving at once must not both see
        them with a free slot and both be given to them.

        Every assignment (automatic, taken, transferred) updates the attendant's own res_users row
        first. A concurrent transaction assigning the same attendant blocks on that row lock until
        this one ends; then, Odoo's transactions being REPEATABLE READ, PostgreSQL refuses its update
        of a row changed since its snapshot ("could not serialize access due to concurrent update")
        and Odoo replays the whole request on a fresh snapshot, which counts this assignment. A
        plain ``SELECT ... FOR UPDATE`` would not do: once the lock is released the waiting
        transaction would go on with the load counted in its old snapshot and overbook; ``FOR UPDATE
        SKIP LOCKED`` would pick someone else only while the lock is held, not after. An UPDATE takes
        a FOR NO KEY UPDATE lock, so records merely referencing the user (create_uid…) never wait."""
        self.env.cr.execute(SQL(
            "UPDATE res_users SET whatsapp_last_assigned_at = (now() AT TIME ZONE 'UTC') WHERE id = %s", user.id))
        user.invalidate_recordset(['whatsapp_last_assigned_at'])

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
        if not service.user_id and not service.filtered_domain(self._whatsapp_team_domain(self.env.user)):
            raise UserError(self.env._("Service %(service)s waits in the %(team)s queue: only its attendants, "
                                       "a supervisor or an administrator can take it.",
                                       service=service.name, team=service.team_id.name))
        service._assign(self.env.user)
        return self.action_open_discuss()

    def action_transfer(self):
        self.ensure_one()
        # where the transfer started (Discuss or the service form): where the attendant goes after
        return self._wizard_action('whatsapp.service.transfer', self.env._("Transfer %(service)s", service=self.name),
                                   whatsapp_transfer_origin=self.env.context.get('whatsapp_transfer_origin'))

    def _check_can_transfer(self):
        self.ensure_one()
        if self.state == 'done':
            raise UserError(self.env._("Service %(service)s is finished and cannot be transferred.", service=self.name))
        if self.user_id and self.user_id != self.env.user and not self._is_whatsapp_manager():
            raise UserError(self.env._("Only %(attendant)s or an administrator can transfer service %(service)s.",
                              attendant=self.user_id.name, service=self.name))

    def _transfer_to_team(self, team, note=None):
        """Send this service back to waiting, in ``team``'s queue: the attendant (if any) leaves
        the conversation, the team's attendants see the customer waiting (or automatic assignment
        gives it to one of them), and the customer gets the team's greeting."""
        self.ensure_one()
        self._check_can_transfer()
        if not team:
            raise UserError(self.env._("Choose the team to transfer %(service)s to.", service=self.name))
        if team == self.team_id and self.state == 'waiting':
            raise UserError(self.env._("Service %(service)s is already waiting in the %(team)s queue.",
                                       service=self.name, team=team.name))
        # sudo: whatsapp.service - checked above; the previous attendant no longer reads the service
        service = self.sudo()
        previous = service.user_id
        service.write({'user_id': False, 'state': 'waiting',
                       'assignment_note': self.env._("Transferred to the %(team)s queue by %(by)s.",
                                                     team=team.name, by=self.env.user.name)})
        channel = service.channel_id
        if previous:
            channel._whatsapp_remove_partner(previous.partner_id)
        body = self.env._("%(by)s transferred this conversation to the %(team)s queue.",
                          by=self.env.user.name, team=team.name)
        channel._whatsapp_post(POST_INTERNAL, body=f"{body} {note}" if note else body,
                               message_type='notification', subtype_xmlid='mail.mt_note')
        service._whatsapp_set_team(team)
        if previous:
            service._whatsapp_assign_waiting(previous.whatsapp_team_ids)  # their slot is free

    def _transfer(self, user, note=None):
        self.ensure_one()
        self._check_can_transfer()
        if not user.has_group('whatsapp_attendance.group_whatsapp_attendant'):
            raise UserError(self.env._("%(user)s is not a WhatsApp attendant.", user=user.name))
        if user == self.user_id:
            raise UserError(self.env._("Service %(service)s is already attended by %(user)s.",
                              service=self.name, user=user.name))
        # sudo: whatsapp.service - the checks above passed; once transferred, the previous attendant
        # no longer reads the service
        service = self.sudo()
        previous = service.user_id
        service._assign(user, note=note)
        if previous:
            service._whatsapp_assign_waiting(previous.whatsapp_team_ids)  # their slot is free
        message = self.env._("%(by)s transferred the WhatsApp service %(service)s with %(customer)s to you.",
                             by=self.env.user.name, service=service.name, customer=service.partner_id.name)
        # in Odoo, live (no e-mail: it needs a mail server and arrives late): a sticky notification
        # while they are online; the conversation is in their Discuss sidebar with the transfer note
        user._bus_send('simple_notification', {
            'type': 'info', 'sticky': True,
            'title': self.env._("WhatsApp service transferred to you"),
            'message': f"{message} {note}" if note else message,
        })

    def _assign(self, user, note=None, reason=None):
        """Make ``user`` the attendant: member of the channel, the previous attendant leaves it.

        ``reason``: why automatic assignment chose them (shown on the service and in the
        conversation), which also tells them live. Runs as superuser (``action_take``,
        ``_transfer`` checked the rights)."""
        self._whatsapp_lock_attendant(user)
        previous = self.user_id
        # the idle clock starts when someone attends: a customer who waited 40 minutes in the
        # queue must not be timed out the minute an attendant takes them
        values = {'user_id': user.id, 'last_interaction_at': fields.Datetime.now()}
        if self.menu_id:
            values.update(menu_id=False, menu_retries=0)  # a person is here: the menu never speaks again
        if self.state == 'waiting':
            values['state'] = 'in_progress'
        channel = self.channel_id
        if previous and previous != user:
            body = self.env._("%(by)s transferred this conversation from %(from)s to %(to)s.",
                              by=self.env.user.name, **{'from': previous.name, 'to': user.name})
        elif reason:
            body = reason
        else:
            body = self.env._("%(user)s is attending this conversation.", user=user.name)
        values['assignment_note'] = body
        self.write(values)
        if user.partner_id not in channel.channel_member_ids.partner_id:
            channel.add_members(partner_ids=user.partner_id.ids, post_joined_message=False)
        if previous and previous != user:
            channel._whatsapp_remove_partner(previous.partner_id)
        if note:
            body = f"{body} {note}"
        channel._whatsapp_post(POST_INTERNAL, body=body, message_type='notification', subtype_xmlid='mail.mt_note')
        channel._whatsapp_push_service()
        self._notify_queue()
        if reason:
            user._bus_send('simple_notification', {
                'type': 'info', 'sticky': True, 'title': self.env._("WhatsApp customer assigned to you"),
                'message': self.env._("%(service)s with %(customer)s: %(reason)s", service=self.name,
                                      customer=self.partner_id.name, reason=reason),
            })

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
        # the attendants' slots are free: the next customers waiting for their teams get them now
        self._whatsapp_assign_waiting(services.user_id.whatsapp_team_ids)

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
    # Automatic messages
    # ------------------------------------------------------------------

    def _whatsapp_post_automatic(self, text, kind='greeting', buttons=None, menu_list=None, attachments=None,
                                 template=None, template_values=None):
        """Send an automatic message (greeting, menu, out-of-hours, idle warning, farewell) to the
        customer: posted in the conversation as OdooBot with a visible "Automatic message" marker,
        queued to the bridge like any reply, and never an attendant's first response nor a reason
        to postpone the idle timeout. Runs as superuser.

        ``kind``: one of ``AUTOMATIC_KINDS``. ``buttons`` (at most 3) or ``menu_list`` (contract
        ``OutboundJob.list``) make it an interactive message. Outside the 24-hour window the
        approved ``template`` goes instead (filled with ``template_values``); without one nothing
        is sent and a note says why. Returns the ``whatsapp.message`` records queued.
        """
        self.ensure_one()
        WaMessage = self.env['whatsapp.message']
        text = (text or '').strip()
        if self.state == 'done' or not (text or attachments or template):
            return WaMessage
        root = self.env.ref('base.partner_root')
        marker = Markup('<p class="o_whatsapp_automatic"><small>🤖 %s</small></p>') % self.env._(
            "Automatic message · %(kind)s", kind=dict(AUTOMATIC_KINDS)[kind](self.env))
        last_interaction = self.last_interaction_at
        if not self._window_open():
            if template and template.state == 'approved' and template.account_id == self.account_id:
                messages = self._post_template(template, extra=template_values, author=root, marker=marker)
            else:
                self.channel_id._whatsapp_post(
                    POST_INTERNAL, message_type='notification', subtype_xmlid='mail.mt_note',
                    body=self.env._("⚠️ %(reason)s The automatic message (%(kind)s) was not sent: no approved "
                                    "template is set for it (WhatsApp settings).",
                                    reason=self._window_refusal(), kind=dict(AUTOMATIC_KINDS)[kind](self.env)))
                return WaMessage
        else:
            mail_message = self.channel_id._whatsapp_post(
                POST_INTERNAL, body=marker + plaintext2html(text), message_type='comment',
                subtype_xmlid='mail.mt_comment', author_id=root.id,
                attachment_ids=attachments.ids if attachments else [])
            interactive = bool(buttons or menu_list)
            messages = self._create_outbound_messages(
                mail_message, message_type='interactive' if interactive else 'text', buttons=buttons,
                menu_list=menu_list, text=text)
            messages._push_discuss_status()
            self._unpin_finished()
        messages.write({'automatic_kind': kind})
        # an automatic message is not an interaction: the customer's silence still counts
        self.last_interaction_at = last_interaction
        return messages

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
                                  template=None, template_message=None, menu_list=None, text=None):
        """``whatsapp.message`` records (queued) for a post in the service channel, pushed after commit.

        ``attendant`` is the user who wrote it; none for messages of the company (rating request).
        ``text``: what WhatsApp gets, when it is not the post's body (automatic messages carry a
        marker only Discuss shows). Runs as superuser (``discuss.channel.message_post`` checked who
        may answer).
        """
        self.ensure_one()
        if text is None:
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
            text and not buttons and not menu_list and not template and len(attachments) == 1 and len(text) <= 1024
            and _media_type(attachments.mimetype) in ('image', 'video', 'document')
            and not attachments.voice_ids) else self.env['ir.attachment']
        vals_list = []
        if text and not captioned:
            vals_list.append(dict(common, message_type=message_type or 'text', body=text, buttons=buttons,
                                  menu_list=menu_list,
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

    @api.model
    def _receive_many(self, entries):
        """Store inbound WhatsApp messages ``entries`` (``[(service, item, partner)]``, in the order
        the customers sent them), each posted as its customer in its service's channel; return the
        ``whatsapp.message`` records in that order.

        The batched ingest path: the files, the Discuss messages and the WhatsApp records are each
        created with one ``create``, and each channel's bookkeeping and bus notification happen
        once (``discuss.channel._whatsapp_post_inbound``). A reaction changes a message already
        stored rather than posting one. A reply or a reaction refers to a message stored before
        this call (``whatsapp.api`` splits a batch there). Runs as superuser: the bridge's API
        entry point (``whatsapp.api``).
        """
        WaMessage = self.env['whatsapp.message']
        Attachment = self.env['ir.attachment']
        file_values = {index: service._inbound_attachment_values(item)
                       for index, (service, item, _partner) in enumerate(entries)}
        with_media = [index for index, values in file_values.items() if values]
        attachments = dict(zip(with_media, Attachment.create([file_values[i] for i in with_media]), strict=True))
        voice = Attachment.concat(*(attachments[i] for i in with_media if _is_voice(entries[i][1])))
        if voice:
            voice._set_voice_metadata()
        # the messages replied to, for the whole batch at once
        replied = {(service.account_id.id, _replied_wamid(item))
                   for service, item, _partner in entries if _replied_wamid(item)}
        parents = {}
        if replied:
            for message in WaMessage.search([('account_id', 'in', list({a for a, _w in replied})),
                                             ('wamid', 'in', list({w for _a, w in replied}))]):
                parents[(message.account_id.id, message.wamid)] = message
        mail_messages = [self.env['mail.message']] * len(entries)
        posts = []
        for index, (service, item, partner) in enumerate(entries):
            parent = parents.get((service.account_id.id, _replied_wamid(item)), WaMessage)
            body = render_inbound_body(self.env, item)
            if item['type'] == 'reaction':
                reacted = service._receive_reaction(item, partner)
                emoji = item['reaction'].get('emoji')
                if reacted is not None:
                    mail_messages[index] = reacted
                    continue
                if not emoji:
                    continue  # an unknown reaction removed: nothing to show
                # a reaction to a message this conversation does not have (sent before the addon, or
                # lost): shown as a message of its own rather than dropped
                body = plaintext2html(self.env._(
                    "%(emoji)s (reaction to a message that is not in this conversation)", emoji=emoji))
            # like message_post in a channel: a reply to a message of another conversation is no reply
            parent_mail = parent.mail_message_id
            in_channel = parent_mail.model == 'discuss.channel' and parent_mail.res_id == service.channel_id.id
            posts.append((index, service.channel_id, {
                'body': body, 'author_id': partner.id, 'parent_id': parent_mail.id if in_channel else False,
                'attachment_ids': attachments[index].ids if index in attachments else [],
            }))
        posted = self.env['discuss.channel']._whatsapp_post_inbound(
            [(channel, values) for _index, channel, values in posts])
        for (index, _channel, _values), mail_message in zip(posts, posted, strict=True):
            mail_messages[index] = mail_message
        messages = WaMessage.create([{
            'wamid': item['wamid'], 'account_id': service.account_id.id, 'service_id': service.id,
            'direction': 'inbound', 'message_type': item['type'], 'state': 'received',
            'body': _inbound_text(item), 'attachment_id': attachments[index].id if index in attachments else False,
            'is_voice': bool(index in attachments and attachments[index].voice_ids),
            'mail_message_id': mail_messages[index].id,
            'reply_to_wamid': parents.get((service.account_id.id, _replied_wamid(item)), WaMessage).wamid or False,
            'wa_timestamp': datetime.fromtimestamp(item['timestamp'], timezone.utc).replace(tzinfo=None),
            'interactive_id': (item.get('interactive') or {}).get('id') or False,
        } for index, (service, item, _partner) in enumerate(entries)])
        services = self.browse(list(dict.fromkeys(service.id for service, _item, _partner in entries)))
        # a number change is WhatsApp's message, not the customer's: it opens no 24-hour window
        written = self.browse(list(dict.fromkeys(
            service.id for service, item, _partner in entries if item['type'] != 'system')))
        closed = written.filtered(lambda s: not s._window_open())
        now = fields.Datetime.now()
        (services - written).write({'last_interaction_at': now})
        written.write({'last_interaction_at': now, 'last_inbound_at': now})
        closed.channel_id._whatsapp_push_service()  # the composer's "window closed" banner goes away
        services._unpin_finished()
        return messages

    def _whatsapp_on_inbound(self, message, new_service=False):
        """Hook: an inbound ``whatsapp.message`` of this open service has just been stored.

        Called once per message, in the order the customer sent them, by every ingest path
        (after the rating replies and the finish keywords, which never reach it), as the
        bridge's superuser. ``new_service``: this message opened the service. Routing (teams,
        the menu before the human, automatic assignment, business hours) extends it.
        """
        self.ensure_one()
        if message.message_type in ('reaction', 'system'):
            return  # a reaction or a number change answers nothing
        self._whatsapp_hours_on_inbound()
        if new_service and self.state == 'waiting' and not self.menu_id and self.team_id \
                and self.team_id == self.account_id.team_id:
            # the number's team (set on creation, when its queue was told): greeting, assignment
            self._whatsapp_team_welcome(notify=False)
        self._whatsapp_menu_on_inbound(message, new_service=new_service)

    def _inbound_attachment_values(self, item):
        """The values of the file of a WhatsApp message (contract payload), or ``None``: the file
        belongs to the service's channel (where ``message_post`` moves the files it posts)."""
        media = item.get('media')
        if not media or item['type'] not in contract.MEDIA_TYPES:
            return None
        return {
            'name': media.get('filename') or _default_filename(item['type'], media['mimetype']),
            'mimetype': media['mimetype'],
            'datas': media['data'],
            'res_model': 'discuss.channel',
            'res_id': self.channel_id.id,
        }

    def _inbound_attachment(self, item):
        """The file of a WhatsApp message (contract payload), ready for ``message_post``."""
        values = self._inbound_attachment_values(item)
        if not values:
            return self.env['ir.attachment']
        # like the composer's pending uploads: message_post moves it onto the channel (and links
        # only such files for a user who is not internal, as the bridge's)
        attachment = self.env['ir.attachment'].create(dict(values, res_model='mail.compose.message', res_id=0))
        if _is_voice(item):
            attachment._set_voice_metadata()
        return attachment

    def _record_phone_message(self, item, partner):
        """Store a message of the phone's own chat with this customer (contract HistoryMessage): the
        customer's (inbound) or the business's (``from_me``: outbound, already sent by the phone, never
        sent again). Nobody is notified: no queue, no routing, no rating. Runs as superuser (the bridge)."""
        self.ensure_one()
        from_me = item['from_me']
        when = datetime.fromtimestamp(item['timestamp'], timezone.utc).replace(tzinfo=None)
        attachment = self._inbound_attachment(item)
        author = self.account_id.company_id.partner_id if from_me else partner
        WaMessage = self.env['whatsapp.message']
        replied_wamid = (item.get('context') or {}).get('wamid')
        parent = WaMessage.search([('account_id', '=', self.account_id.id), ('wamid', '=', replied_wamid)],
                                  limit=1) if replied_wamid else WaMessage
        mail_message = self.channel_id._whatsapp_post(
            POST_INTERNAL if from_me else POST_INBOUND, author_id=author.id, message_type='comment',
            subtype_xmlid='mail.mt_comment', attachment_ids=attachment.ids, date=when,
            parent_id=parent.mail_message_id.id or False, body=render_inbound_body(self.env, item))
        return WaMessage.create({
            'wamid': item['wamid'], 'account_id': self.account_id.id, 'service_id': self.id,
            'direction': 'outbound' if from_me else 'inbound', 'message_type': item['type'],
            'state': 'sent' if from_me else 'received', 'sent_at': when if from_me else False,
            'body': _inbound_text(item), 'attachment_id': attachment.id,
            'is_voice': bool(attachment and attachment.voice_ids), 'mail_message_id': mail_message.id,
            'reply_to_wamid': parent.wamid or False, 'wa_timestamp': when,
        })

    def _check_number_active(self):
        """An answer on a number that sends nothing now (ended, logged out) is refused with the reason,
        rather than queued for nothing."""
        for service in self:
            refusal = service.account_id._sending_refusal()
            if refusal:
                raise UserError(refusal)

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

    def _post_template(self, template, extra=None, author=None, attendant=None, marker=None):
        """Post ``template``, filled for this service, in the conversation and queue it for WhatsApp
        (runs as superuser: the callers checked who may write). ``marker``: HTML shown above it in
        Discuss only (automatic messages)."""
        self.ensure_one()
        text, message = template._render(self, extra)
        mail_message = self.channel_id._whatsapp_post(
            POST_INTERNAL, body=(marker or Markup()) + plaintext2html(text), message_type='comment',
            subtype_xmlid='mail.mt_comment',
            author_id=author.id if author else None)
        messages = self._create_outbound_messages(mail_message, attendant=attendant, message_type='template',
                                                  template=template, template_message=message,
                                                  text=text if marker else None)
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
        self.sudo()._check_number_active()  # sudo: whatsapp.account - attendants cannot read accounts
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
    # The menu before the human
    # ------------------------------------------------------------------

    @api.model
    def _whatsapp_entry_menu(self, account):
        """The menu a new service of ``account`` starts with (none outside business hours unless
        Settings let the menu run then)."""
        menu = account.menu_id
        if not menu or not menu.active or not menu.option_ids:
            return self.env['whatsapp.menu']
        if get_param(self.env, 'menu_skip_outside_hours') and not self._whatsapp_is_open(account):
            return self.env['whatsapp.menu']
        return menu

    @api.model
    def _whatsapp_human_keywords(self):
        raw = get_param(self.env, 'menu_human_keywords') or DEFAULT_HUMAN_KEYWORDS
        return [normalize_answer(word) for word in raw.split(',') if normalize_answer(word)]

    @api.model
    def _whatsapp_menu_max_retries(self):
        value = get_param(self.env, 'menu_max_retries')
        return int(value) if value and str(value).isdigit() else DEFAULT_MENU_RETRIES

    def _whatsapp_lang_env(self):
        return self.with_context(lang=self.partner_id.lang or self.env.lang).env

    def _whatsapp_menu_on_inbound(self, message, new_service=False):
        """The menu reads the customer's message: starts on a new service, else takes it as an answer."""
        self.ensure_one()
        menu = self.menu_id
        if not menu or self.user_id or self.state != 'waiting':
            return
        choice = self._whatsapp_menu_choice(menu, message)
        if isinstance(choice, str):  # 'human'
            self._whatsapp_menu_stop()
        elif new_service:
            self._whatsapp_menu_send(menu)
        elif choice:
            self._whatsapp_menu_apply(choice)
        elif self.menu_retries + 1 >= self._whatsapp_menu_max_retries():
            lang_env = self._whatsapp_lang_env()
            self._whatsapp_menu_stop(text=lang_env._(
                "Sorry, I could not understand your answer. An attendant will answer you shortly."))
        else:
            self.menu_retries += 1
            lang_env = self._whatsapp_lang_env()
            self._whatsapp_menu_send(menu, intro=lang_env._("Sorry, I did not understand. Please choose one of "
                                                            "the options:"))

    def _whatsapp_menu_choice(self, menu, message):
        """The option of ``menu`` the customer chose (button or list row id, number, or name: case- and
        accent-insensitive), ``'human'`` for the escape words, else ``False``."""
        options = menu._sorted_options()
        if message.interactive_id:
            if message.interactive_id == MENU_HUMAN_ID:
                return 'human'
            for option in options:
                if message.interactive_id == f"{MENU_ID_PREFIX}{option.id}":
                    return option
        text = message.body or ''
        answer = normalize_answer(text)
        if not answer:
            return False
        if answer in self._whatsapp_human_keywords():
            return 'human'
        number = answer_number(text)
        if number is not None:
            return options[number - 1] if 1 <= number <= len(options) else False
        lang = self.partner_id.lang or self.env.lang
        for option in options:
            names = {normalize_answer(option.name), normalize_answer(option.with_context(lang=lang).name)}
            if answer in names:
                return option
        return False

    def _whatsapp_menu_apply(self, option):
        """What the option the customer chose does."""
        self.ensure_one()
        option = option.with_context(lang=self.partner_id.lang or self.env.lang)
        if option.action == 'team':
            self._whatsapp_menu_stop(team=option.team_id)
        elif option.action == 'submenu':
            self.write({'menu_id': option.submenu_id.id, 'menu_retries': 0})
            self._whatsapp_menu_send(option.submenu_id)
        elif option.action == 'answer':
            attachments = self.env['ir.attachment']
            if option.answer_file:
                attachments = attachments.create({
                    'name': option.answer_filename or 'file', 'datas': option.answer_file,
                    # like the composer's pending uploads: message_post moves it onto the channel
                    'res_model': 'mail.compose.message', 'res_id': 0,
                })
            self._whatsapp_post_automatic(option.answer or '', 'menu', attachments=attachments)
            self.menu_retries = 0
            self._whatsapp_menu_send(self.menu_id)
        else:
            self._whatsapp_menu_stop()

    def _whatsapp_menu_stop(self, team=None, text=None):
        """The menu ends: the customer joins the queue (``team``'s, else the number's team, else the
        general queue) and the attendants hear of them."""
        self.ensure_one()
        team = team or self.account_id.team_id
        menu = self.menu_id.with_context(lang=self.partner_id.lang or self.env.lang)
        self.write({'menu_id': False, 'menu_retries': 0})
        if text or not (team and team.greeting):  # a team greets the customer itself
            lang_env = self._whatsapp_lang_env()
            self._whatsapp_post_automatic(
                text or menu.handoff_message or lang_env._("Thank you! An attendant will answer you shortly."),
                'greeting')
        if team:
            self._whatsapp_set_team(team)  # the team's queue (and its greeting, automatic assignment)
        else:
            self._notify_queue(new=self)

    def _whatsapp_menu_send(self, menu, intro=None):
        """Ask ``menu``: reply buttons (up to 3 options) or a list message (up to 10) on the Cloud API,
        numbered text on WhatsApp Web or when Settings ask for it."""
        self.ensure_one()
        lang_env = self._whatsapp_lang_env()
        menu = menu.with_env(lang_env)
        options = menu._sorted_options()
        escape = (self._whatsapp_human_keywords() or ['0'])[0]
        body = f"{intro}\n\n{menu.body}" if intro else menu.body
        interactive = self.account_id.provider == 'cloud_api' and \
            get_param(self.env, 'menu_numbered_text') != 'True' and len(options) <= contract.LIST_LIMITS['rows']
        if not interactive:
            lines = [f"{index}. {option.name}" for index, option in enumerate(options, 1)]
            lines.append(lang_env._("%(word)s. Talk to an attendant", word=escape))
            return self._whatsapp_post_automatic(f"{body}\n\n" + "\n".join(lines), 'menu')
        hint = lang_env._("Type %(word)s to talk to an attendant.", word=escape)
        if len(options) <= 3 and all(len(option.name) <= contract.LIST_LIMITS['button_title'] for option in options):
            buttons = [{'id': f"{MENU_ID_PREFIX}{option.id}", 'title': option.name} for option in options]
            return self._whatsapp_post_automatic(f"{body}\n\n{hint}", 'menu', buttons=buttons)
        rows = [{'id': f"{MENU_ID_PREFIX}{option.id}", 'title': option.name,
                 'description': option.description or ''} for option in options]
        human_title = lang_env._("Talk to an attendant")[:contract.LIST_LIMITS['row_title']]
        # a menu with its own "talk to a person" option needs no second one
        if len(rows) < contract.LIST_LIMITS['rows'] and 'human' not in options.mapped('action') and \
                normalize_answer(human_title) not in {normalize_answer(row['title']) for row in rows}:
            rows.append({'id': MENU_HUMAN_ID, 'title': human_title, 'description': ''})
        menu_list = {'button': (menu.list_button or lang_env._("Options"))[:20], 'rows': rows}
        return self._whatsapp_post_automatic(f"{body}\n\n{hint}", 'menu', menu_list=menu_list)

    # ------------------------------------------------------------------
    # Business hours
    # ------------------------------------------------------------------

    @api.model
    def _whatsapp_calendar(self, account):
        """The working calendar of ``account`` (or of the settings); empty: always open."""
        if account.resource_calendar_id:
            return account.resource_calendar_id
        calendar_id = get_param(self.env, 'resource_calendar_id')
        return self.env['resource.calendar'].browse(int(calendar_id)).exists() \
            if calendar_id and str(calendar_id).isdigit() else self.env['resource.calendar']

    @api.model
    def _whatsapp_is_open(self, account, when=None):
        """Whether ``account``'s attendants work at ``when`` (naive UTC, default now): inside a working
        interval of its calendar and not on a public holiday (time off without a resource)."""
        calendar = self._whatsapp_calendar(account)
        if not calendar:
            return True
        start = pytz.utc.localize(when or fields.Datetime.now())
        intervals = calendar._work_intervals_batch(start, start + timedelta(minutes=1))[False]
        return any(begin <= start < end for begin, end, _record in intervals)

    @api.model
    def _whatsapp_next_opening(self, account, when=None):
        """The next start of business hours after ``when`` (aware, in the calendar's timezone), or ``None``."""
        calendar = self._whatsapp_calendar(account)
        if not calendar:
            return None
        start = pytz.utc.localize(when or fields.Datetime.now())
        intervals = calendar._work_intervals_batch(start, start + timedelta(days=31))[False]
        for begin, _end, _record in intervals:
            if begin > start:
                return begin.astimezone(pytz.timezone(calendar.tz or 'UTC'))
        return None

    def _whatsapp_hours_on_inbound(self):
        """Outside business hours a waiting customer is told so, once per service; the service still
        waits in the queue for the next opening."""
        self.ensure_one()
        if self.state != 'waiting' or self.user_id or self.out_of_hours_notified \
                or self._whatsapp_is_open(self.account_id):
            return
        self.out_of_hours_notified = True
        self._whatsapp_post_automatic(self._whatsapp_out_of_hours_text(), 'out_of_hours')

    def _whatsapp_out_of_hours_text(self, when=None):
        self.ensure_one()
        lang = self.partner_id.lang or self.env.lang
        lang_env = self._whatsapp_lang_env()
        opening = self._whatsapp_next_opening(self.account_id, when)
        opening_text = format_datetime(lang_env, opening.astimezone(pytz.utc).replace(tzinfo=None),
                                       tz=opening.tzinfo.zone, dt_format='EEEE, d MMM, HH:mm', lang_code=lang) \
            if opening else ''
        text = self.account_id.with_context(lang=lang).out_of_hours_message
        if text:
            return text.replace('{opening}', opening_text)
        if opening:
            return lang_env._("Hello! We are closed right now. Your message is in our queue: an attendant will "
                              "answer you when we open again, %(opening)s.", opening=opening_text)
        return lang_env._("Hello! We are closed right now. Your message is in our queue: an attendant will "
                          "answer you when we open again.")

    # ------------------------------------------------------------------
    # A graceful end: "are you still there?", then a farewell
    # ------------------------------------------------------------------

    @api.model
    def _idle_warning_minutes(self):
        value = get_param(self.env, 'idle_warning')
        return int(value) if value and str(value).isdigit() else 0

    def _automatic_template(self, key):
        """The approved template of Settings ``key`` (idle warning, farewell) of this account, if any."""
        self.ensure_one()
        template_id = get_param(self.env, key)
        template = self.env['whatsapp.template'].browse(int(template_id)).exists() \
            if template_id and str(template_id).isdigit() else self.env['whatsapp.template']
        return template.filtered(lambda t: t.state == 'approved' and t.account_id == self.account_id)

    def _send_idle_warning(self):
        """Ask the customer whether they are still there (the idle timeout is near)."""
        self.ensure_one()
        lang_env = self._whatsapp_lang_env()
        text = get_param(self.env, 'idle_warning_text') or lang_env._(
            "Are you still there? Without a message from you, this conversation will be closed in a few minutes.")
        self.idle_warned_at = fields.Datetime.now()
        return self._whatsapp_post_automatic(
            text.replace('{name}', self.partner_id.name or ''), 'idle_warning',
            template=self._automatic_template('idle_warning_template_id'))

    def _send_farewell(self):
        """Say goodbye before the idle timeout finishes the service."""
        self.ensure_one()
        lang_env = self._whatsapp_lang_env()
        text = get_param(self.env, 'farewell_text') or lang_env._(
            "As we have not heard from you, we are closing this conversation. Write to us again anytime!")
        return self._whatsapp_post_automatic(
            text.replace('{name}', self.partner_id.name or ''), 'farewell',
            template=self._automatic_template('farewell_template_id'))

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
        now = fields.Datetime.now()
        due = now - timedelta(minutes=timeout)
        warning = min(self._idle_warning_minutes(), timeout)
        if warning:
            self._cron_warn_idle(now - timedelta(minutes=timeout - warning), due, limit)
        services = self.search([('state', '=', 'in_progress'), ('last_interaction_at', '<=', due)], limit=limit)
        for service in services:
            if warning:
                service._send_farewell()
            service._finish('timeout')
        if len(services) == limit:
            # more are due: run again right away rather than a minute later
            self.env.ref('whatsapp_attendance.ir_cron_whatsapp_finish_idle')._trigger()
        return services

    @api.model
    def _cron_warn_idle(self, warn_before, due, limit):
        """Ask "are you still there?" of the services idle since ``warn_before`` (not yet due at
        ``due``), once per silence: a message from either side starts a new one."""
        self.flush_model(['state', 'last_interaction_at', 'idle_warned_at'])
        # not yet asked in this silence: a comparison of two columns, which a domain cannot say
        self.env.cr.execute(SQL(
            "SELECT id FROM whatsapp_service WHERE state = 'in_progress' AND last_interaction_at <= %s "
            "AND last_interaction_at > %s AND (idle_warned_at IS NULL OR idle_warned_at < last_interaction_at) "
            "ORDER BY last_interaction_at LIMIT %s", warn_before, due, limit))
        for service in self.browse([row[0] for row in self.env.cr.fetchall()]):
            service._send_idle_warning()


# Automatic messages (``whatsapp.message.automatic_kind``): sent by the system, not an attendant
AUTOMATIC_KINDS = [
    ('greeting', lambda env: env._("greeting")),
    ('menu', lambda env: env._("menu")),
    ('out_of_hours', lambda env: env._("out of hours")),
    ('idle_warning', lambda env: env._("are you still there?")),
    ('farewell', lambda env: env._("farewell")),
]

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


def _is_voice(item):
    """Whether the file of an inbound message is a voice note (Discuss shows an audio player)."""
    media = item['media']
    return bool(media.get('voice') or (item['type'] == 'audio' and 'ogg' in media['mimetype']))


def _replied_wamid(item):
    """The WhatsApp id of the message an inbound message replies to, if any."""
    return (item.get('context') or {}).get('wamid') or False


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

