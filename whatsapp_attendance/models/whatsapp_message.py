import logging
import os
from datetime import timedelta

import redis

from odoo import api, fields, models
from odoo.tools import SQL
from odoo.tools import config as odoo_config
from odoo.tools.translate import LazyTranslate

from .. import contract
from ..tools import redis_queue
from ..tools.params import get_param

_logger = logging.getLogger(__name__)
_lt = LazyTranslate(__name__)

# Delivery states only move forward: a late "delivered" after "read" changes nothing.
STATE_RANK = {'received': 0, 'queued': 0, 'sent': 1, 'delivered': 2, 'read': 3}
DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379/0'
DEFAULT_REPUSH_DELAY = 120  # seconds


class WhatsappMessage(models.Model):
    _name = 'whatsapp.message'
    _description = "WhatsApp Message"
    _order = 'id desc'
    _rec_name = 'wamid'

    wamid = fields.Char(
        "WhatsApp Message ID", readonly=True, copy=False, index='btree_not_null',
        help="The id WhatsApp gives the message (wamid...). Empty until an outbound message is sent.")
    account_id = fields.Many2one('whatsapp.account', required=True, readonly=True, index=True, ondelete='restrict')
    service_id = fields.Many2one('whatsapp.service', required=True, readonly=True, index=True, ondelete='cascade')
    partner_id = fields.Many2one(related='service_id.partner_id', store=True, string="Customer")
    attendant_id = fields.Many2one('res.users', readonly=True,
                                   help="Who wrote an outbound message.")
    mail_message_id = fields.Many2one('mail.message', "Discuss Message", readonly=True, index='btree_not_null',
                                      ondelete='set null')
    direction = fields.Selection([('inbound', "Received"), ('outbound', "Sent")], required=True, readonly=True)
    message_type = fields.Selection([
        ('text', "Text"), ('image', "Image"), ('audio', "Audio"), ('video', "Video"),
        ('document', "Document"), ('sticker', "Sticker"), ('location', "Location"),
        ('contacts', "Contacts"), ('reaction', "Reaction"), ('interactive', "Interactive reply"),
        ('unsupported', "Unsupported"), ('system', "System"), ('template', "Template"),
    ], "Type", required=True, readonly=True, default='text')
    template_id = fields.Many2one('whatsapp.template', readonly=True, ondelete='set null')
    template_message = fields.Json(readonly=True, help="The filled template sent (contract TemplateMessage).")
    body = fields.Text(readonly=True)
    attachment_id = fields.Many2one('ir.attachment', readonly=True, ondelete='set null')
    caption = fields.Text(readonly=True, help="The text sent with an image, video or document.")
    # the service's history shows the files themselves: a thumbnail of images, a download of any file
    attachment_preview = fields.Binary("Preview", related='attachment_id.datas')
    attachment_file = fields.Binary("File", related='attachment_id.datas')
    attachment_name = fields.Char("File Name", related='attachment_id.name')
    is_voice = fields.Boolean("Voice Note", readonly=True)
    buttons = fields.Json(readonly=True, help="Reply buttons sent with an interactive message.")
    menu_list = fields.Json(readonly=True, help="The list (menu options) sent with an interactive message.")
    automatic_kind = fields.Selection([
        ('greeting', "Greeting"), ('menu', "Menu"), ('out_of_hours', "Out of hours"),
        ('idle_warning', "Are you still there?"), ('farewell', "Farewell"),
    ], "Automatic Message", readonly=True, index='btree_not_null',
        help="Sent by the system (not an attendant): which automatic message it is.")
    interactive_id = fields.Char("Reply Id", readonly=True,
                                 help="The id of the button or list row the customer chose.")
    reply_to_wamid = fields.Char("Reply To", readonly=True)
    state = fields.Selection([
        ('received', "Received"), ('queued', "Queued"), ('sent', "Sent"),
        ('delivered', "Delivered"), ('read', "Read"), ('failed', "Failed"),
    ], required=True, readonly=True, default='queued', index=True)
    error_code = fields.Integer(readonly=True)
    error_message = fields.Char("Failure Reason", readonly=True)
    wa_timestamp = fields.Datetime("WhatsApp Time", readonly=True)
    sent_at = fields.Datetime(readonly=True)
    delivered_at = fields.Datetime(readonly=True)
    read_at = fields.Datetime(readonly=True)
    pushed_at = fields.Datetime("Last Pushed", readonly=True, copy=False)
    push_count = fields.Integer(readonly=True, copy=False)

    _sql_constraints = [
        ('wamid_account_unique', 'UNIQUE(account_id, wamid)', "A WhatsApp message id is unique per account."),
    ]

    def init(self):
        # messages in/out of a period (the dashboard) and the last message of a service (lists):
        # index-only scans, the count of a 90-day period reads no table row
        self.env.cr.execute(SQL("DROP INDEX IF EXISTS whatsapp_message_create_date_idx"))
        self.env.cr.execute(SQL(
            "CREATE INDEX IF NOT EXISTS whatsapp_message_create_date_cov_idx "
            "ON whatsapp_message (create_date) INCLUDE (direction, account_id)"))
        self.env.cr.execute(SQL(
            "CREATE INDEX IF NOT EXISTS whatsapp_message_service_id_id_idx ON whatsapp_message (service_id, id)"))

    # ------------------------------------------------------------------
    # Delivery states
    # ------------------------------------------------------------------

    def _apply_status(self, status, when=None, error=None):
        """Move the delivery state forward; return 'applied' or 'ignored'.

        'failed' is final and only replaces a state before 'delivered'.
        """
        self.ensure_one()
        current = self.state
        if current == 'failed' or current == status:
            return 'ignored'
        if status == 'failed':
            if STATE_RANK[current] >= STATE_RANK['delivered']:
                return 'ignored'
            error = error or {}
            self.write({
                'state': 'failed',
                'error_code': error.get('code') or 0,
                'error_message': self._format_error(error),
            })
            self.service_id._notify_delivery_failure(self)
            self._push_discuss_status()
            return 'applied'
        if STATE_RANK[status] <= STATE_RANK[current]:
            return 'ignored'
        when = when or fields.Datetime.now()
        values = {'state': status}
        # reaching "read" implies it was sent and delivered
        for step in ('sent', 'delivered', 'read'):
            if STATE_RANK[step] <= STATE_RANK[status] and not self[f'{step}_at']:
                values[f'{step}_at'] = when
        self.write(values)
        self._push_discuss_status()
        return 'applied'

    def _discuss_status(self):
        """The delivery state Discuss shows for one post (its text and files are several WhatsApp
        messages): the least advanced of them, failed when any failed, with the reason."""
        failed = self.filtered(lambda m: m.state == 'failed')
        if failed:
            return {'state': 'failed', 'error': "; ".join(filter(None, failed.mapped('error_message'))),
                    'retryable': all(m.error_code not in NOT_RETRYABLE for m in failed), 'ids': failed.ids}
        state = min(self.mapped('state'), key=lambda s: STATE_RANK.get(s, 0), default='queued')
        return {'state': state, 'error': False, 'retryable': False, 'ids': self.ids}

    def _push_discuss_status(self):
        """Live ticks: the conversation's members see the new state of these messages at once."""
        for mail_message in self.mail_message_id:
            channel = self.env['discuss.channel'].browse(mail_message.res_id) \
                if mail_message.model == 'discuss.channel' else None
            if channel:
                status = self.search([('mail_message_id', '=', mail_message.id), ('direction', '=', 'outbound')])
                channel._bus_send_store(mail_message, {'whatsappStatus': status._discuss_status()})

    def action_retry(self):
        """Send a failed message again (Discuss's retry on a failed tick)."""
        for message in self:
            if message.direction != 'outbound' or message.state != 'failed':
                continue
            # sudo: whatsapp.service - retrying is answering the customer again: same rule
            message.service_id.sudo()._check_can_reply(self.env.user)
            message.service_id.sudo()._check_number_active()
            if message.message_type != 'template':
                # sudo: whatsapp.service - as above; a free-form message needs the 24-hour window
                message.service_id.sudo()._check_window_open()
        # sudo: whatsapp.message - checked above; the bridge gets the job after commit
        retried = self.sudo().filtered(lambda m: m.direction == 'outbound' and m.state == 'failed')
        retried.write({'state': 'queued', 'error_code': 0, 'error_message': False})
        retried._push_to_bridge()
        retried._push_discuss_status()
        return True

    @api.model
    def _format_error(self, error):
        code = error.get('code')
        reason = ERROR_REASONS.get(code) if code else None
        text = reason and str(reason) or error.get('message') or error.get('title') or self.env._("Unknown error")
        return f"{text} ({code})" if code else text

    # ------------------------------------------------------------------
    # Outbound queue: pushed to Redis only after commit
    # ------------------------------------------------------------------

    def _outbound_payload(self):
        self.ensure_one()
        partner = self.service_id.partner_id
        payload = {
            'v': contract.CONTRACT_VERSION,
            'message_id': self.id,
            'account': self.account_id.phone_number_id,
            'to': {'wa_id': (partner.whatsapp_phone or '').lstrip('+') or None,
                   'user_id': partner.whatsapp_user_id or None},
            'type': self.message_type,
            # a file carries its caption (the attendant's text typed with it); ``body`` only names
            # the file in lists
            'text': (self.caption or None) if self.attachment_id else (self.body or None),
            'reply_to': self.reply_to_wamid or None,
            'attachment': None,
            'buttons': self.buttons or None,
        }
        if self.menu_list:
            payload['list'] = self.menu_list
        if self.message_type == 'template':
            payload['template'] = self.template_message
        if self.attachment_id:
            payload['attachment'] = {
                'id': self.attachment_id.id,
                'filename': self.attachment_id.name,
                'mimetype': self.attachment_id.mimetype,
                'voice': self.is_voice,
            }
        return contract.validate_outbound_job(payload)

    def _push_to_bridge(self):
        """Queue these outbound messages for the bridge once the transaction commits."""
        messages = self.filtered(lambda m: m.direction == 'outbound' and m.state == 'queued')
        if not messages:
            return
        payloads = []
        pushed = self.browse()
        for message in messages:
            try:
                payloads.append(message._outbound_payload())
            except contract.ContractError as error:
                # e.g. the customer's WhatsApp number was removed from the contact: this message
                # cannot be sent, says why in the conversation, and never blocks the others
                message._apply_status('failed', error={'message': self.env._(
                    "This message cannot be sent: %(error)s. Check the customer's WhatsApp number.",
                    error=error)})
                continue
            pushed |= message
        now = fields.Datetime.now()
        for message in pushed:
            message.write({'pushed_at': now, 'push_count': message.push_count + 1})
        self._push_after_commit(contract.STREAM_OUT, payloads)

    @api.model
    def _default_redis_url(self):
        """Until an administrator sets one: ``whatsapp_redis_url`` in Odoo's configuration file,
        else the environment's ``WA_REDIS_URL`` (the bridge's variable, handy in containers)."""
        return odoo_config.get('whatsapp_redis_url') or os.environ.get('WA_REDIS_URL') or DEFAULT_REDIS_URL

    @api.model
    def _redis_settings(self):
        url = get_param(self.env, 'redis_url') or self._default_redis_url()
        prefix = get_param(self.env, 'stream_prefix') or ''
        return url, prefix

    @api.model
    def _push_after_commit(self, stream, payloads):
        """XADD ``payloads`` to ``stream`` after commit; a failure leaves them for the re-push cron."""
        url, prefix = self._redis_settings()

        def push():
            try:
                redis_queue.push(url, prefix, stream, payloads)
            except redis.RedisError as error:
                _logger.warning("WhatsApp: Redis unavailable (%s); %d job(s) on %s wait for the re-push cron",
                                error, len(payloads), stream)

        self.env.cr.postcommit.add(push)

    @api.model
    def _cron_repush_queued(self, limit=1000):
        """Push again outbound messages still queued after the re-push delay (the bridge deduplicates)."""
        delay = int(get_param(self.env, 'repush_delay', DEFAULT_REPUSH_DELAY))
        due = fields.Datetime.now() - timedelta(seconds=max(delay, 10))
        messages = self.search([
            ('direction', '=', 'outbound'), ('state', '=', 'queued'),
            '|', ('pushed_at', '=', False), ('pushed_at', '<=', due),
        ], order='id', limit=limit)
        messages._push_to_bridge()
        if len(messages) == limit:
            self.env.ref('whatsapp_attendance.ir_cron_whatsapp_repush')._trigger()
        return messages


# failures a retry cannot fix: outside the 24-hour window, unsupported type, not on WhatsApp
NOT_RETRYABLE = {131047, 131051, 131026, 132000, 132001, 132015, 132016}

ERROR_REASONS = {
    130429: _lt("WhatsApp is throttling this number; the message will be retried"),
    131026: _lt("The message could not be delivered to this customer (not on WhatsApp, or old app)"),
    131047: _lt("More than 24 hours have passed since the customer last wrote: free-form messages are not allowed"),
    131051: _lt("WhatsApp does not support this message type"),
    131052: _lt("The customer's media could not be downloaded"),
    131053: _lt("The media could not be uploaded to WhatsApp (type or size not supported)"),
    131056: _lt("Too many messages to this customer in a short time"),
    190: _lt("The WhatsApp access token is expired or invalid"),
    132000: _lt("The template's variables do not match the approved template: sync the templates"),
    132001: _lt("WhatsApp does not know this template in this language, or has not approved it"),
    132015: _lt("WhatsApp paused this template (low quality)"),
    132016: _lt("WhatsApp disabled this template"),
}
