import json

from odoo.exceptions import UserError, ValidationError
from odoo.tests import Form, new_test_user, tagged
from odoo.tools import html2plaintext
from odoo.tools.safe_eval import safe_eval

from .common import WhatsappCase, remove_other_services


class RoutingCase(WhatsappCase):
    """Two teams (Sales: Ana; Support: Bruno and Carla) and helpers for presence and load."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.carla = new_test_user(cls.env, login='wa_carla', name="Carla",
                                  groups='whatsapp_attendance.group_whatsapp_attendant')
        cls.dora = new_test_user(cls.env, login='wa_dora', name="Dora (no team)",
                                 groups='whatsapp_attendance.group_whatsapp_attendant')
        cls.supervisor = new_test_user(cls.env, login='wa_sup', name="Sara Supervisor",
                                       groups='whatsapp_attendance.group_whatsapp_supervisor')
        remove_other_services(cls.env)  # each test checks whole queues
        Team = cls.env['whatsapp.team']
        cls.sales = Team.create({'name': f"Sales {cls.stamp}", 'color': 3, 'member_ids': [cls.attendant.id]})
        cls.support = Team.create({
            'name': f"Support {cls.stamp}", 'color': 5, 'member_ids': [cls.attendant_b.id, cls.carla.id],
            'greeting': "Hello! Our support team will answer you shortly."})
        cls._phones = iter(range(5511960000001, 5511960009999))

    def customer(self):
        """A new customer's first message: a service waiting in the general queue."""
        return self.open_service(wa_id=str(next(self._phones)))

    def online(self, *users):
        for user in users:
            self.env['bus.presence'].create({'user_id': user.id, 'status': 'online'})

    def busy(self, user, count):
        """``user`` attends ``count`` services already."""
        for _i in range(count):
            self.customer().with_user(user).action_take()

    def queue_of(self, user):
        return {entry['id'] for entry in self.env['whatsapp.service'].with_user(user).whatsapp_queue()}

    def notes(self, service):
        return [html2plaintext(message.body) for message in service.channel_id.message_ids
                if message.message_type == 'notification']


