import io
from pathlib import Path

import polib

from odoo.tests import TransactionCase, tagged
from odoo.tools.translate import trans_export

I18N = Path(__file__).resolve().parent.parent / 'i18n'
EXPORT_HINT = ("odoo -d <db> --i18n-export=whatsapp_attendance/i18n/whatsapp_attendance.pot "
               "--modules=whatsapp_attendance --stop-after-init")


@tagged('post_install', '-at_install')
class TestTranslations(TransactionCase):
    """What an attendant reads in Brazilian Portuguese: every text of the app is in the template
    (Odoo drops a translation whose text the .pot lacks) and translated in pt_BR.po."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        buffer = io.BytesIO()
        trans_export(None, ['whatsapp_attendance'], buffer, 'po', cls.env.cr)
        cls.terms = {entry.msgid for entry in polib.pofile(buffer.getvalue().decode()) if entry.msgid}

    def test_the_template_has_every_text_of_the_app(self):
        pot = {entry.msgid for entry in polib.pofile(str(I18N / 'whatsapp_attendance.pot'))}
        missing = sorted(self.terms - pot)
        self.assertFalse(missing, f"whatsapp_attendance.pot is stale (regenerate it: {EXPORT_HINT}); "
                                  f"missing: {missing[:10]}")

    def test_every_text_of_the_app_is_translated_in_brazilian_portuguese(self):
        po = polib.pofile(str(I18N / 'pt_BR.po'))
        translated = {entry.msgid for entry in po if entry.msgstr and not entry.obsolete and 'fuzzy' not in entry.flags}
        untranslated = sorted(self.terms - translated)
        self.assertFalse(untranslated, f"{len(untranslated)} texts have no pt_BR translation: {untranslated[:10]}")
