from odoo import api, fields, models


class DiscussChannel(models.Model):
    _inherit = 'discuss.channel'

    whatsapp_service_id = fields.Many2one('whatsapp.service', "WhatsApp Service", readonly=True, index='btree_not_null',
                                          ondelete='set null')

    @api.returns('mail.message', lambda value: value.id)
    def message_post(self, *, message_type='notification', **kwargs):
        """A comment of an attendant in a service channel goes to the customer on WhatsApp."""
        service = self.whatsapp_service_id if len(self) == 1 else self.env['whatsapp.service']
        context = self.env.context
        outbound = bool(service) and message_type == 'comment' and not (
            context.get('whatsapp_inbound') or context.get('whatsapp_internal_note'))
        if outbound:
            # sudo: whatsapp.service - the check itself decides who may answer the customer
            service.sudo()._check_can_reply(self.env.user)
        message = super().message_post(message_type=message_type, **kwargs)
        if outbound:
            service.sudo()._create_outbound_messages(message, attendant=self.env.user)
        return message
