import base64
import io
import logging
from datetime import datetime, timezone

import qrcode

from odoo import api, fields, models
from odoo.exceptions import UserError
from odoo.tools import LazyTranslate

from .. import contract

_logger = logging.getLogger(__name__)
_lt = LazyTranslate(__name__)

# the fixed texts the bridge reports with a session state (contract.SESSION_REASONS), translatable
SESSION_REASONS = {
    contract.SESSION_SCAN_QR: _lt("Scan the QR code with WhatsApp on the phone"),
    contract.SESSION_TYPE_CODE: _lt("On the phone: Linked devices > Link with phone number, then type this code"),
    contract.SESSION_LOGGED_OUT_FROM_ODOO: _lt("Logged out from Odoo"),
    contract.SESSION_STOPPED_FROM_ODOO: _lt("Stopped from Odoo"),
    contract.SESSION_ENDED_FROM_ODOO: _lt(
        "Ended from Odoo: the bridge neither sends nor receives for this number until Start"),
    contract.SESSION_QR_TIMEOUT: _lt("Nobody scanned the QR code in time: press Start session to try again"),
    contract.SESSION_LOGGED_OUT_FROM_PHONE: _lt("Logged out from the phone (Linked devices)"),
    contract.SESSION_CONNECTION_DROPPED: _lt("The connection to WhatsApp dropped: reconnecting"),
    contract.SESSION_DEVICE_LOGGED_OUT: _lt("WhatsApp logged this device out"),
    contract.SESSION_PHONE_GONE: _lt("The phone's WhatsApp is gone (uninstalled or re-registered): pair again"),
    contract.SESSION_WHATSAPP_UNAVAILABLE: _lt("WhatsApp's service is unavailable: start the session again later"),
    contract.SESSION_WHATSAPP_FAILED: _lt("WhatsApp's server failed: start the session again later"),
}


