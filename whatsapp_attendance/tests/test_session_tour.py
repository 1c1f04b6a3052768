import threading
import time

from odoo import api
from odoo.tests import HttpCase, new_test_user, tagged

from .common import enable_live_bus

ACCOUNT = 'web-session-tour'
QR_1 = "2@FirstQrOfTheTourAbCdEfGhIjKlMnOpQrStUv,Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MA==,YWJj,ZGVm"
QR_2 = "2@SecondQrOfTheTourZyXwVuTsRqPoNmLkJiHgFe,cXV4MTIzNDU2Nzg5MGZvb2Jhcg==,Z2hp,amts"


@tagged('post_install', '-at_install')
class TestSessionTour(HttpCase):
    """The account form in a real browser while the test plays the bridge: QR codes, then connected."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        enable_live_bus(cls)
        cls.env['ir.config_parameter'].sudo().set_param('whatsapp_attendance.stream_prefix', 'test-tour-session:')
        cls.account = cls.env['whatsapp.account'].create({
            'name': "Tour web number", 'provider': 'web', 'phone_number_id': ACCOUNT})
        cls.admin = new_test_user(cls.env, login='wa_session_admin', name="Sam Admin",
                                  groups='base.group_user,whatsapp_attendance.group_whatsapp_admin')
        cls.bridge = cls.env.ref('whatsapp_attendance.user_whatsapp_bridge')

    def _play_bridge(self, stop, log):
        try:
            steps = ['started', 'qr1', 'qr2', 'connected']
            while steps and not stop.is_set():
                with self.registry.cursor() as cr:
                    env = api.Environment(cr, self.bridge.id, {})
                    account = env['whatsapp.account'].sudo().browse(self.account.id)
                    report = env['whatsapp.api'].report_session_state
                    if steps[0] == 'started':
                        if (account.session_detail or '').startswith("Start requested"):
                            steps.pop(0)
                    elif steps[0] == 'qr1':
                        report({'v': 1, 'account': ACCOUNT, 'state': 'pairing', 'qr': QR_1})
                        log.append('qr1')
                        steps.pop(0)
                    elif steps[0] == 'qr2':
                        report({'v': 1, 'account': ACCOUNT, 'state': 'pairing', 'qr': QR_2})
                        log.append('qr2')
                        steps.pop(0)
                    else:
                        report({'v': 1, 'account': ACCOUNT, 'state': 'connected', 'phone': '5511940001111',
                                'connected_since': int(time.time()) - 3700})
                        log.append('connected')
                        steps.pop(0)
                time.sleep(2.5 if log else 0.5)
        except Exception as error:  # noqa: BLE001 - reported by the test thread
            log.append(f"failed: {error!r}")
            raise

    def test_the_qr_appears_on_the_open_form_and_the_state_turns_connected_without_reload(self):
        stop, log = threading.Event(), []
        worker = threading.Thread(target=self._play_bridge, args=(stop, log), daemon=True)
        worker.start()
        try:
            self.start_tour(f'/odoo/action-whatsapp_attendance.whatsapp_account_action/{self.account.id}',
                            'whatsapp_account_session_tour', login='wa_session_admin', timeout=120)
        finally:
            stop.set()
            worker.join(10)
        self.assertEqual(log, ['qr1', 'qr2', 'connected'])
        self.assertEqual(self.account.session_state, 'connected')
