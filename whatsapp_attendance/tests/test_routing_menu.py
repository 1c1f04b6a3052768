import base64
from datetime import timedelta

from freezegun import freeze_time

from odoo import Command, fields
from odoo.exceptions import ValidationError
from odoo.tests import tagged

from odoo.addons.whatsapp_attendance import contract

from .common import WhatsappCase

# business hours: Monday to Friday, 8-12 and 13-17 in São Paulo (UTC-3); Tuesday 1 December 2026
TUESDAY_10H = '2026-12-01 13:00:00'  # UTC
TUESDAY_22H = '2026-12-02 01:00:00'
CHRISTMAS_10H = '2026-12-25 13:00:00'  # a Friday, a public holiday


@tagged('post_install', '-at_install')
class TestRoutingMenu(WhatsappCase):
    """The menu before the human, business hours and the graceful end, as the customer and the
    attendants notice them."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.params = cls.env['ir.config_parameter'].sudo()
        cls.sales = cls.env['whatsapp.team'].create({'name': f"Sales {cls.stamp}",
                                                     'member_ids': [Command.link(cls.attendant.id)]})
        Menu = cls.env['whatsapp.menu'].with_user(cls.wa_admin)
        cls.billing = Menu.create({'name': "Billing", 'body': "What about your bill?", 'option_ids': [
            Command.create({'name': "Copy of my bill", 'action': 'answer', 'answer': "Here it is.",
                            'answer_file': base64.b64encode(b'%PDF-1.4 bill'), 'answer_filename': 'bill.pdf'}),
            Command.create({'name': "Someone else", 'action': 'human'}),
        ]})
        cls.menu = Menu.create({'name': "Main", 'body': "Hello! How can we help?", 'option_ids': [
            Command.create({'name': "Buy", 'action': 'team', 'team_id': cls.sales.id, 'sequence': 1}),
            Command.create({'name': "Billing", 'action': 'submenu', 'submenu_id': cls.billing.id, 'sequence': 2}),
            Command.create({'name': "Opening hours", 'action': 'answer', 'answer': "8am to 5pm.", 'sequence': 3}),
        ]})
        cls.account.menu_id = cls.menu
        cls.calendar = cls.env['resource.calendar'].create({'name': "Support hours", 'tz': 'America/Sao_Paulo'})
        cls.env['resource.calendar.leaves'].create({
            'name': "Christmas", 'calendar_id': cls.calendar.id,
            'date_from': '2026-12-25 03:00:00', 'date_to': '2026-12-26 02:59:59'})

    def automatic(self, service, kind=None):
        messages = service.whatsapp_message_ids.filtered(lambda m: m.automatic_kind).sorted('id')
        return messages.filtered(lambda m: m.automatic_kind == kind) if kind else messages

    def say(self, service, text, **extra):
        wa_id = service.partner_id.whatsapp_phone.lstrip('+')
        if extra:
            return self.receive(self.inbound(wa_id=wa_id, **extra))
        return self.receive(self.inbound(wa_id=wa_id, text=text))

    def queue_ids(self, user=None):
        return [s['id'] for s in self.env['whatsapp.service'].with_user(user or self.attendant).whatsapp_queue()]

    # ------------------------------------------------------------------
    # The menu
    # ------------------------------------------------------------------

    def test_menu_option_routes_the_customer_to_the_team_queue(self):
        service = self.open_service('5511955550001')
        self.assertEqual(service.menu_id, self.menu)
        menu_message = self.automatic(service, 'menu')
        self.assertEqual(len(menu_message), 1, "the customer is greeted with the menu")
        self.assertEqual(menu_message.message_type, 'interactive', "3 options: reply buttons on the Cloud API")
        self.assertEqual([b['title'] for b in menu_message.buttons], ["Buy", "Billing", "Opening hours"])
        self.assertIn("Hello! How can we help?", menu_message.body)
        # posted by the system, with a marker, and never an attendant's answer
        self.assertEqual(menu_message.mail_message_id.author_id, self.env.ref('base.partner_root'))
        self.assertIn("Automatic message", menu_message.mail_message_id.body)
        self.assertNotIn("Automatic message", menu_message.body, "the customer does not read the marker")
        self.assertFalse(menu_message.attendant_id)
        self.assertFalse(service.first_response_at)
        self.assertNotIn(service.id, self.queue_ids(), "answering the menu: not in the attendants' queue yet")
        with_menu = self.env['whatsapp.service'].with_user(self.attendant).search([('menu_id', '!=', False)])
        self.assertIn(service, with_menu, "attendants still find it (the With the menu filter)")

        self.say(service, '', mtype='interactive', interactive={'id': menu_message.buttons[0]['id'], 'title': "Buy"})
        self.assertFalse(service.menu_id)
        self.assertEqual(service.team_id, self.sales)
        self.assertEqual(service.state, 'waiting')
        self.assertIn(service.id, self.queue_ids(), "now in the queue")

    def test_answers_by_number_and_by_name_ignore_case_and_accents(self):
        service = self.open_service('5511955550002')
        self.say(service, "2.")
        self.assertEqual(service.menu_id, self.billing, "a number opens the sub-menu")
        self.assertEqual(len(self.automatic(service, 'menu')), 2)
        self.say(service, "  SOMEONE   élse! ")
        self.assertFalse(service.menu_id, "the option's name, whatever the case, accents and spacing")
        self.assertFalse(service.team_id, "a human option: the general queue")
        self.assertIn(service.id, self.queue_ids())

    def test_answer_option_sends_its_text_and_file_then_asks_again(self):
        service = self.open_service('5511955550003')
        self.say(service, "Billing")
        self.env.cr.postcommit.run()
        before = len(self.stream_entries())
        self.say(service, "1")
        document = self.automatic(service).filtered(lambda m: m.message_type == 'document')
        self.assertEqual(document.attachment_id.name, 'bill.pdf')
        self.assertEqual(document.caption, "Here it is.", "the answer is the file's caption")
        self.assertEqual(service.menu_id, self.billing, "the menu is asked again")
        self.assertEqual(self.automatic(service, 'menu')[-1].buttons[0]['title'], "Copy of my bill")
        self.env.cr.postcommit.run()
        jobs = self.stream_entries()[before:]
        self.assertEqual([j['type'] for j in jobs], ['document', 'interactive'])

    def test_many_options_go_as_a_list_message_and_a_list_reply_is_understood(self):
        self.menu.write({'option_ids': [Command.create({'name': f"Option {n}", 'action': 'answer', 'answer': "Ok."})
                                        for n in range(4, 8)]})
        service = self.open_service('5511955550004')
        menu_message = self.automatic(service, 'menu')
        self.assertEqual(menu_message.message_type, 'interactive')
        self.assertFalse(menu_message.buttons)
        rows = menu_message.menu_list['rows']
        self.assertEqual([r['title'] for r in rows][:3], ["Buy", "Billing", "Opening hours"])
        self.assertEqual(rows[-1]['id'], 'menu:human', "a row to talk to a person")
        self.env.cr.postcommit.run()
        job = self.stream_entries()[-1]
        self.assertEqual(job['list'], menu_message.menu_list)
        contract.validate_outbound_job(job)
        self.say(service, '', mtype='interactive', interactive={'id': rows[1]['id'], 'title': rows[1]['title']})
        self.assertEqual(service.menu_id, self.billing)

    def test_a_list_with_its_own_talk_to_a_person_option_gets_no_second_one(self):
        options = [Command.create({'name': f"Option {n}", 'action': 'answer', 'answer': "Ok."}) for n in range(4, 7)]
        self.menu.write({'option_ids': options + [Command.create({'name': "A person", 'action': 'human'})]})
        rows = self.automatic(self.open_service('5511955550014'), 'menu').menu_list['rows']
        self.assertEqual([r['title'] for r in rows][-1], "A person")
        self.assertNotIn('menu:human', [r['id'] for r in rows],
                         "the demo's list showed two 'talk to an attendant' rows")

    def test_whatsapp_web_and_the_setting_get_numbered_text(self):
        self.params.set_param('whatsapp_attendance.menu_numbered_text', 'True')
        service = self.open_service('5511955550005')
        menu_message = self.automatic(service, 'menu')
        self.assertEqual(menu_message.message_type, 'text')
        self.assertIn("1. Buy\n2. Billing\n3. Opening hours\n0. Talk to an attendant", menu_message.body)
        self.say(service, "3")
        self.assertIn("8am to 5pm.", self.automatic(service).mapped('body'))

    def test_unknown_answers_are_bounded_then_the_general_queue(self):
        self.params.set_param('whatsapp_attendance.menu_max_retries', 3)
        service = self.open_service('5511955550006')
        self.say(service, "what?")
        self.say(service, "9")
        self.assertEqual(service.menu_id, self.menu)
        self.assertEqual(service.menu_retries, 2)
        self.assertIn("Sorry, I did not understand", self.automatic(service, 'menu')[-1].body)
        self.say(service, "blah")
        self.assertFalse(service.menu_id, "the third unknown answer ends the menu")
        self.assertFalse(service.team_id)
        self.assertIn("could not understand", self.automatic(service)[-1].body)
        self.assertIn(service.id, self.queue_ids())
        count = len(self.automatic(service))
        self.say(service, "hello?")
        self.assertEqual(len(self.automatic(service)), count, "the menu never speaks again")

    def test_human_words_always_reach_a_person(self):
        for number, word in (('5511955550007', "Atendente"), ('5511955550008', "0"), ('5511955550009', "HUMAN")):
            service = self.open_service(number)
            self.say(service, "2")  # deep in the sub-menu
            self.say(service, word)
            self.assertFalse(service.menu_id, word)
            self.assertIn(service.id, self.queue_ids(), word)
        # the first message already asks for a person: no menu at all
        service = self.service_of(self.receive(self.inbound(wa_id='5511955550010', text="atendente, por favor"))[0])
        self.assertEqual(service.menu_id, self.menu, "not the escape word itself: the menu runs")
        service = self.service_of(self.receive(self.inbound(wa_id='5511955550011', text="humano"))[0])
        self.assertFalse(service.menu_id)
        self.assertFalse(self.automatic(service, 'menu'))

    def test_the_menu_is_silent_once_an_attendant_takes_the_service(self):
        service = self.open_service('5511955550012')
        service.with_user(self.attendant).action_take()
        self.assertFalse(service.menu_id)
        count = len(self.automatic(service))
        self.say(service, "1")
        self.say(service, "nonsense")
        self.assertEqual(len(self.automatic(service)), count)
        self.assertEqual(service.user_id, self.attendant)
        self.assertFalse(service.team_id, "\"1\" was for the attendant, not the menu")
        self.post_as(self.attendant, service, "Hello, how can I help?")
        self.assertTrue(service.first_response_at, "the attendant's own answer is the first response")

    def test_reactions_are_no_answer_and_the_human_row_is_not_doubled(self):
        service = self.open_service('5511955550022')
        menu_message = self.automatic(service, 'menu')
        self.say(service, '', mtype='reaction', reaction={'wamid': 'wamid.unknown', 'emoji': '👍'})
        self.assertEqual(service.menu_retries, 0, "a reaction is not an unknown answer")
        self.assertEqual(len(self.automatic(service, 'menu')), 1)
        self.assertTrue(menu_message)
        self.menu.write({'option_ids': [Command.create({'name': "Talk to an attendant", 'action': 'human'}),
                                        Command.create({'name': "Other", 'action': 'human'})]})
        list_message = self.open_service('5511955550023').whatsapp_message_ids.filtered('menu_list')
        titles = [row['title'] for row in list_message.menu_list['rows']]
        self.assertEqual(titles.count("Talk to an attendant"), 1, "WhatsApp refuses two rows of one title")

    def test_menu_rules(self):
        Option = self.env['whatsapp.menu.option'].with_user(self.wa_admin)
        with self.assertRaises(ValidationError), self.env.cr.savepoint():
            Option.create({'menu_id': self.menu.id, 'name': "Sales", 'action': 'team'})
        with self.assertRaises(ValidationError), self.env.cr.savepoint():
            Option.create({'menu_id': self.menu.id, 'name': "BÚY", 'action': 'human'})
        with self.assertRaises(ValidationError), self.env.cr.savepoint():
            Option.create({'menu_id': self.menu.id, 'name': "12", 'action': 'human'})
        with self.assertRaises(ValidationError), self.env.cr.savepoint():
            self.menu.write({'option_ids': [Command.create({'name': f"More {n}", 'action': 'human'})
                                            for n in range(8)]})
        with self.assertRaises(ValidationError), self.env.cr.savepoint():
            Option.create({'menu_id': self.menu.id, 'name': "Loop", 'action': 'submenu', 'submenu_id': self.menu.id})

    # ------------------------------------------------------------------
    # Business hours
    # ------------------------------------------------------------------

    def test_out_of_hours_on_a_working_evening_and_on_a_public_holiday(self):
        self.account.resource_calendar_id = self.calendar
        with freeze_time(TUESDAY_22H):
            evening = self.open_service('5511955550013')
            told = self.automatic(evening, 'out_of_hours')
            self.assertEqual(len(told), 1)
            self.assertIn("We are closed right now", told.body)
            self.assertIn("Wednesday, 2 Dec, 08:00", told.body, "the next opening")
            self.assertEqual(evening.menu_id, self.menu, "the menu still runs outside hours")
            self.assertLess(told.id, self.automatic(evening, 'menu').id)
            self.say(evening, "1")
            self.assertEqual(len(self.automatic(evening, 'out_of_hours')), 1, "told once")
            self.assertEqual(evening.state, 'waiting', "the service queues for the next opening")
        with freeze_time(CHRISTMAS_10H):
            holiday = self.open_service('5511955550014')
            self.assertEqual(len(self.automatic(holiday, 'out_of_hours')), 1, "a public holiday is closed")
        with freeze_time(TUESDAY_10H):
            working = self.open_service('5511955550015')
            self.assertFalse(self.automatic(working, 'out_of_hours'))

    def test_out_of_hours_text_of_the_account_and_no_menu_setting(self):
        self.params.set_param('whatsapp_attendance.resource_calendar_id', self.calendar.id)
        self.params.set_param('whatsapp_attendance.menu_skip_outside_hours', 'True')
        self.account.out_of_hours_message = "Closed! Back {opening}."
        with freeze_time(TUESDAY_22H):
            service = self.open_service('5511955550016')
            self.assertRegex(self.automatic(service, 'out_of_hours').body, r"^Closed! Back Wednesday, 2 Dec, 08:00\.$")
            self.assertFalse(service.menu_id, "Settings: no menu outside hours")
            self.assertIn(service.id, self.queue_ids())

    # ------------------------------------------------------------------
    # A graceful end
    # ------------------------------------------------------------------

    def _idle_service(self, number, minutes, window_hours=0):
        self.account.menu_id = False
        service = self.open_service(number, attendant=self.attendant)
        service.sudo().last_interaction_at = fields.Datetime.now() - timedelta(minutes=minutes)
        if window_hours:
            service.sudo().last_inbound_at = fields.Datetime.now() - timedelta(hours=window_hours)
        return service

    def test_idle_warning_then_farewell(self):
        self.params.set_param('whatsapp_attendance.idle_timeout', 30)
        self.params.set_param('whatsapp_attendance.idle_warning', 5)
        service = self._idle_service('5511955550017', 26)
        quiet = self._idle_service('5511955550018', 10)
        idle_since = service.last_interaction_at
        Service = self.env['whatsapp.service']
        Service._cron_finish_idle()
        warning = self.automatic(service, 'idle_warning')
        self.assertEqual(len(warning), 1)
        self.assertIn("Are you still there?", warning.body)
        self.assertEqual(service.last_interaction_at, idle_since, "the question does not restart the clock")
        self.assertFalse(self.automatic(quiet))
        Service._cron_finish_idle()
        self.assertEqual(len(self.automatic(service, 'idle_warning')), 1, "asked once per silence")
        service.sudo().last_interaction_at = fields.Datetime.now() - timedelta(minutes=31)
        Service._cron_finish_idle()
        self.assertEqual(service.state, 'done')
        farewell = self.automatic(service, 'farewell')
        self.assertEqual(len(farewell), 1)
        rating_request = service.whatsapp_message_ids.filtered(lambda m: m.buttons and not m.automatic_kind)
        self.assertLess(farewell.id, rating_request.id, "goodbye, then the rating request")

    def test_idle_warning_off_is_todays_behaviour(self):
        self.params.set_param('whatsapp_attendance.idle_timeout', 30)
        self.params.set_param('whatsapp_attendance.idle_warning', 0)
        service = self._idle_service('5511955550019', 31)
        self.env['whatsapp.service']._cron_finish_idle()
        self.assertEqual(service.state, 'done')
        self.assertFalse(self.automatic(service))

    def test_beyond_24_hours_the_warning_and_farewell_use_templates(self):
        self.params.set_param('whatsapp_attendance.idle_timeout', 30 * 60)
        self.params.set_param('whatsapp_attendance.idle_warning', 60)
        Template = self.env['whatsapp.template'].with_user(self.wa_admin)
        templates = {}
        for key, name in (('idle_warning_template_id', 'still_there'), ('farewell_template_id', 'goodbye')):
            templates[key] = Template.create({
                'name': name, 'language': 'pt_BR', 'account_id': self.account.id,
                'body': "Hi {{1}}, are you there?",
                'variable_ids': [Command.create({'number': 1, 'value': 'customer_name', 'sample': 'Maria'})]})
            templates[key].sudo()._apply_template_state('approved', wa_template_id='1')
            self.params.set_param(f'whatsapp_attendance.{key}', templates[key].id)
        service = self._idle_service('5511955550020', 29 * 60 + 30, window_hours=25)
        self.env['whatsapp.service']._cron_finish_idle()
        warning = self.automatic(service, 'idle_warning')
        self.assertEqual(warning.message_type, 'template')
        self.assertEqual(warning.template_id, templates['idle_warning_template_id'])
        self.assertIn("Automatic message", warning.mail_message_id.body)
        service.sudo().last_interaction_at = fields.Datetime.now() - timedelta(hours=31)
        self.env['whatsapp.service']._cron_finish_idle()
        self.assertEqual(self.automatic(service, 'farewell').template_id, templates['farewell_template_id'])

    def test_beyond_24_hours_without_template_nothing_is_sent_and_a_note_says_why(self):
        self.params.set_param('whatsapp_attendance.idle_timeout', 30 * 60)
        self.params.set_param('whatsapp_attendance.idle_warning', 60)
        service = self._idle_service('5511955550021', 29 * 60 + 30, window_hours=25)
        self.env['whatsapp.service']._cron_finish_idle()
        self.assertFalse(self.automatic(service))
        self.assertTrue(service.channel_id.message_ids.filtered(
            lambda m: 'was not sent: no approved template' in (m.body or '')))
