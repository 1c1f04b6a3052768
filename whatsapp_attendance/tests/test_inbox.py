"""The attendant's WhatsApp inbox in Discuss: what the server gives Discuss and pushes to it."""

import importlib.util
import json
import os

from odoo.exceptions import UserError
from odoo.tests import tagged

from odoo.addons.bus.models.bus import channel_with_db, json_dump
from odoo.addons.mail.tools.discuss import Store

from .common import WhatsappCase


@tagged('post_install', '-at_install')
class TestInbox(WhatsappCase):

    def bus_messages(self, target=None):
        """What the bus carries (to ``target`` when given), as Discuss receives it."""
        self.env.cr.precommit.run()
        domain = [('channel', '=', json_dump(channel_with_db(self.env.cr.dbname, target)))] if target else []
        return [json.loads(n.message) for n in self.env['bus.bus'].sudo().search(domain, order='id')]

    def test_a_conversation_is_a_whatsapp_channel_with_its_service(self):
        service = self.open_service(wa_id='5511955550001', attendant=self.attendant)
        channel = service.channel_id
        self.assertEqual(channel.channel_type, 'whatsapp')
        store = Store(channel.with_user(self.attendant))
        data = store.get_result()['discuss.channel'][0]
        self.assertEqual(data['whatsapp_service']['name'], service.name)
        self.assertEqual(data['whatsapp_service']['customer_number'], "+55 11 95555-0001")
        self.assertEqual(data['whatsapp_service']['attendant_partner_id'], self.attendant.partner_id.id)
        self.assertEqual(data['whatsapp_service']['call_url'], "tel:+5511955550001")
        self.assertEqual(data['whatsapp_service']['whatsapp_url'], "https://wa.me/5511955550001")

    def test_the_queue_oldest_first_and_a_new_customer_is_announced_to_attendants(self):
        self.bus_messages()
        first = self.open_service(wa_id='5511955550002')
        second = self.open_service(wa_id='5511955550003')
        queue = self.env['whatsapp.service'].with_user(self.attendant).whatsapp_queue()
        ids = [s['id'] for s in queue]
        self.assertLess(ids.index(first.id), ids.index(second.id), "oldest first")
        self.assertEqual(queue[ids.index(first.id)]['last_message'], 'hello')
        group = self.env.ref('whatsapp_attendance.group_whatsapp_attendant')
        announced = [n['payload'] for n in self.bus_messages(group) if n['type'] == 'whatsapp.queue/changed']
        new = [s['id'] for n in announced for s in n.get('new', [])]
        self.assertIn(first.id, new)
        self.assertIn(second.id, new)
        outsider = self.env['res.users'].create({'name': "Sales", 'login': 'wa_sales_inbox'})
        self.assertEqual(self.env['whatsapp.service'].with_user(outsider).whatsapp_queue(), [])

    def test_taking_announces_the_change_so_the_queue_refreshes_everywhere(self):
        service = self.open_service(wa_id='5511955550004')
        self.bus_messages()
        service.with_user(self.attendant).action_take()
        group = self.env.ref('whatsapp_attendance.group_whatsapp_attendant')
        changed = [n['payload'] for n in self.bus_messages(group) if n['type'] == 'whatsapp.queue/changed']
        self.assertTrue(any(service.id in n['changed'] for n in changed))
        pushed = [n for n in self.bus_messages(service.channel_id) if n['type'] == 'mail.record/insert']
        self.assertTrue(any("'state': 'in_progress'" in str(n['payload']) or
                            '"state": "in_progress"' in json.dumps(n['payload']) for n in pushed),
                        "the conversation's header learns the service is in progress")

    def test_a_finished_service_leaves_the_sidebar_even_after_a_late_rating(self):
        service = self.open_service(wa_id='5511955550005', attendant=self.attendant)
        member = service.channel_id.channel_member_ids
        self.assertTrue(member.is_pinned)
        service.with_user(self.attendant).action_finish()
        self.assertFalse(member.is_pinned)
        request = service.whatsapp_message_ids.filtered(lambda m: m.message_type == 'interactive')
        self.receive(self.inbound(wa_id='5511955550005', mtype='interactive',
                                  interactive={'id': request.buttons[0]['id'], 'title': 'ok'}))
        member.invalidate_recordset()
        self.assertFalse(member.is_pinned, "the rating reply and the thank-you do not bring it back")

    def test_ticks_travel_with_the_message_and_follow_the_delivery_state_live(self):
        service = self.open_service(wa_id='5511955550006', attendant=self.attendant)
        posted = self.post_as(self.attendant, service, body="Já verifico")
        data = Store(posted.with_user(self.attendant)).get_result()['mail.message'][0]
        self.assertEqual(data['whatsappStatus']['state'], 'queued')
        reply = service.whatsapp_message_ids.filtered(lambda m: m.direction == 'outbound')
        self.bus_messages()
        self.api.report_send_results([{'v': 1, 'message_id': reply.id, 'state': 'sent', 'wamid': 'wamid.tick-1'}])
        self.api.ingest_statuses([{'v': 1, 'account': self.account.phone_number_id, 'wamid': 'wamid.tick-1',
                                   'status': 'read', 'timestamp': 1767229200}])
        states = [m['whatsappStatus']['state'] for n in self.bus_messages(service.channel_id)
                  if n['type'] == 'mail.record/insert'
                  for m in n['payload'].get('mail.message', []) if 'whatsappStatus' in m]
        self.assertEqual(states, ['sent', 'read'])

    def test_a_failed_message_can_be_retried_by_its_attendant_only(self):
        service = self.open_service(wa_id='5511955550007', attendant=self.attendant)
        self.post_as(self.attendant, service, body="Segue o boleto")
        reply = service.whatsapp_message_ids.filtered(lambda m: m.direction == 'outbound')
        reply._apply_status('failed', error={'code': 131000, 'message': 'Something went wrong'})
        status = reply._discuss_status()
        self.assertEqual((status['state'], status['retryable']), ('failed', True))
        with self.assertRaisesRegex(UserError, "attended by Ana"):
            reply.with_user(self.attendant_b).action_retry()
        self.env.cr.postcommit.clear()
        reply.with_user(self.attendant).action_retry()
        self.assertEqual(reply.state, 'queued')
        self.assertFalse(reply.error_message)
        reply._apply_status('failed', error={'code': 131047, 'message': 'Re-engagement message'})
        self.assertFalse(reply._discuss_status()['retryable'], "outside the 24-hour window a retry cannot help")

    def test_a_call_is_logged_and_only_the_attendant_calls(self):
        service = self.open_service(wa_id='5511955550008', attendant=self.attendant)
        service.with_user(self.attendant).action_log_call('whatsapp')
        note = service.channel_id.message_ids.filtered(lambda m: 'called' in (m.body or ''))
        self.assertIn("on WhatsApp", note.body)
        self.assertFalse(self.env['whatsapp.message'].search([('mail_message_id', '=', note.id)]),
                         "a call note never goes to the customer")
        with self.assertRaisesRegex(UserError, "attended by Ana"):
            service.with_user(self.attendant_b).action_log_call()

    def test_a_read_only_share_reads_live_adds_notes_and_cannot_answer(self):
        service = self.open_service(wa_id='5511955550009', attendant=self.attendant)
        with self.assertRaisesRegex(UserError, "Only a supervisor or an administrator"):
            service.with_user(self.attendant)._share_readonly(self.attendant_b)
        service.with_user(self.wa_admin)._share_readonly(self.attendant_b)
        self.assertIn(self.attendant_b.partner_id, service.channel_id.channel_member_ids.partner_id)
        as_bruno = service.with_user(self.attendant_b)
        self.assertEqual(as_bruno.search([('id', '=', service.id)]), service, "Bruno may read it now")
        with self.assertRaisesRegex(UserError, "shared with you read-only"):
            self.post_as(self.attendant_b, service, body="Oi!")
        before = len(service.whatsapp_message_ids)
        as_bruno.action_post_note("Cliente VIP, atenção")
        note = service.channel_id.message_ids.filtered(lambda m: 'Cliente VIP' in (m.body or ''))
        self.assertEqual(note.author_id, self.attendant_b.partner_id)
        self.assertEqual(len(service.whatsapp_message_ids), before, "a note is never sent")
        outsider = self.env['whatsapp.service'].with_user(self.attendant_b)
        with self.assertRaisesRegex(UserError, "Only the people in the conversation"):
            outsider.browse(self.open_service(wa_id='5511955550010').id).action_post_note("x")

    def test_the_customer_panel_history_tags_notes_and_favourites(self):
        old = self.open_service(wa_id='5511955550011', attendant=self.attendant_b)
        old.with_user(self.attendant_b).action_finish()
        service = self.open_service(wa_id='5511955550011', attendant=self.attendant)
        panel = service.with_user(self.attendant).whatsapp_customer_panel()
        self.assertEqual(panel['customer']['number'], "+55 11 95555-0011")
        self.assertEqual([s['id'] for s in panel['services']], [old.id])
        self.assertEqual(panel['services'][0]['attendant'], "Bruno")
        self.assertFalse(panel['services'][0]['can_open'], "Ana may not open Bruno's service")
        panel = service.with_user(self.attendant).whatsapp_create_customer_tag("VIP")
        self.assertEqual([t['name'] for t in panel['customer']['tags']], ["VIP"])
        panel = service.with_user(self.attendant).whatsapp_set_customer_note("Prefere ligação")
        self.assertEqual(panel['customer']['note'], "Prefere ligação")
        with self.assertRaisesRegex(UserError, "attended by Ana"):
            service.with_user(self.attendant_b).whatsapp_set_customer_note("x")
        self.assertTrue(service.with_user(self.attendant).whatsapp_toggle_favorite())
        store = Store()
        self.env['res.users'].with_user(self.attendant)._init_store_data(store)
        self.assertEqual(store.get_result()['Store']['whatsapp_favorite_partner_ids'], service.partner_id.ids)
        self.assertFalse(service.with_user(self.attendant).whatsapp_toggle_favorite())

    def test_the_transfer_picker_shows_presence_and_load(self):
        self.open_service(wa_id='5511955550012', attendant=self.attendant_b)
        name = self.attendant_b.with_context(whatsapp_transfer_picker=True).display_name
        self.assertEqual(name, "Bruno (offline, 1 open)")
        self.assertEqual(self.attendant_b.display_name, "Bruno")

    def test_migration_makes_former_group_chats_whatsapp_conversations(self):
        service = self.open_service(wa_id='5511955550013', attendant=self.attendant)
        service.with_user(self.attendant).action_finish()
        channel = service.channel_id
        self.env.cr.execute("UPDATE discuss_channel SET channel_type = 'group' WHERE id = %s", [channel.id])
        self.env.cr.execute("UPDATE discuss_channel_member SET unpin_dt = NULL WHERE channel_id = %s", [channel.id])
        path = os.path.join(os.path.dirname(os.path.dirname(__file__)), 'migrations', '18.0.1.1.0', 'post-migrate.py')
        spec = importlib.util.spec_from_file_location('whatsapp_attendance_migrate_18_0_1_1_0', path)
        migration = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(migration)
        migration.migrate(self.env.cr, '18.0.1.0.0')
        channel.invalidate_recordset()
        channel.channel_member_ids.invalidate_recordset()
        self.assertEqual(channel.channel_type, 'whatsapp')
        self.assertFalse(channel.channel_member_ids.is_pinned, "a finished service is not in the sidebar")

    def test_a_file_over_whatsapps_limit_is_refused_before_sending(self):
        service = self.open_service(wa_id='5511955550014', attendant=self.attendant)
        big = self.env['ir.attachment'].create({
            'name': 'photo.jpg', 'mimetype': 'image/jpeg', 'raw': b'\xff' * (6 * 1024 * 1024),
            'res_model': 'discuss.channel', 'res_id': service.channel_id.id})
        before = len(service.whatsapp_message_ids)
        with self.assertRaisesRegex(UserError, r"photo.jpg is too large for WhatsApp \(6.0 MB\).*image.*5 MB"):
            self.post_as(self.attendant, service, body="Veja", attachment_ids=big.ids)
        self.assertEqual(len(service.whatsapp_message_ids), before)
