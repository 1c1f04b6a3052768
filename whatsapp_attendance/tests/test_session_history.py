import json

from odoo.exceptions import UserError, ValidationError
from odoo.tests import tagged

from .. import contract
from .common import WhatsappCase

PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="


@tagged('post_install', '-at_install')
class TestPhoneHistory(WhatsappCase):
    """The paired phone's own messages: its chats' history as past services, what it sends itself."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.web = cls.env['whatsapp.account'].create({
            'name': "Web number", 'provider': 'web', 'phone_number_id': 'web-history-test'})
        # a number of her own (the demo data's Maria has 5511987654321)
        cls.maria = cls.env['res.partner'].create({'name': "Maria Cadastrada", 'mobile': "+55 11 94321-5678"})

    def item(self, wamid, text, from_me=False, wa_id='5511943215678', timestamp=1767225600, **extra):
        item = {'v': 1, 'account': self.web.phone_number_id, 'wamid': wamid, 'timestamp': timestamp,
                'from': {'wa_id': wa_id, 'name': "Maria do celular"}, 'type': 'text', 'text': text,
                'from_me': from_me}
        item.update(extra)
        return item

    def customer_item(self, wamid, text, **extra):
        """The same message as the customer's, through the inbound path (no ``from_me``)."""
        item = self.item(wamid, text, **extra)
        del item['from_me']
        return item

    def chat(self):
        return [
            self.item('3AH1', "Vocês entregam em Campinas?", timestamp=1767225600),
            self.item('3AH2', "Entregamos sim, frete grátis acima de R$ 200.", from_me=True, timestamp=1767225720),
            self.item('3AH4', "", timestamp=1767225900, type='image',
                      media={'mimetype': 'image/png', 'data': PNG, 'caption': "o endereço"}),
            self.item('3AH3', "Obrigada!", timestamp=1767225800),
        ]

    def clear_bus(self):
        self.env.cr.precommit.run()
        self.env['bus.bus'].sudo().search([]).unlink()

    def queue_notices(self):
        self.env.cr.precommit.run()
        return [json.loads(n.message) for n in self.env['bus.bus'].sudo().search([], order='id')
                if json.loads(n.message)['type'] in ('whatsapp.queue/changed', 'simple_notification')
                and json.loads(n.message)['payload'].get('new')]

    def test_history_lands_as_a_past_read_only_service_of_the_existing_contact_and_replays_import_nothing(self):
        self.clear_bus()
        results = self.api.ingest_history(self.chat())
        service = self.env['whatsapp.service'].browse(results[0]['service_id'])
        self.assertEqual({r['service_id'] for r in results}, {service.id})
        self.assertEqual(service.partner_id, self.maria, "matched by the normalised number, not duplicated")
        self.assertEqual((service.state, service.end_reason), ('done', 'phone'))
        self.assertFalse(service.user_id)
        self.assertEqual(service.opened_at.isoformat(), '2026-01-01T00:00:00')
        self.assertEqual(service.closed_at.isoformat(), '2026-01-01T00:05:00')
        # in the order they were written, each by its author
        posts = service.channel_id.message_ids.filtered(lambda m: m.message_type == 'comment').sorted('id')
        self.assertEqual([p.author_id for p in posts],
                         [self.maria, self.web.company_id.partner_id, self.maria, self.maria])
        self.assertIn("Entregamos sim", posts[1].body)
        self.assertEqual(posts[0].date.isoformat(), '2026-01-01T00:00:00')
        self.assertEqual(posts[3].attachment_ids.mimetype, 'image/png')
        messages = service.whatsapp_message_ids
        business = messages.filtered(lambda m: m.direction == 'outbound')
        self.assertEqual((business.wamid, business.state), ('3AH2', 'sent'))
        self.assertEqual(set((messages - business).mapped('state')), {'received'})
        # nothing waits, nothing goes out, nobody is asked to rate or told of a new customer
        self.assertNotIn(service, self.env['whatsapp.service'].search(
            self.env['whatsapp.service']._whatsapp_queue_domain()))
        self.assertEqual(self.stream_entries(), [])
        self.assertFalse(self.env['rating.rating'].search([('res_model', '=', 'whatsapp.service'),
                                                            ('res_id', '=', service.id)]))
        self.assertEqual(self.queue_notices(), [])
        # read-only: nobody answers a past service, an administrator neither
        service.channel_id.add_members(partner_ids=self.attendant.partner_id.ids)
        with self.assertRaisesRegex(UserError, "is finished"):
            self.post_as(self.attendant, service)
        # a replay of WhatsApp's history sync imports nothing twice
        again = self.api.ingest_history(self.chat())
        self.assertTrue(all(r['duplicate'] for r in again))
        self.assertEqual([r['message_id'] for r in again], [r['message_id'] for r in results])
        self.assertEqual(len(service.whatsapp_message_ids), 4)
        self.assertEqual(self.env['whatsapp.service'].search_count([('partner_id', '=', self.maria.id)]), 1)

    def test_a_later_history_chunk_joins_the_same_past_service_and_each_chat_is_its_own_service(self):
        first = self.api.ingest_history(self.chat()[:2])
        later = self.api.ingest_history([
            self.item('3AH9', "Chegou!", timestamp=1767312000),
            self.item('3AJ1', "Oi, sou o João", wa_id='5521998877665', timestamp=1767312000)])
        self.assertEqual(later[0]['service_id'], first[0]['service_id'])
        service = self.env['whatsapp.service'].browse(first[0]['service_id'])
        self.assertEqual(service.closed_at.isoformat(), '2026-01-02T00:00:00')
        joao = self.env['whatsapp.service'].browse(later[1]['service_id'])
        self.assertNotEqual(joao, service)
        self.assertEqual((joao.state, joao.partner_id.name), ('done', "Maria do celular"))

    def test_a_message_sent_from_the_phone_appears_in_the_open_conversation_as_the_business(self):
        customer = self.api.ingest_messages([self.customer_item('3AC1', "Oi, preciso de ajuda")])
        service = self.env['whatsapp.service'].browse(customer[0]['service_id'])
        service.with_user(self.attendant).action_take()
        self.clear_bus()
        results = self.api.ingest_phone_messages([self.item('3AP1', "Respondi pelo celular", from_me=True)])
        self.assertEqual(results[0]['service_id'], service.id)
        message = self.env['whatsapp.message'].browse(results[0]['message_id'])
        self.assertEqual((message.direction, message.state, message.attendant_id), ('outbound', 'sent',
                                                                                    self.env['res.users']))
        self.assertEqual(message.mail_message_id.author_id, self.web.company_id.partner_id)
        self.assertEqual(service.state, 'in_progress', "the customer's conversation goes on")
        self.assertEqual(self.stream_entries(), [], "never sent to WhatsApp again")
        self.assertEqual(self.queue_notices(), [])
        # its receipts apply to it like to any message the business sent
        self.api.ingest_statuses([{'v': 1, 'account': self.web.phone_number_id, 'wamid': '3AP1',
                                   'status': 'read', 'timestamp': 1767225900}])
        self.assertEqual(message.state, 'read')
        # the bridge sends it again: the same message
        again = self.api.ingest_phone_messages([self.item('3AP1', "Respondi pelo celular", from_me=True)])
        self.assertEqual((again[0]['message_id'], again[0]['duplicate']), (message.id, True))

    def test_a_message_sent_from_the_phone_without_a_conversation_opens_none_in_the_queue(self):
        results = self.api.ingest_phone_messages([
            self.item('3AP7', "Sua encomenda saiu", from_me=True, wa_id='5531991234567'),
            self.item('3AP7', "Sua encomenda saiu", from_me=True, wa_id='5531991234567')])
        self.assertEqual(results[0]['message_id'], results[1]['message_id'])
        self.assertTrue(results[1]['duplicate'])
        service = self.env['whatsapp.service'].browse(results[0]['service_id'])
        self.assertEqual((service.state, service.end_reason), ('done', 'phone'))
        # the customer's answer opens a service of its own, in the queue as always
        answer = self.api.ingest_messages([self.customer_item('3AP8', "Obrigado!", wa_id='5531991234567')])
        self.assertNotEqual(answer[0]['service_id'], service.id)
        self.assertEqual(self.env['whatsapp.service'].browse(answer[0]['service_id']).state, 'waiting')

    def test_bad_phone_messages_are_refused_naming_the_field_and_nothing_is_written(self):
        with self.assertRaisesRegex(ValidationError, r"messages\[1\]\.from_me"):
            self.api.ingest_history([self.item('3AB1', "ok"), dict(self.item('3AB2', "x"), from_me="yes")])
        with self.assertRaisesRegex(ValidationError, r"messages\[0\]\.from_me"):
            self.api.ingest_phone_messages([self.item('3AB3', "not the business's")])
        with self.assertRaisesRegex(ValidationError, r"messages\[0\]\.account"):
            self.api.ingest_history([dict(self.item('3AB4', "x"), account='nope')])
        self.assertFalse(self.env['whatsapp.message'].search([('wamid', 'like', '3AB%')]))
        self.assertIn('history', contract.contract_info()['features'])
        self.assertIn('ingest_history', self.api.contract_info()['methods'])


