import re

from odoo.tests import HttpCase, tagged

from odoo.addons.whatsapp_attendance import contract

from .common import WhatsappCase


@tagged('post_install', '-at_install')
class TestRating(WhatsappCase):

    def _rating_request(self, service):
        return service.whatsapp_message_ids.filtered(lambda m: m.message_type == 'interactive')

    def test_finish_sends_one_rating_request_with_link_and_buttons(self):
        for reason, finish in (('attendant', lambda s: s.with_user(self.attendant).action_finish()),
                               ('timeout', lambda s: s._finish('timeout')),
                               ('customer', lambda s: self.receive(self.inbound(
                                   wa_id=s.partner_id.whatsapp_phone[1:], text='#fim')))):
            with self.subTest(reason=reason):
                service = self.open_service(f'55119444400{len(reason)}', attendant=self.attendant)
                finish(service)
                self.assertEqual(service.end_reason, reason)
                request = self._rating_request(service)
                self.assertEqual(len(request), 1, "exactly one rating request")
                self.assertEqual(request.state, 'queued')
                token = service.rating_ids.access_token
                self.assertIn(f"/rate/{token}/5", request.body)
                self.assertEqual(request.body.count("/rate/"), 1, "the link once, no footnote copy")
                self.assertNotIn("[1]", request.body)
                self.assertEqual([b['id'] for b in request.buttons],
                                 [contract.rating_button_id(token, score) for score in (5, 3, 1)])
                contract.validate_outbound_job(request._outbound_payload())
                service._finish('timeout')   # finishing twice asks nothing more
                self.assertEqual(len(self._rating_request(service)), 1)

    def test_rating_text_setting_and_portuguese_default(self):
        self.env['ir.config_parameter'].sudo().set_param(
            'whatsapp_attendance.rating_text', "Rate {service}, {name}: {link}")
        service = self.open_service('5511944440101', attendant=self.attendant)
        service.with_user(self.attendant).action_finish()
        body = self._rating_request(service).body
        self.assertTrue(body.startswith(f"Rate {service.name}, {service.partner_id.name}: http"), body)

        self.env['ir.config_parameter'].sudo().set_param('whatsapp_attendance.rating_text', False)
        self.env['res.lang']._activate_lang('pt_BR')
        self.env['ir.module.module']._load_module_terms(['whatsapp_attendance'], ['pt_BR'], overwrite=True)
        service = self.open_service('5511944440102', attendant=self.attendant)
        service.partner_id.lang = 'pt_BR'
        service.with_user(self.attendant).action_finish()
        request = self._rating_request(service)
        self.assertIn("Como você avalia nosso atendimento", request.body)
        self.assertEqual(request.buttons[0]['title'], "😊 Satisfeito")

    def test_rating_button_reply_lands_on_its_own_service(self):
        old = self.open_service('5511944440103', attendant=self.attendant)
        old.with_user(self.attendant).action_finish()
        token = old.rating_ids.access_token
        # the customer opened a new service since, then answers the old rating request
        new = self.service_of(self.receive(self.inbound(wa_id='5511944440103', text="another question"))[0])
        reply = self.inbound(wa_id='5511944440103', mtype='interactive',
                             interactive={'id': contract.rating_button_id(token, 3), 'title': "😐 Okay"})
        result = self.receive(reply)[0]
        self.assertEqual(result['service_id'], old.id)
        self.assertEqual(old.rating_last_value, 3)
        self.assertEqual(new.state, 'waiting')
        self.assertFalse(new.rating_ids)
        self.assertEqual(self.env['whatsapp.service'].search_count([('partner_id', '=', old.partner_id.id)]), 2)


@tagged('post_install', '-at_install')
class TestRatingPage(HttpCase):

    def test_public_rating_page_stores_score_and_comment(self):
        account = self.env['whatsapp.account'].create({'name': 'Web rating', 'phone_number_id': 'pnid-rating-page'})
        api = self.env['whatsapp.api'].with_user(self.env.ref('whatsapp_attendance.user_whatsapp_bridge'))
        result = api.ingest_messages([{
            'v': 1, 'account': 'pnid-rating-page', 'wamid': 'wamid.rating-page', 'timestamp': 1767225600,
            'from': {'wa_id': '5511955550001', 'name': 'Rita'}, 'type': 'text', 'text': 'hello'}])[0]
        service = self.env['whatsapp.service'].browse(result['service_id'])
        service._finish('attendant')
        request = service.whatsapp_message_ids.filtered(lambda m: m.message_type == 'interactive')
        link = re.search(r"https?://\S+/rate/(\S+)/5", request.body)
        self.assertTrue(link, request.body)
        token = link.group(1)

        page = self.url_open(f"/rate/{token}/5")
        self.assertEqual(page.status_code, 200)
        self.assertIn("Thank you for rating our services", page.text)
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        self.assertTrue(csrf, "the page has a feedback form")
        submitted = self.url_open(f"/rate/{token}/submit_feedback",
                                  data={'rate': 1, 'feedback': "Took too long", 'csrf_token': csrf.group(1)})
        self.assertEqual(submitted.status_code, 200)
        self.assertEqual(service.rating_last_value, 1)
        self.assertEqual(service.rating_last_feedback, "Took too long")
        self.assertEqual(account, service.account_id)