class WhatsappAccount(models.Model):
    _name = 'whatsapp.account'
    _description = "WhatsApp Account"
    _inherit = ['mail.thread']
    _order = 'sequence, id'

    name = fields.Char(required=True, tracking=True)
    sequence = fields.Integer(default=10)
    active = fields.Boolean(default=True)
    company_id = fields.Many2one('res.company', required=True, default=lambda self: self.env.company)
    provider = fields.Selection(
        [('cloud_api', "WhatsApp Cloud API"), ('web', "WhatsApp Web session (QR code)")],
        required=True, default='cloud_api', tracking=True)
    phone_number_id = fields.Char(
        "Account Key", required=True, copy=False, tracking=True,
        help="Cloud API: the phone number id Meta gives the number. WhatsApp Web: the session key "
             "the bridge uses. The bridge names the account with it in every event.")
    display_phone_number = fields.Char("Phone Number")
    session_state = fields.Selection(
        [('disconnected', "Disconnected"), ('pairing', "Waiting for QR scan"), ('connected', "Connected"),
         ('logged_out', "Logged out"), ('error', "Failed")],
        "State", default='disconnected', readonly=True, copy=False, tracking=True)
    session_qr = fields.Char(readonly=True, copy=False, groups='whatsapp_attendance.group_whatsapp_admin')
    session_qr_image = fields.Binary(
        "QR Code", compute='_compute_session_qr_image', groups='whatsapp_attendance.group_whatsapp_admin')
    session_pair_code = fields.Char(
        "Pairing Code", readonly=True, copy=False, groups='whatsapp_attendance.group_whatsapp_admin',
        help="Type it on the phone: WhatsApp > Linked devices > Link a device > Link with phone number instead.")
    session_pair_phone = fields.Char(
        "Number to Pair", copy=False, groups='whatsapp_attendance.group_whatsapp_admin',
        help="The WhatsApp number of the phone, with country code (5511987654321), for pairing by code.")
    session_ended = fields.Boolean(
        "Ended", readonly=True, copy=False, tracking=True,
        help="Cloud API: End was pressed. The bridge sends and receives nothing for this number until Start; "
             "attendants' answers are refused with the reason.")
    session_detail = fields.Char("Reason (as reported)", readonly=True, copy=False,
                                 help="The bridge's words, as it reported them.")
    session_reason = fields.Char("Reason", compute='_compute_session_reason',
                                 help="Why the session is in this state, in your language when the bridge's "
                                      "text is one Odoo knows.")
    session_updated_at = fields.Datetime("Last State Change", readonly=True, copy=False)
    session_connected_since = fields.Datetime("Connected Since", readonly=True, copy=False)
    session_uptime = fields.Char("Uptime", compute='_compute_session_uptime')
    contacts_matched = fields.Integer(readonly=True, copy=False,
                                      help="Contacts of the phone found among the existing contacts by number.")
    contacts_new = fields.Integer("Contacts Created", readonly=True, copy=False)
    contacts_ambiguous = fields.Integer(
        readonly=True, copy=False,
        help="Numbers several existing contacts have: nothing was merged or created, check them by hand.")
    contacts_synced_at = fields.Datetime("Contacts Imported On", readonly=True, copy=False)
    menu_id = fields.Many2one(
        'whatsapp.menu', "Menu Before the Human", ondelete='restrict',
        help="Greets every new customer of this number and routes them by their answers until an attendant "
             "takes over. Empty: customers go straight to the queue.")
    team_id = fields.Many2one(
        'whatsapp.team', "Default Team", ondelete='set null',
        help="Customers of this number wait in this team's queue (its greeting, its automatic assignment) "
             "unless the menu routes them to another team. Empty: the general queue, which every "
             "attendant sees.")
    resource_calendar_id = fields.Many2one(
        'resource.calendar', "Business Hours", ondelete='restrict',
        help="The working hours (and public holidays: the calendar's time off without a resource) when "
             "attendants answer. Empty: the calendar of the WhatsApp settings, if any; else always open.")
    out_of_hours_message = fields.Text(
        "Out-of-Hours Message", translate=True,
        help="Sent to a customer who writes outside business hours. {opening} is replaced by the next "
             "opening. Empty: the built-in text, in the customer's language.")
    service_ids = fields.One2many('whatsapp.service', 'account_id', string="Services")
    open_service_count = fields.Integer(compute='_compute_open_service_count')

    _sql_constraints = [
        ('phone_number_id_unique', 'UNIQUE(phone_number_id)', "Another WhatsApp account has this account key."),
    ]

    @api.depends('session_qr')
    def _compute_session_qr_image(self):
        for account in self:
            if not account.session_qr:
                account.session_qr_image = False
                continue
            image = qrcode.make(account.session_qr, box_size=8, border=2)
            buffer = io.BytesIO()
            image.save(buffer, format='PNG')
            account.session_qr_image = base64.b64encode(buffer.getvalue())

    @api.depends('session_state', 'session_connected_since')
    def _compute_session_uptime(self):
        now = fields.Datetime.now()
        for account in self:
            since = account.session_state == 'connected' and account.session_connected_since
            if not since:
                account.session_uptime = False
                continue
            minutes = max(0, int((now - since).total_seconds() // 60))
            days, rest = divmod(minutes, 24 * 60)
            hours, minutes = divmod(rest, 60)
            account.session_uptime = (f"{days}d " if days else "") + f"{hours}h {minutes:02d}min"

    @api.depends('session_detail')
    @api.depends_context('lang')
    def _compute_session_reason(self):
        for account in self:
            known = SESSION_REASONS.get(account.session_detail or '')
            account.session_reason = str(known) if known else account.session_detail

    def _compute_open_service_count(self):
        counts = dict(self.env['whatsapp.service']._read_group(
            [('account_id', 'in', self.ids), ('state', '!=', 'done')], ['account_id'], ['__count']))
        for account in self:
            account.open_service_count = counts.get(account, 0)

    @api.model
    def _get_by_key(self, key):
        return self.search([('phone_number_id', '=', key)], limit=1)

    # ------------------------------------------------------------------
    # Session commands (WhatsApp Web): queued to the bridge after commit
    # ------------------------------------------------------------------

    def _send_control(self, command):
        payloads = [contract.validate_control_command({
            'v': contract.CONTRACT_VERSION, 'account': account.phone_number_id, 'command': command,
        }) for account in self]
        self.env['whatsapp.message']._push_after_commit(contract.STREAM_CONTROL, payloads)

    def action_session_start(self):
        """WhatsApp Web: the bridge begins pairing (QR codes) or reconnects; Cloud API: it verifies the credentials."""
        for account in self:
            account._send_control('start' if account.provider == 'web' else 'verify')
        self.write({'session_detail': self.env._("Start requested: waiting for the bridge"),
                    'session_updated_at': fields.Datetime.now(), 'session_ended': False})
        self._notify_session()
        return True

    def action_session_pair_phone(self):
        self.ensure_one()
        if self.provider != 'web':
            raise UserError(self.env._("Only a WhatsApp Web account is paired with a phone."))
        digits = ''.join(ch for ch in (self.session_pair_phone or '') if ch.isdigit())
        if not 6 <= len(digits) <= 20:
            raise UserError(self.env._(
                "Type the phone's WhatsApp number with its country code, e.g. 5511987654321, in Number to Pair."))
        payload = contract.validate_control_command({
            'v': contract.CONTRACT_VERSION, 'account': self.phone_number_id, 'command': 'pair_phone', 'phone': digits})
        self.env['whatsapp.message']._push_after_commit(contract.STREAM_CONTROL, [payload])
        self.write({'session_detail': self.env._("Pairing code requested: waiting for the bridge"),
                    'session_updated_at': fields.Datetime.now()})
        self._notify_session()
        return True

    def action_session_stop(self):
        self._send_control('stop')
        return True

    def action_session_logout(self):
        """End the session: WhatsApp Web logs the device out; Cloud API stops sending and receiving for the
        number (until Start): the bridge parks its replies and sets its inbound messages aside."""
        for account in self:
            account._send_control('logout' if account.provider == 'web' else 'stop')
        self.filtered(lambda a: a.provider == 'cloud_api').write({'session_ended': True})
        self._notify_session()
        return True

    def _sending_refusal(self):
        """Why nothing can be sent through this number now (attendants' answers are refused), or ``False``."""
        self.ensure_one()
        if self.provider == 'cloud_api' and self.session_ended:
            return self.env._("The WhatsApp number %(name)s was ended (End session): it sends and receives "
                              "nothing until an administrator presses Start session.", name=self.name)
        if self.provider == 'web' and self.session_state == 'logged_out':
            return self.env._("The WhatsApp Web session of %(name)s is logged out: nothing can be sent until an "
                              "administrator pairs the phone again (Start session).", name=self.name)
        return False

    def _apply_session_state(self, state, qr=None, detail=None, pair_code=None, connected_since=None, phone=None):
        self.ensure_one()
        previous = self.session_state
        values = {
            'session_state': state,
            'session_qr': qr if state == 'pairing' else False,
            'session_pair_code': pair_code if state == 'pairing' else False,
            'session_detail': detail or False,
            'session_updated_at': fields.Datetime.now(),
        }
        if state == 'connected':
            values['session_connected_since'] = (
                datetime.fromtimestamp(connected_since, timezone.utc).replace(tzinfo=None) if connected_since
                else fields.Datetime.now())
        else:
            values['session_connected_since'] = False
        if phone and not self.display_phone_number:
            values['display_phone_number'] = '+' + phone
        self.write(values)
        if state in ('connected', 'logged_out', 'error') and state != previous:
            label = dict(self._fields['session_state']._description_selection(self.env))[state]
            body = self.env._("WhatsApp session: %(state)s", state=label)
            if detail:
                body = self.env._("WhatsApp session: %(state)s (%(reason)s)", state=label,
                                  reason=self.session_reason)
            self.message_post(body=body, message_type='notification')
        self._notify_session(alert=state == 'error' and state != previous)

    def _session_admins(self):
        group = self.env.ref('whatsapp_attendance.group_whatsapp_admin', raise_if_not_found=False)
        return group.sudo().users.partner_id if group else self.env['res.partner']

    def _notify_session(self, alert=False):
        """Tell the administrators' open pages (the account form refreshes itself); on a failure, a notification."""
        admins = self._session_admins()
        for account in self:
            payload = {'id': account.id, 'state': account.session_state}
            for partner in admins:
                partner._bus_send('whatsapp.account/session', payload)
            if alert:
                for partner in admins:
                    partner._bus_send('simple_notification', {
                        'type': 'danger', 'sticky': True,
                        'title': self.env._("WhatsApp number %(name)s failed", name=account.name),
                        'message': account.session_reason or '',
                    })
