from unittest.mock import patch

from odoo.tests import HttpCase, new_test_user, tagged

from odoo.addons.bus.websocket import WebsocketConnectionHandler

from .common import populate_every_kind


@tagged('post_install', '-at_install')
class TestClickEverywhere(HttpCase):
    """Odoo's clickbot opens every menu, view and filter of the WhatsApp app, as each role, on a
    database holding services of every state and messages of every kind. An error dialog or a
    console error anywhere fails the test."""

    allow_end_on_form = True

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # the websocket off, as Odoo's own runner has it (pytest-odoo leaves it on): the bus rows
        # this data left would reach the page mid-click (channel_fetched interrupted by the next
        # click is no user's error); what is pushed live is what the tours test
        cls.startClassPatcher(patch.object(WebsocketConnectionHandler, 'websocket_allowed', return_value=False))
        params = cls.env['ir.config_parameter'].sudo()
        params.set_param('whatsapp_attendance.stream_prefix', 'test-clickbot:')
        cls.env['whatsapp.account'].create({'name': "Clickbot", 'phone_number_id': 'pnid-clickbot'})
        cls.ana = new_test_user(cls.env, login='wa_click_ana', name="Ana Click", tz='America/Sao_Paulo',
                                groups='whatsapp_attendance.group_whatsapp_attendant')
        cls.bruno = new_test_user(cls.env, login='wa_click_bruno', name="Bruno Click",
                                  groups='whatsapp_attendance.group_whatsapp_attendant')
        cls.supervisor = new_test_user(cls.env, login='wa_click_supervisor', name="Supervisor Click",
                                       tz='America/Sao_Paulo',
                                       groups='whatsapp_attendance.group_whatsapp_supervisor')
        cls.boss = new_test_user(cls.env, login='wa_click_admin', name="Admin Click", tz='America/Sao_Paulo',
                                 groups='whatsapp_attendance.group_whatsapp_admin')
        cls.services = populate_every_kind(cls.env, 'pnid-clickbot', cls.ana, cls.bruno)
        for user in (cls.ana, cls.supervisor, cls.boss):
            if 'tour_enabled' in user._fields:
                user.tour_enabled = False

    def click_everywhere(self, login):
        self.browser_js(
            "/odoo",
            "odoo.loader.modules.get('@web/webclient/clickbot/clickbot_loader')"
            ".startClickEverywhere('whatsapp_attendance.menu_whatsapp_root');",
            "odoo.isReady === true", login=login, timeout=600, success_signal="clickbot test succeeded")

    def test_every_view_of_the_whatsapp_app_as_attendant(self):
        self.assertTrue(self.services['done'].rating_ids.filtered('consumed'), "a rated service is on the lists")
        menus = self.env['ir.ui.menu'].with_user(self.ana)._visible_menu_ids()
        self.assertNotIn(self.env.ref('whatsapp_attendance.menu_whatsapp_dashboard').id, menus)
        self.assertNotIn(self.env.ref('whatsapp_attendance.menu_whatsapp_reporting').id, menus)
        self.click_everywhere('wa_click_ana')

    def test_every_view_of_the_whatsapp_app_as_supervisor(self):
        # the dashboard and the reports are among the menus the clickbot opens
        menus = self.env['ir.ui.menu'].with_user(self.supervisor)._visible_menu_ids()
        self.assertIn(self.env.ref('whatsapp_attendance.menu_whatsapp_dashboard').id, menus)
        self.assertNotIn(self.env.ref('whatsapp_attendance.menu_whatsapp_config').id, menus)
        self.click_everywhere('wa_click_supervisor')

    def test_every_view_of_the_whatsapp_app_as_administrator(self):
        self.click_everywhere('wa_click_admin')
