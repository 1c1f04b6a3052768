from datetime import timedelta

from freezegun import freeze_time
from psycopg2 import IntegrityError

from odoo import fields
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tests import new_test_user, tagged
from odoo.tools import mute_logger

from .common import WhatsappCase


@tagged('post_install', '-at_install')
class TestServices(WhatsappCase):

    def test_one_open_service_per_customer_then_a_new_one(self):
        first = self.receive(self.inbound(wa_id='5511922220001'), self.inbound(wa_id='5511922220001'))
        self.assertEqual(first[0]['service_id'], first[1]['service_id'])
        service = self.service_of(first[0])
        self.assertEqual(service.state, 'waiting')
        self.assertFalse(service.user_id)
        self.assertEqual(service.channel_id.whatsapp_service_id, service)
        self.assertEqual(service.channel_id.channel_type, 'whatsapp')
        self.assertEqual(service.channel_id.name, "Maria (+55 11 92222-0001)")
        self.assertFalse(service.channel_id.channel_member_ids, "nobody attends a waiting service yet")
        service.with_user(self.attendant).action_take()
        service.with_user(self.attendant).action_finish()
        self.assertEqual(service.state, 'done')
        self.assertEqual(service.end_reason, 'attendant')
        later = self.receive(self.inbound(wa_id='5511922220001', text="me again"))[0]
        self.assertNotEqual(later['service_id'], service.id, "a message after the finish opens a new service")
        self.assertEqual(self.service_of(later).state, 'waiting')

    def test_database_refuses_a_second_open_service(self):
        service = self.open_service('5511922220002')
        with self.assertRaises(IntegrityError), self.cr.savepoint(), mute_logger('odoo.sql_db'):
            self.env['whatsapp.service'].create({'partner_id': service.partner_id.id, 'account_id': self.account.id})
            self.env.flush_all()

    def test_take_transfer_finish(self):
        service = self.open_service('5511922220003')
        action = service.with_user(self.attendant).action_take()
        self.assertEqual(action['tag'], 'mail.action_discuss')
        self.assertEqual(service.user_id, self.attendant)
        self.assertEqual(service.state, 'in_progress')
        self.assertIn(self.attendant.partner_id, service.channel_id.channel_member_ids.partner_id)
        with self.assertRaisesRegex(UserError, "already taken by Ana"):
            service.with_user(self.attendant_b).action_take()

        wizard = self.env['whatsapp.service.transfer'].with_user(self.attendant).create({
            'service_id': service.id, 'user_id': self.attendant_b.id, 'note': "Billing question"})
        wizard.action_transfer()
        self.assertEqual(service.user_id, self.attendant_b)
        members = service.channel_id.channel_member_ids.partner_id
        self.assertIn(self.attendant_b.partner_id, members)
        self.assertNotIn(self.attendant.partner_id, members, "the previous attendant leaves the conversation")
        note = service.channel_id.message_ids.filtered(lambda m: "transferred this conversation" in (m.body or ''))
        self.assertIn("Billing question", note.body, "the conversation says who transferred it, and why")
        mails = self.env['mail.mail'].sudo().search([('recipient_ids', 'in', self.attendant_b.partner_id.ids)])
        self.assertFalse(mails, "no e-mail: the new attendant is told in Odoo (see test_hardening)")
        with self.assertRaises(AccessError, msg="after the transfer Ana no longer sees the service"):
            service.with_user(self.attendant).action_finish()
        service.with_user(self.attendant_b).action_finish()
        self.assertEqual((service.state, service.end_reason), ('done', 'attendant'))
        self.assertTrue(service.closed_at)

    def test_transfer_and_finish_rules(self):
        service = self.open_service('5511922220020', attendant=self.attendant)
        Transfer = self.env['whatsapp.service.transfer']
        accountant = new_test_user(self.env, login='wa_not_attendant', name="Carla Accounts", groups='base.group_user')
        with self.assertRaisesRegex(UserError, "Carla Accounts is not a WhatsApp attendant"):
            Transfer.with_user(self.attendant).create({
                'service_id': service.id, 'user_id': accountant.id}).action_transfer()
        with self.assertRaisesRegex(UserError, "already attended by Ana"):
            Transfer.with_user(self.attendant).create({
                'service_id': service.id, 'user_id': self.attendant.id}).action_transfer()
        waiting = self.open_service('5511922220021')
        with self.assertRaisesRegex(UserError, "Only the attendant of .* or an administrator can finish it"):
            waiting.with_user(self.attendant_b).action_finish()
        self.assertEqual(waiting.state, 'waiting')
        # an administrator may transfer and finish any service
        Transfer.with_user(self.wa_admin).create({
            'service_id': service.id, 'user_id': self.attendant_b.id}).action_transfer()
        self.assertEqual(service.user_id, self.attendant_b)
        waiting.with_user(self.wa_admin).action_finish()
        self.assertEqual((waiting.state, waiting.end_reason), ('done', 'attendant'))

    def test_settings_refuse_bad_values_by_name(self):
        Settings = self.env['res.config.settings']
        for values, message in (({'whatsapp_idle_timeout': -5}, "idle timeout cannot be negative"),
                                ({'whatsapp_repush_delay': 3}, "re-push delay must be at least 10 seconds"),
                                ({'whatsapp_redis_url': 'localhost:6379'}, "Redis URL must start with redis://")):
            with self.subTest(values=values), self.assertRaisesRegex(ValidationError, message):
                Settings.create(values)

    def test_only_the_assigned_attendant_or_an_admin_may_answer(self):
        service = self.open_service('5511922220004')
        with self.assertRaisesRegex(UserError, "take it before answering"):
            self.post_as(self.attendant, service)
        service.with_user(self.attendant).action_take()
        # Bruno joins the channel somehow (e.g. invited): he still cannot write to the customer
        service.channel_id.sudo().add_members(partner_ids=self.attendant_b.partner_id.ids)
        with self.assertRaisesRegex(UserError, "attended by Ana"):
            self.post_as(self.attendant_b, service)
        self.post_as(self.attendant, service, body="Hi, Ana here")
        self.post_as(self.wa_admin, service, body="Hi, the manager here")
        outbound = service.whatsapp_message_ids.filtered(lambda m: m.direction == 'outbound')
        self.assertEqual(sorted(outbound.mapped('body')), ["Hi, Ana here", "Hi, the manager here"])
        self.assertEqual(sorted(outbound.attendant_id.mapped('name')), ["Ana", "Wanda Admin"])
        self.assertTrue(service.first_response_at)
        service.with_user(self.attendant).action_finish()
        with self.assertRaisesRegex(UserError, "finished"):
            self.post_as(self.attendant, service)

    def test_an_attendant_holds_many_services(self):
        services = [self.open_service(f'55119222201{i:02d}', attendant=self.attendant) for i in range(5)]
        for service in services:
            self.post_as(self.attendant, service, body=f"hello {service.name}")
        self.assertEqual(self.env['whatsapp.service'].search_count([
            ('user_id', '=', self.attendant.id), ('state', '=', 'in_progress')]), 5)

    def test_idle_services_finish_after_the_timeout(self):
        with freeze_time('2026-03-02 10:00:00'):
            idle = self.open_service('5511922220005', attendant=self.attendant)
            busy = self.open_service('5511922220006', attendant=self.attendant)
            queued = self.open_service('5511922220007')
        with freeze_time('2026-03-02 10:20:00'):
            self.receive(self.inbound(wa_id='5511922220006', text="still there?"))
        with freeze_time('2026-03-02 10:29:59'):
            self.env['whatsapp.service']._cron_finish_idle()
            self.assertEqual(idle.state, 'in_progress', "not due before 30 minutes")
        with freeze_time('2026-03-02 10:30:30'):
            self.env['whatsapp.service']._cron_finish_idle()
            self.assertEqual((idle.state, idle.end_reason), ('done', 'timeout'))
            self.assertEqual(busy.state, 'in_progress', "a message 10 minutes ago keeps it open")
            self.assertEqual(queued.state, 'waiting', "a customer waiting in the queue is not idle")
        with freeze_time('2026-03-02 10:50:30'):
            self.env['whatsapp.service']._cron_finish_idle()
            self.assertEqual(busy.state, 'done')

    def test_a_service_taken_after_a_long_wait_is_not_timed_out_at_once(self):
        with freeze_time('2026-03-02 10:00:00'):
            service = self.open_service('5511922220010')
        with freeze_time('2026-03-02 10:45:00'):  # 45 minutes in the queue
            service.with_user(self.attendant).action_take()
        with freeze_time('2026-03-02 10:46:00'):
            self.env['whatsapp.service']._cron_finish_idle()
            self.assertEqual(service.state, 'in_progress', "the idle clock starts when the attendant takes it")
            self.assertFalse(self._rating_requests(service))
        with freeze_time('2026-03-02 11:15:30'):
            self.env['whatsapp.service']._cron_finish_idle()
            self.assertEqual((service.state, service.end_reason), ('done', 'timeout'))

    def test_idle_cron_runs_again_at_once_when_more_are_due(self):
        with freeze_time('2026-03-02 10:00:00'):
            services = [self.open_service(f'55119222201{n}', attendant=self.attendant) for n in range(3)]
        cron = self.env.ref('whatsapp_attendance.ir_cron_whatsapp_finish_idle')
        with freeze_time('2026-03-02 11:00:00'):
            before = self.env['ir.cron.trigger'].search_count([('cron_id', '=', cron.id)])
            self.env['whatsapp.service']._cron_finish_idle(limit=2)
            self.assertEqual(self.env['ir.cron.trigger'].search_count([('cron_id', '=', cron.id)]), before + 1)
            self.env['whatsapp.service']._cron_finish_idle(limit=2)
        self.assertEqual({s.state for s in services}, {'done'})

    def _rating_requests(self, service):
        return service.whatsapp_message_ids.filtered(lambda m: m.message_type == 'interactive')

    def test_idle_timeout_is_a_setting_and_the_cron_runs_every_minute(self):
        self.env['res.config.settings'].create({'whatsapp_idle_timeout': 5}).execute()
        self.assertEqual(self.env['whatsapp.service']._idle_timeout(), 5)
        cron = self.env.ref('whatsapp_attendance.ir_cron_whatsapp_finish_idle')
        self.assertEqual((cron.interval_number, cron.interval_type), (1, 'minutes'))
        with freeze_time(fields.Datetime.now()):
            service = self.open_service('5511922220008', attendant=self.attendant)
        with freeze_time(fields.Datetime.now() + timedelta(minutes=5, seconds=1)):
            self.env['whatsapp.service']._cron_finish_idle()
        self.assertEqual(service.state, 'done')

    def test_customer_finishes_with_a_keyword(self):
        service = self.open_service('5511922220009', attendant=self.attendant)
        self.receive(self.inbound(wa_id='5511922220009', text="#END"))
        self.assertEqual((service.state, service.end_reason), ('done', 'customer'))
