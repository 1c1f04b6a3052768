from odoo.tests import HttpCase, new_test_user, tagged


@tagged('post_install', '-at_install')
class TestAttendantTour(HttpCase):
    """An attendant, in a real browser: queue -> Take -> Discuss -> reply."""

    def test_attendant_takes_a_waiting_service_and_replies_from_discuss(self):
        # a stream prefix of its own: nothing this test queues can reach another test's or a demo's stream
        self.env['ir.config_parameter'].sudo().set_param('whatsapp_attendance.stream_prefix', 'test-tour:')
        self.env['whatsapp.account'].create({'name': "Tour account", 'phone_number_id': 'pnid-tour'})
        attendant = new_test_user(self.env, login='wa_tour_ana', name="Ana Tour",
                                  groups='whatsapp_attendance.group_whatsapp_attendant')
        api = self.env['whatsapp.api'].with_user(self.env.ref('whatsapp_attendance.user_whatsapp_bridge'))
        result = api.ingest_messages([{
            'v': 1, 'account': 'pnid-tour', 'wamid': 'wamid.tour-1', 'timestamp': 1767225600,
            'from': {'wa_id': '5511966660001', 'name': 'Tour Customer'}, 'type': 'text',
            'text': 'Where is my parcel?'}])[0]
        service = self.env['whatsapp.service'].browse(result['service_id'])
        self.assertEqual(service.state, 'waiting')

        self.start_tour('/odoo/action-whatsapp_attendance.whatsapp_service_action_queue',
                        'whatsapp_attendance_take_and_reply_tour', login='wa_tour_ana')

        self.assertEqual(service.user_id, attendant)
        self.assertEqual(service.state, 'in_progress')
        reply = service.whatsapp_message_ids.filtered(lambda m: m.direction == 'outbound')
        self.assertEqual(len(reply), 1, "the attendant's post became one outbound WhatsApp message")
        self.assertEqual(reply.state, 'queued')
        self.assertEqual(reply.attendant_id, attendant)
        self.assertIn("It ships today, Tour Customer!", reply.body)
        self.assertTrue(service.first_response_at)