@tagged('post_install', '-at_install')
class TestCloudApiEnd(WhatsappCase):
    """End on a Cloud API number: attendants' answers are refused with the reason until Start."""

    def test_an_answer_on_an_ended_number_is_refused_with_the_reason_and_start_resumes(self):
        service = self.open_service(attendant=self.attendant)
        self.account.write({'session_state': 'connected'})
        self.account.with_user(self.wa_admin).action_session_logout()
        self.assertTrue(self.account.session_ended)
        self.env.cr.postcommit.run()
        commands = [c for c in self.stream_entries(contract.STREAM_CONTROL)
                    if c['account'] == self.account.phone_number_id]
        self.assertEqual(commands[-1]['command'], 'stop')
        with self.assertRaisesRegex(UserError, "was ended"):
            self.post_as(self.attendant, service, body="Ainda está aí?")
        self.assertFalse(service.whatsapp_message_ids.filtered(lambda m: m.direction == 'outbound'))
        self.account.with_user(self.wa_admin).action_session_start()
        self.assertFalse(self.account.session_ended)
        self.post_as(self.attendant, service, body="Ainda está aí?")
        self.assertEqual(service.whatsapp_message_ids.filtered(lambda m: m.direction == 'outbound').body,
                         "Ainda está aí?")

    def test_an_answer_on_a_logged_out_whatsapp_web_number_is_refused(self):
        web = self.env['whatsapp.account'].create({'name': "Web", 'provider': 'web', 'phone_number_id': 'web-end'})
        item = dict(self.inbound(), account='web-end')
        service = self.service_of(self.receive(item)[0])
        service.with_user(self.attendant).action_take()
        self.api.report_session_state({'v': 1, 'account': 'web-end', 'state': 'logged_out',
                                       'detail': "Logged out from the phone"})
        with self.assertRaisesRegex(UserError, "logged out"):
            self.post_as(self.attendant, service)
        self.api.report_session_state({'v': 1, 'account': 'web-end', 'state': 'connected'})
        self.post_as(self.attendant, service)
        self.assertTrue(web.service_ids)
