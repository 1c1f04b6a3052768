import threading
import time

from odoo import api
from odoo.tests import HttpCase, new_test_user, tagged

from .common import PNG_B64, enable_live_bus

ACCOUNT = 'pnid-tour-batch'


@tagged('post_install', '-at_install')
class TestBatchTour(HttpCase):
    """A batch of the bridge (one ``ingest_messages`` call with several messages of two customers)
    reaches the attendant's open Discuss live, as the same messages one by one did: in order,
    replies and reactions on the right messages, unread counters, notifications, files."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        enable_live_bus(cls)  # what arrives must reach the page live
        cls.env['ir.config_parameter'].sudo().set_param('whatsapp_attendance.stream_prefix', 'test-tour-batch:')
        cls.env['whatsapp.account'].create({'name': "Batch tour account", 'phone_number_id': ACCOUNT})
        cls.ana = new_test_user(cls.env, login='wa_batch_ana', name="Ana Batch",
                                groups='whatsapp_attendance.group_whatsapp_attendant')
        cls.bridge = cls.env.ref('whatsapp_attendance.user_whatsapp_bridge')
        api_ = cls.env['whatsapp.api'].with_user(cls.bridge)
        results = api_.ingest_messages([cls._item('5511977771001', "Carla Batch", 1, text="Oi, sou a Carla"),
                                        cls._item('5511977771002', "Davi Batch", 2, text="Oi, sou o Davi")])
        cls.carla, cls.davi = (cls.env['whatsapp.service'].browse(r['service_id']) for r in results)
        for service in (cls.carla, cls.davi):
            service.with_user(cls.ana).action_take()

    @staticmethod
    def _item(wa_id, name, seq, mtype='text', text=None, **extra):
        item = {'v': 1, 'account': ACCOUNT, 'wamid': f'wamid.tour-batch-{seq}', 'timestamp': 1767225600 + seq,
                'from': {'wa_id': wa_id, 'name': name}, 'type': mtype, **extra}
        if text is not None:
            item['text'] = text
        return item

    def _batch(self):
        carla, davi = ('5511977771001', "Carla Batch"), ('5511977771002', "Davi Batch")
        return [
            self._item(*carla, 10, text="Primeira do lote"),
            self._item(*carla, 11, text="Respondendo a mim mesma", context={'wamid': 'wamid.tour-batch-1'}),
            self._item(*davi, 12, mtype='image', media={'mimetype': 'image/png', 'data': PNG_B64,
                                                        'filename': 'comprovante.png'}),
            self._item(*carla, 13, mtype='reaction', reaction={'wamid': 'wamid.tour-batch-1', 'emoji': '👍'}),
            self._item(*carla, 14, text="Terceira do lote"),
            self._item(*davi, 15, text="Davi no lote"),
        ]

    def authenticate(self, user, password, browser=None):
        # the background "bridge" shares the test transaction through registry.cursor() (which holds
        # the test lock): not while login flushes that transaction, or both use one psycopg2 cursor at
        # once ("no results to fetch", seen once in CI)
        with self.registry.test_lock:
            return super().authenticate(user, password, browser=browser)

    def _bridge(self, stop, log):
        """In the background: once Ana's Discuss is connected, the bridge delivers one batch."""
        try:
            while not stop.is_set():
                with self.registry.cursor() as cr:
                    env = api.Environment(cr, self.bridge.id, {})
                    if env['bus.presence'].sudo().search_count([('user_id', '=', self.ana.id),
                                                                ('status', '!=', 'offline')]):
                        time.sleep(2)  # the page shows Carla's conversation
                        env['whatsapp.api'].ingest_messages(self._batch())
                        log.append('delivered')
                        return
                time.sleep(0.5)
        except Exception as error:  # noqa: BLE001 - reported by the test thread
            log.append(f"failed: {error!r}")
            raise

    def test_a_batch_of_two_customers_shows_live(self):
        stop, log = threading.Event(), []
        worker = threading.Thread(target=self._bridge, args=(stop, log), daemon=True)
        worker.start()
        try:
            self.start_tour(f'/odoo/discuss?active_id=discuss.channel_{self.carla.channel_id.id}',
                            'whatsapp_attendance_batch_tour', login='wa_batch_ana')
        finally:
            stop.set()
            worker.join(10)
        self.assertEqual(log, ['delivered'])
        member = self.davi.channel_id.channel_member_ids.filtered(lambda m: m.partner_id == self.ana.partner_id)
        self.assertEqual(member.message_unread_counter, 0, "opening Davi's conversation read it")