@tagged('post_install', '-at_install')
class TestTeamQueues(RoutingCase):

    def test_attendants_see_their_teams_queues_and_the_general_one(self):
        sales, support, general = self.customer(), self.customer(), self.customer()
        sales._whatsapp_set_team(self.sales)
        support._whatsapp_set_team(self.support)
        self.assertEqual(self.queue_of(self.attendant), {sales.id, general.id}, "Ana (Sales) sees no Support customer")
        self.assertEqual(self.queue_of(self.attendant_b), {support.id, general.id})
        everyone = {sales.id, support.id, general.id}
        for user in (self.dora, self.supervisor, self.wa_admin):
            self.assertEqual(self.queue_of(user), everyone, f"{user.name} sees every queue")
        # the Queue menu shows the same (its action's domain)
        Service = self.env['whatsapp.service'].with_user(self.attendant)
        queue_action = self.env.ref('whatsapp_attendance.whatsapp_service_action_queue')
        queue_domain = safe_eval(queue_action.domain) + [('state', '=', 'waiting'), ('id', 'in', list(everyone))]
        self.assertEqual(set(Service.search(queue_domain).ids), {sales.id, general.id})
        for user in (self.dora, self.supervisor, self.wa_admin):
            self.assertEqual(set(Service.with_user(user).search(queue_domain).ids), everyone)
        self.assertEqual(set(Service.search([('in_my_queues', '=', False), ('id', 'in', list(everyone))]).ids),
                         {support.id})
        self.assertFalse(Service.with_user(self.wa_admin).search([('in_my_queues', '!=', True)]))
        with self.assertRaisesRegex(UserError, f"waits in the {self.support.name} queue"):
            support.with_user(self.attendant).action_take()
        support.with_user(self.supervisor).action_take()
        self.assertEqual(support.user_id, self.supervisor, "a supervisor takes from any queue")

    def test_the_discuss_queue_labels_each_customer_with_the_team_and_its_colour(self):
        service = self.customer()
        service._whatsapp_set_team(self.support)
        entry = next(e for e in self.env['whatsapp.service'].with_user(self.attendant_b).whatsapp_queue()
                     if e['id'] == service.id)
        self.assertEqual((entry['team_name'], entry['team_color']), (self.support.name, 5))

    def test_routing_to_a_team_sends_its_greeting_as_the_system(self):
        service = self.customer()
        self.env.cr.precommit.run()
        self.env['bus.bus'].sudo().search([]).unlink()
        service._whatsapp_set_team(self.support)
        self.assertEqual(service.team_id, self.support)
        greeting = service.whatsapp_message_ids.filtered(lambda m: m.direction == 'outbound')
        self.assertEqual(greeting.body, "Hello! Our support team will answer you shortly.")
        self.assertEqual(greeting.state, 'queued', "queued to the bridge like any reply")
        self.assertFalse(greeting.attendant_id, "sent by the system, not by an attendant")
        self.assertEqual(greeting.mail_message_id.author_id, self.env.ref('base.partner_root'))
        self.assertFalse(service.first_response_at, "an automatic greeting is no attendant's answer")
        self.env.cr.postcommit.run()  # what Odoo runs right after COMMIT
        self.assertIn(greeting.id, [job['message_id'] for job in self.stream_entries()])
        self.assertEqual(service.state, 'waiting', "no automatic assignment: the customer waits for Support")
        # Support's attendants are told a customer waits for them
        self.env.cr.precommit.run()
        sent = [json.loads(n.message) for n in self.env['bus.bus'].sudo().search([], order='id')]
        self.assertIn([service.id], [[s['id'] for s in n['payload'].get('new', [])] for n in sent
                                     if n['type'] == 'whatsapp.queue/changed'])

    def test_transfer_to_a_team_returns_the_customer_to_waiting_in_its_queue(self):
        service = self.customer()
        service.with_user(self.attendant).action_take()
        wizard = Form(self.env['whatsapp.service.transfer'].with_user(self.attendant).with_context(
            default_service_id=service.id))
        wizard.transfer_to = 'team'
        wizard.team_id = self.support
        wizard.note = "Asks about a defect"
        wizard.save().action_transfer()
        self.assertEqual((service.state, service.user_id, service.team_id), ('waiting', self.env['res.users'],
                                                                              self.support))
        self.assertNotIn(self.attendant.partner_id, service.channel_id.channel_member_ids.partner_id,
                         "the former attendant left the conversation")
        self.assertIn(service.id, self.queue_of(self.attendant_b))
        self.assertNotIn(service.id, self.queue_of(self.attendant), "Ana is not in Support")
        self.assertIn(f"Ana transferred this conversation to the {self.support.name} queue. Asks about a defect",
                      " ".join(self.notes(service)))
        self.assertEqual(service.assignment_note, f"Transferred to the {self.support.name} queue by Ana.")
        self.assertTrue(service.whatsapp_message_ids.filtered(
            lambda m: m.direction == 'outbound' and 'support team' in m.body), "the team's greeting")
        with self.assertRaisesRegex(UserError, f"already waiting in the {self.support.name} queue"):
            service.with_user(self.attendant_b)._transfer_to_team(self.support)
        # back to the same team's queue later: the customer is not greeted twice
        service.with_user(self.attendant_b).action_take()
        service.with_user(self.attendant_b)._transfer_to_team(self.support)
        self.assertEqual(len(service.whatsapp_message_ids.filtered(
            lambda m: m.direction == 'outbound' and 'support team' in m.body)), 1)
        # a transfer to a person still works as before, from the same wizard
        wizard = Form(self.env['whatsapp.service.transfer'].with_user(self.attendant_b).with_context(
            default_service_id=service.id))
        wizard.user_id = self.carla
        wizard.save().action_transfer()
        self.assertEqual(service.user_id, self.carla)

    def test_only_its_attendant_or_a_supervisor_transfers_a_service_to_a_team(self):
        service = self.customer()
        service.with_user(self.attendant).action_take()
        with self.assertRaisesRegex(UserError, "Only Ana or an administrator"):
            service.with_user(self.attendant_b)._transfer_to_team(self.support)
        service.with_user(self.supervisor)._transfer_to_team(self.support)
        self.assertEqual(service.state, 'waiting')


