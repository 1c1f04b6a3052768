import base64
import itertools
import json
import os
import uuid

import redis

from odoo.tests import TransactionCase, new_test_user

from odoo.addons.whatsapp_attendance import contract

REDIS_URL = os.environ.get('WA_REDIS_URL', 'redis://127.0.0.1:6379/0')
# a 1x1 PNG and a few bytes of Ogg/Opus, as WhatsApp sends them
PNG_B64 = ("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==")
OGG_B64 = base64.b64encode(b"OggS\x00\x02" + b"\x00" * 40 + b"OpusHead").decode()

_wamids = itertools.count(1)


class WhatsappCase(TransactionCase):
    """Accounts, attendants and a private Redis stream prefix for each test class."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.prefix = f"test-{uuid.uuid4().hex[:10]}:"
        params = cls.env['ir.config_parameter'].sudo()
        params.set_param('whatsapp_attendance.redis_url', REDIS_URL)
        params.set_param('whatsapp_attendance.stream_prefix', cls.prefix)
        params.set_param('whatsapp_attendance.default_country_code', 'BR')
        cls.account = cls.env['whatsapp.account'].create({
            'name': "Support", 'phone_number_id': f"pnid-{uuid.uuid4().hex[:8]}",
        })
        cls.attendant = new_test_user(cls.env, login='wa_ana', name="Ana",
                                      groups='whatsapp_attendance.group_whatsapp_attendant')
        cls.attendant_b = new_test_user(cls.env, login='wa_bruno', name="Bruno",
                                        groups='whatsapp_attendance.group_whatsapp_attendant')
        cls.wa_admin = new_test_user(cls.env, login='wa_admin', name="Wanda Admin",
                                     groups='whatsapp_attendance.group_whatsapp_admin')
        cls.bridge = cls.env.ref('whatsapp_attendance.user_whatsapp_bridge')
        cls.api = cls.env['whatsapp.api'].with_user(cls.bridge)
        cls.redis = redis.Redis.from_url(REDIS_URL)

    @classmethod
    def tearDownClass(cls):
        keys = list(cls.redis.scan_iter(match=cls.prefix + '*'))
        if keys:
            cls.redis.delete(*keys)
        super().tearDownClass()

    # ------------------------------------------------------------------
    @classmethod
    def inbound(cls, wa_id='5511987654321', text='hello', name='Maria', mtype='text', **extra):
        item = {
            'v': 1, 'account': cls.account.phone_number_id, 'wamid': f"wamid.T{next(_wamids)}.{uuid.uuid4().hex[:6]}",
            'timestamp': 1767225600, 'from': {'wa_id': wa_id, 'name': name}, 'type': mtype,
        }
        if mtype == 'text':
            item['text'] = text
        item.update(extra)
        return item

    def receive(self, *items):
        return self.api.ingest_messages(list(items))

    def service_of(self, result):
        return self.env['whatsapp.service'].browse(result['service_id'])

    def open_service(self, wa_id='5511987654321', attendant=None):
        service = self.service_of(self.receive(self.inbound(wa_id=wa_id))[0])
        if attendant:
            service.with_user(attendant).action_take()
        return service

    def post_as(self, user, service, body='Hello from Odoo', **kwargs):
        channel = service.channel_id.with_user(user)
        return channel.message_post(body=body, message_type='comment', subtype_xmlid='mail.mt_comment', **kwargs)

    def stream_entries(self, base=contract.STREAM_OUT):
        entries = self.redis.xrange(contract.stream_name(base, self.prefix))
        return [json.loads(fields[b'payload']) for _id, fields in entries]
