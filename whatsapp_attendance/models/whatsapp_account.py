import base64
import io
import logging

import qrcode

from odoo import api, fields, models
from odoo.exceptions import UserError

from .. import contract

_logger = logging.getLogger(__name__)


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
        [(state, state.replace('_', ' ').title()) for state in contract.SESSION_STATES],
        default='disconnected', readonly=True, copy=False)
    session_qr = fields.Char(readonly=True, copy=False, groups='whatsapp_attendance.group_whatsapp_admin')
    session_qr_image = fields.Binary(
        "QR Code", compute='_compute_session_qr_image', groups='whatsapp_attendance.group_whatsapp_admin')
    session_detail = fields.Char(readonly=True, copy=False)
    session_updated_at = fields.Datetime(readonly=True, copy=False)
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
        if any(account.provider != 'web' for account in self):
            raise UserError(self.env._(
                "Only WhatsApp Web accounts have a session to start; Cloud API accounts are always on."))
        self._send_control('start')
        self.write({'session_detail': self.env._("Start requested"), 'session_updated_at': fields.Datetime.now()})

    def action_session_stop(self):
        self._send_control('stop')

    def action_session_logout(self):
        self._send_control('logout')

    def _apply_session_state(self, state, qr=None, detail=None):
        self.ensure_one()
        self.write({
            'session_state': state,
            'session_qr': qr if state == 'pairing' else False,
            'session_detail': detail or False,
            'session_updated_at': fields.Datetime.now(),
        })
        if state in ('connected', 'logged_out', 'error'):
            label = dict(self._fields['session_state'].selection)[state]
            self.message_post(body=self.env._("WhatsApp session: %(state)s", state=label), message_type='notification')
