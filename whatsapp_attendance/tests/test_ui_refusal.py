import redis

from odoo.tests import HttpCase, new_test_user, tagged

from .common import REDIS_URL

PREFIX = 'test-tour-refusal:'


@tagged('post_install', '-at_install')
class TestRefusalTour(HttpCase):
    """A post the server refuses in a service channel: the reason is shown, the typed text is kept."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # a stream prefix of its own: nothing this test queues can reach another test's or a demo's stream
        params = cls.env['ir.config_parameter'].sudo()
        params.set_param('whatsapp_attendance.redis_url', REDIS_URL)
        params.set_param('whatsapp_attendance.stream_prefix', PREFIX)
        cls.env['whatsapp.account'].create({'name': "Refusal tour account", 'phone_number_id': 'pnid-tour-refusal'})
        cls.ana = new_test_user(cls.env, login='wa_refusal_ana', name="Ana Refusal",
                                groups='whatsapp_attendance.group_whatsapp_attendant')
        cls.bruno = new_test_user(cls.env, login='wa_refusal_bruno', name="Bruno Refusal",
                                  groups='whatsapp_attendance.group_whatsapp_attendant')
        cls.api = cls.env['whatsapp.api'].with_user(cls.env.ref('whatsapp_attendance.user_whatsapp_bridge'))

    @classmethod
    def tearDownClass(cls):
        # the rating request of a finished service may have been queued for the bridge
        client = redis.Redis.from_url(REDIS_URL)
        keys = list(client.scan_iter(match=PREFIX + '*'))
        if keys:
            client.delete(*keys)
        super().tearDownClass()

    def _taken_service(self, wa_id, name, text):
        result = self.api.ingest_messages([{
            'v': 1, 'account': 'pnid-tour-refusal', 'wamid': f'wamid.tour-refusal-{wa_id}',
            'timestamp': 1767225600, 'from': {'wa_id': wa_id, 'name': name}, 'type': 'text', 'text': text}])[0]
        service = self.env['whatsapp.service'].browse(result['service_id'])
        service.with_user(self.ana).action_take()
        self.assertEqual(service.user_id, self.ana)
        return service

    def _assert_nothing_sent(self, service, outbound_before, reply):
        outbound = service.whatsapp_message_ids.filtered(lambda m: m.direction == 'outbound')
        self.assertEqual(outbound, outbound_before, "the refused post reached no customer")
        self.assertFalse(self.env['mail.message'].search([('body', 'ilike', reply)]),
                         "the refused post was not stored")

    def test_colleague_sees_why_they_cannot_answer_and_keeps_their_text(self):
        service = self._taken_service('5511966660101', "Refusal Customer", "Is my order ready?")
        # Bruno can read the conversation (e.g. invited to help), but Ana attends the customer
        service.channel_id.add_members(partner_ids=self.bruno.partner_id.ids, post_joined_message=False)
        outbound_before = service.whatsapp_message_ids.filtered(lambda m: m.direction == 'outbound')

        self.start_tour(f'/odoo/discuss?active_id=discuss.channel_{service.channel_id.id}',
                        'whatsapp_attendance_refusal_colleague_tour', login='wa_refusal_bruno')

        self.assertEqual(service.user_id, self.ana)
        self._assert_nothing_sent(service, outbound_before, "Bruno answers anyway")

    def test_attendant_sees_the_service_is_finished_and_keeps_their_text(self):
        service = self._taken_service('5511966660102', "Carla Refusal", "Thanks, bye!")
        service.with_user(self.ana).action_finish()
        self.assertEqual(service.state, 'done')
        # the rating request of the finish is outbound already: the refused post must add nothing
        outbound_before = service.whatsapp_message_ids.filtered(lambda m: m.direction == 'outbound')
        # the service was finished before Ana opens it: its bus notifications (the sidebar drops it)
        # are written now, as at that commit, not in the middle of the tour
        self.env.cr.precommit.run()

        self.start_tour(f'/odoo/discuss?active_id=discuss.channel_{service.channel_id.id}',
                        'whatsapp_attendance_refusal_finished_tour', login='wa_refusal_ana')

        self._assert_nothing_sent(service, outbound_before, "One more thing, Carla")

    def test_attendant_sees_the_number_was_ended_and_keeps_their_text(self):
        """Cloud API End: an answer on that number is refused with the reason, not queued for nothing."""
        service = self._taken_service('5511966660103', "Dora Refusal", "Still open on Monday?")
        account = service.account_id
        account.write({'session_state': 'connected'})
        account.action_session_logout()
        self.assertTrue(account.session_ended)
        outbound_before = service.whatsapp_message_ids.filtered(lambda m: m.direction == 'outbound')
        self.env.cr.precommit.run()

        self.start_tour(f'/odoo/discuss?active_id=discuss.channel_{service.channel_id.id}',
                        'whatsapp_attendance_refusal_ended_number_tour', login='wa_refusal_ana')

        self._assert_nothing_sent(service, outbound_before, "Yes, from 9 am")
        account.action_session_start()
