import base64
import itertools
import json
import os
import uuid
from unittest.mock import patch

import redis

from odoo import Command
from odoo.sql_db import TestCursor
from odoo.tests import TransactionCase, new_test_user

from odoo.addons.bus.websocket import WebsocketConnectionHandler
from odoo.addons.whatsapp_attendance import contract

REDIS_URL = os.environ.get('WA_REDIS_URL', 'redis://127.0.0.1:6379/0')
# a 1x1 PNG and a few bytes of Ogg/Opus, as WhatsApp sends them
PNG_B64 = ("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==")
OGG_B64 = base64.b64encode(b"OggS\x00\x02" + b"\x00" * 40 + b"OpusHead").decode()

_wamids = itertools.count(1)
# the customer of the tests that need just one: a number the demo data do not have (their Maria
# Souza is 5511987654321, with a service waiting)
CUSTOMER_WA_ID = '5511976540001'


class WhatsappCase(TransactionCase):
    """Accounts, attendants and a private Redis stream prefix for each test class."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.prefix = f"test-{uuid.uuid4().hex[:10]}:"
        cls.stamp = uuid.uuid4().hex[:6]  # for the names a database may hold already (demo data)
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
    def inbound(cls, wa_id=CUSTOMER_WA_ID, text='hello', name='Maria', mtype='text', **extra):
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

    def open_service(self, wa_id=CUSTOMER_WA_ID, attendant=None):
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


def remove_other_services(env):
    """Start from no service at all, for the tests of exact figures over every service (the
    dashboard, the queue): a database with demo data has its customers waiting already. Deleted
    inside the test's transaction, which rolls back; called before the test creates its own."""
    env['whatsapp.service'].sudo().search([]).unlink()


