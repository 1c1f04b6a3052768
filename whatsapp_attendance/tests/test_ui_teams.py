from odoo.tests import HttpCase, new_test_user, tagged

from .common import enable_live_bus, remove_other_services

ACCOUNT = 'pnid-tour-teams'


@tagged('post_install', '-at_install')
class TestTeamTour(HttpCase):
    """An attendant of the Sales team in Discuss: their queue shows Sales' customers and the
    general queue's, labelled with the team; they send a customer to the Support team's queue."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        enable_live_bus(cls)  # the transferred conversation leaves the sidebar live
        remove_other_services(cls.env)  # the tour counts the queue
        cls.env['ir.config_parameter'].sudo().set_param('whatsapp_attendance.stream_prefix', 'test-tour-teams:')
        cls.env['whatsapp.account'].create({'name': "Teams tour account", 'phone_number_id': ACCOUNT})
        cls.ana = new_test_user(cls.env, login='wa_teams_ana', name="Ana Teams",
                                groups='whatsapp_attendance.group_whatsapp_attendant')
        cls.bruno = new_test_user(cls.env, login='wa_teams_bruno', name="Bruno Teams",
                                  groups='whatsapp_attendance.group_whatsapp_attendant')
        Team = cls.env['whatsapp.team']
        cls.sales = Team.create({'name': "Tour Sales", 'color': 10, 'member_ids': [cls.ana.id]})
        cls.support = Team.create({'name': "Tour Support", 'color': 4, 'member_ids': [cls.bruno.id],
                                   'greeting': "Our support team will answer you shortly."})
        api = cls.env['whatsapp.api'].with_user(cls.env.ref('whatsapp_attendance.user_whatsapp_bridge'))
        Service = cls.env['whatsapp.service']

        def customer(seq, name, text):
            result = api.ingest_messages([{
                'v': 1, 'account': ACCOUNT, 'wamid': f'wamid.tour-teams-{seq}', 'timestamp': 1767225600 + seq,
                'from': {'wa_id': f'55119666620{seq:02d}', 'name': name}, 'type': 'text', 'text': text}])
            return Service.browse(result[0]['service_id'])

        customer(1, "Lia Sales", "Quero comprar")._whatsapp_set_team(cls.sales)
        customer(2, "Tom Support", "Meu pedido quebrou")._whatsapp_set_team(cls.support)
        customer(3, "Gil General", "Oi")
        cls.nina = customer(4, "Nina Transfer", "A tela não liga")
        cls.nina.with_user(cls.ana).action_take()

    def test_team_queues_in_discuss_and_transfer_to_a_team(self):
        self.start_tour('/odoo/discuss', 'whatsapp_attendance_teams_tour', login='wa_teams_ana')
        nina = self.nina
        self.assertEqual((nina.state, nina.team_id, nina.user_id), ('waiting', self.support, self.env['res.users']))
        self.assertNotIn(self.ana.partner_id, nina.channel_id.channel_member_ids.partner_id)
        self.assertTrue(nina.whatsapp_message_ids.filtered(
            lambda m: m.direction == 'outbound' and m.body == "Our support team will answer you shortly."))
        self.assertIn(nina.id, [s['id'] for s in self.env['whatsapp.service'].with_user(self.bruno).whatsapp_queue()])
