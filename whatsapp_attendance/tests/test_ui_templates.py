import json
from datetime import timedelta

import redis

from odoo import Command, fields
from odoo.tests import HttpCase, new_test_user, tagged

from odoo.addons.whatsapp_attendance import contract

from .common import REDIS_URL, enable_live_bus

PREFIX = 'test-tour-templates:'
ACCOUNT = 'pnid-tour-templates'


@tagged('post_install', '-at_install')
class TestTemplateTour(HttpCase):
    """A customer silent for 25 hours: the attendant sees why only a template goes, picks one and
    sends it; the job for the bridge is in the Redis stream."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # the sent template shows up in the conversation over the bus, and the job reaches Redis in a
        # post-commit hook: both as after a real commit
        enable_live_bus(cls)
        params = cls.env['ir.config_parameter'].sudo()
        params.set_param('whatsapp_attendance.redis_url', REDIS_URL)
        params.set_param('whatsapp_attendance.stream_prefix', PREFIX)
        cls.redis = redis.Redis.from_url(REDIS_URL)
        cls._clean()
        cls.account = cls.env['whatsapp.account'].create({'name': "Template tour", 'phone_number_id': ACCOUNT})
        cls.ana = new_test_user(cls.env, login='wa_tpl_ana', name="Ana Template",
                                groups='whatsapp_attendance.group_whatsapp_attendant')
        Template = cls.env['whatsapp.template']
        cls.template = Template.create({
            'name': 'retomar_atendimento', 'language': 'pt_BR', 'account_id': cls.account.id,
            'body': "Olá {{1}}! Sobre o atendimento {{2}}: {{3}} pode continuar quando você quiser.",
            'variable_ids': [Command.create({'number': 1, 'value': 'customer_name', 'sample': 'Maria'}),
                             Command.create({'number': 2, 'value': 'service_reference', 'sample': 'WA/1'}),
                             Command.create({'number': 3, 'value': 'attendant_name', 'sample': 'Ana'})],
            'button_ids': [Command.create({'name': "Sim, continuar"})],
        })
        cls.template._apply_template_state('approved')
        english = Template.create({'name': 'resume_service', 'language': 'en_US', 'account_id': cls.account.id,
                                   'body': "Hi {{1}}!", 'variable_ids': [
                                       Command.create({'number': 1, 'value': 'customer_name'})]})
        english._apply_template_state('approved')
        Template.create({'name': 'rascunho_nao_aprovado', 'account_id': cls.account.id, 'body': "Rascunho"})

    @classmethod
    def _clean(cls):
        keys = list(cls.redis.scan_iter(match=PREFIX + '*'))
        if keys:
            cls.redis.delete(*keys)

    @classmethod
    def tearDownClass(cls):
        cls._clean()
        super().tearDownClass()

    def test_attendant_sends_a_template_to_a_customer_silent_for_25_hours(self):
        api = self.env['whatsapp.api'].with_user(self.env.ref('whatsapp_attendance.user_whatsapp_bridge'))
        result = api.ingest_messages([{
            'v': 1, 'account': ACCOUNT, 'wamid': 'wamid.tour-templates-1', 'timestamp': 1767225600,
            'from': {'wa_id': '5511966662001', 'name': "Rita Silent"}, 'type': 'text',
            'text': "Preciso de ajuda com o pedido"}])[0]
        service = self.env['whatsapp.service'].browse(result['service_id'])
        service.partner_id.lang = 'pt_BR'
        service.with_user(self.ana).action_take()
        service.last_inbound_at = fields.Datetime.now() - timedelta(hours=25, minutes=10)
        self.assertFalse(service._window_open())
        stream = contract.stream_name(contract.STREAM_OUT, PREFIX)
        before = self.redis.xlen(stream)

        self.start_tour(f'/odoo/discuss?active_id=discuss.channel_{service.channel_id.id}',
                        'whatsapp_attendance_template_tour', login='wa_tpl_ana')

        outbound = service.whatsapp_message_ids.filtered(lambda m: m.direction == 'outbound')
        self.assertEqual(outbound.mapped('message_type'), ['template'], "only the template went; the free-form "
                                                                        "message was refused")
        self.assertEqual(outbound.attendant_id, self.ana)
        jobs = [json.loads(fields_[b'payload']) for _id, fields_ in self.redis.xrange(stream)][before:]
        self.assertEqual(len(jobs), 1, "one job for the bridge")
        job = contract.validate_outbound_job(jobs[0])
        self.assertEqual((job['type'], job['message_id'], job['account']), ('template', outbound.id, ACCOUNT))
        self.assertEqual(job['to']['wa_id'], '5511966662001')
        self.assertEqual(job['template']['name'], 'retomar_atendimento')
        self.assertEqual(job['template']['language'], 'pt_BR')
        self.assertEqual(job['template']['body_parameters'], ["Rita Silent", service.name, "Ana Template"])
        self.assertEqual(len(job['template']['button_payloads']), 1)
        self.assertEqual(job['text'], f"Olá Rita Silent! Sobre o atendimento {service.name}: Ana Template pode "
                                      f"continuar quando você quiser.")
