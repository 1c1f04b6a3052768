import base64
import json
import os
import socket
import subprocess
import time
from contextlib import closing
from datetime import timedelta
from unittest.mock import patch

import redis
from freezegun import freeze_time

from odoo import fields
from odoo.tests import tagged
from odoo.tools import config as odoo_config

from odoo.addons.whatsapp_attendance import contract

from .common import OGG_B64, PNG_B64, WhatsappCase


def _free_port():
    with closing(socket.socket()) as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


class RedisServer:
    """A real redis-server of the test's own, that the test can stop and start again."""

    def __init__(self):
        self.port = _free_port()
        self.process = None

    @property
    def url(self):
        return f'redis://127.0.0.1:{self.port}/0'

    def start(self):
        self.process = subprocess.Popen(
            ['redis-server', '--port', str(self.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _attempt in range(100):
            with closing(socket.socket()) as sock:
                if sock.connect_ex(('127.0.0.1', self.port)) == 0:
                    return
            time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self):
        if self.process:
            self.process.terminate()
            self.process.wait(10)
            self.process = None


@tagged('post_install', '-at_install')
class TestOutbound(WhatsappCase):

    def test_post_queues_a_record_and_reaches_redis_only_after_commit(self):
        service = self.open_service('5511933330001', attendant=self.attendant)
        self.env.cr.postcommit.run()   # the take's own hooks
        before = len(self.stream_entries())
        post = self.post_as(self.attendant, service, body="Your order left the warehouse")
        message = self.env['whatsapp.message'].search([('mail_message_id', '=', post.id)])
        self.assertEqual((message.direction, message.state, message.message_type), ('outbound', 'queued', 'text'))
        self.assertEqual(len(self.stream_entries()), before, "nothing reaches Redis before the commit")
        self.env.cr.postcommit.run()   # what Odoo runs right after COMMIT
        jobs = self.stream_entries()[before:]
        self.assertEqual(len(jobs), 1)
        job = jobs[0]
        contract.validate_outbound_job(job)
        self.assertEqual(job['message_id'], message.id)
        self.assertEqual(job['text'], "Your order left the warehouse")
        self.assertEqual(job['to']['wa_id'], '5511933330001')
        self.assertEqual(job['account'], self.account.phone_number_id)

    def test_rolled_back_post_never_reaches_redis(self):
        service = self.open_service('5511933330002', attendant=self.attendant)
        self.env.cr.postcommit.run()
        before = len(self.stream_entries())
        with self.assertRaises(ZeroDivisionError), self.env.cr.savepoint():
            self.post_as(self.attendant, service, body="never sent")
            raise ZeroDivisionError
        self.env.cr.postcommit.clear()   # what Odoo does on ROLLBACK
        self.assertFalse(self.env['whatsapp.message'].search([('body', '=', "never sent")]))
        self.assertEqual(len(self.stream_entries()), before)

    def test_attachments_become_media_messages(self):
        service = self.open_service('5511933330003', attendant=self.attendant)
        Attachment = self.env['ir.attachment'].with_user(self.attendant)
        files = Attachment.create([
            {'name': 'photo.jpg', 'datas': base64.b64encode(b'\xff\xd8\xff jpeg'), 'mimetype': 'image/jpeg',
             'res_model': 'discuss.channel', 'res_id': service.channel_id.id},
            {'name': 'voice.ogg', 'datas': OGG_B64, 'mimetype': 'audio/ogg',
             'res_model': 'discuss.channel', 'res_id': service.channel_id.id},
            {'name': 'clip.mp4', 'datas': base64.b64encode(b'mp4'), 'mimetype': 'video/mp4',
             'res_model': 'discuss.channel', 'res_id': service.channel_id.id},
        ])
        files[1].sudo()._set_voice_metadata()
        self.post_as(self.attendant, service, body="Here they are", attachment_ids=files.ids)
        outbound = service.whatsapp_message_ids.filtered(lambda m: m.direction == 'outbound').sorted('id')
        self.assertEqual(outbound.mapped('message_type'), ['text', 'image', 'audio', 'video'])
        self.assertTrue(outbound[2].is_voice)
        self.env.cr.postcommit.run()
        jobs = {job['message_id']: job for job in self.stream_entries()}
        self.assertEqual(jobs[outbound[2].id]['attachment']['voice'], True)
        self.assertEqual(jobs[outbound[1].id]['attachment']['mimetype'], 'image/jpeg')
        self.assertIsNone(jobs[outbound[1].id]['text'], "with several files the text is a message of its own")

    def test_the_text_typed_with_one_photo_is_its_caption(self):
        service = self.open_service('5511933330013', attendant=self.attendant)
        photo = self.env['ir.attachment'].with_user(self.attendant).create({
            'name': 'box.jpg', 'datas': base64.b64encode(b'\xff\xd8\xff jpeg'), 'mimetype': 'image/jpeg',
            'res_model': 'discuss.channel', 'res_id': service.channel_id.id})
        self.post_as(self.attendant, service, body="A caixa chegou assim", attachment_ids=photo.ids)
        outbound = service.whatsapp_message_ids.filtered(lambda m: m.direction == 'outbound')
        self.assertEqual(outbound.mapped('message_type'), ['image'], "one WhatsApp message, not two")
        self.assertEqual(outbound.caption, "A caixa chegou assim")
        self.env.cr.postcommit.run()
        job = next(job for job in self.stream_entries() if job['message_id'] == outbound.id)
        self.assertEqual((job['type'], job['text']), ('image', "A caixa chegou assim"))

    def test_redis_url_from_odoo_config_or_environment_until_an_admin_sets_one(self):
        params = self.env['ir.config_parameter'].sudo()
        Message = self.env['whatsapp.message']
        params.set_param('whatsapp_attendance.redis_url', False)
        with patch.dict(os.environ, {'WA_REDIS_URL': 'redis://redis:6379/0'}):
            self.assertEqual(Message._redis_settings()[0], 'redis://redis:6379/0')
            self.assertEqual(self.env['res.config.settings'].create({}).whatsapp_redis_url, 'redis://redis:6379/0',
                             "the settings page shows the URL in use, and saving keeps it")
            with patch.dict(odoo_config.options, {'whatsapp_redis_url': 'redis://from-odoo-conf:6379/1'}):
                self.assertEqual(Message._redis_settings()[0], 'redis://from-odoo-conf:6379/1')
            params.set_param('whatsapp_attendance.redis_url', 'redis://set-in-settings:6379/2')
            self.assertEqual(Message._redis_settings()[0], 'redis://set-in-settings:6379/2')

    def test_customer_without_a_number_fails_that_message_only(self):
        lost = self.open_service('5511933330005', attendant=self.attendant)
        fine = self.open_service('5511933330006', attendant=self.attendant)
        lost.partner_id.write({'whatsapp_phone': False, 'whatsapp_user_id': False})
        self.post_as(self.attendant, lost, body="Are you there?")
        message = lost.whatsapp_message_ids.filtered(lambda m: m.body == "Are you there?")
        self.assertEqual(message.state, 'failed')
        self.assertIn("WhatsApp number", message.error_message)
        self.assertIn("WhatsApp number", lost.channel_id.message_ids[0].body, "the attendant is told why")
        self.post_as(self.attendant, fine, body="Your order shipped")
        self.env.cr.postcommit.run()
        jobs = self.stream_entries()
        self.assertEqual(jobs[-1]['text'], "Your order shipped")
        self.assertNotIn(message.id, [job['message_id'] for job in jobs])
        # the re-push cron is not blocked by it either
        with freeze_time(fields.Datetime.now() + timedelta(hours=1)):
            self.env['whatsapp.message']._cron_repush_queued()

    def test_repush_cron_with_redis_stopped_and_restarted(self):
        server = RedisServer()
        server.start()
        self.addCleanup(server.stop)
        self.env['ir.config_parameter'].sudo().set_param('whatsapp_attendance.redis_url', server.url)
        self.env['ir.config_parameter'].sudo().set_param('whatsapp_attendance.repush_delay', 60)
        stream = contract.stream_name(contract.STREAM_OUT, self.prefix)
        client = redis.Redis.from_url(server.url)
        service = self.open_service('5511933330004', attendant=self.attendant)
        start = fields.Datetime.now()

        server.stop()   # Redis goes down
        with freeze_time(start):
            self.post_as(self.attendant, service, body="written while Redis is down")
        self.env.cr.postcommit.run()   # the push after commit fails quietly: the reply stays queued
        message = service.whatsapp_message_ids.filtered(lambda m: m.body == "written while Redis is down")
        self.assertEqual(message.state, 'queued')

        with freeze_time(start + timedelta(seconds=30)):
            self.assertFalse(self.env['whatsapp.message']._cron_repush_queued(), "not due yet")
        server.start()  # Redis is back (empty: it keeps nothing on disk)
        with freeze_time(start + timedelta(seconds=61)):
            pushed = self.env['whatsapp.message']._cron_repush_queued()
        self.assertIn(message, pushed)
        self.assertEqual(message.push_count, 2)
        self.env.cr.postcommit.run()
        jobs = [contract.validate_outbound_job(json.loads(f[b'payload']))
                for _i, f in client.xrange(stream)]
        self.assertEqual([job['message_id'] for job in jobs], [message.id])
        # once the bridge reported it sent, the cron leaves it alone
        self.api.report_send_results([{'v': 1, 'message_id': message.id, 'state': 'sent', 'wamid': 'wamid.R4'}])
        with freeze_time(start + timedelta(seconds=600)):
            self.assertNotIn(message, self.env['whatsapp.message']._cron_repush_queued())

    def test_the_service_history_shows_the_files_themselves(self):
        service = self.open_service('5511933330014', attendant=self.attendant)
        self.receive(self.inbound(wa_id='5511933330014', mtype='image',
                                  media={'mimetype': 'image/png', 'data': PNG_B64, 'caption': 'a caixa'}))
        image = service.whatsapp_message_ids.filtered(lambda m: m.message_type == 'image')
        data = image.with_user(self.attendant).read(['attachment_preview', 'attachment_file', 'attachment_name'])[0]
        self.assertEqual(base64.b64decode(data['attachment_file']), base64.b64decode(PNG_B64))
        self.assertTrue(data['attachment_name'].endswith('.png'))
        arch = self.env.ref('whatsapp_attendance.whatsapp_message_view_list_history').arch
        self.assertIn('attachment_preview', arch)
