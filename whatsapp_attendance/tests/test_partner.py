from odoo.tests import tagged

from odoo.addons.whatsapp_attendance.tools.phone import to_e164, whatsapp_variants

from .common import WhatsappCase


@tagged('post_install', '-at_install')
class TestCustomers(WhatsappCase):

    def test_e164_normalisation_any_format(self):
        for raw in ("+55 11 98765-4321", "5511987654321", "(11) 98765-4321", "+55 (11) 98765 4321"):
            self.assertEqual(to_e164(raw, 'BR'), '+5511987654321', raw)
        self.assertFalse(to_e164("not a phone", 'BR'))
        self.assertFalse(to_e164("", 'BR'))

    def test_brazilian_ninth_digit_variants(self):
        self.assertEqual(whatsapp_variants('+551187654321'), ['+551187654321', '+5511987654321'])
        self.assertEqual(whatsapp_variants('+5511987654321'), ['+5511987654321', '+551187654321'])
        self.assertEqual(whatsapp_variants('+14155550100'), ['+14155550100'])

    def test_existing_contact_reused_whatever_the_format(self):
        Partner = self.env['res.partner']
        cases = [("+55 11 98765-4320", '5511987654320'),
                 ("5511987654322", '5511987654322'),
                 ("(11) 98765-4323", '5511987654323')]   # national format, Brazil by default
        for typed, wa_id in cases:
            existing = Partner.create({'name': f"Known {wa_id}", 'phone': typed})
            result = self.receive(self.inbound(wa_id=wa_id, name="Profile Name"))[0]
            self.assertEqual(result['partner_id'], existing.id, f"{typed!r} should match {wa_id}")
            self.assertEqual(existing.name, f"Known {wa_id}", "the profile name never renames a contact")
            self.assertEqual(existing.whatsapp_phone, f"+{wa_id}")

    def test_changing_the_default_country_matches_contacts_typed_before(self):
        Settings = self.env['res.config.settings']
        Settings.create({'whatsapp_default_country_id': self.env.ref('base.us').id}).execute()
        typed_before = self.env['res.partner'].create({'name': "Typed in national format", 'phone': "(11) 98765-4324"})
        Settings.create({'whatsapp_default_country_id': self.env.ref('base.br').id}).execute()
        self.assertEqual(typed_before.phone_e164, '+5511987654324')
        result = self.receive(self.inbound(wa_id='5511987654324', name="Profile Name"))[0]
        self.assertEqual(result['partner_id'], typed_before.id, "no duplicate contact")

    def test_mobile_field_and_ninth_digit_match(self):
        existing = self.env['res.partner'].create({'name': "Carla", 'mobile': "(21) 99876-5432"})
        # WhatsApp id without the ninth digit
        result = self.receive(self.inbound(wa_id='552198765432', name="carla"))[0]
        self.assertEqual(result['partner_id'], existing.id)

    def test_new_customer_named_by_profile(self):
        before = self.env['res.partner'].search_count([])
        result = self.receive(self.inbound(wa_id='14155550100', name="Grace Hopper"))[0]
        partner = self.env['res.partner'].browse(result['partner_id'])
        self.assertEqual(self.env['res.partner'].search_count([]), before + 1)
        self.assertEqual(partner.name, "Grace Hopper")
        self.assertEqual(partner.whatsapp_phone, '+14155550100')
        # the second message does not create another contact
        again = self.receive(self.inbound(wa_id='14155550100', name="Other Name"))[0]
        self.assertEqual(again['partner_id'], partner.id)
        self.assertEqual(partner.name, "Grace Hopper")

    def test_business_scoped_user_id_recognises_customer(self):
        item = self.inbound(wa_id='5531988887777', name="Bia")
        item['from']['user_id'] = 'BR.1A2B3C4D'
        first = self.receive(item)[0]
        # later messages may come with the user id and no phone number
        only_bsuid = self.inbound(name="Bia")
        only_bsuid['from'] = {'user_id': 'BR.1A2B3C4D', 'name': 'Bia'}
        second = self.receive(only_bsuid)[0]
        self.assertEqual(first['partner_id'], second['partner_id'])
        self.assertEqual(first['service_id'], second['service_id'])

    def test_recycled_number_with_other_user_id_is_another_customer(self):
        old = self.env['res.partner'].create({
            'name': "Old Owner", 'mobile': '+5531977776666', 'whatsapp_user_id': 'BR.OLD'})
        item = self.inbound(wa_id='5531977776666', name="New Owner")
        item['from']['user_id'] = 'BR.NEW'
        result = self.receive(item)[0]
        self.assertNotEqual(result['partner_id'], old.id)
        self.assertEqual(self.env['res.partner'].browse(result['partner_id']).name, "New Owner")