def populate_every_kind(env, account_key, attendant, colleague, routing=True):
    """Services of every state and messages of every kind, as a busy day leaves them.

    With ``routing``, also menus (a two-level one, every kind of option), a customer answering the
    menu, a working calendar with a public holiday, and a service asked "are you still there?".

    Waiting, in progress (with ``attendant`` and with ``colleague``), done and rated (with feedback),
    done by timeout; inbound text, image, voice note, video, document, sticker, location, contacts,
    reaction, reply button, unsupported (a file WhatsApp no longer has), a number change; outbound
    replies sent, delivered, read and one failed with Meta's reason. Returns the services by state.
    """
    api = env['whatsapp.api'].with_user(env.ref('whatsapp_attendance.user_whatsapp_bridge'))
    stamp = uuid.uuid4().hex[:6]
    count = itertools.count(1)

    def item(wa_id, mtype='text', name=None, **extra):
        payload = {'v': 1, 'account': account_key, 'wamid': f"wamid.every-{stamp}-{next(count)}",
                   'timestamp': 1767225600 + next(count),
                   'from': {'wa_id': wa_id, 'name': name or f"Cliente {wa_id[-4:]}"},
                   'type': mtype}
        if mtype == 'text':
            payload['text'] = extra.pop('text', "Olá, preciso de ajuda")
        payload.update(extra)
        return payload

    def service_of(results):
        return env['whatsapp.service'].browse(results[0]['service_id'])

    pdf = base64.b64encode(b'%PDF-1.4 invoice').decode()
    media_customer = '5511970001001'
    first = item(media_customer, text="Bom dia! Segue a foto do pedido", name="Maria Every")
    in_progress = service_of(api.ingest_messages([
        first,
        item(media_customer, 'image', media={'mimetype': 'image/png', 'data': PNG_B64, 'caption': 'o pedido'}),
        item(media_customer, 'audio', media={'mimetype': 'audio/ogg; codecs=opus', 'data': OGG_B64, 'voice': True}),
        item(media_customer, 'video', media={'mimetype': 'video/mp4', 'data': base64.b64encode(b'mp4').decode()}),
        item(media_customer, 'document', media={'mimetype': 'application/pdf', 'data': pdf, 'filename': 'nota.pdf'}),
        item(media_customer, 'sticker', media={'mimetype': 'image/webp', 'data': PNG_B64}),
        item(media_customer, 'location', location={'latitude': -23.55, 'longitude': -46.63, 'name': 'Loja',
                                                     'address': 'Av. Paulista'}),
        item(media_customer, 'contacts', contacts=[{'name': 'João', 'phones': ['+55 21 91234-5678'], 'emails': []}]),
        item(media_customer, 'reaction', reaction={'wamid': first['wamid'], 'emoji': '👍'}),
        item(media_customer, 'unsupported', text="foto da caixa", errors=[
            {'code': 131052, 'title': 'Media unavailable', 'message': 'could not be downloaded'}]),
    ]))
    in_progress.with_user(attendant).action_take()
    channel = in_progress.channel_id.with_user(attendant)
    for body in ("Olá Maria, já verifico.", "Pode confirmar o endereço?", "Obrigada!", "Enviado"):
        channel.message_post(body=body, message_type='comment', subtype_xmlid='mail.mt_comment')
    outbound = in_progress.whatsapp_message_ids.filtered(lambda m: m.direction == 'outbound').sorted('id')
    for message, state in zip(outbound, ('sent', 'delivered', 'read'), strict=False):
        message.sudo().write({'wamid': f"wamid.out-{stamp}-{message.id}"})
        message.sudo()._apply_status(state)
    outbound[-1].sudo()._apply_status('failed', error={'code': 131047, 'message': 'Re-engagement message'})

    colleague_service = service_of(api.ingest_messages([item('5511970001002', text="Oi, e o boleto?")]))
    colleague_service.with_user(colleague).action_take()

    waiting = service_of(api.ingest_messages([item('5511970001003', text="Alguém aí?"),
                                              item('5511970001003', 'system', text="mudou de número",
                                                   system={'type': 'user_changed_number'})]))

    rated = service_of(api.ingest_messages([item('5511970001004', text="Quero trocar um produto")]))
    rated.with_user(attendant).action_take()
    rated.channel_id.with_user(attendant).message_post(body="Claro!", message_type='comment',
                                                       subtype_xmlid='mail.mt_comment')
    rated.with_user(attendant).action_finish()
    request = rated.whatsapp_message_ids.filtered(lambda m: m.message_type == 'interactive')
    api.ingest_messages([item('5511970001004', 'interactive',
                              interactive={'id': request.buttons[0]['id'], 'title': request.buttons[0]['title']})])
    rated.rating_ids.sudo().write({'feedback': "Atendimento rápido"})

    timed_out = service_of(api.ingest_messages([item('5511970001005', text="ok")]))
    timed_out.with_user(attendant).action_take()
    timed_out._finish('timeout')

    # two teams: the waiting customer in the Sales queue, whose automatic assignment finds nobody
    # online (the service says why), and a colleague's service of the Support team
    Team = env['whatsapp.team']
    sales = Team.create({'name': f"Vendas {stamp}", 'color': 2, 'auto_assign': True, 'member_ids': [attendant.id],
                         'greeting': "Olá! Um vendedor já vai atender você."})
    support = Team.create({'name': f"Suporte {stamp}", 'color': 4, 'member_ids': [colleague.id]})
    waiting._whatsapp_set_team(sales)
    colleague_service.team_id = support
    services = {'waiting': waiting, 'in_progress': in_progress | colleague_service, 'done': rated | timed_out,
                'teams': sales | support}
    if not routing:
        return services

    # the menu before the human: a two-level menu (every kind of option), a customer answering it,
    # business hours with a public holiday, and an "are you still there?" asked
    billing = env['whatsapp.menu'].create({'name': f"Financeiro {stamp}", 'body': "Sobre o quê?", 'option_ids': [
        Command.create({'name': "Segunda via", 'action': 'answer', 'answer': "Segue o boleto.",
                        'answer_file': pdf, 'answer_filename': 'boleto.pdf'}),
        Command.create({'name': "Falar com alguém", 'action': 'human'}),
    ]})
    menu = env['whatsapp.menu'].create({'name': f"Principal {stamp}", 'body': "Olá! Como podemos ajudar?",
                                        'option_ids': [
        Command.create({'name': "Comprar", 'action': 'team', 'team_id': sales.id}),
        Command.create({'name': "Boletos", 'action': 'submenu', 'submenu_id': billing.id}),
        Command.create({'name': "Horário", 'action': 'answer', 'answer': "Das 8h às 18h."}),
        Command.create({'name': "Atendente", 'description': "Uma pessoa responde", 'action': 'human'}),
    ]})
    calendar = env['resource.calendar'].create({'name': f"Atendimento {stamp}", 'tz': 'America/Sao_Paulo'})
    env['resource.calendar.leaves'].create({'name': "Natal", 'calendar_id': calendar.id,
                                            'date_from': '2026-12-25 03:00:00', 'date_to': '2026-12-26 02:59:59'})
    account = env['whatsapp.account'].search([('phone_number_id', '=', account_key)])
    account.write({'menu_id': menu.id, 'out_of_hours_message': "Estamos fechados; abrimos {opening}."})
    with_menu = service_of(api.ingest_messages([item('5511970001006', text="Oi")]))
    api.ingest_messages([item('5511970001006', text="2")])  # the sub-menu
    account.menu_id = False
    idle = service_of(api.ingest_messages([item('5511970001007', text="Obrigado")]))
    idle.with_user(attendant).action_take()
    idle._send_idle_warning()
    services['in_progress'] |= idle
    return dict(services, with_menu=with_menu, calendar=calendar)


def enable_live_bus(case_class):
    """For browser tests about what the server pushes live (HttpCase ``setUpClass``): Odoo turns
    the websocket off in tests unless asked (as its own ``WebsocketCase`` does), and a test cursor
    skips post-commit hooks, where the bus notifies the browsers: run them, as a real commit does."""
    case_class.startClassPatcher(patch.object(WebsocketConnectionHandler, "websocket_allowed", return_value=True))
    commit = TestCursor.commit

    def commit_with_postcommit(cr):
        cr.flush()
        cr.postcommit.run()
        return commit(cr)

    case_class.startClassPatcher(patch.object(TestCursor, 'commit', commit_with_postcommit))
