from odoo.exceptions import AccessError, UserError
from odoo.tests import HttpCase, new_test_user, tagged
from odoo.tests.common import JsonRpcException

from .common import WhatsappCase


@tagged('post_install', '-at_install')
class TestRoles(WhatsappCase):

    def test_attendant_sees_own_services_and_the_queue_only(self):
        mine = self.open_service('5511966660001', attendant=self.attendant)
        theirs = self.open_service('5511966660002', attendant=self.attendant_b)
        queued = self.open_service('5511966660003')
        Service = self.env['whatsapp.service'].with_user(self.attendant)
        visible = Service.search([('id', 'in', (mine | theirs | queued).ids)])
        self.assertEqual(visible, mine | queued)
        with self.assertRaises(AccessError):
            theirs.with_user(self.attendant).read(['partner_id'])
        with self.assertRaises(AccessError):
            theirs.whatsapp_message_ids.with_user(self.attendant).read(['body'])
        with self.assertRaises(AccessError):
            theirs.channel_id.with_user(self.attendant).read(['name'])
        admin_visible = self.env['whatsapp.service'].with_user(self.wa_admin).search(
            [('id', 'in', (mine | theirs | queued).ids)])
        self.assertEqual(admin_visible, mine | theirs | queued)

    def test_attendants_read_only_the_ratings_of_services_they_see_and_change_none(self):
        mine = self.open_service('5511966660011', attendant=self.attendant)
        theirs = self.open_service('5511966660012', attendant=self.attendant_b)
        for service in mine | theirs:
            service._finish('attendant')
            service.rating_apply(2, token=service.rating_ids.access_token, feedback=f"about {service.name}")
        Rating = self.env['rating.rating'].with_user(self.attendant)
        found = Rating.search([('res_model', '=', 'whatsapp.service'), ('res_id', 'in', (mine | theirs).ids)])
        self.assertEqual(found, mine.rating_ids, "another attendant's rating is not readable, even over JSON-RPC")
        with self.assertRaises(AccessError):
            theirs.rating_ids.with_user(self.attendant).read(['feedback'])
        with self.assertRaises(AccessError):
            mine.rating_ids.with_user(self.attendant).write({'rating': 5})
        self.assertEqual(mine.with_user(self.attendant).rating_last_value, 2, "their own service shows its rating")
        admin_found = self.env['rating.rating'].with_user(self.wa_admin).search(
            [('res_model', '=', 'whatsapp.service'), ('res_id', 'in', (mine | theirs).ids)])
        self.assertEqual(admin_found, (mine | theirs).rating_ids)

    def test_attendant_has_no_configuration(self):
        with self.assertRaises(AccessError):
            self.env['whatsapp.account'].with_user(self.attendant).create({'name': 'x', 'phone_number_id': 'x'})
        with self.assertRaises(AccessError):
            self.env['res.config.settings'].with_user(self.attendant).create({})
        config_menu = self.env.ref('whatsapp_attendance.menu_whatsapp_config')
        menus = self.env['ir.ui.menu'].with_user(self.attendant)._visible_menu_ids()
        self.assertNotIn(config_menu.id, menus)
        self.assertIn(config_menu.id, self.env['ir.ui.menu'].with_user(self.wa_admin)._visible_menu_ids())

    def test_admin_creates_attendants_and_administrators(self):
        Users = self.env['res.users'].with_user(self.wa_admin)
        new_attendant = Users.create({
            'name': "Carol", 'login': 'carol_wa',
            'groups_id': [(4, self.env.ref('whatsapp_attendance.group_whatsapp_attendant').id)]})
        new_admin = Users.create({
            'name': "Dan", 'login': 'dan_wa',
            'groups_id': [(4, self.env.ref('whatsapp_attendance.group_whatsapp_admin').id)]})
        self.assertTrue(new_attendant.has_group('whatsapp_attendance.group_whatsapp_attendant'))
        self.assertFalse(new_attendant.has_group('whatsapp_attendance.group_whatsapp_admin'))
        self.assertTrue(new_admin.has_group('whatsapp_attendance.group_whatsapp_attendant'))

    def test_admin_generates_the_bridge_api_key(self):
        wizard = self.env['whatsapp.bridge.key'].with_user(self.wa_admin).create({'name': 'prod bridge'})
        wizard.action_generate()
        self.assertEqual(len(wizard.key), 40)
        uid = self.env['res.users.apikeys']._check_credentials(scope='rpc', key=wizard.key)
        self.assertEqual(uid, self.bridge.id, "the key authenticates the bridge user")
        with self.assertRaises(AccessError):
            self.env['whatsapp.bridge.key'].with_user(self.attendant).create({'name': 'x'}).action_generate()

    def test_no_user_can_be_deleted(self):
        victim = new_test_user(self.env, login='wa_victim', groups='whatsapp_attendance.group_whatsapp_attendant')
        with self.assertRaisesRegex(UserError, "Archive"):
            victim.with_user(self.wa_admin).unlink()
        with self.assertRaisesRegex(UserError, "never deleted"):
            victim.sudo().unlink()
        self.assertTrue(victim.exists())
        victim.with_user(self.wa_admin).action_archive()
        self.assertFalse(victim.active)


