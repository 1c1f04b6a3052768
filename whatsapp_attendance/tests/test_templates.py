from datetime import timedelta

from freezegun import freeze_time

from odoo import Command, fields
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tests import tagged

from odoo.addons.whatsapp_attendance import contract

from .common import WhatsappCase


@tagged('post_install', '-at_install')
class TestTemplates(WhatsappCase):
    """WhatsApp templates and the 24-hour window: what the attendant and the customer notice."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.Template = cls.env['whatsapp.template'].with_user(cls.wa_admin)
        cls.follow_up = cls._approved(
            'service_follow_up', "Olá {{1}}! Sobre o atendimento {{2}}: {{3}} tem novidades para você.",
            [('customer_name', 'Maria'), ('service_reference', 'WA/0001'), ('attendant_name', 'Ana')],
            buttons=["Pode falar", "Agora não"])

    @classmethod
    def _approved(cls, name, body, variables, language='pt_BR', buttons=()):
        template = cls.Template.create({
            'name': name, 'language': language, 'account_id': cls.account.id, 'body': body,
            'variable_ids': [Command.create({'number': n, 'value': value, 'sample': sample})
                             for n, (value, sample) in enumerate(variables, 1)],
            'button_ids': [Command.create({'name': text, 'sequence': i}) for i, text in enumerate(buttons)],
        })
        template.sudo()._apply_template_state('approved', wa_template_id='1000')
        return template

    def _silent(self, service, hours):
        """The customer of ``service`` last wrote ``hours`` ago."""
        service.sudo().last_inbound_at = fields.Datetime.now() - timedelta(hours=hours)

    # ------------------------------------------------------------------
    # The model: Meta's rules, with errors that say what is wrong
    # ------------------------------------------------------------------

    def test_validation_names_what_whatsapp_would_refuse(self):
        def create(**values):
            vals = {'name': 'ok_name', 'account_id': self.account.id, 'body': "Hello"}
            vals.update(values)
            with self.assertRaises(ValidationError) as caught, self.env.cr.savepoint():
                self.Template.create(vals)
            return str(caught.exception)

        self.assertIn("lowercase letters, digits and underscores", create(name="Order Update"))
        self.assertIn("at most 1024", create(body="x" * 1025))
        self.assertIn("{{2}} of the body has no value", create(
            body="Hi {{1}}, {{2}}", variable_ids=[Command.create({'number': 1, 'value': 'customer_name'})]))
        self.assertIn("unknown variable {{3}}", create(
            body="Hi {{1}}", variable_ids=[Command.create({'number': 1, 'value': 'customer_name'}),
                                           Command.create({'number': 3, 'value': 'service_reference'})]))
        self.assertIn("Variables are numbered", create(body="Hi {{name}}"))
        self.assertIn("{{1}} is missing", create(
            body="Hi {{2}}", variable_ids=[Command.create({'number': 2, 'value': 'customer_name'})]))
        self.assertIn("at most 60", create(header_type='text', header_text="H" * 61))
        self.assertIn("at most 25", create(button_ids=[Command.create({'name': "B" * 26})]))
        self.assertIn("at most 3 quick-reply", create(button_ids=[Command.create({'name': f"B{i}"}) for i in range(4)]))
        # within the limits, it is a draft
        template = self.Template.create({'name': 'ok_name', 'account_id': self.account.id, 'body': "x" * 1024,
                                         'header_type': 'text', 'header_text': "H" * 60,
                                         'button_ids': [Command.create({'name': "B" * 25})]})
        self.assertEqual(template.state, 'draft')

    def test_an_approved_template_is_changed_only_after_reset_to_draft(self):
        with self.assertRaises(UserError):
            self.follow_up.write({'body': "Changed {{1}} {{2}} {{3}}"})
        self.follow_up.action_reset_draft()
        self.follow_up.write({'body': "Changed {{1}} {{2}} {{3}}"})
        self.assertEqual(self.follow_up.state, 'draft')

    def test_attendants_read_approved_templates_only_and_cannot_create(self):
        draft = self.Template.create({'name': 'draft_one', 'account_id': self.account.id, 'body': "Hi"})
        visible = self.env['whatsapp.template'].with_user(self.attendant).search([('account_id', '=', self.account.id)])
        self.assertIn(self.follow_up, visible)
        self.assertNotIn(draft, visible)
        with self.assertRaises(AccessError):
            self.env['whatsapp.template'].with_user(self.attendant).create(
                {'name': 'mine', 'account_id': self.account.id, 'body': "Hi"})

    # ------------------------------------------------------------------
    # Submit and sync through the bridge
    # ------------------------------------------------------------------

    def test_submit_queues_a_command_for_the_bridge_and_the_answer_approves(self):
        template = self.Template.create({
            'name': 'order_update', 'language': 'en_US', 'account_id': self.account.id, 'category': 'utility',
            'body': "Hi {{1}}, about {{2}}.", 'header_type': 'text', 'header_text': "Your order",
            'variable_ids': [Command.create({'number': 1, 'value': 'customer_name', 'sample': 'Maria'}),
                             Command.create({'number': 2, 'value': 'service_reference', 'sample': 'WA/7'})],
            'button_ids': [Command.create({'name': "Thanks"})],
        })
        self.env.cr.postcommit.run()
        before = len(self.stream_entries(contract.STREAM_CONTROL))
        template.action_submit()
        self.assertEqual(template.state, 'pending')
        self.assertEqual(len(self.stream_entries(contract.STREAM_CONTROL)), before, "only after commit")
        self.env.cr.postcommit.run()
        command = self.stream_entries(contract.STREAM_CONTROL)[before]
        contract.validate_control_command(command)
        self.assertEqual(command['command'], 'template_submit')
        self.assertEqual(command['template'], {
            'template_id': template.id, 'name': 'order_update', 'language': 'en_US', 'category': 'utility',
            'body': "Hi {{1}}, about {{2}}.", 'body_examples': ['Maria', 'WA/7'],
            'header': {'format': 'text', 'text': "Your order"}, 'buttons': ["Thanks"]})
        with self.assertRaises(UserError):
            template.action_submit()  # already with WhatsApp

        account = self.account.phone_number_id
        result = self.api.report_template_states([
            {'v': 1, 'account': account, 'name': 'order_update', 'language': 'en_US', 'status': 'approved',
             'template_id': template.id, 'wa_template_id': '555'},
            {'v': 1, 'account': account, 'name': 'hello_world', 'language': 'en_US', 'status': 'approved'},
        ])
        self.assertEqual([r['result'] for r in result], ['applied', 'unknown'])
        self.assertEqual((template.state, template.wa_template_id), ('approved', '555'))
        # a sync repeating it changes nothing
        self.assertEqual(self.api.report_template_states([
            {'v': 1, 'account': account, 'name': 'order_update', 'language': 'en_US', 'status': 'approved'}
        ])[0]['result'], 'ignored')
        # WhatsApp rejects it later, with its reason
        self.api.report_template_states([{'v': 1, 'account': account, 'name': 'order_update', 'language': 'en_US',
                                          'status': 'rejected', 'reason': 'INVALID_FORMAT'}])
        self.assertEqual((template.state, template.rejection_reason), ('rejected', 'INVALID_FORMAT'))

    def test_a_bad_state_report_names_the_field_and_writes_nothing(self):
        template = self.Template.create({'name': 'sync_me', 'account_id': self.account.id, 'body': "Hi"})
        template.action_submit()
        good = {'v': 1, 'account': self.account.phone_number_id, 'name': 'sync_me', 'language': 'pt_BR',
                'status': 'approved'}
        with self.assertRaisesRegex(ValidationError, r"states\[1\]\.status"):
            self.api.report_template_states([good, dict(good, status='APPROVED!')])
        with self.assertRaisesRegex(ValidationError, r"states\[1\]\.template_id"):
            self.api.report_template_states([good, dict(good, template_id=self.follow_up.id)])
        self.assertEqual(template.state, 'pending', "nothing written")
        with self.assertRaises(AccessError):
            self.env['whatsapp.api'].with_user(self.attendant).report_template_states([good])

    def test_a_failed_submit_goes_back_to_draft_with_the_reason(self):
        template = self.Template.create({'name': 'will_fail', 'account_id': self.account.id, 'body': "Hi"})
        template.action_submit()
        self.api.report_template_states([{'v': 1, 'account': self.account.phone_number_id, 'name': 'will_fail',
                                          'language': 'pt_BR', 'status': 'error', 'template_id': template.id,
                                          'reason': 'WA_WABA_ID is not set in the bridge'}])
        self.assertEqual(template.state, 'draft')
        self.assertIn('WA_WABA_ID', template.rejection_reason)

    # ------------------------------------------------------------------
    # The 24-hour window
    # ------------------------------------------------------------------

    def test_window_follows_the_customer_last_message(self):
        start = fields.Datetime.now()
        with freeze_time(start):
            service = self.open_service('5511944440001', attendant=self.attendant)
            self.assertEqual(service.last_inbound_at, start)
            info = service._discuss_info()
            self.assertTrue(info['window_open'])
            self.assertTrue(info['has_window'])
            self.assertEqual(info['window_closes_at'], fields.Datetime.to_string(start + timedelta(hours=24)))
        with freeze_time(start + timedelta(hours=23, minutes=59)):
            self.assertTrue(service._discuss_info()['window_open'])
            self.assertFalse(service._window_refusal())
        with freeze_time(start + timedelta(hours=25)):
            self.assertFalse(service._discuss_info()['window_open'])
            self.assertEqual(service._window_refusal(), "The customer last wrote 25 hours ago: WhatsApp only "
                                                        "lets you send an approved template.")
            # the customer writes again: the window opens again
            self.receive(self.inbound(wa_id='5511944440001', text="Ainda estou aqui"))
            self.assertTrue(service._discuss_info()['window_open'])

    def test_whatsapp_web_numbers_have_no_window(self):
        service = self.open_service('5511944440002', attendant=self.attendant)
        self._silent(service, 30)
        self.assertFalse(service._window_open())
        self.account.provider = 'web'
        self.assertTrue(service._window_open())
        self.assertFalse(service._discuss_info()['has_window'])
        self.post_as(self.attendant, service, body="Sem janela no WhatsApp Web")

    def test_free_form_post_after_25_hours_is_refused_with_the_reason(self):
        service = self.open_service('5511944440003', attendant=self.attendant)
        self._silent(service, 25)
        self.env.cr.postcommit.run()
        before = len(self.stream_entries())
        with self.assertRaisesRegex(UserError, "The customer last wrote 25 hours ago: WhatsApp only lets you send "
                                               "an approved template."), self.env.cr.savepoint():
            self.post_as(self.attendant, service, body="Oi, tudo bem?")
        self.env.cr.postcommit.run()
        self.assertEqual(len(self.stream_entries()), before)
        self.assertFalse(service.whatsapp_message_ids.filtered(lambda m: m.direction == 'outbound'))

    def test_retrying_a_free_form_message_after_the_window_is_refused(self):
        service = self.open_service('5511944440004', attendant=self.attendant)
        post = self.post_as(self.attendant, service, body="Vai falhar")
        message = self.env['whatsapp.message'].search([('mail_message_id', '=', post.id)])
        message.sudo()._apply_status('failed', error={'code': 131000})
        self._silent(service, 26)
        with self.assertRaisesRegex(UserError, "26 hours ago"):
            message.with_user(self.attendant).action_retry()

    # ------------------------------------------------------------------
    # Sending a template
    # ------------------------------------------------------------------

    def test_picker_lists_approved_templates_in_the_customer_language_first(self):
        english = self._approved('follow_up_en', "Hi {{1}}!", [('customer_name', 'Maria')], language='en_US')
        self.Template.create({'name': 'not_yet', 'account_id': self.account.id, 'body': "Draft"})
        service = self.open_service('5511944440005', attendant=self.attendant)
        service.partner_id.lang = 'en_US'
        listed = service.with_user(self.attendant).whatsapp_templates()
        self.assertEqual([t['name'] for t in listed][:1], ['follow_up_en'])
        self.assertNotIn('not_yet', [t['name'] for t in listed])
        self.assertEqual(listed[0]['preview'], f"Hi {service.partner_id.name}!")
        follow = next(t for t in listed if t['id'] == self.follow_up.id)
        self.assertEqual(follow['preview'], f"Olá {service.partner_id.name}! Sobre o atendimento {service.name}: "
                                            f"Ana tem novidades para você.")
        self.assertEqual(follow['buttons'], ["Pode falar", "Agora não"])
        self.assertTrue(english)

    def test_attendant_sends_a_template_after_25_hours(self):
        service = self.open_service('5511944440006', attendant=self.attendant)
        self._silent(service, 25)
        self.env.cr.postcommit.run()
        before = len(self.stream_entries())
        mail_message_id = service.with_user(self.attendant).action_send_template(self.follow_up.id)
        post = self.env['mail.message'].browse(mail_message_id)
        customer = service.partner_id.name
        text = f"Olá {customer}! Sobre o atendimento {service.name}: Ana tem novidades para você."
        self.assertIn(text, post.body, "the conversation shows what the customer reads")
        self.assertEqual(post.author_id, self.attendant.partner_id)
        message = self.env['whatsapp.message'].search([('mail_message_id', '=', post.id)])
        self.assertEqual((message.message_type, message.state, message.attendant_id),
                         ('template', 'queued', self.attendant))
        self.env.cr.postcommit.run()
        job = self.stream_entries()[before]
        contract.validate_outbound_job(job)
        self.assertEqual(job['type'], 'template')
        self.assertEqual(job['message_id'], message.id)
        self.assertEqual(job['template']['name'], 'service_follow_up')
        self.assertEqual(job['template']['language'], 'pt_BR')
        self.assertEqual(job['template']['body_parameters'], [customer, service.name, "Ana"])
        self.assertEqual(len(job['template']['button_payloads']), 2)
        self.assertTrue(service.first_response_at, "a template is the attendant's answer")

    def test_only_the_attendant_and_only_approved_templates(self):
        service = self.open_service('5511944440007', attendant=self.attendant)
        self._silent(service, 25)
        with self.assertRaises(UserError):
            service.with_user(self.attendant_b).action_send_template(self.follow_up.id)
        draft = self.Template.create({'name': 'draft_two', 'account_id': self.account.id, 'body': "Hi"})
        with self.assertRaisesRegex(UserError, "not approved"):
            service.with_user(self.attendant).action_send_template(draft.id)
        self.assertFalse(service.whatsapp_message_ids.filtered(lambda m: m.direction == 'outbound'))

    # ------------------------------------------------------------------
    # The rating request outside the window
    # ------------------------------------------------------------------

    def test_rating_request_uses_the_configured_template_when_the_window_is_closed(self):
        rating = self._approved('rating_request', "Olá {{1}}! Como foi o atendimento {{2}}? Avalie: {{3}}",
                                [('customer_name', 'Maria'), ('service_reference', 'WA/1'),
                                 ('rating_link', 'https://example.com/rate')],
                                buttons=["Satisfeito", "Mais ou menos", "Insatisfeito"])
        self.env['ir.config_parameter'].sudo().set_param('whatsapp_attendance.rating_template_id', rating.id)
        service = self.open_service('5511944440008', attendant=self.attendant)
        self._silent(service, 30)
        self.env.cr.postcommit.run()
        before = len(self.stream_entries())
        service.with_user(self.attendant).action_finish()
        request = service.whatsapp_message_ids.filtered(lambda m: m.direction == 'outbound')
        self.assertEqual(request.message_type, 'template')
        self.env.cr.postcommit.run()
        job = self.stream_entries()[before]
        token = service.rating_ids.access_token
        self.assertEqual(job['template']['name'], 'rating_request')
        self.assertEqual(job['template']['body_parameters'][2], f"{service.get_base_url()}/rate/{token}/5")
        self.assertEqual(job['template']['button_payloads'],
                         [contract.rating_button_id(token, score) for score in (5, 3, 1)])
        # the customer taps "Satisfeito" days later: the service is rated
        self.receive(self.inbound(wa_id='5511944440008', mtype='interactive',
                                  interactive={'id': job['template']['button_payloads'][0], 'title': "Satisfeito"}))
        self.assertEqual(service.rating_last_value, 5)

    def test_rating_request_without_a_template_says_why_it_cannot_reach_the_customer(self):
        self.env['ir.config_parameter'].sudo().set_param('whatsapp_attendance.rating_template_id', False)
        service = self.open_service('5511944440009', attendant=self.attendant)
        self._silent(service, 30)
        service.with_user(self.attendant).action_finish()
        request = service.whatsapp_message_ids.filtered(lambda m: m.direction == 'outbound')
        self.assertEqual(request.message_type, 'interactive', "today's behaviour: WhatsApp will refuse it")
        notes = service.channel_id.message_ids.filtered(lambda m: '24-hour window is closed' in (m.body or ''))
        self.assertEqual(len(notes), 1)
        self.assertIn("30 hours ago", notes.body)
        self.assertFalse(self.env['whatsapp.message'].search([('mail_message_id', '=', notes.id)]),
                         "the note stays internal")

    def test_rating_request_inside_the_window_is_unchanged(self):
        rating = self._approved('rating_inside', "Olá {{1}}", [('customer_name', 'Maria')])
        self.env['ir.config_parameter'].sudo().set_param('whatsapp_attendance.rating_template_id', rating.id)
        service = self.open_service('5511944440010', attendant=self.attendant)
        service.with_user(self.attendant).action_finish()
        request = service.whatsapp_message_ids.filtered(lambda m: m.direction == 'outbound')
        self.assertEqual(request.message_type, 'interactive')
        self.assertFalse(service.channel_id.message_ids.filtered(lambda m: '24-hour window' in (m.body or '')))
