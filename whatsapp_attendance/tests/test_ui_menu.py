import json

from odoo.tests import HttpCase, new_test_user, tagged

from .common import enable_live_bus

ACCOUNT = 'pnid-tour-menu'


@tagged('post_install', '-at_install')
class TestMenuTour(HttpCase):
    """An administrator builds a two-level menu in the UI; a customer walks it over the bridge's
    JSON-RPC API until an attendant takes the service and answers."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        enable_live_bus(cls)
        params = cls.env['ir.config_parameter'].sudo()
        params.set_param('whatsapp_attendance.stream_prefix', 'test-tour-menu:')
        cls.account = cls.env['whatsapp.account'].create({'name': "Menu tour", 'phone_number_id': ACCOUNT})
        cls.ana = new_test_user(cls.env, login='wa_tour_ana', name="Ana Tour",
                                groups='whatsapp_attendance.group_whatsapp_attendant')
        new_test_user(cls.env, login='wa_menu_admin', name="Menu Admin",
                      groups='whatsapp_attendance.group_whatsapp_admin')
        cls.team = cls.env['whatsapp.team'].create({'name': "Vendas Tour"})
        cls.bridge = cls.env.ref('whatsapp_attendance.user_whatsapp_bridge')
        cls.key = cls.env['res.users.apikeys'].with_user(cls.bridge).sudo()._generate(None, 'menu tour', None)

    def ingest(self, **message):
        """The customer writes: the bridge's JSON-RPC call, as over the network."""
        self.number = getattr(self, 'number', 0) + 1
        item = {'v': 1, 'account': ACCOUNT, 'wamid': f"wamid.tour-menu-{self.number}", 'timestamp': 1767225600,
                'from': {'wa_id': '5511966663001', 'name': "Tour Customer"}, **message}
        response = self.url_open('/jsonrpc', data=json.dumps({
            'jsonrpc': '2.0', 'method': 'call', 'id': self.number, 'params': {
                'service': 'object', 'method': 'execute_kw',
                'args': [self.env.cr.dbname, self.bridge.id, self.key, 'whatsapp.api', 'ingest_messages',
                         [[item]], {}]}}), headers={'Content-Type': 'application/json'})
        body = response.json()
        self.assertNotIn('error', body, body.get('error'))
        return self.env['whatsapp.service'].browse(body['result'][0]['service_id'])

    def queue_ids(self):
        return [s['id'] for s in self.env['whatsapp.service'].with_user(self.ana).whatsapp_queue()]

    def test_admin_builds_a_two_level_menu_and_a_customer_walks_it_to_an_attendant(self):
        self.start_tour('/odoo/action-whatsapp_attendance.whatsapp_menu_action', 'whatsapp_attendance_menu_tour',
                        login='wa_menu_admin')
        Menu = self.env['whatsapp.menu']
        main, billing = Menu.search([('name', '=', 'Principal Tour')]), Menu.search([('name', '=', 'Financeiro Tour')])
        self.assertEqual(main._sorted_options().mapped('action'), ['team', 'submenu'])
        self.assertEqual(main._sorted_options()[0].team_id, self.team)
        self.assertEqual(main._sorted_options()[1].submenu_id, billing)
        self.assertEqual([(o.name, o.action, o.answer or False) for o in billing._sorted_options()],
                         [("Boleto", 'answer', "Segue o seu boleto."), ("Falar com alguém", 'human', False)])
        self.account.menu_id = main

        service = self.ingest(type='text', text="Where is my parcel?")
        self.assertEqual(service.menu_id, main)
        greeting = service.whatsapp_message_ids.filtered(lambda m: m.automatic_kind == 'menu')
        self.assertEqual([b['title'] for b in greeting.buttons], ["Comprar", "Boletos e pagamentos"])
        self.ingest(type='interactive', interactive={'id': greeting.buttons[1]['id'], 'title': "Boletos e pagamentos"})
        self.assertEqual(service.menu_id, billing)
        self.ingest(type='text', text="1")
        self.assertIn("Segue o seu boleto.", service.whatsapp_message_ids.mapped('body'))
        self.assertEqual(service.menu_id, billing, "asked again")
        self.assertNotIn(service.id, self.queue_ids(), "not in the queue yet")
        self.ingest(type='text', text="falar com alguem")
        self.assertFalse(service.menu_id)
        self.assertIn(service.id, self.queue_ids())
        self.assertFalse(service.first_response_at, "the menu's messages are no attendant's answer")

        self.start_tour('/odoo/action-whatsapp_attendance.whatsapp_service_action_queue',
                        'whatsapp_attendance_take_and_reply_tour', login='wa_tour_ana')
        self.assertEqual(service.user_id, self.ana)
        self.assertTrue(service.first_response_at)
        replies = service.whatsapp_message_ids.filtered(lambda m: m.direction == 'outbound')
        self.assertEqual(replies.filtered('attendant_id').mapped('body'), ["It ships today, Tour Customer!"])
        self.assertTrue(all(m.automatic_kind for m in replies - replies.filtered('attendant_id')),
                        "every other message was automatic")
        automatic_posts = replies.filtered('automatic_kind').mail_message_id
        self.assertEqual(automatic_posts.author_id, self.env.ref('base.partner_root'))