@tagged('post_install', '-at_install')
class TestJsonRpcAccess(HttpCase):

    def _execute(self, login, password, model, method, *args):
        uid = self.make_jsonrpc_request('/jsonrpc', {
            'service': 'common', 'method': 'authenticate', 'args': [self.env.cr.dbname, login, password, {}]})
        return self.make_jsonrpc_request('/jsonrpc', {
            'service': 'object', 'method': 'execute_kw',
            'args': [self.env.cr.dbname, uid, password, model, method, list(args), {}]})

    def test_attendant_cannot_read_another_attendants_service_over_jsonrpc(self):
        ana = new_test_user(self.env, login='rpc_ana', password='rpc_ana_pw',
                            groups='whatsapp_attendance.group_whatsapp_attendant')
        bruno = new_test_user(self.env, login='rpc_bruno', password='rpc_bruno_pw',
                              groups='whatsapp_attendance.group_whatsapp_attendant')
        self.env['whatsapp.account'].create({'name': 'RPC', 'phone_number_id': 'pnid-rpc'})
        bridge = self.env.ref('whatsapp_attendance.user_whatsapp_bridge')
        key = self.env['res.users.apikeys'].with_user(bridge).sudo()._generate(None, 'tests', None)
        # the bridge ingests through JSON-RPC with its API key
        results = self._execute('whatsapp-bridge', key, 'whatsapp.api', 'ingest_messages', [{
            'v': 1, 'account': 'pnid-rpc', 'wamid': f'wamid.rpc{n}', 'timestamp': 1767225600,
            'from': {'wa_id': f'551197777000{n}', 'name': f'C{n}'}, 'type': 'text', 'text': 'hi'} for n in (1, 2)])
        services = self.env['whatsapp.service'].browse([r['service_id'] for r in results])
        services[0].with_user(ana).action_take()
        services[1].with_user(bruno).action_take()

        mine = self._execute('rpc_ana', 'rpc_ana_pw', 'whatsapp.service', 'read', services[0].ids, ['state'])
        self.assertEqual(mine[0]['state'], 'in_progress')
        with self.assertRaises(JsonRpcException) as refused, self.assertLogs('odoo.http', 'WARNING'):
            self._execute('rpc_ana', 'rpc_ana_pw', 'whatsapp.service', 'read', services[1].ids, ['partner_id'])
        self.assertIn('AccessError', str(refused.exception))
        found = self._execute('rpc_ana', 'rpc_ana_pw', 'whatsapp.service', 'search', [])
        self.assertNotIn(services[1].id, found)
        # an attendant cannot use the bridge API, the bridge user cannot read services directly
        with self.assertRaises(JsonRpcException), self.assertLogs('odoo.http', 'WARNING'):
            self._execute('rpc_ana', 'rpc_ana_pw', 'whatsapp.api', 'contract_info')
        with self.assertRaises(JsonRpcException), self.assertLogs('odoo.http', 'WARNING'):
            self._execute('whatsapp-bridge', key, 'whatsapp.service', 'read', services[0].ids, ['state'])
