from odoo.exceptions import UserError, ValidationError
from odoo.tests import tagged

from .common import TelephonyCommon, TelephonyHttpCommon


@tagged("post_install", "-at_install", "ip_telephony")
class TestNumberIndex(TelephonyCommon):
    def test_caller_matches_whatever_format_was_stored(self):
        Partner = self.env["res.partner"]
        stored = {
            "+7 916 555-44-33": "+79165554433",
            "8 (495) 765-43-21": "+74957654321",
            "89261112233": "+79261112233",
            "+7(812)1234567": "+78121234567",
            "111-22-33": "+74951112233",
        }
        partners = {raw: Partner.create({"name": raw, "mobile": raw}) for raw in stored}
        for raw, e164 in stored.items():
            with self.subTest(raw=raw):
                self.assertEqual(Partner._telephony_match(e164), partners[raw])

    def test_index_follows_edits_and_deletion(self):
        Partner = self.env["res.partner"]
        self.client.phone = "+7 903 000-00-01"
        self.assertFalse(Partner._telephony_match("+79161234567"))
        self.assertEqual(Partner._telephony_match("+79030000001"), self.client)
        self.client.unlink()
        self.assertFalse(Partner._telephony_match("+79030000001"))

    def test_city_code_change_renormalises_stored_numbers(self):
        local = self.env["res.partner"].create({"name": "Local", "phone": "765-43-21"})
        Partner = self.env["res.partner"]
        self.assertEqual(Partner._telephony_match("+74957654321"), local)
        self.env["res.config.settings"].create({"telephony_city_code": "812"}).execute()
        self.assertFalse(Partner._telephony_match("+74957654321"))
        self.assertEqual(Partner._telephony_match("+78127654321"), local)

    def test_an_added_callable_model_is_indexed_without_code(self):
        """Any model with phone fields becomes callable from Settings (F11, B3)."""
        bank_model = self.env["ir.model"]._get("res.partner.bank")
        field = self.env["ir.model.fields"]._get("res.partner.bank", "acc_number")
        bank = self.env["res.partner.bank"].create(
            {"acc_number": "8 (916) 777-66-55", "partner_id": self.client.id}
        )
        self.env["telephony.callable.model"].create(
            {"model_id": bank_model.id, "field_ids": [(6, 0, field.ids)]}
        )
        numbers = self.env["telephony.number"]
        self.assertEqual(numbers._match("+79167776655", "res.partner.bank"), bank.ids)
        other = self.env["res.partner.bank"].create(
            {"acc_number": "+7 916 777 66 54", "partner_id": self.client.id}
        )
        self.assertEqual(numbers._match("+79167776654", "res.partner.bank"), other.ids)

    def test_callable_model_refuses_foreign_fields(self):
        with self.assertRaises(ValidationError):
            self.env["telephony.callable.model"].create(
                {
                    "model_id": self.env["ir.model"]._get("res.partner.bank").id,
                    "field_ids": [
                        (6, 0, self.env["ir.model.fields"]._get("res.partner", "phone").ids)
                    ],
                }
            )


@tagged("post_install", "-at_install", "ip_telephony")
class TestTryNumber(TelephonyHttpCommon):
    def test_try_a_number_shows_e164_direction_dial_string_and_contact(self):
        self.account.replace_rule = "^7/8"
        settings = self.env["res.config.settings"].create(
            {"telephony_try_number": "8 (916) 123-45-67"}
        )
        html = str(settings.telephony_try_result)
        self.assertIn("+79161234567", html)
        self.assertIn("Mobile", html)
        self.assertIn("89161234567", html)
        self.assertIn("Ivan Petrov", html)

    def test_try_a_refused_number_says_why(self):
        self.env["ir.config_parameter"].set_param("ip_telephony.banned_codes", "+1")
        settings = self.env["res.config.settings"].create(
            {"telephony_try_number": "+1 212 555 0100"}
        )
        self.assertIn("not allowed", str(settings.telephony_try_result))
        settings.telephony_try_number = "not a number"
        self.assertIn("text-danger", str(settings.telephony_try_result))


@tagged("post_install", "-at_install", "ip_telephony")
class TestNumberSettings(TelephonyCommon):
    def test_bad_rules_are_refused_at_save_with_a_clear_message(self):
        Settings = self.env["res.config.settings"]
        bad = [
            {"telephony_patterns": "_8[XX"},
            {"telephony_region": "Narnia"},
            {"telephony_city_code": "4a5"},
            {"telephony_banned_codes": "+7, abc"},
            {"telephony_local_length": 40},
        ]
        for values in bad:
            with self.subTest(values=values), self.assertRaises(ValidationError):
                Settings.create(values)

    def test_rules_apply_to_dial(self):
        self.env["res.config.settings"].create(
            {"telephony_banned_codes": "+1", "telephony_allow_international": False}
        ).execute()
        Call = self.env["telephony.call"].with_user(self.sales_user)
        with self.assertRaisesRegex(UserError, "not allowed"):
            Call.dial("+1 212 555 0100")
        with self.assertRaises(UserError):
            Call.dial("+44 20 7946 0958")
        self.sales_tel.allow_international = True
        call = self.env["telephony.call"].browse(Call.dial("+44 20 7946 0958"))
        self.assertEqual(call.number_e164, "+442079460958")
        self.assertEqual(call.dial_string, "442079460958")
