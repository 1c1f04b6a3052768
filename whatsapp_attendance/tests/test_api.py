import base64
import json

from odoo.exceptions import AccessError, ValidationError
from odoo.tests import tagged

from odoo.addons.bus.models.bus import channel_with_db, json_dump

from .common import OGG_B64, PNG_B64, WhatsappCase


@tagged('post_install', '-at_install')
class TestIngestApi(WhatsappCase):

    def test_replaying_a_batch_changes_nothing_and_returns_same_ids(self):
        batch = [self.inbound(wa_id='5511911110001', text="one"), self.inbound(wa_id='5511911110002', text="two")]
        first = self.receive(*batch)
        counts = {model: self.env[model].search_count([])
                  for model in ('whatsapp.message', 'mail.message', 'whatsapp.service', 'res.partner')}
        second = self.receive(*batch)
        self.assertEqual([r['message_id'] for r in first], [r['message_id'] for r in second])
        self.assertEqual([r['service_id'] for r in first], [r['service_id'] for r in second])
        self.assertEqual([r['duplicate'] for r in second], [True, True])
        for model, count in counts.items():
            self.assertEqual(self.env[model].search_count([]), count, f"replay created a {model}")

    def test_inbound_message_is_pushed_live_to_the_channel_as_the_customer(self):
        self.env.cr.precommit.run()  # flush what setUp queued on the bus
        result = self.receive(self.inbound(wa_id='5511911110009', text="Is my order on its way?", name="Rita"))[0]
        service = self.service_of(result)
        message = self.env['whatsapp.message'].browse(result['message_id']).mail_message_id
        self.assertEqual(message.author_id, service.partner_id, "posted as the customer")
        self.env.cr.precommit.run()  # what Odoo does at commit: write the bus notifications
        notifications = self.env['bus.bus'].sudo().search([
            ('channel', '=', json_dump(channel_with_db(self.env.cr.dbname, service.channel_id))),
        ])
        pushed = [json.loads(n.message) for n in notifications]
        new_messages = [n for n in pushed if n['type'] == 'whatsapp.channel/new_messages']
        self.assertEqual(len(new_messages), 1, "Discuss receives the message live, once")
        self.assertEqual(new_messages[0]['payload']['message_ids'], [message.id])
        self.assertIn("Is my order on its way?", json.dumps(new_messages[0]['payload']))

    def test_duplicate_inside_one_batch_is_stored_once(self):
        item = self.inbound(wa_id='5511911110003')
        results = self.receive(item, dict(item))
        self.assertEqual(results[0]['message_id'], results[1]['message_id'])
        self.assertEqual(self.env['whatsapp.message'].search_count([('wamid', '=', item['wamid'])]), 1)

    def test_bad_field_is_named_and_nothing_is_written(self):
        good = self.inbound(wa_id='5511911110004', text="fine")
        bad = self.inbound(wa_id='55-11-bad', text="broken")
        before = self.env['whatsapp.message'].search_count([])
        with self.assertRaisesRegex(ValidationError, r"messages\[1\]\.from\.wa_id"):
            self.receive(good, bad)
        self.assertEqual(self.env['whatsapp.message'].search_count([]), before)
        self.assertFalse(self.env['res.partner'].search([('whatsapp_phone', '=', '+5511911110004')]))

    def test_errors_name_each_bad_field(self):
        cases = [
            ({'v': 2}, r"messages\[0\]\.v"),
            ({'type': 'hologram'}, r"messages\[0\]\.type"),
            ({'account': 'nope'}, r"messages\[0\]\.account: unknown WhatsApp account"),
            ({'type': 'image', 'media': {'mimetype': 'image/png', 'data': '@@not base64@@'}},
             r"messages\[0\]\.media\.data"),
            ({'type': 'location', 'location': {'latitude': 123, 'longitude': 0}}, r"messages\[0\]\.location\.latitude"),
            ({'timestamp': 'yesterday'}, r"messages\[0\]\.timestamp"),
            ({'type': 'location', 'location': {'latitude': 1, 'longitude': 2, 'name': 42}},
             r"messages\[0\]\.location\.name: expected a string"),
            ({'type': 'image', 'media': {'mimetype': 'image/png', 'data': 'iVBO', 'caption': ['x']}},
             r"messages\[0\]\.media\.caption: expected a string"),
            ({'type': 'contacts', 'contacts': [{'name': 'Rita', 'phones': [5511]}]},
             r"messages\[0\]\.contacts\[0\]\.phones\[0\]: expected a string"),
            ({'type': 'system', 'system': "changed number"}, r"messages\[0\]\.system: expected an object"),
            ({'type': 'system', 'system': {'type': 'user_changed_number', 'new_wa_id': '+55 11'}},
             r"messages\[0\]\.system\.new_wa_id"),
            ({'context': {'wamid': 'wamid.X', 'forwarded': 'yes'}}, r"messages\[0\]\.context\.forwarded"),
        ]
        for change, pattern in cases:
            item = self.inbound(wa_id='5511911110005')
            item.update(change)
            with self.subTest(change=change), self.assertRaisesRegex(ValidationError, pattern):
                self.receive(item)
        with self.assertRaisesRegex(ValidationError, "messages: must not be empty"):
            self.api.ingest_messages([])

    def test_only_the_bridge_group_may_call(self):
        with self.assertRaises(AccessError):
            self.env['whatsapp.api'].with_user(self.attendant).ingest_messages([self.inbound()])
        self.assertEqual(self.api.contract_info()['version'], 1)

    def test_media_voice_location_contacts(self):
        image = self.inbound(wa_id='5511911110006', mtype='image',
                             media={'mimetype': 'image/png', 'data': PNG_B64, 'caption': 'my receipt'},
                             text='my receipt')
        voice = self.inbound(wa_id='5511911110006', mtype='audio',
                             media={'mimetype': 'audio/ogg; codecs=opus', 'data': OGG_B64, 'voice': True})
        location = self.inbound(wa_id='5511911110006', mtype='location',
                                location={'latitude': -23.55, 'longitude': -46.63, 'name': 'Paulista'})
        contacts = self.inbound(wa_id='5511911110006', mtype='contacts',
                                contacts=[{'name': 'Rita', 'phones': ['+55 11 3333-4444'], 'emails': ['r@x.com']}])
        results = self.receive(image, voice, location, contacts)
        messages = self.env['whatsapp.message'].browse([r['message_id'] for r in results])
        img, audio, loc, card = messages
        self.assertEqual(img.message_type, 'image')
        self.assertEqual(base64.b64decode(img.attachment_id.datas), base64.b64decode(PNG_B64))
        self.assertIn(img.attachment_id, img.mail_message_id.attachment_ids)
        self.assertIn('my receipt', img.mail_message_id.body)
        self.assertTrue(audio.is_voice)
        self.assertTrue(audio.attachment_id.voice_ids, "Discuss shows an audio player for voice notes")
        self.assertIn('openstreetmap.org/?mlat=-23.55&amp;mlon=-46.63', loc.mail_message_id.body)
        self.assertIn('Paulista', loc.mail_message_id.body)
        self.assertIn('Rita', card.mail_message_id.body)
        self.assertIn('+55 11 3333-4444', card.mail_message_id.body)
        # all four in the same service, posted as the customer
        self.assertEqual(len({r['service_id'] for r in results}), 1)
        self.assertEqual(messages.mail_message_id.author_id, messages.partner_id)

    def test_sticker_video_document_unsupported_button_reply_and_number_change(self):
        wa_id = '5511911110020'
        items = [
            self.inbound(wa_id=wa_id, mtype='sticker', media={'mimetype': 'image/webp', 'data': PNG_B64}),
            self.inbound(wa_id=wa_id, mtype='video',
                         media={'mimetype': 'video/mp4', 'data': base64.b64encode(b'mp4 bytes').decode(),
                                'caption': 'the noise it makes'}),
            self.inbound(wa_id=wa_id, mtype='document',
                         media={'mimetype': 'application/pdf', 'data': base64.b64encode(b'%PDF-1.4').decode(),
                                'filename': 'invoice-0042.pdf'}),
            self.inbound(wa_id=wa_id, mtype='unsupported',
                         errors=[{'code': 131051, 'title': 'Message type unknown',
                                  'message': 'Message type is currently not supported.'}]),
            self.inbound(wa_id=wa_id, mtype='interactive',
                         interactive={'id': 'menu:orders', 'title': 'My orders'}),
            self.inbound(wa_id=wa_id, mtype='system',
                         system={'type': 'user_changed_number', 'new_wa_id': '5511912340099'}),
        ]
        items[-1]['text'] = 'Maria changed their phone number'  # the bridge passes Meta's system body as text
        results = self.receive(*items)
        sticker, video, document, unsupported, button, system = self.env['whatsapp.message'].browse(
            [r['message_id'] for r in results])
        self.assertEqual([m.message_type for m in (sticker, video, document, unsupported, button, system)],
                         ['sticker', 'video', 'document', 'unsupported', 'interactive', 'system'])
        self.assertEqual(sticker.attachment_id.mimetype, 'image/webp')
        self.assertEqual(base64.b64decode(video.attachment_id.datas), b'mp4 bytes')
        self.assertIn('the noise it makes', video.mail_message_id.body)
        self.assertEqual(document.attachment_id.name, 'invoice-0042.pdf')
        self.assertIn(document.attachment_id, document.mail_message_id.attachment_ids)
        self.assertIn('not supported', unsupported.mail_message_id.body, "the attendant sees why it is missing")
        self.assertIn('My orders', button.mail_message_id.body)
        service = self.service_of(results[0])
        self.assertFalse(service.rating_ids, "a button reply that is not a rating rates nothing")
        self.assertEqual(service.partner_id.whatsapp_phone, '+5511912340099', "the customer's new number")
        self.assertIn('changed their phone number', system.mail_message_id.body)
        self.assertEqual(len({r['service_id'] for r in results}), 1)

    def test_reaction_and_reply_context(self):
        service = self.open_service('5511911110007', attendant=self.attendant)
        reply = self.post_as(self.attendant, service, body="Your order ships today").sudo()
        outbound = self.env['whatsapp.message'].search([('mail_message_id', '=', reply.id)])
        self.api.report_send_results([{'v': 1, 'message_id': outbound.id, 'state': 'sent', 'wamid': 'wamid.OUT7'}])
        react = self.inbound(wa_id='5511911110007', mtype='reaction', reaction={'wamid': 'wamid.OUT7', 'emoji': '👍'})
        self.receive(react)
        self.assertEqual(reply.reaction_ids.mapped('content'), ['👍'])
        self.assertEqual(reply.reaction_ids.partner_id, service.partner_id)
        unreact = self.inbound(wa_id='5511911110007', mtype='reaction', reaction={'wamid': 'wamid.OUT7', 'emoji': ''})
        self.receive(unreact)
        self.assertFalse(reply.reaction_ids, "a removed reaction disappears from Discuss")
        answer = self.inbound(wa_id='5511911110007', text="great, thanks", context={'wamid': 'wamid.OUT7'})
        result = self.receive(answer)[0]
        message = self.env['whatsapp.message'].browse(result['message_id'])
        self.assertEqual(message.mail_message_id.parent_id, reply, "a WhatsApp reply is a reply in Discuss")

    def test_statuses_never_move_backwards(self):
        service = self.open_service('5511911110008', attendant=self.attendant)
        post = self.post_as(self.attendant, service)
        message = self.env['whatsapp.message'].search([('mail_message_id', '=', post.id)])
        self.assertEqual(message.state, 'queued')
        self.api.report_send_results([{'v': 1, 'message_id': message.id, 'state': 'sent', 'wamid': 'wamid.S8'}])
        self.assertEqual(message.state, 'sent')

        def status(value, **extra):
            return dict({'v': 1, 'account': self.account.phone_number_id, 'wamid': 'wamid.S8',
                         'status': value, 'timestamp': 1767225700}, **extra)

        results = self.api.ingest_statuses([status('read'), status('delivered'), status('sent')])
        self.assertEqual([r['result'] for r in results], ['applied', 'ignored', 'ignored'])
        self.assertEqual(message.state, 'read')
        self.assertTrue(message.delivered_at and message.read_at, "read implies delivered")
        failed = self.api.ingest_statuses([status('failed', error={'code': 131026, 'message': 'x'})])
        self.assertEqual(failed[0]['result'], 'ignored', "a read message does not become failed")
        self.assertEqual(message.state, 'read')
        unknown = self.api.ingest_statuses([dict(status('delivered'), wamid='wamid.nobody')])
        self.assertEqual(unknown[0]['result'], 'unknown')

    def test_failed_send_result_has_readable_reason_and_tells_attendants(self):
        service = self.open_service('5511911110009', attendant=self.attendant)
        post = self.post_as(self.attendant, service)
        message = self.env['whatsapp.message'].search([('mail_message_id', '=', post.id)])
        self.api.report_send_results([{'v': 1, 'message_id': message.id, 'state': 'failed',
                                       'error': {'code': 131047, 'message': 'Re-engagement message'}}])
        self.assertEqual(message.state, 'failed')
        self.assertEqual(message.error_code, 131047)
        self.assertIn('24 hours', message.error_message)
        last = service.channel_id.message_ids[0]
        self.assertIn('24 hours', last.body)
        with self.assertRaisesRegex(ValidationError, r"results\[0\]\.message_id"):
            self.api.report_send_results([{'v': 1, 'message_id': 99999999, 'state': 'sent', 'wamid': 'w'}])
        with self.assertRaisesRegex(ValidationError, r"results\[0\]\.error"):
            self.api.report_send_results([{'v': 1, 'message_id': message.id, 'state': 'failed'}])

    def test_read_attachment_and_session_state(self):
        service = self.open_service('5511911110010', attendant=self.attendant)
        attachment = self.env['ir.attachment'].create({
            'name': 'invoice.pdf', 'datas': base64.b64encode(b'%PDF-1.4 demo'), 'mimetype': 'application/pdf',
            'res_model': 'discuss.channel', 'res_id': service.channel_id.id})
        post = self.post_as(self.attendant, service, body="", attachment_ids=attachment.ids)
        message = self.env['whatsapp.message'].search([('mail_message_id', '=', post.id)])
        self.assertEqual(message.message_type, 'document')
        data = self.api.read_attachment({'v': 1, 'message_id': message.id})
        self.assertEqual(base64.b64decode(data['data']), b'%PDF-1.4 demo')
        self.assertEqual(data['mimetype'], 'application/pdf')
        with self.assertRaisesRegex(ValidationError, "request.message_id"):
            self.api.read_attachment({'v': 1, 'message_id': 99999999})

        web = self.env['whatsapp.account'].create({'name': 'Web', 'provider': 'web', 'phone_number_id': 'sess-1'})
        state = self.api.report_session_state({'v': 1, 'account': 'sess-1', 'state': 'pairing', 'qr': '2@abc,def'})
        self.assertEqual(state, {'account_id': web.id, 'state': 'pairing'})
        self.assertTrue(web.session_qr_image, "the QR code is rendered for the admin to scan")
        self.api.report_session_state({'v': 1, 'account': 'sess-1', 'state': 'connected'})
        self.assertFalse(web.session_qr)
        with self.assertRaisesRegex(ValidationError, r"session\.qr"):
            self.api.report_session_state({'v': 1, 'account': 'sess-1', 'state': 'pairing'})