@tagged('post_install', '-at_install')
class TestAutomaticAssignment(RoutingCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.support.auto_assign = True

    def test_off_by_default(self):
        self.assertFalse(self.env['whatsapp.team'].create({'name': "Billing"}).auto_assign)

    def test_the_least_busy_online_attendant_under_capacity_gets_the_customer(self):
        self.online(self.attendant_b, self.carla)
        self.busy(self.attendant_b, 1)
        self.busy(self.carla, 2)
        service = self.customer()
        service._whatsapp_set_team(self.support)
        self.assertEqual((service.state, service.user_id), ('in_progress', self.attendant_b))
        explanation = (f"Assigned automatically to Bruno: least busy online attendant of {self.support.name} "
                       "(1 of 5 services open).")
        self.assertEqual(service.assignment_note, explanation, "shown on the form")
        self.assertIn(explanation, self.notes(service), "and in the conversation")
        self.assertIn(self.attendant_b.partner_id, service.channel_id.channel_member_ids.partner_id)

    def test_an_offline_attendant_is_never_chosen_however_idle(self):
        self.online(self.carla)
        self.busy(self.carla, 3)  # Bruno: 0, but offline
        service = self.customer()
        service._whatsapp_set_team(self.support)
        self.assertEqual(service.user_id, self.carla)

    def test_equally_busy_attendants_take_turns(self):
        self.online(self.attendant_b, self.carla)
        first, second = self.customer(), self.customer()
        first._whatsapp_set_team(self.support)
        first._finish('attendant')
        second._whatsapp_set_team(self.support)
        self.assertNotEqual(first.user_id, second.user_id, "the one assigned least recently goes next")

    def test_nobody_free_the_customer_waits_and_gets_the_first_freed_slot(self):
        self.support.member_ids = [(3, self.carla.id)]
        self.attendant_b.whatsapp_capacity = 1
        self.online(self.attendant_b)
        held = self.customer()
        held._whatsapp_set_team(self.support)
        self.assertEqual(held.user_id, self.attendant_b)
        waiting = self.customer()
        waiting._whatsapp_set_team(self.support)
        self.assertEqual((waiting.state, waiting.user_id), ('waiting', self.env['res.users']))
        why = (f"Waiting for automatic assignment: every online attendant of {self.support.name} is at their limit of "
               "simultaneous services.")
        self.assertEqual(waiting.assignment_note, why)
        self.env['whatsapp.service']._cron_auto_assign()
        self.assertEqual(self.notes(waiting).count(why), 1, "said once, not at every retry of the cron")
        held.with_user(self.attendant_b).action_finish()
        self.assertEqual((waiting.state, waiting.user_id), ('in_progress', self.attendant_b),
                         "assigned the moment Bruno finished")

    def test_a_transfer_frees_the_slot_at_once(self):
        self.support.member_ids = [(3, self.carla.id)]
        self.attendant_b.whatsapp_capacity = 1
        self.online(self.attendant_b)
        held, waiting = self.customer(), self.customer()
        held._whatsapp_set_team(self.support)
        waiting._whatsapp_set_team(self.support)
        self.assertEqual(waiting.state, 'waiting')
        held.with_user(self.attendant_b)._transfer(self.attendant)
        self.assertEqual(waiting.user_id, self.attendant_b)

    def test_the_customer_is_assigned_when_an_attendant_comes_online(self):
        service = self.customer()
        service._whatsapp_set_team(self.support)
        self.assertEqual(service.assignment_note,
                         f"Waiting for automatic assignment: nobody of {self.support.name} is online.")
        cron = self.env.ref('whatsapp_attendance.ir_cron_whatsapp_auto_assign')
        Trigger = self.env['ir.cron.trigger'].sudo()
        before = Trigger.search_count([('cron_id', '=', cron.id)])
        presence = self.env['bus.presence'].create({'user_id': self.carla.id, 'status': 'away'})
        self.assertEqual(Trigger.search_count([('cron_id', '=', cron.id)]), before, "away is not online")
        presence.status = 'online'
        self.assertEqual(Trigger.search_count([('cron_id', '=', cron.id)]), before + 1,
                         "coming online wakes the assignment cron")
        self.env['whatsapp.service']._cron_auto_assign()
        self.assertEqual(service.user_id, self.carla)

    def test_a_number_s_default_team_receives_its_new_customers(self):
        """Customers of a number with a default team wait in that team's queue from their first
        message: only its attendants are told, the team greets them after their message and
        automatic assignment gives them to an online member."""
        self.account.team_id = self.support
        self.support.auto_assign = True
        self.online(self.attendant_b)
        self.env.cr.precommit.run()
        self.env['bus.bus'].sudo().search([]).unlink()
        service = self.customer()
        self.assertEqual((service.team_id, service.state, service.user_id),
                         (self.support, 'in_progress', self.attendant_b))
        inbound, greeting = service.whatsapp_message_ids.sorted('id')[:2]
        self.assertEqual((inbound.direction, greeting.direction, greeting.body),
                         ('inbound', 'outbound', "Hello! Our support team will answer you shortly."),
                         "the customer's message first, then the team's greeting")
        self.env.cr.precommit.run()
        new = [s for n in self.env['bus.bus'].sudo().search([], order='id')
               if (payload := json.loads(n.message)['payload']) and isinstance(payload, dict)
               for s in payload.get('new', [])]
        self.assertEqual([s['id'] for s in new], [service.id], "told once, already in Support's queue")
        # without automatic assignment the customer waits where only Support (and supervisors) see them
        self.support.auto_assign = False
        waiting = self.customer()
        self.assertEqual((waiting.team_id, waiting.state), (self.support, 'waiting'))
        self.assertNotIn(waiting.id, self.queue_of(self.attendant), "Ana is not in Support")
        self.assertIn(waiting.id, self.queue_of(self.carla))

    def test_the_menu_hands_over_to_the_number_s_team_unless_an_option_names_another(self):
        menu = self.env['whatsapp.menu'].create({'name': f"Menu {self.stamp}", 'body': "How can we help?",
                                                 'option_ids': [(0, 0, {'name': "Buy", 'action': 'team',
                                                                        'team_id': self.sales.id})]})
        self.account.write({'menu_id': menu.id, 'team_id': self.support.id})
        chose_sales, wants_a_person = self.customer(), self.customer()
        self.assertEqual((chose_sales.menu_id, chose_sales.team_id), (menu, self.env['whatsapp.team']),
                         "in the menu, no team yet")
        self.receive(self.inbound(wa_id=chose_sales.partner_id.whatsapp_phone.lstrip('+'), text="1"))
        self.receive(self.inbound(wa_id=wants_a_person.partner_id.whatsapp_phone.lstrip('+'), text="atendente"))
        self.assertEqual((chose_sales.team_id, chose_sales.menu_id), (self.sales, menu.browse()))
        self.assertEqual((wants_a_person.team_id, wants_a_person.state), (self.support, 'waiting'),
                         "no option named a team: the number's team")

    def test_staff_facing_texts_are_in_the_attendant_s_or_the_company_s_language(self):
        """The bridge and the cron write in no attendant's language: the waiting note is in the
        company's language, the assignment note and its notification in the assigned attendant's."""
        self.env['res.lang']._activate_lang('pt_BR')
        self.env['ir.module.module'].search([('name', '=', 'whatsapp_attendance')])._update_translations(['pt_BR'])
        self.env.company.partner_id.lang = 'pt_BR'
        self.support.member_ids = [(3, self.carla.id)]
        self.attendant_b.lang = 'en_US'
        service = self.customer()
        service._whatsapp_set_team(self.support)
        self.assertEqual(service.assignment_note,
                         f"Aguardando atribuição automática: ninguém de {self.support.name} está online.")
        self.online(self.attendant_b)
        self.env['whatsapp.service']._cron_auto_assign()
        self.assertEqual(service.user_id, self.attendant_b)
        self.assertEqual(service.assignment_note,
                         f"Assigned automatically to Bruno: least busy online attendant of {self.support.name} "
                         "(0 of 5 services open).", "Bruno reads English")

    def test_a_long_queue_is_assigned_in_one_go_of_the_cron(self):
        """The cron assigns ``limit`` customers at a time and tells Odoo's cron runner how many
        still wait, so it runs again at once rather than a minute later (until nobody is assignable)."""
        self.env['whatsapp.team'].search([('id', '!=', self.support.id)]).auto_assign = False  # demo data's
        waiting = self.customer() | self.customer() | self.customer()
        for service in waiting:
            service._whatsapp_set_team(self.support)
        self.online(self.carla)
        cron = self.env.ref('whatsapp_attendance.ir_cron_whatsapp_auto_assign')
        progress = self.env['ir.cron.progress'].sudo().create({'cron_id': cron.id})
        Service = self.env['whatsapp.service'].with_context(ir_cron_progress_id=progress.id)
        queue = Service._whatsapp_queue_domain() + [('team_id.auto_assign', '=', True)]
        first = Service._cron_auto_assign(limit=2)
        self.assertEqual(first, waiting[:2], "the oldest first")
        self.assertEqual((progress.done, progress.remaining), (2, Service.search_count(queue)))
        self.assertGreaterEqual(progress.remaining, 1, "the third customer still waits: the cron runs again")
        Service._cron_auto_assign(limit=2)
        self.assertEqual(waiting.mapped('user_id'), self.carla)

    def test_a_returning_customer_goes_back_to_their_previous_attendant(self):
        self.online(self.attendant_b, self.carla)
        first = self.customer()
        first.with_user(self.carla).action_take()
        first.with_user(self.carla).action_finish()
        self.busy(self.carla, 3)  # Bruno is less busy, but Carla knows this customer
        again = self.open_service(wa_id=first.partner_id.whatsapp_phone.lstrip('+'))
        self.assertNotEqual(again, first)
        again._whatsapp_set_team(self.support)
        self.assertEqual(again.user_id, self.carla)
        self.assertEqual(again.assignment_note, "Assigned automatically to Carla: returning customer, Carla "
                                                "attended them before (3 of 5 services open).")

    def test_a_returning_customer_whose_attendant_is_full_goes_to_the_least_busy(self):
        self.online(self.attendant_b, self.carla)
        self.carla.whatsapp_capacity = 1
        first = self.customer()
        first.with_user(self.carla).action_take()
        first.with_user(self.carla).action_finish()
        self.busy(self.carla, 1)
        again = self.open_service(wa_id=first.partner_id.whatsapp_phone.lstrip('+'))
        again._whatsapp_set_team(self.support)
        self.assertEqual(again.user_id, self.attendant_b)

    def test_an_attendant_at_capacity_is_never_overbooked(self):
        self.support.member_ids = [(3, self.carla.id)]
        self.attendant_b.whatsapp_capacity = 2
        self.online(self.attendant_b)
        services = [self.customer() for _i in range(4)]
        for service in services:
            service._whatsapp_set_team(self.support)
        self.assertEqual([s.state for s in services], ['in_progress', 'in_progress', 'waiting', 'waiting'])
        self.assertEqual(self.attendant_b.whatsapp_open_service_count, 2)
        self.env['whatsapp.service']._cron_auto_assign()
        self.assertEqual(self.attendant_b.whatsapp_open_service_count, 2, "nor by the cron")
        # a raised capacity assigns at once (after commit, by the cron it wakes)
        self.attendant_b.whatsapp_capacity = 3
        self.env['whatsapp.service']._cron_auto_assign()
        self.assertEqual([s.state for s in services], ['in_progress'] * 3 + ['waiting'],
                         "the oldest waiting customer first")

    def test_capacity_zero_means_no_limit_and_is_never_negative(self):
        self.support.member_ids = [(3, self.carla.id)]
        self.attendant_b.whatsapp_capacity = 0
        self.online(self.attendant_b)
        self.busy(self.attendant_b, 7)
        service = self.customer()
        service._whatsapp_set_team(self.support)
        self.assertEqual(service.user_id, self.attendant_b)
        self.assertIn("(7 services open, no limit)", service.assignment_note)
        with self.assertRaises(ValidationError):
            self.attendant_b.whatsapp_capacity = -1

    def test_every_assignment_takes_the_attendants_row_lock(self):
        # the serialisation point of concurrent assignments (see _whatsapp_lock_attendant)
        self.online(self.carla)
        self.assertFalse(self.carla.whatsapp_last_assigned_at)
        manual = self.customer()
        manual.with_user(self.carla).action_take()
        self.assertTrue(self.carla.whatsapp_last_assigned_at, "a Take locks too: its load counts")

    def test_a_team_without_automatic_assignment_leaves_customers_to_take(self):
        self.online(self.attendant)
        service = self.customer()
        service._whatsapp_set_team(self.sales)
        self.assertEqual(service.state, 'waiting')
        self.assertFalse(service.assignment_note)
        self.sales.auto_assign = True  # switched on: the customers already waiting get assigned
        self.env['whatsapp.service']._cron_auto_assign()
        self.assertEqual(service.user_id, self.attendant)
