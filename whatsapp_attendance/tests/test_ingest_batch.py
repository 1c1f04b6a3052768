import json
from datetime import timedelta
from unittest.mock import patch

from markupsafe import Markup

from odoo import fields
from odoo.tests import tagged

from odoo.addons.mail.tools.discuss import Store
from odoo.addons.whatsapp_attendance import contract
from odoo.addons.whatsapp_attendance.models.discuss_channel import NEW_MESSAGES, POST_INTERNAL

from .common import OGG_B64, PNG_B64, WhatsappCase

# what message_post and the batched path may differ in: the record itself and when it was written
VOLATILE = {'id', 'date', 'create_date', 'write_date', 'message_id', 'body', 'attachment_ids',
            'reaction_ids', 'notification_ids', 'parent_id'}


@tagged('post_install', '-at_install')
class TestIngestBatch(WhatsappCase):
    """The batched ingest path (``whatsapp.api.ingest_messages``) stores and shows a batch exactly as
    Odoo's ``message_post`` of each message did: same Discuss messages, live notifications, unread
    counters, replies, reactions, files, window and routing hook; in a bounded number of queries."""

    def setUp(self):
        super().setUp()
        self.env.cr.precommit.run()  # what setUp queued on the bus
        self.env['bus.bus'].sudo().search([]).unlink()

    def _bus(self):
        self.env.cr.precommit.run()  # what Odoo does at commit: write the bus notifications
        notifications = self.env['bus.bus'].sudo().search([], order='id')
        return [(json.loads(n.channel), json.loads(n.message)) for n in notifications]

    def _two_customers(self):
        ana_customer = self.open_service('5511955550001', attendant=self.attendant)
        other = self.open_service('5511955550002', attendant=self.attendant)
        self._bus()
        self.env['bus.bus'].sudo().search([]).unlink()
        return ana_customer, other

    def test_a_message_is_stored_as_message_post_stores_it(self):
        service = self.open_service('5511955550010', attendant=self.attendant)
        channel = service.channel_id
        partner = service.partner_id
        parent = self.post_as(self.attendant, service, body="Anything else?").sudo()
        # the reference: what the per-message path posted, through Odoo's own message_post
        reference = channel.with_user(self.bridge).sudo()._whatsapp_post(
            POST_INTERNAL, author_id=partner.id, body=Markup("<p>yes, one more thing</p>"), message_type='comment',
            subtype_xmlid='mail.mt_comment', parent_id=parent.id)
        outbound = self.env['whatsapp.message'].search([('mail_message_id', '=', parent.id)])
        self.api.report_send_results([{'v': 1, 'message_id': outbound.id, 'state': 'sent', 'wamid': 'wamid.P10'}])
        result = self.receive(self.inbound(wa_id='5511955550010', text="yes, one more thing",
                                           context={'wamid': 'wamid.P10'}))[0]
        batched = self.env['whatsapp.message'].browse(result['message_id']).mail_message_id
        fields_to_compare = [name for name, field in batched._fields.items()
                             if field.store and name not in VOLATILE]
        self.maxDiff = None
        self.assertEqual({k: v for k, v in batched.read(fields_to_compare)[0].items() if k != 'id'},
                         {k: v for k, v in reference.read(fields_to_compare)[0].items() if k != 'id'})
        self.assertEqual(batched.body, reference.body)
        self.assertEqual(batched.parent_id, reference.parent_id, "a WhatsApp reply is a reply in Discuss")
        self.assertFalse(batched.notification_ids, "as message_post in a channel: members are notified by the bus")
        self.assertEqual(reference.notification_ids, batched.notification_ids)
        # Discuss gets the same data for both (the message as the client stores it)
        stored = {m['id']: m for m in Store(reference | batched).get_result()['mail.message']}
        self.assertEqual(
            {k: v for k, v in stored[batched.id].items() if k not in VOLATILE | {'thread'}},
            {k: v for k, v in stored[reference.id].items() if k not in VOLATILE | {'thread'}})
        self.assertEqual(channel.channel_member_ids.filtered(
            lambda m: m.partner_id == self.attendant.partner_id).message_unread_counter, 2)

    def test_batch_for_two_customers_one_live_notification_per_channel_in_order(self):
        first, second = self._two_customers()
        calls = []
        Service = type(self.env['whatsapp.service'])
        original = Service._whatsapp_on_inbound

        def record(service, message, new_service=False):
            calls.append((service.id, message.body, new_service))
            return original(service, message, new_service=new_service)

        texts = [('5511955550001', "a1"), ('5511955550002', "b1"), ('5511955550001', "a2"),
                 ('5511955550001', "a3"), ('5511955550002', "b2"), ('5511955550003', "c1")]
        with patch.object(Service, '_whatsapp_on_inbound', autospec=True, side_effect=record):
            results = self.receive(*[self.inbound(wa_id=wa_id, text=text) for wa_id, text in texts])
        third = self.service_of(results[-1])
        self.assertEqual([(c[0], c[1]) for c in calls],
                         [(self.service_of(r).id, text) for r, (_w, text) in zip(results, texts, strict=True)],
                         "the routing hook runs once per message, in arrival order")
        self.assertEqual([c[2] for c in calls], [False] * 5 + [True], "only the first message opened a service")
        sent = self._bus()
        for service, expected in ((first, ["a1", "a2", "a3"]), (second, ["b1", "b2"]), (third, ["c1"])):
            channel = service.channel_id
            batches = [m['payload'] for _c, m in sent if m['type'] == NEW_MESSAGES
                       and m['payload']['id'] == channel.id]
            self.assertEqual(len(batches), 1, "one live notification per channel and batch")
            ids = batches[0]['message_ids']
            self.assertEqual(ids, sorted(ids))
            self.assertEqual(self.env['mail.message'].browse(ids).mapped(
                lambda m: m.body.striptags()), expected, "every new message, in order")
            carried = {m['id'] for m in batches[0]['data']['mail.message']}
            self.assertTrue(set(ids) <= carried, "the notification carries the messages themselves")
            pinned = [m for c, m in sent if c[1:] == [channel._name, channel.id, 'members']
                      and m['type'] == 'mail.record/insert']
            self.assertEqual(len(pinned), 1, "members' sidebars pin the conversation once")
        self.assertFalse([m for _c, m in sent if m['type'] == 'discuss.channel/new_message'])
        member = first.channel_id.channel_member_ids.filtered(lambda m: m.partner_id == self.attendant.partner_id)
        self.assertEqual(member.message_unread_counter, 3, "the three of the batch (taking read the first)")
        self.assertTrue(first.channel_id.last_interest_dt)
        self.assertTrue(member.is_pinned)

    def test_queries_do_not_grow_with_the_batch(self):
        self._two_customers()

        def queries(size):
            batch = [self.inbound(wa_id=f'551195555000{1 + i % 2}', text=f"message {i}") for i in range(size)]
            self.env.flush_all()
            self.env.invalidate_all()
            before = self.env.cr.sql_log_count
            self.receive(*batch)
            self.env.flush_all()
            self.env.cr.precommit.run()
            return self.env.cr.sql_log_count - before

        queries(2)  # warm the caches (translations, parameters)
        small, large = queries(4), queries(40)
        self.assertLessEqual(large, small + 2, f"4 messages: {small} queries, 40 messages: {large}")
        self.assertLess(large, 45, "a batch of two customers costs a few dozen queries")

    def test_finish_keyword_rating_reply_and_message_after_finish_in_one_batch(self):
        service = self.open_service('5511955550020', attendant=self.attendant)
        calls = []
        Service = type(self.env['whatsapp.service'])
        with patch.object(Service, '_whatsapp_on_inbound', autospec=True,
                          side_effect=lambda s, m, new_service=False: calls.append((s.id, m.body, new_service))):
            results = self.receive(self.inbound(wa_id='5511955550020', text="thanks, that's all"),
                                   self.inbound(wa_id='5511955550020', text="#fim"),
                                   self.inbound(wa_id='5511955550020', text="oh, one more thing"))
            self.assertEqual(service.state, 'done')
            self.assertEqual(service.end_reason, 'customer')
            self.assertEqual([r['service_id'] for r in results[:2]], [service.id] * 2)
            new = self.service_of(results[2])
            self.assertNotEqual(new, service, "a message after the finish opens a new service")
            self.assertEqual(calls, [(service.id, "thanks, that's all", False), (new.id, "oh, one more thing", True)],
                             "the finish keyword never reaches the routing hook")
            token = service.rating_ids.access_token
            calls.clear()
            results = self.receive(
                self.inbound(wa_id='5511955550020', mtype='interactive',
                             interactive={'id': contract.rating_button_id(token, 5), 'title': "😊 Satisfied"}),
                self.inbound(wa_id='5511955550020', text="and my invoice?"))
        self.assertEqual(results[0]['service_id'], service.id, "a rating reply lands on its own service")
        self.assertEqual(service.rating_last_value, 5)
        self.assertEqual(results[1]['service_id'], new.id)
        self.assertEqual(calls, [(new.id, "and my invoice?", False)], "rating replies never reach the routing hook")
        members = service.channel_id.channel_member_ids
        self.assertTrue(members and all(m.unpin_dt for m in members), "the finished conversation stays unpinned")

    def test_reply_and_reaction_to_a_message_of_the_same_batch(self):
        service = self.open_service('5511955550030', attendant=self.attendant)
        first = self.inbound(wa_id='5511955550030', text="is it in stock?")
        reply = self.inbound(wa_id='5511955550030', text="the blue one", context={'wamid': first['wamid']})
        react = self.inbound(wa_id='5511955550030', mtype='reaction',
                             reaction={'wamid': first['wamid'], 'emoji': '🙏'})
        after = self.inbound(wa_id='5511955550030', text="thanks")
        results = self.receive(first, reply, react, after)
        messages = self.env['whatsapp.message'].browse([r['message_id'] for r in results])
        self.assertEqual(messages[1].mail_message_id.parent_id, messages[0].mail_message_id)
        self.assertEqual(messages[1].reply_to_wamid, first['wamid'])
        self.assertEqual(messages[2].mail_message_id, messages[0].mail_message_id, "a reaction is no message")
        self.assertEqual(messages[0].mail_message_id.reaction_ids.mapped('content'), ['🙏'])
        self.assertEqual(messages[0].mail_message_id.reaction_ids.partner_id, service.partner_id)
        self.assertEqual(len(service.channel_id.message_ids.filtered(lambda m: m.author_id == service.partner_id)),
                         4, "the opening message and three of the batch")

    def test_media_of_a_batch_open_from_the_channel(self):
        service = self.open_service('5511955550040', attendant=self.attendant)
        results = self.receive(
            self.inbound(wa_id='5511955550040', mtype='image', text='receipt',
                         media={'mimetype': 'image/png', 'data': PNG_B64, 'caption': 'receipt'}),
            self.inbound(wa_id='5511955550040', text="and a voice note"),
            self.inbound(wa_id='5511955550040', mtype='audio',
                         media={'mimetype': 'audio/ogg; codecs=opus', 'data': OGG_B64, 'voice': True}))
        image, text, voice = self.env['whatsapp.message'].browse([r['message_id'] for r in results])
        for message in (image, voice):
            attachment = message.attachment_id
            self.assertEqual((attachment.res_model, attachment.res_id), ('discuss.channel', service.channel_id.id),
                             "files belong to the conversation, as message_post leaves them")
            self.assertEqual(message.mail_message_id.attachment_ids, attachment)
        self.assertFalse(text.attachment_id)
        self.assertTrue(voice.is_voice and voice.attachment_id.voice_ids, "an audio player for the voice note")
        self.assertFalse(image.attachment_id.voice_ids)
        # a member opens them (Discuss's attachment data)
        data = Store(voice.mail_message_id).get_result()
        self.assertIn(voice.attachment_id.id, [a['id'] for a in data['ir.attachment']])

    def test_window_reopens_once_per_batch(self):
        service = self.open_service('5511955550050', attendant=self.attendant)
        self.account.provider = 'cloud_api'
        service.last_inbound_at = fields.Datetime.now() - timedelta(hours=30)
        self.assertFalse(service.window_open)
        self._bus()
        self.env['bus.bus'].sudo().search([]).unlink()
        self.receive(*[self.inbound(wa_id='5511955550050', text=f"hello {i}") for i in range(3)])
        self.assertTrue(service.window_open)
        pushed = [m for _c, m in self._bus() if m['type'] == 'mail.record/insert'
                  and any((c.get('whatsapp_service') or {}).get('id') == service.id
                          for c in m['payload'].get('discuss.channel', []))]
        self.assertEqual(len(pushed), 1, "the composer's banner goes away, once")
        self.assertTrue(pushed[0]['payload']['discuss.channel'][0]['whatsapp_service']['window_open'])

    def test_one_new_person_named_two_ways_in_a_batch_is_one_contact(self):
        results = self.receive(
            self.inbound(wa_id='5511955550060', text="hi", **{'from': {'wa_id': '5511955550060', 'user_id': 'BR.U60',
                                                                       'name': "Lu"}}),
            self.inbound(wa_id='5511955550060', text="it's me"))
        self.assertEqual(results[0]['partner_id'], results[1]['partner_id'])
        self.assertEqual(results[0]['service_id'], results[1]['service_id'])
        partner = self.env['res.partner'].browse(results[0]['partner_id'])
        self.assertEqual((partner.whatsapp_user_id, partner.whatsapp_phone), ('BR.U60', '+5511955550060'))

    def test_a_message_from_the_new_number_after_a_number_change_in_one_batch(self):
        old = self.open_service('5511955550070', attendant=self.attendant)
        change = self.inbound(wa_id='5511955550070', mtype='system', text="Maria changed their phone number",
                              system={'type': 'user_changed_number', 'new_wa_id': '5511955550071'})
        results = self.receive(self.inbound(wa_id='5511955550070', text="before"), change,
                               self.inbound(wa_id='5511955550071', text="from my new number"))
        self.assertEqual({r['partner_id'] for r in results}, {old.partner_id.id}, "still one contact")
        self.assertEqual({r['service_id'] for r in results}, {old.id})
        self.assertEqual(old.partner_id.whatsapp_phone, '+5511955550071')
