from odoo.tests import HttpCase, new_test_user, tagged

from .common import enable_live_bus

ACCOUNT = 'pnid-tour-panel'


@tagged('post_install', '-at_install')
class TestPanelTour(HttpCase):
    """The customer panel and notes, as the attendant; a read-only share, as the colleague."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        enable_live_bus(cls)  # a note posted on the server shows in the conversation live
        cls.env['ir.config_parameter'].sudo().set_param('whatsapp_attendance.stream_prefix', 'test-tour-panel:')
        cls.env['whatsapp.account'].create({'name': "Panel tour account", 'phone_number_id': ACCOUNT})
        cls.ana = new_test_user(cls.env, login='wa_panel_ana', name="Ana Panel",
                                groups='whatsapp_attendance.group_whatsapp_attendant')
        cls.bruno = new_test_user(cls.env, login='wa_panel_bruno', name="Bruno Panel",
                                  groups='whatsapp_attendance.group_whatsapp_attendant')
        cls.boss = new_test_user(cls.env, login='wa_panel_admin', name="Admin Panel",
                                 groups='whatsapp_attendance.group_whatsapp_admin')
        api = cls.env['whatsapp.api'].with_user(cls.env.ref('whatsapp_attendance.user_whatsapp_bridge'))

        def write(seq, text):
            result = api.ingest_messages([{
                'v': 1, 'account': ACCOUNT, 'wamid': f'wamid.tour-panel-{seq}', 'timestamp': 1767225600 + seq,
                'from': {'wa_id': '5511955550101', 'name': "Zeca Panel"}, 'type': 'text', 'text': text}])
            return cls.env['whatsapp.service'].browse(result[0]['service_id'])

        earlier = write(1, "Quero trocar um produto")
        earlier.with_user(cls.bruno).action_take()
        earlier.with_user(cls.bruno).action_finish()
        earlier.rating_ids.sudo().write({'rating': 5, 'consumed': True})
        cls.service = write(2, "Quero trocar de novo")
        cls.service.with_user(cls.ana).action_take()

    def test_the_attendant_uses_the_customer_panel_and_notes(self):
        self.start_tour(f'/odoo/discuss?active_id=discuss.channel_{self.service.channel_id.id}',
                        'whatsapp_attendance_panel_tour', login='wa_panel_ana')
        partner = self.service.partner_id
        self.assertEqual(partner.category_id.mapped('name'), ["Atacado"])
        self.assertIn("Só atende depois das 18h", partner.comment)
        self.assertIn(self.ana, partner.whatsapp_favorite_user_ids)
        note = self.service.channel_id.message_ids.filtered(lambda m: 'frete grátis' in (m.body or ''))
        self.assertEqual(note.author_id, self.ana.partner_id)
        self.assertFalse(self.env['whatsapp.message'].search([('mail_message_id', '=', note.id)]),
                         "the note never reaches the customer")

    def test_a_colleague_with_a_read_only_share_cannot_answer(self):
        self.service.with_user(self.boss)._share_readonly(self.bruno)
        outbound_before = self.service.whatsapp_message_ids.filtered(lambda m: m.direction == 'outbound')
        self.start_tour('/odoo/discuss', 'whatsapp_attendance_readonly_tour', login='wa_panel_bruno')
        outbound = self.service.whatsapp_message_ids.filtered(lambda m: m.direction == 'outbound')
        self.assertEqual(outbound, outbound_before, "nothing reached the customer")
