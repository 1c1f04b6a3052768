from odoo import models

from odoo.addons.mail.tools.discuss import Store


class MailMessage(models.Model):
    _inherit = 'mail.message'

    def _extras_to_store(self, store: Store, format_reply):
        """Discuss shows the WhatsApp delivery state of the messages of WhatsApp conversations
        (``whatsapp_inbound_only``: the batched ingest path's new customer messages, which have none)."""
        super()._extras_to_store(store, format_reply=format_reply)
        in_conversations = self.filtered(lambda m: m.model == 'discuss.channel')
        if not in_conversations or self.env.context.get('whatsapp_inbound_only'):
            return
        # sudo: whatsapp.message - the delivery state of messages the user may already read
        wa_messages = self.env['whatsapp.message'].sudo().search(
            [('mail_message_id', 'in', in_conversations.ids), ('direction', '=', 'outbound')])
        by_message = {}
        for wa_message in wa_messages:
            by_message.setdefault(wa_message.mail_message_id.id, self.env['whatsapp.message'].sudo())
            by_message[wa_message.mail_message_id.id] |= wa_message
        for message in in_conversations:
            if message.id in by_message:
                store.add(message, {'whatsappStatus': by_message[message.id]._discuss_status()})
