from odoo import api, fields, models
from odoo.exceptions import AccessError

from odoo.addons.mail.tools.discuss import Store


class _PostOrigin:
    """Who posts a message in a service channel without it going to the customer.

    Only this addon's server code can put an instance in a context: JSON-RPC and
    Discuss's controllers carry JSON values only, so no client can claim to be the
    bridge (``inbound``) or the company (``internal``) by setting a context key.
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
