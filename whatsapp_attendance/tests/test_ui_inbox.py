import threading
import time

from odoo import api
from odoo.tests import HttpCase, new_test_user, tagged

from .common import enable_live_bus, remove_other_services

ACCOUNT = 'pnid-tour-inbox'


@tagged('post_install', '-at_install')
class TestInboxTour(HttpCase):
    """The attendant's Discuss inbox, in a real browser, while the test plays the customer and the
    bridge in the background (what arrives must show up live, without a reload)."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        enable_live_bus(cls)  # what arrives must reach the page live
        remove_other_services(cls.env)  # the tour counts the queue
        cls.env['ir.config_parameter'].sudo().set_param('whatsapp_attendance.stream_prefix', 'test-tour-inbox:')
        cls.env['whatsapp.account'].create({'name': "Inbox tour account", 'phone_number_id': ACCOUNT})
        cls.ana = new_test_user(cls.env, login='wa_inbox_ana', name="Ana Inbox",
                                groups='whatsapp_attendance.group_whatsapp_attendant')
        cls.bruno = new_test_user(cls.env, login='wa_inbox_bruno', name="Bruno Inbox",
                                  groups='whatsapp_attendance.group_whatsapp_attendant')
        cls.bridge = cls.env.ref('whatsapp_attendance.user_whatsapp_bridge')
        cls.env['whatsapp.api'].with_user(cls.bridge).ingest_messages([cls._item('5511966661001', "Lia Waiting",
                                                                                  "Bom dia!", 1)])

    @staticmethod
    def _item(wa_id, name, text, seq):
        return {'v': 1, 'account': ACCOUNT, 'wamid': f'wamid.tour-inbox-{seq}', 'timestamp': 1767225600 + seq,
                'from': {'wa_id': wa_id, 'name': name}, 'type': 'text', 'text': text}

    def _customer_and_bridge(self, stop, log):
        """In the background: Nina writes, then WhatsApp delivers and she reads the attendant's reply."""
        try:
            self._play(stop, log)
        except Exception as error:  # noqa: BLE001 - reported by the test thread
            log.append(f"failed: {error!r}")
            raise

    def _play(self, stop, log):
        steps = ['online', 'write', 'deliver']
        while steps and not stop.is_set():
            with self.registry.cursor() as cr:
                env = api.Environment(cr, self.bridge.id, {})
                wa_api = env['whatsapp.api']
                if steps[0] == 'online':
                    # Ana's Discuss is open and connected to the bus (and showed the queue meanwhile)
                    if env['bus.presence'].sudo().search_count([('user_id', '=', self.ana.id),
                                                                ('status', '!=', 'offline')]):
                        time.sleep(1)
                        steps.pop(0)
                elif steps[0] == 'write':
                    wa_api.ingest_messages([self._item('5511966661002', "Nina Live", "Vocês entregam hoje?", 2)])
                    log.append('wrote')
                    steps.pop(0)
                else:
                    reply = env['whatsapp.message'].sudo().search([
                        ('direction', '=', 'outbound'), ('body', 'ilike', 'Entregamos sim'), ('state', '=', 'queued')])
                    if reply:
                        wa_api.report_send_results([{'v': 1, 'message_id': reply.id, 'state': 'sent',
                                                     'wamid': 'wamid.tour-inbox-out'}])
                        for status in ('delivered', 'read'):
                            wa_api.ingest_statuses([{'v': 1, 'account': ACCOUNT, 'wamid': 'wamid.tour-inbox-out',
                                                     'status': status, 'timestamp': 1767229200}])
                        log.append('read')
                        steps.pop(0)
            time.sleep(0.5)

    def test_attendant_inbox_live_queue_take_reply_ticks_call_transfer(self):
        stop, log = threading.Event(), []
        worker = threading.Thread(target=self._customer_and_bridge, args=(stop, log), daemon=True)
        worker.start()
        try:
            self.start_tour('/odoo/discuss', 'whatsapp_attendance_inbox_tour', login='wa_inbox_ana')
        finally:
            stop.set()
            worker.join(10)
        self.assertNotIn("failed", " ".join(log), f"the customer/bridge thread failed: {log}")
        self.assertEqual(log, ['wrote', 'read'])
        service = self.env['whatsapp.service'].search([('partner_id.name', '=', "Nina Live")])
        self.assertEqual(service.user_id, self.bruno, "transferred")
        reply = service.whatsapp_message_ids.filtered(lambda m: m.direction == 'outbound')
        self.assertEqual(reply.state, 'read')
        self.assertEqual(reply.attendant_id, self.ana)
        call = service.channel_id.message_ids.filtered(lambda m: 'called Nina Live' in (m.body or ''))
        self.assertEqual(len(call), 1, "the call is in the service history")
        self.assertFalse(self.env['whatsapp.message'].search([('mail_message_id', '=', call.id)]),
                         "the call note never goes to the customer")
