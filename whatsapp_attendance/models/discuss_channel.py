from markupsafe import escape

from odoo import Command, api, fields, models
from odoo.exceptions import AccessError

from odoo.addons.mail.tools.discuss import Store

# The bus notification carrying the new messages of one channel (several at once): the client
# (static/src/discuss/new_messages_service_patch.js) handles each as Discuss handles its own
# "discuss.channel/new_message".
NEW_MESSAGES = 'whatsapp.channel/new_messages'


class _PostOrigin:
    """Who posts a message in a service channel without it going to the customer.

    Only this addon's server code can put an instance in a context: JSON-RPC and
    Discuss's controllers carry JSON values only, so no client can claim to be the
    bridge (``inbound``) or the company (``internal``) by setting a context key. (The
    customers' live messages do not go through ``message_post``: see
    ``_whatsapp_post_inbound``; the phone's history does.)
    """

    __slots__ = ('kind',)

    def __init__(self, kind):
        self.kind = kind


POST_INBOUND = _PostOrigin('inbound')   # the customer's message, posted by the bridge's API path
POST_INTERNAL = _PostOrigin('internal')  # notes and company messages the addon writes itself


class DiscussChannel(models.Model):
    _inherit = 'discuss.channel'

    # A conversation with a WhatsApp customer is a channel type of its own, like Live Chat's
    # "livechat": its own Discuss sidebar section, header actions, no internal calls.
    channel_type = fields.Selection(selection_add=[('whatsapp', "WhatsApp Conversation")],
                                    ondelete={'whatsapp': 'cascade'})
    whatsapp_service_id = fields.Many2one('whatsapp.service', "WhatsApp Service", readonly=True, index='btree_not_null',
                                          ondelete='set null')

    def _to_store(self, store: Store):
        """The service of a WhatsApp conversation travels with it to Discuss (header actions,
        the customer's name and number, who attends it)."""
        super()._to_store(store)
        if not self.env.user._is_internal():
            return
        for channel in self.filtered(lambda c: c.channel_type == 'whatsapp'):
            # sudo: whatsapp.service - a member of the conversation sees the service it belongs to
            store.add(channel, {'whatsapp_service': channel.sudo().whatsapp_service_id._discuss_info()})

    def _whatsapp_push_service(self):
        """Tell the open Discuss of every member that the service changed (taken, transferred, finished)."""
        for channel in self:
            # sudo: whatsapp.service - as above
            channel._bus_send_store(channel, {'whatsapp_service': channel.sudo().whatsapp_service_id._discuss_info()})

    def _whatsapp_post(self, origin, **kwargs):
        """Post in a service channel on behalf of the addon itself (``POST_INBOUND``/``POST_INTERNAL``)."""
        assert isinstance(origin, _PostOrigin)
        return self.with_context(whatsapp_post_origin=origin).message_post(**kwargs)

    @api.model
    def _whatsapp_post_inbound(self, posts):
        """Post the customers' messages ``posts`` (``[(channel, {body, author_id, parent_id,
        attachment_ids})]``, in order) as ``message_post`` posts a comment in a channel, in bulk;
        return the ``mail.message`` records in that order. Runs as superuser (``whatsapp.api``).

        What ``message_post`` does for a comment of someone who is not a member (the customer),
        once per batch or per channel instead of once per message: the same ``mail.message``
        values, created with one ``create``; the channel's ``last_interest_dt``; no
        ``mail.notification`` (channel members are notified by the bus, their unread counters
        are computed from their last seen message); the members' ``is_pinned`` and one bus
        notification per channel carrying all its new messages (``NEW_MESSAGES``: Discuss shows
        each as its own "discuss.channel/new_message": live message, unread counter, desktop
        notification); web push to the members' devices, if any. Skipped, as they do nothing
        here: the author's self-seen (the customer is no member), OdooBot (it answers only in
        its own chat or when mentioned), following (channels have no followers).
        """
        if not posts:
            return self.env['mail.message']
        channels = self.browse(list(dict.fromkeys(channel.id for channel, _values in posts)))
        alias_domains = channels._mail_get_alias_domains(default_company=self.env.company)
        companies = channels._mail_get_companies(default=self.env.company)
        subtype_id = self.env['ir.model.data']._xmlid_to_res_id('mail.mt_comment')
        authors = {}  # author -> email_from
        for author_id in dict.fromkeys(values['author_id'] for _channel, values in posts):
            authors[author_id] = channels[:1]._message_compute_author(author_id, None, raise_on_email=False)[1]
        reply_to = {}  # email_from -> {channel: reply-to}: customers mostly have no e-mail, one call
        for email_from in set(authors.values()):
            of_sender = channels.browse(list(dict.fromkeys(
                channel.id for channel, values in posts if authors[values['author_id']] == email_from)))
            reply_to[email_from] = of_sender._notify_get_reply_to(default=email_from)
        values_list = []
        for channel, values in posts:
            email_from = authors[values['author_id']]
            values_list.append({
                'author_id': values['author_id'], 'author_guest_id': False, 'email_from': email_from,
                'model': self._name, 'res_id': channel.id, 'record_name': channel.display_name,
                'body': escape(values['body']), 'message_type': 'comment', 'subtype_id': subtype_id,
                'parent_id': values.get('parent_id') or False, 'subject': False, 'partner_ids': [],
                'email_add_signature': True, 'record_alias_domain_id': alias_domains[channel.id].id,
                'record_company_id': companies[channel.id].id, 'reply_to': reply_to[email_from][channel.id],
                'attachment_ids': [Command.link(attachment_id) for attachment_id in values.get('attachment_ids', [])],
            })
        messages = channels._message_create(values_list)
        channels.last_interest_dt = fields.Datetime.now()
        by_channel = {}
        for message in messages:
            by_channel.setdefault(message.res_id, []).append(message.id)
        recipients = channels.channel_member_ids.partner_id - messages.author_id
        pushed = bool(recipients) and self.env['mail.push.device'].search_count(
            [('partner_id', 'in', recipients.ids)], limit=1)
        # what Discuss's payload reads of the messages and their authors, read once for the whole
        # batch (a prefetch spanning the batch would make each channel's payload walk all of it)
        messages.fetch(['attachment_ids', 'partner_ids', 'subtype_id', 'author_id'])
        messages.author_id.fetch(['user_ids'])
        for channel in channels:
            channel_messages = messages.browse(by_channel[channel.id])
            channel._bus_send_store(channel, {"is_pinned": True}, subchannel="members")
            # new customer messages have no outbound WhatsApp record (no delivery ticks) to look up
            data = Store(channel_messages.with_context(whatsapp_inbound_only=True)).get_result()
            channel._bus_send(NEW_MESSAGES, {"id": channel.id, "message_ids": channel_messages.ids, "data": data})
            if pushed:
                for message, msg_vals in zip(messages, values_list, strict=True):
                    if message.res_id == channel.id:
                        channel._notify_thread_by_web_push(
                            message, channel._notify_get_recipients(message, msg_vals), msg_vals)
        return messages

    def _whatsapp_remove_partner(self, partner):
        """Take ``partner`` out of this conversation the way Discuss's own "leave" does, so their
        open Discuss forgets it at once (without it, the next message in the channel makes their
        browser call the channel it may no longer read, and an access error pops up)."""
        self.ensure_one()
        member = self.channel_member_ids.filtered(lambda m: m.partner_id == partner)
        if not member:
            return
        member._bus_send_store(Store(self, {"is_pinned": False, "isLocallyPinned": False}),
                               notification_type="discuss.channel/leave")
        self._bus_send_store(self, {"channelMembers": Store.many(member, "DELETE", only_id=True)})
        member.unlink()

    @api.returns('mail.message', lambda value: value.id)
    def message_post(self, *, message_type='notification', **kwargs):
        """A comment of an attendant in a service channel goes to the customer on WhatsApp."""
        # sudo: whatsapp.service - any member's post is checked here, whatever services they may read
        service = (self.whatsapp_service_id if len(self) == 1 else self.env['whatsapp.service']).sudo()
        origin = self.env.context.get('whatsapp_post_origin')
        trusted = isinstance(origin, _PostOrigin)
        if service and not trusted:
            author_id = kwargs.get('author_id')
            if author_id and author_id != self.env.user.partner_id.id:
                # only the bridge's API path posts as the customer
                raise AccessError(self.env._(
                    "You can only post as yourself in the WhatsApp conversation %(service)s.",
                    service=service.name))
        outbound = bool(service) and message_type == 'comment' and not trusted
        if outbound:
            service._check_can_reply(self.env.user)
            service._check_window_open()  # outside the 24-hour window: only a template (composer's picker)
            service._check_number_active()  # a number ended (Cloud API) or logged out (WhatsApp Web) sends nothing
        message = super().message_post(message_type=message_type, **kwargs)
        if outbound:
            service._create_outbound_messages(message, attendant=self.env.user)
        return message
