import io
import re
from pathlib import Path

import polib

from odoo.tests import TransactionCase, tagged
from odoo.tools.translate import trans_export

I18N = Path(__file__).resolve().parent.parent / "i18n"
PLACEHOLDER = re.compile(r"%\(\w+\)s|%s|%d")


@tagged("post_install", "-at_install", "ip_telephony")
class TestTranslations(TransactionCase):
    """The shipped template and Russian follow the code: a string added
    without them shows in English to Russian users."""

    def _exported(self):
        buffer = io.BytesIO()
        trans_export(None, ["ip_telephony"], buffer, "po", self.env.cr)
        return {entry.msgid for entry in polib.pofile(buffer.getvalue().decode()) if entry.msgid}

    def test_the_template_lists_every_translatable_string(self):
        shipped = {entry.msgid for entry in polib.pofile(str(I18N / "ip_telephony.pot"))}
        self.assertEqual(sorted(self._exported() - shipped), [], "missing from the .pot")

    def test_russian_translates_every_string_with_its_placeholders(self):
        russian = {
            entry.msgid: entry.msgstr
            for entry in polib.pofile(str(I18N / "ru.po"))
            if not entry.obsolete and not entry.fuzzy
        }
        exported = self._exported()
        self.assertEqual(sorted(m for m in exported if not russian.get(m)), [], "not in Russian")
        wrong = [
            msgid
            for msgid in exported
            if sorted(PLACEHOLDER.findall(msgid)) != sorted(PLACEHOLDER.findall(russian[msgid]))
        ]
        self.assertEqual(wrong, [], "placeholders differ in Russian")
