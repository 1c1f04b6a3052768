import base64
import io
import json
import shutil
import subprocess
import tempfile

import qrcode

from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tests import tagged

from odoo.addons.whatsapp_attendance import contract
from odoo.addons.whatsapp_attendance.models.whatsapp_account import SESSION_REASONS

from .common import WhatsappCase


def decode_qr(png_bytes):
    """The text of a QR code PNG, with zbarimg when the machine has it; else ``None``."""
    if not shutil.which('zbarimg'):
        return None
    with tempfile.NamedTemporaryFile(suffix='.png') as handle:
        handle.write(png_bytes)
        handle.flush()
        out = subprocess.run(['zbarimg', '--quiet', '--raw', handle.name], capture_output=True, text=True, timeout=30)
    return out.stdout.strip()


def qr_png(text):
    buffer = io.BytesIO()
    qrcode.make(text, box_size=8, border=2).save(buffer, format='PNG')
    return buffer.getvalue()


QR = "2@Xq3vRr7E0kOZb6pN1sLh9yTAcWmU2dJf4gHiKnBoVe,yF0rVHh8Cq2yXnE4vlYf3N5oQe9cM1kA7JbT6dR0sU=,Jk1l,Pq2r"


@tagged('post_install', '-at_install')
class TestSessionAccount(WhatsappCase):
    """WhatsApp Web session of an account, as the bridge reports it and an administrator sees it."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.web = cls.env['whatsapp.account'].create({
            'name': "Web number", 'provider': 'web', 'phone_number_id': 'web-session-test'})

    def report(self, state, account=None, **extra):
        return self.api.report_session_state(dict(
            {'v': 1, 'account': (account or self.web).phone_number_id, 'state': state}, **extra))

    def bus_payloads(self, kind):
        self.env.cr.precommit.run()
        found = []
        for note in self.env['bus.bus'].sudo().search([], order='id'):
            message = json.loads(note.message)
            if message['type'] == kind:
                found.append((json.loads(note.channel), message['payload']))
        return found

    def test_start_queues_the_start_command_and_each_reported_qr_is_rendered_as_png(self):
        self.web.with_user(self.wa_admin).action_session_start()
        self.env.cr.postcommit.run()
        self.assertEqual(self.stream_entries('wa:control')[-1],
                         {'v': 1, 'account': 'web-session-test', 'command': 'start'})
        self.report('pairing', qr=QR, detail="Scan the QR code")
        account = self.web.with_user(self.wa_admin)
        self.assertEqual(account.session_state, 'pairing')
        png = base64.b64decode(account.session_qr_image)
        self.assertTrue(png.startswith(b'\x89PNG'))
        decoded = decode_qr(png)
        if decoded is None:  # no decoder on this machine: it is the qrcode rendering of exactly this string
            self.assertEqual(png, qr_png(QR))
        else:
            self.assertEqual(decoded, QR)
        self.report('pairing', qr=QR[:-1] + "s")  # WhatsApp rotates the code
        self.assertNotEqual(base64.b64decode(account.session_qr_image), png)

    def test_every_state_reaches_the_admins_pages_live(self):
        self.report('pairing', qr=QR)
        notes = self.bus_payloads('whatsapp.account/session')
        admin_partners = {channel[2] for channel, payload in notes if payload['id'] == self.web.id}
        self.assertIn(self.wa_admin.partner_id.id, admin_partners)
        self.assertNotIn(self.attendant.partner_id.id, admin_partners)

    def test_connected_shows_since_when_and_the_number_then_a_failure_is_explained_and_notified(self):
        self.report('connected', connected_since=1767225600, phone='5511940001111')
        self.assertEqual(self.web.session_state, 'connected')
        self.assertEqual(str(self.web.session_connected_since), '2026-01-01 00:00:00')
        self.assertEqual(self.web.display_phone_number, '+5511940001111')
        self.assertTrue(self.web.session_uptime)
        self.assertFalse(self.web.session_qr)
        self.report('error', detail="Connected but dead: no keepalive answer for 30 seconds")
        self.assertEqual(self.web.session_state, 'error')
        self.assertEqual(self.web.session_detail, "Connected but dead: no keepalive answer for 30 seconds")
        self.assertFalse(self.web.session_connected_since)
        self.assertTrue(any("no keepalive answer" in (m.body or '') for m in self.web.message_ids))
        alerts = [p for c, p in self.bus_payloads('simple_notification') if c[2] == self.wa_admin.partner_id.id]
        self.assertTrue(alerts and "no keepalive answer" in alerts[-1]['message'])
        self.assertEqual(alerts[-1]['type'], 'danger')

    def test_the_bridge_s_fixed_reasons_are_shown_in_the_reader_s_language(self):
        """The bridge reports its reasons in English (contract.SESSION_REASONS); the form shows each
        in the administrator's language, and any other text as the bridge sent it."""
        self.assertEqual(set(SESSION_REASONS), set(contract.SESSION_REASONS), "one translatable twin each")
        self.assertEqual({text: str(lazy) for text, lazy in SESSION_REASONS.items()},
                         {text: text for text in contract.SESSION_REASONS}, "the twin is the same text")
        self.env['res.lang']._activate_lang('pt_BR')
        self.env['ir.module.module'].search([('name', '=', 'whatsapp_attendance')])._update_translations(['pt_BR'])
        self.report('pairing', qr=QR, detail=contract.SESSION_SCAN_QR)
        self.assertEqual(self.web.session_detail, contract.SESSION_SCAN_QR, "stored as reported")
        self.assertEqual(self.web.with_context(lang='pt_BR').session_reason,
                         "Escaneie o código QR com o WhatsApp no telefone")
        self.assertEqual(self.web.with_context(lang='en_US').session_reason, contract.SESSION_SCAN_QR)
        self.report('error', detail="WhatsApp refused the connection (CLIENT_UNKNOWN)")
        self.assertEqual(self.web.with_context(lang='pt_BR').session_reason,
                         "WhatsApp refused the connection (CLIENT_UNKNOWN)", "an unknown text: as sent")

    def test_pairing_by_phone_number_sends_the_digits_and_shows_the_code(self):
        account = self.web.with_user(self.wa_admin)
        with self.assertRaises(UserError):
            account.action_session_pair_phone()  # no number typed yet
        account.session_pair_phone = "+55 (11) 94000-1111"
        account.action_session_pair_phone()
        self.env.cr.postcommit.run()
        self.assertEqual(self.stream_entries('wa:control')[-1],
                         {'v': 1, 'account': 'web-session-test', 'command': 'pair_phone', 'phone': '5511940001111'})
        self.report('pairing', pair_code='ABCD-EFGH')
        self.assertEqual(account.session_pair_code, 'ABCD-EFGH')
        self.assertFalse(account.session_qr_image)
        with self.assertRaises(ValidationError):
            self.report('pairing', pair_code='not a code')

    def test_end_logs_out_and_cloud_api_start_verifies(self):
        self.web.with_user(self.wa_admin).action_session_logout()
        self.account.with_user(self.wa_admin).action_session_start()
        self.account.with_user(self.wa_admin).action_session_logout()
        self.env.cr.postcommit.run()
        commands = [(e['account'], e['command']) for e in self.stream_entries('wa:control')]
        self.assertEqual(commands, [('web-session-test', 'logout'), (self.account.phone_number_id, 'verify'),
                                    (self.account.phone_number_id, 'stop')])
        self.report('logged_out', detail="Logged out from the phone (Linked devices)")
        self.assertEqual(self.web.session_state, 'logged_out')
        self.assertTrue(any("Logged out from the phone" in (m.body or '') for m in self.web.message_ids))

    def test_an_attendant_cannot_read_the_session_secrets(self):
        self.report('pairing', qr=QR, pair_code='ABCD-EFGH')
        account = self.web.with_user(self.attendant)
        for field in ('session_qr', 'session_qr_image', 'session_pair_code', 'session_pair_phone'):
            with self.assertRaises(AccessError, msg=field):
                account.read([field])
        with self.assertRaises(AccessError):
            account.action_session_start()  # the buttons are the administrators'
        with self.assertRaises(AccessError):
            self.env['whatsapp.api'].with_user(self.attendant).report_session_state(
                {'v': 1, 'account': 'web-session-test', 'state': 'connected'})

    def test_contacts_are_matched_by_number_never_duplicated_and_counted(self):
        Partner = self.env['res.partner']
        # numbers nobody else has (the demo data's Maria has 5511987654321)
        maria = Partner.create({'name': "Maria (typed by hand)", 'mobile': "+55 11 94321-8765"})
        Partner.create({'name': "Joana A", 'phone': "(21) 99887-7665"})
        Partner.create({'name': "Joana B", 'mobile': "+5521998877665"})
        contacts = [
            {'v': 1, 'account': 'web-session-test', 'phone': '5511943218765', 'lid': '1201@lid', 'name': "Maria"},
            {'v': 1, 'account': 'web-session-test', 'phone': '5521998877665', 'name': "Joana"},
            {'v': 1, 'account': 'web-session-test', 'phone': '5531991234567', 'name': "Ana Costa"},
            {'v': 1, 'account': 'web-session-test', 'phone': '5531991234567', 'name': "Ana (again)"},
        ]
        before = Partner.search_count([])
        results = self.api.ingest_contacts(contacts)
        self.assertEqual([r['result'] for r in results], ['matched', 'ambiguous', 'new', 'matched'])
        self.assertEqual(results[0]['partner_id'], maria.id)
        self.assertEqual(maria.whatsapp_phone, '+5511943218765')
        self.assertEqual(results[2]['partner_id'], results[3]['partner_id'])
        self.assertEqual(Partner.search_count([]), before + 1, "one new contact, no duplicate")
        self.assertEqual((self.web.contacts_matched, self.web.contacts_new, self.web.contacts_ambiguous), (2, 1, 1))
        self.assertTrue(self.web.contacts_synced_at)
        self.api.ingest_contacts(contacts)  # paired again: still nobody duplicated
        self.assertEqual(Partner.search_count([]), before + 1)
        with self.assertRaises(ValidationError):
            self.api.ingest_contacts([dict(contacts[0], phone='+55 11')])
